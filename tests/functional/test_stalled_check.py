"""The check behind "every execution ends" finds an execution left RUNNING with nothing to move it on,
both on the in-memory engine (rehearsals) and in the database (every test's Node, see
tests/conftest.py), and only such executions."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import update

from levante.config import load
from levante.db.models import ActionExecutionRow
from levante.db.session import transaction
from levante.engine.service.definitions import store
from levante.node import Node
from levante.states import State
from tests.scenarios.harness import make_engine

WAIT = """
version: '2.0'
wf:
  tasks:
    ask:
      action: std.async_noop
"""


def test_the_memory_engine_reports_an_execution_nothing_can_move() -> None:
    engine, _ = make_engine(WAIT)
    ex = engine.start("wf")
    assert engine.stalled() == []  # waiting for its callback: a reason a user can see
    (action,) = engine.actions.values()
    action.state = State.CANCELLED  # ended behind the engine's back: nothing will move it now
    assert engine.stalled() == [ex.id]


def test_the_database_check_reports_an_execution_nothing_can_move(tmp_path: Path) -> None:
    with Node(load(env={}, db_url=f"sqlite:///{tmp_path / 'levante.db'}")) as node:
        with transaction(node.session_factory) as session:
            store(session, "workflows", WAIT)
        ex = node.service.start_execution("wf")
        other = node.service.start_execution("wf")
        assert node.service.stalled() == []
        with transaction(node.session_factory) as session:
            session.execute(update(ActionExecutionRow).where(ActionExecutionRow.workflow_execution_id == ex.id)
                            .values(state="CANCELLED"))
        assert node.service.stalled() == [ex.id]
        assert other.id not in node.service.stalled()
        node.expect_stalled = True  # type: ignore[attr-defined]
