"""Fixtures of the messaging tests on the real RabbitMQ.

The broker is ``LEVANTE_TEST_AMQP_URL`` (default ``amqp://guest:guest@127.0.0.1:5672//``). Each test
gets its own namespace (``levante_test_<random>``) and deletes its exchange and queues at the end.
When RabbitMQ cannot be reached the tests are skipped, or fail when the ``CI`` environment
variable is set (a CI run must not pass by skipping).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from kombu import Connection

from levante.messaging.topology import Topology
from levante.messaging.transport import Publisher, RetryPolicy

AMQP_URL = os.environ.get("LEVANTE_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")
#: Executor targets the tests use (their queues are deleted after each test).
TARGETS = ("a", "b")
#: Publishing retries briefly: a test must fail fast, not hang.
FAST_RETRY = RetryPolicy(max_retries=2, interval_start=0, interval_step=0.2, interval_max=0.5,
                         connect_timeout=2)


@pytest.fixture(scope="session")
def amqp_url() -> str:
    """The broker URL, once it is known to answer."""
    connection = Connection(AMQP_URL, connect_timeout=3)
    try:
        connection.ensure_connection(max_retries=1, interval_start=0, interval_step=0.5)
    except Exception as exc:  # noqa: BLE001 - any failure means: not reachable
        message = f"RabbitMQ at {connection.as_uri()} is not reachable: {exc}"
        if os.environ.get("CI"):
            pytest.fail(message + " (CI is set: the integration tests must run)", pytrace=False)
        pytest.skip(message)
    finally:
        connection.release()
    return AMQP_URL


@pytest.fixture
def namespace(amqp_url: str) -> Iterator[str]:
    """A namespace of this test alone; its exchange and queues are deleted afterwards."""
    name = f"levante_test_{uuid.uuid4().hex[:12]}"
    yield name
    topology = Topology(name)
    queues = [topology.engine_queue, topology.executor_queue(), topology.dead_queue,
              *(topology.executor_queue(t) for t in TARGETS)]
    with Connection(amqp_url) as connection:
        channel = connection.default_channel
        for queue in queues:
            queue.bind(channel).delete()
        topology.exchange.bind(channel).delete()


@pytest.fixture
def transport(amqp_url: str, namespace: str) -> Iterator[Publisher]:
    """A publisher on the test's namespace."""
    with Publisher(amqp_url, namespace, FAST_RETRY) as publisher:
        yield publisher


def message_count(amqp_url: str, queue_name: str) -> int:
    """Ready messages in a queue (passive declare)."""
    with Connection(amqp_url) as connection:
        _, count, _ = connection.default_channel.queue_declare(queue_name, passive=True)
        return int(count)
