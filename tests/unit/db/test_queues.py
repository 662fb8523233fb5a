"""Delayed calls (claim, dedupe), the outbox and the execution history."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine, delete, event

from levante.db import repository as repo
from levante.db.models import OutboxMessage
from levante.db.session import SessionFactory, transaction
from tests.unit.db.helpers import T0, at


def test_schedule_and_claim_due(session_factory: SessionFactory) -> None:
    with transaction(session_factory) as s:
        ids = [repo.schedule(s, at(i), "ex-1", {"event": "wait_done", "n": i}) for i in (5, 1, 3, 20)]
        assert all(isinstance(i, int) for i in ids)
        assert repo.next_due_at(s) == at(1)
    with transaction(session_factory) as s:
        claimed = repo.claim_due(s, now=at(4), limit=10, worker="w1")
    assert [c.payload["n"] for c in claimed] == [1, 3]  # due only, earliest first
    assert all(c.claimed_by == "w1" and c.claimed_at == at(4) for c in claimed)
    with transaction(session_factory) as s:
        assert repo.claim_due(s, now=at(4), limit=10, worker="w2") == []  # already claimed
        assert [c.payload["n"] for c in repo.claim_due(s, now=at(10), limit=10, worker="w2")] == [5]
        assert repo.next_due_at(s) == at(20)
    with transaction(session_factory) as s:
        assert repo.delete_calls(s, [c.id for c in claimed]) == 2


def test_claim_respects_limit_and_reclaims_stale_claims(session_factory: SessionFactory) -> None:
    with transaction(session_factory) as s:
        for i in range(5):
            repo.schedule(s, at(i), "ex-1", {"n": i})
    with transaction(session_factory) as s:
        first = repo.claim_due(s, now=at(10), limit=2, worker="dead")
    assert [c.payload["n"] for c in first] == [0, 1]
    later = at(10) + timedelta(minutes=10)
    with transaction(session_factory) as s:
        again = repo.claim_due(s, now=later, limit=10, worker="w2", reclaim_after=timedelta(minutes=5))
    assert [c.payload["n"] for c in again] == [0, 1, 2, 3, 4]
    with transaction(session_factory) as s:
        assert repo.claim_due(s, now=later, limit=10, worker="w3", reclaim_after=None) == []


def test_claim_and_delete(session_factory: SessionFactory) -> None:
    with transaction(session_factory) as s:
        repo.schedule(s, at(0), "ex-1", {"n": 0})
    with transaction(session_factory) as s:
        taken = repo.claim_due(s, now=at(1), limit=5, worker="w", delete_claimed=True)
    assert [c.payload for c in taken] == [{"n": 0}]
    with transaction(session_factory) as s:
        assert repo.claim_due(s, now=at(100), limit=5, worker="w", reclaim_after=timedelta(0)) == []
        assert repo.next_due_at(s) is None


def test_dedupe_key(session_factory: SessionFactory) -> None:
    with transaction(session_factory) as s:
        first = repo.schedule(s, at(5), "ex-1", {"event": "timeout", "task": "t1"}, key="timeout:t1")
        duplicate = repo.schedule(s, at(9), "ex-1", {"event": "other"}, key="timeout:t1")
        other = repo.schedule(s, at(6), "ex-1", {"event": "timeout", "task": "t2"}, key="timeout:t2")
    assert first is not None and other is not None and duplicate is None
    with transaction(session_factory) as s:  # also across transactions
        assert repo.schedule(s, at(1), "ex-1", {}, key="timeout:t1") is None
    with transaction(session_factory) as s:
        claimed = repo.claim_due(s, now=at(100), limit=10, worker="w")
    assert [c.payload for c in claimed] == [
        {"event": "timeout", "task": "t1"},
        {"event": "timeout", "task": "t2"},
    ]
    with transaction(session_factory) as s:
        assert repo.delete_call_by_key(s, "timeout:t2") is True
        assert repo.delete_call_by_key(s, "timeout:t2") is False
        assert repo.schedule(s, at(1), "ex-1", {}, key="timeout:t2") is not None  # key free again


def test_delete_calls_for_execution(session_factory: SessionFactory) -> None:
    with transaction(session_factory) as s:
        for i in range(3):
            repo.schedule(s, at(i), "ex-1", {"n": i}, key=f"k{i}")
        repo.schedule(s, at(0), "ex-2", {"n": 9})
    with transaction(session_factory) as s:
        assert repo.delete_calls_for(s, "ex-1") == 3
        assert [c.execution_id for c in repo.claim_due(s, at(10), 10, "w")] == ["ex-2"]


def test_outbox(session_factory: SessionFactory) -> None:
    with transaction(session_factory) as s:
        ids = [
            repo.enqueue(s, topic, {"n": i}) for i, topic in enumerate(["executor", "executor.gpu", "engine"])
        ]
    assert ids == sorted(ids)
    with transaction(session_factory) as s:
        waiting = repo.pending(s, limit=10)
        assert [(m.topic, m.payload) for m in waiting] == [
            ("executor", {"n": 0}),
            ("executor.gpu", {"n": 1}),
            ("engine", {"n": 2}),
        ]
        assert [m.id for m in repo.pending(s, limit=2)] == ids[:2]
        assert repo.pending(s, limit=10, older_than=T0) == []  # all created after T0 (2024)
        repo.mark_sent(s, ids[:2])
    with transaction(session_factory) as s:
        assert [m.id for m in repo.pending(s, limit=10)] == [ids[2]]
        assert repo.purge_sent(s, before=T0) == 0
        assert repo.purge_sent(s, before=at(10**9)) == 2
        assert [m.id for m in repo.pending(s, limit=10, skip_locked=True)] == [ids[2]]


def test_unpublished_marks(session_factory: SessionFactory) -> None:
    with transaction(session_factory) as s:
        ids = repo.enqueue_many(s, [("executor", {"n": i}) for i in range(4)])
        repo.mark_sent(s, ids[:1])
        repo.mark_unpublished(s, ids[:3])  # a sent row keeps no mark
    with transaction(session_factory) as s:
        assert [m.unpublished for m in repo.pending(s, limit=10)] == [True, True, False]
        assert repo.claim_unpublished(s, ids) == {ids[1], ids[2]}
    with transaction(session_factory) as s:
        assert repo.claim_unpublished(s, ids) == set()
        assert [m.unpublished for m in repo.pending(s, limit=10)] == [False, False, False]


def test_outbox_message_is_rolled_back_with_its_transaction(session_factory: SessionFactory) -> None:
    try:
        with transaction(session_factory) as s:
            repo.enqueue(s, "executor", {"n": 1})
            raise RuntimeError("decision failed")
    except RuntimeError:
        pass
    with transaction(session_factory) as s:
        assert repo.pending(s, limit=10) == []


def test_history(session_factory: SessionFactory) -> None:
    with transaction(session_factory) as s:
        repo.append_event(s, "ex-1", "workflow_state", {"from": "IDLE", "to": "RUNNING"})
        repo.append_event(s, "ex-1", "task_state", {"to": "RUNNING"}, task_execution_id="t-1")
        repo.append_event(s, "ex-2", "workflow_state", {"to": "RUNNING"})
        repo.append_events(
            s,
            "ex-1",
            [
                ("action_state", {"to": "SUCCESS", "task_execution_id": "t-1", "action_execution_id": "a-1"}),
                ("task_state", {"to": "SUCCESS"}),
            ],
        )
    with transaction(session_factory) as s:
        events = repo.events_of(s, "ex-1")
    assert [e.kind for e in events] == ["workflow_state", "task_state", "action_state", "task_state"]
    assert events[1].task_execution_id == "t-1"
    assert (events[2].task_execution_id, events[2].action_execution_id) == ("t-1", "a-1")
    assert events[0].payload == {"from": "IDLE", "to": "RUNNING"}
    assert all(e.created_at.tzinfo is not None for e in events)


def test_enqueue_many_returns_ids_in_order(session_factory: SessionFactory) -> None:
    messages = [("executor", {"n": i}) if i % 2 else ("executor.gpu", {"n": i}) for i in range(250)]
    with transaction(session_factory) as s:
        ids = repo.enqueue_many(s, messages)
        assert repo.enqueue_many(s, []) == []
    assert len(ids) == 250 and len(set(ids)) == 250
    with transaction(session_factory) as s:
        rows = {r.id: r for r in repo.pending(s, 1000)}
    assert [(rows[i].topic, rows[i].payload) for i in ids] == messages


def test_enqueue_many_of_thousands_of_rows_takes_a_few_statements_and_keeps_their_order(
        db_engine: Engine, session_factory: SessionFactory) -> None:
    with transaction(session_factory) as s:  # rows before, the newest of them gone: ids leave gaps
        old = repo.enqueue_many(s, [("executor", {"old": i}) for i in range(5)])
        s.execute(delete(OutboxMessage).where(OutboxMessage.id.in_([old[1], old[4]])))
    inserts: list[str] = []

    def listener(conn: object, cursor: object, statement: str, *rest: object) -> None:
        if statement.lstrip().upper().startswith("INSERT"):
            inserts.append(statement)

    event.listen(db_engine, "before_cursor_execute", listener)
    messages = [("executor", {"n": i}) for i in range(2500)]
    try:
        with transaction(session_factory) as s:
            ids = repo.enqueue_many(s, messages)
    finally:
        event.remove(db_engine, "before_cursor_execute", listener)
    assert len(inserts) <= 5  # not one INSERT per row
    assert ids == sorted(ids) and len(set(ids) | {old[0], old[2], old[3]}) == 2503
    with transaction(session_factory) as s:
        rows = {r.id: r for r in repo.pending(s, 5000)}
    assert [(rows[i].topic, rows[i].payload) for i in ids] == messages


def test_purge_sent_in_batches_keeps_unsent_and_recent_rows(session_factory: SessionFactory) -> None:
    with transaction(session_factory) as s:
        ids = repo.enqueue_many(s, [("executor", {"n": n}) for n in range(7)])
        repo.mark_sent(s, ids[:5], at=at(100))
        repo.mark_sent(s, ids[5:6], at=at(10**9))  # sent, but recently: kept
    with transaction(session_factory) as s:
        assert repo.purge_sent(s, before=at(1000), limit=2) == 2
        assert repo.purge_sent(s, before=at(1000), limit=2) == 2
        assert repo.purge_sent(s, before=at(1000), limit=2) == 1
        assert repo.purge_sent(s, before=at(1000), limit=2) == 0
    with transaction(session_factory) as s:
        left = sorted(m.id for m in s.query(OutboxMessage))
    assert left == ids[5:]  # the recent one and the unsent one


def test_mark_sent_marks_exactly_the_ids_given_in_runs_or_alone(session_factory: SessionFactory) -> None:
    with transaction(session_factory) as s:
        ids = repo.enqueue_many(s, [("executor", {"n": n}) for n in range(20)])
    chosen = [ids[i] for i in (7, 0, 1, 2, 5, 6, 12, 19, 18, 2)]  # runs, lone ids, a repeat, any order
    with transaction(session_factory) as s:
        repo.mark_sent(s, chosen, at=at(100))
        repo.mark_sent(s, [])
    with transaction(session_factory) as s:
        left = [m.id for m in repo.pending(s, limit=100)]
    assert left == [i for i in ids if i not in set(chosen)]
