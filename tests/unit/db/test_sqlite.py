"""SQLite specifics: pragmas, BEGIN IMMEDIATE (a second writer waits), memory databases, URLs."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from levante.db import repository as repo
from levante.db.session import (
    SQLITE_BEGIN_OPTION,
    SessionFactory,
    json_dumps,
    json_loads,
    make_engine,
    make_session_factory,
    migrate,
    normalize_url,
    transaction,
)
from levante.states import State
from tests.unit.db.helpers import wf
from tests.unit.db.test_concurrency import increment_under_lock, run_threads


def test_pragmas(db_engine: Engine) -> None:
    with db_engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000


def test_foreign_keys_are_enforced(session_factory: SessionFactory) -> None:
    from sqlalchemy.exc import IntegrityError

    from tests.unit.db.helpers import task

    orphan = task(wf(), "t")  # its workflow execution was never saved
    with pytest.raises(IntegrityError):
        with transaction(session_factory) as s:
            repo.save(s, orphan)


def test_second_writer_waits_for_the_first(session_factory: SessionFactory) -> None:
    ex = wf()
    with transaction(session_factory) as s:
        repo.save(s, ex)
    holding = threading.Event()

    def first() -> None:
        with transaction(session_factory) as s:
            repo.lock_execution(s, ex.id)
            record = repo.get_execution(s, ex.id)
            holding.set()
            time.sleep(0.5)
            record.state = State.PAUSED
            repo.save(s, record)

    thread = threading.Thread(target=first)
    thread.start()
    assert holding.wait(10)
    started = time.perf_counter()
    with transaction(session_factory) as s:
        repo.lock_execution(s, ex.id)
        waited = time.perf_counter() - started
        seen = repo.get_execution(s, ex.id).state  # the first writer's commit is visible
    thread.join()
    assert waited >= 0.3
    assert seen == State.PAUSED


def test_read_only_sessions_run_beside_a_writer(db_engine: Engine, session_factory: SessionFactory) -> None:
    ex = wf()
    with transaction(session_factory) as s:
        repo.save(s, ex)
    readers = make_session_factory(db_engine, read_only=True)
    holding, done = threading.Event(), threading.Event()

    def writer() -> None:
        with transaction(session_factory) as s:
            repo.lock_execution(s, ex.id)
            record = repo.get_execution(s, ex.id)
            record.state = State.SUCCESS
            repo.save(s, record)
            holding.set()
            done.wait(10)

    thread = threading.Thread(target=writer)
    thread.start()
    assert holding.wait(10)
    started = time.perf_counter()
    with transaction(readers) as s:
        state = repo.get_execution(s, ex.id).state
    elapsed = time.perf_counter() - started
    done.set()
    thread.join()
    assert elapsed < 1.0 and state == State.RUNNING  # not blocked; sees the last commit only


def test_lock_in_a_deferred_transaction_takes_the_write_lock(db_engine: Engine) -> None:
    readers = make_session_factory(db_engine, read_only=True)
    writers = make_session_factory(db_engine)
    ex = wf(runtime_context={"counter": 0})
    with transaction(writers) as s:
        repo.save(s, ex)
    with transaction(readers) as s:
        repo.lock_execution(s, ex.id)  # upgrades: the transaction now holds the write lock
        record = repo.get_execution(s, ex.id)
        record.runtime_context["counter"] = 1
        repo.save(s, record)
    with transaction(writers) as s:
        assert repo.get_execution(s, ex.id).runtime_context == {"counter": 1}


def test_begin_mode_option(db_engine: Engine) -> None:
    with db_engine.connect().execution_options(**{SQLITE_BEGIN_OPTION: "bogus"}) as conn:
        with pytest.raises(ValueError):
            conn.begin()


def test_memory_database_is_shared_by_threads() -> None:
    engine = make_engine("sqlite://")
    try:
        migrate(engine)
        factory = make_session_factory(engine)
        ex = wf(runtime_context={"counter": 0})
        with transaction(factory) as s:
            repo.save(s, ex)

        def worker(_: int) -> None:
            for _ in range(20):
                increment_under_lock(factory, ex.id)

        run_threads(3, worker)
        with transaction(factory) as s:
            assert repo.get_execution(s, ex.id).runtime_context["counter"] == 60
    finally:
        engine.dispose()


def test_file_database_persists(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    engine = make_engine(url)
    migrate(engine)
    ex = wf()
    with transaction(make_session_factory(engine)) as s:
        repo.save(s, ex)
    engine.dispose()
    engine = make_engine(url)
    migrate(engine)  # already at head: nothing to do
    with transaction(make_session_factory(engine)) as s:
        assert repo.get_execution(s, ex.id).id == ex.id
        assert s.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
    engine.dispose()


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql://u:p@h:5432/db", "postgresql+psycopg://u:p@h:5432/db"),
        ("postgresql+psycopg2://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
        ("sqlite:///levante.db", "sqlite:///levante.db"),
    ],
)
def test_url_normalisation(given: str, expected: str) -> None:
    assert normalize_url(given) == expected


def test_postgres_urls_use_psycopg() -> None:
    for url in ("postgresql://postgres@127.0.0.1/x", "postgres://postgres@127.0.0.1/x"):
        engine = make_engine(url)  # no connection is made
        assert engine.dialect.name == "postgresql" and engine.dialect.driver == "psycopg"
        engine.dispose()


@pytest.mark.parametrize("text", [
    "{}", "null", "[]", '{"a": [1, 2.5, true, null], "b": "\\u00e9\\u0000"}', '{"result":null}', "1e400", "NaN",
    "123456789012345678901234567890", '"\\ud800"', '{"a":1,"a":2}', " {} ", "{}\n", "\ufeff{}", "", "[1,2]x", "{",
    b'{"x": 1}',
])
def test_json_loads_reads_every_text_as_json_loads_does(text: str | bytes) -> None:
    try:
        expected: object = json.loads(text)
    except ValueError as exc:
        with pytest.raises(type(exc)):
            json_loads(text)
        return
    assert repr(json_loads(text)) == repr(expected)


@pytest.mark.parametrize("value", [None, {}, [], "", 0, {"a": None}, {"k": {}}, [{}]])
def test_json_dumps_writes_the_text_of_the_standard_encoder(value: object) -> None:
    assert json_dumps(value) == json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def test_timestamps_are_written_as_the_sqlite_datetime_type_writes_them() -> None:
    import random
    from datetime import datetime, timedelta, timezone

    from sqlalchemy.dialects import sqlite
    from sqlalchemy.types import TypeDecorator

    from levante.db.columns import UTCDateTime

    dialect = sqlite.dialect()
    column = UTCDateTime().dialect_impl(dialect)
    fast, composed = column.bind_processor(dialect), TypeDecorator.bind_processor(column, dialect)
    rng = random.Random(14)
    values = [None, datetime(1, 1, 1), datetime(2024, 1, 2, 3, 4, 5),
              datetime(999, 5, 5, tzinfo=timezone(timedelta(hours=-3))),
              datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=timezone.utc)]
    zones = [None, timezone.utc, *(timezone(timedelta(minutes=rng.randint(-900, 900))) for _ in range(20))]
    values += [datetime(rng.randint(2, 9998), rng.randint(1, 12), rng.randint(1, 28), rng.randint(0, 23),
                        rng.randint(0, 59), rng.randint(0, 59), rng.choice([0, rng.randint(0, 999_999)]),
                        tzinfo=rng.choice(zones))
               for _ in range(2000)]
    assert [fast(v) for v in values] == [composed(v) for v in values]
    assert fast(datetime(2024, 1, 2, 3, 4, 5)) == "2024-01-02 03:04:05.000000"
