"""The messaging layer on the real RabbitMQ: end to end, at-least-once, volume, broker failures."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kombu import Connection

from levante.engine import events as ev
from levante.exceptions import TransportError
from levante.executor.worker import ExecutorWorker
from levante.messaging import envelope as env
from levante.messaging.consumer import Consumer, Delivery
from levante.messaging.engine_consumer import EngineConsumer
from levante.messaging.transport import Publisher, RetryPolicy

from ...unit.messaging.helpers import Collector, RecordingRunner, run_action, wait_until
from .conftest import message_count

pytestmark = pytest.mark.integration


@pytest.fixture
def started(amqp_url: str) -> Iterator[Callable[[Consumer], Any]]:
    """Start consumers (and wait until they consume); stop them all at the end."""
    consumers: list[Consumer] = []

    def start(consumer: Consumer) -> Any:
        consumers.append(consumer.start())
        assert consumer.wait_ready(10), f"{consumer.name} did not connect"
        return consumer

    yield start
    for consumer in reversed(consumers):
        consumer.stop()


@pytest.fixture
def results(amqp_url: str, namespace: str, started: Callable[[Consumer], Any]) -> Collector:
    """Every event that reaches the engine queue."""
    got = Collector()
    started(EngineConsumer(amqp_url, got.extend, namespace=namespace))
    return got


def _send(transport: Publisher, command: Any) -> None:
    topic = f"executor.{command.target}" if command.target else "executor"
    transport.publish(topic, env.encode(env.RUN_ACTION, command.to_dict()))


def test_end_to_end(amqp_url: str, namespace: str, transport: Publisher, results: Collector,
                    started: Callable[[Consumer], Any]) -> None:
    worker = started(ExecutorWorker(amqp_url, RecordingRunner(), namespace=namespace, threads=2))
    _send(transport, run_action("ae-1", "std.echo", {"output": {"n": 1}}))
    assert results.wait_for(1) == [ev.ActionCompleted("ex-1", "ae-1", "SUCCESS", {"n": 1})]
    worker.stop()
    assert worker.stats == {"acked": 1}
    assert message_count(amqp_url, f"{namespace}.executor") == 0


def test_targets_route_on_rabbitmq(amqp_url: str, namespace: str, transport: Publisher, results: Collector,
                                   started: Callable[[Consumer], Any]) -> None:
    runners = {"a": RecordingRunner(), "b": RecordingRunner()}
    for target, runner in runners.items():
        started(ExecutorWorker(amqp_url, runner, namespace=namespace, target=target, threads=2))
    for ae_id, target in (("ae-a1", "a"), ("ae-b1", "b"), ("ae-a2", "a")):
        _send(transport, run_action(ae_id, target=target))
    results.wait_for(3)
    assert sorted(r.command.action_execution_id for r in runners["a"].requests.items) == ["ae-a1", "ae-a2"]
    assert [r.command.action_execution_id for r in runners["b"].requests.items] == ["ae-b1"]


def _take_and_crash(amqp_url: str, transport: Publisher) -> str:
    """A consumer takes the executor queue's message and dies without acking it."""
    connection = Connection(amqp_url)
    try:
        queue = transport.topology.executor_queue().bind(connection.default_channel)
        message = None
        deadline = time.monotonic() + 5
        while message is None and time.monotonic() < deadline:
            message = queue.get(no_ack=False)
        assert message is not None and not message.delivery_info["redelivered"]
        return str(message.payload["id"])
    finally:
        connection.close()  # no ack: the broker requeues the message


def test_a_message_held_by_a_crashed_consumer_is_redelivered(amqp_url: str, transport: Publisher,
                                                             started: Callable[[Consumer], Any]) -> None:
    body = env.encode(env.EVENT, {"kind": "pause_requested", "execution_id": "ex-1"})
    transport.publish("executor", body)
    assert _take_and_crash(amqp_url, transport) == body["id"]
    got = Collector()
    started(Consumer(amqp_url, [transport.topology.executor_queue()], got.append))
    [delivery] = got.wait_for(1)
    assert delivery.envelope.id == body["id"]
    assert delivery.redelivered is True


