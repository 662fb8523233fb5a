"""A node on SQLite: what survives a stop, and what happens to duplicate results."""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import select

from levante.config import load
from levante.db import repository as repo
from levante.db.models import DelayedCall
from levante.db.session import transaction
from levante.engine import events as ev
from levante.engine.records import utcnow
from levante.engine.service.definitions import store
from levante.node import Node

WAIT = """
version: '2.0'
wf:
  tasks:
    nap:
      wait-before: 1
      action: std.echo output="awake"
      publish: {said: <% task().result %>}
"""

ASYNC = """
version: '2.0'
wf:
  tasks:
    wait:
      action: std.async_noop
      on-success: after
    after:
      action: std.echo output=<% task(wait).result %>
      publish: {got: <% task().result %>}
"""


def _node(tmp_path: Path) -> Node:
    return Node(load(env={}, db_url=f"sqlite:///{tmp_path / 'levante.db'}"))


def test_a_delayed_call_survives_a_restart(tmp_path: Path) -> None:
    with _node(tmp_path) as first:
        with transaction(first.session_factory) as session:
            store(session, "workflows", WAIT)
        ex = first.service.start_execution("wf")
        assert str(first.service.get_execution(ex.id).state) == "RUNNING"
    # the first node stopped before the wait-before delay ended; a new one picks the call up
    with _node(tmp_path) as second:
        done = second.service.wait(ex.id, 10)
    assert str(done.state) == "SUCCESS" and done.output == {"said": "awake"}


SAFE = WAIT.replace("wait-before: 1", "safe-rerun: true")


def test_outbox_rows_a_crash_left_unsent_are_sent_at_start(tmp_path: Path) -> None:
    first = _node(tmp_path)
    first.service.on_outbox = lambda rows: None  # the process "dies" between commit and publish
    with first:
        with transaction(first.session_factory) as session:
            store(session, "workflows", SAFE)
        ex = first.service.start_execution("wf")
        with transaction(first.session_factory) as session:
            assert len(repo.pending(session, 10)) == 1
    with _node(tmp_path) as second:
        done = second.service.wait(ex.id, 10)
        # rows are marked sent by a background thread after they were handed over
        second_pending = [None]
        deadline = time.monotonic() + 10
        while second_pending and time.monotonic() < deadline:
            with transaction(second.read_factory) as session:
                second_pending = repo.pending(session, 10)
            time.sleep(0.02)
    assert str(done.state) == "SUCCESS"
    assert second_pending == []


def test_a_duplicate_result_changes_nothing(tmp_path: Path) -> None:
    with _node(tmp_path) as node:
        with transaction(node.session_factory) as session:
            store(session, "workflows", ASYNC)
        ex = node.service.start_execution("wf")
        with transaction(node.session_factory) as session:
            (task,) = repo.tasks_of(session, ex.id)
            (action,) = repo.action_executions_of(session, task.id)
        event = ev.ActionCompleted(ex.id, action.id, "SUCCESS", "first")
        node.service.handle([event, ev.ActionCompleted(ex.id, action.id, "SUCCESS", "second")])
        node.service.handle([event])
        done = node.service.wait(ex.id, 10)
        with transaction(node.session_factory) as session:
            names = [t.name for t in repo.tasks_of(session, ex.id)]
            stored = repo.get_action_execution(session, action.id)
    assert str(done.state) == "SUCCESS" and done.output == {"got": "first"}
    assert names == ["wait", "after"]
    assert stored.output == {"result": "first"}


def test_a_resent_action_that_is_not_safe_rerun_fails_instead_of_running_twice(tmp_path: Path) -> None:
    # After a crash the outbox cannot tell "never published" from "published, not marked": the
    # action may already be running elsewhere, so only a safe-rerun action runs again.
    first = _node(tmp_path)
    first.service.on_outbox = lambda rows: None
    with first:
        with transaction(first.session_factory) as session:
            store(session, "workflows", WAIT.replace("wait-before: 1", "wait-before: 0"))
        ex = first.service.start_execution("wf")
    with _node(tmp_path) as second:
        done = second.service.wait(ex.id, 10)
        with transaction(second.session_factory) as session:
            (task,) = repo.tasks_of(session, ex.id)
    assert str(done.state) == "ERROR"
    assert "cannot be re-run safely" in (task.state_info or "")


