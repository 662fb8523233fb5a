"""Writers of one SQLite file queue at the process's gate (levante.db.sqlite_writers), which every
way a write transaction ends gives back: commit, rollback, a failed BEGIN, a closed connection."""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from levante.db import session
from levante.db.session import SQLITE_BEGIN_OPTION, make_engine
from levante.db.sqlite_writers import Gate, WriterConnection, gate_for


@pytest.fixture
def path(tmp_path: Path) -> str:
    return str(tmp_path / "gate.db")


@pytest.fixture
def engine(path: str) -> Engine:
    engine = make_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
    return engine


def _gate(path: str) -> Gate:
    return gate_for(os.path.realpath(path))


def test_a_write_transaction_holds_the_gate_until_it_commits_or_rolls_back(engine: Engine, path: str) -> None:
    gate = _gate(path)
    with engine.connect() as conn:
        assert isinstance(conn.connection.dbapi_connection, WriterConnection)
        with conn.begin():
            conn.execute(text("INSERT INTO t VALUES (1)"))
            assert gate.locked() and gate.owner == threading.get_ident()
        assert not gate.locked() and gate.owner is None
        with pytest.raises(ZeroDivisionError), conn.begin():
            conn.execute(text("INSERT INTO t VALUES (2)"))
            raise ZeroDivisionError
        assert not gate.locked()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT x FROM t")).scalars().all() == [1]


def test_a_read_only_transaction_does_not_take_it(engine: Engine, path: str) -> None:
    with engine.connect().execution_options(**{SQLITE_BEGIN_OPTION: "DEFERRED"}) as conn, conn.begin():
        conn.execute(text("SELECT count(*) FROM t"))
        assert not _gate(path).locked()


def test_a_second_writer_waits_at_the_gate_and_goes_on_when_the_first_commits(engine: Engine, path: str) -> None:
    gate = _gate(path)
    first_in, second_done = threading.Event(), threading.Event()
    seen: list[int | None] = []

    def second() -> None:
        first_in.wait(5)
        with engine.begin() as conn:
            seen.append(gate.owner)
            conn.execute(text("INSERT INTO t VALUES (2)"))
        second_done.set()

    worker = threading.Thread(target=second)
    worker.start()
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO t VALUES (1)"))
        first_in.set()
        assert not second_done.wait(0.2)  # it waits for this transaction...
        assert gate.owner == threading.get_ident()
    assert second_done.wait(5)  # ...and goes on once it committed, holding the gate itself
    worker.join(5)
    assert seen == [worker.ident]
    assert not gate.locked()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT x FROM t ORDER BY rowid")).scalars().all() == [1, 2]


def test_a_begin_that_fails_gives_the_gate_back(path: str, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(session, "SQLITE_BUSY_TIMEOUT_S", 0.05)
    # Another process (here a plain connection, which has no gate) holds SQLite's write lock.
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        impatient = make_engine(f"sqlite:///{path}")
        with pytest.raises(Exception, match="locked"), impatient.begin():
            pass
        assert not _gate(path).locked()
    finally:
        other.rollback()
        other.close()
    with engine.begin() as conn:  # the file's writers are not stuck behind a lost gate
        conn.execute(text("INSERT INTO t VALUES (3)"))


def test_closing_a_connection_in_a_write_transaction_gives_the_gate_back(engine: Engine, path: str) -> None:
    conn = engine.connect()
    conn.begin()
    conn.execute(text("INSERT INTO t VALUES (1)"))
    assert _gate(path).locked()
    conn.invalidate()  # the driver's connection is closed
    assert not _gate(path).locked()
    with engine.begin() as again:
        again.execute(text("INSERT INTO t VALUES (2)"))


def test_a_thread_nesting_write_transactions_does_not_wait_for_itself(engine: Engine, path: str,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    with engine.begin() as outer:
        outer.execute(text("INSERT INTO t VALUES (1)"))
        monkeypatch.setattr(session, "SQLITE_BUSY_TIMEOUT_S", 0.05)
        inner = make_engine(f"sqlite:///{path}")
        # Past the gate at once (this thread holds it), then SQLite's own busy timeout decides.
        with pytest.raises(Exception, match="locked"), inner.begin():
            pass
        assert _gate(path).owner == threading.get_ident()
    assert not _gate(path).locked()


def test_an_in_memory_database_has_no_gate() -> None:
    engine = make_engine("sqlite://")
    with engine.begin() as conn:
        assert not isinstance(conn.connection.dbapi_connection, WriterConnection)


def _queued(gate: Gate, count: int) -> None:
    """Wait until ``count`` writers wait at the gate."""
    for _ in range(500):
        if len(gate._waiting) == count:
            return
        threading.Event().wait(0.01)
    raise AssertionError(f"{count} writer(s) never queued")


def test_the_gate_is_given_in_turn_so_a_writer_that_begins_again_at_once_does_not_starve_another() -> None:
    gate, order = Gate(), []
    assert gate.acquire(1)

    def other() -> None:
        assert gate.acquire(5)
        order.append("other")
        gate.release()

    waiter = threading.Thread(target=other)
    waiter.start()
    _queued(gate, 1)
    gate.release()
    assert gate.acquire(5)  # begins again at once: behind the one that waited
    order.append("first again")
    gate.release()
    waiter.join(5)
    assert order == ["other", "first again"]
    assert not gate.locked()


def test_a_writer_that_gives_up_waiting_leaves_the_queue() -> None:
    gate = Gate()
    assert gate.acquire(1)
    assert not gate.acquire(0.01)
    assert len(gate._waiting) == 0
    gate.release()
    assert not gate.locked()
