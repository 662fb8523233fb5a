"""The in-memory engine's virtual clock: a timer set while another fires is due relative to the
time it was set, whatever the step by which the clock is moved."""

from __future__ import annotations

from tests.scenarios.harness import advance, make_engine

WF = """
version: '2.0'
wf:
  tasks:
    task1:
      action: std.fail
      wait-before: 1
      retry: {count: 3, delay: 1}
"""


def _run(move) -> list[str]:
    engine, _ = make_engine(WF)
    ex = engine.start("wf")
    move(engine)
    task = engine.task(ex.id, "task1")
    return [str(task.state), len(engine.action_executions(task.id))]


def test_stepping_timer_by_timer() -> None:
    # wait-before fires at 1 s, the attempts fail at 1, 2, 3 and 4 s.
    assert _run(lambda engine: advance(engine, 5)) == ["ERROR", 4]


def test_advance_by_seconds_fires_chained_timers_in_time() -> None:
    assert _run(lambda engine: engine.advance(5)) == ["ERROR", 4]
