"""The engine's side of the queue: engine events in, handed to the engine in batches.

Batching lets the engine apply many results in one transaction (``EngineService.handle`` takes a
list). A batch is what arrives back to back, each event within ``gap`` seconds of the one before,
for at most ``window`` seconds from its first event and up to ``batch`` events; it is acked when the
handler returns. (A lone event is thus handed over after ``gap``, not after the whole window: a
chain of steps, one event at a time, waited the window at every step.) When the handler raises on
a batch, the events are retried one by one, so that one bad event cannot hold back the others: the
ones that pass are acked, the ones that fail again are requeued, with a growing pause, until they
are applied.
The engine must therefore apply events idempotently (it does: results are keyed on the action
execution id), which at-least-once delivery requires anyway.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from levante.engine import events as ev
from levante.messaging import envelope as env
from levante.messaging.consumer import Consumer, Delivery
from levante.messaging.topology import DEFAULT_NAMESPACE, Topology

__all__ = ["EngineConsumer"]

LOG = logging.getLogger(__name__)


class EngineConsumer(Consumer):
    """Consumes ``<ns>.engine`` and calls ``handler(events)`` with batches of decoded events.

    Args:
        transport_url: kombu URL of the broker.
        handler: applies a batch of events; raising means "redeliver them" (all of them, or those
            in the exception's ``events`` when it has that attribute: the others were applied).
            The engine's handler raises only for events that met a busy or unreachable database
            (it fails what a poison event concerns itself), so by default nothing is ever
            dead-lettered: an event is redelivered, with the growing pause, until it is applied.
        namespace: prefix of the exchange and queue names.
        batch: most events in one call of the handler (also the prefetch count).
        window: how long a batch waits for more events after its first one, in seconds.
        gap: how long a batch waits for the next event before it is handed over, in seconds.
        max_redeliveries, retry_delay, retry_delay_max, name: as for
            :class:`~levante.messaging.consumer.Consumer`.
    """

    def __init__(self, transport_url: str, handler: Callable[[list[ev.Event]], None],
                 namespace: str = DEFAULT_NAMESPACE, batch: int = 256, window: float = 0.005, gap: float = 0.0005, *,
                 max_redeliveries: int | None = None, retry_delay: float = 0.2, retry_delay_max: float = 5.0,
                 name: str = "levante-engine") -> None:
        if batch < 1:
            raise ValueError(f"batch must be at least 1, not {batch}")
        self.topology = Topology(namespace)
        super().__init__(transport_url, [self.topology.engine_queue], prefetch_count=batch,
                         max_redeliveries=max_redeliveries, retry_delay=retry_delay,
                         retry_delay_max=retry_delay_max, name=name)
        self.batch_handler = handler
        self.batch = batch
        self.window = window
        self.gap = gap
        self._pending: list[tuple[Delivery, ev.Event]] = []
        self._first_at = 0.0
        #: Events received in all, and that count when the loop last came round.
        self._arrivals = 0
        self._arrivals_seen = 0

    def dispatch(self, delivery: Delivery) -> None:
        """Decode the event and add it to the current batch."""
        if delivery.envelope.type != env.EVENT:
            self.drop(delivery, f'type "{delivery.envelope.type}" on the engine queue (expected "event")')
            return
        try:
            event = ev.from_dict(delivery.payload)
        except (ValueError, TypeError) as exc:
            self.drop(delivery, f"not an engine event ({exc})")
            return
        if not self._pending:
            self._first_at = time.monotonic()
        self._arrivals += 1
        self._pending.append((delivery, event))
        if len(self._pending) >= self.batch:
            self._flush()

    def on_iteration(self) -> None:
        """Settle as usual, then hand the batch over when nothing came during the last read (it
        waited ``gap``), its window has passed, or the consumer stops."""
        super().on_iteration()
        quiet = self._arrivals == self._arrivals_seen
        self._arrivals_seen = self._arrivals
        if self._pending and (quiet or self._stopping.is_set() or time.monotonic() - self._first_at >= self.window):
            self._flush()

    def on_consume_ready(self, connection: Any, channel: Any, consumers: list[Any], **kwargs: Any) -> None:
        """A new connection: what was batched on the previous one is redelivered by the broker."""
        self._pending.clear()
        super().on_consume_ready(connection, channel, consumers, **kwargs)

    def poll_timeout(self) -> float:
        """While a batch is open, wait no longer than ``gap`` and what is left of its window."""
        if self._pending:
            return max(0.0001, min(self.gap, self._first_at + self.window - time.monotonic()))
        return super().poll_timeout()

    def _flush(self) -> None:
        pending, self._pending = self._pending, []
        try:
            self.batch_handler([event for _, event in pending])
        except Exception as exc:  # noqa: BLE001 - retried below
            failed = getattr(exc, "events", None)
            if failed is None:
                LOG.exception("%s: handler failed on a batch of %d event(s)", self.name, len(pending))
            else:  # the handler says which events it could not apply now (the database was busy)
                LOG.warning("%s: %d of %d event(s) not applied now: %s", self.name, len(failed), len(pending), exc)
                not_applied = {id(event) for event in failed}
                for delivery, event in pending:
                    if id(event) in not_applied:
                        self._failed(delivery)
                    else:
                        self._ack(delivery)
                return
        else:
            for delivery, _ in pending:
                self._ack(delivery)
            return
        if len(pending) == 1:
            self._failed(pending[0][0])
            return
        for delivery, event in pending:
            try:
                self.batch_handler([event])
            except Exception:  # noqa: BLE001 - a failing handler means: redeliver
                LOG.exception("%s: handler failed on event %s", self.name, delivery.envelope.id)
                self._failed(delivery)
            else:
                self._ack(delivery)
