"""Lifecycle requests on ended executions: a parent's cascading pause is ignored by a child that
ended meanwhile, a user's pause of an ended execution is refused."""

from __future__ import annotations

import pytest

from levante.engine import events as ev
from levante.exceptions import InvalidTransition
from tests.scenarios.harness import make_engine

WF = """
version: '2.0'
wf:
  tasks:
    t: {action: std.noop}
"""


def test_cascading_pause_of_an_ended_execution_is_ignored() -> None:
    engine, _ = make_engine(WF)
    ex = engine.start("wf")
    assert str(ex.state) == "SUCCESS"
    engine.send(ev.PauseRequested(ex.id, cascade=True))
    assert str(engine.execution(ex.id).state) == "SUCCESS"


def test_a_pause_request_for_an_ended_execution_is_refused() -> None:
    engine, _ = make_engine(WF)
    ex = engine.start("wf")
    with pytest.raises(InvalidTransition, match="from SUCCESS to PAUSED"):
        engine.send(ev.PauseRequested(ex.id))
