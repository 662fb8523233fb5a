"""The stored items of with-items tasks (:class:`levante.engine.commands.StoreItems`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Table, bindparam, delete, insert, select
from sqlalchemy.orm import Session

from levante.db import direct
from levante.db.models import WithItemsChunk

CHUNKS: Table = WithItemsChunk.__table__  # type: ignore[assignment]


def store_item_chunks(session: Session, task_execution_id: str, attempt: int,
                      chunks: Mapping[int, list[list[Any]]]) -> None:
    """Store a task's item chunks (by number) for ``attempt``, in place of those of its earlier
    attempts (a retry or a rerun evaluates the items again: the earlier ones are never read)."""
    direct.execute(session, _DELETE_EARLIER, {"b_task": task_execution_id, "b_attempt": attempt})
    rows = [{"task_execution_id": task_execution_id, "attempt": attempt, "chunk": n, "values": values}
            for n, values in chunks.items()]
    if rows:
        direct.execute(session, _INSERT, rows[0] if len(rows) == 1 else rows)


def item_chunks_of(session: Session, task_execution_id: str, attempt: int,
                   numbers: list[int]) -> dict[int, list[list[Any]]]:
    """The stored chunks ``numbers`` of a task's items for ``attempt``, by number (missing ones left out)."""
    if not numbers:
        return {}
    low, high = min(numbers), max(numbers)
    params = {"b_task": task_execution_id, "b_attempt": attempt}
    if high - low + 1 == len(set(numbers)):  # a run of chunks, as items start in order
        found = direct.rows(session, _RANGE, {**params, "b_low": low, "b_high": high})[1]
    else:  # items run again after a rerun, spread over the list
        stmt = _SELECT.where(CHUNKS.c.chunk.in_(sorted(set(numbers))))
        found = list(session.execute(stmt, params).all())
    return {int(n): values for n, values in found}


_INSERT = insert(CHUNKS)
_DELETE_EARLIER = delete(CHUNKS).where(CHUNKS.c.task_execution_id == bindparam("b_task"),
                                       CHUNKS.c.attempt < bindparam("b_attempt"))
_SELECT = select(CHUNKS.c.chunk, CHUNKS.c["values"]).where(
    CHUNKS.c.task_execution_id == bindparam("b_task"), CHUNKS.c.attempt == bindparam("b_attempt"))
_RANGE = _SELECT.where(CHUNKS.c.chunk.between(bindparam("b_low"), bindparam("b_high")))
