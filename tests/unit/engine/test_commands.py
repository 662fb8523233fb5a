"""Commands as data: a RunAction's dict form is what ``asdict`` gives, with its own copies of the
input and info at the top level, and reads back to the same command."""

from __future__ import annotations

from dataclasses import asdict

from levante.engine.commands import RunAction, Schedule
from levante.engine.events import TimerFired


def test_a_run_action_dict_is_its_fields_with_the_kind() -> None:
    run = RunAction(action_execution_id="ae", action_name="std.echo", input={"output": [1, {"x": 2}]},
                    execution_id="ex", task_execution_id="t", workflow_name="wf", target="gpu",
                    safe_rerun=True, timeout=3.5, info={"index": 2, "retry": 1})
    data = run.to_dict()
    assert data == {"kind": "run_action", **asdict(run)}
    assert list(data) == ["kind", *asdict(run)]
    assert data["input"] is not run.input and data["info"] is not run.info
    data["input"]["extra"] = True
    assert "extra" not in run.input
    assert RunAction.from_dict(run.to_dict()) == run


def test_other_commands_turn_their_events_into_dicts() -> None:
    schedule = Schedule(delay=2.0, event=TimerFired("ex", "t", "retry", 1))
    assert schedule.to_dict() == {"kind": "schedule", "delay": 2.0, "event": asdict(schedule.event)}
