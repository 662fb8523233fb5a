"""What an execution report shows of its executions, tasks and actions: names, states, times and
links, read without the JSON columns (inputs, contexts, results), whose decoding was most of the
cost of a report (a 100,000-task execution: 11 s, 160,000 JSON values decoded)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, cast, func, select
from sqlalchemy.orm import Session

from levante.db.repository._query import chunks, one_of
from levante.db.repository.records import ACTION_TABLE, TASK_TABLE, WF_TABLE
from levante.states import State


@dataclass(frozen=True, slots=True)
class ExecutionSummary:
    id: str
    workflow_name: str
    state: State
    state_info: str | None
    task_execution_id: str | None
    created_at: datetime | None
    updated_at: datetime | None


@dataclass(frozen=True, slots=True)
class TaskSummary:
    id: str
    name: str
    type: str
    state: State
    state_info: str | None
    workflow_execution_id: str
    created_at: datetime | None
    updated_at: datetime | None
    #: ``runtime_context.retry_task_policy.retry_no`` (None: never retried).
    retry_no: int | None


@dataclass(frozen=True, slots=True)
class ActionSummary:
    id: str
    name: str
    state: State
    state_info: str | None
    accepted: bool
    is_sync: bool
    task_execution_id: str | None
    created_at: datetime | None
    updated_at: datetime | None
    last_heartbeat: datetime | None


_W, _T, _A = WF_TABLE.c, TASK_TABLE.c, ACTION_TABLE.c
_EXECUTION_COLUMNS = (_W.id, _W.workflow_name, _W.state, _W.state_info, _W.task_execution_id, _W.created_at,
                      _W.updated_at)
_RETRY_NO: Any = cast(_T.runtime_context["retry_task_policy"]["retry_no"].as_string(), Integer)
_TASK_COLUMNS = (_T.id, _T.name, _T.type, _T.state, _T.state_info, _T.workflow_execution_id, _T.created_at,
                 _T.updated_at, _RETRY_NO)
_ACTION_COLUMNS = (_A.id, _A.name, _A.state, _A.state_info, _A.accepted, _A.is_sync, _A.task_execution_id,
                   _A.created_at, _A.updated_at, _A.last_heartbeat)


_STATES = {state.value: state for state in State}


def _state(value: Any) -> State:
    return _STATES.get(value) or State(value)


def execution_summary(session: Session, execution_id: str) -> ExecutionSummary | None:
    row = session.execute(select(*_EXECUTION_COLUMNS).where(_W.id == execution_id)).first()
    return None if row is None else _execution(row)


def _execution(r: Any) -> ExecutionSummary:
    return ExecutionSummary(r[0], r[1], _state(r[2]), r[3], r[4], r[5], r[6])


def task_summaries(session: Session, execution_ids: Sequence[str]) -> list[TaskSummary]:
    """The tasks of these executions, oldest first (in each execution)."""
    found: list[TaskSummary] = []
    for part in chunks(list(execution_ids)):
        stmt = select(*_TASK_COLUMNS).where(one_of(_T.workflow_execution_id, part)).order_by(_T.created_at, _T.id)
        found += [TaskSummary(r[0], r[1], r[2], _state(r[3]), r[4], r[5], r[6], r[7], r[8])
                  for r in session.execute(stmt)]
    return found


def action_summaries(session: Session, task_ids: Sequence[str]) -> list[ActionSummary]:
    """The action executions of these tasks, oldest first."""
    found: list[ActionSummary] = []
    for part in chunks(list(task_ids)):
        stmt = select(*_ACTION_COLUMNS).where(one_of(_A.task_execution_id, part)).order_by(_A.created_at, _A.id)
        found += [ActionSummary(r[0], r[1], _state(r[2]), r[3], bool(r[4]), bool(r[5]), r[6], r[7], r[8], r[9])
                  for r in session.execute(stmt)]
    return found


def execution_summaries_of_tasks(session: Session, task_ids: Sequence[str]) -> list[ExecutionSummary]:
    """The sub-executions these tasks started, oldest first."""
    found: list[ExecutionSummary] = []
    for part in chunks(list(task_ids)):
        stmt = select(*_EXECUTION_COLUMNS).where(one_of(_W.task_execution_id, part)).order_by(_W.created_at, _W.id)
        found += [_execution(r) for r in session.execute(stmt)]
    return found


def tree_links(session: Session, execution_id: str) -> list[tuple[str, str | None]] | None:
    """(id, parent id) of every execution of the tree ``execution_id`` belongs to (the root's tree,
    by ``root_execution_id``: one indexed read, the ids only); None when there is no such execution."""
    row = session.execute(select(_W.id, _W.root_execution_id).where(_W.id == execution_id)).first()
    if row is None:
        return None
    root = row[1] or row[0]
    stmt = select(_W.id, _W.parent_id).where(_W.root_execution_id == root)
    links = [(str(r[0]), r[1]) for r in session.execute(stmt)]
    return [(root, None), *links]


def task_state_counts(session: Session, execution_ids: Sequence[str]) -> Counter[str]:
    """How many tasks of these executions are in each state (counted by the database)."""
    counts: Counter[str] = Counter()
    for part in chunks(list(execution_ids)):
        stmt = select(_T.state, func.count()).where(one_of(_T.workflow_execution_id, part)).group_by(_T.state)
        for state, count in session.execute(stmt):
            counts[_state(state).value] += int(count)
    return counts
