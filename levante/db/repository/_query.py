"""Filters and keyset pagination shared by every listing."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from enum import Enum
from typing import Any, TypeVar

from sqlalchemy import JSON, ColumnElement, Integer, Select, String, Table, and_, false, literal, or_, select, tuple_
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from levante.exceptions import InputError, NotFoundError

T = TypeVar("T")

#: Operators accepted in ``{"op": ..., "value": ...}`` filters (``has``: holds the text).
OPERATORS = ("eq", "neq", "gt", "gte", "lt", "lte", "in", "nin", "has")
#: Rows per statement when a list of ids goes into ``IN (...)``.
CHUNK = 500


def chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    """``items`` in slices of at most ``size``."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def one_of(column: Any, values: Sequence[Any]) -> Any:
    """``column IN (values)``, or ``column = value`` for one value: an expanding IN is rendered
    again at every execution (on PostgreSQL with a cast per value), which made it the costliest
    part of the one-id lookups a callback does."""
    return column == values[0] if len(values) == 1 else column.in_(values)


def plain(value: Any) -> Any:
    """Enum members (``State.RUNNING``) as their value, for binding."""
    return value.value if isinstance(value, Enum) else value


def _column(table: Table, key: str, what: str) -> Any:
    column = table.c.get(key)
    if column is None:
        raise InputError(f"Unknown {what} '{key}' for {table.name}.")
    if isinstance(column.type, JSON) or isinstance(getattr(column.type, "impl", None), JSON):
        raise InputError(f"Can not {what} {table.name} by the JSON field '{key}'.")
    return column


class _Position(FunctionElement[int]):
    """Where ``needle`` starts in ``text`` (1-based; 0 when absent): ``instr`` on SQLite, ``strpos``
    on PostgreSQL. Unlike ``LIKE '%...%'`` it takes the value literally (``%`` and ``_`` are
    characters, no escaping needed) and is case-sensitive on both backends (SQLite's LIKE is not),
    so ``has`` finds the same rows on either."""

    type = Integer()
    inherit_cache = True


@compiles(_Position)
def _instr(element: _Position, compiler: SQLCompiler, **kw: Any) -> str:
    return f"instr({compiler.process(element.clauses, **kw)})"


@compiles(_Position, "postgresql")
def _strpos(element: _Position, compiler: SQLCompiler, **kw: Any) -> str:
    return f"strpos({compiler.process(element.clauses, **kw)})"


def _is_text(column: Any) -> bool:
    kind = getattr(column.type, "impl_instance", column.type)  # a TypeDecorator's underlying type
    return isinstance(kind, String)


def _holds_text(column: Any, value: Any) -> ColumnElement[bool]:
    if not _is_text(column):
        raise InputError(f"Filter '{column.key}' with 'has' needs a text attribute; '{column.key}' is not one.")
    if not isinstance(value, str) or value == "":
        raise InputError(f"Filter '{column.key}' with 'has' needs a text to look for.")
    return _Position(column, literal(value, column.type)) > 0


def _condition(column: Any, op: str, value: Any) -> ColumnElement[bool]:
    if op == "has":
        return _holds_text(column, value)
    if op in ("in", "nin"):
        if isinstance(value, str) or not isinstance(value, Iterable):
            raise InputError(f"Filter '{column.key}' with '{op}' needs a list of values.")
        values = [plain(v) for v in value]
        return column.in_(values) if op == "in" else column.not_in(values)
    value = plain(value)
    if op == "eq":
        return column.is_(None) if value is None else column == value
    if op == "neq":
        return column.is_not(None) if value is None else column != value
    if value is None:
        raise InputError(f"Filter '{column.key}' with '{op}' needs a value.")
    if op == "gt":
        return column > value
    if op == "gte":
        return column >= value
    if op == "lt":
        return column < value
    if op == "lte":
        return column <= value
    raise InputError(f"Unknown filter operator '{op}' (one of {', '.join(OPERATORS)}).")


