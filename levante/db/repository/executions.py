"""Loading and listing executions (workflow, task and action executions) and the extras of action
executions (callback token hashes, heartbeats); whole trees are in :mod:`.trees`."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Generic, NamedTuple

from sqlalchemy import Table, bindparam, case, func, or_, select, text, update
from sqlalchemy.orm import Session

from levante.db.models import OPEN_TASKS
from levante.db.repository._query import chunks, keyset, one_of
from levante.db.repository.records import (
    ACTION_TABLE,
    COLUMNS,
    KIND_OF,
    TASK_TABLE,
    WF_TABLE,
    R,
    record_from_mapping,
)
from levante.db.session import ensure_write_lock, is_sqlite
from levante.engine.records import ActionExecution, TaskExecution, WorkflowExecution, utcnow
from levante.exceptions import NotFoundError
from levante.states import TASK_COMPLETED

DEFAULT_SORT_KEYS = ("created_at", "id")
#: Task executions that are open (:data:`~levante.db.models.OPEN_TASKS`), the condition as literal text.
_OPEN_TASKS = select(*COLUMNS[TaskExecution]).where(text(f"({OPEN_TASKS})"))
DEFAULT_SORT_DIRS = ("desc", "desc")


def _select(cls: type) -> Any:
    return select(*COLUMNS[cls])


# The statements a step runs are built once, with bound parameters: building a SELECT of a
# record's 25 columns costs as much CPU as running it (issue 14).
_B_ID: Any = bindparam("b_id")
#: By record type: the row with id ``b_id``; the same locked (``FOR UPDATE``, PostgreSQL).
_BY_ID = {cls: _select(cls).where(COLUMNS[cls][0].table.c.id == _B_ID) for cls in COLUMNS}
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
    row = session.execute(stmt, {"b_id": record_id}).mappings().first()
    if row is None:
        raise NotFoundError(KIND_OF[cls], record_id)
    return record_from_mapping(cls, row)


def _bump(where: Any) -> Any:
    """``UPDATE workflow_executions SET version = version + 1 WHERE ... RETURNING`` its fields and
    the new version: takes the execution's lock (its row's on PostgreSQL, the database's write lock
    on SQLite), reads it, and tells any decision made without the lock that it changed, in one
    statement."""
    return (update(WF_TABLE).where(where).values(version=WF_TABLE.c.version + 1)
            .returning(*COLUMNS[WorkflowExecution], WF_TABLE.c.version))


_BUMP_BY_ID = _bump(WF_TABLE.c.id == _B_ID)


def _many(session: Session, cls: type[R], stmt: Any, params: dict[str, Any] | None = None) -> list[R]:
    return [record_from_mapping(cls, row) for row in session.execute(stmt, params).mappings()]


def _in_creation_order(table: Table) -> tuple[Any, Any]:
    return table.c.created_at.asc(), table.c.id.asc()


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
    row = session.execute(_BUMP_BY_ID, {"b_id": execution_id}).mappings().first()
    if row is None:
        raise NotFoundError(KIND_OF[WorkflowExecution], execution_id)
    return record_from_mapping(WorkflowExecution, row) if row["version"] == version + 1 else None


def action_executions_by_id(session: Session, ids: Sequence[str]) -> list[ActionExecution]:
    """The action executions with these ids (one query per chunk; unknown ids are left out)."""
    out: list[ActionExecution] = []
    for part in chunks(list(ids)):
        out += _many(session, ActionExecution, _actions_by_ids(len(part)), {f"b_i{n}": v for n, v in enumerate(part)})
    return out


@functools.lru_cache(maxsize=256)
def _actions_by_ids(count: int) -> Any:
    """The statement of :func:`action_executions_by_id` for ``count`` ids, built once."""
    if count == 1:
        return _select(ActionExecution).where(ACTION_TABLE.c.id == bindparam("b_i0"))
    return _select(ActionExecution).where(ACTION_TABLE.c.id.in_([bindparam(f"b_i{n}") for n in range(count)]))


def task_progress(session: Session, execution_ids: Sequence[str]) -> dict[str, tuple[int, int]]:
    """``{execution id: (tasks done, tasks created)}`` for many executions in one grouped query
    (executions without tasks are left out)."""
    done_states = [str(s) for s in TASK_COMPLETED]
    done = func.sum(case((TASK_TABLE.c.state.in_(done_states), 1), else_=0))
    out: dict[str, tuple[int, int]] = {}
    for part in chunks(list(execution_ids)):
        stmt = (select(TASK_TABLE.c.workflow_execution_id, done, func.count())
                .where(one_of(TASK_TABLE.c.workflow_execution_id, part))
                .group_by(TASK_TABLE.c.workflow_execution_id))
        for ex_id, finished, total in session.execute(stmt):
            out[ex_id] = (int(finished or 0), int(total))
    return out


def get_task(session: Session, task_id: str) -> TaskExecution:
    """The task execution with that id (NotFoundError if none)."""
    return _one(session, TaskExecution, task_id)


def get_action_execution(session: Session, action_execution_id: str) -> ActionExecution:
    """The action execution with that id (NotFoundError if none)."""
    return _one(session, ActionExecution, action_execution_id)


_B_EX: Any = bindparam("b_ex")
_TASKS_OF = (_select(TaskExecution).where(TASK_TABLE.c.workflow_execution_id == _B_EX)
             .order_by(*_in_creation_order(TASK_TABLE)))
_OPEN_TASKS_OF = (_OPEN_TASKS.where(TASK_TABLE.c.workflow_execution_id == _B_EX)
                  .order_by(*_in_creation_order(TASK_TABLE)))
_TASK_OF = _select(TaskExecution).where(TASK_TABLE.c.id == _B_ID, TASK_TABLE.c.workflow_execution_id == _B_EX)
_LATEST_TASK = (_select(TaskExecution)
                .where(TASK_TABLE.c.workflow_execution_id == _B_EX, TASK_TABLE.c.name == bindparam("b_name"))
                .order_by(TASK_TABLE.c.created_at.desc(), TASK_TABLE.c.id.desc()).limit(1))


def tasks_of(session: Session, execution_id: str) -> list[TaskExecution]:
    """Every task execution of a workflow execution, in creation order (``created_at``, then id)."""
    return _many(session, TaskExecution, _TASKS_OF, {"b_ex": execution_id})


def open_tasks_of(session: Session, execution_id: str) -> list[TaskExecution]:
    """The open task executions of a workflow execution (not ended, or their end not processed),
    in creation order: what a step of it works on (read through a partial index)."""
    return _many(session, TaskExecution, _OPEN_TASKS_OF, {"b_ex": execution_id})


def tasks_for_step(session: Session, execution_id: str, task_ids: Sequence[str],
                   join_keys: Sequence[str]) -> list[TaskExecution]:
    """The task executions with these ids and the joins with these keys, of one workflow execution,
    in creation order (one statement through the primary key and the join key's index, however
    many other tasks the execution has open)."""
    found: list[TaskExecution] = []
    wanted = [*dict.fromkeys(task_ids), *join_keys]
    id_set = set(task_ids)
    for part in chunks(wanted, 500):
        ids = [w for w in part if w in id_set]
        keys = [w for w in part if w not in id_set]
        params = {"b_ex": execution_id, **{f"b_i{n}": v for n, v in enumerate(ids)},
                  **{f"b_k{n}": v for n, v in enumerate(keys)}}
        found += _many(session, TaskExecution, _step_tasks(len(ids), len(keys)), params)
    if len(wanted) > 500:  # one order across the chunks
        found.sort(key=lambda t: (t.created_at, t.id))
    return found


@functools.lru_cache(maxsize=512)
def _step_tasks(ids: int, keys: int) -> Any:
    """The statement of :func:`tasks_for_step` for that many ids and keys, built once."""
    picks = [TASK_TABLE.c.id.in_([bindparam(f"b_i{n}") for n in range(ids)])] if ids else []
    picks += [TASK_TABLE.c.unique_key.in_([bindparam(f"b_k{n}") for n in range(keys)])] if keys else []
    return (_select(TaskExecution).where(TASK_TABLE.c.workflow_execution_id == _B_EX, or_(*picks))
            .order_by(*_in_creation_order(TASK_TABLE)))


def more_open_tasks_than(session: Session, execution_id: str, count: int) -> bool:
    """Whether the workflow execution has more than ``count`` open task executions (counts at
    most ``count + 1`` of them, through the partial index of open tasks)."""
    return int(session.execute(_COUNT_OPEN, {"b_ex": execution_id, "b_limit": count + 1}).scalar_one()) > count


_COUNT_OPEN = select(func.count()).select_from(
    select(TASK_TABLE.c.id).where(text(f"({OPEN_TASKS})"), TASK_TABLE.c.workflow_execution_id == _B_EX)
    .limit(bindparam("b_limit")).subquery())


def task_of(session: Session, execution_id: str, task_id: str) -> TaskExecution | None:
    """The task execution with that id if it belongs to that workflow execution."""
    return next(iter(_many(session, TaskExecution, _TASK_OF, {"b_id": task_id, "b_ex": execution_id})), None)


def latest_task(session: Session, execution_id: str, name: str) -> TaskExecution | None:
    """The newest task execution of the task ``name`` in a workflow execution."""
    return next(iter(_many(session, TaskExecution, _LATEST_TASK, {"b_ex": execution_id, "b_name": name})), None)


def latest_tasks(session: Session, execution_id: str, names: Sequence[str]) -> dict[str, TaskExecution]:
    """The newest task execution of each task of ``names`` that has one, by name (one statement per
    500 names: a join deciding on hundreds of inbound tasks reads them at once)."""
    found: dict[str, TaskExecution] = {}
    for part in chunks(list(names), 500):
        newest = func.row_number().over(partition_by=TASK_TABLE.c.name,
                                        order_by=(TASK_TABLE.c.created_at.desc(), TASK_TABLE.c.id.desc()))
        ranked = (select(*COLUMNS[TaskExecution], newest.label("newest"))
                  .where(TASK_TABLE.c.workflow_execution_id == execution_id, TASK_TABLE.c.name.in_(part))
                  .subquery())
        stmt = select(*(ranked.c[c.name] for c in COLUMNS[TaskExecution])).where(ranked.c.newest == 1)
        for task_ex in _many(session, TaskExecution, stmt):
            found[task_ex.name] = task_ex
    return found


def action_executions_of(session: Session, task_id: str) -> list[ActionExecution]:
    """Every action execution of a task, in creation order."""
    stmt = _select(ActionExecution).where(ACTION_TABLE.c.task_execution_id == task_id)
    return _many(session, ActionExecution, stmt.order_by(*_in_creation_order(ACTION_TABLE)))


def sub_executions_of(session: Session, task_id: str) -> list[WorkflowExecution]:
    """Every workflow execution started by a task (a sub-workflow task), in creation order."""
    stmt = _select(WorkflowExecution).where(WF_TABLE.c.task_execution_id == task_id)
    return _many(session, WorkflowExecution, stmt.order_by(*_in_creation_order(WF_TABLE)))


def find_task_by_unique_key(session: Session, unique_key: str) -> TaskExecution | None:
    """The task execution holding ``unique_key`` (a join task), if any."""
    stmt = _select(TaskExecution).where(TASK_TABLE.c.unique_key == unique_key)
    found = _many(session, TaskExecution, stmt)
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
            _select(self.cls),
            self.table,
            filters=filters,
            limit=limit,
            marker=marker,
            sort_keys=sort_keys,
            sort_dirs=sort_dirs,
            kind=KIND_OF[self.cls],
        )
        return _many(session, self.cls, stmt)


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


_WITH_EXTRAS = (_select(ActionExecution)
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
    row = session.execute(stmt, {"b_id": action_execution_id}).mappings().first()
    if row is None:
        raise NotFoundError(KIND_OF[ActionExecution], action_execution_id)
    extras = ActionExtras(row["callback_token_hash"], (row["last_heartbeat"], row["progress"]))
    return record_from_mapping(ActionExecution, row), extras


def execution_of_action(session: Session, action_execution_id: str, lock: bool = False) -> WorkflowExecution | None:
    """The workflow execution an action execution belongs to (None for an unknown action or one run
    on its own), found by the action's id in one statement; ``lock=True`` takes the execution's
    lock as :func:`get_execution` does."""
    stmt = _BUMP_OF_ACTION if lock else _EXECUTION_OF_ACTION
    row = session.execute(stmt, {"b_id": action_execution_id}).mappings().first()
    return None if row is None else record_from_mapping(WorkflowExecution, row)


_OWNER = select(ACTION_TABLE.c.workflow_execution_id).where(ACTION_TABLE.c.id == _B_ID).scalar_subquery()
_BUMP_OF_ACTION = _bump(WF_TABLE.c.id == _OWNER)
_EXECUTION_OF_ACTION = _select(WorkflowExecution).where(WF_TABLE.c.id == _OWNER)


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
