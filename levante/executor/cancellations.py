"""What an executor knows about cancelled action executions.

When a workflow execution is cancelled, the engine ends its action executions in the database and
then tells every executor their ids (in process for the embedded node, by a broadcast on the broker
otherwise). An executor remembers them here, skips a request for one of them that is still queued,
and tells an action of them that is running to stop (:meth:`levante.actions.base.Action.cancel`).

The memory is bounded: the oldest ids are forgotten first. A request whose id was forgotten (or
that arrives at an executor that was not connected when the cancel was broadcast) runs, and its
result is refused by the engine, which has already recorded the action as CANCELLED: work is
wasted, nothing is changed.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

LOG = logging.getLogger(__name__)

#: Cancelled action execution ids an executor remembers (about 100 bytes each).
MAX_REMEMBERED = 200_000


class Cancellations:
    """Cancelled action execution ids (bounded), and the actions running now, by id."""

    def __init__(self, limit: int = MAX_REMEMBERED) -> None:
        self.limit = limit
        self._cancelled: OrderedDict[str, None] = OrderedDict()
        self._running: dict[str, Any] = {}
        self._lock = threading.Lock()

    def cancel(self, action_execution_ids: Iterable[str]) -> int:
        """Remember the ids; tell the actions of them that are running to stop. Returns how many
        were running."""
        stopping = []
        with self._lock:
            for action_id in action_execution_ids:
                self._cancelled[action_id] = None
                self._cancelled.move_to_end(action_id)
                if action_id in self._running:
                    stopping.append((action_id, self._running[action_id]))
            while len(self._cancelled) > self.limit:
                self._cancelled.popitem(last=False)
        for action_id, action in stopping:
            _stop(action_id, action)
        return len(stopping)

    def is_cancelled(self, action_execution_id: str) -> bool:
        """Whether the action execution was cancelled (as far as this executor remembers)."""
        with self._lock:
            return action_execution_id in self._cancelled

    def start(self, action_execution_id: str, action: Any) -> bool:
        """Note that ``action`` runs now; False (and nothing noted) if it was cancelled already."""
        with self._lock:
            if action_execution_id in self._cancelled:
                return False
            self._running[action_execution_id] = action
            return True

    def finish(self, action_execution_id: str) -> bool:
        """Note that it no longer runs; True if it was cancelled while it ran."""
        with self._lock:
            self._running.pop(action_execution_id, None)
            return action_execution_id in self._cancelled

    def running(self) -> list[str]:
        """Ids of the actions running now."""
        with self._lock:
            return list(self._running)


def _stop(action_id: str, action: Any) -> None:
    try:
        action.cancel()
    except Exception:  # noqa: BLE001 - user code: the action just runs to its end
        LOG.warning("action execution %s: its cancel() failed", action_id, exc_info=True)
