"""No event is dropped: one that meets a busy database is applied again until it goes through, and
one that can never be applied (a *poison* event) fails what it concerns, with the error in
``state_info``, so that its execution still ends.

The poison events here are made by a fault injected into the engine's decisions (an exception raised
for one particular result), standing for any bug or value the database refuses."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from levante.config import load
from levante.db import repository as repo
from levante.db import session as db_session
from levante.db.session import transaction
from levante.engine import events as ev
from levante.engine.conductor import Conductor
from levante.engine.service.catalog import DbCatalog
from levante.engine.service.definitions import store
from levante.exceptions import ConflictError, EngineFailure
from levante.node import Node

WORKFLOWS = """
version: '2.0'
wait:
  tasks:
    ask:
      action: std.async_noop
      publish: {answer: <% task().result %>}
      on-error: [handle]
    handle:
      action: std.echo output="handled"
      publish: {handled: <% task().result %>}
parent:
  tasks:
    call:
      workflow: wait
      publish: {child: <% task().result %>}
"""


def _node(tmp_path: Path) -> Node:
    return Node(load(env={}, db_url=f"sqlite:///{tmp_path / 'levante.db'}"))


def _waiting_action(node: Node, execution_id: str) -> str:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with transaction(node.read_factory) as session:
            found = [a for t in repo.tasks_of(session, execution_id) for a in repo.action_executions_of(session, t.id)]
        if found:
            return found[0].id
        time.sleep(0.02)
    raise AssertionError("no action execution started")


@pytest.fixture
def poison_result(monkeypatch: pytest.MonkeyPatch) -> None:
    """The engine's decisions raise on the result "poison" (and only on it)."""
    real = Conductor.handle

    def faulty(self: Conductor, event: ev.Event) -> Any:
        if isinstance(event, ev.ActionCompleted) and event.result == "poison":
            raise RuntimeError("injected fault: cannot apply this result")
        return real(self, event)

    monkeypatch.setattr(Conductor, "handle", faulty)


@pytest.mark.usefixtures("poison_result")
def test_a_poison_result_fails_its_task_which_follows_on_error(tmp_path: Path) -> None:
    with _node(tmp_path) as node:
        with transaction(node.session_factory) as session:
            store(session, "workflows", WORKFLOWS)
        ex = node.service.start_execution("wait")
        action_id = _waiting_action(node, ex.id)
        other = node.service.start_execution("wait")
        other_action = _waiting_action(node, other.id)
        # Both results come in one batch: the good one is applied, the poison one fails its task.
        node.inbox.put(ev.ActionCompleted(ex.id, action_id, "SUCCESS", "poison"))
        node.inbox.put(ev.ActionCompleted(other.id, other_action, "SUCCESS", "fine"))
        done = node.service.wait(ex.id, 10)
        fine = node.service.wait(other.id, 10)
        with transaction(node.read_factory) as session:
            tasks = {t.name: t for t in repo.tasks_of(session, ex.id)}
            action = repo.get_action_execution(session, action_id)
    assert str(fine.state) == "SUCCESS" and fine.output == {"answer": "fine"}
    assert str(done.state) == "SUCCESS" and done.output == {"handled": "handled"}
    assert str(tasks["ask"].state) == "ERROR"
    assert "The engine could not apply the result of action execution" in tasks["ask"].state_info
    assert "injected fault" in tasks["ask"].state_info
    assert str(action.state) == "ERROR"


def test_an_execution_whose_events_cannot_be_applied_at_all_ends_in_error_and_tells_its_parent(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    broken: set[str] = set()
    real = DbCatalog.spec_of

    def faulty(self: DbCatalog, session: Any, ex: Any) -> Any:
        if ex.id in broken:
            raise RuntimeError("injected fault: this execution cannot be loaded")
        return real(self, session, ex)

    monkeypatch.setattr(DbCatalog, "spec_of", faulty)
    with _node(tmp_path) as node:
        with transaction(node.session_factory) as session:
            store(session, "workflows", WORKFLOWS)
        parent = node.service.start_execution("parent")
        deadline = time.monotonic() + 10
        children: list[Any] = []
        while not children and time.monotonic() < deadline:
            with transaction(node.read_factory) as session:
                children = repo.list_executions(session, {"root_execution_id": parent.id}, limit=10)
            time.sleep(0.02)
        [child] = children
        action_id = _waiting_action(node, child.id)
        broken.add(child.id)
        node.inbox.put(ev.ActionCompleted(child.id, action_id, "SUCCESS", "x"))
        ended_child = node.service.wait(child.id, 10)
        ended_parent = node.service.wait(parent.id, 10)
        with transaction(node.read_factory) as session:
            action = repo.get_action_execution(session, action_id)
            child_tasks = repo.tasks_of(session, child.id)
    assert str(ended_child.state) == "ERROR"
    assert "injected fault" in ended_child.state_info
    assert [str(t.state) for t in child_tasks] == ["ERROR"]
    assert str(action.state) == "ERROR"
    assert str(ended_parent.state) == "ERROR"
    assert "injected fault" in ended_parent.state_info


def test_a_result_that_meets_a_locked_database_is_applied_once_the_lock_is_released(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The engine's transaction gives up waiting for SQLite's write lock after the busy timeout
    # (30 s by default; 0.3 s here). The result used to be logged and dropped; now it waits.
    monkeypatch.setattr(db_session, "SQLITE_BUSY_TIMEOUT_S", 0.3)
    with _node(tmp_path) as node:
        with transaction(node.session_factory) as session:
            store(session, "workflows", WORKFLOWS)
        ex = node.service.start_execution("wait")
        action_id = _waiting_action(node, ex.id)
        holder = sqlite3.connect(tmp_path / "levante.db", isolation_level=None, check_same_thread=False)
        holder.execute("BEGIN IMMEDIATE")
        node.inbox.put(ev.ActionCompleted(ex.id, action_id, "SUCCESS", "late"))
        release = threading.Timer(2.0, holder.execute, args=("COMMIT",))
        release.start()
        try:
            time.sleep(1.0)
            reader = sqlite3.connect(tmp_path / "levante.db")
            [(state,)] = reader.execute("SELECT state FROM workflow_executions WHERE id = ?", (ex.id,)).fetchall()
            reader.close()
            assert state == "RUNNING"  # still held back by the lock
            release.join()
            done = node.service.wait(ex.id, 20)
        finally:
            release.join()
            holder.close()
    assert str(done.state) == "SUCCESS" and done.output == {"answer": "late"}


@pytest.mark.usefixtures("poison_result")
def test_a_callback_the_engine_cannot_apply_fails_its_task_instead_of_leaving_it_running(tmp_path: Path) -> None:
    # A third party would retry such a callback for ever while the task stayed RUNNING.
    with _node(tmp_path) as node:
        with transaction(node.session_factory) as session:
            store(session, "workflows", WORKFLOWS)
        ex = node.service.start_execution("wait")
        action_id = _waiting_action(node, ex.id)
        with pytest.raises(EngineFailure, match="could not apply this result .*injected fault"):
            node.service.complete_action(action_id, "SUCCESS", "poison")
        with pytest.raises(ConflictError):  # the retry of the callback: the action has ended
            node.service.complete_action(action_id, "SUCCESS", "poison")
        done = node.service.wait(ex.id, 10)
        with transaction(node.read_factory) as session:
            tasks = {t.name: t for t in repo.tasks_of(session, ex.id)}
    assert str(done.state) == "SUCCESS" and done.output == {"handled": "handled"}
    assert str(tasks["ask"].state) == "ERROR" and "injected fault" in tasks["ask"].state_info
