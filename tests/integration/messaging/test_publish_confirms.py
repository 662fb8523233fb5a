"""Publishing in batches with publisher confirms on the real RabbitMQ: what ``publish_many``
reports confirmed is on the queue, what the broker nacked or a lost connection left unconfirmed is
reported so, and the executor acks a request only once the broker confirmed its result."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from kombu import Connection, Queue

from levante.exceptions import TransportError
from levante.executor.worker import ExecutorWorker
from levante.messaging import envelope as env
from levante.messaging.transport import Publisher

from ...unit.messaging.helpers import RecordingRunner, run_action, wait_until
from .conftest import FAST_RETRY, message_count
from .cuttable import CuttableLink

pytestmark = pytest.mark.integration


@pytest.fixture
def link(amqp_url: str) -> Iterator[CuttableLink]:
    link = CuttableLink.to(amqp_url)
    yield link
    link.close()


def _events(count: int, start: int = 0) -> list[tuple[str, dict[str, Any]]]:
    return [("engine", env.encode(env.EVENT, {"kind": "pause_requested", "execution_id": f"ex-{n}"}))
            for n in range(start, start + count)]


def test_publish_many_reports_every_message_confirmed_and_they_are_all_on_the_queue(
        amqp_url: str, namespace: str, transport: Publisher) -> None:
    assert transport.publish_many(_events(500)) == [None] * 500
    assert transport.publish_many(_events(3, start=500)) == [None] * 3
    assert message_count(amqp_url, f"{namespace}.engine") == 503
    with Connection(amqp_url) as connection:
        queue = transport.topology.engine_queue.bind(connection.default_channel)
        ids = [queue.get(no_ack=True).payload["payload"]["execution_id"] for _ in range(503)]
    assert ids == [f"ex-{n}" for n in range(503)]  # in order


def test_messages_the_broker_nacks_are_reported_not_confirmed(amqp_url: str, namespace: str,
                                                              transport: Publisher) -> None:
    # A second queue on the engine topic that takes two messages and rejects the next ones: RabbitMQ
    # nacks a publish that a queue it is routed to rejects.
    full = Queue(f"{namespace}.full", transport.topology.exchange, routing_key="engine", durable=False,
                 queue_arguments={"x-max-length": 2, "x-overflow": "reject-publish"})
    transport.publish_many(_events(0))  # declares the exchange
    with Connection(amqp_url) as connection:
        full.bind(connection.default_channel).declare()
    try:
        failures = transport.publish_many(_events(5))
        assert failures[:2] == [None, None]
        for failure in failures[2:]:
            assert isinstance(failure, TransportError) and "basic.nack" in str(failure)
            assert failure.recoverable and not failure.unsent
        with pytest.raises(TransportError, match="basic.nack"):
            transport.publish(*_events(1)[0])
    finally:
        with Connection(amqp_url) as connection:
            full.bind(connection.default_channel).delete()


def test_a_connection_lost_before_the_confirms_leaves_the_batch_not_known_published(
        amqp_url: str, namespace: str, link: CuttableLink) -> None:
    publisher = Publisher(link.url(amqp_url), namespace, FAST_RETRY)
    try:
        assert publisher.publish_many(_events(2)) == [None, None]
        link.hold()  # the broker's confirms no longer reach the publisher
        outcome: list[list[Exception | None]] = []
        sending = threading.Thread(target=lambda: outcome.append(publisher.publish_many(_events(50, start=2))))
        sending.start()
        wait_until(lambda: message_count(amqp_url, f"{namespace}.engine") == 52, what="the batch on the queue")
        link.cut()
        sending.join(30)
        [failures] = outcome
        # The broker has them all, but the publisher cannot know it: none is reported confirmed,
        # and none certainly unsent (each went out).
        assert len(failures) == 50
        for failure in failures:
            assert isinstance(failure, TransportError) and failure.recoverable and not failure.unsent
        # Once the broker is reachable again, a new connection publishes and confirms.
        link.restore()
        assert publisher.publish_many(_events(2, start=52)) == [None, None]
        assert message_count(amqp_url, f"{namespace}.engine") == 54
    finally:
        publisher.close()


def test_confirms_that_do_not_come_in_time_leave_the_batch_not_known_published(
        amqp_url: str, namespace: str, link: CuttableLink) -> None:
    publisher = Publisher(link.url(amqp_url), namespace, FAST_RETRY, confirm_timeout=0.5)
    try:
        publisher.publish(*_events(1)[0])
        link.hold()
        failures = publisher.publish_many(_events(10))
        assert all(isinstance(f, TransportError) and f.recoverable and not f.unsent for f in failures)
        assert "did not confirm" in str(failures[0])
        link.release()
        assert publisher.publish_many(_events(3)) == [None] * 3
    finally:
        publisher.close()


def test_a_batch_that_never_went_out_is_known_unsent(amqp_url: str, namespace: str, link: CuttableLink) -> None:
    publisher = Publisher(link.url(amqp_url), namespace, FAST_RETRY)
    try:
        publisher.publish(*_events(1)[0])
        link.cut()
        failures = publisher.publish_many(_events(3))
        assert all(isinstance(f, TransportError) and f.recoverable and f.unsent for f in failures)
    finally:
        publisher.close()


def test_the_executor_acks_a_request_only_once_its_result_is_confirmed(
        amqp_url: str, namespace: str, transport: Publisher, link: CuttableLink) -> None:
    runner = RecordingRunner()
    worker = ExecutorWorker(amqp_url, runner, namespace=namespace, threads=2, retry_delay=0.5)
    # Its results (only) go through the link.
    worker.transport = Publisher(link.url(amqp_url), namespace, FAST_RETRY)
    worker.start()

    def send(ae_id: str) -> None:
        transport.publish("executor", env.encode(env.RUN_ACTION, run_action(
            ae_id, "std.echo", {"output": ae_id}, safe_rerun=True).to_dict()))

    with Connection(amqp_url) as connection:
        transport.topology.engine_queue.bind(connection.default_channel).declare()
    try:
        assert worker.wait_ready(10)
        send("ae-0")  # opens the worker's publishing connection
        wait_until(lambda: worker.stats["acked"] == 1, what="the ack of ae-0")
        wait_until(lambda: message_count(amqp_url, f"{namespace}.engine") == 1, what="the result of ae-0")
        link.hold()  # results reach the broker; their confirms do not reach the worker
        send("ae-1")
        wait_until(lambda: message_count(amqp_url, f"{namespace}.engine") == 2, what="the result on the queue")
        assert worker.stats["acked"] == 1
        link.cut()  # the worker never learns that the result was stored
        wait_until(lambda: worker.stats["failed"] == 1, what="the result reported not published")
        link.restore()
        # The request was not acked: it comes back redelivered, and its result is published again.
        requests = runner.requests.wait_for(3, timeout=30)
        wait_until(lambda: worker.stats["acked"] == 2, timeout=30, what="the ack of the redelivered request")
        assert [(r.command.action_execution_id, r.redelivered) for r in requests] == [
            ("ae-0", False), ("ae-1", False), ("ae-1", True)]
        assert message_count(amqp_url, f"{namespace}.executor") == 0
        assert message_count(amqp_url, f"{namespace}.engine") == 3
    finally:
        worker.stop()
