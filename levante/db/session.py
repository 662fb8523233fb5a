"""Engines, sessions, transactions, migrations and the per-execution lock.

SQLite transactions
-------------------
Python's ``sqlite3`` (before 3.12) runs its own "legacy" transaction control: it emits a deferred
``BEGIN`` only before INSERT/UPDATE/DELETE, never before SELECT. A read-then-write transaction can
then fail with ``database is locked`` without waiting (SQLite cannot upgrade a stale read snapshot
to a write lock), and two engines could read the same execution, each decide, and both write.

:func:`make_engine` therefore applies SQLAlchemy's documented recipe: a ``connect`` hook sets the
driver's ``isolation_level = None`` (the driver stops emitting BEGIN itself), and a ``begin`` hook
emits the BEGIN. That BEGIN is ``BEGIN IMMEDIATE`` by default: the transaction takes SQLite's
write (RESERVED) lock at its start, a second writer waits in ``BEGIN IMMEDIATE`` (the busy timeout,
30 s) until the first one commits, and then reads what the first one wrote. Writers are serialised
exactly as ``SELECT ... FOR UPDATE`` serialises writers of one execution on PostgreSQL (SQLite locks
the whole database; WAL mode keeps readers outside transactions unblocked).

Read-only work may use deferred transactions (readers run concurrently with the writer in WAL
mode): ``make_session_factory(engine, read_only=True)`` or the connection execution option
``{SQLITE_BEGIN_OPTION: "DEFERRED"}``. :func:`lock_execution` on such a transaction still takes the
write lock (by a no-op UPDATE), but that can fail with ``database is locked`` when another writer
committed since the transaction's first read, so writers should use the default factory.
"""

from __future__ import annotations

import json
import os
import re
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, create_engine, event, select, text, update
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import QueuePool

from levante.db import jsoncodec, nulsafe
from levante.db.models import WorkflowExecutionRow
from levante.db.sqlite_writers import Gate, WriterConnection, gate_for
from levante.exceptions import NotFoundError, TransportError

#: Connection execution option choosing how SQLite transactions begin: IMMEDIATE (default),
#: DEFERRED or EXCLUSIVE.
SQLITE_BEGIN_OPTION = "levante_sqlite_begin"
#: ``Connection.info`` key recording how the current SQLite transaction began.
_BEGUN_AS = "levante_sqlite_begun_as"
SQLITE_BUSY_TIMEOUT_S = 30.0
#: Key of the PostgreSQL advisory lock serialising concurrent :func:`migrate` calls.
_MIGRATION_LOCK_KEY = 0x4C45_5641  # "LEVA"
#: Key of the PostgreSQL advisory lock an engine holds while it sweeps the outbox (:func:`exclusive`).
SWEEP_LOCK_KEY = 0x4C45_5653  # "LEVS"
MIGRATIONS_DIR = Path(__file__).parent / "migrations"

#: A configured ``sessionmaker`` (see :func:`make_session_factory`).
SessionFactory = sessionmaker[Session]


# --- engines --------------------------------------------------------------------------------


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


#: One encoder for every call (``json.dumps`` with options builds a new one each time).
_ENCODER = json.JSONEncoder(default=_json_default, separators=(",", ":"), ensure_ascii=False)


#: orjson as the standard encoder above writes: dates, times and dataclasses through
#: ``_json_default`` (not orjson's own forms); keys must be strings (others raise, so the
#: standard encoder writes them, as ``"1"``, ``"true"``...).
_ORJSON_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def json_dumps(value: Any) -> str:
    """The JSON serializer of every engine (dates as ISO text, sets and tuples as lists).

    orjson writes it (issue 14: 5-10x faster than the standard library on an engine step's
    values), except where its text would say something else than the standard encoder's: an
    integer beyond 64 bits, a key that is not a string, a lone surrogate (orjson raises), and NaN
    or infinity (orjson writes ``null``, the standard encoder ``NaN``, which SQLite keeps and
    PostgreSQL refuses: a text with a ``null`` in it is written again by the standard encoder,
    which costs what it cost before)."""
    if not value and (value is None or type(value) is dict):
        return "null" if value is None else "{}"  # most action inputs and outputs: the same text, at once
    try:
        data = orjson.dumps(value, default=_json_default, option=_ORJSON_OPTIONS)
    except orjson.JSONEncodeError:
        return _ENCODER.encode(value)  # it writes the value, or raises what it always raised
    if b"null" in data:
        return _ENCODER.encode(value)
    return data.decode()


#: The standard library's scanner of JSON values (what ``json.loads`` runs after skipping whitespace).
_SCAN = json.JSONDecoder().scan_once  # type: ignore[attr-defined]


