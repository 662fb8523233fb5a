"""Unit tests of levante.workflows.expressions (YAQL and Jinja2 evaluation and validation)."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest
import yaml

from levante.exceptions import ExpressionError
from levante.workflows.expressions import (
    DataRuntime,
    ExpressionRuntime,
    evaluate,
    evaluate_string,
    has_expressions,
    validate,
)

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")

DATA: dict[str, Any] = {
    "a": 1,
    "b": "x",
    "flag": True,
    "nothing": None,
    "items": [1, 2, 3],
    "obj": {"k": "v", "n": {"deep": [10, 20]}},
    "users": [{"name": "ann", "age": 30}, {"name": "bob", "age": 17}],
    "__env": {"foo": "bar"},
    "__execution": {"id": "wf-ex-1", "name": "wf"},
    "__task_execution": {"name": "current", "result": "mine", "state": "RUNNING"},
    "__tasks": {
        "task1": {"name": "task1", "state": "SUCCESS", "result": {"out": 7}},
        "task2": {"name": "task2", "state": "ERROR", "result": "boom"},
    },
    "__global": {"x": 42},
}


class FakeRuntime:
    """A runtime recording the calls it gets."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def task(self, name: str | None) -> dict[str, Any] | None:
        self.calls.append(("task", (name,)))
        return {"name": name or "me", "result": f"result-of-{name}"}

    def tasks(
        self, workflow_execution_id: str | None, recursive: bool, state: str | None, flat: bool
    ) -> list[dict[str, Any]]:
        self.calls.append(("tasks", (workflow_execution_id, recursive, state, flat)))
        return [{"name": "t", "state": state}]

    def execution(self) -> dict[str, Any]:
        self.calls.append(("execution", ()))
        return {"id": "rt-ex"}

    def executions(
        self,
        id: str | None,  # noqa: A002
        root_execution_id: str | None,
        state: str | None,
        from_time: str | None,
        to_time: str | None,
    ) -> list[dict[str, Any]]:
        self.calls.append(("executions", (id, root_execution_id, state, from_time, to_time)))
        return [{"id": id}]

    def env(self) -> dict[str, Any]:
        self.calls.append(("env", ()))
        return {"foo": "from-runtime"}

    def global_var(self, name: str) -> Any:
        self.calls.append(("global", (name,)))
        return f"g-{name}"


def ev(text: str, data: dict[str, Any] | None = None, runtime: ExpressionRuntime | None = None) -> Any:
    return evaluate_string(text, DATA if data is None else data, runtime)


# --- typed whole-value results ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<% $.a %>", 1),
        ("<% $.a + 1 %>", 2),
        ("  <% $.a * 3 %>  ", 3),
        ("<% $.obj %>", {"k": "v", "n": {"deep": [10, 20]}}),
        ("<% $.items %>", [1, 2, 3]),
        ("<% $.nothing %>", None),
        ("<% null %>", None),
        ("<% $.flag %>", True),
        ("<% $.a > 0 and $.b = 'x' %>", True),
        ("<% $.obj.n.deep[1] %>", 20),
        ("<% 'ab' + 'cd' %>", "abcd"),
        ("<% 2.5 %>", 2.5),
    ],
)
def test_yaql_whole_value_is_typed(text: str, expected: Any) -> None:
    result = ev(text)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{{ _.a }}", 1),
        ("{{ _.a + 1 }}", 2),
        ("  {{ _.obj }} ", {"k": "v", "n": {"deep": [10, 20]}}),
        ("{{ _['items'] }}", [1, 2, 3]),
        ("{{ _.nothing }}", None),
        ("{{ _.flag }}", True),
        ("{{ {'a': {'b': 1}} }}", {"a": {"b": 1}}),
        ("{{- _.a -}}", 1),
        ("{{ (1, 2) }}", [1, 2]),
        ("{{ range(3) }}", [0, 1, 2]),
        ("{{ '%}' }}", "%}"),
    ],
)
def test_jinja_whole_value_is_typed(text: str, expected: Any) -> None:
    result = ev(text)
    assert result == expected
    assert type(result) is type(expected)


