"""The Consumer base: ack after the handler, requeue on failure, dead-letter, malformed bodies."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from types import SimpleNamespace

import pytest
from kombu import Producer

from levante.messaging import envelope as env
from levante.messaging.consumer import Consumer, Delivery, redelivered
from levante.messaging.transport import Publisher, connect

from .conftest import URL, queue_size
from .helpers import Collector


@pytest.fixture
def consumers() -> Iterator[Callable[..., Consumer]]:
    """Build and start consumers on the test's executor queue; stop them all at the end."""
    started: list[Consumer] = []

    def make(transport: Publisher, handler: Callable[[Delivery], None], **options: object) -> Consumer:
        consumer = Consumer(URL, [transport.topology.executor_queue()], handler, **options)  # type: ignore[arg-type]
        started.append(consumer.start())
        assert consumer.wait_ready(5)
        return consumer

    yield make
    for consumer in started:
        consumer.stop()


def _event(n: int = 1) -> dict[str, object]:
    return env.encode(env.EVENT, {"kind": "pause_requested", "execution_id": f"ex-{n}"})


def test_publish_consume_ack(transport: Publisher, namespace: str,
                             consumers: Callable[..., Consumer]) -> None:
    got = Collector()
    body = _event()
    consumer = consumers(transport, got.append)
    transport.publish("executor", body)
    [delivery] = got.wait_for(1)
    assert delivery.envelope.to_dict() == body
    assert delivery.payload == body["payload"]
    assert delivery.redelivered is False
    consumer.stop()
    assert consumer.stats == {"acked": 1}
    assert queue_size(f"{namespace}.executor") == 0


def test_a_failed_message_comes_back_redelivered(transport: Publisher,
                                                 consumers: Callable[..., Consumer]) -> None:
    got = Collector()

    def flaky(delivery: Delivery) -> None:
        got.append(delivery)
        if len(got) == 1:
            raise RuntimeError("database is down")

    consumer = consumers(transport, flaky, retry_delay=0)
    body = _event()
    transport.publish("executor", body)
    first, second = got.wait_for(2)
    assert first.envelope.id == second.envelope.id == body["id"]
    assert (first.redelivered, second.redelivered) == (False, True)
    consumer.stop()
    assert consumer.stats == {"failed": 1, "requeued": 1, "acked": 1}


def test_requeue_waits_a_backoff(transport: Publisher, consumers: Callable[..., Consumer]) -> None:
    times = Collector()

    def failing_once(delivery: Delivery) -> None:
        times.append(time.monotonic())
        if len(times) == 1:
            raise RuntimeError("try later")

    consumers(transport, failing_once, retry_delay=0.2)
    transport.publish("executor", _event())
    first, second = times.wait_for(2)
    assert second - first >= 0.2


def test_a_message_that_keeps_failing_is_dead_lettered(transport: Publisher, namespace: str,
                                                       consumers: Callable[..., Consumer]) -> None:
    calls = Collector()
    done = threading.Event()

    def broken(delivery: Delivery) -> None:
        calls.append(delivery.redelivered)
        raise ValueError("poison")

    consumer = consumers(transport, broken, retry_delay=0, max_redeliveries=2)
    transport.publish("executor", _event(1))
    assert calls.wait_for(3) == [False, True, True]
    # the next message proves the poison one is gone for good
    consumer.handler = lambda delivery: done.set()
    transport.publish("executor", _event(2))
    assert done.wait(5)
    consumer.stop()
    assert len(calls) == 3
    assert consumer.stats == {"failed": 3, "requeued": 2, "dead_lettered": 1, "acked": 1}
    assert queue_size(f"{namespace}.executor") == 0


@pytest.mark.parametrize("body, content_type", [
    ('{"hello": "world"}', "application/json"),
    ("not json at all", "application/json"),
    ('{"v": 9, "id": "x", "type": "event", "sent_at": "2024-01-01T00:00:00", "payload": {}}',
     "application/json"),
    ("plain text", "text/plain"),
], ids=["not an envelope", "not json", "wrong version", "not json content"])
def test_malformed_messages_are_acked_and_dropped(transport: Publisher, namespace: str, body: str,
                                                  content_type: str, consumers: Callable[..., Consumer],
                                                  caplog: pytest.LogCaptureFixture) -> None:
    got = Collector()
    consumer = consumers(transport, got.append)
    transport.publish("executor", _event())  # declares the topology
    got.wait_for(1)
    with connect(URL) as conn:
        Producer(conn).publish(body, exchange=namespace, routing_key="executor", content_type=content_type,
                               content_encoding="utf-8")
    transport.publish("executor", _event(2))
    got.wait_for(2)
    consumer.stop()
    assert len(got) == 2
    assert consumer.stats == {"acked": 2, "malformed": 1}
    assert "dropping malformed message" in caplog.text
    assert queue_size(f"{namespace}.executor") == 0


def test_settle_from_another_thread(transport: Publisher, namespace: str) -> None:
    """Work handed to another thread is acked by the consumer thread once reported."""
    threads = Collector()

    class Deferred(Consumer):
        def dispatch(self, delivery: Delivery) -> None:
            def work() -> None:
                time.sleep(0.01)
                self.settle(delivery, True)
                threads.append(threading.current_thread().name)
            threading.Thread(target=work, name="worker").start()

    consumer = Deferred(URL, [transport.topology.executor_queue()], prefetch_count=4).start()
    try:
        for n in range(10):
            transport.publish("executor", _event(n))
        threads.wait_for(10)
    finally:
        consumer.stop()  # waits for the deferred work to be settled
    assert threads.items == ["worker"] * 10
    assert consumer.stats == {"acked": 10}
    assert queue_size(f"{namespace}.executor") == 0


def test_stop_before_the_broker_answers_returns() -> None:
    consumer = Consumer("amqp://guest:guest@127.0.0.1:1//", [], lambda d: None).start()
    started = time.monotonic()
    consumer.stop(timeout=1)
    assert time.monotonic() - started < 5


def test_redelivered_reads_amqp_and_memory_flags() -> None:
    assert redelivered(SimpleNamespace(delivery_info={"redelivered": True}))
    assert not redelivered(SimpleNamespace(delivery_info={"redelivered": False}))
    assert redelivered(SimpleNamespace(delivery_info={}, _raw={"redelivered": True}))
    assert not redelivered(SimpleNamespace(delivery_info={}, _raw={}))


def test_prefetch_must_be_positive() -> None:
    with pytest.raises(ValueError):
        Consumer(URL, [], lambda d: None, prefetch_count=0)
