"""Whole trees of executions: deleting one, ending one at once (a cancel, a forced error), and
the check for executions left with nothing that can move them on."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Table, delete, or_, select, update
from sqlalchemy.orm import Session

from levante.db.models import DelayedCall, ExecutionEvent
from levante.db.repository._query import chunks, one_of
from levante.db.repository.executions import get_execution
from levante.db.repository.records import ACTION_TABLE, KIND_OF, TASK_TABLE, WF_TABLE
from levante.db.session import ensure_write_lock, is_sqlite
from levante.engine.records import WorkflowExecution
from levante.exceptions import NotFoundError
from levante.states import COMPLETED, TASK_COMPLETED, State

# --- checks and forced ends ---------------------------------------------------------------


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
