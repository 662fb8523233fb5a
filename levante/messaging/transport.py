"""Publishing: one kombu connection, a producer with a bounded retry policy, and the topology
declared on first use.

A :class:`Publisher` is safe to share between threads (publishes are serialised by a lock: kombu
connections and channels are not thread-safe). Consumers open their own connections with
:func:`connect`.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, NoReturn

from kombu import Connection, Producer
from kombu.exceptions import EncodeError, KombuError, OperationalError

from levante.exceptions import TransportError
from levante.messaging import envelope as env
from levante.messaging.topology import DEFAULT_NAMESPACE, PERSISTENT, Topology

__all__ = ["RetryPolicy", "Publisher", "check_broker", "connect", "safe_url"]

LOG = logging.getLogger(__name__)

#: How often kombu's memory transport looks for new messages, in seconds (its default is 1 s).
MEMORY_POLLING_INTERVAL = 0.005


@dataclass(frozen=True)
class RetryPolicy:
    """How long a publish keeps trying while the broker is unreachable.

    The worst case before :class:`~levante.exceptions.TransportError` is about
    ``(max_retries + 1) * connect_timeout`` plus the sleeps between attempts
    (``interval_start``, then growing by ``interval_step`` up to ``interval_max``).
    """

    #: Attempts after the first one.
    max_retries: int = 3
    #: Sleep before the first retry, in seconds.
    interval_start: float = 0.0
    #: Added to the sleep at each further retry.
    interval_step: float = 0.5
    #: Longest sleep between two retries.
    interval_max: float = 2.0
    #: Longest wait for one TCP connection to open, in seconds.
    connect_timeout: float = 4.0

    def kombu_policy(self) -> dict[str, Any]:
        """The ``retry_policy`` of ``Producer.publish`` / ``Connection.ensure``."""
        policy = asdict(self)
        del policy["connect_timeout"]
        return policy


def connect(url: str, retry_policy: RetryPolicy | None = None, confirm_publish: bool = False) -> Connection:
    """Build (without opening) a kombu connection with Levante's transport options.

    Args:
        url: ``memory://`` or ``amqp://user:password@host:port/vhost``.
        retry_policy: bounds connection attempts made through ``default_channel`` (a producer);
            None leaves kombu's default (retry forever), which is what a consumer wants.
        confirm_publish: wait for the broker to confirm each publish (AMQP publisher confirms).
    """
    options: dict[str, Any] = {"polling_interval": MEMORY_POLLING_INTERVAL}
    if confirm_publish:
        options["confirm_publish"] = True
    timeout = None
    if retry_policy is not None:
        options.update(retry_policy.kombu_policy())
        timeout = retry_policy.connect_timeout
    connection = Connection(url, connect_timeout=timeout, transport_options=options)
    if connection.transport.driver_type == "memory":
        # kombu warns at every clone of a connection without a host name.
        connection.hostname = connection.hostname or "localhost"  # type: ignore[assignment]
    else:
        del options["polling_interval"]  # only the memory transport polls
    return connection


def safe_url(connection: Connection) -> str:
    """The connection's URL with the password masked (for messages and logs)."""
    if connection.transport.driver_type == "memory":
        return "memory://"
    return connection.as_uri(include_password=False)


def check_broker(url: str, connect_timeout: float = 4.0) -> None:
    """Open one connection to the broker and close it: a process that needs the broker calls this
    when it starts, so that a broker it cannot use stops it with one line (its consumers would
    otherwise retry for ever in the background, and look as if they ran).

    Raises:
        ValueError: ``url`` names no transport kombu knows.
        TransportError: the broker cannot be reached (``recoverable=True``), or refuses the
            credentials or the virtual host, or its client library is missing (``recoverable=False``).
    """
    try:
        connection = connect(url, RetryPolicy(max_retries=0, connect_timeout=connect_timeout))
        driver = connection.transport.driver_type
    except KeyError:
        kind = url.partition(":")[0]
        raise ValueError(f"unknown kind of message broker {kind!r} in {_masked(url)}: "
                         "use memory:// or amqp://USER:PASSWORD@HOST:5672//") from None
    except Exception as exc:  # noqa: BLE001 - kombu knows the transport, but its library is missing
        raise TransportError(f"cannot use the message broker at {_masked(url)}: {_reason(exc)} "
                             "(is its client library installed?)", recoverable=False) from exc
    if driver == "memory":
        return
    shown = safe_url(connection)
    try:
        # One more attempt half a second later: a broker that is starting may refuse the first one.
        connection.ensure_connection(max_retries=1, interval_start=0.5, reraise_as_library_errors=False)
    except (OSError, *connection.recoverable_connection_errors) as exc:
        raise TransportError(f"cannot reach the message broker at {shown}: {_reason(exc)} (start it, or give "
                             "the right URL with --transport or LEVANTE_TRANSPORT_URL)") from exc
    except Exception as exc:  # noqa: BLE001 - refused credentials, no such vhost, a missing library
        raise TransportError(f"cannot use the message broker at {shown}: {_reason(exc)} (check the user, "
                             "password and virtual host in --transport or LEVANTE_TRANSPORT_URL)",
                             recoverable=False) from exc
    finally:
        connection.release()


