"""One Levante process: the database, the engine service, the scheduler, the outbox relay and
executors, wired together and run on threads, for one role.

- Embedded (role ``all`` on ``memory://``): everything in this process; the outbox relay hands
  action requests straight to an in-process executor pool, results come back on an in-memory inbox.
- With a broker (``amqp://``): role ``engine`` consumes results from the engine queue, runs the
  scheduler and relays its outbox to the executor queues; role ``executor`` runs an
  :class:`~levante.executor.worker.ExecutorWorker` (no database); role ``api`` relays the outbox of
  the transactions its requests make; role ``all`` is the three together.

``levante run`` and ``levante server`` use a :class:`Node`; tests use it to run workflows end to end.
"""

from __future__ import annotations

import logging
import queue
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from levante.actions.registry import Registry
from levante.config import Config
from levante.db import repository as repo
from levante.db.session import make_session_factory, on_rollback, open_database, transaction
from levante.engine import events as ev
from levante.engine.commands import RunAction
from levante.engine.model import utcnow
from levante.engine.service import EngineService
from levante.engine.service.catalog import DbCatalog
from levante.engine.service.cron import CronFirer
from levante.exceptions import EngineBusy
from levante.executor.runner import ActionRequest, ActionRunner
from levante.executor.worker import ExecutorWorker
from levante.messaging.engine_consumer import EngineConsumer
from levante.messaging.relay import Relay
from levante.messaging.transport import Transport, check_broker
from levante.workflows import expressions

LOG = logging.getLogger(__name__)
#: Most events one engine transaction batch takes from the inbox.
BATCH = 256


def _resent(payload: dict[str, Any]) -> dict[str, Any]:
    return {**payload, "info": {**payload.get("info", {}), "resent": True}}


def _command(payload: dict[str, Any]) -> RunAction:
    fields = {k: v for k, v in payload.items() if k != "kind"}
    return RunAction(**fields)


ROLES = ("all", "api", "engine", "executor")
#: A delayed call claimed by a process that died is taken again after this long (handling one
#: takes milliseconds; a crashed claimer must not hold, say, a sub-workflow's completion for long).
RECLAIM_AFTER = timedelta(seconds=20)
#: How old an unsent outbox row must be before the sweeper sends it again, in seconds.
SWEEP_AGE = 10.0
#: How often the engine looks for due cron triggers, in seconds (a six-field pattern may fire every second).
CRON_INTERVAL = 1.0
#: Outbox rows sent longer ago than this are deleted, in seconds: nothing reads them again, and an
#: action request holds its callback token in plain text.
OUTBOX_KEEP = 300.0
#: How often the engine deletes them, in seconds, and how many rows one transaction deletes.
PURGE_INTERVAL = 60.0
PURGE_BATCH = 1000


