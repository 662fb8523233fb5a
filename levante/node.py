"""One Levante process: composes the parts a role runs, and runs their loops on threads.

- Embedded (role ``all`` on ``memory://``): everything in this process; the service hands its
  outbox rows to an in-process executor pool (:mod:`levante.executor.embedded`), whose results come
  back on an in-memory inbox.
- With a broker (``amqp://``): role ``engine`` consumes results from the engine queue, runs the
  scheduler and relays its outbox to the executor queues; role ``executor`` runs an
  :class:`~levante.executor.worker.ExecutorWorker` (no database); role ``api`` relays the outbox of
  the transactions its requests make; role ``all`` is the three together.

Each loop lives beside the part it serves: the scheduler in
:mod:`levante.engine.service.scheduler`, the cron loop in :mod:`levante.engine.service.cron`,
marking rows sent, the sweeper and the purge in :mod:`levante.engine.service.outbox`, the broker
relay in :mod:`levante.messaging.relay`. Listeners are given to constructors; this module only
decides which parts a role has and starts and stops them.

``levante run`` and ``levante server`` use a :class:`Node`; tests use it to run workflows end to end.
"""

from __future__ import annotations

import gc
import logging
import queue
import socket
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from levante.actions.registry import Registry
from levante.config import Config
from levante.db.session import make_session_factory, open_database
from levante.engine.service import EngineService
from levante.engine.service.catalog import DbCatalog
from levante.engine.service.cron import CronFirer, CronLoop
from levante.engine.service.outbox import SWEEP_AGE, Purger, SentMarks, Sweeper
from levante.engine.service.scheduler import Scheduler
from levante.engine.service.services import Services
from levante.executor.embedded import EmbeddedExecutor, EngineInbox
from levante.executor.runner import ActionRunner
from levante.workflows import expressions

if TYPE_CHECKING:
    from levante.messaging.relay import BrokerOutbox

# What talks to a broker (kombu: 40 ms of imports) is imported by the roles that use one, when
# they start: an embedded node (``levante run``, ``levante server``) never loads it.

LOG = logging.getLogger(__name__)

ROLES = ("all", "api", "engine", "executor")

#: Nodes started and not stopped in this process (guarded by ``_FROZEN_LOCK``; see :func:`_freeze`).
_RUNNING = 0
_FROZEN_LOCK = threading.Lock()


def _freeze() -> None:
    """Leave the objects that exist once a node has started (modules, the definitions of tables
    and statements, the expression grammars: hundreds of thousands, alive as long as the
    process) out of the garbage collector's full collections. A step that creates many objects
    (a with-items task over 10,000 items) sets off a few full collections, each of which went
    through all of them: 0.2 to 0.3 s of CPU of that task's 1.5 s. ``gc.freeze`` costs nothing
    itself. The first node of the process freezes; the objects are handed back to the collector
    when the last one stops (:func:`_unfreeze`), so garbage of that time is still collected then,
    and a process that starts and stops nodes one after the other (tests) keeps nothing frozen."""
    global _RUNNING
    with _FROZEN_LOCK:
        _RUNNING += 1
        if _RUNNING == 1:
            gc.freeze()


