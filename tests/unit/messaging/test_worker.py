"""ExecutorWorker end to end on memory://: the real runner, the real std actions."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from levante.engine import events as ev
from levante.exceptions import TransportError
from levante.executor.worker import ExecutorWorker
from levante.messaging import envelope as env
from levante.messaging.consumer import Consumer, Delivery
from levante.messaging.engine_consumer import EngineConsumer
from levante.messaging.transport import Publisher

from .conftest import URL, queue_size
from .helpers import Collector, RecordingRunner, run_action, wait_until


@pytest.fixture
def results(namespace: str) -> Iterator[Collector]:
    """Every event that reaches the engine queue."""
    got = Collector()
    consumer = EngineConsumer(URL, got.extend, namespace=namespace).start()
    assert consumer.wait_ready(5)
    yield got
    consumer.stop()


@pytest.fixture
def workers(namespace: str) -> Iterator[Callable[..., ExecutorWorker]]:
    started: list[ExecutorWorker] = []

    def make(runner: Any = None, **options: Any) -> ExecutorWorker:
        worker = ExecutorWorker(URL, runner or RecordingRunner(), namespace=namespace, **options)
        started.append(worker.start())
        assert worker.wait_ready(5)
        return worker

    yield make
    for worker in started:
        worker.stop()


def _send(transport: Publisher, command: Any) -> None:
    topic = f"executor.{command.target}" if command.target else "executor"
    transport.publish(topic, env.encode(env.RUN_ACTION, command.to_dict()))


def test_echo_result_reaches_the_engine_queue(transport: Publisher, namespace: str, results: Collector,
                                              workers: Callable[..., ExecutorWorker]) -> None:
    worker = workers(threads=2)
    _send(transport, run_action("ae-1", "std.echo", {"output": {"hello": ["world"]}}))
    assert results.wait_for(1) == [ev.ActionCompleted("ex-1", "ae-1", "SUCCESS", {"hello": ["world"]})]
    worker.stop()
    assert worker.stats == {"acked": 1}
    assert queue_size(f"{namespace}.executor") == 0


def test_many_actions_on_a_small_pool(transport: Publisher, results: Collector,
                                      workers: Callable[..., ExecutorWorker]) -> None:
    workers(threads=3)
    for n in range(40):
        _send(transport, run_action(f"ae-{n}"))
    events = results.wait_for(40)
    assert sorted(e.action_execution_id for e in events) == sorted(f"ae-{n}" for n in range(40))
    assert all(e.state == "SUCCESS" and e.result == e.action_execution_id for e in events)


def test_failures_and_unknown_actions_become_error_events(transport: Publisher, results: Collector,
                                                          workers: Callable[..., ExecutorWorker]) -> None:
    workers()
    _send(transport, run_action("ae-1", "std.fail", {"error_data": "boom"}))
    _send(transport, run_action("ae-2", "no.such_action", {}))
    events = {e.action_execution_id: e for e in results.wait_for(2)}
    assert events["ae-1"].state == "ERROR"
    assert events["ae-2"].state == "ERROR" and "no.such_action" in str(events["ae-2"].result)


def test_an_async_action_is_acked_without_a_result(transport: Publisher, namespace: str, results: Collector,
                                                   workers: Callable[..., ExecutorWorker]) -> None:
    runner = RecordingRunner()
    worker = workers(runner)
    _send(transport, run_action("ae-async", "std.async_noop", {}))
    _send(transport, run_action("ae-sync", "std.noop", {}))
    runner.requests.wait_for(2)
    assert [e.action_execution_id for e in results.wait_for(1)] == ["ae-sync"]
    worker.stop()
    assert worker.stats == {"acked": 2}
    assert len(results) == 1
    assert queue_size(f"{namespace}.executor") == 0


def test_targets_route_to_their_own_workers(transport: Publisher, results: Collector,
                                            workers: Callable[..., ExecutorWorker]) -> None:
    runners = {name: RecordingRunner() for name in ("default", "a", "b")}
    for name, runner in runners.items():
        workers(runner, target=None if name == "default" else name)
    commands = [run_action("ae-a1", target="a"), run_action("ae-b1", target="b"),
                run_action("ae-a2", target="a"), run_action("ae-d1"), run_action("ae-b2", target="b")]
    for command in commands:
        _send(transport, command)
    results.wait_for(5)
    seen = {name: sorted(r.command.action_execution_id for r in runner.requests.items)
            for name, runner in runners.items()}
    assert seen == {"default": ["ae-d1"], "a": ["ae-a1", "ae-a2"], "b": ["ae-b1", "ae-b2"]}


def _deliver_once_and_fail(transport: Publisher) -> None:
    """Let a consumer take the executor queue's message and fail on it, so that it is redelivered."""
    failed = threading.Event()

    def crash(delivery: Delivery) -> None:
        failed.set()
        raise RuntimeError("executor died mid-run")

    consumer = Consumer(URL, [transport.topology.executor_queue()], crash, retry_delay=5).start()
    assert failed.wait(5)
    consumer.stop()  # requeues the failed message at once


