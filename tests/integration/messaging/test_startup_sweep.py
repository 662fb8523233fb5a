"""An engine that starts beside running processes re-sends only the outbox rows left over: a row
another process has just committed (and is publishing) is not sent a second time, flagged as
re-sent, which would fail its non-safe-rerun action on the executor that gets the copy."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from levante.config import load
from levante.db.models import OutboxMessage
from levante.db.repository import enqueue_many
from levante.db.session import transaction
from levante.engine.records import utcnow
from levante.node import Node

pytestmark = pytest.mark.integration


def _payload(action_id: str) -> dict[str, Any]:
    return {"action_execution_id": action_id, "action_name": "std.noop", "input": {}}


def test_engine_start_resends_old_rows_only(pg_url: str, amqp_url: str, namespace: str) -> None:
    node = Node(load(env={}, db_url=pg_url, role="engine", transport_url=amqp_url, namespace=namespace))
    with transaction(node.session_factory) as session:
        old, fresh = enqueue_many(session, [("executor", _payload("old")), ("executor", _payload("fresh"))])
        row = session.get(OutboxMessage, old)
        row.created_at = utcnow() - timedelta(minutes=5)  # left by a process that died
    node.start()
    try:
        deadline = time.monotonic() + 10
        sent: dict[int, Any] = {}
        while time.monotonic() < deadline:
            with transaction(node.read_factory) as session:
                sent = dict(session.execute(select(OutboxMessage.id, OutboxMessage.sent_at)
                                            .where(OutboxMessage.id.in_([old, fresh]))).all())
            if sent.get(old) is not None:
                break
            time.sleep(0.1)
    finally:
        node.stop()
    assert sent[old] is not None, "the left-over row was not re-sent at start"
    assert sent[fresh] is None, "a fresh row (another process is publishing it) was sent again"
