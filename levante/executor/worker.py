"""The executor as a queue consumer: RunAction messages in, ActionCompleted events out.

``ExecutorWorker`` consumes its group's queue (``<ns>.executor`` or ``<ns>.executor.<target>``),
runs each action on a thread pool with :class:`~levante.executor.runner.ActionRunner`, publishes the
resulting event to the engine's queue and only once the broker confirmed it acks the request
(at-least-once: a worker that dies mid-action leaves the request to be redelivered, and the runner
fails a redelivered request that is not ``safe_rerun``). The action threads hand their results to one
publishing thread, which publishes all those waiting at once and waits once for their confirms. An
asynchronous action (the runner returns None) is acked as soon as it started: its result comes later
through the API. A request this worker already reported that comes back redelivered (the ack was
lost with the connection) is acked without being run again.

The broker is reached only through :mod:`levante.messaging` (no kombu here).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from levante.engine.commands import RunAction
from levante.executor.runner import ActionRequest, ActionRunner
from levante.messaging import envelope as env
from levante.messaging.cancel import CancelListener
from levante.messaging.consumer import Consumer, Delivery
from levante.messaging.topology import DEFAULT_NAMESPACE, ENGINE_TOPIC, Topology
from levante.messaging.transport import Publisher, RetryPolicy

__all__ = ["ExecutorWorker"]

LOG = logging.getLogger(__name__)

#: Action executions whose outcome this worker reported, remembered to recognise their redelivery.
_MAX_REPORTED = 10_000
#: Most results published in one batch (one wait for the broker's confirms).
PUBLISH_BATCH = 100


class ExecutorWorker(Consumer):
    """Runs the RunAction messages of one executor group.

    Args:
        transport_url: kombu URL of the broker.
        runner: runs one request and returns the engine event (or None for an async action).
        namespace: prefix of the exchange and queue names.
        target: the executor group served (None: the default group).
        threads: actions run at once.
        prefetch: most unacknowledged requests held (default: ``threads``, so that every request
            received starts at once instead of waiting, and being marked redelivered, if this
            worker dies).
        retry_policy: how long publishing a result retries while the broker is unreachable.
        max_redeliveries, retry_delay: as for :class:`~levante.messaging.consumer.Consumer`
            (a request fails only when its result cannot be published).
    """

    def __init__(self, transport_url: str, runner: ActionRunner, namespace: str = DEFAULT_NAMESPACE,
                 target: str | None = None, threads: int = 16, prefetch: int | None = None, *,
                 retry_policy: RetryPolicy | None = None, max_redeliveries: int = 5,
                 retry_delay: float = 0.2, name: str | None = None) -> None:
        if threads < 1:
            raise ValueError(f"threads must be at least 1, not {threads}")
        self.topology = Topology(namespace)
        name = name or f"levante-executor{'-' + target if target else ''}"
        super().__init__(transport_url, [self.topology.executor_queue(target)],
                         prefetch_count=prefetch or threads, max_redeliveries=max_redeliveries,
                         retry_delay=retry_delay, name=name)
        self.runner = runner
        self.target = target
        self.transport = Publisher(transport_url, namespace, retry_policy)
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix=f"{name}-action")
        self._closed = False
        self._reported: OrderedDict[str, None] = OrderedDict()
        self._reported_lock = threading.Lock()
        #: Results to publish: (delivery, action execution id, envelope); None stops the thread.
        self._results: queue.SimpleQueue[tuple[Delivery, str, dict[str, Any]] | None] = queue.SimpleQueue()
        self._publishing = threading.Thread(target=self._publish_results, name=f"{name}-results", daemon=True)
        #: Receives the cancel broadcasts: queued requests of cancelled actions are skipped and
        #: running ones told to stop (on a connection of its own, see levante.messaging.cancel).
        self.cancel_listener = CancelListener(transport_url, runner.cancellations.cancel, namespace,
                                              name=f"{name}-cancel")

    def start(self) -> "ExecutorWorker":
        """Start listening for cancels, then consuming requests."""
        self.cancel_listener.start()
        self._publishing.start()
        super().start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop taking requests, wait up to ``timeout`` for those running, then disconnect.

        Requests still running then, or whose result is not confirmed yet, are not acked: the broker
        redelivers them.
        """
        super().stop(timeout)  # the publishing thread keeps publishing meanwhile
        self.cancel_listener.stop(timeout=1.0)
        self._closed = True
        self.pool.shutdown(wait=False, cancel_futures=True)
        self._results.put(None)
        if self._publishing.is_alive():
            self._publishing.join(timeout=2.0)
        self.transport.close()

    def dispatch(self, delivery: Delivery) -> None:
        """Check the request and hand it to the pool (on the consumer thread)."""
        if delivery.envelope.type != env.RUN_ACTION:
            self.drop(delivery, f'type "{delivery.envelope.type}" on an executor queue '
                                '(expected "run_action")')
            return
        payload = delivery.payload
        try:
            command = RunAction.from_dict(payload)
        except TypeError as exc:
            self.drop(delivery, f"not a RunAction ({exc})")
            return
        if delivery.redelivered and self._was_reported(command.action_execution_id):
            # This worker reported it, but the ack was lost with the connection: do not run it again.
            LOG.info("%s: action execution %s was already reported; acking its redelivery", self.name,
                     command.action_execution_id)
            self.settle(delivery, True)
            return
        self.pool.submit(self._execute, delivery, command)

    def _execute(self, delivery: Delivery, command: RunAction) -> None:
        """Run one request (on an action thread); hand its result to the publishing thread."""
        try:
            event = self.runner.run_safely(ActionRequest(command, delivery.redelivered))
            if event is None:  # an asynchronous action: its result comes through the API
                self._remember(command.action_execution_id)
                self.settle(delivery, True)
                return
            envelope = env.encode(env.EVENT, event.to_dict())
        except Exception:  # noqa: BLE001 - the request goes back to the queue
            LOG.exception("%s: could not report the result of action execution %s", self.name,
                          command.action_execution_id)
            self.settle(delivery, False)
            return
        if self._closed:  # a late result after stop(): left unacked, the broker redelivers the request
            return
        self._results.put((delivery, command.action_execution_id, envelope))

    def _publish_results(self) -> None:
        """The publishing thread: publish every result waiting (up to :data:`PUBLISH_BATCH`), then
        ack the requests whose result the broker confirmed, and requeue the others."""
        while True:
            first = self._results.get()
            if first is None:
                return
            batch = [first]
            stopping = False
            while len(batch) < PUBLISH_BATCH:
                try:
                    item = self._results.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stopping = True
                    break
                batch.append(item)
            self._publish_batch(batch)
            if stopping:
                return

    def _publish_batch(self, batch: list[tuple[Delivery, str, dict[str, Any]]]) -> None:
        failures: list[Exception | None]
        try:
            failures = self.transport.publish_many([(ENGINE_TOPIC, envelope) for _, _, envelope in batch])
        except Exception as exc:  # noqa: BLE001 - not known published: the requests go back to the queue
            failures = [exc] * len(batch)
        for (delivery, action_execution_id, _), failure in zip(batch, failures, strict=True):
            if failure is None:
                self._remember(action_execution_id)
                self.settle(delivery, True)
                continue
            LOG.error("%s: could not report the result of action execution %s: %s", self.name,
                      action_execution_id, failure)
            self.settle(delivery, False)

    def _remember(self, action_execution_id: str) -> None:
        with self._reported_lock:
            self._reported[action_execution_id] = None
            while len(self._reported) > _MAX_REPORTED:
                self._reported.popitem(last=False)

    def _was_reported(self, action_execution_id: str) -> bool:
        with self._reported_lock:
            return action_execution_id in self._reported
