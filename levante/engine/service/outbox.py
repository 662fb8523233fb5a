"""The engine's outbox after the commit: which rows are sent, re-sending what was left, purging.

The service stores an action request and its outbox row in one transaction and hands the row to a
sender after the commit (the in-process executor pool, or the broker relay). A row is marked sent
only once it is done with:

- :class:`SentMarks` collects the ids of rows handed over and marks them sent, inside the next
  engine transaction (the service calls :meth:`SentMarks.mark_in` before each commit: on SQLite a
  separate write transaction would wait for the engine's lock) or, when none comes along, in a
  transaction of its own (:meth:`SentMarks.run`).
- :class:`Sweeper` re-sends rows left unsent (by a crash, or a broker that was down), flagged
  ``resent``: the executor treats them like a redelivered message. A row whose first publish is
  known to have failed before reaching the broker (marked ``unpublished`` by
  :meth:`SentMarks.unpublished`) is sent unflagged instead: that copy is its first delivery.
- :class:`Purger` deletes rows sent long ago: nothing reads them again, and an action request
  holds its callback token in plain text.
"""

from __future__ import annotations

import collections
import logging
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any, cast

from sqlalchemy.orm import Session

from levante.db import repository as repo
from levante.db.session import SWEEP_LOCK_KEY, SessionFactory, exclusive, on_rollback, transaction
from levante.engine.records import utcnow

LOG = logging.getLogger(__name__)

#: An outbox row as the service hands it over: (id, topic, RunAction payload).
Row = tuple[int, str, dict[str, Any]]
#: How old an unsent outbox row must be before the sweeper sends it again, in seconds.
SWEEP_AGE = 10.0
#: Outbox rows sent longer ago than this are deleted, in seconds.
OUTBOX_KEEP = 300.0
#: How often the engine deletes them, in seconds, and how many rows one transaction deletes.
PURGE_INTERVAL = 60.0
PURGE_BATCH = 1000
#: How often rows handed over are marked sent when no engine transaction did it, in seconds.
MARK_INTERVAL = 0.2


def resent(payload: dict[str, Any]) -> dict[str, Any]:
    """The payload of a row sent again: flagged ``resent`` in its ``info``."""
    return {**payload, "info": {**payload.get("info", {}), "resent": True}}


class SentMarks:
    """Ids of outbox rows handed over and not marked sent yet."""

    def __init__(self, session_factory: SessionFactory) -> None:
        self.session_factory = session_factory
        #: Ids in the order added, and None once closed (a deque's append and popleft are
        #: atomic: the 10,000 rows of a with-items task cost no lock and condition each).
        self._ids: collections.deque[int | None] = collections.deque()

    def add(self, row_id: int) -> None:
        """Row ``row_id`` is done with: mark it sent soon."""
        self._ids.append(row_id)

    def add_all(self, ids: list[int]) -> None:
        self._ids.extend(ids)

    def take(self) -> list[int]:
        """The ids added since the last call (none after :meth:`close`'s marker)."""
        ids: list[int] = []
        while True:
            try:
                more = self._ids.popleft()
            except IndexError:
                return ids
            if more is None:
                self._ids.append(None)
                return ids
            ids.append(more)

    def mark_in(self, session: Session) -> None:
        """Mark the rows handed over since the last time, inside a transaction that writes anyway
        (the service's ``before_commit`` listener)."""
        ids = self.take()
        if ids:
            repo.mark_sent(session, ids)
            # The transaction may still roll back (a later decision in a shared batch fails, or
            # goes off the lock): the rows are then marked by a later transaction, not forgotten.
            on_rollback(session, lambda: self.add_all(ids))

    def mark_now(self) -> None:
        """Mark what was handed over in a transaction of its own."""
        ids = self.take()
        if ids:
            with transaction(self.session_factory) as session:
                repo.mark_sent(session, ids)

    def unpublished(self, ids: list[int]) -> None:
        """These rows were not sent: their first publish failed before reaching the broker (the
        relay's ``on_unpublished``). Recorded at once, in a transaction of its own."""
        with transaction(self.session_factory) as session:
            repo.mark_unpublished(session, ids)
        LOG.info("outbox: %d row(s) recorded as never published", len(ids))

    def run(self, stop: threading.Event) -> None:
        """Mark handed-over rows when no engine transaction came along to do it."""
        while not stop.wait(MARK_INTERVAL):
            try:
                self.mark_now()
            except Exception:  # noqa: BLE001 - unmarked rows are re-sent, and results are idempotent
                LOG.exception("outbox: failed to mark rows sent")

    def close(self) -> None:
        """Take nothing added from now on (a result arriving while the node stops leaves its row
        unsent, and the next start runs it again)."""
        self._ids.append(None)


