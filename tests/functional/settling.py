"""Shared by the differential tests: the running action executions of an execution on a node, read
once the execution has stopped moving by itself."""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from levante.db import repository as repo
from levante.db.session import transaction
from levante.engine.records import ActionExecution, TaskExecution
from levante.node import Node

K = TypeVar("K", bound=Hashable)


def running(node: Node, ex_id: str, key: Callable[[TaskExecution, ActionExecution], K]) -> dict[K, str]:
    """``{key(task, action): action id}`` of the RUNNING action executions (the first by key)."""
    out: dict[K, str] = {}
    with transaction(node.read_factory) as session:
        for t in repo.tasks_of(session, ex_id):
            for a in repo.action_executions_of(session, t.id):
                if str(a.state) == "RUNNING":
                    out.setdefault(key(t, a), a.id)
    return out


def settled(node: Node, ex_id: str, key: Callable[[TaskExecution, ActionExecution], K],
            timeout: float = 20) -> dict[K, str]:
    """:func:`running` once the execution's state, its tasks and its running actions stay the same
    between two looks (retries and waits are timers the node fires)."""
    last: Any = None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        node.wait_idle()
        with transaction(node.read_factory) as session:
            now = (str(repo.get_execution(session, ex_id).state),
                   sorted((t.name, str(t.state), t.processed) for t in repo.tasks_of(session, ex_id)),
                   sorted(running(node, ex_id, key)))
        if now == last:
            return running(node, ex_id, key)
        last = now
        time.sleep(0.05)
    raise TimeoutError("the execution kept moving")
