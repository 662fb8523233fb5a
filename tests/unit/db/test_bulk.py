"""Bulk paths: with-items over 10,000 items must be fast (the times are printed, not asserted)."""

from __future__ import annotations

import time

from sqlalchemy import Engine

from levante.db import repository as repo
from levante.db.session import SessionFactory, transaction
from levante.states import State
from tests.unit.db.helpers import action, at, task, wf

N = 10_000


def test_bulk_insert_and_update_10000_action_executions(
    db_engine: Engine, session_factory: SessionFactory
) -> None:
    wf_ex = wf("items")
    task_ex = task(wf_ex, "with_items")
    with transaction(session_factory) as s:
        repo.save_all(s, [wf_ex, task_ex])
    actions = [
        action(
            task_ex, "std.echo", input={"output": i}, runtime_context={"index": i}, created_at=at(i / 1000)
        )
        for i in range(N)
    ]

    started = time.perf_counter()
    with transaction(session_factory) as s:
        repo.insert_action_executions(s, actions)
    inserted = time.perf_counter() - started

    started = time.perf_counter()
    with transaction(session_factory) as s:
        loaded = repo.action_executions_of(s, task_ex.id)
    load_time = time.perf_counter() - started
    assert [a.runtime_context["index"] for a in loaded] == list(range(N))

    started = time.perf_counter()
    with transaction(session_factory) as s:
        repo.update_action_states(
            s, [(a.id, State.SUCCESS, {"result": i}, True) for i, a in enumerate(actions)]
        )
    updated = time.perf_counter() - started

    with transaction(session_factory) as s:
        done = repo.list_action_executions(s, {"task_execution_id": task_ex.id, "state": "SUCCESS"})
        assert len(done) == N and all(a.accepted for a in done)
        assert {a.output["result"] for a in done} == set(range(N))
        assert all(a.updated_at is not None for a in done)

    print(
        f"\n[{db_engine.dialect.name}] {N} action executions: insert {inserted:.3f}s, "
        f"load {load_time:.3f}s, update_action_states {updated:.3f}s"
    )


def test_action_executions_by_id_loads_many_at_once(session_factory: SessionFactory) -> None:
    ex = wf()
    t = task(ex)
    actions = [action(t) for _ in range(1200)]
    with transaction(session_factory) as s:
        repo.save_all(s, [ex, t])
        repo.insert_action_executions(s, actions)
    wanted = [a.id for a in actions[::3]] + ["no-such-id"]
    with transaction(session_factory) as s:
        found = repo.action_executions_by_id(s, wanted)
    assert sorted(a.id for a in found) == sorted(wanted[:-1])
