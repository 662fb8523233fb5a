"""The engine service: applies events to executions in database transactions.

:class:`EngineService` is the one class the rest of the code uses. It holds what every part
shares (the session factories, the catalog, the clock, the bounds, the listeners told after a
commit) and delegates to its parts:

- :mod:`.steps`: one step of an execution: lock, load, decide (the pure Conductor), write, and
  turn the commands into rows in the same transaction;
- :mod:`.starts`: starting executions, and the sub-executions a step starts;
- :mod:`.applying`: batches of events, and decisions made off the lock;
- :mod:`.control`: lifecycle requests (pause, resume, cancel, ...) and the bulk end of a tree;
- :mod:`.callbacks`: results sent from outside, and actions run on their own;
- :mod:`.recovery`: events that can never be applied.

After the commit it tells its listeners (the relay that publishes the outbox, the scheduler,
executors about cancelled actions, waiters on executions).
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from typing import Any, Callable, Iterable

from sqlalchemy.orm import Session

from levante.db import repository as repo
from levante.db.session import SessionFactory, make_session_factory, transaction
from levante.engine import events as ev
from levante.engine.limits import EngineLimits
from levante.engine.records import ActionExecution, WorkflowExecution, utcnow
from levante.engine.service.applying import Applying
from levante.engine.service.callbacks import Callbacks
from levante.engine.service.catalog import DbCatalog
from levante.engine.service.control import Control
from levante.engine.service.parts import ActionDetail, Outcome, StrictClock
from levante.engine.service.recovery import Recovery
from levante.engine.service.starts import Starts
from levante.engine.service.steps import Steps
from levante.states import COMPLETED

__all__ = ["LOCKED_EXPRESSION_SECONDS", "EngineService"]

LOG = logging.getLogger(__name__)
#: Seconds a decision may spend in slow expressions while it holds its execution's lock (on
#: SQLite, the database's write lock, which every other writer waits for). Past it the decision is
#: dropped and made again off the lock (:meth:`.applying.Applying.off_lock`).
LOCKED_EXPRESSION_SECONDS = 0.1


class EngineService:
    """Starts executions and applies events to them, one transaction per execution."""

    def __init__(self, session_factory: SessionFactory, catalog: DbCatalog,
                 clock: Callable[[], Any] = utcnow, limits: EngineLimits | None = None,
                 read_factory: SessionFactory | None = None, *,
                 on_outbox: Callable[[list[tuple[int, str, dict[str, Any]]]], None] | None = None,
                 on_schedule: Callable[[], None] | None = None,
                 before_commit: Callable[[Session], None] | None = None,
                 on_cancelled: Callable[[list[str]], Any] | None = None) -> None:
        self.session_factory = session_factory
        #: Sessions for decisions made off the lock (SQLite: DEFERRED, beside the writer).
        self.read_factory = read_factory or make_session_factory(session_factory.kw["bind"], read_only=True)
        self.catalog = catalog
        self.clock = StrictClock(clock)
        #: Bounds of the decisions (sub-workflow depth, with-items, stored result size).
        self.limits = limits or EngineLimits()
        #: Seconds a decision may spend in slow expressions under its execution's lock (see
        #: :data:`LOCKED_EXPRESSION_SECONDS`).
        self.lock_slice = LOCKED_EXPRESSION_SECONDS
        #: Called after commit with the new outbox rows: [(id, topic, payload)] (the relay).
        self.on_outbox = on_outbox
        #: Called after commit when delayed calls were added (wakes the scheduler).
        self.on_schedule = on_schedule
        #: Called with the session at the end of each engine transaction (the outbox's sent
        #: marks are written there).
        self.before_commit = before_commit
        #: Called after commit with the ids of action executions a cancel ended: executors skip
        #: their queued requests and tell running ones to stop.
        self.on_cancelled = on_cancelled
        self._waiters: dict[str, list[threading.Event]] = defaultdict(list)
        self._waiters_lock = threading.Lock()
        self.steps = Steps(self)
        self.starts = Starts(self)
        self.applying = Applying(self)
        self.control = Control(self)
        self.callbacks = Callbacks(self)
        #: What is done with events that can never be applied.
        self.recovery = Recovery(self)

    # --- starting -------------------------------------------------------------------------

    def start_execution(self, workflow: str, input: dict[str, Any] | None = None,  # noqa: A002
                        params: dict[str, Any] | None = None, description: str = "",
                        execution_id: str | None = None) -> WorkflowExecution:
        """Create and start an execution of ``workflow`` (a name or a definition id).

        With ``execution_id`` the call is idempotent: an execution with that id is returned as it is.

        Raises:
            NotFoundError: no such workflow. InputError: the input does not fit.
        """
        return self.starts.start_execution(workflow, input, params, description, execution_id)

    def start_in(self, session: Session, outcome: Outcome, workflow: str,
                 input: dict[str, Any] | None = None,  # noqa: A002
                 params: dict[str, Any] | None = None, description: str = "",
                 execution_id: str | None = None, lock_slice: float | None = None) -> WorkflowExecution:
        """:meth:`start_execution` inside the caller's transaction (e.g. with the cron trigger that
        fires it). ``outcome`` (from :meth:`new_outcome`) goes to :meth:`after_commit` once the
        caller committed. NotFoundError and InputError are raised before anything is written;
        SliceExpired when ``lock_slice`` is given and the start's expressions ran past it."""
        return self.starts.start_in(session, outcome, workflow, input, params, description, execution_id,
                                    lock_slice)

    @staticmethod
    def new_outcome() -> Outcome:
        """What :meth:`start_in` collects for :meth:`after_commit`."""
        return Outcome()

    def after_commit(self, outcome: Outcome) -> None:
        """Tell the listeners what a committed transaction produced."""
        if outcome.outbox and self.on_outbox is not None:
            self.on_outbox(outcome.outbox)
        if outcome.wake_scheduler and self.on_schedule is not None:
            self.on_schedule()
        if outcome.cancelled_actions and self.on_cancelled is not None:
            try:
                self.on_cancelled(outcome.cancelled_actions)
            except Exception:  # noqa: BLE001 - committed; executors only waste work on them
                LOG.exception("could not tell executors about %d cancelled action(s)", len(outcome.cancelled_actions))
        for execution_id, _state in outcome.completed:
            with self._waiters_lock:
                for waiter in self._waiters.pop(execution_id, []):
                    waiter.set()

    # --- events ---------------------------------------------------------------------------

    def handle(self, events: Iterable[ev.Event]) -> None:
        """Apply events, grouped by execution, several executions per transaction.

        Executions are locked in id order (so two engine threads cannot deadlock), at most
        :data:`~.applying.EXECUTIONS_PER_TRANSACTION` per transaction: under load most of a transaction's cost is
        the commit, so sharing it is what makes many small workflows fast. If a shared transaction
        fails, each execution is applied in a transaction of its own, so one bad event cannot hold
        the others back.

        No event is dropped. An event that can never be applied (a value the database refuses, an
        engine bug: a *poison* event) fails what it concerns instead, with the error in
        ``state_info`` (:class:`~.recovery.Recovery`), so its execution still ends. Events that met
        a busy or unreachable database were not applied: they are raised in :class:`EngineBusy` for the caller
        to apply again later; every other event of the call was applied.
        """
        self.applying.handle(events)

    def apply(self, execution_id: str, events: list[ev.Event]) -> WorkflowExecution:
        """Apply events to one execution in one transaction; returns the execution after them."""
        return self.applying.apply(execution_id, events)

    # --- requests from the API ------------------------------------------------------------

    def complete_action(self, action_execution_id: str, state: str, output: Any,
                        token: str | None = None) -> ActionDetail:
        """Complete an (async) action execution from outside: a callback, the CLI, the API.

        With ``token`` (a callback's), nothing changes unless it is the action's callback token;
        it is checked on the row the same statement reads, so a callback costs no read of its own.

        Returns the action execution as it is after the change with what the API's answer shows
        beside it (its task's name, its workflow's namespace, its last heartbeat), taken from what
        the transaction loaded to complete it: an answer costs no statement of its own.

        Raises:
            NotFoundError: unknown id. ConflictError: the action execution is already completed.
            CallbackTokenError: ``token`` is not the action's.
        """
        return self.callbacks.complete_action(action_execution_id, state, output, token)

    def run_action(self, name: str, action_input: dict[str, Any] | None = None,
                   description: str = "", target: str | None = None, sync_only: bool = False) -> ActionExecution:
        """Run a registered action on its own, outside any workflow (``POST /v2/action_executions``),
        on the executors of ``target`` (the default group when None).

        Raises:
            NotFoundError: no action has that name. InputError: the input does not fit it, or
                ``sync_only`` and the action is asynchronous (it cannot be waited for).
        """
        return self.callbacks.run_action(name, action_input, description, target, sync_only)

    def request(self, event: ev.Event) -> WorkflowExecution:
        """Apply a lifecycle request (pause, resume, cancel, rerun, skip, stop) now.

        Raises:
            NotFoundError: unknown execution. ConflictError: a cancel or a pause of an execution
                that has ended (:func:`~levante.engine.lifecycle.refuse_request`).
        """
        return self.control.request(event)

    def update_execution(self, execution_id: str, description: str | None = None,
                         env: dict[str, Any] | None = None) -> WorkflowExecution:
        """Change an execution's description, and/or merge ``env`` into its ``params.env`` (only
        while it is IDLE, PAUSED or ERROR, as Mistral allows: a running execution may be reading it).

        Raises:
            NotFoundError: unknown id. ConflictError: ``env`` for an execution in another state.
        """
        return self.control.update_execution(execution_id, description, env)

    # --- waiting --------------------------------------------------------------------------

    def wait(self, execution_id: str, timeout: float | None = None) -> WorkflowExecution:
        """Block until the execution is in a terminal state (or the timeout passes); return it."""
        waiter = threading.Event()
        with self._waiters_lock:
            self._waiters[execution_id].append(waiter)
        ex = self.get_execution(execution_id)
        if ex.state not in COMPLETED:
            waiter.wait(timeout)
            ex = self.get_execution(execution_id)
        with self._waiters_lock:
            if waiter in self._waiters.get(execution_id, []):
                self._waiters[execution_id].remove(waiter)
        return ex

    def stalled(self) -> list[str]:
        """Ids of executions left RUNNING with nothing that can move them on (should be none; see
        :func:`levante.db.repository.stalled_executions`)."""
        with transaction(self.session_factory) as session:
            return repo.stalled_executions(session)

    def get_execution(self, execution_id: str) -> WorkflowExecution:
        """Read an execution (in a read-only transaction: on SQLite it does not wait for, nor
        hold up, the writers, e.g. the engine applying the results :meth:`wait` waits for)."""
        with transaction(self.read_factory) as session:
            return repo.get_execution(session, execution_id)
