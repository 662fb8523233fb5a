"""NUL characters in every column: stored and read back unchanged (SQLite here;
tests/integration/db/test_pg_nulsafe.py runs the same tests on PostgreSQL, which refuses NUL in
text and ``\\u0000`` in JSONB, so there they go through levante.db.nulsafe's escaping)."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import pytest
from sqlalchemy import JSON, Boolean, DateTime, Engine, Integer, String, Table, select

from levante.db import nulsafe
from levante.db.models import Base
from levante.db.session import json_dumps, pg_json_dumps

ESC = nulsafe.ESC
#: Strings that must survive: NUL alone and around, the escape character alone, doubled, before "0"
#: and last, the JSON text of an escaped NUL, and ordinary text.
TRICKY = ["\x00", "a\x00b", "\x00\x00", ESC, ESC + ESC, ESC + "0", "x" + ESC, ESC + "\x00",
          "\\u0000", "\\\x00", "plain", "", "é中\U0001f600"]


@pytest.mark.parametrize("text", TRICKY)
def test_escape_text_round_trips_and_leaves_no_nul(text: str) -> None:
    escaped = nulsafe.escape_text(text)
    assert "\x00" not in escaped
    assert nulsafe.unescape_text(escaped) == text
    if not nulsafe.needs_escape(text):
        assert escaped == text


def test_escaped_json_round_trips_keys_and_values() -> None:
    value = {k: [k, {"in": k}] for k in TRICKY} | {"n": [1, 2.5, True, None]}
    text = pg_json_dumps(value)
    assert "\\u0000" not in text.replace("\\\\", "")  # only the user's literal backslash-u0000 texts
    assert nulsafe.pg_json_loads(text.encode()) == value
    assert nulsafe.pg_json_loads(text) == value


def test_pg_serializer_changes_nothing_without_nul() -> None:
    value = {"a": [1, "b", {"c": "é \\u0000 is text here"}], "when": datetime(2024, 1, 1, tzinfo=timezone.utc)}
    assert pg_json_dumps(value) == json_dumps(value)
    assert nulsafe.pg_json_loads(json_dumps(value).encode()) == json.loads(json_dumps(value))


def test_every_string_column_is_nul_safe() -> None:
    """A plain String or Text column would refuse NUL on PostgreSQL (and fail a transaction that
    commits on SQLite): new columns must use NulSafeString / NulSafeText."""
    plain = [f"{t.name}.{c.name}" for t in Base.metadata.sorted_tables for c in t.columns
             if isinstance(c.type, String)]
    assert plain == [], f"use levante.db.nulsafe.NulSafeString/NulSafeText for {plain}"


def _value(column: Any, parents: dict[str, Any], serial: int) -> Any:
    """A value for ``column`` holding NUL and the escape character where it is text."""
    for fk in column.foreign_keys:
        return parents.get(fk.column.table.name)  # None: a cycle's nullable key (written later)
    kind = column.type
    if isinstance(kind, JSON) or isinstance(getattr(kind, "impl", None), JSON):
        return {f"k{i}": [t, {t: t}] for i, t in enumerate(TRICKY)}
    if isinstance(kind, Boolean):
        return True
    if isinstance(kind, Integer):
        return serial
    if isinstance(kind, DateTime) or isinstance(getattr(kind, "impl", None), DateTime):
        return datetime(2024, 1, 1, tzinfo=timezone.utc)
    length = getattr(kind, "length", None) or getattr(getattr(kind, "impl", None), "length", None)
    text = f"{serial}\x00{ESC}0{ESC}\x00"
    return text[:length] if length else text


def test_every_column_keeps_nul_and_the_escape_character(db_engine: Engine) -> None:
    """One row in every table, every text and JSON column holding NUL (a new column is covered
    without touching this test); each reads back exactly as written."""
    parents: dict[str, Any] = {}
    written: dict[str, dict[str, Any]] = {}
    with db_engine.begin() as conn:
        for serial, table in enumerate(Base.metadata.sorted_tables, start=1):
            row = {c.key: _value(c, parents, serial) for c in table.columns if not _autoincrement(table, c)}
            result = conn.execute(table.insert().values(row).returning(*table.primary_key.columns))
            parents[table.name] = result.scalar_one()
            written[table.name] = row
    with db_engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            found = conn.execute(select(table).where(_key(table) == parents[table.name])).mappings().one()
            assert {k: found[k] for k in written[table.name]} == written[table.name], table.name


def _autoincrement(table: Table, column: Any) -> bool:
    # The id of a queue-like table; not the integer parts of a composite key (with_items_chunks).
    return column is table.autoincrement_column


def _key(table: Table) -> Any:
    return list(table.primary_key.columns)[0]
