"""The JSON text of JSON-typed fields (``input``, ``output``, ``params``...) is what Mistral shows:
``json.dumps`` of the plain value, non-JSON values as their ``str``."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from types import MappingProxyType
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from levante.api import views
from levante.workflows.specs import FrozenDict, freeze, thaw


def reference(value: Any) -> str:
    """How the field was written before it had an encoder of its own: a plain copy, then dumps."""
    return json.dumps(thaw(value), default=str, ensure_ascii=False)


SCALARS = (st.none() | st.booleans() | st.integers() | st.floats() | st.text()
           | st.datetimes(timezones=st.just(timezone.utc)) | st.frozensets(st.integers(), max_size=3))
VALUES = st.recursive(
    SCALARS,
    lambda inner: (st.lists(inner, max_size=4) | st.lists(inner, max_size=4).map(tuple)
                   | st.dictionaries(st.text(), inner, max_size=4)
                   | st.dictionaries(st.text(), inner, max_size=4).map(FrozenDict)
                   | st.dictionaries(st.text(), inner, max_size=4).map(MappingProxyType)),
    max_leaves=25,
)


@given(VALUES)
def test_json_text_writes_any_value_as_dumps_of_its_plain_copy(value: Any) -> None:
    assert views.json_text(value) == reference(value)


def test_mappings_that_are_not_dicts_are_objects_and_other_values_their_str() -> None:
    value = freeze({"a": [1, {"b": (2, 3)}]})
    inner = MappingProxyType({"when": datetime(2026, 1, 2, 3, 4, 5), "s": "é\u2028", "n": None})
    assert views.json_text(value) == '{"a": [1, {"b": [2, 3]}]}'
    assert views.json_text(inner) == '{"when": "2026-01-02 03:04:05", "s": "é\u2028", "n": null}'
    assert views.json_text({1: MappingProxyType({})}) == '{"1": {}}'


def test_a_value_deeper_than_the_stack_is_still_written() -> None:
    deep: Any = 0
    for _ in range(5000):
        deep = {"k": [deep]}
    text = views.json_text(deep)
    assert text.startswith('{"k": [{"k": [') and text.endswith("]}" * 5000)
    assert text == views.deep_json_text(deep)


def test_an_action_execution_shows_its_params_as_an_empty_object() -> None:
    from levante.engine.records import ActionExecution

    view = views.action_execution_view(ActionExecution(id="a", name="std.noop", input=freeze({"x": (1,)})))
    assert view["params"] == "{}" and view["input"] == '{"x": [1]}' and view["output"] == "{}"


OFFSETS = st.integers(min_value=-23 * 60, max_value=23 * 60).map(lambda m: timezone(timedelta(minutes=m)))
ZONES = st.none() | st.just(timezone.utc) | OFFSETS


@given(st.datetimes(min_value=datetime(2, 1, 1), timezones=ZONES))
def test_a_time_is_shown_as_strftime_shows_it_in_utc(value: datetime) -> None:
    utc = value.astimezone(timezone.utc) if value.tzinfo is not None else value
    assert views.timestamp(value) == utc.strftime("%Y-%m-%d %H:%M:%S")


def test_times_are_shown_to_the_second_in_utc() -> None:
    assert views.timestamp(None) is None
    assert views.timestamp(datetime(2026, 12, 7, 15, 4, 5, 999999)) == "2026-12-07 15:04:05"
    later = datetime(2026, 12, 7, 23, 30, tzinfo=timezone(timedelta(hours=-2)))
    assert views.timestamp(later) == "2026-12-08 01:30:00"
