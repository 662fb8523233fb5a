"""Stored JSON written and read through orjson (issue 14) says exactly what the standard
library's encoder and ``json.loads`` say, for every value an engine may store."""

from __future__ import annotations

import json
import math
from datetime import date, datetime, timezone
from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import UUID

from hypothesis import given, settings
from hypothesis import strategies as st

from levante.db import jsoncodec
from levante.db.nulsafe import pg_json_loads
from levante.db.session import _json_default, json_dumps, json_loads, pg_json_dumps

_STANDARD = json.JSONEncoder(default=_json_default, separators=(",", ":"), ensure_ascii=False)

scalars = (st.none() | st.booleans() | st.integers() | st.integers(-2**70, 2**70)
           | st.floats() | st.text() | st.text(alphabet=st.characters(categories=["Cs", "Lu", "Cc"])))
keys = st.text(max_size=5) | st.integers(-3, 3) | st.booleans() | st.none() | st.floats(-2, 2)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner)
                      | st.dictionaries(keys, inner, max_size=4), max_leaves=20)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def _standard(value: Any) -> str | type[Exception]:
    try:
        return _STANDARD.encode(value)
    except (TypeError, ValueError, RecursionError) as exc:
        return type(exc)


@settings(max_examples=600, deadline=None)
@given(values)
def test_what_is_written_reads_back_as_the_standard_encoders_text(value: Any) -> None:
    expected = _standard(value)
    if isinstance(expected, type):
        try:
            json_dumps(value)
        except expected:
            return
        raise AssertionError("json_dumps wrote what the standard encoder refuses")
    written = json_dumps(value)
    assert _same(json.loads(written), json.loads(expected))


@settings(max_examples=600, deadline=None)
@given(values, st.sampled_from([(",", ":"), (", ", ": ")]))
def test_what_is_read_is_what_json_loads_reads(value: Any, separators: tuple[str, str]) -> None:
    try:
        text = json.dumps(value, separators=separators, ensure_ascii=False)
    except (TypeError, ValueError):
        return
    assert _same(json_loads(text), json.loads(text))
    ascii_text = json.dumps(value, separators=separators)  # escaped surrogates and all
    assert _same(json_loads(ascii_text), json.loads(ascii_text))
    assert _same(pg_json_loads(ascii_text.encode()), json.loads(ascii_text))


class Colour(Enum):
    RED = "red"


def test_values_orjson_would_write_its_own_way_are_written_as_before() -> None:
    moment = datetime(2026, 12, 7, 21, 0, 0, 5, tzinfo=timezone.utc)
    for value in [{"at": moment}, {"day": date(2026, 12, 7)}, {"c": Colour.RED}, {"u": UUID(int=5)},
                  {"d": Decimal("1.10")}, {"s": {1}}, {"t": (1, 2)}, {1: "int key", None: 0, False: 1},
                  {"n": float("nan")}, {"i": float("-inf")}, {"big": 2**64}, {"x": "\ud800"},
                  {"e": "\U0010fffd\x00é"}, [1.5, 1e16, 1e-7, -0.0]]:
        assert json.loads(json_dumps(value)) == json.loads(_STANDARD.encode(value)) or "n" in value
    for value in [{"at": moment}, {"day": date(2026, 12, 7)}, {"c": Colour.RED}, {"u": UUID(int=5)},
                  {1: "int key", None: 0}, {"n": float("nan")}, {"big": 2**64}, {"x": "\ud800"}]:
        assert json_dumps(value) == _STANDARD.encode(value), value


def test_texts_orjson_reads_otherwise_are_read_as_json_loads_reads_them() -> None:
    for text in ["123456789012345678901234567890", "-9223372036854775809", "NaN", "[Infinity]", "1e400",
                 '"\\ud800"', '{"a":1,"a":2}', " {} ", "[0.1234567890123456789]"]:
        assert _same(json_loads(text), json.loads(text)), text
        assert _same(pg_json_loads(text.encode()), json.loads(text)), text
    assert jsoncodec.fast_loads("123456789012345678901234567890") is jsoncodec.UNREAD
    assert jsoncodec.fast_loads('{"a": [1, 2.5]}') == {"a": [1, 2.5]}


def test_postgresql_text_escapes_nul_as_before() -> None:
    value = {"s": "a\x00b", "k\x00": ["\U0010fffd"]}
    written = pg_json_dumps(value)
    assert "\\u0000" not in written
    assert pg_json_loads(written.encode()) == value
