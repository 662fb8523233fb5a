"""Statements a step runs, on the driver's cursor of the session's connection.

A SELECT of a record's 25 columns costs about 100 µs through ``Session.execute`` on PostgreSQL
against 25 µs on the psycopg cursor, most of it psycopg building ``cursor.description`` (a Column
object per column, which SQLAlchemy reads to set up its result) and SQLAlchemy's per-execution
bookkeeping (issue 14). A statement built once (a module constant, or one of an ``lru_cache``)
is compiled here once per dialect into a :class:`Plan`: its SQL text, the bind processors of its
parameters and the result processors of its columns (SQLAlchemy's own, so that values are exactly
what ``Session.execute`` would give: JSON, aware UTC datetimes, NUL-safe strings). Running it
then costs the driver's call and those processors. A statement is planned from its second run
on: one built anew for each call (a listing's) keeps going through ``Session.execute``, whose cache
finds its compiled form by structure.

What stays as it was: the session's transaction (the statement runs on the connection the session
holds, which :meth:`Session.connection` begins as usual), the engine's ``before_cursor_execute``
and ``after_cursor_execute`` listeners (statement counts in tests and benchmarks), and errors
(wrapped and classified by SQLAlchemy, so a lost connection is invalidated and raised as
``OperationalError``). Statements whose SQL depends on their parameters (expanding ``IN`` lists)
run through ``Session.execute``.
"""

from __future__ import annotations

import functools
import operator
import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, NamedTuple, cast

from sqlalchemy import bindparam
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.orm import Session

__all__ = ["Plan", "combined_writes", "execute", "first", "flush_writes", "plan_of", "rows", "scalar"]

Processor = Callable[[Any], Any]


class Plan(NamedTuple):
    """A statement compiled for one dialect."""

    sql: str
    #: Parameter names in order (positional paramstyles), or None (named: a dict is passed).
    positions: tuple[str, ...] | None
    #: Values of parameters bound in the statement itself, by name (``x == 5`` binds 5).
    defaults: Mapping[str, Any]
    #: Bind processors by parameter name (only the parameters that have one).
    binds: Mapping[str, Processor]
    #: Result column names, in order.
    keys: tuple[str, ...]
    #: Result processors with the position of their column (the other columns' values are used
    #: as the driver gives them).
    results: tuple[tuple[int, Processor], ...]
    #: Positional paramstyles: the parameters' values in order, taken from a dict at once (a
    #: row of a 10,000-row executemany is then one C call and its few processors).
    take: Callable[[Mapping[str, Any]], tuple[Any, ...]] | None = None
    #: Positional paramstyles: the bind processors with the position of their parameter.
    converts: tuple[tuple[int, Processor], ...] = ()


#: Plans by (statement, dialect name, keys, executemany); statements are long-lived (built once),
#: and the cache is emptied if it ever grows past :data:`MAX_PLANS`.
_PLANS: dict[tuple[Any, str, tuple[str, ...] | None, bool], Plan | None] = {}
#: Statements run once: a statement is planned from its second run on, so that one built anew for
#: each call (a listing's) keeps going through SQLAlchemy, whose cache of compiled forms finds it
#: by its structure (compiling it here at every call would cost more than that).
_SEEN: set[Any] = set()
_PLANS_LOCK = threading.Lock()
MAX_PLANS = 4096


def plan_of(stmt: Any, dialect: Dialect, keys: tuple[str, ...] | None = None, many: bool = False) -> Plan | None:
    """The plan of ``stmt`` for ``dialect`` (None: the statement must run through SQLAlchemy, as
    it does the first time it is seen).

    ``keys``: the parameter names of an INSERT or UPDATE, sorted (they name the columns it sets
    when it has no VALUES of its own); ``many``: for an executemany (no implicit RETURNING).
    """
    key = (stmt, dialect.name, keys, many)
    plan = _PLANS.get(key, _PLANS)
    if plan is not _PLANS:
        return plan  # type: ignore[return-value]
    base = stmt.stmt if isinstance(stmt, _Rows) else stmt
    with _PLANS_LOCK:
        if len(_PLANS) >= MAX_PLANS or len(_SEEN) >= MAX_PLANS:
            _PLANS.clear()
            _SEEN.clear()
        if base not in _SEEN:
            _SEEN.add(base)
            return None
    plan = _compile(stmt, dialect, keys, many)
    with _PLANS_LOCK:
        _PLANS[key] = plan
    return plan


