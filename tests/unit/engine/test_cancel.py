"""Cancel in the pure engine (on the memory engine): what still runs ends CANCELLED in the same
step, the whole tree below too; a cancel or pause of an ended execution is refused."""

from __future__ import annotations

import pytest

from levante.engine import events as ev
from levante.engine.commands import AbandonWork
from levante.engine.lifecycle import refuse_request
from levante.engine.records import WorkflowExecution
from levante.exceptions import ConflictError
from levante.states import State
from tests.scenarios.harness import make_engine

WF = """
version: '2.0'
wf:
  tasks:
    waits:
      action: std.async_noop
      on-complete: [next]
    sub:
      workflow: child
    delayed:
      action: std.noop
      wait-before: 30
    next: {action: std.noop}
child:
  tasks:
    waits:
      action: std.async_noop
    deeper:
      workflow: grandchild
grandchild:
  tasks:
    waits:
      action: std.async_noop
"""


def _everything(engine):
    return ([str(e.state) for e in engine.executions.values()],
            [str(t.state) for tasks in engine.tasks.values() for t in tasks],
            [str(a.state) for a in engine.actions.values()])


@pytest.mark.parametrize("event, end", [
    (lambda ex_id: ev.CancelRequested(ex_id, message="stop"), "CANCELLED"),
    (lambda ex_id: ev.StopRequested(ex_id, "ERROR", message="forced"), "ERROR"),
    (lambda ex_id: ev.StopRequested(ex_id, "SUCCESS"), "SUCCESS"),
])
def test_everything_running_ends_in_the_same_step(event, end) -> None:
    engine, _ = make_engine(WF)
    ex = engine.start("wf")
    assert len(engine.executions) == 3 and len(engine.actions) == 3
    engine.send(event(ex.id))
    executions, tasks, actions = _everything(engine)
    assert str(engine.execution(ex.id).state) == end
    assert sorted(executions) == sorted([end, "CANCELLED", "CANCELLED"])
    assert set(tasks) == {"CANCELLED"} and set(actions) == {"CANCELLED"}
    assert engine.pending_actions == []
    # The wait-before timer comes due later: the cancelled task stays as it is.
    engine.run_to_end()
    assert _everything(engine) == (executions, tasks, actions)


def test_the_conductor_asks_for_the_tree_in_one_command() -> None:
    engine, _ = make_engine(WF)
    ex = engine.start("wf")
    commands = []
    carry_out = engine._carry_out

    def record(command):
        commands.append(command)
        carry_out(command)

    engine._carry_out = record
    engine.send(ev.CancelRequested(ex.id, message="stop"))
    abandon = [c for c in commands if isinstance(c, AbandonWork)]
    assert abandon == [AbandonWork(ex.id, f"workflow execution {ex.id} was cancelled", "stop")]
    assert not [c for c in commands if isinstance(getattr(c, "event", None), ev.CancelRequested)]
    child = next(e for e in engine.executions.values() if e.workflow_name == "child")
    assert child.state_info == "stop"
    task = engine.task(ex.id, "waits")
    assert task.state_info == f"Cancelled: workflow execution {ex.id} was cancelled."


def test_a_with_items_task_counts_its_running_items_as_cancelled() -> None:
    engine, _ = make_engine("""
version: '2.0'
wf:
  tasks:
    items:
      with-items: i in [1, 2, 3, 4]
      concurrency: 2
      action: std.async_noop
""")
    ex = engine.start("wf")
    engine.send(ev.CancelRequested(ex.id))
    wi = engine.task(ex.id, "items").runtime_context["with_items"]
    assert (wi["running"], wi["done"], wi["cancelled"], wi["next"]) == (0, 2, 2, 2)


@pytest.mark.parametrize("state", ["SUCCESS", "ERROR", "CANCELLED"])
def test_cancel_or_pause_of_an_ended_execution_is_refused(state) -> None:
    ex = WorkflowExecution(id="ex-1", workflow_name="wf", state=State(state))
    for event in (ev.CancelRequested("ex-1"), ev.PauseRequested("ex-1")):
        with pytest.raises(ConflictError, match=f"ex-1 cannot be .* already ended in state {state}"):
            refuse_request(ex, event)
    refuse_request(ex, ev.PauseRequested("ex-1", cascade=True))  # a parent's pause: ignored later
    refuse_request(ex, ev.StopRequested("ex-1", "ERROR"))  # Mistral's no-op stays
    refuse_request(ex, ev.ResumeRequested("ex-1"))


def test_a_running_execution_may_be_cancelled_or_paused() -> None:
    ex = WorkflowExecution(id="ex-1", workflow_name="wf", state=State.RUNNING)
    refuse_request(ex, ev.CancelRequested("ex-1"))
    refuse_request(ex, ev.PauseRequested("ex-1"))
