"""What a step of an execution reads of its tasks: the open ones (not ended, or their end not
processed) through a partial index, and any other one by id, by name (the newest) or by a join's
key when the decision asks for it."""

from __future__ import annotations

from sqlalchemy import Engine, text

from levante.db import repository as repo
from levante.db.models import OPEN_TASKS, OPEN_TASKS_INDEX
from levante.db.session import SessionFactory, transaction
from levante.engine.records import TaskExecution, WorkflowExecution
from levante.engine.service.parts import DbTasks
from levante.states import State
from tests.unit.db.helpers import at, task, wf


def _store(session_factory: SessionFactory) -> tuple[WorkflowExecution, WorkflowExecution, dict[str, TaskExecution]]:
    ex, other = wf(), wf()
    made = {
        "old_a": task(ex, "a", state=State.SUCCESS, processed=True, created_at=at(1)),
        "new_a": task(ex, "a", state=State.SUCCESS, processed=True, created_at=at(2)),
        "unprocessed": task(ex, "b", state=State.ERROR, processed=False, created_at=at(3)),
        "running": task(ex, "c", state=State.RUNNING, created_at=at(4)),
        "waiting_join": task(ex, "j", state=State.WAITING, unique_key=f"join-task-{ex.id}-j", created_at=at(5)),
        "ended_join": task(ex, "k", state=State.SUCCESS, processed=True, unique_key=f"join-task-{ex.id}-k",
                           created_at=at(6)),
        "elsewhere": task(other, "c", state=State.RUNNING, created_at=at(1)),
    }
    with transaction(session_factory) as session:
        repo.save_all(session, [ex, other, *made.values()])
    return ex, other, made


def test_a_step_reads_the_open_tasks_of_its_execution_only(session_factory: SessionFactory) -> None:
    ex, _, made = _store(session_factory)
    with transaction(session_factory) as session:
        found = repo.open_tasks_of(session, ex.id)
    assert [t.id for t in found] == [made[k].id for k in ("unprocessed", "running", "waiting_join")]


def test_the_loader_finds_any_task_of_its_execution_and_none_of_another(session_factory: SessionFactory) -> None:
    ex, other, made = _store(session_factory)
    with transaction(session_factory) as session:
        tasks = DbTasks(session, ex.id)
        assert _id(tasks.by_id(made["old_a"].id)) == made["old_a"].id
        assert tasks.by_id(made["elsewhere"].id) is None
        assert _id(tasks.latest("a")) == made["new_a"].id
        assert tasks.latest("nowhere") is None
        assert _id(tasks.by_unique_key(f"join-task-{ex.id}-k")) == made["ended_join"].id
        assert DbTasks(session, other.id).by_unique_key(f"join-task-{ex.id}-k") is None
        assert [t.id for t in tasks.all()] == [made[k].id for k in made if k != "elsewhere"]


def test_a_step_reads_the_tasks_it_names_and_the_joins_of_its_execution(session_factory: SessionFactory) -> None:
    ex, other, made = _store(session_factory)
    keys = [f"join-task-{ex.id}-j", f"join-task-{ex.id}-k", f"join-task-{ex.id}-nothing"]
    with transaction(session_factory) as session:
        found = repo.tasks_for_step(session, ex.id, [made["old_a"].id, made["running"].id], keys)
        assert [t.id for t in found] == [made[k].id for k in ("old_a", "running", "waiting_join", "ended_join")]
        assert repo.tasks_for_step(session, other.id, [made["running"].id], keys) == []
        assert [t.id for t in repo.tasks_for_step(session, ex.id, [], keys[:1])] == [made["waiting_join"].id]
        assert repo.tasks_for_step(session, ex.id, [], []) == []
        many = [f"id-{i}" for i in range(700)] + [made["running"].id]  # more than one statement takes
        assert [t.id for t in repo.tasks_for_step(session, ex.id, many, keys)] == [
            made[k].id for k in ("running", "waiting_join", "ended_join")]


def test_whether_more_tasks_are_open_counts_no_further_than_it_must(session_factory: SessionFactory) -> None:
    ex, other, _ = _store(session_factory)  # ex: 3 open (unprocessed, running, waiting join)
    with transaction(session_factory) as session:
        assert repo.more_open_tasks_than(session, ex.id, 0)
        assert repo.more_open_tasks_than(session, ex.id, 2)
        assert not repo.more_open_tasks_than(session, ex.id, 3)
        assert repo.more_open_tasks_than(session, other.id, 0) and not repo.more_open_tasks_than(session, other.id, 1)


def test_the_newest_of_many_tasks_is_read_at_once(session_factory: SessionFactory) -> None:
    ex, other, made = _store(session_factory)
    with transaction(session_factory) as session:
        found = DbTasks(session, ex.id).latest_of(["a", "c", "j", "nowhere"])
        assert {n: t.id for n, t in found.items()} == {
            "a": made["new_a"].id, "c": made["running"].id, "j": made["waiting_join"].id}
        assert {n: t.id for n, t in DbTasks(session, other.id).latest_of(["a", "c"]).items()} == {
            "c": made["elsewhere"].id}
        many = [f"n{i}" for i in range(1200)] + ["a"]  # more names than one statement takes
        assert {n: t.id for n, t in DbTasks(session, ex.id).latest_of(many).items()} == {"a": made["new_a"].id}


def test_the_open_tasks_are_read_through_their_partial_index(db_engine: Engine,
                                                             session_factory: SessionFactory) -> None:
    ex, _, _ = _store(session_factory)
    query = f"SELECT id FROM task_executions WHERE workflow_execution_id = :id AND ({OPEN_TASKS})"
    with db_engine.connect() as conn:
        if db_engine.dialect.name == "sqlite":
            plan = " ".join(str(r[-1]) for r in conn.execute(text(f"EXPLAIN QUERY PLAN {query}"), {"id": ex.id}))
        else:  # a few rows: tell the planner a scan is dear, to see that the index can serve the query
            conn.execute(text("SET LOCAL enable_seqscan = off"))
            plan = " ".join(str(r[0]) for r in conn.execute(text(f"EXPLAIN {query}"), {"id": ex.id}))
    assert OPEN_TASKS_INDEX in plan, plan


def _id(found: TaskExecution | None) -> str | None:
    return found.id if found is not None else None
