"""An engine that keeps everything in memory and runs on a virtual clock.

It drives the same :class:`~levante.engine.conductor.Conductor` as the database-backed service, with
dicts instead of tables and a heap of timers instead of delayed calls. Scenario tests use it to run
workflows with scripted action results and no database or broker; it is also the reference the
service is checked against.
"""

from __future__ import annotations

import copy
import heapq
import itertools
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from levante.engine import events as ev
from levante.engine.commands import (
    AbandonWork,
    Command,
    Completed,
    Dispatch,
    RunAction,
    Schedule,
    StartWorkflow,
    StoreItems,
)
from levante.engine.conductor import Conductor
from levante.engine.limits import EngineLimits
from levante.engine.loaded import ExecutionState, SystemAction
from levante.engine.records import (
    AcceptedResult,
    ActionExecution,
    TaskExecution,
    WorkflowExecution,
    accepted_result,
    new_id,
)
from levante.engine.starting import child_not_started, new_execution
from levante.exceptions import InputError, NotFoundError
from levante.states import State
from levante.workflows.expressions import reused_conversions
from levante.workflows.expressions.limits import step as expression_step
from levante.workflows.specs import ActionSpec, DocumentSpec, WorkflowSpec

#: Runs an action: returns (state, result) for a sync action, or None to leave it running (async).
ActionRunner = Callable[[RunAction], "tuple[str, Any] | None"]


@dataclass
class MemoryCatalog:
    """Definitions by name, plus the registered actions the engine may run."""

    workflows: dict[str, WorkflowSpec] = field(default_factory=dict)
    actions: dict[str, ActionSpec] = field(default_factory=dict)
    system: dict[str, SystemAction] = field(default_factory=dict)

    def add(self, document: DocumentSpec) -> None:
        """Register every workflow and ad-hoc action of a parsed document."""
        self.workflows.update(document.workflows)
        self.actions.update(document.actions)

    def workflow(self, name: str, namespace: str) -> WorkflowSpec | None:
        return self.workflows.get(name)

    def adhoc_action(self, name: str, namespace: str) -> ActionSpec | None:
        return self.actions.get(name)

    def system_action(self, name: str) -> SystemAction | None:
        return self.system.get(name)