class Sweeper:
    """Re-sends outbox rows left unsent through ``send`` (the service's outbox listener)."""

    def __init__(self, read_factory: SessionFactory, send: Callable[[list[Row]], None],
                 age: float = SWEEP_AGE, write_factory: SessionFactory | None = None) -> None:
        self.read_factory = read_factory
        #: Takes the ``unpublished`` mark off the rows this sweep sends as first deliveries (None:
        #: every row is sent flagged).
        self.write_factory = write_factory
        self.send = send
        #: Rows younger than this (seconds) may be being published by whoever committed them.
        self.age = age

    def sweep(self, older_than: float | None = None) -> None:
        """Re-send the unsent rows older than ``older_than`` seconds (all of them for None).

        A row may be unmarked because the process died after publishing it, so its action may have
        started already: re-sent rows are flagged ``resent``, and the executor treats them like a
        redelivered message (it runs the action again only if the task is ``safe-rerun``). Rows
        marked ``unpublished`` never reached the broker: this sweep takes the mark off (so that
        no other sweeper sends them too, and a copy that may reach the broker now is never sent
        unflagged again) and sends them unflagged. One engine sweeps at a time (an advisory lock
        on PostgreSQL): two sweeping at once would each send a copy of every row left over.
        """
        with exclusive(self.read_factory, SWEEP_LOCK_KEY) as mine:
            if mine:  # else another engine is sweeping: it sends what is left over
                self._sweep(older_than)

    def _sweep(self, older_than: float | None) -> None:
        cutoff = utcnow() - timedelta(seconds=older_than) if older_than else None
        with transaction(self.read_factory) as session:
            rows = [(r.id, r.topic, cast(dict[str, Any], r.payload), r.unpublished)
                    for r in repo.pending(session, 10_000, older_than=cutoff)]
        marked = [row_id for row_id, _, _, unpublished in rows if unpublished]
        claimed: set[int] = set()
        if marked and self.write_factory is not None:
            with transaction(self.write_factory) as session:
                claimed = repo.claim_unpublished(session, marked)
        found = [(row_id, topic, payload if row_id in claimed else resent(payload))
                 for row_id, topic, payload, unpublished in rows
                 if row_id in claimed or not unpublished or self.write_factory is None]
        if found:
            LOG.info("outbox: re-sending %d unsent message(s)", len(found))
            self.send(found)

    def run(self, stop: threading.Event) -> None:
        """Sweep the rows older than :attr:`age`, every half of it."""
        while not stop.wait(self.age / 2):
            try:
                self.sweep(older_than=self.age)
            except Exception:  # noqa: BLE001
                LOG.exception("outbox: sweep failed")


class Purger:
    """Deletes the outbox rows sent more than ``keep`` seconds ago, every ``interval`` seconds."""

    def __init__(self, session_factory: SessionFactory, keep: float = OUTBOX_KEEP,
                 interval: float = PURGE_INTERVAL) -> None:
        self.session_factory = session_factory
        self.keep = keep
        self.interval = interval

    def purge(self, stop: threading.Event | None = None) -> int:
        """Delete them in short transactions (on SQLite each holds the write lock); returns how many."""
        before = utcnow() - timedelta(seconds=self.keep)
        total = 0
        while stop is None or not stop.is_set():
            with transaction(self.session_factory) as session:
                deleted = repo.purge_sent(session, before, limit=PURGE_BATCH)
            total += deleted
            if deleted < PURGE_BATCH:
                break
        return total

    def run(self, stop: threading.Event) -> None:
        while not stop.wait(self.interval):
            try:
                self.purge(stop)
            except Exception:  # noqa: BLE001 - the database may be restarting: try again next time
                LOG.exception("outbox: purging sent rows failed")
