"""Statements run on the driver's cursor (levante.db.direct) give what ``Session.execute`` gives,
count as statements, and fail as SQLAlchemy errors (run on SQLite here, on PostgreSQL by
tests/integration/db/test_pg_direct.py)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from sqlalchemy import Engine, bindparam, event, insert, select, update
from sqlalchemy.exc import IntegrityError

from levante.db import direct
from levante.db import repository as repo
from levante.db.models import ActionExecutionRow, ExecutionEvent, OutboxMessage
from levante.db.repository.executions import _BUMP_BY_ID, _PROGRESS_ONE
from levante.db.repository.executions import _BY_ID as BY_ID
from levante.db.repository.records import COLUMNS, FIELDS, TASK_TABLE, WF_TABLE, record_from_mapping, select_of
from levante.db.repository.records import _upsert_statement as upsert_statement
from levante.db.repository.tasks import _TASKS_OF as TASKS_OF
from levante.db.session import SessionFactory, transaction
from levante.engine.records import TaskExecution, WorkflowExecution
from tests.unit.db.helpers import T0, action, task, wf

#: Values a row can hold that each need a processor: NUL characters, nested JSON with unicode, an
#: aware datetime with microseconds.
ODD = {"text": "a\x00b ünï \U0001f600", "nested": {"list": [1, 2.5, None, True, {"deep": "\x00"}]}}


def _fields(record: Any) -> dict[str, Any]:
    """A record's fields (records compare by identity)."""
    return {field.name: getattr(record, field.name) for field in dataclasses.fields(record)}


def _warm(session: Any, stmt: Any, keys: tuple[str, ...] | None = None) -> direct.Plan:
    """Make ``stmt`` run on the driver's cursor from now on (a statement is planned from its
    second run) and return its plan."""
    dialect = session.get_bind().dialect
    direct.plan_of(stmt, dialect, keys)
    plan = direct.plan_of(stmt, dialect, keys)
    assert plan is not None
    return plan


def _stored(session_factory: SessionFactory) -> tuple[WorkflowExecution, TaskExecution]:
    wf_ex = wf(input=ODD, state_info="info\x00with nul", created_at=T0, tags=["x\x00y"])
    task_ex = task(wf_ex, "t\x00name", published=ODD, created_at=T0)
    with transaction(session_factory) as s:
        repo.save_all(s, [wf_ex, task_ex, action(task_ex, input=ODD)])
    return wf_ex, task_ex


def test_rows_are_what_session_execute_gives(session_factory: SessionFactory) -> None:
    wf_ex, task_ex = _stored(session_factory)
    stmt = select_of(TaskExecution).where(TASK_TABLE.c.workflow_execution_id == bindparam("b_ex"))
    with transaction(session_factory) as s:
        expected = [dict(row) for row in s.execute(stmt, {"b_ex": wf_ex.id}).mappings()]
        _warm(s, stmt)
        _warm(s, TASKS_OF)
        _warm(s, BY_ID[WorkflowExecution], ("b_id",))
        keys, found = direct.rows(s, stmt, {"b_ex": wf_ex.id})
        assert [dict(zip(keys, row, strict=True)) for row in found] == expected
        assert expected[0]["published"] == ODD and expected[0]["name"] == "t\x00name"
        assert expected[0]["created_at"] == T0
        assert [_fields(t) for t in repo.tasks_of(s, wf_ex.id)] == \
            [_fields(record_from_mapping(TaskExecution, row)) for row in expected]
        wf_row = s.execute(select_of(WorkflowExecution).where(WF_TABLE.c.id == wf_ex.id)).mappings().one()
        assert _fields(repo.get_execution(s, wf_ex.id)) == _fields(record_from_mapping(WorkflowExecution, wf_row))
        assert repo.get_execution(s, wf_ex.id).input == ODD


def test_a_literal_bound_in_the_statement_is_sent(session_factory: SessionFactory) -> None:
    wf_ex, task_ex = _stored(session_factory)
    stmt = select_of(TaskExecution).where(TASK_TABLE.c.workflow_execution_id == wf_ex.id)
    with transaction(session_factory) as s:
        assert _warm(s, stmt).defaults == {"workflow_execution_id_1": wf_ex.id}
        assert [row[0] for row in direct.rows(s, stmt)[1]] == [task_ex.id]


