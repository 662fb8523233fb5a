"""Consuming: a kombu ``ConsumerMixin`` on its own thread that decodes envelopes, hands them to a
handler and settles (acks or rejects) each message on its own thread.

Delivery is at-least-once:

* a message is acked only after its handler returned (or, for work handed to other threads, after
  :meth:`Consumer.settle` reported success);
* a message whose handler raised is put back (``reject(requeue=True)``; the broker marks it
  *redelivered*) after a short backoff, at most ``max_redeliveries`` times per consumer; one more
  failure dead-letters it (``reject(requeue=False)``: RabbitMQ moves it to ``<ns>.dead`` for an
  operator; the memory transport drops it) and logs it at ERROR;
* a malformed message (not JSON, not an envelope, a payload that is not what its type says) is
  logged at ERROR and acked: it can never succeed, and requeueing it would loop for ever.

kombu channels are not thread-safe: ``settle`` only queues the outcome, and the consumer thread
acks between two reads from the broker.

Reconnection is kombu's: ``ConsumerMixin.run`` reopens the connection and consumes again. Messages
received on a lost connection are not settled (the broker has already requeued them).
"""

from __future__ import annotations

import heapq
import itertools
import logging
import queue
import socket
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from kombu import Queue
from kombu.exceptions import KombuError
from kombu.mixins import ConsumerMixin

from levante.messaging import envelope as env
from levante.messaging.transport import connect, safe_url

__all__ = ["Consumer", "Delivery", "Handler"]

LOG = logging.getLogger(__name__)

#: Failure counts remembered per consumer (oldest forgotten first).
_MAX_TRACKED_FAILURES = 10_000


@dataclass(frozen=True, eq=False)
class Delivery:
    """One received message, decoded."""

    #: The decoded envelope.
    envelope: env.Envelope
    #: The broker delivered this message before (a consumer failed or died before acking it).
    redelivered: bool
    #: The kombu message: touch it only on the consumer thread (use :meth:`Consumer.settle`).
    message: Any = field(repr=False)
    #: The connection generation it arrived on (settling it after a reconnect is a no-op).
    generation: int = field(default=0, repr=False)

    @property
    def payload(self) -> dict[str, Any]:
        """The envelope's payload."""
        return self.envelope.payload


#: What a :class:`Consumer` calls with each delivery; raising means "failed, redeliver".
Handler = Callable[[Delivery], None]


class _Stopped(Exception):
    """Raised on the consumer thread to leave kombu's connection retries when asked to stop."""


def redelivered(message: Any) -> bool:
    """Whether the broker flagged the message as delivered before.

    AMQP puts the flag in ``delivery_info``; kombu's virtual transports (``memory://``) keep it on the
    raw message they restore, so look there too.
    """
    if message.delivery_info.get("redelivered"):
        return True
    raw = getattr(message, "_raw", None)
    return isinstance(raw, dict) and bool(raw.get("redelivered"))