def test_a_redelivered_request_that_is_not_safe_to_rerun_fails(
        transport: Publisher, results: Collector, workers: Callable[..., ExecutorWorker]) -> None:
    _send(transport, run_action("ae-1", "std.echo", {"output": "x"}))
    _deliver_once_and_fail(transport)
    runner = RecordingRunner()
    workers(runner)
    [event] = results.wait_for(1)
    assert runner.requests.items[0].redelivered is True
    assert event.state == "ERROR"
    assert "cannot be re-run safely" in event.result
    assert "action_ex_id=ae-1" in event.result


def test_a_redelivered_request_that_is_safe_to_rerun_runs(transport: Publisher, results: Collector,
                                                          workers: Callable[..., ExecutorWorker]) -> None:
    _send(transport, run_action("ae-1", "std.echo", {"output": "x"}, safe_rerun=True))
    _deliver_once_and_fail(transport)
    workers()
    assert results.wait_for(1) == [ev.ActionCompleted("ex-1", "ae-1", "SUCCESS", "x")]


def test_the_request_is_acked_only_after_the_result_is_published(
        transport: Publisher, namespace: str, results: Collector,
        workers: Callable[..., ExecutorWorker]) -> None:
    worker = workers(retry_delay=0)
    publish_many = worker.transport.publish_many
    attempts: list[str] = []

    def broker_down_once(items: list[tuple[str, Any]]) -> list[Exception | None]:
        [(topic, envelope)] = items
        attempts.append(envelope["payload"]["state"])
        if len(attempts) == 1:
            return [TransportError("Message broker at memory:// is unreachable after 4 attempt(s)")]
        return publish_many(items)

    worker.transport.publish_many = broker_down_once  # type: ignore[method-assign]
    _send(transport, run_action("ae-1"))
    [event] = results.wait_for(1)
    # the result was lost, so the request came back, redelivered: it is not safe to re-run
    assert attempts == ["SUCCESS", "ERROR"]
    assert event.state == "ERROR" and "cannot be re-run safely" in event.result
    worker.stop()
    assert worker.stats == {"failed": 1, "requeued": 1, "acked": 1}
    assert queue_size(f"{namespace}.executor") == 0


def test_a_runner_crash_still_reports_an_error(transport: Publisher, results: Collector,
                                               workers: Callable[..., ExecutorWorker]) -> None:
    class Broken(RecordingRunner):
        def run(self, request: Any) -> Any:
            raise KeyError("bug")

    workers(Broken())
    _send(transport, run_action("ae-1"))
    [event] = results.wait_for(1)
    assert event.state == "ERROR" and event.result.startswith("Executor failure:")


@pytest.mark.parametrize("payload", [
    {"kind": "run_action", "action_name": "std.noop"},
    {"kind": "start_workflow", "action_execution_id": "ae-1", "action_name": "std.noop", "input": {}},
    {"kind": "run_action", "action_execution_id": "ae-1", "action_name": "std.noop", "input": {}, "extra": 1},
], ids=["missing fields", "other command", "unknown field"])
def test_requests_that_are_not_run_actions_are_dropped(transport: Publisher, payload: dict[str, Any],
                                                       results: Collector,
                                                       workers: Callable[..., ExecutorWorker]) -> None:
    worker = workers()
    transport.publish("executor", env.encode(env.RUN_ACTION, payload))
    transport.publish("executor", env.encode(env.EVENT, {"kind": "pause_requested", "execution_id": "x"}))
    _send(transport, run_action("ae-ok"))
    assert [e.action_execution_id for e in results.wait_for(1)] == ["ae-ok"]
    worker.stop()
    assert worker.stats == {"acked": 1, "malformed": 2}


def test_stop_waits_for_running_actions(transport: Publisher, namespace: str, results: Collector,
                                        workers: Callable[..., ExecutorWorker]) -> None:
    runner = RecordingRunner()
    worker = workers(runner)
    _send(transport, run_action("ae-1", "std.sleep", {"seconds": 0.3}))
    runner.requests.wait_for(1)
    worker.stop()
    assert worker.stats == {"acked": 1}
    assert len(results.wait_for(1)) == 1
    assert queue_size(f"{namespace}.executor") == 0


def test_a_cancel_broadcast_stops_running_actions_and_skips_queued_ones(
        transport: Publisher, namespace: str, results: Collector, workers: Callable[..., ExecutorWorker]) -> None:
    runner = RecordingRunner()
    worker = workers(runner, threads=1)
    assert worker.cancel_listener.wait_ready(5)
    for ae_id in ("ae-1", "ae-2", "ae-3"):
        _send(transport, run_action(ae_id, "std.sleep", {"seconds": 60}))
    wait_until(lambda: runner.cancellations.running() == ["ae-1"], what="the first sleep running")
    transport.broadcast_cancel(["ae-1", "ae-2", "ae-3"], per_message=2)
    # The sleep ends at once, the two queued requests are taken and skipped, nothing is reported.
    runner.requests.wait_for(3)
    wait_until(lambda: not runner.cancellations.running() and worker.stats["acked"] == 3, what="all settled")
    _send(transport, run_action("ae-4", "std.echo", {"output": 4}))
    assert [e.action_execution_id for e in results.wait_for(1)] == ["ae-4"]
    assert queue_size(f"{namespace}.executor") == 0
