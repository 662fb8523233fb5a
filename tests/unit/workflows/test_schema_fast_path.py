"""The compiled validator that checks large documents first may only ever be stricter than
jsonschema, never looser: whatever it accepts, jsonschema accepts too (what it refuses goes to
jsonschema, whose messages users get). Checked on every document of the repository and on
thousands of mutations of them: wrong types, negative numbers, unknown keys, empty values."""

from __future__ import annotations

import copy
import pathlib
import random
from typing import Any

import pytest
import yaml

from levante.workflows import schemacheck
from levante.workflows.schema import DOCUMENTS
from levante.workflows.yamlsource import SourceMap

ROOT = pathlib.Path(__file__).resolve().parents[3]
ODD_VALUES: list[Any] = [True, False, None, 0, -1, 1.5, -0.5, "", "x", [], [1], {}, {"x": 1}, [[]], 10**30]


def _documents() -> list[Any]:
    found = []
    for folder in ("examples", "tests/fixtures", "tests/corpus/workbooks", "tests/scenarios/cases"):
        for path in sorted((ROOT / folder).rglob("*.yaml")):
            try:
                data = yaml.safe_load(path.read_text())
            except yaml.YAMLError:
                continue
            if isinstance(data, dict) and isinstance(data.get("workflow"), str):  # a rehearsal file
                try:
                    data = yaml.safe_load(data["workflow"])
                except yaml.YAMLError:
                    continue
            found.append(data)
    return found


def _places(data: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    if isinstance(data, dict):
        for k, v in data.items():
            out += _places(v, path + (k,))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out += _places(v, path + (i,))
    return out


def _set(data: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    parent = data
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = value
    return data


def _agree(kind: str, data: Any) -> None:
    if schemacheck._surely_valid(kind, data):
        assert schemacheck.check(kind, data, SourceMap()) == [], (kind, data)


DOCS = _documents()


def test_there_are_documents_to_check() -> None:
    assert len(DOCS) > 100


@pytest.mark.parametrize("kind", sorted(DOCUMENTS))
def test_the_compiled_validator_accepts_nothing_jsonschema_refuses(kind: str) -> None:
    rng = random.Random(14)
    accepted = 0
    for data in DOCS:
        _agree(kind, data)
        places = _places(data)
        for _ in range(12):
            mutant = copy.deepcopy(data)
            where = rng.choice(places)
            if rng.random() < 0.2 and isinstance(_get(mutant, where), dict):
                _get(mutant, where)[rng.choice(["bogus", "on-succes", "retry", "join", "with-items"])] = \
                    rng.choice(ODD_VALUES)
            else:
                mutant = _set(mutant, where, rng.choice(ODD_VALUES))
            _agree(kind, mutant)
            accepted += schemacheck._surely_valid(kind, mutant)
    assert accepted > 0  # some mutants are still valid documents: both sides were exercised


def test_a_large_document_is_checked_by_the_compiled_validator_first(monkeypatch: pytest.MonkeyPatch) -> None:
    tasks = {f"t{i}": {"action": "std.noop", "on-success": [f"t{i + 1}"]} for i in range(700)}
    tasks["t700"] = {"action": "std.noop"}
    doc = {"version": "2.0", "wf": {"tasks": tasks}}
    source = SourceMap(keys={("k", i): (1, 1) for i in range(schemacheck.FAST_FROM_KEYS + 1)})
    calls = []
    monkeypatch.setattr(schemacheck, "_validator", lambda kind: calls.append(kind))  # must not be reached
    assert schemacheck.check("workflows", doc, source) == []
    assert calls == []
    tasks["t3"]["retry"] = {"count": -1}  # invalid: the reference validator gives the message
    monkeypatch.undo()
    errors = schemacheck.check("workflows", doc, source)
    assert errors and "count" in str(errors[0].path)


def _get(data: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        data = data[step]
    return data
