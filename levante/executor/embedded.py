"""The executor of an embedded node (``memory://``): a thread pool in the engine's own process.

:class:`EmbeddedExecutor` takes the outbox rows the service hands over after its commit (it is the
service's ``on_outbox`` listener), runs each action on a pool thread and puts its result, with the
row's id, on a results queue; :class:`EngineInbox` drains that queue into the engine in batches.

A row is done with, and reported through ``on_done`` (which marks it sent), only when its result
has been applied, or an asynchronous action's call made. A process killed in between leaves the row
unsent, and the next start sends it again flagged ``resent``: the action runs again if its task is
``safe-rerun``, and otherwise fails with an error saying the process running it died, as a
redelivered message does on a broker.
"""

from __future__ import annotations

import collections
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from levante.engine import events as ev
from levante.engine.commands import RunAction
from levante.exceptions import EngineBusy
from levante.executor.runner import ActionRequest, ActionRunner

LOG = logging.getLogger(__name__)
#: Most events one engine transaction batch takes from the inbox.
BATCH = 256
#: A result with the outbox row of its request (None for an event that has no row).
Result = tuple[ev.Event, "int | None"]


class EmbeddedExecutor:
    """Runs the actions of outbox rows on a thread pool; results go to ``results``.

    The rows handed over wait in one queue that the pool's threads drain (a with-items task over
    10,000 items hands over 10,000 rows at once: one ``submit`` per row cost a future, a lock and
    a queue item each, about a fifth of the start of such a task). A batch starts at most as many
    drains as there are idle threads; each drain takes rows until the queue is empty.
    """

    def __init__(self, runner: ActionRunner, threads: int, results: "queue.Queue[Result | None]",
                 on_done: Callable[[int], None]) -> None:
        self.runner = runner
        self.results = results
        self.on_done = on_done
        self.threads = threads
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="executor")
        #: Requests handed over and not taken by a thread yet: (outbox row id, payload).
        self._queued: collections.deque[tuple[int, dict[str, Any]]] = collections.deque()
        #: Drains started and not finished (guarded by ``_lock``, as is their decision to stop).
        self._draining = 0
        self._lock = threading.Lock()
        self._stopped = False

    def send(self, rows: list[tuple[int, str, dict[str, Any]]]) -> None:
        """Hand the requests of outbox rows to the pool (the topic does not matter here: every
        target runs in this process)."""
        with self._lock:
            if self._stopped:
                return  # shut down: the rows stay unsent, as requests not started at shutdown
            self._queued.extend((row_id, payload) for row_id, _topic, payload in rows)
            start = min(self.threads - self._draining, len(self._queued))
            self._draining += max(start, 0)
        for _ in range(start):
            try:
                self.pool.submit(self._drain)
            except RuntimeError:  # shut down since the check above: the rows stay unsent, as at a stop
                with self._lock:
                    self._draining -= 1
                if not self._stopped:
                    raise

    def queued(self) -> int:
        """How many requests handed over no thread has taken yet."""
        return len(self._queued)

    def _drain(self) -> None:
        """Run queued requests until none is left (or the executor is shut down)."""
        try:
            while True:
                try:
                    row_id, payload = self._queued.popleft()
                except IndexError:
                    with self._lock:  # a send() meanwhile counted on this drain: look again
                        if self._queued and not self._stopped:
                            continue
                        self._draining -= 1
                        return
                try:
                    request = ActionRequest(RunAction.from_dict(payload))
                except TypeError:  # not a request: left unsent, as a broker's consumer leaves it
                    LOG.exception("executor: outbox row %s holds no action request", row_id)
                    continue
                self._execute(request, row_id)
        except BaseException:
            with self._lock:
                self._draining -= 1
            raise

    def _execute(self, request: ActionRequest, row_id: int | None = None) -> None:
        event = self.runner.run_safely(request)
        if event is not None:
            self.results.put((event, row_id))
        elif row_id is not None:
            self.on_done(row_id)  # an asynchronous action was called: its callback completes it

    def shutdown(self) -> None:
        """Stop taking work; requests not started are dropped (their rows stay unsent)."""
        with self._lock:
            self._stopped = True
            self._queued.clear()
        self.pool.shutdown(wait=False, cancel_futures=True)


class EngineInbox:
    """Applies the results of the embedded executor to the engine, in batches, with ``handle``
    (the service's :meth:`~levante.engine.service.EngineService.handle`)."""

    def __init__(self, results: "queue.Queue[Result | None]", handle: Callable[[list[ev.Event]], None],
                 on_done: Callable[[int], None]) -> None:
        self.results = results
        self.handle = handle
        self.on_done = on_done

    def put(self, event: ev.Event, row_id: int | None = None) -> None:
        self.results.put((event, row_id))

    def run(self, stop: threading.Event) -> None:
        """Drain the inbox until a stop marker (see :meth:`close`)."""
        while not stop.is_set():
            first = self.results.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < BATCH:
                try:
                    more = self.results.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self.results.put(None)
                    break
                batch.append(more)
            self.apply_until_done(batch, stop)

    def apply_until_done(self, batch: list[Result], stop: threading.Event) -> None:
        """Apply a batch of results; those that met a busy or unreachable database are applied again,
        with a growing pause, for as long as it takes (or until the node stops: their outbox rows
        are still unsent then, so the next start runs their requests again)."""
        delay = 0.05
        while batch:
            try:
                self.handle([event for event, _ in batch])
                again: list[ev.Event] = []
            except EngineBusy as busy:
                again = busy.events
            except Exception:  # noqa: BLE001 - handle() fails what it cannot apply; this is a bug
                LOG.exception("engine: failed to apply %d event(s); trying again", len(batch))
                again = [event for event, _ in batch]
            pending = {id(event) for event in again}
            for event, row_id in batch:
                if row_id is not None and id(event) not in pending:
                    self.on_done(row_id)
            batch = [(event, row_id) for event, row_id in batch if id(event) in pending]
            if batch:
                LOG.warning("engine: %d event(s) not applied yet; trying again in %.2f s", len(batch), delay)
                if stop.wait(delay):
                    return
                delay = min(delay * 2, 5.0)

    def close(self, readers: int) -> None:
        """Wake ``readers`` threads blocked in :meth:`run` so that they return."""
        for _ in range(readers):
            self.results.put(None)

    def empty(self) -> bool:
        return self.results.empty()

    def wait_idle(self, timeout: float = 10.0) -> None:
        """Wait until the inbox is empty (tests)."""
        deadline = time.monotonic() + timeout
        while not self.results.empty() and time.monotonic() < deadline:
            time.sleep(0.01)
