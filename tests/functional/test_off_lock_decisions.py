"""Decisions whose expressions are slow are made off the lock (issue 11, item 5: "expression
evaluation never holding the database write lock of other work").

A decision may evaluate slow expressions for ``service.lock_slice`` seconds while it holds its
execution's lock (on SQLite the database's write lock); past that it is dropped and made again on a
snapshot read without any lock, then written under the lock if the execution's version did not
change meanwhile, and made again if it did. These tests run on SQLite here and on PostgreSQL in
``tests/integration/engine/test_off_lock_pg.py`` (same scenarios, imported from here).

Most of them set the slice to 0, so that every decision evaluating an expression off YAQL's fast
path goes off the lock: what they check is that nothing is lost or applied twice on that path.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from levante.config import load
from levante.db import repository as repo
from levante.db.session import transaction
from levante.engine import events as ev
from levante.engine.service import applying
from levante.engine.service.definitions import store
from levante.engine.service.outbox import SentMarks
from levante.node import Node
from levante.workflows import expressions

#: An expression off YAQL's fast path that takes a few milliseconds.
SLOWISH = "<% range(0, 20).select($ * 2).sum() %>"
#: What SLOWISH evaluates to.
SLOWISH_VALUE = 380


def workflows(tag: str) -> str:
    return f"""
version: '2.0'
pair_{tag}:
  output:
    s: <% $.s %>
    q: <% $.q %>
  tasks:
    slow:
      action: std.async_noop
      publish:
        s: {SLOWISH}
    quick:
      action: std.async_noop
      publish: {{q: <% task().result %>}}
echo_{tag}:
  input: [n]
  output: {{doubled: <% $.doubled %>}}
  tasks:
    echo:
      action: std.echo output=<% $.n %>
      publish:
        doubled: <% range(0, task().result).select($ * 2).sum() %>
resume_{tag}:
  output: {{v: <% $.v %>}}
  tasks:
    first:
      action: std.noop
      on-success: [second]
    second:
      pause-before: true
      action: std.echo output={SLOWISH}
      publish: {{v: <% task().result %>}}
runaway_{tag}:
  tasks:
    spin:
      action: std.async_noop
      publish:
        x: <% range(0, 100000000).sum() %>
parent_{tag}:
  output: {{got: <% $.got %>}}
  tasks:
    call:
      action: std.echo output=1
      on-success: [sub]
    sub:
      workflow: child_{tag}
      input:
        n: {SLOWISH}
      publish: {{got: <% task().result %>}}
child_{tag}:
  input: [n]
  output: {{n2: <% $.n2 %>}}
  tasks:
    inner:
      workflow: grandchild_{tag}
      input:
        m: <% range(0, 3).sum() + $.n %>
      publish: {{n2: <% task().result %>}}
grandchild_{tag}:
  input: [m]
  output: {{m: <% $.m %>}}
  tasks:
    t:
      action: std.noop
spawner_{tag}:
  tasks:
    spawn:
      action: std.echo output=1
      on-success: [sub]
    sub:
      workflow: spinning_{tag}
spinning_{tag}:
  tasks:
    spin:
      action: std.echo output=<% range(0, 100000000).sum() %>
waiting_{tag}:
  tasks:
    wait:
      action: std.async_noop
      publish: {{got: <% task().result %>}}
