"""Run every rehearsal in tests/scenarios/cases/ (see harness.py for the file format).

A rehearsal whose file carries ``xfail: "<reason>"`` documents a known difference from Mistral:
it must fail (strict), so the marker has to go once the engine is fixed.
"""

from __future__ import annotations

import pathlib

import pytest

from tests.scenarios.harness import load_rehearsal

CASES = sorted((pathlib.Path(__file__).parent / "cases").glob("*.yaml"))


def _params() -> list:
    params = []
    for path in CASES:
        rehearsal = load_rehearsal(path)
        marks = [pytest.mark.xfail(reason=rehearsal.xfail, strict=True)] if rehearsal.xfail else []
        params.append(pytest.param(rehearsal, id=rehearsal.name, marks=marks))
    return params


@pytest.mark.parametrize("rehearsal", _params())
def test_rehearsal(rehearsal) -> None:
    rehearsal.run()


def test_there_are_rehearsals() -> None:
    assert len(CASES) >= 40
