"""The outbox relay: publishes the engine's outbox rows as ``run_action`` envelopes.

The engine stores a RunAction and its outbox row in one transaction; after the commit the relay
publishes the rows and returns the ids it published, which the caller marks sent. Rows it could not
publish stay pending and the sweeper sends them again later (executors tolerate duplicates: a
redelivered or repeated request is either safe to re-run or fails cleanly).
"""

from __future__ import annotations

import logging
import os
import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from levante.exceptions import TransportError
from levante.messaging import envelope as env
from levante.messaging.topics import is_executor_topic
from levante.messaging.transport import Publisher

__all__ = ["BrokerOutbox", "OutboxRow", "Relay", "Sent"]

LOG = logging.getLogger(__name__)

#: An outbox row: (id, topic, RunAction payload); topic is ``executor`` or ``executor.<target>``.
OutboxRow = tuple[int, str, Mapping[str, Any]]


class Sent(NamedTuple):
    """What :meth:`Relay.send` did with its rows."""

    #: The ids published.
    sent: list[int]
    #: The ids known not to have reached the broker (not tried after the broker became unreachable,
    #: or failed before a connection was open): sending them again is their first delivery.
    unsent: list[int]


class Relay:
    """Publishes outbox rows through a :class:`~levante.messaging.transport.Publisher`."""

    def __init__(self, transport: Publisher) -> None:
        self.transport = transport

    def send(self, rows: Iterable[OutboxRow]) -> Sent:
        """Publish rows in order, waiting once for the broker's confirms of all of them; return the
        ids of those confirmed, and of those known unsent.

        A row that can never be published (a topic that is not an executor's, a payload that is not
        JSON, a message the broker refuses) is logged and skipped. A row the broker did not confirm
        (it became unreachable) stays pending for the sweeper.
        """
        rows = list(rows)
        items: list[tuple[str, Mapping[str, Any]]] = []
        tried: list[int] = []  # the rows in items
        for row_id, topic, payload in rows:
            try:
                if not is_executor_topic(topic):
                    raise ValueError(f'outbox topic "{topic}" is not an executor topic')
                items.append((topic, env.encode(env.RUN_ACTION, payload)))
            except ValueError as exc:
                LOG.error("relay: cannot send outbox row %s: %s", row_id, exc)
                continue
            tried.append(row_id)
        if not items:
            return Sent([], [])
        publish_many = getattr(self.transport, "publish_many", None)
        failures = publish_many(items) if publish_many is not None else self._one_by_one(items)
        sent: list[int] = []
        unsent: list[int] = []
        lost: list[tuple[int, TransportError]] = []
        for row_id, failure in zip(tried, failures, strict=True):
            if failure is None:
                sent.append(row_id)
            elif isinstance(failure, TransportError) and failure.recoverable:
                lost.append((row_id, failure))
                if failure.unsent:
                    unsent.append(row_id)
            elif isinstance(failure, TransportError):
                LOG.error("relay: the broker refused outbox row %s: %s", row_id, failure)
            else:
                LOG.error("relay: cannot send outbox row %s: %s", row_id, failure)
        if lost:
            LOG.warning("relay: %d outbox row(s) left unsent for the sweeper: %s", len(lost), lost[0][1])
        return Sent(sent, unsent)

    def _one_by_one(self, items: list[tuple[str, Mapping[str, Any]]]) -> list[Exception | None]:
        """For a transport that publishes one message at a time: the outcome of each, as
        ``publish_many`` gives them; once the broker is unreachable the rest are not tried (each would
        wait through the whole retry policy again) and are known unsent."""
        failures: list[Exception | None] = []
        for position, (topic, envelope) in enumerate(items):
            try:
                self.transport.publish(topic, envelope)
            except (ValueError, TransportError) as exc:
                failures.append(exc)
                if isinstance(exc, TransportError) and exc.recoverable:
                    untried = TransportError(f"not tried: {exc}", recoverable=True, unsent=True)
                    return failures + [untried] * (len(items) - position - 1)
                continue
            failures.append(None)
        return failures