def test_an_expanding_in_list_runs_through_sqlalchemy(session_factory: SessionFactory) -> None:
    wf_ex, task_ex = _stored(session_factory)
    stmt = select(TASK_TABLE.c.id).where(TASK_TABLE.c.id.in_(bindparam("b_ids", expanding=True)))
    with transaction(session_factory) as s:
        assert direct.plan_of(stmt, s.get_bind().dialect) is None
        assert direct.plan_of(stmt, s.get_bind().dialect) is None
        assert direct.rows(s, stmt, {"b_ids": [task_ex.id, "nope"]})[1] == [(task_ex.id,)]


def test_a_version_bump_returns_the_row(session_factory: SessionFactory) -> None:
    wf_ex, _ = _stored(session_factory)
    with transaction(session_factory) as s:
        _warm(s, _BUMP_BY_ID, ("b_id",))
        first = direct.first(s, _BUMP_BY_ID, {"b_id": wf_ex.id})
        again = direct.first(s, _BUMP_BY_ID, {"b_id": wf_ex.id})
        assert first is not None and again is not None
        assert again["version"] == first["version"] + 1 and first["input"] == ODD
        assert direct.first(s, _BUMP_BY_ID, {"b_id": "missing"}) is None


def test_inserts_once_and_many(session_factory: SessionFactory) -> None:
    outbox: Any = OutboxMessage.__table__
    events: Any = ExecutionEvent.__table__
    rows = [{"execution_id": "ex", "kind": f"k{n}", "payload": ODD, "created_at": T0,
             "task_execution_id": None, "action_execution_id": None} for n in range(3)]
    enqueue, append = insert(outbox).returning(outbox.c.id), insert(events)
    with transaction(session_factory) as s:
        _warm(s, enqueue, ("created_at", "payload", "topic"))
        _warm(s, append, tuple(sorted(rows[0])))
        row_id = direct.scalar(s, enqueue, {"topic": "executor", "payload": ODD, "created_at": T0})
        direct.execute(s, append, rows[0])
        direct.execute(s, append, rows[1:])
        direct.execute(s, append, [])
    with transaction(session_factory) as s:
        assert [(m.id, m.payload, m.unpublished) for m in repo.pending(s, 10)] == [(row_id, ODD, False)]
        assert [(e.kind, e.payload, e.created_at) for e in repo.events_of(s, "ex")] == \
            [(f"k{n}", ODD, T0) for n in range(3)]


def test_a_column_default_is_left_to_sqlalchemy(session_factory: SessionFactory) -> None:
    """An INSERT that leaves out a column with a Python default (a new id, a timestamp) is not
    planned: SQLAlchemy computes the default."""
    table: Any = ActionExecutionRow.__table__
    stmt = insert(table)
    with transaction(session_factory) as s:
        for _ in range(2):
            assert direct.plan_of(stmt, s.get_bind().dialect, ("name", "state")) is None
        direct.execute(s, stmt, {"name": "std.noop", "state": "RUNNING"})
        row = s.execute(select(table.c.id, table.c.created_at)).one()
    assert row.id and row.created_at is not None