def _compile(stmt: Any, dialect: Dialect, keys: tuple[str, ...] | None, many: bool) -> Plan | None:
    if isinstance(stmt, _Rows):
        stmt = stmt.multi_values()
        if stmt is None:
            return None
    compiled: Any = stmt.compile(dialect=dialect, column_keys=list(keys) if keys is not None else None,
                                 for_executemany=many)
    if compiled.post_compile_params or compiled.literal_execute_params:
        return None  # its SQL is rendered per execution
    if compiled.insert_prefetch or compiled.update_prefetch:
        return None  # SQLAlchemy computes column defaults (a new id, a timestamp) per execution
    if many and compiled._result_columns:
        return None  # RETURNING of an executemany: SQLAlchemy batches it (insertmanyvalues)
    binds = dict(compiled._bind_processors)
    defaults = {name: value for name, value in compiled.construct_params(_check=False).items()
                if value is not None}
    columns = compiled._result_columns
    names = tuple(column[0] for column in columns)
    processors = (column[3]._cached_result_processor(dialect, None) for column in columns)
    results = tuple((n, process) for n, process in enumerate(processors) if process is not None)
    positions = tuple(compiled.positiontup) if compiled.positional else None
    take = converts = None
    if positions:
        getter = operator.itemgetter(*positions)
        take = getter if len(positions) > 1 else (lambda values: (getter(values),))
        converts = tuple((n, binds[name]) for n, name in enumerate(positions) if name in binds)
    return Plan(compiled.string, positions, defaults, binds, names, results, take, converts or ())


def _parameters(plan: Plan, params: Mapping[str, Any] | None) -> Any:
    if plan.take is not None:  # positional: the values in order, each through its processor
        values: Any = ({**plan.defaults, **params} if params else plan.defaults) if plan.defaults else (params or {})
        row = plan.take(values)
        if not plan.converts:
            return row
        converted = list(row)
        for n, process in plan.converts:
            converted[n] = process(converted[n])
        return tuple(converted)
    if plan.defaults:
        values = {**plan.defaults, **params} if params else dict(plan.defaults)
    else:
        values = dict(params) if params else {}
    for name, process in plan.binds.items():
        value = values.get(name)
        if value is not None or name in values:
            values[name] = process(value)
    if plan.positions is not None:
        return tuple(values[name] for name in plan.positions)
    return values


#: Key of the cursor kept in the pooled connection's ``info`` (a cursor made per statement costs
#: as much as the statement on psycopg).
_CURSOR = "levante.direct.cursor"


def _cursor(connection: Connection) -> Any:
    """The cursor kept for the driver's connection (a new one after a reconnect)."""
    pooled: Any = connection.connection
    driver = pooled.driver_connection
    cursor = pooled.info.get(_CURSOR)
    if cursor is None or cursor.connection is not driver or getattr(cursor, "closed", False):
        cursor = pooled.info[_CURSOR] = driver.cursor()
    return cursor


def _run(connection: Connection, plan: Plan, params: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None,
         many: bool = False) -> list[Any]:
    """Execute (an executemany when ``many``) on the driver's cursor; the rows as the driver gives them."""
    parameters: Any
    if many:
        parameters = [_parameters(plan, one) for one in cast(Sequence[Mapping[str, Any]], params)]
    else:
        parameters = _parameters(plan, cast(Mapping[str, Any] | None, params))
    return _run_sql(connection, plan.sql, parameters, bool(plan.keys), many)


def _run_sql(connection: Connection, sql: str, parameters: Any, want_rows: bool, many: bool = False) -> list[Any]:
    """Execute SQL with the driver's parameters on the driver's cursor (see :func:`_run`)."""
    cursor = _cursor(connection)
    events = connection._has_events or connection.engine._has_events
    if events:
        connection.dispatch.before_cursor_execute(connection, cursor, sql, parameters, None, many)
    try:
        if many:
            cursor.executemany(sql, parameters)
            found: list[Any] = []
        else:
            cursor.execute(sql, parameters)
            found = cursor.fetchall() if want_rows else []
    except Exception as exc:  # noqa: BLE001 - classified and raised by SQLAlchemy
        connection.connection.info.pop(_CURSOR, None)
        try:
            cursor.close()
        except Exception:  # noqa: BLE001 - the connection may be gone with it
            pass
        connection._handle_dbapi_exception(exc, sql, parameters, cursor, None)
    if events:
        connection.dispatch.after_cursor_execute(connection, cursor, sql, parameters, None, many)
    return found


