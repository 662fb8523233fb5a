"""Loading and listing executions (workflow, task and action executions) and the extras of action
executions (callback token hashes, heartbeats); whole trees are in :mod:`.trees`."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Generic, NamedTuple

from sqlalchemy import Table, bindparam, case, func, or_, select, update
from sqlalchemy.orm import Session

from levante.db import direct
from levante.db.repository._query import chunks, keyset, one_of
from levante.db.repository.records import (
    ACTION_TABLE,
    COLUMNS,
    KIND_OF,
    TASK_TABLE,
    WF_TABLE,
    R,
    in_creation_order,
    read_records,
    record_from_mapping,
    select_of,
)
from levante.db.session import ensure_write_lock, is_sqlite
from levante.engine.records import AcceptedResult, ActionExecution, TaskExecution, WorkflowExecution, utcnow
from levante.exceptions import NotFoundError
from levante.states import TASK_COMPLETED

DEFAULT_SORT_KEYS = ("created_at", "id")
DEFAULT_SORT_DIRS = ("desc", "desc")


# The statements a step runs are built once, with bound parameters: building a SELECT of a
# record's 25 columns costs as much CPU as running it (issue 14).
_B_ID: Any = bindparam("b_id")
#: By record type: the row with id ``b_id``; the same locked (``FOR UPDATE``, PostgreSQL).
_BY_ID = {cls: select_of(cls).where(COLUMNS[cls][0].table.c.id == _B_ID) for cls in COLUMNS}
_BY_ID_LOCKED = {cls: stmt.with_for_update() for cls, stmt in _BY_ID.items()}


def _one(session: Session, cls: type[R], record_id: str, lock: bool = False) -> R:
    stmt = _BY_ID[cls]
    if lock and cls is WorkflowExecution:
        stmt = _BUMP_BY_ID
    elif lock:
        if is_sqlite(session):
            ensure_write_lock(session)
        else:
            stmt = _BY_ID_LOCKED[cls]
    keys, found = direct.rows(session, stmt, {"b_id": record_id})
    if not found:
        raise NotFoundError(KIND_OF[cls], record_id)
    return record_from_mapping(cls, dict(zip(keys, found[0], strict=True)))


def _bump(where: Any) -> Any:
    """``UPDATE workflow_executions SET version = version + 1 WHERE ... RETURNING`` its fields and
    the new version: takes the execution's lock (its row's on PostgreSQL, the database's write lock
    on SQLite), reads it, and tells any decision made without the lock that it changed, in one
    statement."""
    return (update(WF_TABLE).where(where).values(version=WF_TABLE.c.version + 1)
            .returning(*COLUMNS[WorkflowExecution], WF_TABLE.c.version))


_BUMP_BY_ID = _bump(WF_TABLE.c.id == _B_ID)


# --- loads ----------------------------------------------------------------------------------


def get_execution(session: Session, execution_id: str, lock: bool = False) -> WorkflowExecution:
    """The workflow execution with that id.

    ``lock=True`` also takes the execution's lock, for a transaction that writes it (or its tasks
    or actions): the row's on PostgreSQL, the database's write lock on SQLite; it bumps the
    execution's version (:func:`execution_version`).

    Raises:
        NotFoundError: no such execution.
    """
    return _one(session, WorkflowExecution, execution_id, lock)


def versioned_execution(session: Session, execution_id: str) -> tuple[WorkflowExecution, int]:
    """The execution and its version, without its lock (for a decision made off the lock).

    Raises:
        NotFoundError: no such execution.
    """
    row = session.execute(select(*COLUMNS[WorkflowExecution], WF_TABLE.c.version)
                          .where(WF_TABLE.c.id == execution_id)).mappings().first()
    if row is None:
        raise NotFoundError(KIND_OF[WorkflowExecution], execution_id)
    return record_from_mapping(WorkflowExecution, row), row["version"]


def lock_if_unchanged(session: Session, execution_id: str, version: int) -> WorkflowExecution | None:
    """Take the execution's lock (as ``get_execution(lock=True)``) and return it if its version is
    still ``version`` (no transaction locked it since it was read); None if it changed.

    Raises:
        NotFoundError: no such execution (it was deleted meanwhile).
    """
    row = direct.first(session, _BUMP_BY_ID, {"b_id": execution_id})
    if row is None:
        raise NotFoundError(KIND_OF[WorkflowExecution], execution_id)
    return record_from_mapping(WorkflowExecution, row) if row["version"] == version + 1 else None


def action_executions_by_id(session: Session, ids: Sequence[str]) -> list[ActionExecution]:
    """The action executions with these ids (one query per chunk; unknown ids are left out)."""
    out: list[ActionExecution] = []
    for part in chunks(list(ids)):
        params = {f"b_i{n}": v for n, v in enumerate(part)}
        out += read_records(session, ActionExecution, _actions_by_ids(len(part)), params)
    return out


@functools.lru_cache(maxsize=256)
def _actions_by_ids(count: int) -> Any:
    """The statement of :func:`action_executions_by_id` for ``count`` ids, built once."""
    if count == 1:
        return select_of(ActionExecution).where(ACTION_TABLE.c.id == bindparam("b_i0"))
    return select_of(ActionExecution).where(ACTION_TABLE.c.id.in_([bindparam(f"b_i{n}") for n in range(count)]))


def task_progress(session: Session, execution_ids: Sequence[str]) -> dict[str, tuple[int, int]]:
    """``{execution id: (tasks done, tasks created)}`` for many executions in one grouped query
    (executions without tasks are left out)."""
    out: dict[str, tuple[int, int]] = {}
    if len(execution_ids) == 1:  # GET of one execution, polled by clients: a statement built once
        found: Any = direct.rows(session, _PROGRESS_ONE, {"b_ex": execution_ids[0]})[1]
    else:
        found = []
        for part in chunks(list(execution_ids)):
            found += session.execute(_PROGRESS.where(one_of(TASK_TABLE.c.workflow_execution_id, part))
                                     .group_by(TASK_TABLE.c.workflow_execution_id)).all()
    for ex_id, finished, total in found:
        out[ex_id] = (int(finished or 0), int(total))
    return out


#: (tasks ended, tasks in all) per execution; the ended states as plain comparisons, not an IN list,
#: which would be expanded again at each execution.
_PROGRESS = select(TASK_TABLE.c.workflow_execution_id,
                   func.sum(case((or_(*(TASK_TABLE.c.state == str(s) for s in sorted(TASK_COMPLETED))), 1),
                                 else_=0)),
                   func.count())
_PROGRESS_ONE = (_PROGRESS.where(TASK_TABLE.c.workflow_execution_id == bindparam("b_ex"))
                 .group_by(TASK_TABLE.c.workflow_execution_id))


def get_task(session: Session, task_id: str) -> TaskExecution:
    """The task execution with that id (NotFoundError if none)."""
    return _one(session, TaskExecution, task_id)


def get_action_execution(session: Session, action_execution_id: str) -> ActionExecution:
    """The action execution with that id (NotFoundError if none)."""
    return _one(session, ActionExecution, action_execution_id)


def action_executions_of(session: Session, task_id: str) -> list[ActionExecution]:
    """Every action execution of a task, in creation order."""
    stmt = select_of(ActionExecution).where(ACTION_TABLE.c.task_execution_id == task_id)
    return read_records(session, ActionExecution, stmt.order_by(*in_creation_order(ACTION_TABLE)))


def accepted_results_of(session: Session, task_id: str) -> list[AcceptedResult]:
    """The accepted action executions of a task, in creation order: their id, index, attempt and
    result only (a with-items task over a million items reads them when it completes). The index
    and attempt are taken out of the runtime context by the database, and the rows are decoded a
    few thousand at a time, so that what is held is the results, not a million decoded rows."""
    rows = session.execute(_ACCEPTED_RESULTS, {"b_task": task_id})
    return [AcceptedResult(ae_id, index or 0, attempt or 0, (output or {}).get("result"))
            for ae_id, index, attempt, output in rows]


_RC = ACTION_TABLE.c.runtime_context
_ACCEPTED_RESULTS = (
    select(ACTION_TABLE.c.id, _RC["index"].as_integer(), _RC["attempt"].as_integer(), ACTION_TABLE.c.output)
    .where(ACTION_TABLE.c.task_execution_id == bindparam("b_task"), ACTION_TABLE.c.accepted.is_(True))
    .order_by(*in_creation_order(ACTION_TABLE))
    .execution_options(yield_per=2000)
)


def sub_executions_of(session: Session, task_id: str) -> list[WorkflowExecution]:
    """Every workflow execution started by a task (a sub-workflow task), in creation order."""
    stmt = select_of(WorkflowExecution).where(WF_TABLE.c.task_execution_id == task_id)
    return read_records(session, WorkflowExecution, stmt.order_by(*in_creation_order(WF_TABLE)))


def find_task_by_unique_key(session: Session, unique_key: str) -> TaskExecution | None:
    """The task execution holding ``unique_key`` (a join task), if any."""
    stmt = select_of(TaskExecution).where(TASK_TABLE.c.unique_key == unique_key)
    found = read_records(session, TaskExecution, stmt)
    return found[0] if found else None


# --- listings -------------------------------------------------------------------------------


class _Listing(Generic[R]):
    """A page of one kind of execution (keyset pagination: ``marker`` is the last id of the page before).

    ``filters`` maps a column to a value (equality, None meaning NULL), a list (IN), or
    ``{"op": "gt"|"gte"|"lt"|"lte"|"eq"|"neq"|"in"|"nin", "value": V}`` (or a list of those, all
    holding), e.g. ``{"state": "RUNNING", "created_at": {"op": "gte", "value": since}}``.
    ``id`` is appended to the sort keys when absent so that the order is total.

    Raises:
        InputError: an unknown column, operator or direction.
        NotFoundError: ``marker`` names no execution.
    """

    def __init__(self, cls: type[R], table: Table) -> None:
        self.cls: type[R] = cls
        self.table = table

    def __call__(
        self,
        session: Session,
        filters: dict[str, Any] | None = None,
        limit: int | None = None,
        marker: str | None = None,
        sort_keys: Sequence[str] = DEFAULT_SORT_KEYS,
        sort_dirs: Sequence[str] = DEFAULT_SORT_DIRS,
    ) -> list[R]:
        stmt = keyset(
            session,
            select_of(self.cls),
            self.table,
            filters=filters,
            limit=limit,
            marker=marker,
            sort_keys=sort_keys,
            sort_dirs=sort_dirs,
            kind=KIND_OF[self.cls],
        )
        return read_records(session, self.cls, stmt)


list_executions = _Listing(WorkflowExecution, WF_TABLE)
list_tasks = _Listing(TaskExecution, TASK_TABLE)
list_action_executions = _Listing(ActionExecution, ACTION_TABLE)


# --- action execution extras ----------------------------------------------------------------


def set_callback_token_hash(session: Session, action_execution_id: str, token_hash: str | None) -> None:
    """Store the hash of an asynchronous action's callback token."""
    _update_action(session, action_execution_id, callback_token_hash=token_hash)