def test_the_scheduler_survives_database_errors(tmp_path: Path) -> None:
    node = _node(tmp_path)
    real = node.scheduler.next_wait
    failures = []

    def flaky() -> float:
        if len(failures) < 3:
            failures.append(1)
            raise OSError("database restarting")
        return real()

    node.scheduler.next_wait = flaky  # type: ignore[method-assign]
    with node:
        with transaction(node.session_factory) as session:
            store(session, "workflows", WAIT)
        ex = node.service.start_execution("wf")
        done = node.service.wait(ex.id, 15)
    assert failures  # the scheduler met the error, and still fired the call after it
    assert str(done.state) == "SUCCESS"


def test_a_refused_delayed_call_does_not_hold_back_the_others(tmp_path: Path) -> None:
    with _node(tmp_path) as node:
        with transaction(node.session_factory) as session:
            store(session, "workflows", ASYNC.replace("action: std.async_noop", "action: std.noop"))
        done_first = node.service.wait(node.service.start_execution("wf").id, 10)
        with transaction(node.session_factory) as session:
            store(session, "workflows", WAIT, update=True)
            # a poison call (pausing an ended execution is refused), due before the real one
            repo.schedule(session, utcnow(), done_first.id, ev.PauseRequested(done_first.id).to_dict())
        ex = node.service.start_execution("wf")
        done = node.service.wait(ex.id, 15)
        # Every call, claimed or not. The scheduler deletes a call after its event is applied, and
        # the execution may end (its action ran meanwhile) before that: give it a moment.
        deadline = time.monotonic() + 10
        while True:
            with transaction(node.read_factory) as session:
                left = list(session.scalars(select(DelayedCall)))
            if not left or time.monotonic() > deadline:
                break
            time.sleep(0.05)
    assert str(done.state) == "SUCCESS"
    assert left == []  # the refused call was dropped, not retried forever


def test_sent_outbox_rows_are_purged_and_unsent_ones_kept(tmp_path: Path) -> None:
    """Outbox rows hold action requests with their callback tokens in plain text: once sent (and
    ``outbox_keep`` old), the engine deletes them; a row not sent yet stays for the sweeper."""
    from sqlalchemy import select

    from levante.db.models import OutboxMessage

    node = _node(tmp_path)
    node.purger.keep, node.purger.interval = 0.0, 0.1
    with node:
        with transaction(node.session_factory) as session:
            store(session, "workflows", ASYNC)
            unsent = repo.enqueue(session, "executor.nobody", {"kind": "test"})
        ex = node.service.start_execution("wf")
        action = None
        deadline = time.monotonic() + 30
        while action is None and time.monotonic() < deadline:
            with transaction(node.read_factory) as session:
                running = [a for t in repo.tasks_of(session, ex.id) for a in repo.action_executions_of(session, t.id)]
            action = running[0] if running else None
            time.sleep(0.05)
        assert action is not None
        node.service.complete_action(action.id, "SUCCESS", "done")
        assert str(node.service.wait(ex.id, 30).state) == "SUCCESS"

        def rows() -> list[int]:
            with transaction(node.read_factory) as session:
                return list(session.scalars(select(OutboxMessage.id)))
        deadline = time.monotonic() + 30
        while rows() != [unsent] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert rows() == [unsent]


def test_running_nodes_keep_the_objects_of_the_process_out_of_full_collections(tmp_path: Path) -> None:
    import gc

    frozen_before = gc.get_freeze_count()
    if frozen_before:  # a node of another test is running: this one adds nothing to check
        return
    first = Node(load(env={}, db_url=f"sqlite:///{tmp_path / 'a.db'}")).start()
    try:
        assert gc.get_freeze_count() > 0
        with Node(load(env={}, db_url=f"sqlite:///{tmp_path / 'b.db'}")):
            assert gc.get_freeze_count() > 0
        assert gc.get_freeze_count() > 0  # the first one still runs
    finally:
        first.stop()
    assert gc.get_freeze_count() == 0  # handed back to the collector: garbage of that time is collected
    first.stop()  # a second stop changes nothing
    assert gc.get_freeze_count() == 0
