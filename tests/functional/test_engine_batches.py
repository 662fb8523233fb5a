"""A shared engine transaction commits early after a slow decision: the executions after it in the
batch (and every writer waiting for the lock) do not wait behind it, e.g. behind an expression that
runs until its time limit stops it."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from levante.config import load
from levante.db import repository as repo
from levante.db.session import transaction
from levante.engine import events as ev
from levante.engine.conductor import Conductor
from levante.engine.service import applying
from levante.engine.service.definitions import store
from levante.node import Node

WAIT = """
version: '2.0'
wf:
  tasks:
    ask:
      action: std.async_noop
"""


def test_a_slow_decision_ends_its_shared_transaction(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    slow: set[str] = set()
    real = Conductor.handle

    def slow_for_some(self: Conductor, event: ev.Event) -> Any:
        if isinstance(event, ev.ActionCompleted) and event.execution_id in slow:
            time.sleep(0.7)
        return real(self, event)

    monkeypatch.setattr(Conductor, "handle", slow_for_some)
    with Node(load(env={}, db_url=f"sqlite:///{tmp_path / 'levante.db'}")) as node:
        with transaction(node.session_factory) as session:
            store(session, "workflows", WAIT)
        started = [node.service.start_execution("wf") for _ in range(4)]
        events = []
        for ex in started:
            with transaction(node.read_factory) as session:
                [task] = repo.tasks_of(session, ex.id)
                [action] = repo.action_executions_of(session, task.id)
            events.append(ev.ActionCompleted(ex.id, action.id, "SUCCESS", "ok"))
        ordered = sorted(started, key=lambda e: e.id)
        slow.add(ordered[1].id)
        commits: list[int] = []
        real_transaction = applying.transaction

        def counted(factory: Any) -> Any:
            commits.append(1)
            return real_transaction(factory)

        monkeypatch.setattr(applying, "transaction", counted)
        monkeypatch.setattr(applying, "SHARED_TRANSACTION_SECONDS", 0.5)
        node.service.handle(events)
        monkeypatch.setattr(applying, "transaction", real_transaction)
        done = [node.service.wait(ex.id, 10) for ex in started]
    assert [str(e.state) for e in done] == ["SUCCESS"] * 4
    assert len(commits) == 2  # one for the first two executions, one for the other two