class ActionExtras(NamedTuple):
    """What an action execution's row holds beside its record."""

    #: SHA-256 of its callback token (None for a synchronous action).
    token_hash: str | None
    #: ``(last_heartbeat, progress)`` as the action last reported them.
    heartbeat: tuple[datetime | None, Any]


_WITH_EXTRAS = (select_of(ActionExecution)
                .add_columns(ACTION_TABLE.c.callback_token_hash, ACTION_TABLE.c.last_heartbeat, ACTION_TABLE.c.progress)
                .where(ACTION_TABLE.c.id == _B_ID))
_WITH_EXTRAS_LOCKED = _WITH_EXTRAS.with_for_update(of=ACTION_TABLE)


def get_action_execution_with_extras(session: Session, action_execution_id: str, lock: bool = False
                                     ) -> tuple[ActionExecution, ActionExtras]:
    """The action execution with that id, its callback token hash and its heartbeat, in one query
    (NotFoundError if none). ``lock=True`` locks the action's row (``SELECT ... FOR UPDATE`` on
    PostgreSQL, the write lock on SQLite): for an action run on its own, which has no workflow
    execution whose lock would order concurrent completions."""
    stmt = _WITH_EXTRAS
    if lock:
        if is_sqlite(session):
            ensure_write_lock(session)
        else:
            stmt = _WITH_EXTRAS_LOCKED
    row = direct.first(session, stmt, {"b_id": action_execution_id})
    if row is None:
        raise NotFoundError(KIND_OF[ActionExecution], action_execution_id)
    extras = ActionExtras(row["callback_token_hash"], (row["last_heartbeat"], row["progress"]))
    return record_from_mapping(ActionExecution, row), extras