class Consumer(ConsumerMixin):
    """Consumes queues of a namespace on a thread of its own.

    Args:
        transport_url: kombu URL of the broker (its own connection is opened).
        queues: the kombu queues to consume (from :class:`~levante.messaging.topology.Topology`).
        handler: called with each :class:`Delivery`; the message is acked when it returns and
            redelivered when it raises. Subclasses may override :meth:`dispatch` instead.
        prefetch_count: most unacknowledged messages the broker sends this consumer.
        max_redeliveries: requeues after handler failures before a message is dead-lettered (None:
            requeued for as long as it fails).
        retry_delay: backoff before the first requeue, doubled at each further failure.
        retry_delay_max: longest backoff.
        name: thread name and log prefix.
    """

    #: Longest wait for the broker while nothing is in flight (also the latency of ``stop``).
    idle_poll = 0.1
    #: Wait for the broker while work is in flight, so finished work is acked promptly.
    busy_poll = 0.005

    def __init__(self, transport_url: str, queues: Sequence[Queue], handler: Handler | None = None, *,
                 prefetch_count: int = 1, max_redeliveries: int | None = 5, retry_delay: float = 0.2,
                 retry_delay_max: float = 5.0, name: str = "levante-consumer") -> None:
        if prefetch_count < 1:
            raise ValueError(f"prefetch_count must be at least 1, not {prefetch_count}")
        self.connection = connect(transport_url)
        self.url = safe_url(self.connection)
        self.queues = list(queues)
        self.handler = handler
        self.prefetch_count = prefetch_count
        self.max_redeliveries = max_redeliveries
        self.retry_delay = retry_delay
        self.retry_delay_max = retry_delay_max
        self.name = name
        #: Counts of what happened to messages: acked, requeued, dead_lettered, malformed, failed.
        self.stats: Counter[str] = Counter()
        self._settled: queue.SimpleQueue[tuple[Delivery, bool]] = queue.SimpleQueue()
        self._held: list[tuple[float, int, Delivery]] = []
        self._seq = itertools.count()
        self._failures: OrderedDict[str, int] = OrderedDict()
        self._outstanding = 0
        self._generation = 0
        self._kombu_consumers: list[Any] = []
        self._live_connection: Any = None
        self._cancelled = False
        self._stopping = threading.Event()
        self._deadline = 0.0
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None

    # --- lifecycle --------------------------------------------------------------------------

    def start(self) -> Consumer:
        """Start consuming on a daemon thread."""
        if self._thread is not None:
            raise RuntimeError(f"{self.name} is already started")
        self._thread = threading.Thread(target=self._main, name=self.name, daemon=True)
        self._thread.start()
        return self

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Wait until the consumer is connected and consuming; False on timeout."""
        return self._ready.wait(timeout)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop taking messages, settle what is in flight (up to ``timeout`` seconds), disconnect.

        Messages still in flight at the deadline are left unacknowledged: the broker redelivers them.
        """
        self._deadline = time.monotonic() + timeout
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout + 2.0)
            if self._thread.is_alive():
                LOG.warning("%s: did not stop within %.1f s", self.name, timeout)
        self.should_stop = True

    def __enter__(self) -> Consumer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _main(self) -> None:
        try:
            self.run()
        except _Stopped:
            pass
        except Exception:  # noqa: BLE001 - log it: nobody joins a daemon thread to see it
            LOG.exception("%s: consumer thread crashed", self.name)
        finally:
            self.should_stop = True

    # --- ConsumerMixin hooks ----------------------------------------------------------------

    def get_consumers(self, Consumer: Any, channel: Any) -> list[Any]:  # noqa: N803 - kombu's name
        """One kombu consumer over every queue, JSON only, with manual acks."""
        return [Consumer(queues=self.queues, accept=["json"], prefetch_count=self.prefetch_count,
                         on_message=self._on_message)]

    def on_consume_ready(self, connection: Any, channel: Any, consumers: list[Any], **kwargs: Any) -> None:
        """A (new) connection consumes: forget what was in flight on the previous one."""
        self._generation += 1
        self._outstanding = 0
        self._held.clear()
        self._kombu_consumers = consumers
        self._live_connection = connection
        self._cancelled = False
        self._ready.set()
        LOG.debug("%s: consuming %s on %s", self.name, [q.name for q in self.queues], self.url)

    @contextmanager
    def establish_connection(self) -> Iterator[Any]:
        """kombu's, except that a stop request interrupts the waits between connection attempts."""
        with self.create_connection() as conn:
            conn.ensure_connection(self.on_connection_error, self.connect_max_retries,
                                   callback=self._check_stopping)
            yield conn

    def _check_stopping(self) -> None:
        if self._stopping.is_set():
            raise _Stopped()

    def on_connection_error(self, exc: Exception, interval: float) -> None:
        """The broker is unreachable: log, or leave kombu's retries when asked to stop."""
        self._ready.clear()
        self._check_stopping()
        LOG.warning("%s: broker %s unreachable (%s); retrying in %.1f s", self.name, self.url, exc, interval)

    def on_decode_error(self, message: Any, exc: Exception) -> None:
        """kombu could not decode a body: it can never succeed, so log and ack it."""
        self._drop(message, f"undecodable body ({exc})")

    def on_iteration(self) -> None:
        """Between two reads from the broker: settle finished work and requeue what is due."""
        while True:
            try:
                delivery, ok = self._settled.get_nowait()
            except queue.Empty:
                break
            if ok:
                self._ack(delivery)
            else:
                self._failed(delivery)
        now = time.monotonic()
        while self._held and (self._held[0][0] <= now or self._stopping.is_set()):
            self._requeue(heapq.heappop(self._held)[2])

    def consume(self, limit: int | None = None, timeout: float | None = None, safety_interval: float = 1,
                **kwargs: Any) -> Iterator[None]:
        """kombu's loop, with a read timeout that shrinks while work is in flight and a graceful stop.

        Reconnection stays kombu's (``run`` calls this again after a connection error).
        """
        with self.consumer_context(**kwargs) as (conn, _channel, _consumers):
            while not self.should_stop:
                self.on_iteration()
                if self._stopping.is_set() and self._finish_stopping():
                    break
                try:
                    conn.drain_events(timeout=self.poll_timeout())
                except socket.timeout:
                    conn.heartbeat_check()
                except OSError:
                    if not self.should_stop:
                        raise
                else:
                    yield

    def poll_timeout(self) -> float:
        """How long the next read from the broker may block."""
        if self._outstanding or self._stopping.is_set():
            return self.busy_poll
        return self.idle_poll

    def _finish_stopping(self) -> bool:
        if not self._cancelled:
            self._cancelled = True
            for consumer in self._kombu_consumers:
                try:
                    consumer.cancel()
                except Exception:  # noqa: BLE001 - the connection is going away anyway
                    LOG.debug("%s: cancel failed", self.name, exc_info=True)
        if self._outstanding and time.monotonic() < self._deadline:
            return False
        if self._outstanding:
            LOG.warning("%s: stopping with %d message(s) unsettled; the broker will redeliver them",
                        self.name, self._outstanding)
        self.should_stop = True
        return True

    # --- receiving --------------------------------------------------------------------------

    def _on_message(self, message: Any) -> None:
        try:
            envelope = env.decode(message.decode())
        except (env.DecodeError, KombuError, ValueError) as exc:
            self._drop(message, str(exc))
            return
        self._outstanding += 1
        delivery = Delivery(envelope, redelivered(message), message, self._generation)
        self.dispatch(delivery)

    def dispatch(self, delivery: Delivery) -> None:
        """Handle one delivery (on the consumer thread). By default: call the handler, then ack,
        or requeue when it raises. Subclasses that hand work to other threads call :meth:`settle`."""
        if self.handler is None:
            raise NotImplementedError(f"{type(self).__name__} has no handler")
        try:
            self.handler(delivery)
        except Exception:  # noqa: BLE001 - a failing handler means: redeliver
            LOG.exception("%s: handler failed on message %s", self.name, delivery.envelope.id)
            self._failed(delivery)
        else:
            self._ack(delivery)

    def settle(self, delivery: Delivery, ok: bool) -> None:
        """Report the outcome of a delivery from any thread: ack it (``ok``) or requeue it.

        The consumer thread carries it out at its next iteration.
        """
        self._settled.put((delivery, ok))

    def drop(self, delivery: Delivery, reason: str) -> None:
        """Ack a delivery that can never succeed (consumer thread only), logging why."""
        if self._current(delivery):
            self._outstanding -= 1
            self._failures.pop(delivery.envelope.id, None)
            self._drop(delivery.message, reason, delivery.envelope.id)

    # --- settling (consumer thread) ---------------------------------------------------------

    def _current(self, delivery: Delivery) -> bool:
        if delivery.generation != self._generation:
            LOG.info("%s: message %s arrived on a lost connection; the broker redelivers it",
                     self.name, delivery.envelope.id)
            return False
        return True

    def _ack(self, delivery: Delivery) -> None:
        if not self._current(delivery):
            return
        self._outstanding -= 1
        self._failures.pop(delivery.envelope.id, None)
        if self._settle(delivery.message.ack, delivery):
            self.stats["acked"] += 1

    def _failed(self, delivery: Delivery) -> None:
        if not self._current(delivery):
            return
        self.stats["failed"] += 1
        key = delivery.envelope.id
        count = self._failures.pop(key, 0) + 1
        if self.max_redeliveries is not None and count > self.max_redeliveries:
            self._outstanding -= 1
            LOG.error("%s: message %s (%s) failed %d times; dead-lettering it: %r", self.name, key,
                      delivery.envelope.type, count, delivery.envelope.to_dict())
            if self._settle(lambda: delivery.message.reject(requeue=False), delivery):
                self.stats["dead_lettered"] += 1
            return
        self._failures[key] = count
        while len(self._failures) > _MAX_TRACKED_FAILURES:
            self._failures.popitem(last=False)
        delay = min(self.retry_delay * 2 ** (count - 1), self.retry_delay_max)
        if delay <= 0 or self._stopping.is_set():
            self._requeue(delivery)
        else:
            heapq.heappush(self._held, (time.monotonic() + delay, next(self._seq), delivery))

    def _requeue(self, delivery: Delivery) -> None:
        if not self._current(delivery):
            return
        self._outstanding -= 1
        if self._settle(lambda: delivery.message.reject(requeue=True), delivery):
            self.stats["requeued"] += 1

    def _drop(self, message: Any, reason: str, message_id: str | None = None) -> None:
        LOG.error("%s: dropping malformed message %s: %s; body=%r", self.name, message_id or "", reason,
                  _preview(message.body))
        self.stats["malformed"] += 1
        try:
            message.ack()
        except Exception:  # noqa: BLE001 - see _settle
            LOG.warning("%s: could not ack a malformed message", self.name, exc_info=True)

    def _settle(self, action: Callable[[], Any], delivery: Delivery) -> bool:
        try:
            action()
        except Exception:  # noqa: BLE001 - a lost connection: the broker redelivers the message
            LOG.warning("%s: could not settle message %s; the broker will redeliver it", self.name,
                        delivery.envelope.id, exc_info=True)
            return False
        return True


def _preview(body: Any, limit: int = 500) -> Any:
    if isinstance(body, bytes) and len(body) > limit:
        return body[:limit] + b"..."
    if isinstance(body, str) and len(body) > limit:
        return body[:limit] + "..."
    return body
