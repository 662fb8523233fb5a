"""An execution state that holds only the open tasks finds the others through its loader, holds
one object per task, and answers as a fully loaded one does."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone

from levante.engine.loaded import ExecutionState, is_open
from levante.engine.records import TaskExecution, WorkflowExecution
from levante.states import State
from levante.workflows import parse_workflow

SPEC = parse_workflow("version: '2.0'\nwf:\n  tasks:\n    a:\n      action: std.noop\n")
T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def _task(i: int, name: str, state: State, processed: bool = True, key: str | None = None) -> TaskExecution:
    return TaskExecution(id=f"t{i}", name=name, workflow_execution_id="ex", workflow_name="wf", state=state,
                         processed=processed, unique_key=key, created_at=T0 + timedelta(seconds=i))


class Stored:
    """Every task of the execution, as the database holds them (fresh objects on every read)."""

    def __init__(self, tasks: list[TaskExecution]) -> None:
        self.tasks = tasks
        self.reads: list[str] = []

    def _copy(self, t: TaskExecution | None) -> TaskExecution | None:
        return dataclasses.replace(t) if t is not None else None

    def all(self) -> list[TaskExecution]:
        self.reads.append("all")
        return [t for t in (self._copy(t) for t in self.tasks) if t is not None]

    def by_id(self, task_execution_id: str) -> TaskExecution | None:
        self.reads.append(f"id {task_execution_id}")
        return self._copy(next((t for t in self.tasks if t.id == task_execution_id), None))

    def latest(self, name: str) -> TaskExecution | None:
        self.reads.append(f"latest {name}")
        return self._copy(next((t for t in reversed(self.tasks) if t.name == name), None))

    def by_unique_key(self, key: str) -> TaskExecution | None:
        self.reads.append(f"key {key}")
        return self._copy(next((t for t in self.tasks if t.unique_key == key), None))

    def open(self) -> list[TaskExecution]:
        self.reads.append("open")
        return [t for t in (self._copy(t) for t in self.tasks) if t is not None and is_open(t)]

    def more_open_than(self, count: int) -> bool:
        self.reads.append(f"more open than {count}")
        return sum(1 for t in self.tasks if is_open(t)) > count

    def latest_of(self, names: list[str]) -> dict[str, TaskExecution]:
        self.reads.append(f"latest of {','.join(names)}")
        found = {}
        for t in self.tasks:
            if t.name in names:
                found[t.name] = t
        return {n: t for n, t in ((n, self._copy(t)) for n, t in found.items()) if t is not None}


def _states() -> tuple[ExecutionState, Stored]:
    stored = Stored([_task(1, "a", State.SUCCESS), _task(2, "a", State.SUCCESS), _task(3, "b", State.RUNNING),
                     _task(4, "j", State.SUCCESS, key="join-j"), _task(5, "a", State.RUNNING)])
    ex = WorkflowExecution(id="ex", workflow_name="wf", state=State.RUNNING)
    open_ones = [t for t in stored.all() if is_open(t)]
    stored.reads.clear()
    return ExecutionState(execution=ex, spec=SPEC, tasks=open_ones, loader=stored), stored


def test_open_tasks_are_answered_without_a_read() -> None:
    state, stored = _states()
    assert [t.id for t in state.tasks] == ["t3", "t5"]
    assert state.task_by_id("t3") is state.tasks[0]
    assert stored.reads == []


def test_a_task_read_later_is_held_once_and_joins_the_state() -> None:
    state, stored = _states()
    first = state.task_by_id("t1")
    assert first is not None and first.id == "t1"
    assert state.task_by_id("t1") is first
    assert stored.reads == ["id t1"]
    joined = state.by_unique_key("join-j")
    assert joined is not None and joined in state.tasks and state.by_unique_key("join-j") is joined


def test_latest_is_the_newest_stored_unless_the_decision_created_a_newer_one() -> None:
    state, stored = _states()
    newest = state.latest("a")
    assert newest is state.task_by_id("t5")  # the open one, the same object
    assert state.latest("a") is newest and stored.reads == ["latest a"]  # asked once
    created = _task(6, "a", State.RUNNING)
    state.add_task(created)
    assert state.latest("a") is created
    assert state.latest("nothing") is None


def test_all_tasks_reads_the_rest_once_keeping_the_held_objects_and_the_new_ones_last() -> None:
    state, stored = _states()
    held = state.task_by_id("t3")
    created = _task(6, "c", State.RUNNING)
    state.add_task(created)
    everything = state.all_tasks()
    assert [t.id for t in everything] == ["t1", "t2", "t3", "t4", "t5", "t6"]
    assert everything[2] is held and everything[-1] is created
    assert state.all_tasks() is everything and stored.reads.count("all") == 1
    assert state.loader is None


def test_latest_of_many_names_is_read_once_and_answers_as_latest_does() -> None:
    state, stored = _states()
    created = _task(6, "c", State.RUNNING)
    state.add_task(created)
    state.read_latest(["a", "b", "c", "nothing"])
    assert stored.reads == ["latest of a,b,nothing"]  # "c" was created by this decision
    assert state.latest("a") is state.task_by_id("t5")  # the held open object, not a copy
    assert state.latest("b") is state.task_by_id("t3")
    assert state.latest("c") is created and state.latest("nothing") is None
    state.read_latest(["a", "b"])
    assert stored.reads == ["latest of a,b,nothing"]  # nothing read again


def _partial(named: list[str]) -> tuple[ExecutionState, Stored]:
    """A state as a completion loads it: only the named tasks (ids), out of every stored one."""
    stored = Stored([_task(1, "a", State.SUCCESS), _task(3, "b", State.RUNNING), _task(5, "a", State.RUNNING),
                     _task(7, "c", State.WAITING, key="join-c")])
    ex = WorkflowExecution(id="ex", workflow_name="wf", state=State.RUNNING)
    held = [t for t in stored.all() if t.id in named]
    stored.reads.clear()
    return ExecutionState(execution=ex, spec=SPEC, tasks=held, loader=stored, partial=True), stored


def _active(t: TaskExecution) -> bool:
    return t.state in (State.RUNNING, State.WAITING)


def test_a_partly_loaded_state_asks_whether_tasks_it_does_not_hold_are_open() -> None:
    state, stored = _partial(["t5"])
    running = state.task_by_id("t5")
    assert running is not None
    assert state.anything_open(_active) and stored.reads == []  # the held one runs: nothing read
    running.state = State.SUCCESS
    running.processed = True
    assert state.anything_open(_active)  # t3 and the join are still open, as stored
    assert stored.reads == ["more open than 1"]


def test_a_partly_loaded_state_holding_every_open_task_ends_without_reading_them() -> None:
    state, stored = _partial(["t3", "t5", "t7"])
    for t in state.tasks:
        t.state, t.processed = State.SUCCESS, True
    assert not state.anything_open(_active)
    assert stored.reads == ["more open than 3"]


def test_open_tasks_reads_the_open_ones_once_keeping_the_held_objects() -> None:
    state, stored = _partial(["t5"])
    held = state.task_by_id("t5")
    everything_open = state.open_tasks()
    assert sorted(t.id for t in everything_open) == ["t3", "t5", "t7"]
    assert held in everything_open and sum(1 for t in everything_open if t.id == "t5") == 1
    assert state.open_tasks() is everything_open and stored.reads.count("open") == 1
    for t in everything_open:
        t.state, t.processed = State.SUCCESS, True
    assert not state.anything_open(_active) and "more open than 3" not in stored.reads  # all held now