def execution_of_action(session: Session, action_execution_id: str, lock: bool = False) -> WorkflowExecution | None:
    """The workflow execution an action execution belongs to (None for an unknown action or one run
    on its own), found by the action's id in one statement; ``lock=True`` takes the execution's
    lock as :func:`get_execution` does."""
    stmt = _BUMP_OF_ACTION if lock else _EXECUTION_OF_ACTION
    row = direct.first(session, stmt, {"b_id": action_execution_id})
    return None if row is None else record_from_mapping(WorkflowExecution, row)


_OWNER = select(ACTION_TABLE.c.workflow_execution_id).where(ACTION_TABLE.c.id == _B_ID).scalar_subquery()
_BUMP_OF_ACTION = _bump(WF_TABLE.c.id == _OWNER)
_EXECUTION_OF_ACTION = select_of(WorkflowExecution).where(WF_TABLE.c.id == _OWNER)


def callback_token_hash_of(session: Session, action_execution_id: str) -> str | None:
    """The stored callback token hash of an action execution (NotFoundError if no such action)."""
    row = session.execute(
        select(ACTION_TABLE.c.callback_token_hash).where(ACTION_TABLE.c.id == action_execution_id)
    ).first()
    if row is None:
        raise NotFoundError(KIND_OF[ActionExecution], action_execution_id)
    return row[0]


