"""A with-items task over more items than run at once, on a real database (issue 14: lazy
with-items): its items are evaluated once and kept in ``with_items_chunks``; each step starts the
next ones from the rows it reads; a rerun of failed items reads them too; deleting the execution
deletes them. tests/integration/engine/test_with_items_window_pg.py runs these on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import event, func, select

from levante.config import load
from levante.db import repository as repo
from levante.db.models import WithItemsChunk
from levante.db.session import transaction
from levante.engine import events as ev
from levante.engine.commands import ITEMS_PER_CHUNK
from levante.engine.service.definitions import store
from levante.node import Node
from levante.states import State

WORKFLOWS = """
version: '2.0'
echo_all:
  input: [names]
  tasks:
    many:
      with-items:
        - name in <% $.names %>
        - n in <% range(len($.names)) %>
      action: std.echo output=<% [$.name, $.n] %>
wait_all:
  input: [count]
  tasks:
    many:
      with-items: i in <% range($.count) %>
      action: std.async_noop
"""


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'levante.db'}"


@pytest.fixture
def node(db_url: str) -> Iterator[Node]:
    config = load(env={"LEVANTE_WITH_ITEMS_WINDOW": "5"}, db_url=db_url)
    with Node(config) as started:
        with transaction(started.session_factory) as session:
            store(session, "workflows", WORKFLOWS)
        yield started


def _chunks(node: Node, task_id: str | None = None) -> int:
    with transaction(node.read_factory) as session:
        stmt = select(func.count()).select_from(WithItemsChunk)
        if task_id is not None:
            stmt = stmt.where(WithItemsChunk.task_execution_id == task_id)
        return int(session.execute(stmt).scalar_one())


def _actions(node: Node, execution_id: str) -> list[object]:
    with transaction(node.read_factory) as session:
        [task] = repo.tasks_of(session, execution_id)
        return list(repo.action_executions_of(session, task.id))


def test_every_item_runs_with_its_own_values_and_the_results_keep_item_order(node: Node) -> None:
    names = [f"name-{i}" for i in range(ITEMS_PER_CHUNK + 230)]  # two chunks
    ex = node.service.start_execution("echo_all", {"names": names})
    done = node.service.wait(ex.id, 120)
    assert done.state == State.SUCCESS, done.state_info
    with transaction(node.read_factory) as session:
        [task] = repo.tasks_of(session, ex.id)
    assert task.result == [[name, n] for n, name in enumerate(names)]
    assert _chunks(node, task.id) == 2
    with transaction(node.session_factory) as session:
        repo.delete_execution(session, ex.id)
    assert _chunks(node) == 0  # the chunks went with the execution


def test_no_more_than_the_window_runs_and_each_end_starts_the_next(node: Node) -> None:
    ex = node.service.start_execution("wait_all", {"count": 12})
    actions = _actions(node, ex.id)
    assert [a.state for a in actions] == [State.RUNNING] * 5  # type: ignore[attr-defined]
    for action in actions[:2]:
        node.service.complete_action(action.id, "SUCCESS", action.runtime_context["index"])  # type: ignore[attr-defined]
    actions = _actions(node, ex.id)
    assert len(actions) == 7
    assert sum(a.state == State.RUNNING for a in actions) == 5  # type: ignore[attr-defined]
    assert sorted(a.runtime_context["index"] for a in actions) == list(range(7))  # type: ignore[attr-defined]
    while True:
        running = [a for a in _actions(node, ex.id) if a.state == State.RUNNING]  # type: ignore[attr-defined]
        if not running:
            break
        assert len(running) <= 5
        for action in running:
            node.service.complete_action(action.id, "SUCCESS", action.runtime_context["index"])  # type: ignore[attr-defined]
    done = node.service.wait(ex.id, 30)
    assert done.state == State.SUCCESS
    with transaction(node.read_factory) as session:
        [task] = repo.tasks_of(session, ex.id)
    assert task.result == list(range(12))


def test_a_rerun_of_the_failed_items_takes_them_from_the_stored_rows(node: Node) -> None:
    ex = node.service.start_execution("wait_all", {"count": 9})
    while True:
        running = [a for a in _actions(node, ex.id) if a.state == State.RUNNING]  # type: ignore[attr-defined]
        if not running:
            break
        for action in running:
            index = action.runtime_context["index"]  # type: ignore[attr-defined]
            node.service.complete_action(action.id, "ERROR" if index in (2, 7) else "SUCCESS", index)  # type: ignore[attr-defined]
    assert node.service.wait(ex.id, 30).state == State.ERROR
    with transaction(node.read_factory) as session:
        [task] = repo.tasks_of(session, ex.id)
    before = {a.id for a in _actions(node, ex.id)}  # type: ignore[attr-defined]
    node.service.request(ev.RerunRequested(ex.id, task.id, reset=False))
    again = [a for a in _actions(node, ex.id) if a.id not in before]  # type: ignore[attr-defined]
    assert sorted(a.runtime_context["index"] for a in again) == [2, 7]  # type: ignore[attr-defined]
    for action in again:
        node.service.complete_action(action.id, "SUCCESS", action.runtime_context["index"])  # type: ignore[attr-defined]
    done = node.service.wait(ex.id, 30)
    assert done.state == State.SUCCESS, done.state_info
    with transaction(node.read_factory) as session:
        [task] = repo.tasks_of(session, ex.id)
    assert task.result == list(range(9))


def test_a_step_applying_many_results_reads_each_chunk_once(node: Node) -> None:
    ex = node.service.start_execution("wait_all", {"count": 12})
    running = _actions(node, ex.id)
    reads: list[str] = []

    def count(conn: object, cursor: object, statement: str, *args: object) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "with_items_chunks" in statement:
            reads.append(statement)

    event.listen(node.db, "before_cursor_execute", count)
    try:
        node.service.handle([ev.ActionCompleted(ex.id, a.id, "SUCCESS", 1) for a in running])  # type: ignore[attr-defined]
    finally:
        event.remove(node.db, "before_cursor_execute", count)
    assert len(_actions(node, ex.id)) == 10  # five results started five more items...
    assert len(reads) == 1  # ...from one read of their chunk


RETRIED = """
version: '2.0'
retried:
  tasks:
    many:
      with-items: i in <% range(8) %>
      action: std.fail
      retry: {count: 2, delay: 0}
"""


def test_a_retry_evaluates_the_items_again_and_keeps_only_its_own_chunks(node: Node) -> None:
    with transaction(node.session_factory) as session:
        store(session, "workflows", RETRIED)
    ex = node.service.start_execution("retried")
    done = node.service.wait(ex.id, 60)
    assert done.state == State.ERROR
    with transaction(node.read_factory) as session:
        [task] = repo.tasks_of(session, ex.id)
        attempts = session.execute(select(WithItemsChunk.attempt)
                                   .where(WithItemsChunk.task_execution_id == task.id)).scalars().all()
    assert task.runtime_context["retry_task_policy"] == {"retry_no": 2}
    assert len(_actions(node, ex.id)) == 24  # 8 items, 3 attempts
    assert attempts == [task.runtime_context["attempt"]]  # the last attempt's chunk only