def json_loads(text: str | bytes) -> Any:
    """The JSON deserializer of SQLite engines: what ``json.loads`` reads, through orjson where
    both read the same (:func:`levante.db.jsoncodec.fast_loads`), else through the standard library's scanner
    straight away when the text is a value without surrounding whitespace (as :func:`json_dumps`
    writes it; the whitespace checks and the wrapping of ``json.loads`` cost as much as reading a
    small value)."""
    if type(text) is str:
        value = jsoncodec.fast_loads(text)
        if value is not jsoncodec.UNREAD:
            return value
        try:
            value, end = _SCAN(text, 0)
        except (StopIteration, ValueError):
            return json.loads(text)  # whitespace first, or not JSON: json.loads reads it or says why
        if end == len(text):
            return value
    return json.loads(text)


def pg_json_dumps(value: Any) -> str:
    """The JSON serializer of PostgreSQL engines: :func:`json_dumps`, with strings escaped when the
    text holds a NUL (which JSONB refuses) or the escape character (:mod:`levante.db.nulsafe`)."""
    text = json_dumps(value)
    if nulsafe.json_needs_escape(text):
        text = json_dumps(nulsafe.escape_value(value))
    return text


def normalize_url(url: str) -> str:
    """``postgresql://``/``postgres://`` (and psycopg2) URLs become ``postgresql+psycopg://``."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql" and parsed.drivername != "postgresql+psycopg":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def _is_memory(url: str) -> bool:
    parsed = make_url(url)
    database = parsed.database or ""
    return database in ("", ":memory:") or "mode=memory" in database or parsed.query.get("mode") == "memory"


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url`` (SQLite file or memory, or PostgreSQL), set up as Levante needs.

    SQLite: WAL journal, ``synchronous=NORMAL``, foreign keys on, a 30 s busy timeout, usable from
    several threads, and transactions that begin with ``BEGIN IMMEDIATE`` (module docstring). An
    in-memory database lives in one connection, which the pool hands to one thread at a time.

    PostgreSQL: the psycopg 3 driver (``postgresql://`` is rewritten to ``postgresql+psycopg://``);
    JSON goes through :func:`pg_json_dumps` and :func:`levante.db.nulsafe.pg_json_loads` (psycopg
    runs both itself: SQLAlchemy registers them on the driver's adapters), so that NUL characters
    are stored escaped and read back as they were.

    Extra keyword arguments go to :func:`sqlalchemy.create_engine`.
    """
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    url = normalize_url(url)
    backend = make_url(url).get_backend_name()
    if backend == "sqlite":
        kwargs.setdefault("json_serializer", json_dumps)
        kwargs.setdefault("json_deserializer", json_loads)
        return _sqlite_engine(url, kwargs)
    if backend == "postgresql":
        kwargs.setdefault("pool_pre_ping", True)
        kwargs.setdefault("json_serializer", pg_json_dumps)
        kwargs.setdefault("json_deserializer", nulsafe.pg_json_loads)
    else:
        kwargs.setdefault("json_serializer", json_dumps)
    return create_engine(url, **kwargs)


def _sqlite_engine(url: str, kwargs: dict[str, Any]) -> Engine:
    connect_args = dict(kwargs.pop("connect_args", {}))
    connect_args.setdefault("check_same_thread", False)
    connect_args.setdefault("timeout", SQLITE_BUSY_TIMEOUT_S)
    if _is_memory(url):
        # One connection holds the whole database: share it, one thread at a time.
        kwargs.setdefault("poolclass", QueuePool)
        kwargs.setdefault("pool_size", 1)
        kwargs.setdefault("max_overflow", 0)
        kwargs.setdefault("pool_timeout", SQLITE_BUSY_TIMEOUT_S)
    path = None if _is_memory(url) else make_url(url).database
    if path:
        connect_args.setdefault("factory", WriterConnection)
    engine = create_engine(url, connect_args=connect_args, **kwargs)
    gate = gate_for(os.path.realpath(path)) if path else None
    event.listen(engine, "connect", lambda dbapi_connection, record: _sqlite_on_connect(dbapi_connection, gate))
    event.listen(engine, "begin", _sqlite_on_begin)
    return engine


def _sqlite_on_connect(dbapi_connection: Any, gate: Gate | None) -> None:
    # Stop pysqlite's own transaction handling: SQLAlchemy's "begin" hook emits BEGIN.
    dbapi_connection.isolation_level = None
    if isinstance(dbapi_connection, WriterConnection):
        dbapi_connection.levante_gate = gate
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
    finally:
        cursor.close()