def record_heartbeat(
    session: Session, action_execution_id: str, at: datetime | None = None, progress: Any = None
) -> None:
    """Note that an action is alive (and, if given, its progress)."""
    values: dict[str, Any] = {"last_heartbeat": at or utcnow()}
    if progress is not None:
        values["progress"] = progress
    _update_action(session, action_execution_id, **values)


def heartbeats_of(session: Session, action_execution_ids: Sequence[str]) -> dict[str, tuple[datetime | None, Any]]:
    """``{id: (last_heartbeat, progress)}`` of the given action executions."""
    found: dict[str, tuple[datetime | None, Any]] = {}
    t = ACTION_TABLE
    for part in chunks(list(action_execution_ids)):
        for row in session.execute(select(t.c.id, t.c.last_heartbeat, t.c.progress).where(one_of(t.c.id, part))):
            found[row[0]] = (row[1], row[2])
    return found


def running_progress_of(session: Session, task_ids: Sequence[str]) -> dict[str, Any]:
    """``{task id: progress}`` of the running action executions of those tasks that reported one
    (the latest such action when a task has several)."""
    found: dict[str, Any] = {}
    t = ACTION_TABLE
    for part in chunks(list(task_ids)):
        stmt = (select(t.c.task_execution_id, t.c.progress)
                .where(one_of(t.c.task_execution_id, part), t.c.state == "RUNNING", t.c.progress.is_not(None))
                .order_by(t.c.created_at))
        for row in session.execute(stmt):
            found[row[0]] = row[1]
    return found


def _update_action(session: Session, action_execution_id: str, **values: Any) -> None:
    result = session.execute(
        update(ACTION_TABLE).where(ACTION_TABLE.c.id == action_execution_id).values(values)
    )
    if result.rowcount == 0:  # type: ignore[attr-defined]
        raise NotFoundError(KIND_OF[ActionExecution], action_execution_id)