def test_results_are_new_plain_objects() -> None:
    result = ev("<% $.obj %>")
    assert type(result) is dict and result is not DATA["obj"]
    result = ev("{{ _.obj }}")
    assert type(result) is dict and result is not DATA["obj"]
    assert ev("<% $.items.toSet() %>") == [1, 2, 3] or sorted(ev("<% $.items.toSet() %>")) == [1, 2, 3]
    assert isinstance(ev("<% $.items.toSet() %>"), list)


# --- interpolation -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("x=<% $.a %>", "x=1"),
        ("<% $.a %>/<% $.b %>", "1/x"),
        ("n=<% $.nothing %> f=<% $.flag %>", "n=None f=True"),
        ("o=<% $.obj.n %>", "o={'deep': [10, 20]}"),
        ("l=<% $.items %>", "l=[1, 2, 3]"),
        ("no expression here", "no expression here"),
        ("<% not closed", "<% not closed"),
    ],
)
def test_yaql_interpolation_uses_python_str(text: str, expected: str) -> None:
    assert ev(text) == expected


def test_yaql_equal_occurrences_are_evaluated_once() -> None:
    first, second = ev("<% uuid() %> <% uuid() %>").split()
    assert first == second


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{{ _.a }}-{{ _.b }}", "1-x"),
        ("a={{ _.a }}", "a=1"),
        ("{% for i in _['items'] %}{{ i }},{% endfor %}", "1,2,3,"),
        ("{% if _.flag %}yes{% else %}no{% endif %}", "yes"),
        ("{{ _.b | upper }}{{ _['items'] | sum }}", "X6"),
        ("{% for u in _.users %}\n{{ u.name }}\n{% endfor %}", "ann\nbob\n"),
    ],
)
def test_jinja_templates_render_to_strings(text: str, expected: str) -> None:
    assert ev(text) == expected


def test_multi_line_yaql() -> None:
    text = "<% $.users\n   .where($.age > 18)\n   .select($.name) %>"
    assert ev(text) == ["ann"]
    assert validate(text) == []


# --- recursion -------------------------------------------------------------------------------


def test_recursion_through_dicts_and_lists_leaves_keys_alone() -> None:
    value = {
        "<% $.a %>": "<% $.a %>",
        "nested": {"list": ["{{ _.b }}", 5, None, ("<% $.a + 1 %>",)], "plain": "text"},
        "{{ _.a }}": [True, 2.5],
    }
    result = evaluate(value, DATA)
    assert result == {
        "<% $.a %>": 1,
        "nested": {"list": ["x", 5, None, [2]], "plain": "text"},
        "{{ _.a }}": [True, 2.5],
    }
    assert value["nested"]["list"][0] == "{{ _.b }}"  # input untouched


def test_non_string_scalars_are_returned_as_is() -> None:
    for scalar in (1, 2.5, None, True):
        assert evaluate(scalar, DATA) is scalar


def test_empty_data_is_still_evaluated() -> None:
    assert evaluate("<% 1 + 1 %>", {}) == 2
    assert evaluate("{{ 3 }}", {}) == 3
    assert evaluate("<% $ %>", {}) == {}


# --- built-in functions --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<% task(task1).result %>", {"out": 7}),
        ("<% task(task1).result.out %>", 7),
        ("<% task().result %>", "mine"),
        ("<% task(current).result %>", "mine"),
        ("<% task(nope) %>", None),
        ("<% tasks(state => ERROR).select($.name) %>", ["task2"]),
        ("<% tasks().len() %>", 2),
        ("<% execution().id %>", "wf-ex-1"),
        ("<% env().foo %>", "bar"),
        ("<% global(x) %>", 42),
        ("<% global(missing) %>", None),
        ("<% executions() %>", []),
        ("{{ task('task1').result.out }}", 7),
        ("{{ task().result }}", "mine"),
        ("{{ tasks(state='ERROR') | map(attribute='name') | list }}", ["task2"]),
        ("{{ execution().id }}", "wf-ex-1"),
        ("{{ env().foo }}", "bar"),
        ("{{ global('x') }}", 42),
        ("{{ 'task1' | task }}", {"name": "task1", "state": "SUCCESS", "result": {"out": 7}}),
    ],
)
def test_builtins_with_the_data_runtime(text: str, expected: Any) -> None:
    assert ev(text) == expected