def test_a_consumer_that_dies_mid_handler_loses_the_message_to_another(
        amqp_url: str, transport: Publisher, started: Callable[[Consumer], Any]) -> None:
    queue = transport.topology.executor_queue()
    in_handler, release = threading.Event(), threading.Event()

    def stuck(delivery: Delivery) -> None:
        in_handler.set()
        release.wait(10)

    first = started(Consumer(amqp_url, [queue], stuck))
    body = env.encode(env.EVENT, {"kind": "pause_requested", "execution_id": "ex-1"})
    transport.publish("executor", body)
    assert in_handler.wait(10)
    got = Collector()
    started(Consumer(amqp_url, [queue], got.append))
    first._live_connection.connection.transport.sock.shutdown(socket.SHUT_RDWR)  # it dies, no ack
    [delivery] = got.wait_for(1)
    release.set()
    assert delivery.envelope.id == body["id"]
    assert delivery.redelivered is True


def test_a_crashed_executor_leaves_a_request_that_fails_cleanly(amqp_url: str, namespace: str,
                                                                 transport: Publisher, results: Collector,
                                                                 started: Callable[[Consumer], Any]) -> None:
    _send(transport, run_action("ae-1", "std.echo", {"output": 1}))
    _take_and_crash(amqp_url, transport)
    started(ExecutorWorker(amqp_url, RecordingRunner(), namespace=namespace))
    [event] = results.wait_for(1)
    assert event.state == "ERROR" and "cannot be re-run safely" in event.result


def test_a_failing_handler_gets_the_message_again_then_dead_letters_it(
        amqp_url: str, namespace: str, transport: Publisher, started: Callable[[Consumer], Any]) -> None:
    calls = Collector()

    def broken(delivery: Delivery) -> None:
        calls.append(delivery.redelivered)
        raise RuntimeError("cannot handle it")

    body = env.encode(env.EVENT, {"kind": "pause_requested", "execution_id": "ex-1"})
    transport.publish("executor", body)
    consumer = started(Consumer(amqp_url, [transport.topology.executor_queue()], broken, max_redeliveries=2,
                                retry_delay=0.01))
    assert calls.wait_for(3) == [False, True, True]
    consumer.stop()
    assert consumer.stats["dead_lettered"] == 1
    assert message_count(amqp_url, f"{namespace}.executor") == 0
    with Connection(amqp_url) as connection:
        dead = transport.topology.dead_queue.bind(connection.default_channel).get(no_ack=True)
    assert dead is not None and dead.payload == body


def test_200_requests_through_two_workers_give_200_results(amqp_url: str, namespace: str,
                                                           transport: Publisher, results: Collector,
                                                           started: Callable[[Consumer], Any]) -> None:
    workers = [started(ExecutorWorker(amqp_url, RecordingRunner(), namespace=namespace, threads=4))
               for _ in range(2)]
    for n in range(200):
        _send(transport, run_action(f"ae-{n}", "std.echo", {"output": n}))
    events = results.wait_for(200, timeout=30)
    for worker in workers:
        worker.stop()
    assert len(results) == 200  # nothing more arrived while the workers stopped
    assert sorted(e.action_execution_id for e in events) == sorted(f"ae-{n}" for n in range(200))
    assert all(e.state == "SUCCESS" and e.result == int(e.action_execution_id[3:]) for e in events)
    assert [w.stats["acked"] > 0 for w in workers] == [True, True]
    assert sum(w.stats["acked"] for w in workers) == 200
    assert message_count(amqp_url, f"{namespace}.executor") == 0
    assert message_count(amqp_url, f"{namespace}.engine") == 0


