"""EngineConsumer: events in batches, acked after the handler, a bad event isolated."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from levante.engine import events as ev
from levante.messaging import envelope as env
from levante.messaging.engine_consumer import EngineConsumer
from levante.messaging.transport import Publisher

from .conftest import URL, queue_size
from .helpers import Collector


@pytest.fixture
def engine_consumer(namespace: str) -> Iterator[Callable[..., EngineConsumer]]:
    started: list[EngineConsumer] = []

    def make(handler: Callable[[list[ev.Event]], None], **options: object) -> EngineConsumer:
        consumer = EngineConsumer(URL, handler, namespace=namespace, **options)  # type: ignore[arg-type]
        started.append(consumer.start())
        assert consumer.wait_ready(5)
        return consumer

    yield make
    for consumer in started:
        consumer.stop()


def _completed(n: int) -> ev.ActionCompleted:
    return ev.ActionCompleted("ex-1", f"ae-{n}", "SUCCESS", {"n": n})


def test_events_arrive_decoded_and_acked(transport: Publisher, namespace: str,
                                         engine_consumer: Callable[..., EngineConsumer]) -> None:
    got = Collector()
    consumer = engine_consumer(got.extend)
    sent = [_completed(1), ev.CancelRequested("ex-2", "enough"), ev.TimerFired("ex-3", "t-1", "retry", 2)]
    for event in sent:
        transport.publish("engine", env.encode(env.EVENT, event.to_dict()))
    assert got.wait_for(3) == sent
    consumer.stop()
    assert consumer.stats == {"acked": 3}
    assert queue_size(f"{namespace}.engine") == 0


def _recording() -> tuple[list[list[ev.Event]], Collector, Callable[[list[ev.Event]], None]]:
    """A handler that keeps each batch it is given, and every event in a Collector."""
    batches: list[list[ev.Event]] = []
    got = Collector()

    def handler(events: list[ev.Event]) -> None:
        batches.append(events)
        got.extend(events)

    return batches, got, handler


def test_waiting_events_are_handed_over_in_batches(transport: Publisher, namespace: str,
                                                   engine_consumer: Callable[..., EngineConsumer]) -> None:
    batches, got, handler = _recording()
    for n in range(50):
        transport.publish("engine", env.encode(env.EVENT, _completed(n).to_dict()))
    engine_consumer(handler, batch=20, window=0.05)
    assert got.wait_for(50) == [_completed(n) for n in range(50)]
    assert max(len(b) for b in batches) == 20
    assert len(batches) < 50


def test_a_lone_event_does_not_wait_for_the_window(transport: Publisher,
                                                   engine_consumer: Callable[..., EngineConsumer]) -> None:
    # A chain of steps sends one event at a time: each is handed over once nothing follows it,
    # not when a batch's window ends (here a minute, which the wait below would not see end).
    batches, got, handler = _recording()
    engine_consumer(handler, batch=20, window=60.0)
    for n in range(3):
        transport.publish("engine", env.encode(env.EVENT, _completed(n).to_dict()))
        assert got.wait_for(n + 1, timeout=10) == [_completed(i) for i in range(n + 1)]
    assert batches == [[_completed(0)], [_completed(1)], [_completed(2)]]


def test_a_failing_batch_is_retried_event_by_event(transport: Publisher, namespace: str,
                                                   engine_consumer: Callable[..., EngineConsumer]) -> None:
    applied = Collector()
    attempts: list[list[str]] = []

    def handler(events: list[ev.Event]) -> None:
        attempts.append([e.action_execution_id for e in events])  # type: ignore[attr-defined]
        if any(e.action_execution_id == "ae-poison" for e in events):  # type: ignore[attr-defined]
            raise RuntimeError("cannot apply")
        applied.extend(events)

    events = [_completed(1), ev.ActionCompleted("ex-1", "ae-poison", "SUCCESS"), _completed(2)]
    for event in events:
        transport.publish("engine", env.encode(env.EVENT, event.to_dict()))
    consumer = engine_consumer(handler, batch=10, window=0.1, max_redeliveries=1, retry_delay=0)
    assert applied.wait_for(2) == [_completed(1), _completed(2)]
    consumer.stop()
    assert attempts[0] == ["ae-1", "ae-poison", "ae-2"]
    assert attempts.count(["ae-poison"]) == 2  # first try, one redelivery, then dead-lettered
    assert consumer.stats["acked"] == 2
    assert consumer.stats["dead_lettered"] == 1
    assert queue_size(f"{namespace}.engine") == 0


@pytest.mark.parametrize("body", [
    env.encode(env.RUN_ACTION, {"action_execution_id": "ae-1"}),
    env.encode(env.EVENT, {"kind": "no_such_event", "execution_id": "ex-1"}),
    env.encode(env.EVENT, {"kind": "action_completed", "execution_id": "ex-1"}),
], ids=["wrong type", "unknown kind", "missing fields"])
def test_envelopes_that_are_not_events_are_dropped(transport: Publisher, body: dict[str, object],
                                                   engine_consumer: Callable[..., EngineConsumer]) -> None:
    got = Collector()
    consumer = engine_consumer(got.extend)
    transport.publish("engine", body)
    transport.publish("engine", env.encode(env.EVENT, _completed(1).to_dict()))
    assert got.wait_for(1) == [_completed(1)]
    consumer.stop()
    assert consumer.stats == {"acked": 1, "malformed": 1}
