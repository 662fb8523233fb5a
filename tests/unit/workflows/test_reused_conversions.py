"""Data contexts converted for YAQL once per step, not once per evaluation
(``expressions.reused_conversions``): the same values, and each container converted once."""

from __future__ import annotations

from typing import Any

from yaql.language import utils

from levante.workflows import expressions
from levante.workflows.expressions.runtime import Scope, make_scope


class _Counting:
    """yaql's conversion, counting the containers it is asked to convert at the top."""

    def __init__(self) -> None:
        self.calls: list[Any] = []

    def __call__(self, value: Any) -> Any:
        self.calls.append(value)
        return utils.convert_input_data(value)


def _data(big: list[int], item: int) -> dict[str, Any]:
    return {"big": big, "nested": {"deep": [1, {"x": (2, 3)}]}, "item": item, "name": "n", "none": None}


def test_converted_values_are_those_of_yaql_whether_reused_or_not() -> None:
    big = list(range(50))
    plain = Scope(_data(big, 1), None).yaql_data(utils.convert_input_data)  # type: ignore[arg-type]
    with expressions.reused_conversions():
        reused = Scope(_data(big, 1), None).yaql_data(utils.convert_input_data)  # type: ignore[arg-type]
    assert reused == plain
    assert type(reused) is type(plain)
    assert reused["big"] == tuple(big) and reused["nested"] == plain["nested"]


def test_a_container_shared_by_the_contexts_of_a_step_is_converted_once() -> None:
    big = list(range(1000))
    counting = _Counting()
    with expressions.reused_conversions():
        for item in range(20):
            converted = make_scope(_data(big, item), None).yaql_data(counting)
            assert converted["item"] == item
    assert sum(1 for value in counting.calls if value is big) == 1
    outside = _Counting()
    for item in range(3):
        make_scope(_data(big, item), None).yaql_data(outside)
    assert len(outside.calls) == 3  # outside a step: the whole context each time


def test_a_new_object_is_converted_again_and_nested_steps_share_one_cache() -> None:
    counting = _Counting()
    first, second = [1, 2], [1, 2, 3]
    with expressions.reused_conversions():
        assert make_scope({"v": first}, None).yaql_data(counting)["v"] == (1, 2)
        with expressions.reused_conversions():
            assert make_scope({"v": first}, None).yaql_data(counting)["v"] == (1, 2)
            assert make_scope({"v": second}, None).yaql_data(counting)["v"] == (1, 2, 3)
    assert [c for c in counting.calls if isinstance(c, list)] == [first, second]


def test_expressions_give_the_same_results_in_a_step() -> None:
    data = {"items": list(range(10)), "m": {"a": [1, 2]}}
    texts = ["<% $.items.sum() %>", "<% $.m.a.len() + $.items[3] %>", "<% $.items.where($ > 7) %>",
             "<% dict(k => $.m).k.a %>"]
    plain = [expressions.evaluate(t, data) for t in texts]
    with expressions.reused_conversions():
        assert [expressions.evaluate(t, data) for t in texts] == plain
    assert plain == [45, 5, [8, 9], [1, 2]]
