"""Fixtures of the messaging unit tests: kombu's memory transport, one namespace per test.

The memory transport keeps its queues, exchanges and bindings in class-level state shared by every
connection of the process; each test gets its own namespace and removes all of it afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from kombu.transport import memory

from levante.messaging.transport import Publisher

URL = "memory://"


def memory_names(namespace: str) -> list[str]:
    """The memory transport's queues of a namespace."""
    return [name for name in memory.Channel.queues if name.startswith(namespace + ".")]


def queue_size(name: str) -> int:
    """Messages waiting in a memory queue (0 when it does not exist)."""
    queue = memory.Channel.queues.get(name)
    return 0 if queue is None else queue.qsize()


def purge_memory(namespace: str) -> None:
    """Remove a namespace's queues, exchange and bindings from the memory transport."""
    for name in memory_names(namespace):
        memory.Channel.queues.pop(name, None)
    state = memory.Transport.global_state
    state.exchanges.pop(namespace, None)
    for key in [k for k in state.bindings if k.exchange == namespace or k.queue.startswith(namespace + ".")]:
        state.binding_delete(*key)
    for name in [q for q in state.queue_index if q.startswith(namespace + ".")]:
        state.queue_index.pop(name, None)


@pytest.fixture
def namespace() -> Iterator[str]:
    """A namespace of this test alone, removed from the memory transport afterwards."""
    name = f"levante_test_{uuid.uuid4().hex[:12]}"
    yield name
    purge_memory(name)
    assert not memory_names(name)


@pytest.fixture
def transport(namespace: str) -> Iterator[Publisher]:
    """A publisher on the test's namespace."""
    with Publisher(URL, namespace) as publisher:
        yield publisher
