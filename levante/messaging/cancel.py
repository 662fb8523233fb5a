"""The executors' side of cancel broadcasts: a consumer of a queue of its own, bound to the
namespace's fanout exchange ``<ns>.cancel``, that hands each list of cancelled action execution ids
to a callback.

It has its own connection and thread, so that a broadcast reaches an executor whose run-request
consumer is full (its prefetch held by the long actions that must be told to stop).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from levante.messaging import envelope as env
from levante.messaging.consumer import Consumer, Delivery
from levante.messaging.topology import DEFAULT_NAMESPACE, Topology

__all__ = ["CancelListener"]

LOG = logging.getLogger(__name__)


class CancelListener(Consumer):
    """Calls ``on_cancel(ids)`` with the ids of every cancel broadcast of the namespace."""

    def __init__(self, transport_url: str, on_cancel: Callable[[list[str]], Any],
                 namespace: str = DEFAULT_NAMESPACE, name: str = "levante-cancel-listener") -> None:
        self.topology = Topology(namespace)
        super().__init__(transport_url, [self.topology.cancel_queue()], prefetch_count=16, name=name)
        self.on_cancel = on_cancel

    def dispatch(self, delivery: Delivery) -> None:
        """Check the broadcast, hand its ids over, ack it."""
        if delivery.envelope.type != env.CANCEL:
            self.drop(delivery, f'type "{delivery.envelope.type}" on a cancel queue (expected "cancel")')
            return
        ids = delivery.payload.get("action_execution_ids")
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            self.drop(delivery, '"action_execution_ids" is not a list of ids')
            return
        try:
            self.on_cancel(ids)
        except Exception:  # noqa: BLE001 - nothing to retry: the ids are remembered or not
            LOG.exception("%s: handling %d cancelled action id(s) failed", self.name, len(ids))
        self._ack(delivery)
