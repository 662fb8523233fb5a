"""Property tests: whatever text comes in, the loader only ever raises the language's own errors.

`inspect` must return errors (never raise); `parse` may raise only ValidationError. Random text,
random YAML-shaped data and mutations of real definitions are tried.
"""

import pathlib

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from levante.exceptions import DSLError, SpecError, ValidationError
from levante.workflows import inspect, parse

EXAMPLES = sorted((pathlib.Path(__file__).resolve().parents[3] / "examples").glob("*.yaml"))
SEEDS = [p.read_text() for p in EXAMPLES]

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 5), st.floats(allow_nan=False, width=16),
    st.sampled_from(["std.noop", "t1", "t2", "fail", "<% $.x %>", "{{ _.x }}", "<% $.", "{{ _.",
                     "i in <% $.l %>", "i in [1, 2]", "count=1 delay=1", "all", "one", "direct",
                     "reverse", "2.0", "std.echo output=1", "x=", "fail(msg='a')", ""]),
    st.text(max_size=12),
)
keys = st.sampled_from([
    "version", "name", "tasks", "t1", "t2", "action", "workflow", "input", "output", "publish",
    "on-success", "on-error", "on-complete", "join", "requires", "with-items", "retry", "type",
    "task-defaults", "workflows", "actions", "base", "base-input", "next", "count", "delay",
    "concurrency", "timeout", "wait-before", "pause-before", "fail-on", "keep-result", "vars",
    "publish-on-error", "global", "branch", "x",
])
documents = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=5)), max_leaves=30)


def _check(text: str) -> None:
    document, errors = inspect(text)
    assert all(isinstance(e, SpecError) for e in errors)
    assert (document is None) == bool(errors)
    try:
        parse(text)
    except ValidationError as exc:
        assert exc.errors == errors
    except DSLError:  # pragma: no cover - parse wraps everything into ValidationError
        raise AssertionError("parse raised something other than ValidationError") from None


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=200))
def test_random_text(text):
    _check(text)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents)
def test_random_documents(data):
    _check(yaml.safe_dump(data, allow_unicode=True))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(SEEDS), st.integers(0, 10_000), st.integers(0, 10_000),
       st.sampled_from(["", ":", "-", " ", "\n", "'", "{", "[", "<%", "%>", "&a", "*a", "\t", "x: y"]))
def test_mutated_examples(seed, start, length, insert):
    start %= len(seed) + 1
    end = min(len(seed), start + length % 40)
    _check(seed[:start] + insert + seed[end:])


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(SEEDS), st.lists(st.tuples(st.sampled_from(list(range(6))), keys, scalars), max_size=4))
def test_structural_mutations(seed, edits):
    data = yaml.safe_load(seed)
    for depth, key, value in edits:
        node = data
        for _ in range(depth):
            children = [v for v in node.values() if isinstance(v, dict)] if isinstance(node, dict) else []
            if not children:
                break
            node = children[len(children) // 2]
        if isinstance(node, dict):
            node[key] = value
    _check(yaml.safe_dump(data))
