"""One engine sweeps the outbox at a time (a PostgreSQL advisory lock): two engines sweeping at once
would each send a copy of every row left over; a flagged copy of a row whose first copy is on its
way fails a task that is not safe to re-run."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, update

from levante.db import repository as repo
from levante.db.models import OutboxMessage
from levante.db.session import SWEEP_LOCK_KEY, SessionFactory, exclusive, make_session_factory, transaction
from levante.engine.records import utcnow
from levante.engine.service.outbox import Sweeper
from tests.unit.db.test_concurrency import run_threads

pytestmark = pytest.mark.integration


def test_two_sweepers_at_once_send_each_row_once(db_engine: Engine, session_factory: SessionFactory) -> None:
    reads = make_session_factory(db_engine, read_only=True)
    with transaction(session_factory) as s:
        ids = repo.enqueue_many(s, [("executor", {"n": n}) for n in range(20)])
        repo.mark_unpublished(s, ids[:10])
        s.execute(update(OutboxMessage).values(created_at=utcnow() - timedelta(minutes=1)))
    sent: list[list[tuple[int, bool]]] = [[], []]

    def sender(i: int) -> Any:
        def send(rows: list[tuple[int, str, dict[str, Any]]]) -> None:
            time.sleep(0.5)  # a publish that takes a while: the other sweeper comes along meanwhile
            sent[i].extend((row_id, bool(payload.get("info", {}).get("resent"))) for row_id, _, payload in rows)
        return send

    sweepers = [Sweeper(reads, sender(i), write_factory=session_factory) for i in range(2)]
    run_threads(2, lambda i: sweepers[i].sweep(older_than=10))
    assert [len(rows) for rows in sent].count(0) == 1, sent
    assert sorted(sent[0] + sent[1]) == [(row_id, n >= 10) for n, row_id in enumerate(ids)]


def test_the_lock_is_released_after_the_block(session_factory: SessionFactory) -> None:
    with exclusive(session_factory, SWEEP_LOCK_KEY) as first:
        got: list[bool] = []
        thread = threading.Thread(target=lambda: got.append(_try(session_factory)))
        thread.start()
        thread.join()
        assert first and got == [False]
    assert _try(session_factory)


def _try(session_factory: SessionFactory) -> bool:
    with exclusive(session_factory, SWEEP_LOCK_KEY) as held:
        return held