def test_builtins_call_the_given_runtime() -> None:
    runtime = FakeRuntime()
    assert ev("<% task(t1).result %>", runtime=runtime) == "result-of-t1"
    found = ev("<% tasks(state => ERROR, recursive => true) %>", runtime=runtime)
    assert found == [{"name": "t", "state": "ERROR"}]
    assert ev("<% executions(id => e1) %>", runtime=runtime) == [{"id": "e1"}]
    assert ev("{{ env().foo }}", runtime=runtime) == "from-runtime"
    assert ev("<% global(v) %>", runtime=runtime) == "g-v"
    assert ev("<% execution().id %>", runtime=runtime) == "rt-ex"
    assert runtime.calls == [
        ("task", ("t1",)),
        ("tasks", (None, True, "ERROR", False)),
        ("executions", ("e1", None, None, None, None)),
        ("env", ()),
        ("global", ("v",)),
        ("execution", ()),
    ]


def test_tasks_positional_arguments() -> None:
    runtime = FakeRuntime()
    ev("<% tasks(wf1, true, ERROR, true) %>", runtime=runtime)
    ev("{{ tasks('wf2', flat=true) }}", runtime=runtime)
    assert runtime.calls == [("tasks", ("wf1", True, "ERROR", True)), ("tasks", ("wf2", False, None, True))]


def test_uuid_shape() -> None:
    assert UUID_RE.match(ev("<% uuid() %>"))
    assert UUID_RE.match(ev("{{ uuid() }}"))
    assert ev("<% uuid() %>") != ev("<% uuid() %>")


def test_json_and_yaml_round_trips() -> None:
    assert ev("<% json_parse(json_dump($.obj)) %>") == DATA["obj"]
    assert ev("<% yaml_parse(yaml_dump($.users)) %>") == DATA["users"]
    assert ev("{{ json_parse(json_dump(_.obj)) }}") == DATA["obj"]
    assert ev("{{ yaml_parse(_.obj | yaml_dump) }}") == DATA["obj"]
    assert ev("<% json_dump($.items) %>") == json.dumps([1, 2, 3], indent=4)
    assert ev("{{ _['items'] | json_dump }}") == json.dumps([1, 2, 3], indent=4)
    dumped = ev("<% yaml_dump($.obj) %>")
    assert yaml.safe_load(dumped) == DATA["obj"] and "{" not in dumped  # block style
    assert ev("<% json_parse('[1, {\"a\": null}]') %>") == [1, {"a": None}]


def test_json_pp() -> None:
    assert ev("<% json_pp($.obj) %>") == json.dumps(DATA["obj"], indent=4)
    assert json.loads(ev("<% json_pp() %>")) == DATA
    assert json.loads(ev("{{ json_pp() }}")) == DATA
    assert ev("{{ _.obj | json_pp }}") == json.dumps(DATA["obj"], indent=4)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<% len($.items) %>", 3),
        ("<% $.items.len() %>", 3),
        ("<% $.items.where($ > 1) %>", [2, 3]),
        ("<% $.items.select($ * 2) %>", [2, 4, 6]),
        ("<% $.items.select($*2) %>", [2, 4, 6]),
        ("<% dict(a => 1) %>", {"a": 1}),
        ("<% dict(a=>1) %>", {"a": 1}),
        ("<% list(1, 2) %>", [1, 2]),
        ("<% $.obj.keys() %>", ["k", "n"]),
        ("<% range(3) %>", [0, 1, 2]),
        ("<% $.items.sum() %>", 6),
        ("<% $.users.select($.name).join(',') %>", "ann,bob"),
        ("<% $.b.toUpper() %>", "X"),
        ("<% $.items.toSet().len() %>", 3),
        ("<% {a => $.a, b => [$.b]} %>", {"a": 1, "b": ["x"]}),
    ],
)
def test_yaql_standard_library(text: str, expected: Any) -> None:
    assert ev(text) == expected


