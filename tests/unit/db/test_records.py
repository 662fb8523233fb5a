"""Records of the engine round-trip through the tables unchanged."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from levante.db import repository as repo
from levante.db.models import ActionExecutionRow, TaskExecutionRow, WorkflowExecutionRow
from levante.db.session import SessionFactory, transaction
from levante.engine.records import ActionExecution, TaskExecution, WorkflowExecution
from levante.exceptions import NotFoundError
from levante.states import State
from tests.unit.db.helpers import action, at, diff, same, sub, task, wf

PLUS_2 = timezone(timedelta(hours=2))


def _full_execution() -> WorkflowExecution:
    return wf(
        "my_wf",
        state=State.PAUSED,
        state_info="paused by user",
        input={"a": 1, "nested": {"list": [1, "two", None, 3.5]}, "unicode": "héllo ☃"},
        params={"env": {"x": True}, "namespace": "ns1"},
        context={"__execution": {"id": "x"}, "vars": {"v": [1, 2]}},
        output={"result": "done"},
        runtime_context={"backlog": [{"cmd": "pause"}]},
        description="a description",
        workflow_id="6a2fdbe5-7a44-4f6e-8f39-cf7a9d7fbc01",
        workflow_namespace="ns1",
        tags=["t1", "t2"],
        created_at=at(0),
        updated_at=datetime(2024, 5, 1, 16, 30, 0, 1, tzinfo=PLUS_2),  # 14:30 UTC
        finished_at=at(3600),
    )


def test_workflow_execution_round_trip(session_factory: SessionFactory) -> None:
    original = _full_execution()
    with transaction(session_factory) as s:
        repo.save(s, original)
    with transaction(session_factory) as s:
        loaded = repo.get_execution(s, original.id)
    assert same(loaded, original), diff(loaded, original)
    assert isinstance(loaded.state, State)
    for stamp in (loaded.created_at, loaded.updated_at, loaded.finished_at):
        assert stamp is not None and stamp.utcoffset() == timedelta(0)
    assert loaded.updated_at == datetime(2024, 5, 1, 14, 30, 0, 1, tzinfo=timezone.utc)


def test_task_and_action_round_trip(session_factory: SessionFactory) -> None:
    wf_ex = wf()
    task_ex = task(
        wf_ex,
        "join_task",
        state=State.WAITING,
        type="WORKFLOW",
        in_context={"k": "v", "deep": {"a": [1, {"b": 2}]}},
        in_versions={"k": 3},
        published={"p": 1},
        result=[1, "two", {"three": 3}],
        runtime_context={
            "with_items": {"count": 3},
            "triggered_by": [{"task_id": "x", "event": "on-success"}],
        },
        next_tasks=[["t2", "on-success"], ["t3", "on-complete"]],
        has_next_tasks=True,
        error_handled=True,
        processed=True,
        unique_key=f"join:{wf_ex.id}:join_task",
        created_at=at(1),
        updated_at=at(2),
        started_at=at(1.5),
        finished_at=at(3),
    )
    action_ex = action(
        task_ex,
        "std.echo",
        state=State.SUCCESS,
        state_info=None,
        input={"output": {"x": [1, 2]}},
        output={"result": {"x": [1, 2]}},
        accepted=True,
        is_sync=False,
        runtime_context={"index": 2, "retry_no": 1},
        description="d",
        created_at=at(1.6),
        updated_at=at(2.5),
    )
    standalone = action(None, "std.noop", created_at=at(5))
    with transaction(session_factory) as s:
        repo.save_all(s, [wf_ex, task_ex, action_ex, standalone])
    with transaction(session_factory) as s:
        loaded_task = repo.get_task(s, task_ex.id)
        loaded_action = repo.get_action_execution(s, action_ex.id)
        loaded_standalone = repo.get_action_execution(s, standalone.id)
        assert repo.find_task_by_unique_key(s, task_ex.unique_key) is not None
    assert same(loaded_task, task_ex), diff(loaded_task, task_ex)
    assert same(loaded_action, action_ex), diff(loaded_action, action_ex)
    assert same(loaded_standalone, standalone), diff(loaded_standalone, standalone)
    assert loaded_standalone.task_execution_id is None


def test_scalar_and_null_results(session_factory: SessionFactory) -> None:
    wf_ex = wf()
    tasks = [
        task(wf_ex, f"t{i}", result=value, created_at=at(i))
        for i, value in enumerate([None, 0, "text", 3.25, False, [], {}])
    ]
    with transaction(session_factory) as s:
        repo.save_all(s, [wf_ex, *tasks])
    with transaction(session_factory) as s:
        loaded = repo.tasks_of(s, wf_ex.id)
    assert [t.result for t in loaded] == [None, 0, "text", 3.25, False, [], {}]


def test_save_updates_only_that_row(session_factory: SessionFactory) -> None:
    a, b = wf("a", created_at=at(0)), wf("b", created_at=at(1))
    with transaction(session_factory) as s:
        repo.save_all(s, [a, b])
    a.state, a.output, a.finished_at = State.SUCCESS, {"x": 1}, at(10)
    with transaction(session_factory) as s:
        repo.save(s, a)
    with transaction(session_factory) as s:
        assert same(repo.get_execution(s, a.id), a)
        assert same(repo.get_execution(s, b.id), b)
        assert s.scalar(select(func.count()).select_from(WorkflowExecutionRow)) == 2


def test_save_keeps_created_at_and_callback_columns(session_factory: SessionFactory) -> None:
    wf_ex = wf()
    task_ex = task(wf_ex)
    action_ex = action(task_ex, is_sync=False)
    with transaction(session_factory) as s:
        repo.save_all(s, [wf_ex, task_ex, action_ex])
        repo.set_callback_token_hash(s, action_ex.id, "sha256:abc")
        repo.record_heartbeat(s, action_ex.id, at(7), progress={"percent": 50})
    action_ex.state = State.SUCCESS
    action_ex.output = {"result": 42}
    with transaction(session_factory) as s:
        repo.save(s, action_ex)
    with transaction(session_factory) as s:
        assert repo.callback_token_hash_of(s, action_ex.id) == "sha256:abc"
        row = s.get(ActionExecutionRow, action_ex.id)
        assert row is not None and row.last_heartbeat == at(7) and row.progress == {"percent": 50}
        assert repo.get_action_execution(s, action_ex.id).output == {"result": 42}


def test_save_all_stores_the_token_hash_of_new_actions_and_keeps_that_of_others(
        session_factory: SessionFactory) -> None:
    wf_ex = wf()
    task_ex = task(wf_ex)
    done = action(task_ex, is_sync=False)
    with transaction(session_factory) as s:
        repo.save_all(s, [wf_ex, task_ex, done], {done.id: "sha256:first"})
    done.state = State.SUCCESS
    following = action(task_ex, is_sync=False)
    sync = action(task_ex)
    with transaction(session_factory) as s:  # one step: one action done, two new ones
        repo.save_all(s, [done, following, sync], {following.id: "sha256:next", sync.id: None})
    with transaction(session_factory) as s:
        assert repo.callback_token_hash_of(s, done.id) == "sha256:first"
        assert repo.callback_token_hash_of(s, following.id) == "sha256:next"
        assert repo.callback_token_hash_of(s, sync.id) is None
        assert repo.get_action_execution(s, done.id).state == State.SUCCESS


def test_update_action_results_writes_the_result_fields_of_each_action_and_nothing_else(
        session_factory: SessionFactory) -> None:
    wf_ex = wf()
    task_ex = task(wf_ex)
    first = action(task_ex, input={"a": 1}, runtime_context={"index": 0}, is_sync=False, created_at=at(1))
    second = action(task_ex, input={"b": 2}, runtime_context={"index": 1}, created_at=at(2))
    untouched = action(task_ex, created_at=at(3))
    with transaction(session_factory) as s:
        repo.save_all(s, [wf_ex, task_ex, first, second, untouched], {first.id: "sha256:first"})
    first.state, first.output, first.accepted, first.updated_at = State.SUCCESS, {"result": [1]}, True, at(10)
    second.state, second.state_info, second.output, second.updated_at = State.ERROR, "boom", {"result": "e"}, at(11)
    stale = dataclasses.replace(first, input={"changed": 1}, runtime_context={"index": 99}, name="other")
    with transaction(session_factory) as s:
        repo.update_action_results(s, [stale, second])
        repo.update_action_results(s, [])
    with transaction(session_factory) as s:
        got = {a.id: a for a in repo.action_executions_of(s, task_ex.id)}
        assert same(got[first.id], first)  # the input, name and runtime context stored are kept
        assert same(got[second.id], second)
        assert same(got[untouched.id], untouched)
        assert repo.callback_token_hash_of(s, first.id) == "sha256:first"
    with transaction(session_factory) as s:  # one action alone: a plain execute
        untouched.state, untouched.output = State.CANCELLED, {"result": None}
        repo.update_action_results(s, [untouched])
    with transaction(session_factory) as s:
        assert same(repo.get_action_execution(s, untouched.id), untouched)


def test_save_all_writes_parents_first(session_factory: SessionFactory) -> None:
    root = wf("root")
    t1 = task(root, "call_sub")
    child = sub(t1, root.id)
    t2 = task(child, "inner")
    a = action(t2)
    with transaction(session_factory) as s:
        repo.save_all(s, [a, t2, child, t1, root])  # children before parents: reordered
    with transaction(session_factory) as s:
        assert [e.id for e in repo.sub_executions_of(s, t1.id)] == [child.id]
        assert [x.id for x in repo.action_executions_of(s, t2.id)] == [a.id]


def test_loads_in_creation_order(session_factory: SessionFactory) -> None:
    wf_ex = wf()
    tasks = [task(wf_ex, f"t{i}", created_at=at(10 - i)) for i in range(5)]
    with transaction(session_factory) as s:
        repo.save_all(s, [wf_ex, *tasks])
    with transaction(session_factory) as s:
        assert [t.name for t in repo.tasks_of(s, wf_ex.id)] == ["t4", "t3", "t2", "t1", "t0"]
        assert repo.tasks_of(s, "no-such-execution") == []


def test_to_record_from_orm_rows(session_factory: SessionFactory) -> None:
    wf_ex = wf(tags=["x"])
    task_ex = task(wf_ex, result={"r": 1})
    action_ex = action(task_ex, output={"result": 1})
    with transaction(session_factory) as s:
        repo.save_all(s, [wf_ex, task_ex, action_ex])
    with transaction(session_factory) as s:
        for row_class, original in (
            (WorkflowExecutionRow, wf_ex),
            (TaskExecutionRow, task_ex),
            (ActionExecutionRow, action_ex),
        ):
            record = repo.to_record(s.get(row_class, original.id))
            assert type(record) is type(original) and same(record, original), diff(record, original)
    with pytest.raises(TypeError):
        repo.to_record(object())


def test_orm_row_from_record_is_insertable(session_factory: SessionFactory) -> None:
    wf_ex = wf(input={"a": 1})
    with transaction(session_factory) as s:
        s.add(repo.to_row(wf_ex))
    with transaction(session_factory) as s:
        assert same(repo.get_execution(s, wf_ex.id), wf_ex)


def test_missing_records_raise_not_found(session_factory: SessionFactory) -> None:
    with transaction(session_factory) as s:
        with pytest.raises(NotFoundError, match='Workflow execution "nope" does not exist'):
            repo.get_execution(s, "nope")
        with pytest.raises(NotFoundError):
            repo.get_task(s, "nope")
        with pytest.raises(NotFoundError):
            repo.get_action_execution(s, "nope")
        with pytest.raises(NotFoundError):
            repo.set_callback_token_hash(s, "nope", "h")


def test_get_execution_with_lock(session_factory: SessionFactory) -> None:
    wf_ex = wf()
    with transaction(session_factory) as s:
        repo.save(s, wf_ex)
    with transaction(session_factory) as s:
        assert repo.get_execution(s, wf_ex.id, lock=True).id == wf_ex.id
        repo.lock_execution(s, wf_ex.id)
        with pytest.raises(NotFoundError):
            repo.lock_execution(s, "nope")


def test_records_are_plain_dataclasses() -> None:
    # The repository converts; the engine's classes stay free of any database behaviour.
    for cls in (WorkflowExecution, TaskExecution, ActionExecution):
        assert not hasattr(cls, "__table__")


@pytest.mark.parametrize("cls", [WorkflowExecution, TaskExecution, ActionExecution])
def test_a_row_of_the_fields_in_order_reads_as_its_mapping_does(cls: type) -> None:
    from levante.db.repository.records import FIELDS, _record_from_row, record_from_mapping

    names = FIELDS[cls]
    empty_row = tuple("RUNNING" if n == "state" else "x1" if n in ("id", "name", "workflow_name",
                                                                  "workflow_execution_id") else None
                      for n in names)
    full_row = tuple(State.SUCCESS if n == "state" else {"k": [n]} if n in ("input", "output") else
                     f"v-{n}" if n in ("description", "workflow_namespace", "state_info") else None
                     for n in names)
    for row in (empty_row, full_row):
        fast = _record_from_row(cls, row)
        slow = record_from_mapping(cls, dict(zip(names, row, strict=True)))
        assert dataclasses.astuple(fast) == dataclasses.astuple(slow)
        assert type(fast.state) is State and type(fast) is cls
