"""The outbox relay."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kombu import Connection

from levante.exceptions import TransportError
from levante.messaging import envelope as env
from levante.messaging.relay import Relay
from levante.messaging.transport import Publisher, connect

from .conftest import URL, queue_size
from .helpers import run_action


def _get(transport: Publisher, conn: Connection, topic: str) -> dict[str, Any]:
    message = transport.topology.queue_for(topic).bind(conn.default_channel).get(no_ack=True)
    assert message is not None
    return message.payload


def test_rows_are_published_to_their_topics(transport: Publisher, namespace: str) -> None:
    a, b = run_action("ae-1").to_dict(), run_action("ae-2", target="gpu").to_dict()
    assert Relay(transport).send([(7, "executor", a), (8, "executor.gpu", b)]) == [7, 8]
    with connect(URL) as conn:
        first, second = _get(transport, conn, "executor"), _get(transport, conn, "executor.gpu")
    assert env.decode(first).type == env.RUN_ACTION and first["payload"] == a
    assert env.decode(second).payload == b


def test_rows_that_can_never_be_sent_are_skipped(transport: Publisher, namespace: str) -> None:
    rows = [(1, "engine", {}), (2, "executor.", {}), (3, "executor", {"bad": object()}),
            (4, "executor", run_action("ae-4").to_dict())]
    assert Relay(transport).send(rows) == [4]
    assert queue_size(f"{namespace}.executor") == 1
    assert queue_size(f"{namespace}.engine") == 0


class _BrokerGoesDown:
    def __init__(self, after: int) -> None:
        self.after = after
        self.published: list[str] = []

    def publish(self, topic: str, envelope: Mapping[str, Any]) -> None:
        if len(self.published) == self.after:
            raise TransportError("Message broker at amqp://x is unreachable", recoverable=True)
        self.published.append(envelope["payload"]["action_execution_id"])


def test_an_unreachable_broker_leaves_the_rest_for_the_sweeper() -> None:
    transport = _BrokerGoesDown(after=2)
    rows = [(n, "executor", run_action(f"ae-{n}").to_dict()) for n in range(5)]
    assert Relay(transport).send(rows) == [0, 1]  # type: ignore[arg-type]
    assert transport.published == ["ae-0", "ae-1"]


def test_nothing_to_send() -> None:
    assert Relay(_BrokerGoesDown(after=0)).send([]) == []  # type: ignore[arg-type]
