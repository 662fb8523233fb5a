"""The outbox relay."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any

import pytest
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
    assert outbox.flush(10)  # send() hands the rows to the publishing thread
    assert (outbox.sent, outbox.unpublished) == ([0], [2])


def test_a_relay_that_is_not_open_reports_every_row_never_published() -> None:
    outbox = _Outbox(_BrokerGoesDown(after=0))
    outbox.relay = None
    outbox.send([(5, "executor", run_action("ae-5").to_dict())])
    assert outbox.flush(10)
    assert (outbox.sent, outbox.unpublished) == ([], [5])


class _Gated:
    """A transport whose ``publish_many`` waits for ``go`` and records each batch it was given."""

    def __init__(self) -> None:
        self.go = threading.Event()
        self.batches: list[int] = []
        self.threads: set[str] = set()

    def publish_many(self, items: list[Any]) -> list[None]:
        self.go.wait(10)
        self.batches.append(len(items))
        self.threads.add(threading.current_thread().name)
        return [None] * len(items)


def _rows(first: int, count: int) -> list[tuple[int, str, dict[str, Any]]]:
    return [(n, "executor", run_action(f"ae-{n}").to_dict()) for n in range(first, first + count)]


def test_send_does_not_wait_for_the_broker_and_rows_waiting_go_out_together() -> None:
    transport = _Gated()
    outbox = _Outbox(transport)
    outbox.send(_rows(0, 1))  # returns at once: the thread is held in publish_many
    deadline = time.monotonic() + 10
    while outbox._waiting and time.monotonic() < deadline:  # noqa: SLF001 - wait for the thread to take it
        time.sleep(0.001)
    for n in range(1, 40):  # meanwhile 39 more commits hand over their rows
        outbox.send(_rows(n, 1))
    assert outbox.sent == []
    transport.go.set()
    assert outbox.flush(10)
    assert sorted(outbox.sent) == list(range(40))
    assert transport.batches == [1, 39]  # one confirm wait for the 39 rows that waited
    assert transport.threads == {"levante-relay"}


def test_close_publishes_what_waits() -> None:
    transport = _Gated()
    outbox = _Outbox(transport)
    outbox.send(_rows(0, 3))
    transport.go.set()
    outbox.close()
    assert sorted(outbox.sent) == [0, 1, 2]
    outbox.send(_rows(3, 1))  # after the close: left to the sweeper, as a first delivery
    assert outbox.unpublished == [3]


def test_rows_past_the_limit_are_left_to_the_sweeper(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(BrokerOutbox, "MAX_WAITING", 5)
    transport = _Gated()
    outbox = _Outbox(transport)
    outbox.send(_rows(0, 1))  # taken by the thread, held
    deadline = time.monotonic() + 10
    while outbox._waiting and time.monotonic() < deadline:  # noqa: SLF001 - the hand-over is the point
        time.sleep(0.001)
    outbox.send(_rows(1, 5))  # waits
    outbox.send(_rows(6, 1))  # one too many
    assert outbox.unpublished == [6]
    transport.go.set()
    assert outbox.flush(10)
    assert sorted(outbox.sent) == [0, 1, 2, 3, 4, 5]


def test_a_failing_on_sent_does_not_stop_the_thread() -> None:
    transport = _Gated()
    transport.go.set()
    calls: list[list[int]] = []

    def on_sent(ids: list[int]) -> None:
        calls.append(ids)
        if len(calls) == 1:
            raise RuntimeError("the marks' database is away")

    outbox = BrokerOutbox("amqp://x", "ns", on_sent)
    outbox.relay = Relay(transport)  # type: ignore[arg-type]
    outbox.send(_rows(0, 1))
    assert outbox.flush(10)
    outbox.send(_rows(1, 1))
    assert outbox.flush(10)
    assert calls == [[0], [1]]