# --- errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expression", "reason_part"),
    [
        # YAQL: named as written between the delimiters (Mistral evaluates each <% %> alone).
        ("<% $.a.foo() %>", "$.a.foo()", 'Unknown method "foo"'),
        ("x <% foo() %> y", "foo()", 'Unknown function "foo"'),
        ("<% $.a + %>", "$.a +", "Parse error"),
        ("<% %>", "", "Parse error"),
        ("<% json_parse('{') %>", "json_parse('{')", "JSONDecodeError"),
        ("<% $.missing.x %>", "$.missing.x", ""),
        # A missing key is an error, as in Mistral (its conformance case
        # error_workflow_output_expression fails a workflow whose output reads $.invalid_yaql_variable).
        ("<% $.missing %>", "$.missing", "missing"),
        ("<% $.obj.missing %>", "$.obj.missing", "missing"),
        # Jinja: named by the whole string, delimiters included (Mistral renders it whole).
        ("{{ _.missing }}", "{{ _.missing }}", "'dict object' has no attribute 'missing'"),
        ("a {{ _.missing }}", "a {{ _.missing }}", "'dict object' has no attribute 'missing'"),
        ("{{ [_.missing] }}", "{{ [_.missing] }}", "has no attribute 'missing'"),
        ("{{ undefined_name }}", "{{ undefined_name }}", "'undefined_name' is undefined"),
        ("{{ _.a + }}", "{{ _.a + }}", "unexpected"),
        ("{% if %}x{% endif %}", "{% if %}x{% endif %}", "Expected an expression"),
        ("{{ _.items }}", "{{ _.items }}", "callable"),
        ("{{ nofunc() }}", "{{ nofunc() }}", "undefined"),
        ("{{ json_parse('{') }}", "{{ json_parse('{') }}", "JSONDecodeError"),
    ],
)
def test_failures_raise_expression_error(text: str, expression: str, reason_part: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        ev(text)
    assert caught.value.expression == expression
    assert reason_part in caught.value.reason
    language = "Jinja" if "{{" in text or "{%" in text else "YAQL"
    assert str(caught.value) == (
        f"Can not evaluate {language} expression [expression={expression}, error={caught.value.reason}, "
        f"data={caught.value.data}]")


def test_the_message_is_mistrals_with_the_data_context() -> None:
    data = {"n": 0, "items": ("a", "b")}
    with pytest.raises(ExpressionError) as caught:
        ev("<% task().result / $.n %>", data)
    assert str(caught.value).startswith("Can not evaluate YAQL expression [expression=task().result / $.n, error=")
    assert str(caught.value).endswith(", data={'n': 0, 'items': ['a', 'b']}]")
    with pytest.raises(ExpressionError) as caught:
        ev("{{ _.n.x }}", data)
    assert str(caught.value).startswith("Can not evaluate Jinja expression [expression={{ _.n.x }}, error=")
    assert str(caught.value).endswith(", data={'n': 0, 'items': ['a', 'b']}]")


def test_a_large_data_context_is_cut_in_the_message() -> None:
    with pytest.raises(ExpressionError) as caught:
        ev("<% $.missing %>", {"big": "x" * 10_000})
    shown = str(caught.value).split(", data=", 1)[1]
    assert len(shown) == ExpressionError.DATA_SHOWN + 1 and shown.endswith("...]")


@pytest.mark.parametrize(
    "text",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ ''.__class__ }}",
        "{{ _.__class__.__init__.__globals__ }}",
        "{{ task.__globals__ }}",
        "x {{ ().__class__.__bases__[0].__subclasses__() }}",
    ],
)
def test_jinja_sandbox_refuses_private_attributes(text: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        ev(text)
    assert "unsafe" in caught.value.reason or "undefined" in caught.value.reason


def test_errors_inside_nested_values_are_expression_errors() -> None:
    with pytest.raises(ExpressionError):
        evaluate({"a": [{"b": "<% $.x.nope() %>"}]}, DATA)


def test_evaluate_string_rejects_non_strings() -> None:
    with pytest.raises(ExpressionError):
        evaluate_string(5, DATA)  # type: ignore[arg-type]


def test_runtime_errors_are_wrapped() -> None:
    class Broken(FakeRuntime):
        def env(self) -> dict[str, Any]:
            raise KeyError("no env")

    with pytest.raises(ExpressionError, match="KeyError"):
        ev("<% env() %>", runtime=Broken())
    with pytest.raises(ExpressionError, match="KeyError"):
        ev("{{ env() }}", runtime=Broken())


# --- validation and detection ---------------------------------------------------------------------


def test_validate_reports_yaql_syntax_error_naming_the_expression() -> None:
    problems = validate("<% $.a + %>")
    assert len(problems) == 1
    path, message = problems[0]
    assert path == ""
    assert message.startswith("invalid YAQL expression '<% $.a + %>': ")
    assert "Parse error" in message


def test_validate_reports_jinja_syntax_error_naming_the_expression() -> None:
    problems = validate({"x": "{{ _.a + }}"})
    assert problems == [(".x", "invalid Jinja2 expression '{{ _.a + }}': unexpected 'end of template'")]
    assert validate("{{ _.a | nosuchfilter }}")[0][1].startswith("invalid Jinja2 expression")


def test_validate_reports_mixed_languages() -> None:
    assert validate("<% $.a %> and {{ _.b }}") == [
        ("", "mixes YAQL and Jinja2 expressions: '<% $.a %> and {{ _.b }}'")
    ]


def test_validate_paths_and_keys() -> None:
    value = {
        "a": {"b": ["ok <% $.x %>", "<% $.y + %>"]},
        "<% broken key + %>": "fine",
        "list": [1, None, {"k": "{% for %}"}],
        "good": "{{ _.a }} <% ignored in jinja? %>",
    }
    problems = validate(value)
    paths = [path for path, _message in problems]
    assert paths == [".a.b[1]", ".list[2].k", ".good"]


def test_validate_accepts_good_values() -> None:
    assert validate({"a": ["<% $.a %>", "x{{ _.a }}y", "{% for i in _ %}{{ i }}{% endfor %}", 3, None]}) == []
    assert validate("plain") == []
    assert validate(42) == []


def test_validate_reports_each_bad_yaql_piece() -> None:
    problems = validate("<% 1 + %> and <% ) %>")
    assert [message.split(":")[0] for _path, message in problems] == [
        "invalid YAQL expression '<% 1 + %>'",
        "invalid YAQL expression '<% ) %>'",
    ]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("<% $.a %>", True),
        ("x {{ y }}", True),
        ("{% if x %}{% endif %}", True),
        ("<% multi\nline %>", True),
        ("plain", False),
        ("<% unterminated", False),
        ("{{ unterminated", False),
        ({"k": ["a", {"n": "<% 1 %>"}]}, True),
        ({"<% key %>": "value"}, False),
        ([1, 2.5, None, True], False),
        (("a", "{{ 1 }}"), True),
        (7, False),
    ],
)
def test_has_expressions(value: Any, expected: bool) -> None:
    assert has_expressions(value) is expected


