"""Delayed calls, the outbox and the execution history."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Table, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from levante.db import direct
from levante.db.models import DelayedCall, ExecutionEvent, OutboxMessage
from levante.db.repository._query import chunks, one_of
from levante.db.session import ensure_write_lock, is_sqlite
from levante.engine.records import utcnow

CALLS: Table = DelayedCall.__table__  # type: ignore[assignment]
OUTBOX: Table = OutboxMessage.__table__  # type: ignore[assignment]
EVENTS: Table = ExecutionEvent.__table__  # type: ignore[assignment]

#: A claim older than this is taken to be from a dead worker: the call can be claimed again.
DEFAULT_RECLAIM_AFTER = timedelta(minutes=5)


# --- delayed calls --------------------------------------------------------------------------


def schedule(
    session: Session,
    due_at: datetime,
    execution_id: str | None,
    payload: dict[str, Any],
    key: str | None = None,
) -> int | None:
    """Store an engine event to apply at ``due_at``; returns its id.

    ``key`` dedupes: when a call with the same key exists, nothing is stored and None is returned.
    """
    values = {"due_at": due_at, "execution_id": execution_id, "key": key, "payload": payload}
    if key is None:
        return session.execute(insert(CALLS).values(values).returning(CALLS.c.id)).scalar_one()
    dialect = session.get_bind().dialect.name
    module = {"postgresql": postgresql, "sqlite": sqlite}.get(dialect)
    if module is not None:
        stmt = module.insert(CALLS).values(values).on_conflict_do_nothing(index_elements=[CALLS.c.key])
        return session.execute(stmt.returning(CALLS.c.id)).scalar_one_or_none()
    try:  # other backends: a savepoint absorbs the unique violation
        with session.begin_nested():
            return session.execute(insert(CALLS).values(values).returning(CALLS.c.id)).scalar_one()
    except IntegrityError:
        return None


def claim_due(
    session: Session,
    now: datetime,
    limit: int,
    worker: str,
    *,
    reclaim_after: timedelta | None = DEFAULT_RECLAIM_AFTER,
    delete_claimed: bool = False,
) -> list[DelayedCall]:
    """Take up to ``limit`` calls due at ``now`` (earliest first) for ``worker``.

    PostgreSQL: ``SELECT ... FOR UPDATE SKIP LOCKED``, so concurrent workers never take the same row.
    SQLite: a plain SELECT in a transaction holding the write lock, which serialises workers.

    Claimed rows get ``claimed_by``/``claimed_at`` (delete them with :func:`delete_calls` once
    handled); a claim older than ``reclaim_after`` (a crashed worker) may be taken again. With
    ``delete_claimed=True`` the rows are deleted at once instead (the caller handles them in the
    same transaction).
    """
    if is_sqlite(session):
        ensure_write_lock(session)
    free: ColumnElement[bool] = CALLS.c.claimed_by.is_(None)
    if reclaim_after is not None:
        free = or_(free, CALLS.c.claimed_at < now - reclaim_after)
    stmt = (
        select(DelayedCall)
        .where(CALLS.c.due_at <= now, free)
        .order_by(CALLS.c.due_at, CALLS.c.id)
        .limit(limit)
        .execution_options(populate_existing=True)
    )
    if not is_sqlite(session):
        stmt = stmt.with_for_update(skip_locked=True)
    rows = list(session.scalars(stmt))
    if not rows:
        return rows
    ids = [row.id for row in rows]
    if delete_claimed:
        delete_calls(session, ids)
    else:
        for part in chunks(ids):
            session.execute(
                update(CALLS).where(one_of(CALLS.c.id, part)).values(claimed_by=worker, claimed_at=now)
            )
    for row in rows:
        session.expunge(row)
        if not delete_claimed:
            row.claimed_by, row.claimed_at = worker, now
    return rows


def delete_calls(session: Session, ids: Sequence[int]) -> int:
    """Delete delayed calls by id (handled ones); returns how many were deleted."""
    count = 0
    for part in chunks(list(ids)):
        count += session.execute(delete(CALLS).where(one_of(CALLS.c.id, part))).rowcount  # type: ignore[attr-defined]
    return count


def delete_calls_for(session: Session, execution_id: str) -> int:
    """Delete every delayed call of an execution; returns how many were deleted."""
    result = session.execute(delete(CALLS).where(CALLS.c.execution_id == execution_id))
    return result.rowcount  # type: ignore[attr-defined,no-any-return]


def delete_call_by_key(session: Session, key: str) -> bool:
    """Delete the delayed call holding a dedupe key (e.g. a timeout no longer needed)."""
    return bool(session.execute(delete(CALLS).where(CALLS.c.key == key)).rowcount)  # type: ignore[attr-defined]


def next_due_at(session: Session) -> datetime | None:
    """When the earliest unclaimed call is due (None if there is none)."""
    return session.execute(select(func.min(CALLS.c.due_at)).where(CALLS.c.claimed_by.is_(None))).scalar()


# --- outbox ---------------------------------------------------------------------------------


def enqueue(session: Session, topic: str, payload: dict[str, Any]) -> int:
    """Write a message to publish after commit; returns its id."""
    stmt = insert(OUTBOX).values(topic=topic, payload=payload, created_at=utcnow()).returning(OUTBOX.c.id)
    return session.execute(stmt).scalar_one()


def enqueue_many(session: Session, messages: Sequence[tuple[str, dict[str, Any]]]) -> list[int]:
    """Store several outbox messages (topic, payload) in one statement; returns their ids in order."""
    if not messages:
        return []
    now = utcnow()
    rows = [{"topic": topic, "payload": payload, "created_at": now} for topic, payload in messages]
    if len(rows) == 1:  # a plain execute: an executemany of one row costs a pipeline round trip more
        return [direct.scalar(session, _ENQUEUE_ONE, rows[0])]
    if is_sqlite(session):
        # The ids SQLite would give (a new row of an ``INTEGER PRIMARY KEY`` table without
        # AUTOINCREMENT gets one more than the largest id in it), given here: this transaction
        # holds the write lock, so nobody else inserts in between. The rows then go in one
        # executemany on the driver (10,000 rows of a with-items task: a third of the cost of
        # RETURNING their ids through SQLAlchemy, which also sends them in several statements).
        ensure_write_lock(session)
        first = int(direct.scalar(session, _LARGEST_ID) or 0) + 1
        for n, row in enumerate(rows):
            row["id"] = first + n
        direct.execute(session, _ENQUEUE_WITH_IDS, rows)
        return list(range(first, first + len(rows)))
    direct.flush_writes(session)  # the writes waiting go first (see direct.combined_writes)
    return [row[0] for row in session.execute(_ENQUEUE, rows)]


# Built once (a step runs them every time).
_ENQUEUE = insert(OUTBOX).returning(OUTBOX.c.id, sort_by_parameter_order=True)
_ENQUEUE_ONE = insert(OUTBOX).returning(OUTBOX.c.id)
_ENQUEUE_WITH_IDS = insert(OUTBOX)
_LARGEST_ID = select(func.max(OUTBOX.c.id))
_MARK_SENT = (update(OUTBOX).where(OUTBOX.c.id.between(bindparam("b_first"), bindparam("b_last")))
              .values(sent_at=bindparam("b_at", type_=OUTBOX.c.sent_at.type)))


def pending(
    session: Session, limit: int, *, older_than: datetime | None = None, skip_locked: bool = False
) -> list[OutboxMessage]:
    """Unsent messages, oldest first.

    ``older_than`` leaves out messages younger than it (the publisher of a fresh commit is still
    sending those); ``skip_locked`` locks the rows returned (PostgreSQL), skipping those another
    sweeper holds.
    """
    stmt = select(OutboxMessage).where(OUTBOX.c.sent_at.is_(None))
    if older_than is not None:
        stmt = stmt.where(OUTBOX.c.created_at < older_than)
    stmt = stmt.order_by(OUTBOX.c.id).limit(limit).execution_options(populate_existing=True)
    if skip_locked and not is_sqlite(session):
        stmt = stmt.with_for_update(skip_locked=True)
    return list(session.scalars(stmt))


def mark_sent(session: Session, ids: Iterable[int], at: datetime | None = None) -> None:
    """Mark messages as published: one executemany over the runs of consecutive ids (rows handed
    over together have consecutive ids mostly: the 256 results of a batch of a with-items task
    make a few runs, where an ``IN`` of their 256 ids was rendered anew at every call)."""
    when = at or utcnow()
    runs = _runs(sorted(set(ids)))
    if runs:
        params = [{"b_first": first, "b_last": last, "b_at": when} for first, last in runs]
        direct.execute(session, _MARK_SENT, params[0] if len(params) == 1 else params)


def _runs(ids: Sequence[int]) -> list[tuple[int, int]]:
    """Sorted distinct ids as runs of consecutive ids: ``(first, last)`` each."""
    runs: list[tuple[int, int]] = []
    if not ids:
        return runs
    first = last = ids[0]
    for row_id in ids[1:]:
        if row_id != last + 1:
            runs.append((first, last))
            first = row_id
        last = row_id
    runs.append((first, last))
    return runs


def mark_unpublished(session: Session, ids: Iterable[int]) -> None:
    """Record that these unsent rows did not reach the broker at their first publish."""
    for part in chunks(list(ids)):
        session.execute(update(OUTBOX).where(OUTBOX.c.id.in_(part), OUTBOX.c.sent_at.is_(None))
                        .values(unpublished=True))


def claim_unpublished(session: Session, ids: Iterable[int]) -> set[int]:
    """Take the unpublished mark off these rows; returns the ids this call took it from (a row
    whose mark another sweeper took is that sweeper's to send). The mark is put back when this
    publish, too, certainly fails; it stays off when the publish may have reached the broker."""
    claimed: set[int] = set()
    for part in chunks(list(ids)):
        stmt = (update(OUTBOX).where(OUTBOX.c.id.in_(part), OUTBOX.c.unpublished)
                .values(unpublished=False).returning(OUTBOX.c.id))
        claimed.update(session.scalars(stmt))
    return claimed


def drop_unsent_for(session: Session, execution_ids: Sequence[str], at: datetime | None = None) -> int:
    """Mark the unsent action requests of these workflow executions as sent without sending
    them (their actions were cancelled); one UPDATE per chunk. Returns how many rows."""
    count = 0
    owner = OUTBOX.c.payload["execution_id"].as_string()
    for part in chunks(list(execution_ids)):
        stmt = update(OUTBOX).where(OUTBOX.c.sent_at.is_(None), owner.in_(part)).values(sent_at=at or utcnow())
        count += session.execute(stmt).rowcount  # type: ignore[attr-defined]
    return count


def append_entries(session: Session, entries: Iterable[tuple[str, str, dict[str, Any]]]) -> None:
    """Append ``(execution_id, kind, payload)`` history entries of many executions in one executemany."""
    now = utcnow()
    rows = [{"execution_id": ex_id, "kind": kind, "payload": payload, "created_at": now}
            for ex_id, kind, payload in entries]
    if rows:
        direct.execute(session, _APPEND, rows)


def purge_sent(session: Session, before: datetime, limit: int | None = None) -> int:
    """Delete messages published before ``before`` (at most ``limit``, oldest first); returns how
    many. Unsent messages are never deleted: the sweeper still has to send them."""
    condition = (OUTBOX.c.sent_at.is_not(None), OUTBOX.c.sent_at < before)
    if limit is None:
        stmt = delete(OUTBOX).where(*condition)
    else:
        batch = select(OUTBOX.c.id).where(*condition).order_by(OUTBOX.c.id).limit(limit)
        stmt = delete(OUTBOX).where(OUTBOX.c.id.in_(batch.scalar_subquery()))
    return session.execute(stmt).rowcount  # type: ignore[attr-defined,no-any-return]


# --- history --------------------------------------------------------------------------------


def append_event(
    session: Session,
    execution_id: str,
    kind: str,
    payload: dict[str, Any],
    task_execution_id: str | None = None,
    action_execution_id: str | None = None,
) -> int:
    """Append an entry to an execution's history; returns its id."""
    stmt = insert(EVENTS).values(
        execution_id=execution_id,
        kind=kind,
        payload=payload,
        task_execution_id=task_execution_id,
        action_execution_id=action_execution_id,
        created_at=utcnow(),
    )
    return session.execute(stmt.returning(EVENTS.c.id)).scalar_one()


def append_events(session: Session, execution_id: str, entries: Iterable[tuple[str, dict[str, Any]]]) -> None:
    """Append many ``(kind, payload)`` entries in one executemany (``task_execution_id`` and
    ``action_execution_id`` are taken from the payload when it holds them)."""
    now = utcnow()
    rows = [
        {
            "execution_id": execution_id,
            "kind": kind,
            "payload": payload,
            "created_at": now,
            "task_execution_id": payload.get("task_execution_id"),
            "action_execution_id": payload.get("action_execution_id"),
        }
        for kind, payload in entries
    ]
    if rows:
        direct.execute(session, _APPEND, rows[0] if len(rows) == 1 else rows)


_APPEND = insert(EVENTS)


def events_of(session: Session, execution_id: str, after: int | None = None,
              limit: int | None = None) -> list[ExecutionEvent]:
    """An execution's history, oldest first: the entries after the one with id ``after``, at
    most ``limit`` of them (through the index of the execution's entries)."""
    stmt = select(ExecutionEvent).where(EVENTS.c.execution_id == execution_id).order_by(EVENTS.c.id)
    if after is not None:
        stmt = stmt.where(EVENTS.c.id > after)
    if limit is not None:
        stmt = stmt.limit(limit)
    return list(session.scalars(stmt))
