"""The broker topology: one direct exchange and the queues bound to it. Nothing else.

Every name starts with a namespace (default ``levante``) so that several installations, or
several test runs, can share one RabbitMQ vhost::

    exchange  <ns>                       direct, durable
    queue     <ns>.engine                routing key 'engine'             engine events
    queue     <ns>.executor              routing key 'executor'           RunAction, default group
    queue     <ns>.executor.<target>     routing key 'executor.<target>'  RunAction for one target
    queue     <ns>.dead                  routing key 'dead'               dead letters of all of the above
    exchange  <ns>.cancel                fanout, durable                  cancel broadcasts
    queue     <ns>.cancel.<uuid>         exclusive, auto-delete           one per listening executor

Routing keys are the outbox topics (``engine``, ``executor``, ``executor.<target>``) unprefixed:
the namespaced exchange already isolates them. Work queues dead-letter into the same exchange with
the routing key ``dead`` (RabbitMQ honours it; kombu's memory transport ignores it).

Cancel broadcasts (the ids of action executions cancelled with their workflow) go to a fanout
exchange: every executor listening at that moment gets its own copy, on a queue of its own that
disappears with its connection (an executor that was away has nothing to skip: see
:mod:`levante.executor.cancellations`).
"""

from __future__ import annotations

import re
import threading
import uuid

from kombu import Exchange, Queue

from levante.messaging.topics import DEAD_TOPIC, ENGINE_TOPIC, EXECUTOR_TOPIC, check_target, executor_topic  # noqa: F401 - re-exported

__all__ = [
    "DEAD_TOPIC",
    "DEFAULT_NAMESPACE",
    "ENGINE_TOPIC",
    "EXECUTOR_TOPIC",
    "PERSISTENT",
    "Topology",
    "executor_topic",
]

#: Namespace of a production installation.
DEFAULT_NAMESPACE = "levante"
#: AMQP delivery mode of every message: written to disk by the broker.
PERSISTENT = 2

_NAMESPACE_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,99}$")


class Topology:
    """The exchange and queues of one namespace.

    Entities are built once and cached, so that kombu's ``maybe_declare`` (which remembers what a
    connection declared) declares each of them once per connection.
    """

    def __init__(self, namespace: str = DEFAULT_NAMESPACE) -> None:
        if not isinstance(namespace, str) or not _NAMESPACE_RE.match(namespace):
            raise ValueError(f'Invalid namespace "{namespace}": letters, digits, "_", "." and "-" only.')
        self.namespace = namespace
        #: The one exchange everything is published to.
        self.exchange = Exchange(namespace, type="direct", durable=True, delivery_mode=PERSISTENT)
        #: Where messages that failed too often end up (RabbitMQ only), for an operator to inspect.
        self.dead_queue = Queue(f"{namespace}.dead", self.exchange, routing_key=DEAD_TOPIC, durable=True)
        self._queues: dict[str, Queue] = {DEAD_TOPIC: self.dead_queue}
        self._lock = threading.Lock()
        #: Where cancel broadcasts are published: every bound queue gets a copy.
        self.cancel_exchange = Exchange(f"{namespace}.cancel", type="fanout", durable=True)

    def cancel_queue(self) -> Queue:
        """A new queue of one listener of the cancel broadcasts (exclusive to its connection,
        deleted with it)."""
        return Queue(f"{self.namespace}.cancel.{uuid.uuid4().hex}", self.cancel_exchange, durable=False,
                     exclusive=True, auto_delete=True)

    @property
    def engine_queue(self) -> Queue:
        """The queue of engine events."""
        return self.queue_for(ENGINE_TOPIC)

    def executor_queue(self, target: str | None = None) -> Queue:
        """The queue of one executor group (None: the default group)."""
        return self.queue_for(executor_topic(target))

    def queue_for(self, topic: str) -> Queue:
        """The queue a topic (routing key) is delivered to.

        Raises:
            ValueError: the topic is not ``engine``, ``executor``, ``executor.<target>`` or ``dead``.
        """
        queue = self._queues.get(topic)
        if queue is not None:
            return queue
        self._check_topic(topic)
        with self._lock:
            queue = self._queues.get(topic)
            if queue is None:
                queue = Queue(
                    f"{self.namespace}.{topic}",
                    self.exchange,
                    routing_key=topic,
                    durable=True,
                    queue_arguments={
                        "x-dead-letter-exchange": self.namespace,
                        "x-dead-letter-routing-key": DEAD_TOPIC,
                    },
                )
                self._queues[topic] = queue
        return queue

    def declarations(self, topic: str) -> list[Exchange | Queue]:
        """What must exist before publishing to ``topic``: the exchange, the dead-letter queue and
        the topic's queue (so a message for a target no executor serves yet waits instead of being
        dropped by the exchange)."""
        return [self.exchange, self.dead_queue, self.queue_for(topic)]

    def known_queues(self) -> list[Queue]:
        """Every queue built so far (the dead-letter queue included)."""
        with self._lock:
            return list(self._queues.values())

    @staticmethod
    def _check_topic(topic: str) -> None:
        if topic in (ENGINE_TOPIC, EXECUTOR_TOPIC, DEAD_TOPIC):
            return
        if isinstance(topic, str) and topic.startswith(EXECUTOR_TOPIC + "."):
            check_target(topic[len(EXECUTOR_TOPIC) + 1:])
            return
        raise ValueError(f'Unknown topic "{topic}": expected "engine", "executor" or "executor.<target>".')
