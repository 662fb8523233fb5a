"""Messaging: the only package that imports kombu.

- :mod:`~levante.messaging.topology`: the exchange and queues of a namespace;
- :mod:`~levante.messaging.envelope`: the versioned JSON envelope (``encode`` / ``decode``);
- :mod:`~levante.messaging.transport`: ``Publisher.publish`` with a bounded retry policy;
- :mod:`~levante.messaging.consumer`: the ``Consumer`` base (a kombu ``ConsumerMixin`` on a thread);
- :mod:`~levante.messaging.engine_consumer`: ``EngineConsumer``, engine events in batches;
- :mod:`~levante.messaging.relay`: ``Relay``, the outbox publisher, and ``BrokerOutbox``, what a process
  publishes after its commits (outbox rows, cancel broadcasts).

The executor's consumer is :class:`levante.executor.worker.ExecutorWorker`.
"""
