"""The outbox relay."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kombu import Connection

from levante.exceptions import TransportError
from levante.messaging import envelope as env
from levante.messaging.relay import BrokerOutbox, Relay
from levante.messaging.transport import Publisher, connect

from .conftest import URL, queue_size
from .helpers import run_action


def _get(transport: Publisher, conn: Connection, topic: str) -> dict[str, Any]:
    message = transport.topology.queue_for(topic).bind(conn.default_channel).get(no_ack=True)
    assert message is not None
    return message.payload


def test_rows_are_published_to_their_topics(transport: Publisher, namespace: str) -> None:
    a, b = run_action("ae-1").to_dict(), run_action("ae-2", target="gpu").to_dict()
    assert Relay(transport).send([(7, "executor", a), (8, "executor.gpu", b)]) == ([7, 8], [])
    with connect(URL) as conn:
        first, second = _get(transport, conn, "executor"), _get(transport, conn, "executor.gpu")
    assert env.decode(first).type == env.RUN_ACTION and first["payload"] == a
    assert env.decode(second).payload == b


def test_rows_that_can_never_be_sent_are_skipped(transport: Publisher, namespace: str) -> None:
    rows = [(1, "engine", {}), (2, "executor.", {}), (3, "executor", {"bad": object()}),
            (4, "executor", run_action("ae-4").to_dict())]
    assert Relay(transport).send(rows) == ([4], [])
    assert queue_size(f"{namespace}.executor") == 1
    assert queue_size(f"{namespace}.engine") == 0


class _BrokerGoesDown:
    def __init__(self, after: int, unsent: bool = False) -> None:
        self.after = after
        self.unsent = unsent
        self.published: list[str] = []

    def publish(self, topic: str, envelope: Mapping[str, Any]) -> None:
        if len(self.published) == self.after:
            raise TransportError("Message broker at amqp://x is unreachable", recoverable=True, unsent=self.unsent)
        self.published.append(envelope["payload"]["action_execution_id"])


def test_an_unreachable_broker_leaves_the_rest_for_the_sweeper() -> None:
    transport = _BrokerGoesDown(after=2)
    rows = [(n, "executor", run_action(f"ae-{n}").to_dict()) for n in range(5)]
    # Row 2 may have reached the broker before the connection failed; 3 and 4 were never tried.
    assert Relay(transport).send(rows) == ([0, 1], [3, 4])  # type: ignore[arg-type]
    assert transport.published == ["ae-0", "ae-1"]


def test_a_row_that_failed_before_a_connection_was_open_is_known_unsent() -> None:
    transport = _BrokerGoesDown(after=1, unsent=True)
    rows = [(n, "executor", run_action(f"ae-{n}").to_dict()) for n in range(3)]
    assert Relay(transport).send(rows) == ([0], [1, 2])  # type: ignore[arg-type]


def test_nothing_to_send() -> None:
    assert Relay(_BrokerGoesDown(after=0)).send([]) == ([], [])  # type: ignore[arg-type]


class _Outbox(BrokerOutbox):
    def __init__(self, transport: Any) -> None:
        self.sent: list[int] = []
        self.unpublished: list[int] = []
        super().__init__("amqp://x", "ns", self.sent.extend, on_unpublished=self.unpublished.extend)
        self.relay = Relay(transport)


def test_only_first_sends_are_reported_never_published() -> None:
    """A row the sweeper re-sends flagged as a repeat may have reached the broker from its first
    publisher: whatever becomes of this copy, it must stay a repeat."""
    outbox = _Outbox(_BrokerGoesDown(after=1, unsent=True))
    first, again, fresh = (run_action(f"ae-{n}").to_dict() for n in range(3))
    again["info"] = {**again.get("info", {}), "resent": True}
    outbox.send([(0, "executor", first), (1, "executor", again), (2, "executor", fresh)])
    assert (outbox.sent, outbox.unpublished) == ([0], [2])


def test_a_relay_that_is_not_open_reports_every_row_never_published() -> None:
    outbox = _Outbox(_BrokerGoesDown(after=0))
    outbox.relay = None
    outbox.send([(5, "executor", run_action("ae-5").to_dict())])
    assert (outbox.sent, outbox.unpublished) == ([], [5])
