"""What the decisions work on: one workflow execution with its tasks, and the ports they read through.

The service loads an :class:`ExecutionState` inside a transaction (under the execution's lock),
the decisions change it and record what they changed, and the service writes those records back.
Reads beyond the loaded state (definitions, a task's action executions, other executions) go
through the :class:`Catalog` and :class:`Store` protocols, so tests can supply them from memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from levante.engine.context import env_of
from levante.engine.records import AcceptedResult, ActionExecution, TaskExecution, WorkflowExecution
from levante.states import TASK_COMPLETED
from levante.workflows.specs import ActionSpec, WorkflowSpec, thaw


@dataclass(frozen=True)
class SystemAction:
    """What the engine needs to know of a registered (Python) action."""

    name: str
    is_sync: bool = True
    #: Names of required and optional parameters; None when the action takes ``**kwargs``.
    required: tuple[str, ...] = ()
    optional: tuple[str, ...] | None = ()

    def input_error(self, given: dict[str, Any]) -> str | None:
        """Mistral-style "Invalid input" message when ``given`` does not fit, else None."""
        if self.optional is None:
            missing = [p for p in self.required if p not in given]
            unexpected: list[str] = []
        else:
            missing = [p for p in self.required if p not in given]
            allowed = set(self.required) | set(self.optional)
            unexpected = [k for k in given if k not in allowed]
        if not missing and not unexpected:
            return None
        return f"Invalid input [name={self.name}, missing={missing}, unexpected={unexpected}]"


class Catalog(Protocol):
    """Definitions the engine looks up by name."""

    def workflow(self, name: str, namespace: str) -> WorkflowSpec | None:
        """A workflow definition by full name."""
        ...

    def adhoc_action(self, name: str, namespace: str) -> ActionSpec | None:
        """An ad-hoc action definition by full name."""
        ...

    def system_action(self, name: str) -> SystemAction | None:
        """A registered action by name."""
        ...


class Store(Protocol):
    """Reads of stored executions beyond the loaded state."""

    def action_executions(self, task_execution_id: str) -> list[ActionExecution]:
        """Every action execution of a task, in creation order."""
        ...

    def accepted_results(self, task_execution_id: str) -> list[AcceptedResult]:
        """The accepted action executions of a task, in creation order, as much as its result needs."""
        ...

    def sub_executions(self, task_execution_id: str) -> list[WorkflowExecution]:
        """Every sub-workflow execution started by a task, in creation order."""
        ...

    def item_chunks(self, task_execution_id: str, attempt: int, numbers: list[int]) -> dict[int, list[list[Any]]]:
        """The chunks of a with-items task's items stored for ``attempt``
        (:class:`~levante.engine.commands.StoreItems`), by number; a missing one is left out."""
        ...

    def executions(self, filters: dict[str, Any]) -> list[WorkflowExecution]:
        """Workflow executions matching ``filters`` (for the ``executions()`` function)."""
        ...


class TaskLoader(Protocol):
    """Reads the task executions of one workflow execution that a partly loaded
    :class:`ExecutionState` does not hold (each in creation order, ``created_at`` then id)."""

    def all(self) -> list[TaskExecution]:
        """Every task execution of the execution."""
        ...

    def by_id(self, task_execution_id: str) -> TaskExecution | None:
        """The task execution with that id, if it belongs to the execution."""
        ...

    def latest(self, name: str) -> TaskExecution | None:
        """The newest task execution of the task ``name``."""
        ...

    def by_unique_key(self, key: str) -> TaskExecution | None:
        """The task execution with that ``unique_key`` (a join's)."""
        ...

    def latest_of(self, names: list[str]) -> dict[str, TaskExecution]:
        """The newest task execution of each task of ``names`` that has one, by name."""
        ...

    def open(self) -> list[TaskExecution]:
        """Every open task execution (:func:`is_open`), as stored."""
        ...

    def more_open_than(self, count: int) -> bool:
        """Whether more than ``count`` task executions are open, as stored."""
        ...


def is_open(task_ex: TaskExecution) -> bool:
    """Whether a task execution may still change by itself: it has not ended, or its end has not
    been processed yet (its transitions not followed). A workflow's decisions work on these; the
    others are read only when asked for."""
    return task_ex.state not in TASK_COMPLETED or not task_ex.processed


@dataclass
class ExecutionState:
    """One workflow execution, its spec and its task executions, plus what changed.

    ``tasks`` holds every task execution, unless a ``loader`` is given: then it holds the open ones
    (:func:`is_open`), the ones created by this decision, and those looked up since, so that a
    step costs the same in a workflow of ten tasks and in one of 100,000. With ``partial`` it
    holds only some of the open ones: the tasks the events name and every waiting join (what the
    service loads for a completion, so that a step of a 20,000-way fan-out does not read the
    19,999 tasks still running); :meth:`open_tasks` reads the others when a decision must go
    through them (pause, resume, cancel), and :meth:`anything_open` asks the loader whether any
    is left. :meth:`task_by_id`, :meth:`latest` and :meth:`by_unique_key` find any task;
    :meth:`all_tasks` reads the rest when a decision needs them all (the end of the execution,
    a cancel, ``tasks()`` in an expression).
    """

    execution: WorkflowExecution
    spec: WorkflowSpec
    tasks: list[TaskExecution] = field(default_factory=list)
    #: Action executions loaded or created during this decision, by id.
    actions: dict[str, ActionExecution] = field(default_factory=dict)
    #: Records created or changed by the decision (the service writes these back).
    changed: dict[int, Any] = field(default_factory=dict)
    #: (kind, payload) history entries to append: every state change with its details.
    history: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    #: Ids of the action executions created by this decision (inserted in bulk, never updated).
    new_actions: set[str] = field(default_factory=set)
    #: Reads the tasks ``tasks`` does not hold; None when it holds them all.
    loader: TaskLoader | None = None
    #: ``tasks`` holds only some of the open tasks (see the class); needs a ``loader``.
    partial: bool = False
    #: The newest task execution created by this decision, by task name (it is that task's latest).
    _created: dict[str, TaskExecution] = field(default_factory=dict)
    #: ``latest`` answers of the loader, by name (the id, or None).
    _latest: dict[str, str | None] = field(default_factory=dict)
    #: ``tasks`` by id (kept with it: a step of a large fan-out looks tasks up by id often).
    _by_id: dict[str, TaskExecution] = field(default_factory=dict)

    #: Ids of the held tasks that were open as stored when read (to tell whether others are).
    _stored_open: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self._by_id = {t.id: t for t in self.tasks}
        self._stored_open = {t.id for t in self.tasks if is_open(t)}
        if self.partial and self.loader is None:
            raise ValueError("a partly loaded state needs a loader")

    def touch(self, record: Any) -> None:
        """Mark a record as created or changed."""
        self.changed[id(record)] = record

    def add_task(self, task_ex: TaskExecution) -> None:
        """Add a new task execution to the state."""
        self.tasks.append(task_ex)
        self._by_id[task_ex.id] = task_ex
        self._created[task_ex.name] = task_ex
        self.touch(task_ex)

    def add_action(self, action_ex: ActionExecution) -> None:
        """Add a new action execution to the state."""
        self.actions[action_ex.id] = action_ex
        self.new_actions.add(action_ex.id)
        self.touch(action_ex)

    def _held(self, task_ex: TaskExecution | None) -> TaskExecution | None:
        """The task as this state holds it (the loaded one when it was loaded already, so that a
        change is made once, on one object); a task read now joins ``tasks``."""
        if task_ex is None:
            return None
        known = self._by_id.get(task_ex.id)
        if known is not None:
            return known
        self.tasks.append(task_ex)
        self._by_id[task_ex.id] = task_ex
        if is_open(task_ex):
            self._stored_open.add(task_ex.id)
        return task_ex

    def all_tasks(self) -> list[TaskExecution]:
        """Every task execution, in creation order (those created by this decision last)."""
        if self.loader is not None:
            held = {t.id: t for t in self.tasks}
            stored = [held.pop(t.id, t) for t in self.loader.all()]
            self.tasks[:] = stored + [t for t in self.tasks if t.id in held]
            self._by_id = {t.id: t for t in self.tasks}
            self.loader = None
            self.partial = False
        return self.tasks

    def open_tasks(self) -> list[TaskExecution]:
        """Every task held, after reading the open ones a partly loaded state lacks (in no
        particular order; the decisions going through them look at each one's state)."""
        if self.partial and self.loader is not None:
            for task_ex in self.loader.open():
                self._held(task_ex)
            self.partial = False
        return self.tasks

    def anything_open(self, is_active: Any) -> bool:
        """Whether a task is active (``is_active(task)``) or its end not processed yet: among the
        held ones as this decision left them, or among the stored open ones it does not hold."""
        if any(is_active(t) or not t.processed for t in self.tasks):
            return True
        return self.partial and self.loader is not None and self.loader.more_open_than(len(self._stored_open))

    def task_by_id(self, task_ex_id: str) -> TaskExecution | None:
        """The task execution with that id."""
        known = self._by_id.get(task_ex_id)
        if known is not None:
            return known
        return self._held(self.loader.by_id(task_ex_id)) if self.loader is not None else None

    def latest(self, name: str) -> TaskExecution | None:
        """The newest task execution of the task ``name``."""
        if name in self._created:
            return self._created[name]
        if self.loader is None:
            for task_ex in reversed(self.tasks):
                if task_ex.name == name:
                    return task_ex
            return None
        if name not in self._latest:
            found = self._held(self.loader.latest(name))
            self._latest[name] = found.id if found is not None else None
            return found
        known = self._latest[name]
        return self.task_by_id(known) if known is not None else None

    def read_latest(self, names: Sequence[str]) -> None:
        """Read the newest task execution of each of ``names`` at once, so that :meth:`latest`
        answers them without a read each (a join deciding on hundreds of inbound tasks)."""
        if self.loader is None:
            return
        missing = [n for n in names if n not in self._created and n not in self._latest]
        if not missing:
            return
        found = self.loader.latest_of(missing)
        for name in missing:
            held = self._held(found.get(name))
            self._latest[name] = held.id if held is not None else None

    def by_unique_key(self, key: str) -> TaskExecution | None:
        """The task execution with that ``unique_key`` (a join's execution)."""
        for task_ex in self.tasks:
            if task_ex.unique_key == key:
                return task_ex
        return self._held(self.loader.by_unique_key(key)) if self.loader is not None else None

    def log(self, kind: str, **payload: Any) -> None:
        """Append an entry to the execution's history."""
        self.history.append((kind, payload))


def task_dict(task_ex: TaskExecution, spec: WorkflowSpec) -> dict[str, Any]:
    """A task execution as expression functions show it (Mistral's ``task()`` fields)."""
    task_spec = spec.tasks.get(task_ex.name)
    return {
        "id": task_ex.id,
        "name": task_ex.name,
        "spec": _task_spec_dict(task_spec) if task_spec else {},
        "state": str(task_ex.state),
        "state_info": task_ex.state_info,
        "result": task_ex.result,
        "published": task_ex.published,
        "type": task_ex.type,
        "workflow_execution_id": task_ex.workflow_execution_id,
        "created_at": _iso(task_ex.created_at),
        "updated_at": _iso(task_ex.updated_at),
    }


def _task_spec_dict(task_spec: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"name": task_spec.name, "description": task_spec.description or None,
                           "tags": list(task_spec.tags) or None}
    if task_spec.action:
        out["action"] = task_spec.action
    if task_spec.workflow:
        out["workflow"] = task_spec.workflow
    if task_spec.input:
        out["input"] = thaw(task_spec.input)
    return out


def _iso(value: Any) -> str | None:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value is not None else None


def workflow_spec_dict(spec: WorkflowSpec) -> dict[str, Any]:
    """A workflow spec as ``execution().spec`` shows it (the definition's shape)."""
    inputs = [{p.name: thaw(p.default)} if p.has_default else p.name for p in spec.input]
    return {
        "version": "2.0", "name": spec.name, "type": spec.type, "description": spec.description or None,
        "tags": list(spec.tags), "input": inputs, "output": thaw(spec.output),
        "tasks": {name: _task_spec_dict(task) for name, task in spec.tasks.items()},
    }


def execution_dict(wf_ex: WorkflowExecution, spec: WorkflowSpec | None = None) -> dict[str, Any]:
    """A workflow execution as ``execution()`` shows it."""
    return {
        "id": wf_ex.id,
        "name": wf_ex.workflow_name,
        "spec": workflow_spec_dict(spec) if spec is not None else {},
        "input": wf_ex.input,
        "params": wf_ex.params,
        "created_at": _iso(wf_ex.created_at),
        "updated_at": _iso(wf_ex.updated_at),
        "root_execution_id": wf_ex.root_execution_id,
        "state": str(wf_ex.state),
    }


class StateRuntime:
    """The engine's :class:`~levante.workflows.expressions.ExpressionRuntime`: answers ``task()``,
    ``execution()``, ``env()`` and ``global()`` from the loaded state."""

    def __init__(self, state: ExecutionState, store: Store | None, current: TaskExecution | None = None) -> None:
        self.state = state
        self.store = store
        self.current = current

    def task(self, name: str | None) -> dict[str, Any] | None:
        """The current task, or the newest execution of task ``name`` (None if it never ran)."""
        if name is None or (self.current is not None and self.current.name == name):
            return task_dict(self.current, self.state.spec) if self.current is not None else None
        found = self.state.latest(name)
        return task_dict(found, self.state.spec) if found else None

    def tasks(self, workflow_execution_id: str | None, recursive: bool, state: str | None,
              flat: bool) -> list[dict[str, Any]]:
        """Task executions of this execution, optionally filtered by state."""
        found = [t for t in self.state.all_tasks() if state is None or str(t.state) == state]
        return [task_dict(t, self.state.spec) for t in found]

    def execution(self) -> dict[str, Any]:
        """This workflow execution."""
        return execution_dict(self.state.execution, self.state.spec)

    def executions(self, id: str | None, root_execution_id: str | None, state: str | None,  # noqa: A002
                   from_time: str | None, to_time: str | None) -> list[dict[str, Any]]:
        """Stored executions matching the filters."""
        if self.store is None:
            return []
        filters = {"id": id, "root_execution_id": root_execution_id, "state": state,
                   "from_time": from_time, "to_time": to_time}
        return [execution_dict(e) for e in self.store.executions({k: v for k, v in filters.items() if v})]

    def env(self) -> dict[str, Any]:
        """The execution's environment."""
        return env_of(self.state.execution)

    def global_var(self, name: str) -> Any:
        """A variable of the global context (vars and global publishes)."""
        return self.state.execution.context.get(name)