def _keys(stmt: Any, params: Mapping[str, Any] | None) -> tuple[str, ...] | None:
    return tuple(sorted(params)) if stmt.is_dml and params else None


def rows(session: Session, stmt: Any, params: Mapping[str, Any] | None = None
         ) -> tuple[Sequence[str], list[Sequence[Any]]]:
    """The column names and the rows of a statement, run on the session's connection (after
    flushing ORM changes, as ``Session.execute`` would)."""
    session.flush()  # returns at once when nothing is pending
    connection = session.connection()
    plan = plan_of(stmt, connection.dialect, _keys(stmt, params))
    pending = session.info.get(_PENDING)
    if pending and plan is not None and _combinable(plan) and _target(plan.sql) not in {
            _target(p.sql) for p, _ in pending}:
        # An INSERT ... RETURNING after the writes: all of them in one statement.
        pending.append((plan, _parameters(plan, params)))
        found = _flush(session, connection)
    else:
        if pending:
            _flush(session, connection)
        if plan is None:
            result = session.execute(stmt, params)
            return tuple(result.keys()), list(result.all())
        found = _run(connection, plan, params)
    if plan.results and found:
        found = [_processed(plan.results, row) for row in found]
    return plan.keys, found


def _processed(processors: tuple[tuple[int, Processor], ...], row: Sequence[Any]) -> list[Any]:
    values = list(row)
    for n, process in processors:
        value = values[n]
        if value is not None:
            values[n] = process(value)
    return values


def scalar(session: Session, stmt: Any, params: Mapping[str, Any] | None = None) -> Any:
    """The first column of the first row (None when there is no row)."""
    _, found = rows(session, stmt, params)
    return found[0][0] if found else None