"""


@pytest.fixture()
def sqlite_node(tmp_path: Path) -> Iterator[Callable[..., Node]]:
    yield from _nodes(lambda: f"sqlite:///{tmp_path / 'levante.db'}")


def _nodes(url: Callable[[], str]) -> Iterator[Callable[..., Node]]:
    previous = expressions.current()
    made: list[Node] = []

    def make(tag: str, **settings: Any) -> Node:
        node = Node(load(env={}, db_url=url(), **settings)).start()
        made.append(node)
        with transaction(node.session_factory) as session:
            store(session, "workflows", workflows(tag), update=True)
        return node

    yield make
    for node in made:
        node.stop()
    expressions.configure(previous)


def _tag() -> str:
    return uuid.uuid4().hex[:8]


def _action_of(node: Node, execution_id: str, task: str) -> str:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with transaction(node.read_factory) as session:
            for t in repo.tasks_of(session, execution_id):
                if t.name == task:
                    found = repo.action_executions_of(session, t.id)
                    if found:
                        return found[0].id
        time.sleep(0.02)
    raise AssertionError(f"task {task} of {execution_id} has no action execution")


def _count_off_lock(node: Node, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record the execution of every decision made off the lock."""
    calls: list[str] = []
    real = node.service.steps.conduct

    def conduct(session: Any, state: Any, events: list[ev.Event], lock_slice: float | None) -> Any:
        if lock_slice is None:
            calls.append(state.execution.id)
        return real(session, state, events, lock_slice)

    monkeypatch.setattr(node.service.steps, "conduct", conduct)
    return calls