def test_statements_are_seen_by_listeners(db_engine: Engine, session_factory: SessionFactory) -> None:
    wf_ex, _ = _stored(session_factory)
    seen: list[tuple[str, bool]] = []

    def before(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
        seen.append((statement.split()[0], many))

    rename = update(OutboxMessage.__table__).values(topic="x")
    with transaction(session_factory) as s:
        _warm(s, _BUMP_BY_ID, ("b_id",))
        _warm(s, rename)
    event.listen(db_engine, "before_cursor_execute", before)
    try:
        with transaction(session_factory) as s:
            repo.get_execution(s, wf_ex.id, lock=True)
            direct.execute(s, rename, {})
    finally:
        event.remove(db_engine, "before_cursor_execute", before)
    assert ("UPDATE", False) in seen and seen.count(("UPDATE", False)) >= 2


def test_an_error_is_sqlalchemys_and_the_next_transaction_works(session_factory: SessionFactory) -> None:
    wf_ex, task_ex = _stored(session_factory)
    events: Any = ExecutionEvent.__table__
    append, bad = insert(events), {"execution_id": "ex", "kind": None, "payload": {}, "created_at": T0}
    with pytest.raises(IntegrityError), transaction(session_factory) as s:  # kind is NOT NULL
        _warm(s, append, tuple(sorted(bad)))
        direct.execute(s, append, bad)
    with transaction(session_factory) as s:
        assert repo.get_execution(s, wf_ex.id).input == ODD
        assert [t.id for t in repo.tasks_of(s, wf_ex.id)] == [task_ex.id]


def test_plans_are_kept_once_per_statement(session_factory: SessionFactory) -> None:
    with transaction(session_factory) as s:
        dialect = s.get_bind().dialect
        stmt = select(*COLUMNS[WorkflowExecution])
        assert direct.plan_of(stmt, dialect) is None  # its first run: through SQLAlchemy
        plan = direct.plan_of(stmt, dialect)
        assert plan is not None and direct.plan_of(stmt, dialect) is plan
        # A statement built anew for each call keeps going through SQLAlchemy's cache.
        assert [direct.plan_of(select(*COLUMNS[WorkflowExecution]), dialect) for _ in range(3)] == [None] * 3


def test_rows_of_an_insert_go_in_one_statement(db_engine: Engine, session_factory: SessionFactory) -> None:
    """Several rows of an INSERT are one statement with a row of VALUES each (up to
    MULTI_VALUES_ROWS), written in order; more rows, or an upsert given one id twice, go through
    executemany."""
    wf_ex = wf()
    tasks = [task(wf_ex, f"t{n}", published={"n": n, "s": "\x00"}) for n in range(direct.MULTI_VALUES_ROWS + 4)]
    seen: list[bool] = []

    def before(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
        if statement.startswith("INSERT INTO task_executions"):
            seen.append(many)

    with transaction(session_factory) as s:
        _warm(s, upsert_statement(s.get_bind().dialect.name, TaskExecution), tuple(sorted(FIELDS[TaskExecution])))
    event.listen(db_engine, "before_cursor_execute", before)
    try:
        with transaction(session_factory) as s:
            repo.save_all(s, [wf_ex, *tasks[:3]])
            repo.save_all(s, tasks[3:])
            again = [task(wf_ex, "dup", id="same"), task(wf_ex, "dup2", id="same")]
            repo.save_all(s, again)
    finally:
        event.remove(db_engine, "before_cursor_execute", before)
    assert seen == [False, True, True]
    with transaction(session_factory) as s:
        stored = repo.tasks_of(s, wf_ex.id)
    assert sorted((t.name, t.published) for t in stored if t.id != "same") == \
        sorted((f"t{n}", {"n": n, "s": "\x00"}) for n in range(direct.MULTI_VALUES_ROWS + 4))
    assert [t.name for t in stored if t.id == "same"] == ["dup2"]


def test_the_progress_of_one_execution_on_the_cursor_is_the_grouped_querys(session_factory: SessionFactory) -> None:
    first, second = wf(), wf()
    states = ["SUCCESS", "ERROR", "RUNNING", "SKIPPED", "CANCELLED", "WAITING", "SUCCESS"]
    tasks = [task(first, f"t{n}", state=state) for n, state in enumerate(states)]
    with transaction(session_factory) as s:
        repo.save_all(s, [first, second, *tasks, task(second, "x", state="RUNNING")])
    with transaction(session_factory) as s:
        _warm(s, _PROGRESS_ONE)
        both = repo.task_progress(s, [first.id, second.id])  # the grouped query, built per call
        assert both == {first.id: (5, 7), second.id: (0, 1)}
        assert repo.task_progress(s, [first.id]) == {first.id: both[first.id]}
        assert repo.task_progress(s, [second.id]) == {second.id: (0, 1)}
        assert repo.task_progress(s, [wf().id]) == {}
