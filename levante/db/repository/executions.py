"""Loading, listing and deleting executions (workflow, task and action executions)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Table, case, delete, func, or_, select, update
from sqlalchemy.orm import Session

from levante.db.models import DelayedCall, ExecutionEvent
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
from levante.states import COMPLETED, TASK_COMPLETED, State

DEFAULT_SORT_KEYS = ("created_at", "id")
DEFAULT_SORT_DIRS = ("desc", "desc")


def _select(cls: type) -> Any:
    return select(*COLUMNS[cls])


def _one(session: Session, cls: type[R], record_id: str, lock: bool = False) -> R:
    stmt = _select(cls).where(COLUMNS[cls][0].table.c.id == record_id)
    if lock and cls is WorkflowExecution:
        stmt = _bump(WF_TABLE.c.id == record_id)
    elif lock:
        if is_sqlite(session):
            ensure_write_lock(session)
        else:
            stmt = stmt.with_for_update()
    row = session.execute(stmt).mappings().first()
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


def _many(session: Session, cls: type[R], stmt: Any) -> list[R]:
    return [record_from_mapping(cls, row) for row in session.execute(stmt).mappings()]


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
    row = session.execute(_bump(WF_TABLE.c.id == execution_id)).mappings().first()
    if row is None:
        raise NotFoundError(KIND_OF[WorkflowExecution], execution_id)
    return record_from_mapping(WorkflowExecution, row) if row["version"] == version + 1 else None


def action_executions_by_id(session: Session, ids: Sequence[str]) -> list[ActionExecution]:
    """The action executions with these ids (one query per chunk; unknown ids are left out)."""
    table = COLUMNS[ActionExecution][0].table
    out: list[ActionExecution] = []
    for part in chunks(list(ids)):
        out += _many(session, ActionExecution, _select(ActionExecution).where(one_of(table.c.id, part)))
    return out


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


def tasks_of(session: Session, execution_id: str) -> list[TaskExecution]:
    """Every task execution of a workflow execution, in creation order (``created_at``, then id)."""
    stmt = _select(TaskExecution).where(TASK_TABLE.c.workflow_execution_id == execution_id)
    return _many(session, TaskExecution, stmt.order_by(*_in_creation_order(TASK_TABLE)))


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


def _list(
    session: Session,
    cls: type[R],
    table: Table,
    filters: dict[str, Any] | None,
    limit: int | None,
    marker: str | None,
    sort_keys: Sequence[str],
    sort_dirs: Sequence[str],
) -> list[R]:
    stmt = keyset(
        session,
        _select(cls),
        table,
        filters=filters,
        limit=limit,
        marker=marker,
        sort_keys=sort_keys,
        sort_dirs=sort_dirs,
        kind=KIND_OF[cls],
    )
    return _many(session, cls, stmt)


def list_executions(
    session: Session,
    filters: dict[str, Any] | None = None,
    limit: int | None = None,
    marker: str | None = None,
    sort_keys: Sequence[str] = DEFAULT_SORT_KEYS,
    sort_dirs: Sequence[str] = DEFAULT_SORT_DIRS,
) -> list[WorkflowExecution]:
    """A page of workflow executions (keyset pagination: ``marker`` is the last id of the page before).

    ``filters`` maps a column to a value (equality, None meaning NULL), a list (IN), or
    ``{"op": "gt"|"gte"|"lt"|"lte"|"eq"|"neq"|"in"|"nin", "value": V}`` (or a list of those, all
    holding), e.g. ``{"state": "RUNNING", "created_at": {"op": "gte", "value": since}}``.
    ``id`` is appended to the sort keys when absent so that the order is total.

    Raises:
        InputError: an unknown column, operator or direction.
        NotFoundError: ``marker`` names no execution.
    """
    return _list(session, WorkflowExecution, WF_TABLE, filters, limit, marker, sort_keys, sort_dirs)


def list_tasks(
    session: Session,
    filters: dict[str, Any] | None = None,
    limit: int | None = None,
    marker: str | None = None,
    sort_keys: Sequence[str] = DEFAULT_SORT_KEYS,
    sort_dirs: Sequence[str] = DEFAULT_SORT_DIRS,
) -> list[TaskExecution]:
    """A page of task executions (filters as :func:`list_executions`)."""
    return _list(session, TaskExecution, TASK_TABLE, filters, limit, marker, sort_keys, sort_dirs)


def list_action_executions(
    session: Session,
    filters: dict[str, Any] | None = None,
    limit: int | None = None,
    marker: str | None = None,
    sort_keys: Sequence[str] = DEFAULT_SORT_KEYS,
    sort_dirs: Sequence[str] = DEFAULT_SORT_DIRS,
) -> list[ActionExecution]:
    """A page of action executions (filters as :func:`list_executions`)."""
    return _list(session, ActionExecution, ACTION_TABLE, filters, limit, marker, sort_keys, sort_dirs)


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


def get_action_execution_with_extras(session: Session, action_execution_id: str, lock: bool = False
                                     ) -> tuple[ActionExecution, ActionExtras]:
    """The action execution with that id, its callback token hash and its heartbeat, in one query
    (NotFoundError if none). ``lock=True`` locks the action's row (``SELECT ... FOR UPDATE`` on
    PostgreSQL, the write lock on SQLite): for an action run on its own, which has no workflow
    execution whose lock would order concurrent completions."""
    t = ACTION_TABLE
    stmt = _select(ActionExecution).add_columns(t.c.callback_token_hash, t.c.last_heartbeat, t.c.progress)
    if lock:
        if is_sqlite(session):
            ensure_write_lock(session)
        else:
            stmt = stmt.with_for_update(of=t)
    row = session.execute(stmt.where(t.c.id == action_execution_id)).mappings().first()
    if row is None:
        raise NotFoundError(KIND_OF[ActionExecution], action_execution_id)
    extras = ActionExtras(row["callback_token_hash"], (row["last_heartbeat"], row["progress"]))
    return record_from_mapping(ActionExecution, row), extras


def execution_of_action(session: Session, action_execution_id: str, lock: bool = False) -> WorkflowExecution | None:
    """The workflow execution an action execution belongs to (None for an unknown action or one run
    on its own), found by the action's id in one statement; ``lock=True`` takes the execution's
    lock as :func:`get_execution` does."""
    owner = select(ACTION_TABLE.c.workflow_execution_id).where(ACTION_TABLE.c.id == action_execution_id)
    where = WF_TABLE.c.id == owner.scalar_subquery()
    stmt = _bump(where) if lock else _select(WorkflowExecution).where(where)
    row = session.execute(stmt).mappings().first()
    return None if row is None else record_from_mapping(WorkflowExecution, row)


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


def stalled_executions(session: Session) -> list[str]:
    """Ids of executions left RUNNING with nothing that can move them on: no running or paused
    action, no unfinished sub-execution and no delayed call of theirs (events still travelling
    between processes are not visible here: check when the system is quiet). Every execution must
    end, so this should always be empty; the tests check it after each scenario."""
    child = WF_TABLE.alias("child")
    calls = DelayedCall.__table__
    busy_action = select(ACTION_TABLE.c.id).where(ACTION_TABLE.c.workflow_execution_id == WF_TABLE.c.id,
                                                  ACTION_TABLE.c.state.in_(("RUNNING", "PAUSED")))
    open_child = select(child.c.id).where(child.c.parent_id == WF_TABLE.c.id,
                                          child.c.state.in_(("RUNNING", "PAUSED", "IDLE")))
    timer = select(calls.c.id).where(calls.c.execution_id == WF_TABLE.c.id)
    stmt = select(WF_TABLE.c.id).where(WF_TABLE.c.state == "RUNNING", ~busy_action.exists(),
                                       ~open_child.exists(), ~timer.exists())
    return list(session.execute(stmt).scalars())


def force_error(session: Session, execution_id: str, message: str, now: datetime) -> tuple[str, str] | None:
    """End an execution in ERROR by writing the states directly (when the engine's own decisions
    cannot be applied to it): the execution, its unfinished tasks and its running actions. Returns
    ``(parent execution id, parent task id)`` of a sub-workflow, for its parent to be told.

    Raises:
        NotFoundError: no such execution.
    """
    ex = get_execution(session, execution_id, lock=True)
    session.execute(update(WF_TABLE).where(WF_TABLE.c.id == execution_id).values(
        state="ERROR", state_info=message, output={"result": message}, updated_at=now, finished_at=now))
    unfinished = TASK_TABLE.c.state.not_in([str(s) for s in TASK_COMPLETED])
    session.execute(update(ACTION_TABLE).where(ACTION_TABLE.c.workflow_execution_id == execution_id,
                                               ACTION_TABLE.c.state.in_(("RUNNING", "PAUSED")))
                    .values(state="ERROR", state_info=message, updated_at=now))
    session.execute(update(TASK_TABLE).where(TASK_TABLE.c.workflow_execution_id == execution_id, unfinished)
                    .values(state="ERROR", state_info=message, processed=True, updated_at=now, finished_at=now))
    if ex.parent_id and ex.task_execution_id:
        return ex.parent_id, ex.task_execution_id
    return None


def _update_action(session: Session, action_execution_id: str, **values: Any) -> None:
    result = session.execute(
        update(ACTION_TABLE).where(ACTION_TABLE.c.id == action_execution_id).values(values)
    )
    if result.rowcount == 0:  # type: ignore[attr-defined]
        raise NotFoundError(KIND_OF[ActionExecution], action_execution_id)


# --- deleting a tree ------------------------------------------------------------------------


def _children(session: Session, parents: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for part in chunks(parents):
        tasks = select(TASK_TABLE.c.id).where(one_of(TASK_TABLE.c.workflow_execution_id, part))
        stmt = select(WF_TABLE.c.id).where(
            or_(WF_TABLE.c.task_execution_id.in_(tasks), WF_TABLE.c.parent_id.in_(part))
        )
        found.update(session.scalars(stmt))
    return found


def execution_tree(session: Session, execution_id: str) -> list[str]:
    """Ids of an execution and of its sub-executions at any depth, deepest first (the given one last)."""
    levels: list[list[str]] = [[execution_id]]
    seen = {execution_id}
    while True:
        children = _children(session, levels[-1]) - seen
        if not children:
            break
        seen |= children
        levels.append(sorted(children))
    # Executions of the same root that the links missed (defensive): delete them first.
    stray = (
        set(session.scalars(select(WF_TABLE.c.id).where(WF_TABLE.c.root_execution_id == execution_id))) - seen
    )
    ordered = sorted(stray)
    for level in reversed(levels):
        ordered.extend(level)
    return ordered


def delete_execution(session: Session, execution_id: str) -> int:
    """Delete a workflow execution with its whole tree: tasks, action executions, sub-executions of any
    depth, their history and delayed calls. Returns how many workflow executions were deleted.

    Raises:
        NotFoundError: no such execution.
    """
    if session.execute(select(WF_TABLE.c.id).where(WF_TABLE.c.id == execution_id)).first() is None:
        raise NotFoundError(KIND_OF[WorkflowExecution], execution_id)
    ids = execution_tree(session, execution_id)
    events: Table = ExecutionEvent.__table__  # type: ignore[assignment]
    calls: Table = DelayedCall.__table__  # type: ignore[assignment]
    for part in chunks(ids):
        session.execute(delete(events).where(events.c.execution_id.in_(part)))
        session.execute(delete(calls).where(calls.c.execution_id.in_(part)))
        session.execute(delete(ACTION_TABLE).where(ACTION_TABLE.c.workflow_execution_id.in_(part)))
    # Deepest first: a sub-execution refers to its parent's task, which its parent's deletion removes.
    for part in chunks(ids):
        session.execute(delete(WF_TABLE).where(WF_TABLE.c.id.in_(part)))  # tasks and actions cascade
    return len(ids)


def delete_action_execution(session: Session, action_execution_id: str) -> None:
    """Delete one action execution's row (the caller checks that it ran on its own and has ended,
    so that nothing else refers to it)."""
    session.execute(delete(ACTION_TABLE).where(ACTION_TABLE.c.id == action_execution_id))


# --- ending a tree at once (cancel) ---------------------------------------------------------

_ENDED = [str(s) for s in COMPLETED]
_TASK_ENDED = [str(s) for s in TASK_COMPLETED]


def execution_state(session: Session, execution_id: str) -> State | None:
    """The state of an execution (None if there is no such execution), read alone."""
    row = session.execute(select(WF_TABLE.c.state).where(WF_TABLE.c.id == execution_id)).first()
    return None if row is None else State(row[0])


def executions_below(session: Session, execution_id: str) -> list[tuple[str, State]]:
    """``(id, state)`` of every execution below ``execution_id`` at any depth, parents before
    their children, in one query however deep the tree is (every execution of the tree shares
    its ``root_execution_id``; the parent links are followed in memory)."""
    row = session.execute(select(WF_TABLE.c.root_execution_id).where(WF_TABLE.c.id == execution_id)).first()
    if row is None:
        return []
    root = row[0] or execution_id
    children: dict[str | None, list[tuple[str, str]]] = defaultdict(list)
    stmt = select(WF_TABLE.c.id, WF_TABLE.c.parent_id, WF_TABLE.c.state).where(WF_TABLE.c.root_execution_id == root)
    for ex_id, parent_id, state in session.execute(stmt):
        children[parent_id].append((ex_id, state))
    out: list[tuple[str, State]] = []
    seen = {execution_id}
    level = [execution_id]
    while level:
        below = []
        for parent in level:
            for ex_id, state in children.get(parent, ()):
                if ex_id not in seen:
                    seen.add(ex_id)
                    out.append((ex_id, State(state)))
                    below.append(ex_id)
        level = below
    return out


def lock_executions(session: Session, ids: Sequence[str]) -> None:
    """Take the locks of these executions in id order (PostgreSQL; on SQLite the transaction
    holds the database's write lock already). Locking a whole tree in the global order that the
    engine's batches follow too keeps two cancels in one tree, or a cancel and a batch, from
    deadlocking."""
    if is_sqlite(session):
        ensure_write_lock(session)
        return
    for part in chunks(sorted(set(ids))):
        session.execute(select(WF_TABLE.c.id).where(WF_TABLE.c.id.in_(part)).order_by(WF_TABLE.c.id)
                        .with_for_update())


def cancel_executions(session: Session, ids: Sequence[str], info: str, at: datetime) -> list[str]:
    """End the executions of ``ids`` that have not ended CANCELLED (``state_info`` and output
    ``{"result": info}``), one UPDATE per chunk of ids; returns the ids it changed. On
    PostgreSQL each UPDATE waits for a transaction holding one of the rows and then sees it
    as that transaction left it."""
    changed: list[str] = []
    t = WF_TABLE
    for part in chunks(list(ids)):
        stmt = (update(t).where(one_of(t.c.id, part), t.c.state.not_in(_ENDED))
                .values(state=str(State.CANCELLED), state_info=info, output={"result": info}, updated_at=at,
                        finished_at=at, version=t.c.version + 1)
                .returning(t.c.id))
        changed += list(session.scalars(stmt))
    return changed


def cancel_tasks_of(session: Session, execution_ids: Sequence[str], info: str, at: datetime) -> int:
    """Every task of these executions that has not ended ends CANCELLED (processed); one UPDATE
    per chunk of executions. Returns how many tasks changed."""
    count = 0
    t = TASK_TABLE
    for part in chunks(list(execution_ids)):
        stmt = (update(t).where(one_of(t.c.workflow_execution_id, part), t.c.state.not_in(_TASK_ENDED))
                .values(state=str(State.CANCELLED), state_info=info, processed=True, updated_at=at, finished_at=at))
        count += session.execute(stmt).rowcount  # type: ignore[attr-defined]
    return count


def cancel_actions_of(session: Session, execution_ids: Sequence[str], info: str, at: datetime) -> list[str]:
    """Every RUNNING or PAUSED action execution of these executions ends CANCELLED (output
    ``{"result": info}``, accepted, so that a with-items rerun without reset runs its item
    again); one UPDATE per chunk of executions. Returns the ids of the actions it ended."""
    ended: list[str] = []
    t = ACTION_TABLE
    running = [str(State.RUNNING), str(State.PAUSED)]
    for part in chunks(list(execution_ids)):
        stmt = (update(t).where(one_of(t.c.workflow_execution_id, part), t.c.state.in_(running))
                .values(state=str(State.CANCELLED), state_info=info, output={"result": info}, accepted=True,
                        updated_at=at)
                .returning(t.c.id))
        ended += list(session.scalars(stmt))
    return ended
