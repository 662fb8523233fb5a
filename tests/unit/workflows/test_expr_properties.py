"""Property tests of levante.workflows.expressions.

* ``validate`` never raises and ``evaluate`` raises nothing but ExpressionError, whatever the text.
* The YAQL fast path gives exactly what the yaql engine gives (value, type, or an error).
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from levante.exceptions import ExpressionError
from levante.workflows.expressions import evaluate, evaluate_string, has_expressions, validate, yaql_lang

DATA: dict[str, Any] = {
    "a": 1,
    "b": "x",
    "l": [1, "two", None, {"k": 3}],
    "d": {"k": "v", "n": {"m": 2.5}},
    "t": True,
    "z": None,
    # What the engine's runtime answers task() and task(name) from (DataRuntime).
    "__task_execution": {"name": "t1", "state": "SUCCESS", "result": {"step": 3, "l": [1, "x"]}},
    "__tasks": {"t0": {"name": "t0", "state": "ERROR", "result": "boom"}},
}

FRAGMENTS = st.sampled_from(
    [
        "$", ".", "a", "b", "l", "d", "k", "(", ")", "[", "]", "{", "}", "+", "-", "*", "/", "=", "!=",
        "<", ">", "and", "or", "not", "'", '"', ",", "=>", "0", "1", "-1", "2.5", "null", "true", " ",
        "\n", "len", "select", "where", "task", "tasks", "json_parse", "yaml_parse", "json_dump", "uuid",
        "env", "global", "execution", "_", "|", "%", "#", "__class__", "range", "dict", "list", "?",
        "\\", "é", "{{", "}}", "<%", "%>", "{%", "%}",
    ]
)
FRAGMENT_TEXT = st.lists(FRAGMENTS, max_size=12).map("".join)
ANY_TEXT = st.one_of(st.text(max_size=40), FRAGMENT_TEXT)


@st.composite
def wrapped(draw: st.DrawFn) -> str:
    body = draw(ANY_TEXT)
    kind = draw(st.sampled_from(["yaql", "jinja", "block", "inline-yaql", "inline-jinja"]))
    return {
        "yaql": f"<% {body} %>",
        "jinja": f"{{{{ {body} }}}}",
        "block": f"{{% {body} %}}",
        "inline-yaql": f"x <% {body} %> y",
        "inline-jinja": f"x {{{{ {body} }}}} y",
    }[kind]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.one_of(wrapped(), ANY_TEXT))
def test_validate_never_raises_and_evaluate_raises_only_expression_errors(text: str) -> None:
    problems = validate(text)
    assert isinstance(problems, list)
    assert all(isinstance(p, str) and isinstance(m, str) for p, m in problems)
    validate({"k": [text]})
    has_expressions(text)
    try:
        evaluate_string(text, DATA)
        evaluate({"k": [text]}, DATA)
    except ExpressionError:
        pass


@settings(max_examples=100, deadline=None)
@given(text=wrapped())
def test_validate_problems_mean_evaluation_fails(text: str) -> None:
    if validate(text):
        with pytest.raises(ExpressionError):
            evaluate_string(text, DATA)


# --- fast path against the yaql engine ----------------------------------------------------------------

LEAVES = st.sampled_from(
    ["$", "$.a", "$.b", "$.l", "$.d", "$.t", "$.z", "$.missing", "$.d.k", "$.d.n.m", "$.l[0]", "$.l[1]",
     "$.l[-1]", "$.l[9]", "$.d['k']", "$.d['nope']", "$.l[3].k", "$.a.b", "0", "1", "-2", "2.5", "'x'",
     "'s'", "''", "null", "true", "false", "ERROR", "$.d[$.b]", "$.l[$.a]", "$.l[true]",
     "task()", "task().result", "task().result.step", "task().result.l[1]", "task().result.nope", "task(t0).result",
     "task('t1').state", "task(t0).result.x", "task(nope)", "task(nope).result", "task().name.x"]
)
BINARY = st.sampled_from(["+", "-", "*", "=", "!=", "<", "<=", ">", ">=", "and", "or"])


def _expressions() -> st.SearchStrategy[str]:
    return st.recursive(
        LEAVES,
        lambda inner: st.one_of(
            st.tuples(inner, BINARY, inner).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
            inner.map(lambda e: f"not {e}"),
            inner.map(lambda e: f"-{e}"),
            inner.map(lambda e: f"({e})"),
        ),
        max_leaves=6,
    )


def _outcome(text: str, fast: bool) -> tuple[str, Any]:
    previous = yaql_lang.FAST_PATH
    yaql_lang.FAST_PATH = fast
    try:
        value = evaluate_string(text, DATA)
        return "ok", (type(value).__name__, value)
    except ExpressionError as error:
        return "error", error.expression
    finally:
        yaql_lang.FAST_PATH = previous


@settings(max_examples=600, deadline=None)
@given(expression=_expressions(), inline=st.booleans())
def test_fast_path_matches_yaql_engine(expression: str, inline: bool) -> None:
    text = f"v=<% {expression} %>" if inline else f"<% {expression} %>"
    assert _outcome(text, fast=True) == _outcome(text, fast=False)


@pytest.mark.parametrize(
    "expression",
    ["$.a + 1", "$.d.n.m * 2", "$.b + 's'", "$.l[3].k >= 3", "not $.z", "$.t and $.b", "$.z or $.d",
     "$.a = 1.0", "$.b = ERROR", "$", "$.l", "-$.a", "$.l[$.a]", "task().result.step", "task(t0).result",
     "task().result.l[1] + 'y'", "task(t1).state = 'SUCCESS'"],
)
def test_fast_path_known_cases(expression: str) -> None:
    assert yaql_lang._prepare(expression).fast is not None, "expected to be in the fast subset"
    for text in (f"<% {expression} %>", f"x <% {expression} %>"):
        assert _outcome(text, fast=True) == _outcome(text, fast=False)


@pytest.mark.parametrize("expression", ["task($.b)", "task(name => t0)", "task(t0, 1)", "tasks()", "len($.l)"])
def test_outside_the_fast_subset(expression: str) -> None:
    assert yaql_lang._prepare(expression).fast is None
