"""One writer at a time on a SQLite file, queued inside the process.

SQLite lets one transaction write at a time; a second ``BEGIN IMMEDIATE`` finds the lock taken and
its busy handler sleeps and tries again (after 1, 2, 5, 10, 15... ms), so a writer that could have
gone on 0.3 ms after the first committed often waited several milliseconds more: most of the time
from a callback to its execution's end in a one-process server, where the API's requests and the
engine's batches take turns at the lock.

A :class:`WriterConnection` (the driver's connection class for SQLite files, see
``levante.db.session``) therefore takes the process's *gate* of its file before ``BEGIN IMMEDIATE``
and gives it back when the transaction ends (commit, rollback or close): a writer waiting for
another in the same process wakes up the moment that one is done. SQLite's own lock still decides
between processes, and for a thread that opens a second write transaction inside its first (the
gate is not taken twice by one thread: SQLite's busy timeout then applies, as before). The gate is
given in turn (first come, first served), so no writer starves: with the busy handler, a writer
beside one that begins again at once waited up to seconds (``python bench/sqlite_writers.py``).
"""

from __future__ import annotations

import sqlite3
import threading
from collections import deque
from typing import Any

__all__ = ["WriterConnection", "gate_for"]


class Gate:
    """The writers' turn on one database file in this process, given in the order they asked for
    it: a writer that ends its transaction and begins the next one at once (the engine's batches)
    queues behind the writers already waiting (an API request), instead of taking the turn again
    before they wake up."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._held = False
        self._waiting: deque[threading.Lock] = deque()
        #: The thread whose write transaction holds the gate.
        self.owner: int | None = None

    def locked(self) -> bool:
        """Whether a writer holds the gate."""
        return self._held

    def acquire(self, timeout: float) -> bool:
        """Wait for the turn (at most ``timeout`` seconds); True when it was given."""
        with self._mutex:
            if not self._held:
                self._held = True
                return True
            turn = threading.Lock()
            turn.acquire()
            self._waiting.append(turn)
        if turn.acquire(timeout=timeout):
            return True  # handed over by release()
        with self._mutex:
            try:
                self._waiting.remove(turn)
            except ValueError:
                return True  # handed over as the wait ran out
            return False

    def release(self) -> None:
        """End the turn: hand it to the writer that has waited longest, if any."""
        with self._mutex:
            if self._waiting:
                self._waiting.popleft().release()
            else:
                self._held = False


_GATES: dict[str, Gate] = {}
_GATES_LOCK = threading.Lock()


def gate_for(path: str) -> Gate:
    """The gate of the database file at ``path`` (one per file and process)."""
    with _GATES_LOCK:
        return _GATES.setdefault(path, Gate())


class WriterConnection(sqlite3.Connection):
    """sqlite3's connection, taking its file's gate for write transactions (:meth:`begin_writing`)
    and giving it back when the transaction ends."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: The gate of the connection's file (None: no gate, e.g. an in-memory database).
        self.levante_gate: Gate | None = None
        self._holds = False

    def begin_writing(self, timeout: float) -> None:
        """Wait for the file's gate (at most ``timeout`` seconds: then go on without it, and let
        SQLite's busy timeout decide) before a write transaction begins."""
        gate = self.levante_gate
        if gate is None or self._holds or gate.owner == threading.get_ident():
            return
        if gate.acquire(timeout):
            gate.owner = threading.get_ident()
            self._holds = True

    def end_writing(self) -> None:
        """Give the gate back (when this connection holds it)."""
        if self._holds and self.levante_gate is not None:
            self._holds = False
            self.levante_gate.owner = None
            self.levante_gate.release()

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self.end_writing()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self.end_writing()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.end_writing()
