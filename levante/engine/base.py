"""What every part of the conductor shares: the state it works on, the ports, and the commands.

The conductor is split by concern into mixins (:mod:`tasks`, :mod:`transitions`, :mod:`machine`);
this base holds their common attributes and declares the methods one part calls in another.
"""

from __future__ import annotations

import random
from typing import Any, Callable

from levante.engine import events as ev
from levante.engine.commands import Command, Dispatch
from levante.engine.context import task_data
from levante.engine.limits import EngineLimits
from levante.engine.model import TaskExecution, WorkflowExecution, utcnow
from levante.engine.policies import PolicyError, value_of
from levante.engine.state import Catalog, ExecutionState, StateRuntime, Store
from levante.exceptions import ExpressionError
from levante.states import State, check_transition
from levante.workflows.specs import WorkflowSpec

#: Longest state_info kept (Mistral truncates at the same length).
MAX_STATE_INFO = 65500


class TaskFailure(Exception):
    """A task cannot start or complete for a reason that force-fails it (carries the message)."""


def generation(task_ex: TaskExecution) -> int:
    """How many times the task was rerun (timeouts are set once per run, across its retries)."""
    return int(task_ex.runtime_context.get("rerun_no", 0))


def attempt(task_ex: TaskExecution) -> int:
    """The task's attempt number: bumped by every retry and rerun, so stale results and timers of
    an earlier attempt are recognised."""
    return int(task_ex.runtime_context.get("attempt", 0))


class ConductorBase:
    """Shared attributes and helpers of the conductor's parts."""

    def __init__(self, state: ExecutionState, catalog: Catalog, store: Store | None = None,
                 clock: Callable[[], Any] = utcnow, rng: random.Random | None = None,
                 limits: EngineLimits | None = None) -> None:
        self.state = state
        self.catalog = catalog
        self.store = store
        self.clock = clock
        self.rng = rng or random.Random()
        self.limits = limits or EngineLimits()
        self.commands: list[Command] = []

    @property
    def ex(self) -> WorkflowExecution:
        """The workflow execution."""
        return self.state.execution

    @property
    def spec(self) -> WorkflowSpec:
        """The workflow spec."""
        return self.state.spec

    def runtime(self, current: TaskExecution | None = None) -> StateRuntime:
        """The expression runtime for an evaluation about ``current``."""
        return StateRuntime(self.state, self.store, current)

    def emit(self, command: Command) -> None:
        """Queue a command for the service to carry out after storing the state."""
        self.commands.append(command)

    def set_workflow_state(self, state: State, info: str | None = None) -> None:
        """Move the workflow execution, refusing what the state table refuses."""
        check_transition("workflow execution", self.ex.state, state)
        if self.ex.state != state:
            self.state.log("workflow_state", state=str(state), previous=str(self.ex.state), info=info)
            if state == State.PAUSED and self.ex.parent_id and self.ex.task_execution_id:
                # A paused sub-workflow pauses its task and its parent.
                self.emit(Dispatch(ev.SubworkflowPaused(self.ex.parent_id, self.ex.task_execution_id, self.ex.id)))
        self.ex.state = state
        self.ex.state_info = info[:MAX_STATE_INFO] if info else info
        self.ex.updated_at = self.clock()
        self.state.touch(self.ex)

    def set_task_state(self, task_ex: TaskExecution, state: State, info: str | None = None) -> None:
        """Change a task's state (tasks compare-and-set, as Mistral's do; no table check)."""
        if task_ex.state != state:
            self.state.log("task_state", task=task_ex.name, task_execution_id=task_ex.id,
                           state=str(state), previous=str(task_ex.state), info=info)
        task_ex.state = state
        task_ex.state_info = info[:MAX_STATE_INFO] if info else info
        task_ex.updated_at = self.clock()
        self.state.touch(task_ex)

    def policy_value(self, task_ex: TaskExecution, name: str, raw: Any, kind: str) -> Any:
        data = task_data(self.ex, task_ex)
        try:
            return value_of(name, raw, kind, data, self.runtime(task_ex))
        except (PolicyError, ExpressionError) as exc:
            raise TaskFailure(str(exc)) from None

    # --- implemented by the parts (declared here so each part can call the others) ----------

    def force_fail(self, task_ex: TaskExecution, message: str) -> None:
        """Fail the task and the workflow at once (machine)."""
        raise NotImplementedError

    def task_spec(self, task_ex: TaskExecution) -> Any:
        """The spec of a task execution (tasks)."""
        raise NotImplementedError

    def schedule_work(self, task_ex: TaskExecution) -> None:
        """Run the task's action(s) or sub-workflow(s) (tasks)."""
        raise NotImplementedError

    def finish(self, state: State, info: str | None = None) -> None:
        """Move the workflow to a terminal state (machine)."""
        raise NotImplementedError

    def process_transitions(self, task_ex: TaskExecution) -> None:
        """Follow a completed task's transitions (transitions)."""
        raise NotImplementedError

    def start_task(self, task_ex: TaskExecution, skip_policies: bool = False) -> None:
        """Start a task execution (tasks)."""
        raise NotImplementedError

    def new_task(self, name: str, in_context: dict[str, Any], in_versions: dict[str, int],
                 triggered_by: dict[str, str] | None, state: State = State.IDLE,
                 start: bool = True) -> TaskExecution:
        """Create and start a task execution (tasks)."""
        raise NotImplementedError

    def complete_task(self, task_ex: TaskExecution, state: State, result: Any, info: str | None = None) -> None:
        """Complete a task execution (tasks)."""
        raise NotImplementedError

    def continue_after_timer(self, task_ex: TaskExecution, purpose: str) -> None:
        """Carry on after a delay (tasks)."""
        raise NotImplementedError

    def publish(self, task_ex: TaskExecution, spec: Any) -> None:
        """Evaluate a task's publish spec (tasks)."""
        raise NotImplementedError

    def task_actions(self, task_ex: TaskExecution) -> list[Any]:
        """Every action execution of a task (tasks)."""
        raise NotImplementedError

    def run_again(self, env: dict[str, Any] | None = None) -> None:
        """Run again after a pause (machine)."""
        raise NotImplementedError

    def resume_work(self) -> None:
        """Carry on after a resume (transitions)."""
        raise NotImplementedError

    def reopen(self) -> None:
        """An ended execution runs again (tasks)."""
        raise NotImplementedError

    def rerun_failed_items(self, task_ex: TaskExecution) -> None:
        """Rerun only the failed items of a with-items task (tasks)."""
        raise NotImplementedError

    def run_reverse(self) -> bool:
        """Start runnable tasks of a reverse workflow (transitions)."""
        raise NotImplementedError

    def decide_joins(self) -> bool:
        """Decide waiting joins (transitions)."""
        raise NotImplementedError