def _unfreeze() -> None:
    global _RUNNING
    with _FROZEN_LOCK:
        _RUNNING = max(_RUNNING - 1, 0)
        if _RUNNING == 0:
            gc.unfreeze()


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
        self.consumers: list[Any] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        #: Whether this node counts in :func:`_freeze` (started, not stopped yet).
        self._frozen = False
        self.relay: BrokerOutbox | None = None
        self.executor: EmbeddedExecutor | None = None
        if config.role == "executor":
            return  # an executor needs no database
        # A database that cannot be used stops the start here, with one line that says why.
        self.db = open_database(config.db_url)
        self.session_factory = make_session_factory(self.db)
        #: For reads: on SQLite these transactions do not take the write lock.
        self.read_factory = make_session_factory(self.db, read_only=True)
        self.catalog = DbCatalog(self.registry)
        #: Outbox rows handed over, to be marked sent.
        self.marks = SentMarks(self.session_factory)
        results: queue.Queue[Any] = queue.Queue()
        wakeup = threading.Event()
        send: Callable[[list[tuple[int, str, dict[str, Any]]]], None]
        cancelled: Callable[[list[str]], Any]
        if self.embedded:
            self.executor = EmbeddedExecutor(self.runner, config.executor_threads, results, self.marks.add)
            send, cancelled = self.executor.send, self.runner.cancellations.cancel
        else:
            from levante.messaging.relay import BrokerOutbox

            self.relay = BrokerOutbox(config.transport_url, config.namespace, self.marks.add_all,
                                      on_unpublished=self.marks.unpublished)
            send, cancelled = self.relay.send, self.relay.broadcast_cancel
        self.service = EngineService(self.session_factory, self.catalog, limits=config.engine_limits(),
                                     on_outbox=send, on_schedule=wakeup.set, before_commit=self.marks.mark_in,
                                     on_cancelled=cancelled)
        #: Results of the in-process executor, applied to the engine (embedded only).
        self.inbox = EngineInbox(results, self.service.handle, self.marks.add)
        self.scheduler = Scheduler(self.service.handle, self.session_factory, self.read_factory,
                                   worker_id=f"{socket.gethostname()}-{id(self):x}",
                                   interval=config.scheduler_interval, wakeup=wakeup)
        #: Fires due cron triggers (engine role); tests may replace its ``next_time``.
        self.cron = CronFirer(self.service)
        self.cron_loop = CronLoop(self.cron)
        self.sweeper = Sweeper(self.read_factory, send, write_factory=self.session_factory)
        self.purger = Purger(self.session_factory)
        #: What the API calls (built on first use: an executor-only or engine-only node needs none).
        self._services: Services | None = None

    @property
    def services(self) -> Services:
        """The services over this node's database and engine, for :func:`levante.api.app.create_app`."""
        if self._services is None:
            self._services = Services.of(self)
        return self._services

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
                from levante.messaging.transport import check_broker

                check_broker(self.config.transport_url)
            except BaseException:
                self.stop()  # releases the database
                raise
        if role == "executor" or (role == "all" and not self.embedded):
            from levante.executor.worker import ExecutorWorker

            worker = ExecutorWorker(self.config.transport_url, self.runner, namespace=self.config.namespace,
                                    target=self.config.executor_target, threads=self.config.executor_threads)
            worker.start()
            self.consumers.append(worker)
        if role == "executor":
            return self
        if self.relay is not None:
            self.relay.open()
        loops: list[tuple[str, Callable[[threading.Event], None], int]] = [("outbox", self.marks.run, 1)]
        if role in ("all", "engine"):
            loops.append(("scheduler", self.scheduler.run, 1))
            loops.append(("cron", self.cron_loop.run, 1))
            loops.append(("purge", self.purger.run, 1))
            if self.embedded:
                loops.append(("engine", self.inbox.run, self.config.engine_threads))
            else:
                from levante.messaging.engine_consumer import EngineConsumer

                consumer = EngineConsumer(self.config.transport_url, self.service.handle,
                                          namespace=self.config.namespace)
                consumer.start()
                self.consumers.append(consumer)
                loops.append(("sweeper", self.sweeper.run, 1))
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
            self.sweeper.sweep(older_than=None if self.embedded else SWEEP_AGE)
        self._frozen = True
        _freeze()
        return self

    def stop(self) -> None:
        """Stop the threads and consumers and release the database and the broker connection."""
        self._stop.set()
        if self._frozen:
            self._frozen = False
            _unfreeze()
        for consumer in self.consumers:
            consumer.stop()
        if self.config.role != "executor":
            self.scheduler.wake()
            self.inbox.close(self.config.engine_threads)
            self.marks.close()
        if self.executor is not None:
            self.executor.shutdown()
        for thread in self._threads:
            thread.join(timeout=5)
        if self.config.role == "executor":
            return
        if self.relay is not None:
            self.relay.close()  # publishes the rows handed over (their ids go to the marks)
        # Handed over but not marked yet: mark them, or a restart re-sends them.
        self.marks.mark_now()
        self.db.dispose()

    def __enter__(self) -> "Node":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _keep_alive(self, loop: Callable[[threading.Event], None]) -> None:
        """Run a loop; if it dies of an unexpected error, log it and start it again (a thread that
        silently died would leave delayed calls or results unhandled for good)."""
        while not self._stop.is_set():
            try:
                loop(self._stop)
                return
            except Exception:  # noqa: BLE001
                LOG.exception("%s died; restarting it", threading.current_thread().name)
                self._stop.wait(1.0)

    def wait_idle(self, timeout: float = 10.0) -> None:
        """Wait until the inbox is empty (tests)."""
        if self.config.role != "executor":
            self.inbox.wait_idle(timeout)