# --- DataRuntime ---------------------------------------------------------------------------------------


def test_data_runtime() -> None:
    runtime = DataRuntime(DATA)
    assert runtime.env() == {"foo": "bar"}
    assert runtime.global_var("x") == 42 and runtime.global_var("nope") is None
    assert runtime.execution() == {"id": "wf-ex-1", "name": "wf"}
    assert runtime.task(None)["name"] == "current"
    assert runtime.task("current")["result"] == "mine"
    assert runtime.task("task2")["result"] == "boom"
    assert runtime.task("zzz") is None
    assert [t["name"] for t in runtime.tasks(None, False, None, False)] == ["task1", "task2"]
    assert [t["name"] for t in runtime.tasks(None, False, "ERROR", False)] == ["task2"]
    assert runtime.executions(None, None, None, None, None) == []
    empty = DataRuntime({})
    assert empty.env() == {} and empty.execution() == {} and empty.task(None) is None
    assert empty.tasks(None, False, None, False) == [] and empty.global_var("x") is None
    assert isinstance(runtime, ExpressionRuntime)


# --- speed ----------------------------------------------------------------------------------------------


def test_ten_thousand_evaluations_are_fast() -> None:
    value = {"x": "<% $.a + 1 %>", "y": "{{ _.a }}"}
    data = {"a": 1}
    assert evaluate(value, data) == {"x": 2, "y": 1}
    started = time.perf_counter()
    for _ in range(10_000):
        evaluate(value, data)
    elapsed = time.perf_counter() - started
    assert elapsed < 3.0, f"10,000 evaluations took {elapsed:.2f}s"


def test_concurrent_evaluations_from_threads() -> None:
    from concurrent.futures import ThreadPoolExecutor

    def work(i: int) -> tuple[Any, Any, Any]:
        data = {"i": i}
        return (
            evaluate_string(f"<% $.i + {i} %>", data),
            evaluate_string(f"<% list($.i, {i}).sum() %>", data),
            evaluate_string(f"{{{{ _.i * {i} }}}}", data),
        )

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(work, range(200)))
    assert results == [(2 * i, 2 * i, i * i) for i in range(200)]
