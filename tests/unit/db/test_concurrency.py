"""Concurrent writers: the execution lock loses no update; concurrent claims never share a call."""

from __future__ import annotations

import threading
from collections.abc import Callable

from levante.db import repository as repo
from levante.db.session import SessionFactory, transaction
from tests.unit.db.helpers import at, wf


def run_threads(count: int, target: Callable[[int], None]) -> None:
    """Run ``target(i)`` in ``count`` threads started together; re-raise the first error."""
    errors: list[BaseException] = []
    barrier = threading.Barrier(count)

    def body(i: int) -> None:
        try:
            barrier.wait()
            target(i)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=body, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a thread is stuck"
    if errors:
        raise errors[0]


def increment_under_lock(session_factory: SessionFactory, execution_id: str) -> None:
    with transaction(session_factory) as s:
        repo.lock_execution(s, execution_id)
        record = repo.get_execution(s, execution_id)
        record.runtime_context["counter"] += 1
        repo.save(s, record)


def test_lock_execution_serialises_read_modify_write(session_factory: SessionFactory) -> None:
    ex = wf(runtime_context={"counter": 0})
    with transaction(session_factory) as s:
        repo.save(s, ex)

    def worker(_: int) -> None:
        for _ in range(50):
            increment_under_lock(session_factory, ex.id)

    run_threads(2, worker)
    with transaction(session_factory) as s:
        assert repo.get_execution(s, ex.id).runtime_context["counter"] == 100


def test_get_execution_lock_serialises_too(session_factory: SessionFactory) -> None:
    ex = wf(runtime_context={"counter": 0})
    with transaction(session_factory) as s:
        repo.save(s, ex)

    def worker(_: int) -> None:
        for _ in range(25):
            with transaction(session_factory) as s:
                record = repo.get_execution(s, ex.id, lock=True)
                record.runtime_context["counter"] += 1
                repo.save(s, record)

    run_threads(4, worker)
    with transaction(session_factory) as s:
        assert repo.get_execution(s, ex.id).runtime_context["counter"] == 100


def test_concurrent_claims_never_share_a_call(session_factory: SessionFactory) -> None:
    with transaction(session_factory) as s:
        scheduled = {repo.schedule(s, at(i % 50), "ex", {"n": i}) for i in range(200)}
    taken: list[list[int]] = [[] for _ in range(4)]

    def worker(i: int) -> None:
        while True:
            with transaction(session_factory) as s:
                calls = repo.claim_due(s, at(100), limit=7, worker=f"w{i}")
            if not calls:
                return
            taken[i].extend(c.id for c in calls)

    run_threads(4, worker)
    every = [call_id for ids in taken for call_id in ids]
    assert len(every) == len(set(every)) == 200
    assert set(every) == scheduled


def test_concurrent_sweeps_never_both_take_an_unpublished_mark(session_factory: SessionFactory) -> None:
    """Two sweepers that read the same never-published rows: each row is sent as a first delivery
    by one of them only (the other would send a second, unflagged copy of a non-safe action)."""
    with transaction(session_factory) as s:
        ids = repo.enqueue_many(s, [("executor", {"n": i}) for i in range(300)])
        repo.mark_unpublished(s, ids)
    taken: list[set[int]] = [set() for _ in range(4)]

    def sweeper(i: int) -> None:
        for start in range(0, 300, 25):
            with transaction(session_factory) as s:
                taken[i] |= repo.claim_unpublished(s, ids[start:start + 25])

    run_threads(4, sweeper)
    every = [row_id for ids_taken in taken for row_id in ids_taken]
    assert sorted(every) == sorted(ids)