def _masked(url: str) -> str:
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1**@", url)


def _reason(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


#: What :meth:`Publisher.publish_many` takes: (topic, envelope) pairs.
Item = tuple[str, Mapping[str, Any]]


@dataclass(frozen=True)
class _Outgoing:
    """One message to publish: where, what, and the entities it needs declared."""

    exchange: Any
    routing_key: str
    body: dict[str, Any]
    declare: list[Any]
    message_id: Any
    persistent: bool = True


class _Confirms:
    """The publisher confirms of one channel: RabbitMQ numbers what is published on a channel in
    confirm mode 1, 2, 3... (its delivery tags), and acks or nacks them, often several at once
    (``multiple``: every tag up to this one)."""

    def __init__(self, channel: Any) -> None:
        channel.confirm_select()
        channel.events["basic_ack"].add(self._on_ack)
        channel.events["basic_nack"].add(self._on_nack)
        self.last_tag = 0
        #: Delivery tag -> index of the message in the batch being published.
        self.waiting: dict[int, int] = {}
        #: Index in the batch -> acked (True) or nacked (False).
        self.settled: dict[int, bool] = {}

    def published(self, index: int) -> None:
        self.last_tag += 1
        self.waiting[self.last_tag] = index

    def _on_ack(self, delivery_tag: int, multiple: bool) -> None:
        self._settle(delivery_tag, multiple, True)

    def _on_nack(self, delivery_tag: int, multiple: bool) -> None:
        self._settle(delivery_tag, multiple, False)

    def _settle(self, delivery_tag: int, multiple: bool, acked: bool) -> None:
        if multiple:
            tags = [tag for tag in self.waiting if tag <= delivery_tag]
        else:
            tags = [delivery_tag] if delivery_tag in self.waiting else []
        for tag in tags:
            self.settled[self.waiting.pop(tag)] = acked


class _ConfirmTimeout(Exception):
    """The broker did not confirm every message of a batch in time."""


class Publisher:
    """Publishes envelopes to the namespace's exchange.

    Args:
        url: kombu URL of the broker.
        namespace: prefix of every exchange and queue name.
        retry_policy: how long a publish retries while the broker is unreachable.
        confirm_publish: wait for the broker's confirms (AMQP publisher confirms): a message
            reported published is stored by the broker. :meth:`publish_many` waits once for the
            confirms of all its messages (about 0.1 ms per message on a local RabbitMQ, against
            0.5 ms for :meth:`publish` of each); turn it off only where losing messages on a broker
            crash is acceptable.
        confirm_timeout: longest wait for the confirms of one batch, in seconds; the messages not
            confirmed by then are reported not known published.
    """

    def __init__(self, url: str, namespace: str = DEFAULT_NAMESPACE, retry_policy: RetryPolicy | None = None,
                 confirm_publish: bool = True, confirm_timeout: float = 30.0) -> None:
        self.topology = Topology(namespace)
        self.retry_policy = retry_policy or RetryPolicy()
        self.confirm_timeout = confirm_timeout
        self._url = url
        self._confirm = confirm_publish
        self._lock = threading.Lock()
        self._connection: Connection | None = None
        self._producer: Producer | None = None
        self._confirms: _Confirms | None = None
        probe = connect(url)
        #: The URL without the password.
        self.url = safe_url(probe)
        self._recoverable = (OperationalError, OSError, *probe.recoverable_connection_errors)
        self._refused = (KombuError, *probe.connection_errors, *probe.channel_errors)

    @property
    def namespace(self) -> str:
        """The prefix of every exchange and queue name."""
        return self.topology.namespace

    def publish(self, topic: str, envelope: Mapping[str, Any]) -> None:
        """Publish one envelope (from :func:`~levante.messaging.envelope.encode`), persistent, and
        wait for the broker's confirm.

        Declares the exchange and the topic's queue on first use on each connection.

        Args:
            topic: the routing key: ``engine``, ``executor`` or ``executor.<target>``.
            envelope: the envelope to send as JSON.

        Raises:
            ValueError: unknown topic.
            TransportError: the broker stayed unreachable through the retry policy
                (``recoverable=True``), or refused the message or the credentials (``recoverable=False``).
        """
        [failure] = self.publish_many([(topic, envelope)])
        if failure is not None:
            raise failure

    def publish_many(self, items: Iterable[Item]) -> list[Exception | None]:
        """Publish envelopes in order, then wait once until the broker confirmed all of them.

        Returns, for each item in order, None when the broker confirmed it (without confirms:
        when it was handed to the broker), or why it is not known published: a ValueError
        (unknown topic: it was not sent), or a :class:`~levante.exceptions.TransportError` as
        :meth:`publish` raises it (``recoverable=False``: refused, e.g. not JSON; ``unsent``: it
        certainly did not reach the broker; a message the broker nacked is ``recoverable``, not
        ``unsent``). When the connection is lost midway,
        the messages not confirmed yet are published again on a new connection, within the
        retry policy (a broker may then hold two copies: delivery is at-least-once).

        Raises:
            Exception: an error that is not the broker's (a bug), as it is.
        """
        outgoing: list[_Outgoing | None] = []
        failures: list[Exception | None] = []
        for topic, envelope in items:
            try:
                declare = self.topology.declarations(topic)
            except ValueError as exc:
                outgoing.append(None)
                failures.append(exc)
                continue
            outgoing.append(_Outgoing(self.topology.exchange, topic, dict(envelope), declare, envelope.get("id")))
            failures.append(None)
        with self._lock:
            self._send(outgoing, failures)
        return failures

    def broadcast_cancel(self, action_execution_ids: list[str], per_message: int = 5000) -> None:
        """Tell every listening executor that these action executions were cancelled (fanout,
        not persistent: only executors connected now need it), in messages of ``per_message`` ids.

        Raises:
            TransportError: as :meth:`publish`.
        """
        exchange = self.topology.cancel_exchange
        outgoing: list[_Outgoing | None] = []
        for start in range(0, len(action_execution_ids), per_message):
            body = env.encode(env.CANCEL, {"action_execution_ids": action_execution_ids[start:start + per_message]})
            outgoing.append(_Outgoing(exchange, "", body, [exchange], body["id"], persistent=False))
        failures: list[Exception | None] = [None] * len(outgoing)
        with self._lock:
            self._send(outgoing, failures)
        for failure in failures:
            if failure is not None:
                raise failure

    def close(self) -> None:
        """Close the connection (a later publish opens a new one)."""
        with self._lock:
            self._reset(graceful=True)

    def __enter__(self) -> Publisher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _send(self, outgoing: list[_Outgoing | None], failures: list[Exception | None]) -> None:
        """Publish the messages of ``outgoing`` (None: skip), retrying through the retry policy
        while the connection is lost midway; record in ``failures`` what was not confirmed."""
        pending = [index for index, message in enumerate(outgoing) if message is not None]
        written: set[int] = set()  # handed to a connection at least once: may have reached the broker
        retries = 0
        while pending:
            try:
                producer = self._live_producer()
            except TransportError as exc:  # no connection could be opened: nothing more went out
                for index in pending:
                    failures[index] = exc if index not in written else _maybe_sent(exc)
                return
            settled: dict[int, bool] = {}
            try:
                self._publish_on(producer, outgoing, pending, failures, written, settled)
            except Exception as exc:  # noqa: BLE001 - classified below
                self._reset()
                timed_out = isinstance(exc, _ConfirmTimeout)
                error = self._timeout_error(exc) if timed_out else self._error(exc, unsent=False)
                if error is None:
                    raise
                left = [index for index in pending if index not in settled and failures[index] is None]
                self._record(settled, failures)
                if (error.recoverable and not timed_out
                        and retries < self.retry_policy.max_retries and left):
                    LOG.info("transport: the connection to %s was lost while publishing (%s); "
                             "publishing %d message(s) again", self.url, exc, len(left))
                    time.sleep(self._interval(retries))
                    retries += 1
                    pending = left
                    continue
                for index in left:
                    failures[index] = error if index not in written else _maybe_sent(error)
                return
            self._record(settled, failures)
            return

    def _record(self, settled: dict[int, bool], failures: list[Exception | None]) -> None:
        for index, acked in settled.items():
            if not acked:
                # A nack: a queue the message goes to is full (and rejects publishes), or the broker
                # failed to store it. It may still have reached other queues.
                failures[index] = TransportError(f"Message broker at {self.url} did not take the message "
                                                 "(basic.nack)", recoverable=True)

    def _publish_on(self, producer: Producer, outgoing: list[_Outgoing | None], pending: list[int],
                    failures: list[Exception | None], written: set[int], settled: dict[int, bool]) -> None:
        """Publish the ``pending`` messages on the producer's channel, then wait for their confirms
        (when the channel confirms); ``settled`` gets each message acked (True) or nacked (False)."""
        confirms = self._confirms
        if confirms is not None:
            confirms.settled = settled
            confirms.waiting.clear()
        for index in pending:
            message = outgoing[index]
            assert message is not None
            written.add(index)
            try:
                producer.publish(message.body, exchange=message.exchange, routing_key=message.routing_key,
                                 serializer="json", delivery_mode=PERSISTENT if message.persistent else None,
                                 declare=message.declare, message_id=message.message_id)
            except EncodeError as exc:
                written.discard(index)
                failures[index] = TransportError(f"Cannot send a message as JSON: {exc}", recoverable=False,
                                                 unsent=True)
                continue
            if confirms is None:
                settled[index] = True
            else:
                confirms.published(index)
        if confirms is None or not confirms.waiting:
            return
        connection = self._connection
        assert connection is not None
        deadline = time.monotonic() + self.confirm_timeout
        while confirms.waiting:
            left = deadline - time.monotonic()
            if left <= 0:
                raise _ConfirmTimeout(f"{len(confirms.waiting)} message(s) not confirmed within "
                                      f"{self.confirm_timeout} s")
            try:
                connection.drain_events(timeout=left)
            except TimeoutError:
                continue

    def _timeout_error(self, exc: Exception) -> TransportError:
        return TransportError(f"Message broker at {self.url} did not confirm the message(s): {exc}",
                              recoverable=True)

    def _interval(self, retries: int) -> float:
        policy = self.retry_policy
        return min(policy.interval_start + retries * policy.interval_step, policy.interval_max)

    def _live_producer(self) -> Producer:
        """The producer, on a connection that has not been seen closed by the broker; a new one when
        it was, or when there was none.

        Raises:
            TransportError: with ``unsent``: no connection could be opened, so nothing was sent.
        """
        if self._producer is not None and not self._still_open():
            LOG.info("transport: the broker at %s closed the connection; opening a new one", self.url)
            self._reset()
        if self._producer is not None:
            return self._producer
        try:
            return self._open()
        except Exception as exc:  # noqa: BLE001 - classified by _failed
            self._failed(exc, unsent=True)

    def _still_open(self) -> bool:
        """Whether the broker has not closed the connection (a broker that stopped, or was killed,
        or a link that was cut): a non-blocking read of what it sent, about 13 µs. A message published
        on a connection known closed may or may not have reached the broker; one not published at
        all is known not to have."""
        connection = self._connection
        if connection is None or connection.transport.driver_type == "memory":
            return connection is not None
        try:
            connection.drain_events(timeout=0)
        except TimeoutError:
            return True  # nothing to read: open
        except Exception:  # noqa: BLE001 - closed, reset, or a Connection.Close from the broker
            return False
        return True

    def _open(self) -> Producer:
        # Confirms are handled here (_Confirms), not by kombu's confirm_publish, which waits for
        # the confirm of each message before the next one is sent.
        self._connection = connect(self._url, self.retry_policy)
        # Connect now (through the retry policy given to connect()), so that a broker that cannot
        # be reached fails here, before anything is sent: Producer() would open the channel only
        # at its first publish.
        channel = self._connection.default_channel
        if self._confirm and self._connection.transport.driver_type != "memory":
            self._confirms = _Confirms(channel)
        self._producer = Producer(self._connection, auto_declare=False)
        return self._producer

    def _reset(self, graceful: bool = False) -> None:
        """Drop the connection: closed with the broker's handshake when ``graceful``, else (a broken
        connection, or a broker that stopped answering) only its socket, without waiting."""
        connection, self._connection, self._producer, self._confirms = self._connection, None, None, None
        if connection is not None:
            try:
                if graceful:
                    connection.close()
                else:
                    connection.collect()
            except Exception:  # noqa: BLE001 - it is broken already; nothing more to do with it
                LOG.debug("transport: closing a broken connection to %s failed", self.url, exc_info=True)

    def _failed(self, exc: Exception, unsent: bool = False) -> NoReturn:
        """After a failed send: drop the connection, then raise ``exc`` as a TransportError (or as it
        is when it is not a broker error); ``unsent``: the message certainly did not go out."""
        self._reset()
        error = self._error(exc, unsent)
        if error is None:
            raise exc
        raise error from exc

    def _error(self, exc: Exception, unsent: bool) -> TransportError | None:
        if isinstance(exc, self._recoverable):
            attempts = self.retry_policy.max_retries + 1
            return TransportError(
                f"Message broker at {self.url} is unreachable after {attempts} attempt(s): {exc}",
                recoverable=True, unsent=unsent)
        if isinstance(exc, self._refused):
            return TransportError(f"Message broker at {self.url} refused the message: {exc}",
                                  recoverable=False, unsent=unsent)
        return None


def _maybe_sent(error: TransportError) -> TransportError:
    """``error`` for a message that was handed to a connection before: it may have gone out."""
    if not error.unsent:
        return error
    copy = TransportError(str(error), recoverable=error.recoverable, unsent=False)
    copy.__cause__ = error.__cause__
    return copy
