"""PostgreSQL specifics: FOR UPDATE SKIP LOCKED claims and the FOR UPDATE execution lock."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import Engine, text

from levante.db import repository as repo
from levante.db.session import SessionFactory, lock_execution, transaction
from levante.states import State
from tests.unit.db.helpers import at, wf

pytestmark = pytest.mark.integration


def test_engine_uses_psycopg_and_utc_round_trips(db_engine: Engine, session_factory: SessionFactory) -> None:
    assert db_engine.dialect.driver == "psycopg"
    ex = wf(created_at=at(0))
    with transaction(session_factory) as s:
        s.execute(text("SET LOCAL TIME ZONE 'Asia/Tokyo'"))  # values still come back as UTC
        repo.save(s, ex)
        loaded = repo.get_execution(s, ex.id).created_at
        assert s.execute(text("SHOW TIME ZONE")).scalar() == "Asia/Tokyo"
    assert loaded == at(0) and loaded.utcoffset() == timedelta(0)


def test_skip_locked_claims_are_disjoint(session_factory: SessionFactory) -> None:
    with transaction(session_factory) as s:
        for i in range(10):
            repo.schedule(s, at(i), "ex", {"n": i})
    first = session_factory()
    try:
        mine = repo.claim_due(first, at(100), limit=5, worker="a")  # rows locked, not committed
        assert [c.payload["n"] for c in mine] == [0, 1, 2, 3, 4]
        started = time.perf_counter()
        with transaction(session_factory) as s:
            theirs = repo.claim_due(s, at(100), limit=10, worker="b")
        assert time.perf_counter() - started < 2  # skipped the locked rows: no waiting
        assert [c.payload["n"] for c in theirs] == [5, 6, 7, 8, 9]
        first.rollback()  # "a" died before committing: its rows are free again
        with transaction(session_factory) as s:
            again = repo.claim_due(s, at(100), limit=10, worker="c")
        assert [c.payload["n"] for c in again] == [0, 1, 2, 3, 4]
    finally:
        first.close()


def test_two_sessions_claiming_at_once_never_get_the_same_row(session_factory: SessionFactory) -> None:
    with transaction(session_factory) as s:
        for i in range(400):
            repo.schedule(s, at(i % 10), "ex", {"n": i})
    results: dict[str, list[int]] = {"a": [], "b": []}
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def worker(name: str) -> None:
        try:
            barrier.wait()
            while True:
                with transaction(session_factory) as s:
                    calls = repo.claim_due(s, at(100), limit=3, worker=name, delete_claimed=True)
                    time.sleep(0.001)  # hold the locks a moment
                if not calls:
                    return
                results[name].extend(c.id for c in calls)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in results]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert not set(results["a"]) & set(results["b"])
    assert len(results["a"]) + len(results["b"]) == 400
    assert results["a"] and results["b"]  # both made progress


def test_outbox_sweepers_skip_locked_rows(session_factory: SessionFactory) -> None:
    with transaction(session_factory) as s:
        ids = [repo.enqueue(s, "executor", {"n": i}) for i in range(4)]
    first = session_factory()
    try:
        held = repo.pending(first, limit=2, skip_locked=True)
        with transaction(session_factory) as s:
            other = repo.pending(s, limit=10, skip_locked=True)
        assert [m.id for m in held] == ids[:2] and [m.id for m in other] == ids[2:]
    finally:
        first.rollback()
        first.close()


def test_lock_execution_blocks_only_that_execution(session_factory: SessionFactory) -> None:
    locked, free = wf(), wf()
    with transaction(session_factory) as s:
        repo.save_all(s, [locked, free])
    holder = session_factory()
    lock_execution(holder, locked.id)
    try:
        with transaction(session_factory) as s:  # another execution: no wait
            started = time.perf_counter()
            lock_execution(s, free.id)
            assert time.perf_counter() - started < 1

        waited: list[float] = []
        seen: list[State] = []

        def second() -> None:
            with transaction(session_factory) as s:
                t0 = time.perf_counter()
                lock_execution(s, locked.id)
                waited.append(time.perf_counter() - t0)
                seen.append(repo.get_execution(s, locked.id).state)

        thread = threading.Thread(target=second)
        thread.start()
        time.sleep(0.5)
        assert thread.is_alive()  # waiting for the holder
        record = repo.get_execution(holder, locked.id)
        record.state = State.SUCCESS
        repo.save(holder, record)
        holder.commit()
        thread.join(10)
        assert waited and waited[0] >= 0.4
        assert seen == [State.SUCCESS]  # read after the holder's commit
    finally:
        holder.close()


def test_database_is_this_runs_own(db_engine: Engine) -> None:
    assert db_engine.url.database.startswith("levante_test_")
