"""The plain reader (libyaml's events to values in one loop, positions read only when asked for)
against the reference reader (PyYAML's composer and a walk over its nodes, keeping positions).

Whatever the text, the plain reader either declines it or gives the very values of the reference
reader, types included (YAML 1.1: ``yes`` is a boolean, ``0x1F`` an integer); and validating
with it gives the same errors and warnings, at the same lines and columns, as without it.
"""

import math
import pathlib
import re
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from levante.workflows import check, yamlsource

ROOT = pathlib.Path(__file__).resolve().parents[3]
FILES = sorted((ROOT / "examples").glob("*.yaml")) + sorted((ROOT / "tests" / "fixtures").glob("*/*.yaml"))
SEEDS = [p.read_text() for p in FILES]
#: Definitions the reference reader must read: not YAML, not one document, duplicate or non-string keys.
DECLINED = re.compile(
    r"yaml_|two_documents|empty_document|duplicate_(key|workflow_name)|task_name_(boolean|integer|on)")

#: Scalars whose type YAML 1.1 (PyYAML's SafeLoader) decides in ways YAML 1.2 does not.
TRICKY = ["yes", "No", "on", "OFF", "y", "n", "~", "null", "Null", "", "0x1F", "0o17", "017", "0b101",
          "1_000", "+12", "-0", "1e3", "1.5e3", "6.8523015e+5", ".inf", "-.Inf", ".nan", "1:30", "190:20:30",
          "2001-12-14", "2001-12-14t21:59:43.10-05:00", "=", "<<", "!", "'quoted'", "a: b", "- x",
          "2.0", "2", "true", "True", "TRUE", "tRUE", "std.noop", "<% $.x %>", "{{ _.x }}", "é", "\t"]


def _same(a: Any, b: Any) -> bool:
    """Equal, and of the same types all the way down (1 == True == 1.0 is not enough)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return bool(a == b)


def _agree(text: str) -> bool:
    """Whether the plain reader read ``text``; asserts it agrees with the reference reader."""
    plain = yamlsource._load_plain(text)
    if plain is None:
        return False
    reference = yamlsource._load_marked(text)
    assert reference.errors == []
    assert _same(plain.data, reference.data), text
    assert plain.source.size == len(reference.source.keys)
    for path, span in reference.source.spans.items():
        if len(path) <= yamlsource.OUTLINE_DEPTH:
            assert plain.source.span(path) == span, (text, path)
    assert plain.source.keys == reference.source.keys
    assert plain.source.values == reference.source.values
    assert plain.source.spans == reference.source.spans
    return True


def _validate_both_ways(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    fast = check(text)
    with monkeypatch.context() as patch:
        patch.setattr(yamlsource, "_load_plain", lambda text: None)
        reference = check(text)
    assert fast.errors == reference.errors
    assert fast.warnings == reference.warnings
    assert fast.document == reference.document


scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.sampled_from(TRICKY),
                    st.text(max_size=8))
keys = st.one_of(st.sampled_from(TRICKY), st.text(max_size=6))
documents = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=4)), max_leaves=25)
styles = st.sampled_from([{}, {"default_flow_style": True}, {"default_style": '"'}, {"default_style": "'"},
                          {"default_flow_style": False, "width": 20}])


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents, styles)
def test_dumped_data_reads_the_same(data: Any, style: dict[str, Any]) -> None:
    _agree(yaml.safe_dump(data, allow_unicode=True, **style))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(TRICKY), st.sampled_from(TRICKY)), min_size=1, max_size=6))
def test_plain_scalars_written_by_hand_read_the_same(pairs: list[tuple[str, str]]) -> None:
    text = "".join(f"k{i}: {value}\n{key}: [{value}, {key}]\n" for i, (key, value) in enumerate(pairs))
    _agree(text)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(SEEDS), st.integers(0, 10_000), st.integers(0, 10_000),
       st.sampled_from(["", ":", "-", " ", "\n", "'", "{", "[", "<%", "&a ", "*a", "!!str ", "<<: ", "yes",
                        "\t", "x: y", "---\n", "~"]))
def test_mutated_definitions_read_the_same(seed: str, start: int, length: int, insert: str) -> None:
    start %= len(seed) + 1
    _agree(seed[:start] + insert + seed[min(len(seed), start + length % 40):])


def test_the_definitions_of_the_repository_are_read_by_the_plain_reader() -> None:
    declined = [path.name for path, text in zip(FILES, SEEDS, strict=True) if not _agree(text)]
    assert all(DECLINED.match(name) for name in declined), declined
    assert len(declined) < len(FILES) // 4


@pytest.mark.parametrize("text", [
    "a: &x 1\nb: *x\n",             # anchors and aliases
    "a: !!str 1\n",                 # a tag
    "base: &b {x: 1}\nc:\n  <<: *b\n",  # a merge key
    "a: 1\na: 2\n",                 # a duplicate key: reported by the reference reader
    "yes: 1\n",                     # a key read as a boolean: reported too
    "[a]: 1\n",                     # a collection as a key
    "a: 2001-12-14\n",              # a timestamp
    "a: =\n",                       # YAML's "value" tag, which the safe constructor refuses
    "a: 1\n---\nb: 2\n",            # two documents
    "",                             # none
    "a: [1, 2\n",                   # not YAML
])
def test_what_the_plain_reader_declines(text: str) -> None:
    assert yamlsource._load_plain(text) is None


@pytest.mark.parametrize("seed", range(len(SEEDS)))
def test_validation_gives_the_same_errors_and_warnings(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    _validate_both_ways(SEEDS[seed], monkeypatch)


def _fanout(n: int, extra: str = "") -> str:
    lines = ["version: '2.0'", "wf:", "  tasks:", "    start:", "      action: std.noop", "      on-success:"]
    lines += [f"        - b{i}" for i in range(n)]
    lines += [line for i in range(n) for line in (f"    b{i}:", "      action: std.noop", "      on-success: join")]
    lines += ["    join:", "      join: all", "      action: std.noop"]
    return "\n".join(lines) + "\n" + extra


def test_a_valid_document_never_reads_positions(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    reference = yamlsource._load_marked
    monkeypatch.setattr(yamlsource, "_load_marked", lambda text: calls.append(text) or reference(text))
    text = _fanout(3000)
    validation = check(text)
    assert validation.errors == [] and len(validation.document.workflows["wf"].tasks) == 3002
    assert calls == []
    assert validation.document.workflows["wf"].definition == reference(text).slice(("wf",))


@pytest.mark.parametrize("mistake", [
    "    late:\n      action: std.noop\n      on-success: nowhere\n",       # a semantic error, at the end
    "    late:\n      action: std.noop\n      retry: {count: -1, delay: 1}\n",  # a schema error
    "    late:\n      action: std.echo output=<% $.x %> bad\n",              # a warning
    "    late:\n      action: std.noop\n      publish:\n        x: <% $. %>\n",  # an expression error
])
def test_errors_of_a_large_document_are_placed_as_before(mistake: str, monkeypatch: pytest.MonkeyPatch) -> None:
    text = _fanout(2000, mistake)
    _validate_both_ways(text, monkeypatch)
    validation = check(text)
    problems = validation.errors + validation.warnings
    assert problems and all(p.line >= text.count("\n") - 3 for p in problems), problems
