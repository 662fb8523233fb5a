"""The scheduler: claims due delayed calls (``FOR UPDATE SKIP LOCKED``) and applies their events.

Delayed calls (wait-before/after, retry delays, timeouts, async-action deadlines, dispatched
events) are rows with a due time, written by the service in the transaction that decided them. The
loop sleeps until the next due time (at most ``4 * interval``) or until the service says it added
calls (:meth:`Scheduler.wake`, its ``on_schedule`` listener).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any, cast

from levante.db import repository as repo
from levante.db.session import SessionFactory, transaction
from levante.engine import events as ev
from levante.engine.records import utcnow
from levante.exceptions import EngineBusy

LOG = logging.getLogger(__name__)
#: Most delayed calls one pass claims.
BATCH = 256
#: A delayed call claimed by a process that died is taken again after this long (handling one
#: takes milliseconds; a crashed claimer must not hold, say, a sub-workflow's completion for long).
RECLAIM_AFTER = timedelta(seconds=20)


class Scheduler:
    """Fires due delayed calls through ``handle`` (the service's :meth:`EngineService.handle`)."""

    def __init__(self, handle: Callable[[Iterable[ev.Event]], None], session_factory: SessionFactory,
                 read_factory: SessionFactory, worker_id: str, interval: float,
                 wakeup: threading.Event | None = None) -> None:
        self.handle = handle
        self.session_factory = session_factory
        self.read_factory = read_factory
        #: Who claims the calls (a claim of a process that died is taken again after RECLAIM_AFTER).
        self.worker_id = worker_id
        #: The longest sleep is four times this, in seconds.
        self.interval = interval
        self._wakeup = wakeup or threading.Event()

    def wake(self) -> None:
        """Look for due calls now (calls were added)."""
        self._wakeup.set()

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                handled = self.fire_due()
            except Exception:  # noqa: BLE001
                LOG.exception("scheduler: failed to fire delayed calls")
                handled = 0
            if handled:
                continue
            try:
                wait = self.next_wait()
            except Exception:  # noqa: BLE001 - the database may be restarting: keep the loop alive
                LOG.exception("scheduler: cannot read the next due time; trying again shortly")
                wait = self.interval * 4
            self._wakeup.wait(wait)
            self._wakeup.clear()

    def fire_due(self) -> int:
        """Claim the due calls and apply their events; returns how many were claimed."""
        with transaction(self.session_factory) as session:
            calls = repo.claim_due(session, utcnow(), BATCH, self.worker_id, reclaim_after=RECLAIM_AFTER)
        if not calls:
            return 0
        pairs: list[tuple[int, ev.Event | None]] = []
        for call in calls:
            try:
                pairs.append((call.id, ev.from_dict(cast(dict[str, Any], call.payload))))
            except (ValueError, TypeError):
                LOG.error("scheduler: dropping malformed delayed call %s: %r", call.id, call.payload)
                pairs.append((call.id, None))
        # handle() fails what a poison event concerns and raises only for events that met a busy
        # database: their calls stay claimed and are taken again after RECLAIM_AFTER.
        pending: set[int] = set()
        try:
            self.handle([event for _, event in pairs if event is not None])
        except EngineBusy as busy:
            pending = {id(event) for event in busy.events}
            LOG.warning("scheduler: %d delayed call(s) met a busy database; they will be taken again",
                        len(pending))
        done = [call_id for call_id, event in pairs if id(event) not in pending]
        with transaction(self.session_factory) as session:
            repo.delete_calls(session, done)
        return len(calls)

    def next_wait(self) -> float:
        """Seconds until the next call is due (at most ``4 * interval``)."""
        longest = self.interval * 4
        with transaction(self.read_factory) as session:
            due = repo.next_due_at(session)
        if due is None:
            return longest
        return max(0.0, min((due - utcnow()).total_seconds(), longest))