def where_clauses(table: Table, filters: dict[str, Any] | None) -> list[ColumnElement[bool]]:
    """SQL conditions for ``filters``.

    Each key is a column; its value is either a plain value (equality; None means IS NULL), a list
    or set (IN), ``{"op": OP, "value": V}`` with OP one of :data:`OPERATORS`, or a list of such
    dicts (all must hold, e.g. a time range). ``has`` holds on a text column that contains V,
    literally and case-sensitively.
    """
    clauses: list[ColumnElement[bool]] = []
    for key, cond in (filters or {}).items():
        column = _column(table, key, "filter")
        if isinstance(cond, dict):
            if "op" not in cond:
                raise InputError(f"Filter '{key}' must be a value or {{'op': ..., 'value': ...}}.")
            clauses.append(_condition(column, str(cond["op"]).lower(), cond.get("value")))
        elif isinstance(cond, list | tuple) and cond and all(isinstance(c, dict) for c in cond):
            for item in cond:
                clauses.append(_condition(column, str(item.get("op", "eq")).lower(), item.get("value")))
        elif isinstance(cond, list | tuple | set | frozenset):
            clauses.append(_condition(column, "in", cond))
        else:
            clauses.append(_condition(column, "eq", cond))
    return clauses


def _sort_spec(table: Table, sort_keys: Sequence[str], sort_dirs: Sequence[str]) -> list[tuple[Any, bool]]:
    keys = list(sort_keys) or ["created_at"]
    dirs = [d.lower() for d in sort_dirs] or ["desc"]
    for direction in dirs:
        if direction not in ("asc", "desc"):
            raise InputError(f"Unknown sort direction '{direction}' (asc or desc).")
    if len(dirs) > len(keys):
        raise InputError("More sort directions than sort keys.")
    dirs += [dirs[-1]] * (len(keys) - len(dirs))
    if "id" not in keys:  # a unique last key makes the order total
        keys.append("id")
        dirs.append(dirs[-1])
    return [
        (_column(table, key, "sort"), direction == "asc") for key, direction in zip(keys, dirs, strict=True)
    ]


def _after(spec: list[tuple[Any, bool]], values: Sequence[Any]) -> ColumnElement[bool]:
    """Rows strictly after the marker whose sort values are ``values``.

    NULLs sort as the smallest values (first ascending, last descending) on every backend.
    """
    if len({asc for _, asc in spec}) == 1 and not any(c.nullable for c, _ in spec):
        # One direction and no NULLs: a row-value comparison, which PostgreSQL runs as one index range.
        columns = tuple_(*[c for c, _ in spec])
        marker = tuple_(*[literal(v, c.type) for (c, _), v in zip(spec, values, strict=True)])
        return columns > marker if spec[0][1] else columns < marker
    alternatives = []
    for i, (column, asc) in enumerate(spec):
        terms = [_equal(c, v) for (c, _), v in zip(spec[:i], values[:i], strict=True)]
        terms.append(_beyond(column, asc, values[i]))
        alternatives.append(and_(*terms))
    return or_(*alternatives)


def _equal(column: Any, value: Any) -> ColumnElement[bool]:
    return column.is_(None) if value is None else column == value


def _beyond(column: Any, asc: bool, value: Any) -> ColumnElement[bool]:
    if asc:
        return column.is_not(None) if value is None else column > value
    if value is None:
        return false()
    return or_(column < value, column.is_(None)) if column.nullable else column < value


def _order_by(spec: list[tuple[Any, bool]]) -> list[Any]:
    order = []
    for column, asc in spec:
        clause = column.asc() if asc else column.desc()
        if column.nullable:
            clause = clause.nulls_first() if asc else clause.nulls_last()
        order.append(clause)
    return order


def keyset(
    session: Session,
    stmt: Select[Any],
    table: Table,
    *,
    filters: dict[str, Any] | None,
    limit: int | None,
    marker: str | None,
    sort_keys: Sequence[str],
    sort_dirs: Sequence[str],
    kind: str,
) -> Select[Any]:
    """``stmt`` (a select from ``table``) filtered, ordered and cut to the page after ``marker``.

    ``marker`` is the id of the last row of the previous page (``kind`` names it when it does not
    exist). ``id`` is added as the last sort key when absent, so that pages never overlap or skip.
    """
    spec = _sort_spec(table, sort_keys, sort_dirs)
    clauses = where_clauses(table, filters)
    if marker is not None:
        found = session.execute(select(*[c for c, _ in spec]).where(table.c.id == marker)).first()
        if found is None:
            raise NotFoundError(kind, marker)
        clauses.append(_after(spec, tuple(found)))
    if clauses:
        stmt = stmt.where(*clauses)
    stmt = stmt.order_by(*_order_by(spec))
    if limit is not None:
        if limit < 0:
            raise InputError(f"limit must be positive, not {limit}.")
        stmt = stmt.limit(limit)
    return stmt