def first(session: Session, stmt: Any, params: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
    """The first row as a dict of column values (None when there is no row)."""
    keys, found = rows(session, stmt, params)
    return dict(zip(keys, found[0], strict=True)) if found else None


#: Up to this many rows, an INSERT of several rows is sent as one statement with a row of VALUES
#: each (psycopg's executemany of 2 rows costs 115 µs of CPU in its pipeline, one INSERT of 2 rows
#: 40 µs); more go through executemany.
MULTI_VALUES_ROWS = 50


def execute(session: Session, stmt: Any, params: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> None:
    """Run a statement that returns nothing wanted: once with a dict of parameters, or for each of
    a list of dicts (with the same keys), as one INSERT of that many rows where it can be."""
    session.flush()
    connection = session.connection()
    if isinstance(params, Mapping):
        plan = plan_of(stmt, connection.dialect, _keys(stmt, params))
        if plan is not None and _defer(session, connection, plan, params):
            return
        if plan is None:
            if session.info.get(_PENDING):
                _flush(session, connection)  # the writes before it go first
            session.execute(stmt, params)
        else:
            _run(connection, plan, params)
        return
    if not params:
        return
    keys = _keys(stmt, params[0])
    if 1 < len(params) <= MULTI_VALUES_ROWS and keys is not None and _distinct_ids(params):
        multi = plan_of(_Rows(stmt, keys, len(params)), connection.dialect)
        if multi is not None:
            values = {f"{key}__{n}": value for n, row in enumerate(params) for key, value in row.items()}
            if not _defer(session, connection, multi, values):
                _run(connection, multi, values)
            return
    if session.info.get(_PENDING):
        _flush(session, connection)
    plan = plan_of(stmt, connection.dialect, keys, many=True)
    if plan is None:
        session.execute(stmt, params)
        return
    _run(connection, plan, params, many=True)


# --- writes sent together ----------------------------------------------------------------------

#: Key of the writes waiting in ``session.info`` while :func:`combined_writes` is open.
_PENDING = "levante.direct.pending"
_PLACEHOLDER = re.compile(r"(?<!%)%\((\w+)\)s")
_TARGET = re.compile(r"\s*(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+(\"[^\"]+\"|\S+)", re.IGNORECASE)


@contextmanager
def combined_writes(session: Session) -> Iterator[None]:
    """On PostgreSQL, the writes :func:`execute` is given in the block (each an INSERT, UPDATE or
    DELETE of one statement, on a table no other of them writes) wait, and go to the database as
    one statement of data-modifying ``WITH`` clauses: with the INSERT ... RETURNING that
    :func:`rows` runs next, or at the end of the block, or before any other statement. Four
    statements of an engine step (its tasks, its actions, its history and its outbox row) cost
    0.40 ms of client CPU and 1.1 ms of wall time together against 0.73-0.80 ms and 1.7-1.8 ms one by
    one (issue 14). All of them see the database as it was before the statement, which is what
    each saw alone: none reads what another writes (foreign keys are checked at the end of the
    statement, with every row in). Elsewhere the block changes nothing.
    """
    if session.info.get(_PENDING) is not None:
        yield  # already open: the outer block sends them
        return
    session.info[_PENDING] = []
    try:
        yield
        if session.info[_PENDING]:
            _flush(session, session.connection())
    finally:
        session.info.pop(_PENDING, None)


def flush_writes(session: Session) -> None:
    """Send the writes waiting in an open :func:`combined_writes` block now (before a statement
    that does not go through this module)."""
    if session.info.get(_PENDING):
        _flush(session, session.connection())


def _combinable(plan: Plan) -> bool:
    """A statement with named parameters that a ``WITH`` clause can hold."""
    return plan.positions is None and _TARGET.match(plan.sql) is not None


def _target(sql: str) -> str:
    found = _TARGET.match(sql)
    return found.group(1).strip('"').lower() if found else sql


def _defer(session: Session, connection: Connection, plan: Plan, params: Mapping[str, Any]) -> bool:
    """Keep the write for the combined statement (True), or send what waits and leave it to the
    caller (False: no open block, another database, or a statement that cannot join)."""
    pending = session.info.get(_PENDING)
    if pending is None:
        return False
    if connection.dialect.name != "postgresql" or not _combinable(plan) or plan.keys:
        _flush(session, connection)
        return False
    if _target(plan.sql) in {_target(p.sql) for p, _ in pending}:
        _flush(session, connection)  # two writes of one table: never in one statement
    pending.append((plan, _parameters(plan, params)))
    return True


def _flush(session: Session, connection: Connection) -> list[Any]:
    """Send the writes waiting as one statement; the rows of the last one (its RETURNING)."""
    pending: list[tuple[Plan, Any]] = session.info[_PENDING]
    if not pending:
        return []
    waiting = list(pending)
    pending.clear()
    if len(waiting) == 1:
        plan, parameters = waiting[0]
        return _run_sql(connection, plan.sql, parameters, bool(plan.keys))
    sql = _combined_sql(tuple(plan.sql for plan, _ in waiting))
    parameters = {f"w{n}_{key}": value for n, (_, values) in enumerate(waiting) for key, value in values.items()}
    return _run_sql(connection, sql, parameters, bool(waiting[-1][0].keys))


@functools.lru_cache(maxsize=512)
def _combined_sql(statements: tuple[str, ...]) -> str:
    """``WITH w0 AS (first), w1 AS (second) last``, each statement's parameters renamed ``w<n>_``."""
    renamed = [_PLACEHOLDER.sub(f"%(w{n}_\\1)s", sql) for n, sql in enumerate(statements)]
    clauses = ", ".join(f"w{n} AS ({sql})" for n, sql in enumerate(renamed[:-1]))
    return f"WITH {clauses} {renamed[-1]}"


def _distinct_ids(rows: Sequence[Mapping[str, Any]]) -> bool:
    """No two rows have the same ``id`` (one INSERT ... ON CONFLICT cannot update a row twice)."""
    if "id" not in rows[0]:
        return True
    return len({row["id"] for row in rows}) == len(rows)


class _Rows(NamedTuple):
    """An INSERT of ``size`` rows of ``keys`` (a key of :data:`_PLANS`; :func:`_compile` builds it)."""

    stmt: Any
    keys: tuple[str, ...]
    size: int

    def multi_values(self) -> Any | None:
        """The statement with a row of VALUES per row, bound to ``<key>__<n>`` (None: not an
        INSERT without VALUES and RETURNING of its own)."""
        stmt = self.stmt
        if not getattr(stmt, "is_insert", False) or stmt._values or stmt._multi_values or stmt._returning:
            return None
        columns = stmt.table.c
        if any(key not in columns for key in self.keys):
            return None
        return stmt.values([{key: bindparam(f"{key}__{n}", type_=columns[key].type) for key in self.keys}
                            for n in range(self.size)])