class Node:
    """The parts of Levante one process runs, for its role."""

    def __init__(self, config: Config, registry: Registry | None = None) -> None:
        if config.role not in ROLES:
            raise ValueError(f"unknown role {config.role!r} (one of {', '.join(ROLES)})")
        self.config = config
        self.embedded = config.transport_url.startswith("memory://")
        if self.embedded and config.role != "all":
            raise ValueError(f"role {config.role!r} needs a message broker shared with the other roles "
                             "(--transport amqp://...); memory:// only connects the parts of one process")
        self.registry = registry or Registry()
        expressions.configure(config.expression_limits())
        self.runner = ActionRunner(self.registry, config.api_base_url, max_result_size=config.max_result_size,
                                   max_http_response_size=config.max_http_response_size)
        self.transport: Transport | None = None
        self.consumers: list[Any] = []
        #: Results of the in-process executor, each with the outbox row of its request: the row is
        #: marked sent only once the result is applied, so a result lost with the process (kill -9)
        #: leaves the row unsent and a restart sends the request again (see :meth:`_relay`).
        self.inbox: queue.Queue[tuple[ev.Event, int | None] | None] = queue.Queue()
        self.pool = ThreadPoolExecutor(max_workers=config.executor_threads, thread_name_prefix="executor")
        self._sent: queue.Queue[int | None] = queue.Queue()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.worker_id = f"{socket.gethostname()}-{id(self):x}"
        self.cron_interval = CRON_INTERVAL
        self.outbox_keep, self.purge_interval = OUTBOX_KEEP, PURGE_INTERVAL
        if config.role == "executor":
            return  # an executor needs no database
        # A database that cannot be used stops the start here, with one line that says why.
        self.db = open_database(config.db_url)
        self.session_factory = make_session_factory(self.db)
        #: For reads: on SQLite these transactions do not take the write lock.
        self.read_factory = make_session_factory(self.db, read_only=True)
        self.catalog = DbCatalog(self.registry)
        self.service = EngineService(self.session_factory, self.catalog, limits=config.engine_limits())
        self.service.on_outbox = self._relay if self.embedded else self._relay_to_broker
        self.service.on_schedule = self._wake_scheduler
        # Cancelled actions: the in-process pool skips or stops them; executors elsewhere hear a broadcast.
        self.service.on_cancelled = self.runner.cancellations.cancel if self.embedded else self._broadcast_cancel
        #: Fires due cron triggers (engine role); tests may replace its ``next_time``.
        self.cron = CronFirer(self.service)
        self.service.before_commit = self._mark_sent_in

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> "Node":
        """Start the threads of the role; re-send what a previous run left in the outbox.

        Raises:
            TransportError: the broker cannot be reached or used (the consumers would otherwise
                retry in the background for ever, and the process would look as if it ran).
        """
        role = self.config.role
        if not self.embedded:
            try:
                check_broker(self.config.transport_url)
            except BaseException:
                self.stop()  # releases the database
                raise
        if role == "executor" or (role == "all" and not self.embedded):
            worker = ExecutorWorker(self.config.transport_url, self.runner, namespace=self.config.namespace,
                                    target=self.config.executor_target, threads=self.config.executor_threads)
            worker.start()
            self.consumers.append(worker)
        if role == "executor":
            return self
        if not self.embedded:
            self.transport = Transport(self.config.transport_url, namespace=self.config.namespace)
            self.relay = Relay(self.transport)
        loops: list[tuple[str, Any, int]] = [("outbox", self._mark_sent_loop, 1)]
        if role in ("all", "engine"):
            loops.append(("scheduler", self._scheduler_loop, 1))
            loops.append(("cron", self._cron_loop, 1))
            loops.append(("purge", self._purge_loop, 1))
            if self.embedded:
                loops.append(("engine", self._engine_loop, self.config.engine_threads))
            else:
                consumer = EngineConsumer(self.config.transport_url, self.service.handle,
                                          namespace=self.config.namespace)
                consumer.start()
                self.consumers.append(consumer)
                loops.append(("sweeper", self._sweeper_loop, 1))
        for name, target, count in loops:
            for i in range(count):
                thread = threading.Thread(target=self._keep_alive, args=(target,), name=f"levante-{name}-{i}",
                                          daemon=True)
                thread.start()
                self._threads.append(thread)
        if role in ("all", "engine"):
            # Alone (embedded), every unsent row is a previous run's: send it now. Beside other
            # processes, a fresh row may be one an API or engine has just committed and is
            # publishing: only rows older than SWEEP_AGE are left over (as for the sweeper loop).
            self._sweep_outbox(older_than=None if self.embedded else SWEEP_AGE)
        return self

    def stop(self) -> None:
        """Stop the threads and consumers and release the database and the broker connection."""
        self._stop.set()
        self._wake.set()
        for consumer in self.consumers:
            consumer.stop()
        for _ in range(self.config.engine_threads):
            self.inbox.put(None)
        self._sent.put(None)
        self.pool.shutdown(wait=False, cancel_futures=True)
        for thread in self._threads:
            thread.join(timeout=5)
        if self.config.role != "executor":
            ids = self._take_sent()  # handed over but not marked yet: mark them, or a restart re-sends them
            if ids:
                with transaction(self.session_factory) as session:
                    repo.mark_sent(session, ids)
        if self.transport is not None:
            self.transport.close()
        if self.config.role != "executor":
            self.db.dispose()

    def __enter__(self) -> "Node":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- the engine -----------------------------------------------------------------------

    def _keep_alive(self, loop: Any) -> None:
        """Run a loop; if it dies of an unexpected error, log it and start it again (a thread that
        silently died would leave delayed calls or results unhandled for good)."""
        while not self._stop.is_set():
            try:
                loop()
                return
            except Exception:  # noqa: BLE001
                LOG.exception("%s died; restarting it", threading.current_thread().name)
                self._stop.wait(1.0)

    def _engine_loop(self) -> None:
        while not self._stop.is_set():
            first = self.inbox.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < BATCH:
                try:
                    more = self.inbox.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self.inbox.put(None)
                    break
                batch.append(more)
            self._apply_until_done(batch)

    def _apply_until_done(self, batch: list[tuple[ev.Event, int | None]]) -> None:
        """Apply a batch of results; those that met a busy or unreachable database are applied again,
        with a growing pause, for as long as it takes (or until the node stops: their outbox rows
        are still unsent then, so the next start runs their requests again)."""
        delay = 0.05
        while batch:
            try:
                self.service.handle([event for event, _ in batch])
                again: list[ev.Event] = []
            except EngineBusy as busy:
                again = busy.events
            except Exception:  # noqa: BLE001 - handle() fails what it cannot apply; this is a bug
                LOG.exception("engine: failed to apply %d event(s); trying again", len(batch))
                again = [event for event, _ in batch]
            pending = {id(event) for event in again}
            for event, row_id in batch:
                if row_id is not None and id(event) not in pending:
                    self._sent.put(row_id)
            batch = [(event, row_id) for event, row_id in batch if id(event) in pending]
            if batch:
                LOG.warning("engine: %d event(s) not applied yet; trying again in %.2f s", len(batch), delay)
                if self._stop.wait(delay):
                    return
                delay = min(delay * 2, 5.0)

    # --- delayed calls --------------------------------------------------------------------

    def _wake_scheduler(self) -> None:
        self._wake.set()

    def _scheduler_loop(self) -> None:
        while not self._stop.is_set():
            try:
                handled = self._fire_due()
            except Exception:  # noqa: BLE001
                LOG.exception("scheduler: failed to fire delayed calls")
                handled = 0
            if handled:
                continue
            try:
                wait = self._next_wait()
            except Exception:  # noqa: BLE001 - the database may be restarting: keep the loop alive
                LOG.exception("scheduler: cannot read the next due time; trying again shortly")
                wait = self.config.scheduler_interval * 4
            self._wake.wait(wait)
            self._wake.clear()

    def _cron_loop(self) -> None:
        """Fire due cron triggers, checking every ``cron_interval`` seconds."""
        while not self._stop.wait(self.cron_interval):
            try:
                self.cron.fire_due()
            except Exception:  # noqa: BLE001 - a broken trigger must not stop the loop
                LOG.exception("cron: failed to fire due triggers; skipping their firings")
                try:
                    self.cron.skip_broken()
                except Exception:  # noqa: BLE001
                    LOG.exception("cron: failed to skip broken triggers")

    def _fire_due(self) -> int:
        with transaction(self.session_factory) as session:
            calls = repo.claim_due(session, utcnow(), BATCH, self.worker_id, reclaim_after=RECLAIM_AFTER)
        if not calls:
            return 0
        pairs = []
        for call in calls:
            try:
                pairs.append((call.id, ev.from_dict(call.payload)))
            except (ValueError, TypeError):
                LOG.error("scheduler: dropping malformed delayed call %s: %r", call.id, call.payload)
                pairs.append((call.id, None))
        # handle() fails what a poison event concerns and raises only for events that met a busy
        # database: their calls stay claimed and are taken again after RECLAIM_AFTER.
        pending: set[int] = set()
        try:
            self.service.handle([event for _, event in pairs if event is not None])
        except EngineBusy as busy:
            pending = {id(event) for event in busy.events}
            LOG.warning("scheduler: %d delayed call(s) met a busy database; they will be taken again",
                        len(pending))
        done = [call_id for call_id, event in pairs if id(event) not in pending]
        with transaction(self.session_factory) as session:
            repo.delete_calls(session, done)
        return len(calls)

    def _next_wait(self) -> float:
        with transaction(self.read_factory) as session:
            due = repo.next_due_at(session)
        if due is None:
            return self.config.scheduler_interval * 4
        return max(0.0, min((due - utcnow()).total_seconds(), self.config.scheduler_interval * 4))

    # --- the outbox and the executor ------------------------------------------------------

    def _relay_to_broker(self, rows: list[tuple[int, str, dict[str, Any]]]) -> None:
        try:
            sent = self.relay.send(rows)
        except Exception:  # noqa: BLE001 - unsent rows stay pending; the sweeper sends them later
            LOG.exception("outbox: publishing %d row(s) failed; the sweeper will retry", len(rows))
            return
        for row_id in sent:
            self._sent.put(row_id)

    def _broadcast_cancel(self, action_execution_ids: list[str]) -> None:
        if self.transport is None:
            return
        try:
            self.transport.broadcast_cancel(action_execution_ids)
        except Exception:  # noqa: BLE001 - the actions are CANCELLED anyway; their results will be refused
            LOG.exception("could not broadcast the cancel of %d action(s)", len(action_execution_ids))

    def _sweeper_loop(self) -> None:
        while not self._stop.wait(SWEEP_AGE / 2):
            try:
                self._sweep_outbox(older_than=SWEEP_AGE)
            except Exception:  # noqa: BLE001
                LOG.exception("outbox: sweep failed")

    def _purge_loop(self) -> None:
        while not self._stop.wait(self.purge_interval):
            try:
                self.purge_outbox()
            except Exception:  # noqa: BLE001 - the database may be restarting: try again next time
                LOG.exception("outbox: purging sent rows failed")

    def purge_outbox(self) -> int:
        """Delete the outbox rows sent more than ``outbox_keep`` seconds ago, in short transactions
        (on SQLite each holds the write lock); returns how many."""
        before = utcnow() - timedelta(seconds=self.outbox_keep)
        total = 0
        while not self._stop.is_set():
            with transaction(self.session_factory) as session:
                deleted = repo.purge_sent(session, before, limit=PURGE_BATCH)
            total += deleted
            if deleted < PURGE_BATCH:
                break
        return total

    def _relay(self, rows: list[tuple[int, str, dict[str, Any]]]) -> None:
        """Hand requests to the in-process executor pool. A row is marked sent only when its action
        is done with: its result applied (see :meth:`_apply_until_done`) or, for an asynchronous
        action, its call made. A process killed before that leaves the row unsent, and the next
        start sends it again flagged ``resent``: the action runs again if its task is ``safe-rerun``,
        and otherwise fails with an error saying the process running it died, as a redelivered
        message does on a broker."""
        for row_id, _topic, payload in rows:
            self.pool.submit(self._execute, ActionRequest(_command(payload)), row_id)

    def _take_sent(self) -> list[int]:
        ids: list[int] = []
        while True:
            try:
                more = self._sent.get_nowait()
            except queue.Empty:
                return ids
            if more is None:
                self._sent.put(None)
                return ids
            ids.append(more)

    def _mark_sent_in(self, session: Any) -> None:
        """Mark the rows handed over since the last time, inside a transaction that writes anyway
        (on SQLite a separate write transaction would wait for the engine's lock)."""
        ids = self._take_sent()
        if ids:
            repo.mark_sent(session, ids)
            # The transaction may still roll back (a later decision in a shared batch fails, or
            # goes off the lock): the rows are then marked by a later transaction, not forgotten.
            on_rollback(session, lambda: self._requeue_sent(ids))

    def _requeue_sent(self, ids: list[int]) -> None:
        for row_id in ids:
            self._sent.put(row_id)

    def _mark_sent_loop(self) -> None:
        """Marks handed-over rows when no engine transaction came along to do it."""
        while not self._stop.wait(0.2):
            ids = self._take_sent()
            if not ids:
                continue
            try:
                with transaction(self.session_factory) as session:
                    repo.mark_sent(session, ids)
            except Exception:  # noqa: BLE001 - unmarked rows are re-sent, and results are idempotent
                LOG.exception("outbox: failed to mark %d row(s) sent", len(ids))

    def _sweep_outbox(self, older_than: float | None = None) -> None:
        """Re-send outbox rows left unsent (by a crash, or a broker that was down).

        A row may be unmarked because the process died after publishing it, so its action may have
        started already: re-sent rows are flagged ``resent``, and the executor treats them like a
        redelivered message (it runs the action again only if the task is ``safe-rerun``).
        """
        cutoff = utcnow() - timedelta(seconds=older_than) if older_than else None
        with transaction(self.read_factory) as session:
            rows = repo.pending(session, 10_000, older_than=cutoff)
            found = [(r.id, r.topic, _resent(r.payload)) for r in rows]
        if found:
            LOG.info("outbox: re-sending %d unsent message(s)", len(found))
            self.service.on_outbox(found)  # type: ignore[misc]

    def _execute(self, request: ActionRequest, row_id: int | None = None) -> None:
        try:
            event = self.runner.run(request)
        except Exception as exc:  # noqa: BLE001 - an executor bug must still end the action
            LOG.exception("executor: %s failed", request.command.action_name)
            event = ev.ActionCompleted(request.command.execution_id or "", request.command.action_execution_id,
                                       "ERROR", f"Executor failure: {exc}")
        if event is not None:
            self.inbox.put((event, row_id))
        elif row_id is not None:
            self._sent.put(row_id)  # an asynchronous action was called: its callback completes it

    # --- conveniences ---------------------------------------------------------------------

    def wait_idle(self, timeout: float = 10.0) -> None:
        """Wait until the inbox is empty (tests)."""
        deadline = time.monotonic() + timeout
        while not self.inbox.empty() and time.monotonic() < deadline:
            time.sleep(0.01)