def _sqlite_on_begin(conn: Connection) -> None:
    mode = str(conn.get_execution_options().get(SQLITE_BEGIN_OPTION, "IMMEDIATE")).upper()
    if mode not in ("IMMEDIATE", "DEFERRED", "EXCLUSIVE"):
        raise ValueError(f"{SQLITE_BEGIN_OPTION} must be IMMEDIATE, DEFERRED or EXCLUSIVE, not {mode!r}")
    raw = conn.connection.dbapi_connection
    writer = raw if mode != "DEFERRED" and isinstance(raw, WriterConnection) else None
    if writer is not None:
        writer.begin_writing(SQLITE_BUSY_TIMEOUT_S)  # this process's writers queue here, not in SQLite
    try:
        conn.exec_driver_sql(f"BEGIN {mode}")
    except BaseException:
        if writer is not None:
            writer.end_writing()
        raise
    conn.info[_BEGUN_AS] = mode


# --- sessions and transactions --------------------------------------------------------------


def make_session_factory(engine: Engine, read_only: bool = False) -> SessionFactory:
    """``sessionmaker(engine, expire_on_commit=False)``.

    ``read_only`` makes SQLite transactions begin DEFERRED, so that they run beside a writer. On
    PostgreSQL it makes reads run in autocommit: under READ COMMITTED each statement of a
    transaction sees its own snapshot anyway, so a read-only transaction only cost its BEGIN and
    COMMIT round trips (a third of the database work of a callback's token check).
    """
    if read_only and engine.dialect.name == "postgresql":
        return sessionmaker(engine.execution_options(isolation_level="AUTOCOMMIT"), expire_on_commit=False)
    options = {SQLITE_BEGIN_OPTION: "DEFERRED"} if read_only else {}
    return sessionmaker(engine, expire_on_commit=False, execution_options=options)


@contextmanager
def transaction(session_factory: SessionFactory) -> Iterator[Session]:
    """A session in a transaction: committed when the block ends, rolled back if it raises."""
    session = session_factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def on_rollback(session: Session, callback: Callable[[], None]) -> None:
    """Call ``callback`` once if the session's transaction rolls back (e.g. to hand back work that
    was taken for it)."""
    event.listen(session, "after_soft_rollback", lambda *_: callback(), once=True)


def is_transient(error: BaseException) -> bool:
    """Whether a failed transaction may succeed when tried again unchanged: the database was busy
    (SQLite's write lock held past the busy timeout, a PostgreSQL deadlock or serialization failure),
    unreachable or restarting (a lost connection, a full pool). Anything else (a value the database
    refuses, a constraint, a bug) fails again on every try."""
    if isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated:
        return True
    return isinstance(error, sa_exc.OperationalError | sa_exc.InterfaceError | sa_exc.TimeoutError
                      | sa_exc.DisconnectionError | ConnectionError)


def is_sqlite(session: Session) -> bool:
    """Whether the session's database is SQLite."""
    bind = session.get_bind()
    return bind.dialect.name == "sqlite"


def ensure_write_lock(session: Session) -> None:
    """Make sure the session's transaction holds SQLite's write lock (no-op on other backends).

    The session's connection is fetched, which begins the transaction if needed (``BEGIN
    IMMEDIATE`` by default). If it began DEFERRED, a no-op write takes the lock now.
    """
    if not is_sqlite(session):
        return
    conn = session.connection()
    if conn.info.get(_BEGUN_AS, "IMMEDIATE") == "DEFERRED":
        # Any write takes SQLite's RESERVED lock; this one changes no row.
        conn.execute(
            update(WorkflowExecutionRow).where(text("0 = 1")).values(state=WorkflowExecutionRow.state)
        )
        conn.info[_BEGUN_AS] = "IMMEDIATE"


def lock_execution(session: Session, execution_id: str) -> None:
    """Hold the lock of one workflow execution until the session's transaction ends.

    PostgreSQL: ``SELECT id FROM workflow_executions WHERE id = ? FOR UPDATE``: other transactions
    locking the same execution wait; other executions proceed.

    SQLite: the transaction holds the database's write lock (it began with ``BEGIN IMMEDIATE``, see
    the module docstring), so any other writer waits; the row's existence is checked.

    Raises:
        NotFoundError: no workflow execution has that id.
    """
    query = select(WorkflowExecutionRow.id).where(WorkflowExecutionRow.id == execution_id)
    if is_sqlite(session):
        ensure_write_lock(session)
    else:
        query = query.with_for_update()
    if session.execute(query).first() is None:
        raise NotFoundError("Workflow execution", execution_id)


# --- migrations -----------------------------------------------------------------------------

_migrate_lock = threading.Lock()