def test_consumers_and_publishers_survive_a_dropped_connection(amqp_url: str, namespace: str,
                                                               transport: Publisher, results: Collector,
                                                               started: Callable[[Consumer], Any]) -> None:
    worker = started(ExecutorWorker(amqp_url, RecordingRunner(), namespace=namespace))
    _send(transport, run_action("ae-1"))
    results.wait_for(1)
    wait_until(lambda: worker.stats["acked"] == 1, what="the ack of ae-1")
    # the network drops both the worker's consumer connection and the publisher's connection
    for connection in (worker._live_connection, transport._connection):
        connection.connection.transport.sock.shutdown(socket.SHUT_RDWR)
    _send(transport, run_action("ae-2"))
    assert [e.action_execution_id for e in results.wait_for(2, timeout=15)] == ["ae-1", "ae-2"]
    wait_until(lambda: worker.stats["acked"] == 2, what="the ack of ae-2")


def test_a_lost_ack_does_not_run_the_action_twice(amqp_url: str, namespace: str, transport: Publisher,
                                                   results: Collector, started: Callable[[Consumer], Any]) -> None:
    runner = RecordingRunner()
    worker = started(ExecutorWorker(amqp_url, runner, namespace=namespace))
    remember = worker._remember

    def remember_then_lose_the_connection(action_execution_id: str) -> None:
        # the result is published; the request is not acked yet (that follows settle())
        remember(action_execution_id)
        worker._live_connection.connection.transport.sock.shutdown(socket.SHUT_RDWR)
        worker._remember = remember  # type: ignore[method-assign]

    worker._remember = remember_then_lose_the_connection  # type: ignore[method-assign]
    _send(transport, run_action("ae-1", "std.echo", {"output": 1}))
    results.wait_for(1)
    wait_until(lambda: worker.stats["acked"] == 1, timeout=15, what="the ack of the redelivered request")
    worker.stop()
    assert [r.redelivered for r in runner.requests.items] == [False]
    assert results.items == [ev.ActionCompleted("ex-1", "ae-1", "SUCCESS", 1)]
    assert message_count(amqp_url, f"{namespace}.executor") == 0


def test_publishing_to_a_closed_port_fails_fast_and_clearly() -> None:
    policy = RetryPolicy(max_retries=2, interval_start=0, interval_step=0.1, interval_max=0.2,
                         connect_timeout=1)
    transport = Publisher("amqp://guest:s3cret@127.0.0.1:1//", "levante_test_down", policy)
    started = time.monotonic()
    with pytest.raises(TransportError) as raised:
        transport.publish("executor", env.encode(env.RUN_ACTION, run_action("ae-1").to_dict()))
    assert time.monotonic() - started < 5
    error = raised.value
    assert error.recoverable is True
    assert "amqp://guest:**@127.0.0.1:1//" in str(error) and "unreachable after 3 attempt(s)" in str(error)
    assert "s3cret" not in str(error)


def test_wrong_credentials_are_not_retried(amqp_url: str, namespace: str) -> None:
    url = Connection(amqp_url).as_uri(include_password=False).replace(":**@", ":wrong-password@")
    url = url.replace("amqp://guest:", "amqp://levante-nobody:")
    transport = Publisher(url, namespace, RetryPolicy(max_retries=5, interval_start=1, connect_timeout=2))
    started = time.monotonic()
    with pytest.raises(TransportError) as raised:
        transport.publish("engine", env.encode(env.EVENT, {}))
    assert raised.value.recoverable is False
    assert "wrong-password" not in str(raised.value)
    assert time.monotonic() - started < 5


def test_engine_consumer_batches_on_rabbitmq(amqp_url: str, namespace: str, transport: Publisher,
                                             started: Callable[[Consumer], Any]) -> None:
    sizes: list[int] = []
    got = Collector()
    lock = threading.Lock()

    def handler(events: list[ev.Event]) -> None:
        with lock:
            sizes.append(len(events))
        got.extend(events)

    for n in range(300):
        event = ev.ActionCompleted("ex", f"ae-{n}", "SUCCESS")
        transport.publish("engine", env.encode(env.EVENT, event.to_dict()))
    started(EngineConsumer(amqp_url, handler, namespace=namespace, batch=100, window=0.02))
    assert len(got.wait_for(300)) == 300
    assert max(sizes) <= 100 and len(sizes) < 300
    assert message_count(amqp_url, f"{namespace}.engine") == 0