class BrokerOutbox:
    """What an engine (or API) process publishes after its commits: outbox rows, through a
    :class:`Relay` (the service's ``on_outbox`` listener; the ids published go to ``on_sent``), and
    cancel broadcasts (its ``on_cancelled`` listener). The connection is made by :meth:`open`.

    :meth:`send` hands the rows to a publishing thread and returns: the request or the engine batch
    that committed them does not wait for the broker's confirms (a round trip, and seconds of
    retries while the broker is away). The thread publishes all the rows waiting, up to
    :data:`BATCH`, with one wait for their confirms, so the rows of concurrent requests share it
    (one publish with its own confirm at a time per process before: 0.7 ms of an API worker's CPU
    per callback, issue 14). The rows are committed before they are handed over: if the process
    dies first, the sweeper sends them.
    """

    #: Rows published together at most (one wait for their confirms).
    BATCH = 500
    #: Rows waiting for the thread at most; past it (a broker away for long), new rows are left
    #: to the sweeper, which sends them as a first delivery.
    MAX_WAITING = 20_000

    def __init__(self, url: str, namespace: str, on_sent: Callable[[list[int]], None],
                 on_unpublished: Callable[[list[int]], None] | None = None) -> None:
        self.url = url
        self.namespace = namespace
        self.on_sent = on_sent
        #: Told the ids of rows sent for the first time that certainly did not reach the broker, so
        #: that the sweeper sends them later as a first delivery (not flagged ``resent``, which an
        #: executor refuses to run unless the task is safe to re-run).
        self.on_unpublished = on_unpublished
        self.transport: Publisher | None = None
        self.relay: Relay | None = None
        self._changed = threading.Condition()
        self._waiting: deque[OutboxRow] = deque()
        self._publishing = 0  # rows taken by the thread and not published yet
        self._closing = False
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()

    def open(self) -> None:
        self.transport = Publisher(self.url, namespace=self.namespace)
        self.relay = Relay(self.transport)

    def send(self, rows: list[tuple[int, str, dict[str, Any]]]) -> None:
        """Hand the rows to the publishing thread; what is not published stays pending for the sweeper."""
        if not rows:
            return
        with self._changed:
            refused = self._closing or len(self._waiting) + len(rows) > self.MAX_WAITING
            if not refused:
                self._waiting.extend(rows)
                self._start_thread()
                self._changed.notify_all()
        if refused:
            LOG.warning("outbox: %d row(s) left for the sweeper (%s)", len(rows),
                        "the relay is closing" if self._closing else f"{self.MAX_WAITING} rows already wait")
            self._unpublished(rows, [row[0] for row in rows])

    def _start_thread(self) -> None:
        """Start the publishing thread if it is not running in this process (a forked worker has
        the parent's object but not its threads). Called holding ``_changed``."""
        if self._pid != os.getpid():
            self._pid, self._thread = os.getpid(), None
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="levante-relay", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            with self._changed:
                while not self._waiting and not self._closing:
                    self._changed.wait()
                if not self._waiting:
                    return
                batch = [self._waiting.popleft() for _ in range(min(self.BATCH, len(self._waiting)))]
                self._publishing = len(batch)
            try:
                self._publish(batch)
            except Exception:  # noqa: BLE001 - a listener failed; the thread goes on with the next rows
                LOG.exception("outbox: reporting %d published row(s) failed", len(batch))
            finally:
                with self._changed:
                    self._publishing = 0
                    self._changed.notify_all()

    def _publish(self, rows: list[OutboxRow]) -> None:
        try:
            if self.relay is None:
                raise TransportError("the relay is not open yet", unsent=True)
            outcome = self.relay.send(rows)
        except Exception as exc:  # noqa: BLE001 - unsent rows stay pending; the sweeper sends them later
            LOG.exception("outbox: publishing %d row(s) failed; the sweeper will retry", len(rows))
            if isinstance(exc, TransportError) and exc.unsent:
                self._unpublished(rows, [row[0] for row in rows])
            return
        try:
            self.on_sent(outcome.sent)
        finally:
            self._unpublished(rows, outcome.unsent)

    def flush(self, timeout: float) -> bool:
        """Wait until every row handed over has been published (or given up); False: some are
        still waiting after ``timeout`` seconds."""
        with self._changed:
            return self._changed.wait_for(lambda: not self._waiting and not self._publishing, timeout)

    def _unpublished(self, rows: Sequence[OutboxRow], ids: list[int]) -> None:
        """Report the rows of ``ids`` sent for the first time: a row re-sent by the sweeper may
        have gone out before (its first publisher may have died after publishing it), so it stays
        a repeat whatever became of this copy."""
        if not ids or self.on_unpublished is None:
            return
        wanted = set(ids)
        first = [row_id for row_id, _, payload in rows
                 if row_id in wanted and not payload.get("info", {}).get("resent")]
        if first:
            try:
                self.on_unpublished(first)
            except Exception:  # noqa: BLE001 - the rows are then re-sent as repeats: safe, if harsher
                LOG.exception("outbox: could not record %d row(s) as never published", len(first))

    def broadcast_cancel(self, action_execution_ids: list[str]) -> None:
        """Tell every listening executor to skip or stop these action executions."""
        if self.transport is None:
            return
        try:
            self.transport.broadcast_cancel(action_execution_ids)
        except Exception:  # noqa: BLE001 - the actions are CANCELLED anyway; their results will be refused
            LOG.exception("could not broadcast the cancel of %d action(s)", len(action_execution_ids))

    def close(self, timeout: float = 10.0) -> None:
        """Publish what waits (for up to ``timeout`` seconds; the sweeper sends the rest after a
        restart), then close the connection."""
        with self._changed:
            self._closing = True
            self._changed.notify_all()
            thread = self._thread if self._pid == os.getpid() else None
        if thread is not None:
            thread.join(timeout)
        if self.transport is not None:
            self.transport.close()
