"""One decision about one workflow execution: the state it changes, the ports it reads through, and
the commands it emits.

Every part of the conductor (:mod:`~levante.engine.lifecycle`, :mod:`~levante.engine.transitions`,
:mod:`~levante.engine.tasks`, :mod:`~levante.engine.work`, :mod:`~levante.engine.policies`,
:mod:`~levante.engine.ending`) is a module of functions that take the :class:`Decision` as their
first argument; nothing else is shared between them.
"""

from __future__ import annotations

import random
from typing import Any, Callable

from levante.engine import events as ev
from levante.engine.commands import Command, Dispatch
from levante.engine.limits import EngineLimits
from levante.engine.loaded import Catalog, ExecutionState, StateRuntime, Store
from levante.engine.records import ActionExecution, TaskExecution, WorkflowExecution, utcnow
from levante.states import TASK_TRANSITIONS, State, check_transition
from levante.workflows.specs import TaskSpec, WorkflowSpec

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


class Decision:
    """The state, the ports and the commands of one call to the conductor."""

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
        #: Tasks that completed and wait for their transitions to be followed. The task part
        #: queues them; the transitions part follows them right after each call into the task
        #: part, so the task part never calls back up.
        self.completed: list[TaskExecution] = []
        #: Whether a waiting join may have lost an inbound task since the joins were last decided
        #: (a task left a transition untaken, a join began to wait, or the event was not a plain
        #: completion). While it is False, a join with fewer arrivals than it needs cannot be
        #: decided, so it is not looked at: a step of an N-way join costs O(1), not O(N).
        self.reach_changed = True
        #: With-items chunks read during this decision, by (task execution id, attempt, number):
        #: a step applying 256 results of one task starts 256 items from the same chunk or two.
        self.item_chunks: dict[tuple[str, int, int], list[list[Any]]] = {}

    @property
    def ex(self) -> WorkflowExecution:
        """The workflow execution."""
        return self.state.execution

    @property
    def spec(self) -> WorkflowSpec:
        """The workflow spec."""
        return self.state.spec

    def task_spec(self, task_ex: TaskExecution) -> TaskSpec:
        """The spec of a task execution."""
        return self.spec.tasks[task_ex.name]

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
        """Move a task execution, refusing what the task state table refuses (a refused change
        is a bug of the engine: :class:`~levante.exceptions.InvalidTransition` is raised)."""
        check_transition("task execution", task_ex.state, state, TASK_TRANSITIONS)
        if task_ex.state != state:
            self.state.log("task_state", task=task_ex.name, task_execution_id=task_ex.id,
                           state=str(state), previous=str(task_ex.state), info=info)
        task_ex.state = state
        task_ex.state_info = info[:MAX_STATE_INFO] if info else info
        task_ex.updated_at = self.clock()
        self.state.touch(task_ex)

    def task_actions(self, task_ex: TaskExecution) -> list[ActionExecution]:
        """Every action execution of a task: stored ones updated by those changed in this decision."""
        found = {a.id: a for a in (self.store.action_executions(task_ex.id) if self.store else [])}
        for action_ex in self.state.actions.values():
            if action_ex.task_execution_id == task_ex.id:
                found[action_ex.id] = action_ex
        return sorted(found.values(), key=lambda a: a.created_at)

    def unaccept_results(self, task_ex: TaskExecution) -> None:
        """The task's accepted action results no longer count (before a retry or a rerun)."""
        for action_ex in self.task_actions(task_ex):
            if action_ex.accepted:
                action_ex.accepted = False
                self.state.touch(action_ex)
