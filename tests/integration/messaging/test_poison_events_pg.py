"""On PostgreSQL and RabbitMQ, an engine event that can never be applied is no longer dead-lettered
after a few deliveries while its execution stays RUNNING: it fails its task (the error in
``state_info``), the task follows ``on-error``, and the message is acked. Events that meet a busy
database are redelivered until they are applied.

The poison is made by a fault injected into the engine's decisions for one result value."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from levante.config import load
from levante.db import repository as repo
from levante.db.session import transaction
from levante.engine import events as ev
from levante.engine.conductor import Conductor
from levante.engine.service.definitions import store
from levante.messaging import envelope as env
from levante.messaging.transport import Publisher
from levante.node import Node
from tests.integration.messaging.conftest import message_count

pytestmark = pytest.mark.integration


def test_a_poison_event_fails_its_task_instead_of_being_dead_lettered(
        pg_url: str, amqp_url: str, namespace: str, transport: Publisher, monkeypatch: pytest.MonkeyPatch) -> None:
    real = Conductor.handle

    def faulty(self: Conductor, event: ev.Event) -> Any:
        if isinstance(event, ev.ActionCompleted) and event.result == "poison":
            raise RuntimeError("injected fault: cannot apply this result")
        return real(self, event)

    monkeypatch.setattr(Conductor, "handle", faulty)
    name = f"poison_{uuid.uuid4().hex[:8]}"
    text = f"""
version: '2.0'
{name}:
  tasks:
    ask:
      action: std.async_noop
      publish: {{answer: <% task().result %>}}
      on-error: [handle]
    handle:
      action: std.echo output="handled"
      publish: {{handled: <% task().result %>}}
"""
    config = load(env={}, db_url=pg_url, transport_url=amqp_url, namespace=namespace)
    with Node(config) as node:
        with transaction(node.session_factory) as session:
            store(session, "workflows", text, update=True)
        poisoned = node.service.start_execution(name)
        healthy = node.service.start_execution(name)
        actions: dict[str, str] = {}
        deadline = time.monotonic() + 20
        while len(actions) < 2 and time.monotonic() < deadline:
            with transaction(node.read_factory) as session:
                for ex_id in (poisoned.id, healthy.id):
                    for task in repo.tasks_of(session, ex_id):
                        for action in repo.action_executions_of(session, task.id):
                            actions[ex_id] = action.id
            time.sleep(0.05)
        for ex_id, result in ((poisoned.id, "poison"), (healthy.id, "fine")):
            event = ev.ActionCompleted(ex_id, actions[ex_id], "SUCCESS", result)
            transport.publish("engine", env.encode(env.EVENT, event.to_dict()))
        done = node.service.wait(poisoned.id, 30)
        fine = node.service.wait(healthy.id, 30)
        with transaction(node.read_factory) as session:
            tasks = {t.name: t for t in repo.tasks_of(session, poisoned.id)}
    assert str(fine.state) == "SUCCESS" and fine.output == {"answer": "fine"}
    assert str(done.state) == "SUCCESS" and done.output == {"handled": "handled"}
    assert str(tasks["ask"].state) == "ERROR"
    assert "injected fault" in tasks["ask"].state_info
    assert message_count(amqp_url, f"{namespace}.dead") == 0
    assert message_count(amqp_url, f"{namespace}.engine") == 0