def check_a_change_during_an_off_lock_decision_makes_it_again(make: Callable[..., Node],
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A callback of the same execution commits while a decision is being made off the lock: the
    decision is dropped and made again on the new state; both results are kept."""
    tag = _tag()
    node = make(tag)
    node.service.lock_slice = 0.0
    ex = node.service.start_execution(f"pair_{tag}")
    slow, quick = _action_of(node, ex.id, "slow"), _action_of(node, ex.id, "quick")
    real = node.service.steps.conduct
    off_lock: list[str] = []

    def conduct(session: Any, state: Any, events: list[ev.Event], lock_slice: float | None) -> Any:
        if lock_slice is None:
            off_lock.append(state.execution.id)
            if len(off_lock) == 1:  # the first decision off the lock: the other callback lands meanwhile
                other = threading.Thread(target=node.service.complete_action, args=(quick, "SUCCESS", "q!"))
                other.start()
                other.join(30)
        return real(session, state, events, lock_slice)

    monkeypatch.setattr(node.service.steps, "conduct", conduct)
    node.service.complete_action(slow, "SUCCESS", "s!")
    done = node.service.wait(ex.id, 30)
    assert str(done.state) == "SUCCESS", done.state_info
    assert done.output == {"s": SLOWISH_VALUE, "q": "q!"}
    assert off_lock.count(ex.id) >= 2, off_lock  # made again after the change


def check_decisions_that_keep_meeting_changes_are_made_under_the_lock(
        make: Callable[..., Node], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    tag = _tag()
    node = make(tag)
    node.service.lock_slice = 0.0
    ex = node.service.start_execution(f"pair_{tag}")
    slow, quick = _action_of(node, ex.id, "slow"), _action_of(node, ex.id, "quick")
    attempts: list[int] = []

    def always_changed(session: Any, execution_id: str, version: int) -> None:
        attempts.append(version)

    monkeypatch.setattr(repo, "lock_if_unchanged", always_changed)
    with caplog.at_level(logging.INFO, logger="levante.engine.service.applying"):
        node.service.complete_action(slow, "SUCCESS", "s!")
        node.service.complete_action(quick, "SUCCESS", "q!")
    done = node.service.wait(ex.id, 30)
    assert done.output == {"s": SLOWISH_VALUE, "q": "q!"}
    assert len(attempts) >= applying.OFF_LOCK_ATTEMPTS
    assert "kept changing while decisions were made off its lock; deciding under it" in caplog.text


def check_results_through_the_engine_inbox_are_decided_off_the_lock(make: Callable[..., Node],
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Synchronous results reach the engine in batches (several executions per transaction): the
    slow decision leaves the batch, the others are applied, nothing is lost."""
    tag = _tag()
    node = make(tag)
    node.service.lock_slice = 0.0
    off_lock = _count_off_lock(node, monkeypatch)
    started = [node.service.start_execution(f"echo_{tag}", {"n": n}) for n in (3, 10, 30, 5)]
    for n, ex in zip((3, 10, 30, 5), started, strict=True):
        done = node.service.wait(ex.id, 30)
        assert str(done.state) == "SUCCESS", done.state_info
        assert done.output == {"doubled": n * (n - 1)}
    assert set(off_lock) >= {ex.id for ex in started}


def check_a_request_is_decided_off_the_lock(make: Callable[..., Node], monkeypatch: pytest.MonkeyPatch) -> None:
    tag = _tag()
    node = make(tag)
    ex = node.service.start_execution(f"resume_{tag}")
    deadline = time.monotonic() + 20
    while str(node.service.get_execution(ex.id).state) != "PAUSED" and time.monotonic() < deadline:
        time.sleep(0.02)
    node.service.lock_slice = 0.0
    off_lock = _count_off_lock(node, monkeypatch)
    node.service.request(ev.ResumeRequested(ex.id))
    done = node.service.wait(ex.id, 30)
    assert str(done.state) == "SUCCESS", done.state_info
    assert done.output == {"v": SLOWISH_VALUE}
    assert ex.id in off_lock


def check_a_callback_answer_is_described_after_an_off_lock_decision(make: Callable[..., Node]) -> None:
    tag = _tag()
    node = make(tag)
    node.service.lock_slice = 0.0
    ex = node.service.start_execution(f"pair_{tag}")
    slow = _action_of(node, ex.id, "slow")
    answer = node.service.complete_action(slow, "SUCCESS", "s!")
    action = answer.action
    assert (str(action.state), action.workflow_execution_id, answer.task_name) == ("SUCCESS", ex.id, "slow")
    assert answer.workflow_namespace == ""


def check_a_runaway_decision_does_not_hold_back_another_execution(make: Callable[..., Node]) -> None:
    """The default slice: a publish that runs until the expression timeout is stopped off the lock,
    so a callback of another execution sent meanwhile is applied before it ends, not after."""
    tag = _tag()
    node = make(tag, expression_timeout=1.5)
    runaway = node.service.start_execution(f"runaway_{tag}")
    waiting = node.service.start_execution(f"waiting_{tag}")
    spin, wait = _action_of(node, runaway.id, "spin"), _action_of(node, waiting.id, "wait")
    spinner = threading.Thread(target=node.service.complete_action, args=(spin, "SUCCESS", 1))
    spinner.start()
    time.sleep(0.4)  # the runaway decision is under way (it runs for 1.5 s)
    node.service.complete_action(wait, "SUCCESS", 2)
    spinner.join(30)
    stopped = node.service.wait(runaway.id, 30)
    done = node.service.wait(waiting.id, 30)
    assert str(done.state) == "SUCCESS"
    assert str(stopped.state) == "ERROR"
    assert "ran longer than the limit of 1.5 s and was stopped" in (stopped.state_info or "")
    # Ordered by the times the decisions were written: under the lock, the callback would have
    # waited for the runaway decision to be stopped and written first.
    assert done.finished_at < stopped.finished_at, (done.finished_at, stopped.finished_at)


def check_sub_workflow_starts_are_decided_off_the_lock_with_their_parents_step(
        make: Callable[..., Node], monkeypatch: pytest.MonkeyPatch) -> None:
    """A step that starts a sub-workflow (which starts one of its own) decides the starts of the
    whole new subtree off the lock too, and writes them with the step."""
    tag = _tag()
    node = make(tag)
    node.service.lock_slice = 0.0
    starts: list[tuple[str, float | None]] = []
    real = node.service.starts.conduct_start

    def conduct_start(session: Any, ex: Any, pinned: Any, lock_slice: float | None) -> Any:
        decided = real(session, ex, pinned, lock_slice)
        starts.append((ex.workflow_name, lock_slice))
        return decided

    monkeypatch.setattr(node.service.starts, "conduct_start", conduct_start)
    ex = node.service.start_execution(f"parent_{tag}")
    done = node.service.wait(ex.id, 30)
    assert str(done.state) == "SUCCESS", done.state_info
    assert done.output == {"got": {"n2": {"m": SLOWISH_VALUE + 3}}}
    # The grandchild's start evaluates nothing slow: it was decided off the lock only because it
    # was decided with its parent's start, in the step of the top execution.
    assert (f"child_{tag}", None) in starts and (f"grandchild_{tag}", None) in starts, starts
    with transaction(node.read_factory) as session:
        family = repo.list_executions(session, {"root_execution_id": ex.id}, limit=10)
    assert sorted(e.workflow_name for e in family) == [f"child_{tag}", f"grandchild_{tag}"]


def check_a_runaway_sub_workflow_start_does_not_hold_back_another_execution(make: Callable[..., Node]) -> None:
    tag = _tag()
    node = make(tag, expression_timeout=1.5)
    waiting = node.service.start_execution(f"waiting_{tag}")
    wait = _action_of(node, waiting.id, "wait")
    spawner = node.service.start_execution(f"spawner_{tag}")  # its echo's result starts the spinning child
    time.sleep(0.5)
    node.service.complete_action(wait, "SUCCESS", 2)
    done = node.service.wait(waiting.id, 30)
    ended = node.service.wait(spawner.id, 30)
    assert str(done.state) == "SUCCESS"
    assert str(ended.state) == "ERROR"
    with transaction(node.read_factory) as session:
        [child] = repo.list_executions(session, {"root_execution_id": spawner.id}, limit=10)
    assert "ran longer than the limit of 1.5 s" in (child.state_info or "")
    assert done.finished_at < child.finished_at, (done.finished_at, child.finished_at)


def test_sub_workflow_starts_are_decided_off_the_lock_with_their_parents_step(sqlite_node, monkeypatch) -> None:
    check_sub_workflow_starts_are_decided_off_the_lock_with_their_parents_step(sqlite_node, monkeypatch)


def test_a_runaway_sub_workflow_start_does_not_hold_back_another_execution(sqlite_node) -> None:
    check_a_runaway_sub_workflow_start_does_not_hold_back_another_execution(sqlite_node)


def test_outbox_marks_taken_by_a_transaction_that_rolls_back_are_kept(sqlite_node) -> None:
    """The node marks handed-over outbox rows inside the next engine transaction; a shared batch
    that rolls back afterwards (a later decision went off the lock) must not forget them, or they
    stay unsent and are sent again, flagged as redelivered."""
    node = sqlite_node(_tag())
    node.stop()  # no loop takes the marks meanwhile
    marks = SentMarks(node.session_factory)  # the node's, without the stop marker stop() left in it
    marks.add(41)
    marks.add(42)
    with pytest.raises(RuntimeError), transaction(node.session_factory) as session:
        marks.mark_in(session)
        assert marks.take() == []  # taken by this transaction
        raise RuntimeError("the batch rolls back")
    assert sorted(marks.take()) == [41, 42]
    marks.add(43)
    with transaction(node.session_factory) as session:
        marks.mark_in(session)
    assert marks.take() == []  # committed: marked for good


def test_a_change_during_an_off_lock_decision_makes_it_again(sqlite_node, monkeypatch) -> None:
    check_a_change_during_an_off_lock_decision_makes_it_again(sqlite_node, monkeypatch)


def test_decisions_that_keep_meeting_changes_are_made_under_the_lock(sqlite_node, monkeypatch, caplog) -> None:
    check_decisions_that_keep_meeting_changes_are_made_under_the_lock(sqlite_node, monkeypatch, caplog)


def test_results_through_the_engine_inbox_are_decided_off_the_lock(sqlite_node, monkeypatch) -> None:
    check_results_through_the_engine_inbox_are_decided_off_the_lock(sqlite_node, monkeypatch)


def test_a_request_is_decided_off_the_lock(sqlite_node, monkeypatch) -> None:
    check_a_request_is_decided_off_the_lock(sqlite_node, monkeypatch)


def test_a_callback_answer_is_described_after_an_off_lock_decision(sqlite_node) -> None:
    check_a_callback_answer_is_described_after_an_off_lock_decision(sqlite_node)


def test_a_runaway_decision_does_not_hold_back_another_execution(sqlite_node) -> None:
    check_a_runaway_decision_does_not_hold_back_another_execution(sqlite_node)