def alembic_config(connection: Connection | None = None) -> Any:
    """An Alembic ``Config`` for the packaged migrations (no alembic.ini needed)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def migrate(engine: Engine, revision: str = "head") -> None:
    """Upgrade the database to ``revision`` (the latest by default); a no-op when it is there.

    Runs in one transaction. Concurrent callers are serialised (an advisory lock on PostgreSQL,
    the write lock on SQLite), so several processes may call it at start-up. To the newest
    revision, a database already there, or a new SQLite file, needs no Alembic
    (:mod:`levante.db.fresh_schema`).
    """
    _migrate(engine, revision, shortcuts=revision == "head")


def migrate_with_alembic(engine: Engine, revision: str = "head") -> None:
    """:func:`migrate` through Alembic's migrations whatever the database holds."""
    _migrate(engine, revision, shortcuts=False)


def _migrate(engine: Engine, revision: str, shortcuts: bool) -> None:
    from levante.db import fresh_schema

    with _migrate_lock, engine.connect() as connection:
        with connection.begin():
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY})
            if shortcuts and fresh_schema.at_head(connection):
                return
            if shortcuts and connection.dialect.name == "sqlite" and fresh_schema.create_sqlite(connection):
                return
            from alembic import command

            command.upgrade(alembic_config(connection), revision)


@contextmanager
def exclusive(session_factory: SessionFactory, key: int) -> Iterator[bool]:
    """Whether this process may do something only one process at a time should do, held for the
    block: on PostgreSQL a session-level advisory lock tried (never waited for) on a connection of
    its own, released at the end of the block or when the process dies; elsewhere (SQLite: one
    process) always True."""
    bind: Any = session_factory.kw.get("bind")
    if bind is None or bind.dialect.name != "postgresql":
        yield True
        return
    with bind.connect() as connection:
        held = bool(connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": key}).scalar())
        try:
            yield held
        finally:
            if held:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                connection.commit()


def current_revision(engine: Engine) -> str | None:
    """The schema revision the database is at (None before the first migration)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


# --- opening a database at start-up ---------------------------------------------------------

#: What to install when the driver of a database kind is missing.
_DRIVER_EXTRAS = {"postgresql": "pip install 'levante[postgres]'"}


def _shown(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except sa_exc.ArgumentError:
        return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)


def _reason(exc: sa_exc.DBAPIError) -> str:
    """The first line of the driver's own message."""
    text = str(exc.orig) if exc.orig is not None else str(exc)
    first = text.strip().splitlines()[0] if text.strip() else ""
    return " ".join(first.split()) or type(exc.orig or exc).__name__


def _fix(url: str) -> str:
    """How to fix a database that cannot be reached (the settings are levante.config's)."""
    if url.startswith("sqlite"):
        return "does its folder exist, and may this user write there? The URL comes from --db or LEVANTE_DB_URL"
    return "is it running, and is the URL right? The URL comes from --db or LEVANTE_DB_URL"


def open_database(url: str) -> Engine:
    """:func:`make_engine` then :func:`migrate`, as a process does when it starts: what goes wrong
    there the first time (a typo in the URL, a missing driver, a database that is not running)
    becomes an error of one line that says which database and what to do.

    Raises:
        ValueError: ``url`` is not a database URL, or names a kind of database Levante cannot use.
        TransportError: the driver is not installed (``recoverable=False``), or the database cannot be
            reached or used (connection refused, unknown host, refused credentials, no such database).
    """
    shown = _shown(url)
    try:
        engine = make_engine(url)
    except sa_exc.NoSuchModuleError:
        kind = url.partition(":")[0]
        raise ValueError(f"unknown kind of database {kind!r} in {shown}: "
                         "use sqlite:///FILE or postgresql://USER@HOST/DATABASE") from None
    except sa_exc.ArgumentError:
        raise ValueError(f"{shown!r} is not a database URL: "
                         "use sqlite:///FILE or postgresql://USER@HOST/DATABASE") from None
    except ImportError as exc:
        backend = make_url(normalize_url(url)).get_backend_name()
        fix = _DRIVER_EXTRAS.get(backend)
        if fix:
            message = f"the database {shown} needs the {exc.name or 'driver'} driver, which is not installed: {fix}"
        else:
            message = (f"the database {shown} needs the Python module {exc.name!r}, which is not installed "
                       "(Levante runs on sqlite:///FILE or postgresql://...)")
        raise TransportError(message, recoverable=False) from exc
    try:
        migrate(engine)
    except sa_exc.OperationalError as exc:
        engine.dispose()
        raise TransportError(f"cannot reach the database at {shown}: {_reason(exc)} ({_fix(url)})") from exc
    except sa_exc.DBAPIError as exc:
        engine.dispose()
        raise TransportError(f"cannot use the database at {shown}: {_reason(exc)} (check the URL given with "
                             "--db or LEVANTE_DB_URL)", recoverable=False) from exc
    return engine
