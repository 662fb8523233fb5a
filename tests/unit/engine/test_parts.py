"""The conductor's parts: each calls only the parts below it (a callback's path reads top to
bottom), and task state changes go through the task state table."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import levante.engine
from levante.engine.decision import Decision
from levante.engine.loaded import ExecutionState
from levante.engine.records import TaskExecution, WorkflowExecution
from levante.exceptions import InvalidTransition
from levante.states import TASK_TRANSITIONS, State, can_transition
from levante.workflows.specs import WorkflowSpec

#: Top to bottom; a part may import only parts after it.
ORDER = ["conductor", "lifecycle", "transitions", "tasks", "work", "policies", "ending", "decision"]
LEVEL = {name: i for i, name in enumerate(ORDER)}
ENGINE = Path(levante.engine.__file__).parent


def _imported_parts(module: str) -> set[str]:
    tree = ast.parse((ENGINE / f"{module}.py").read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "levante.engine":
                found |= {alias.name for alias in node.names}
            elif node.module.startswith("levante.engine."):
                found.add(node.module.split(".")[2])
    return found & set(ORDER)


@pytest.mark.parametrize("module", ORDER)
def test_a_part_calls_only_the_parts_below_it(module: str) -> None:
    above = {p for p in _imported_parts(module) if LEVEL[p] <= LEVEL[module] and p != module}
    assert above == set(), f"{module} imports {sorted(above)}, which are not below it"


def test_every_task_state_has_a_row() -> None:
    assert set(TASK_TRANSITIONS) == set(State)


@pytest.mark.parametrize(("current", "requested", "allowed"), [
    (State.IDLE, State.RUNNING, True),
    (State.SUCCESS, State.WAITING, True),       # a join in a loop waits again
    (State.ERROR, State.SKIPPED, True),         # skip
    (State.CANCELLED, State.RUNNING, True),     # rerun
    (State.SUCCESS, State.RUNNING, False),      # only a retry's timer runs a task again
    (State.SKIPPED, State.RUNNING, False),
    (State.PAUSED, State.SUCCESS, False),       # a paused task resumes before it completes
    (State.IDLE, State.SUCCESS, False),
])
def test_the_task_table(current: State, requested: State, allowed: bool) -> None:
    assert can_transition(current, requested, TASK_TRANSITIONS) is allowed


def test_an_illegal_task_state_change_raises() -> None:
    spec = WorkflowSpec(name="wf")  # type: ignore[call-arg]
    state = ExecutionState(execution=WorkflowExecution(id="e", workflow_name="wf"), spec=spec)
    task_ex = TaskExecution(id="t", name="a", workflow_execution_id="e", workflow_name="wf", state=State.SUCCESS)
    decision = Decision(state, catalog=None)  # type: ignore[arg-type]
    with pytest.raises(InvalidTransition, match="task execution state from SUCCESS to RUNNING"):
        decision.set_task_state(task_ex, State.RUNNING)
    assert task_ex.state == State.SUCCESS and not state.changed
    decision.set_task_state(task_ex, State.DELAYED, "Delayed by 'wait-after' policy")
    assert task_ex.state == State.DELAYED and state.history[-1][0] == "task_state"