class MemoryEngine:
    """Executions in dicts, events in a queue, timers on a virtual clock."""

    def __init__(self, catalog: MemoryCatalog, runner: ActionRunner | None = None,
                 limits: EngineLimits | None = None) -> None:
        self.catalog = catalog
        self.runner = runner
        self.limits = limits or EngineLimits()
        self._starting: list[StartWorkflow] | None = None
        self.executions: dict[str, WorkflowExecution] = {}
        self.tasks: dict[str, list[TaskExecution]] = {}
        self.actions: dict[str, ActionExecution] = {}
        self.history: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        self.queue: deque[ev.Event] = deque()
        self.timers: list[tuple[datetime, int, ev.Event]] = []
        self.now = datetime(2026, 1, 1, tzinfo=timezone.utc)
        self._seq = itertools.count()
        self.pending_actions: list[RunAction] = []
        #: Stored with-items chunks: (task execution id, attempt) -> chunk number -> chunk.
        self.item_store: dict[tuple[str, int], dict[int, list[list[Any]]]] = {}

    # --- the Store port -----------------------------------------------------------------------

    def action_executions(self, task_execution_id: str) -> list[ActionExecution]:
        return [a for a in self.actions.values() if a.task_execution_id == task_execution_id]

    def accepted_results(self, task_execution_id: str) -> list[AcceptedResult]:
        return [accepted_result(a) for a in self.action_executions(task_execution_id) if a.accepted]

    def sub_executions(self, task_execution_id: str) -> list[WorkflowExecution]:
        return [e for e in self.executions.values() if e.task_execution_id == task_execution_id]

    def item_chunks(self, task_execution_id: str, attempt: int, numbers: list[int]) -> dict[int, list[list[Any]]]:
        stored = self.item_store.get((task_execution_id, attempt), {})
        return {n: stored[n] for n in numbers if n in stored}  # copied when stored, never changed

    def executions_matching(self, filters: dict[str, Any]) -> list[WorkflowExecution]:
        return [e for e in self.executions.values()
                if all(str(getattr(e, k, None)) == str(v) for k, v in filters.items() if k in ("id", "state"))]

    def clock(self) -> datetime:
        return self.now

    # --- running ------------------------------------------------------------------------------

    def start(self, workflow: str, input: dict[str, Any] | None = None,  # noqa: A002
              params: dict[str, Any] | None = None, *, run: bool = True) -> WorkflowExecution:
        """Create and start an execution; with ``run`` process everything that follows."""
        spec = self.catalog.workflow(workflow, "")
        if spec is None:
            raise NotFoundError("Workflow", workflow)
        ex = self._create(spec, input, params or {}, None)
        self._apply(ex.id, None)
        if run:
            self.run()
        return ex

    def _create(self, spec: WorkflowSpec, input: dict[str, Any] | None, params: dict[str, Any],  # noqa: A002
                parent: StartWorkflow | None) -> WorkflowExecution:
        ex = new_execution(spec, input, params, execution_id=parent.execution_id if parent else new_id(),
                           created_at=self.now, parent=parent)
        if parent is not None:
            parent_ex = self.executions[parent.parent_execution_id]
            ex.root_execution_id = parent_ex.root_execution_id or parent_ex.id
        self.executions[ex.id] = ex
        self.tasks[ex.id] = []
        return ex

    def send(self, event: ev.Event) -> None:
        """Queue an event (e.g. a callback completing an async action) and process everything."""
        self.queue.append(event)
        self.run()

    def run(self) -> None:
        """Process queued events and due timers until nothing is left to do now."""
        while self.queue:
            event = self.queue.popleft()
            self._apply(event.execution_id, event)

    def advance(self, seconds: float | None = None) -> None:
        """Move the virtual clock (to the next timer when ``seconds`` is None), firing each due
        timer at its own due time, so timers it sets are scheduled from then."""
        if seconds is None:
            if not self.timers:
                return
            end = max(self.now, self.timers[0][0])
        else:
            end = self.now + timedelta(seconds=seconds)
        while self.timers and self.timers[0][0] <= end:
            due, _, event = heapq.heappop(self.timers)
            self.now = max(self.now, due)
            self.queue.append(event)
            self.run()
        self.now = end

    def run_to_end(self, limit: int = 10_000) -> None:
        """Process events and fire timers (in virtual time) until nothing is pending."""
        for _ in range(limit):
            self.run()
            if not self.timers:
                return
            self.advance()
        raise RuntimeError("workflow did not settle")

    # --- applying -----------------------------------------------------------------------------

    def _apply(self, execution_id: str, event: ev.Event | None) -> None:
        ex = self.executions.get(execution_id)
        if ex is None:
            return
        spec = self.catalog.workflow(ex.workflow_name, "")
        assert spec is not None
        state = ExecutionState(execution=ex, spec=spec, tasks=self.tasks[ex.id])
        if isinstance(event, ev.ActionCompleted) and event.action_execution_id in self.actions:
            state.actions[event.action_execution_id] = self.actions[event.action_execution_id]
        conductor = Conductor(state, self.catalog, _StoreView(self), clock=self.clock, limits=self.limits)
        with expression_step(), reused_conversions():
            commands = conductor.start() if event is None else conductor.handle(event)
        for record in state.changed.values():
            if isinstance(record, ActionExecution):
                self.actions[record.id] = record
        self.history.setdefault(ex.id, []).extend(copy.deepcopy(state.history))
        for command in commands:
            self._carry_out(command)

    def _carry_out(self, command: Command) -> None:
        if isinstance(command, RunAction):
            self._run_action(command)
        elif isinstance(command, Schedule):
            due = self.now + timedelta(seconds=command.delay)
            heapq.heappush(self.timers, (due, next(self._seq), command.event))
        elif isinstance(command, Dispatch):
            self.queue.append(command.event)
        elif isinstance(command, StartWorkflow):
            self._start_child(command)
        elif isinstance(command, AbandonWork):
            self._abandon(command)
        elif isinstance(command, StoreItems):
            # As a database would: a copy, as JSON keeps it.
            self.item_store.setdefault((command.task_execution_id, command.attempt), {}).update(
                copy.deepcopy(command.chunks))
        elif isinstance(command, Completed):
            pass

    def _abandon(self, command: AbandonWork) -> None:
        """What the service does in bulk: the execution's running actions, and every unfinished
        sub-execution below it with its tasks and actions, end CANCELLED."""
        tree = {command.execution_id}
        grew = True
        while grew:
            below = {e.id for e in self.executions.values() if e.parent_id in tree} - tree
            grew = bool(below)
            tree |= below
        for ex_id in tree - {command.execution_id}:
            ex = self.executions[ex_id]
            if ex.state not in STATE_DONE:
                ex.state, ex.state_info = State.CANCELLED, command.message or command.info
                ex.output = {"result": ex.state_info}
                ex.finished_at = self.now
            for task_ex in self.tasks[ex_id]:
                if task_ex.state not in STATE_DONE + (State.SKIPPED,):
                    task_ex.state, task_ex.state_info = State.CANCELLED, command.info
                    task_ex.processed = True
        for action_ex in self.actions.values():
            if action_ex.workflow_execution_id in tree and action_ex.state in (State.RUNNING, State.PAUSED):
                action_ex.state, action_ex.state_info = State.CANCELLED, command.info
                action_ex.output = {"result": action_ex.state_info}
                action_ex.accepted = True
        self.pending_actions = [c for c in self.pending_actions if c.execution_id not in tree]

    def _start_child(self, command: StartWorkflow) -> None:
        # Children of children are queued, not started recursively (as the service does).
        if self._starting is not None:
            self._starting.append(command)
            return
        self._starting = [command]
        try:
            while self._starting:
                self._start_one_child(self._starting.pop(0))
        finally:
            self._starting = None

    def _start_one_child(self, command: StartWorkflow) -> None:
        spec = self.catalog.workflow(command.workflow_name, command.namespace)
        try:
            if spec is None:
                raise NotFoundError("Workflow", command.workflow_name)
            child = self._create(spec, command.input, command.params, command)
            child.runtime_context["depth"] = command.depth
        except (InputError, NotFoundError) as exc:
            self.queue.append(child_not_started(command, exc))
            return
        self._apply(command.execution_id, None)

    def _run_action(self, command: RunAction) -> None:
        if self.runner is None:
            self.pending_actions.append(command)
            return
        outcome = self.runner(command)
        if outcome is None:
            self.pending_actions.append(command)
            return
        state, result = outcome
        self.queue.append(ev.ActionCompleted(command.execution_id or "", command.action_execution_id,
                                             state, result))

    # --- reading ------------------------------------------------------------------------------

    def stalled(self) -> list[str]:
        """Ids of executions left RUNNING with nothing that can move them on: no running or paused
        action, no unfinished sub-execution, no timer and no queued event of theirs. Every
        execution must end; a test checks this after each rehearsal (``repo.stalled_executions``
        is the same check on the database)."""
        movable = {e.execution_id for e in self.queue} | {e.execution_id for _, _, e in self.timers}
        movable |= {a.workflow_execution_id for a in self.actions.values()
                    if a.state in (State.RUNNING, State.PAUSED) and a.workflow_execution_id}
        movable |= {str(e.parent_id) for e in self.executions.values()
                    if e.parent_id and e.state in (State.RUNNING, State.PAUSED, State.IDLE)}
        return [e.id for e in self.executions.values() if e.state == State.RUNNING and e.id not in movable]


    def execution(self, execution_id: str) -> WorkflowExecution:
        """An execution by id."""
        return self.executions[execution_id]

    def task(self, execution_id: str, name: str) -> TaskExecution | None:
        """The newest execution of task ``name``."""
        found = [t for t in self.tasks[execution_id] if t.name == name]
        return found[-1] if found else None

    def task_states(self, execution_id: str) -> list[tuple[str, str]]:
        """(name, state) of every task execution, in creation order."""
        return [(t.name, str(t.state)) for t in self.tasks[execution_id]]


class _StoreView:
    """The Store port over a MemoryEngine."""

    def __init__(self, engine: MemoryEngine) -> None:
        self.engine = engine

    def action_executions(self, task_execution_id: str) -> list[ActionExecution]:
        return self.engine.action_executions(task_execution_id)

    def accepted_results(self, task_execution_id: str) -> list[AcceptedResult]:
        return self.engine.accepted_results(task_execution_id)

    def sub_executions(self, task_execution_id: str) -> list[WorkflowExecution]:
        return self.engine.sub_executions(task_execution_id)

    def executions(self, filters: dict[str, Any]) -> list[WorkflowExecution]:
        return self.engine.executions_matching(filters)

    def item_chunks(self, task_execution_id: str, attempt: int, numbers: list[int]) -> dict[int, list[list[Any]]]:
        return self.engine.item_chunks(task_execution_id, attempt, numbers)


STATE_DONE = (State.SUCCESS, State.ERROR, State.CANCELLED)
