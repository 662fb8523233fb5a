"""The engine service: applies events to executions in database transactions.

For each execution it takes the execution's lock, loads the execution with its task executions,
runs the pure :class:`~levante.engine.machine.Conductor`, writes back what changed, and turns the
commands into rows in the same transaction: RunAction -> outbox, Schedule and Dispatch -> delayed
calls, StartWorkflow -> a child execution started right there. After the commit it tells its
listeners (the relay that publishes the outbox, the scheduler, waiters on executions).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Callable, Iterable

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from levante.db import repository as repo
from levante.db.session import SessionFactory, is_sqlite, is_transient, make_session_factory, transaction
from levante.engine import events as ev
from levante.engine.commands import AbandonWork, Command, Completed, Dispatch, RunAction, Schedule, StartWorkflow
from levante.engine.context import deep_merge
from levante.engine.inputs import prepare_input
from levante.engine.limits import EngineLimits, json_size, result_too_large
from levante.engine.machine import Conductor, refuse_request
from levante.engine.model import ActionExecution, WorkflowExecution, new_id, utcnow
from levante.engine.service.catalog import DbCatalog, Pinned
from levante.engine.service.parts import ActionDetail, DbStore, Outcome, StrictClock
from levante.engine.service.recovery import Recovery
from levante.engine.service.tokens import _with_callback_tokens, token_matches
from levante.engine.state import ExecutionState
from levante.exceptions import (
    CallbackTokenError,
    ConflictError,
    EngineBusy,
    EngineFailure,
    InputError,
    LevanteError,
    NotFoundError,
)
from levante.messaging.topics import executor_topic
from levante.states import State
from levante.workflows.expressions.limits import SliceExpired
from levante.workflows.expressions.limits import step as expression_step

LOG = logging.getLogger(__name__)
#: Most executions one engine transaction applies events to.
EXECUTIONS_PER_TRANSACTION = 32
#: A shared transaction commits early once its decisions took this long (seconds): a decision
#: evaluating slow expressions (up to two expression timeouts) must not make the executions after it
#: in the batch, and every writer waiting for the lock, wait for theirs too.
SHARED_TRANSACTION_SECONDS = 0.5
_DONE = (State.SUCCESS, State.ERROR, State.CANCELLED)
#: Times a cancel (or another request) is tried again after PostgreSQL chose it as a deadlock's
#: victim (cancelling a tree waits for the locks of every execution in it).
REQUEST_ATTEMPTS = 3
#: Most rounds of looking for sub-executions started while a tree was being cancelled.
_ABANDON_ROUNDS = 100
#: Seconds a decision may spend in slow expressions while it holds its execution's lock (on
#: SQLite, the database's write lock, which every other writer waits for). Past it the decision is
#: dropped and made again off the lock (:meth:`EngineService._off_lock`).
LOCKED_EXPRESSION_SECONDS = 0.1
#: Times a decision made off the lock is made again because its execution changed meanwhile;
#: after that it is made under the lock, with the whole expression budget of a step.
OFF_LOCK_ATTEMPTS = 3


@dataclass
class _Child:
    """A sub-execution whose start was decided off the lock, to be written with its parent's step."""

    ex: WorkflowExecution
    checksum: str | None
    state: ExecutionState
    commands: list[Command]


class _Changed(Exception):  # noqa: N818 - control flow: roll the write back, decide again
    """The execution changed between an off-lock decision and its write."""


def completed_conflict(action_ex: ActionExecution) -> ConflictError:
    """The 409 for a result or a heartbeat sent to an action execution that has ended; for one
    cancelled with its workflow execution, the message says so (its ``state_info`` names the
    execution that was cancelled)."""
    if action_ex.state == State.CANCELLED and action_ex.state_info and action_ex.state_info.startswith("Cancelled: "):
        why = action_ex.state_info[len("Cancelled: "):].rstrip(".")
        return ConflictError(f"Action execution {action_ex.id} was cancelled ({why}): its result is not "
                             "accepted.")
    return ConflictError(f"Action execution {action_ex.id} is already completed (state {action_ex.state}).")


def _refuse_done(action_ex: ActionExecution) -> None:
    if action_ex.state in _DONE:
        raise completed_conflict(action_ex)


def _is_deadlock(exc: DBAPIError) -> bool:
    return getattr(exc.orig, "sqlstate", None) == "40P01" or getattr(exc.orig, "pgcode", None) == "40P01"


def _find(getter: Callable[[Session, str], Any], session: Session, key: str) -> Any:
    try:
        return getter(session, key)
    except NotFoundError:
        return None


def _detail(action_ex: ActionExecution, loaded: ExecutionState | None, heartbeat: Any) -> ActionDetail:
    """What the answer to a completion shows, from what its transaction loaded (``loaded``: the
    action's workflow execution with its tasks; None for an action run on its own)."""
    if loaded is None:
        return ActionDetail(action_ex, None, "", heartbeat if not action_ex.is_sync else None)
    task = loaded.task_by_id(action_ex.task_execution_id or "")
    return ActionDetail(action_ex, task.name if task else None, loaded.execution.workflow_namespace, heartbeat)


def _locked_action(session: Session, action_execution_id: str) -> ActionExecution:
    """An action execution read under its row's lock (one run on its own has no execution lock)."""
    return repo.get_action_execution_with_extras(session, action_execution_id, lock=True)[0]


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
        #: Sub-workflows waiting to start in this thread's transaction (see :meth:`_start_child`).
        self._children = threading.local()
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
        outcome = Outcome()
        try:
            with transaction(self.session_factory) as session:
                ex = self.start_in(session, outcome, workflow, input, params, description, execution_id,
                                   self.lock_slice)
        except SliceExpired:
            ex, outcome = self._start_off_lock(workflow, input, params, description, execution_id)
        self._after_commit(outcome)
        return ex

    def _start_off_lock(self, workflow: str, input: dict[str, Any] | None,  # noqa: A002
                        params: dict[str, Any] | None, description: str,
                        execution_id: str | None) -> tuple[WorkflowExecution, Outcome]:
        """:meth:`start_execution` for a start whose expressions are slow: decided in a read-only
        transaction, then written (nobody else can change an execution that does not exist yet)."""
        outcome = Outcome()
        with transaction(self.read_factory) as session:
            if execution_id:
                existing = _find(repo.get_execution, session, execution_id)
                if existing is not None:
                    return existing, outcome
            ex, source = self._new_from_source(session, workflow, input, params, description, execution_id)
            pinned = self.catalog.pin(None, source)
            state, commands = self._conduct_start(session, ex, pinned, None)
            children = self._prepare_children(session, ex, commands)
        with transaction(self.session_factory) as session:
            if execution_id:
                existing = _find(repo.get_execution, session, execution_id)
                if existing is not None:
                    return existing, Outcome()
            self.catalog.pin(session, source)
            repo.save(session, ex)
            self.catalog.remember(ex.id, pinned)
            self._persist_prepared(session, state, commands, outcome, children)
        return ex, outcome

    def start_in(self, session: Session, outcome: "Outcome", workflow: str,
                 input: dict[str, Any] | None = None,  # noqa: A002
                 params: dict[str, Any] | None = None, description: str = "",
                 execution_id: str | None = None, lock_slice: float | None = None) -> WorkflowExecution:
        """:meth:`start_execution` inside the caller's transaction (e.g. with the cron trigger that
        fires it). ``outcome`` (from :meth:`new_outcome`) goes to :meth:`after_commit` once the
        caller committed. NotFoundError and InputError are raised before anything is written;
        SliceExpired when ``lock_slice`` is given and the start's expressions ran past it."""
        if execution_id:
            existing = _find(repo.get_execution, session, execution_id)
            if existing is not None:
                return existing
        ex, source = self._new_from_source(session, workflow, input, params, description, execution_id)
        self._start(session, ex, self.catalog.pin(session, source), outcome, lock_slice)
        return ex

    def _new_from_source(self, session: Session, workflow: str, input: dict[str, Any] | None,  # noqa: A002
                         params: dict[str, Any] | None, description: str,
                         execution_id: str | None) -> tuple[WorkflowExecution, Any]:
        """A new execution of the stored ``workflow`` (not written yet) and the source it runs."""
        params = dict(params or {})
        source = self.catalog.find_workflow(session, workflow, params.get("namespace") or "")
        if source is None:
            raise NotFoundError("Workflow", workflow)
        params["env"] = self.catalog.resolve_env(session, params.get("env"))
        ex = self._new_execution(source.spec, input, params, description, execution_id or new_id(), None)
        ex.workflow_id = source.definition_id
        return ex, source

    @staticmethod
    def new_outcome() -> "Outcome":
        """What :meth:`start_in` collects for :meth:`after_commit`."""
        return Outcome()

    def after_commit(self, outcome: "Outcome") -> None:
        """Tell the listeners what a caller's committed transaction produced."""
        self._after_commit(outcome)

    def _new_execution(self, spec: Any, input: dict[str, Any] | None, params: dict[str, Any],  # noqa: A002
                       description: str, execution_id: str, parent: StartWorkflow | None) -> WorkflowExecution:
        params = {"namespace": "", "env": {}, **params}
        if spec.type == "reverse" and params.get("task_name") not in spec.tasks:
            raise InputError(f"Invalid task name [task_name={params.get('task_name')}, workflow={spec.name}]: "
                             "a reverse workflow needs params.task_name naming one of its tasks")
        return WorkflowExecution(
            id=execution_id, workflow_name=spec.name, input=prepare_input(spec, input), params=params,
            description=description, tags=list(spec.tags), created_at=self.clock(),
            workflow_namespace=params.get("namespace", ""),
            task_execution_id=parent.task_execution_id if parent else None,
            parent_id=parent.parent_execution_id if parent else None,
        )

    def _start(self, session: Session, ex: WorkflowExecution, pinned: Pinned, outcome: Outcome,
               lock_slice: float | None = None) -> None:
        """Start ``ex``, which runs ``pinned`` (its snapshot is stored already)."""
        ex.definition_checksum = pinned.checksum
        repo.save(session, ex)
        self.catalog.remember(ex.id, pinned)
        state, commands = self._conduct_start(session, ex, pinned, lock_slice)
        self._persist_sliced(session, state, commands, outcome, lock_slice)

    def _conduct_start(self, session: Session, ex: WorkflowExecution, pinned: Pinned,
                       lock_slice: float | None) -> tuple[ExecutionState, list[Command]]:
        """Decide the start of ``ex`` (see :meth:`_conduct`)."""
        ex.definition_checksum = pinned.checksum
        state = ExecutionState(execution=ex, spec=pinned.spec)
        conductor = Conductor(state, self.catalog.bound(session, pinned), DbStore(session), clock=self.clock,
                              limits=self.limits)
        with expression_step(lock_slice):
            commands = conductor.start()
        return state, commands

    # --- events ---------------------------------------------------------------------------

    def handle(self, events: Iterable[ev.Event]) -> None:
        """Apply events, grouped by execution, several executions per transaction.

        Executions are locked in id order (so two engine threads cannot deadlock), at most
        :data:`EXECUTIONS_PER_TRANSACTION` per transaction: under load most of a transaction's cost is
        the commit, so sharing it is what makes many small workflows fast. If a shared transaction
        fails, each execution is applied in a transaction of its own, so one bad event cannot hold
        the others back.

        No event is dropped. An event that can never be applied (a value the database refuses, an
        engine bug: a *poison* event) fails what it concerns instead, with the error in
        ``state_info`` (:class:`~.recovery.Recovery`), so its execution still ends. Events that met
        a busy or unreachable database were not applied: they are raised in :class:`EngineBusy` for the caller
        to apply again later; every other event of the call was applied.
        """
        groups: dict[str, list[ev.Event]] = {}
        standalone = []
        for event in events:
            if not event.execution_id and isinstance(event, ev.ActionCompleted):
                standalone.append(event)  # an action run on its own (POST /v2/action_executions)
            else:
                groups.setdefault(event.execution_id, []).append(event)
        again: list[ev.Event] = []
        cause: BaseException | None = None
        if standalone:
            try:
                with transaction(self.session_factory) as session:
                    for result in standalone:
                        self._complete_standalone(session, result)
            except Exception as exc:  # noqa: BLE001 - sorted out one by one below
                cause = exc
                again += self.recovery.standalone_one_by_one(standalone)
        items = sorted(groups.items())
        while items:
            items, busy, error = self._apply_chunk(items)
            again += busy
            cause = error or cause
        if again:
            raise EngineBusy(again, cause or RuntimeError("unknown"))

    def _apply_chunk(self, items: list[tuple[str, list[ev.Event]]]
                     ) -> tuple[list[tuple[str, list[ev.Event]]], list[ev.Event], BaseException | None]:
        """Apply the events of up to :data:`EXECUTIONS_PER_TRANSACTION` executions of ``items`` in
        one transaction (each alone if it fails). Returns the items left to apply, the events to
        apply again later, and the error that made the shared transaction fail."""
        chunk = items[:EXECUTIONS_PER_TRANSACTION]
        outcome = Outcome()
        taken = 0
        try:
            with transaction(self.session_factory) as session:
                began = time.monotonic()
                for execution_id, group in chunk:
                    self._apply_known(session, execution_id, group, outcome)
                    taken += 1
                    if time.monotonic() - began > SHARED_TRANSACTION_SECONDS:
                        break  # commit now: the others must not wait behind a slow decision
        except SliceExpired:
            # The decision of chunk[taken] evaluates slow expressions: everything rolled back. It
            # is made off the lock now; the executions before it go again in the next transaction.
            execution_id, group = chunk[taken]
            return items[:taken] + items[taken + 1:], self._apply_guarded(execution_id, group, off_lock=True), None
        except Exception as exc:  # noqa: BLE001 - isolate the failing execution, below
            if len(chunk) > 1:
                LOG.warning("engine: a batch of %d executions failed (%s); applying them one by one",
                            len(chunk), exc)
            again: list[ev.Event] = []
            for execution_id, group in chunk:
                again += self._apply_guarded(execution_id, group, None if len(chunk) > 1 else exc)
            return items[len(chunk):], again, exc
        self._after_commit(outcome)
        return items[taken:], [], None

    def _apply_known(self, session: Session, execution_id: str, events: list[ev.Event], outcome: Outcome) -> None:
        try:  # an unknown execution fails at its lock, before anything was written
            self._apply(session, execution_id, events, outcome, self.lock_slice)
        except NotFoundError:
            LOG.warning("events for unknown execution %s dropped: %s", execution_id, events)

    def _apply_guarded(self, execution_id: str, events: list[ev.Event],
                       failed: BaseException | None = None, off_lock: bool = False) -> list[ev.Event]:
        """Apply one execution's events alone (``failed``: the error they already met, alone;
        ``off_lock``: their decision is known to be slow). Returns the events to apply again later
        (the database was busy); a poison event fails what it concerns instead."""
        if failed is None:
            try:
                if off_lock:
                    self._apply_off_lock(execution_id, events)
                else:
                    self.apply(execution_id, events)
                return []
            except NotFoundError:
                LOG.warning("events for unknown execution %s dropped: %s", execution_id, events)
                return []
            except Exception as exc:  # noqa: BLE001 - sorted below
                failed = exc
        if is_transient(failed):
            LOG.warning("engine: the database is busy or unreachable for execution %s (%s); its %d event(s) "
                        "will be applied again", execution_id, failed, len(events))
            return events
        return self.recovery.poisoned(execution_id, events, failed)

    def apply(self, execution_id: str, events: list[ev.Event]) -> WorkflowExecution:
        """Apply events to one execution in one transaction; returns the execution after them."""
        try:
            return self._apply_locked(execution_id, events, self.lock_slice)
        except SliceExpired:
            return self._apply_off_lock(execution_id, events)

    def _apply_locked(self, execution_id: str, events: list[ev.Event], lock_slice: float | None) -> WorkflowExecution:
        outcome = Outcome()
        with transaction(self.session_factory) as session:
            ex = self._apply(session, execution_id, events, outcome, lock_slice)
        self._after_commit(outcome)
        return ex

    def _apply_off_lock(self, execution_id: str, events: list[ev.Event]) -> WorkflowExecution:
        """:meth:`apply` for events whose decision evaluates slow expressions (see :meth:`_off_lock`)."""
        done = self._off_lock(execution_id, events)
        if done is not None:
            return done  # type: ignore[no-any-return]
        return self._apply_locked(execution_id, events, None)

    def _off_lock(self, execution_id: str, events: list[ev.Event],
                  prepare: Callable[[Session, WorkflowExecution], Iterable[ActionExecution]] | None = None,
                  lock_first: Callable[[Session], None] | None = None,
                  finish: Callable[[Session, ExecutionState], Any] | None = None) -> Any:
        """Decide ``events`` without holding any lock, then write the decision under the lock if
        the execution did not change meanwhile: a decision whose expressions are slow (up to the
        step's whole budget) then holds no lock that other work waits for.

        The decision is made on the execution as read in a read-only transaction (SQLite: beside
        the writer), with its version (:func:`~levante.db.repository.versioned_execution`). The
        write takes the lock; if another transaction took it meanwhile, the decision is dropped
        and made again, up to :data:`OFF_LOCK_ATTEMPTS` times. Returns what ``finish(session,
        state)`` returns in the write transaction (by default the execution), or None when every
        attempt met a change (the caller decides under the lock then).

        ``prepare(session, execution)`` checks the snapshot (raising to refuse the request) and
        returns the action executions it read; ``lock_first(session)`` takes other locks before
        the execution's (a cancel's tree).
        """
        for _ in range(OFF_LOCK_ATTEMPTS):
            with transaction(self.read_factory) as session:
                ex, version = repo.versioned_execution(session, execution_id)
                known = prepare(session, ex) if prepare is not None else ()
                state = self._load(session, execution_id, events, execution=ex, actions=known)
                commands = self._conduct(session, state, events, None)
                children = self._prepare_children(session, state.execution, commands)
            outcome = Outcome()
            try:
                with transaction(self.session_factory) as session:
                    if lock_first is not None:
                        lock_first(session)
                    if repo.lock_if_unchanged(session, execution_id, version) is None:
                        raise _Changed
                    self._persist_prepared(session, state, commands, outcome, children)
                    answer = finish(session, state) if finish is not None else state.execution
            except _Changed:
                LOG.debug("execution %s changed while a decision was made off its lock; deciding again",
                          execution_id)
                continue
            self._after_commit(outcome)
            return answer
        LOG.info("execution %s kept changing while decisions were made off its lock; deciding under it",
                 execution_id)
        return None

    def _apply(self, session: Session, execution_id: str, events: list[ev.Event],
               outcome: Outcome, lock_slice: float | None) -> WorkflowExecution:
        state = self._load(session, execution_id, events)
        self._decide(session, state, events, outcome, lock_slice)
        return state.execution

    def _load(self, session: Session, execution_id: str, events: list[ev.Event],
              execution: WorkflowExecution | None = None, actions: Iterable[ActionExecution] = ()) -> ExecutionState:
        """Lock the execution and load what deciding ``events`` needs: the execution (locked by
        the same statement that reads it), its spec, its tasks and the actions the events name.
        ``execution`` and ``actions``: already read under the execution's lock (not read again)."""
        ex = execution or repo.get_execution(session, execution_id, lock=True)
        spec = self.catalog.spec_of(session, ex)
        state = ExecutionState(execution=ex, spec=spec, tasks=repo.tasks_of(session, execution_id))
        for known in actions:
            state.actions[known.id] = known
        wanted = [e.action_execution_id for e in events
                  if isinstance(e, ev.ActionCompleted) and e.action_execution_id not in state.actions]
        for found in repo.action_executions_by_id(session, wanted) if wanted else ():
            state.actions[found.id] = found
        return state

    def _decide(self, session: Session, state: ExecutionState, events: list[ev.Event], outcome: Outcome,
                lock_slice: float | None) -> None:
        """Run the events through the conductor and write what it decided (see :meth:`_conduct`)."""
        self._persist_sliced(session, state, self._conduct(session, state, events, lock_slice), outcome, lock_slice)

    def _persist_sliced(self, session: Session, state: ExecutionState, commands: list[Command], outcome: Outcome,
                        lock_slice: float | None) -> None:
        """:meth:`_persist`; the sub-executions it starts decide their start within ``lock_slice``
        too (SliceExpired past it)."""
        previous, self._children.slice = getattr(self._children, "slice", None), lock_slice
        try:
            self._persist(session, state, commands, outcome)
        finally:
            self._children.slice = previous

    def _persist_prepared(self, session: Session, state: ExecutionState, commands: list[Command], outcome: Outcome,
                          children: dict[str, _Child]) -> None:
        """:meth:`_persist` for a decision made off the lock, with the starts of the sub-executions
        it starts (at any depth) decided already (:meth:`_prepare_children`)."""
        previous, self._children.prepared = getattr(self._children, "prepared", None), children
        try:
            self._persist(session, state, commands, outcome)
        finally:
            self._children.prepared = previous

    def _prepare_children(self, session: Session, parent: WorkflowExecution,
                          commands: list[Command]) -> dict[str, _Child]:
        """Decide, in a read-only transaction, the starts of the sub-executions ``commands`` start,
        and of those their starts start, and so on; by execution id. A child that cannot start (an
        unknown workflow, a wrong input) is left out: writing the step fails it as usual."""
        prepared: dict[str, _Child] = {}
        queue = [(c, parent) for c in commands if isinstance(c, StartWorkflow)]
        while queue:
            command, owner = queue.pop(0)
            pinned = self.catalog.child_source(session, self.catalog.pinned(session, owner), command.workflow_name,
                                               command.namespace, store=False)
            if pinned is None:
                continue
            try:
                ex = self._new_execution(pinned.spec, command.input, command.params, "", command.execution_id,
                                         command)
            except (InputError, NotFoundError):
                continue
            ex.root_execution_id = owner.root_execution_id or owner.id
            ex.workflow_id = None
            ex.runtime_context["depth"] = command.depth
            self.catalog.remember(ex.id, pinned)
            state, started = self._conduct_start(session, ex, pinned, None)
            prepared[ex.id] = _Child(ex, pinned.checksum, state, started)
            queue += [(c, ex) for c in started if isinstance(c, StartWorkflow)]
        return prepared

    def _conduct(self, session: Session, state: ExecutionState, events: list[ev.Event],
                 lock_slice: float | None) -> list[Command]:
        """Run the events through the conductor; returns its commands (``state`` holds the changes).

        Raises:
            SliceExpired: its expressions ran past ``lock_slice`` seconds (a decision made under
                the lock: it is made again off the lock).
        """
        pinned = self.catalog.pinned(session, state.execution)
        conductor = Conductor(state, self.catalog.bound(session, pinned), DbStore(session), clock=self.clock,
                              limits=self.limits)
        commands: list[Command] = []
        with expression_step(lock_slice):
            for event in events:
                conductor.commands = []
                commands += conductor.handle(event)
        return commands

    def _persist(self, session: Session, state: ExecutionState, commands: list[Command], outcome: Outcome) -> None:
        records = list(state.changed.values())
        new_actions = [r for r in records if isinstance(r, ActionExecution) and r.id in state.new_actions]
        others = [r for r in records if not (isinstance(r, ActionExecution) and r.id in state.new_actions)]
        repo.save_all(session, others)
        runs = [c for c in commands if isinstance(c, RunAction)]
        runs, token_hashes = _with_callback_tokens(runs, new_actions)
        repo.insert_action_executions(session, new_actions, token_hashes)
        if state.history:
            repo.append_events(session, state.execution.id, state.history)
        if runs:
            messages = [(executor_topic(c.target, check=False), c.to_dict()) for c in runs]
            ids = repo.enqueue_many(session, messages)
            outcome.outbox.extend((i, topic, payload) for i, (topic, payload) in zip(ids, messages, strict=True))
        for command in commands:
            if not isinstance(command, RunAction):
                self._carry_out(session, command, outcome, state.execution)
        if self.before_commit is not None:
            self.before_commit(session)

    def _carry_out(self, session: Session, command: Command, outcome: Outcome,
                   deciding: WorkflowExecution | None = None) -> None:
        """Turn a command into rows; ``deciding``: the execution whose decision it is."""
        now = self.clock()
        if isinstance(command, Schedule):
            repo.schedule(session, now + timedelta(seconds=command.delay), command.event.execution_id,
                          command.event.to_dict())
            outcome.wake_scheduler = True
        elif isinstance(command, Dispatch):
            repo.schedule(session, now, command.event.execution_id, command.event.to_dict())
            outcome.wake_scheduler = True
        elif isinstance(command, StartWorkflow):
            self._start_child(session, command, outcome, deciding)
        elif isinstance(command, AbandonWork):
            self._abandon(session, command, outcome)
        elif isinstance(command, Completed):
            outcome.completed.append((command.execution_id, command.state))

    def _start_child(self, session: Session, command: StartWorkflow, outcome: Outcome,
                     parent: WorkflowExecution | None) -> None:
        """Start a sub-workflow in this transaction. A child that starts children of its own queues
        them here instead of recursing, so a deep tree (up to the depth limit) needs no deep stack."""
        pending: list[tuple[StartWorkflow, WorkflowExecution | None]] | None = \
            getattr(self._children, "pending", None)
        if pending is not None:
            pending.append((command, parent))
            return
        self._children.pending = pending = [(command, parent)]
        try:
            while pending:
                self._start_one_child(session, *pending.pop(0), outcome)
        finally:
            self._children.pending = None

    def _start_one_child(self, session: Session, command: StartWorkflow, parent: WorkflowExecution | None,
                         outcome: Outcome) -> None:
        """Start a sub-execution: a workflow of the parent's own workbook runs from the parent's
        snapshot, any other from the snapshot of its definition as stored now."""
        if parent is None or parent.id != command.parent_execution_id:
            parent = repo.get_execution(session, command.parent_execution_id)
        pinned = self.catalog.child_source(session, self.catalog.pinned(session, parent),
                                           command.workflow_name, command.namespace)
        try:
            if pinned is None:
                raise NotFoundError("Workflow", command.workflow_name)
            ex = self._new_execution(pinned.spec, command.input, command.params, "", command.execution_id, command)
        except (InputError, NotFoundError) as exc:
            failure = ev.SubworkflowCompleted(command.parent_execution_id, command.task_execution_id,
                                              command.execution_id, "ERROR", {"result": str(exc)}, str(exc))
            self._carry_out(session, Dispatch(failure), outcome)
            return
        ex.root_execution_id = parent.root_execution_id or parent.id
        root_state = parent.state if ex.root_execution_id == parent.id else \
            self._state_of(session, ex.root_execution_id, outcome)
        if State.CANCELLED in (parent.state, root_state):
            # Its tree is being cancelled (by this transaction or one that committed meanwhile):
            # nothing may start under it.
            LOG.info("sub-workflow %s of execution %s not started: execution %s is cancelled", command.workflow_name,
                     parent.id, parent.id if parent.state == State.CANCELLED else ex.root_execution_id)
            return
        prepared = (getattr(self._children, "prepared", None) or {}).get(ex.id)
        if prepared is not None and prepared.checksum == pinned.checksum:
            # Its start was decided off the lock (against the same definition): write it.
            repo.save(session, prepared.ex)
            self.catalog.remember(ex.id, pinned)
            self._persist(session, prepared.state, prepared.commands, outcome)
            return
        ex.workflow_id = None
        ex.runtime_context["depth"] = command.depth
        self._start(session, ex, pinned, outcome, getattr(self._children, "slice", None))

    @staticmethod
    def _state_of(session: Session, execution_id: str, outcome: Outcome) -> State | None:
        if execution_id not in outcome.states:
            outcome.states[execution_id] = repo.execution_state(session, execution_id)
        return outcome.states[execution_id]

    def _abandon(self, session: Session, command: AbandonWork, outcome: Outcome) -> None:
        """End, in bulk, what still runs under an execution that was cancelled (or forced to an
        end): every unfinished sub-execution at any depth, their tasks, and the RUNNING/PAUSED
        action executions of all of them and of the execution itself; their unsent action
        requests are dropped. A few UPDATE statements per 500 executions, whatever the number of
        tasks and actions.

        On PostgreSQL a sub-execution may be locked by a transaction applying an event to it,
        which may start new sub-executions below it: the UPDATE waits for it, and the tree is
        read again until a read finds nothing unfinished, so that nothing started meanwhile is
        missed. Once this transaction holds the rows of the whole tree, nothing new can start
        under it (starting a sub-execution needs its parent's lock), and whatever waits for one
        of them finds it CANCELLED.
        """
        now = self.clock()
        info = command.info
        ended: list[str] = []
        history: list[tuple[str, str, dict[str, Any]]] = []
        for _ in range(_ABANDON_ROUNDS):
            open_ = [(i, s) for i, s in repo.executions_below(session, command.execution_id) if s not in _DONE]
            if not open_:
                break
            previous = dict(open_)
            changed = repo.cancel_executions(session, list(previous), command.message or info, now)
            ended += changed
            history += [(i, "workflow_state", {"state": "CANCELLED", "previous": str(previous[i]),
                                               "info": command.message or info}) for i in changed]
            if len(changed) == len(open_) and is_sqlite(session):
                break  # one writer at a time: nothing can have started meanwhile
        else:
            LOG.warning("cancel of %s: sub-executions were still being started after %d rounds",
                        command.execution_id, _ABANDON_ROUNDS)
        repo.cancel_tasks_of(session, ended, info, now)
        everything = [command.execution_id, *ended]
        outcome.cancelled_actions += repo.cancel_actions_of(session, everything, info, now)
        repo.drop_unsent_for(session, everything, now)
        repo.append_entries(session, history)
        outcome.completed += [(i, str(State.CANCELLED)) for i in ended]

    def _after_commit(self, outcome: Outcome) -> None:
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
        applying: list[ev.ActionCompleted] = []
        try:
            return self._complete_action(action_execution_id, state, output, token, applying)
        except LevanteError:
            raise
        except Exception as exc:
            if not applying or is_transient(exc):
                raise
            # A result the engine can never apply (a bug, a value the database refuses): the third
            # party would retry for ever while the task stays RUNNING. Fail the task instead.
            self.recovery.fail_event(applying[0].execution_id, applying[0], exc)
            raise EngineFailure(f"The engine could not apply this result ({type(exc).__name__}: {exc}); "
                                f"action execution {action_execution_id} was failed with that error.") from exc

    def _complete_action(self, action_execution_id: str, state: str, output: Any,
                         token: str | None, applying: list[ev.ActionCompleted]) -> ActionDetail:
        try:
            return self._complete_locked(action_execution_id, state, output, token, applying,
                                         self.lock_slice)
        except SliceExpired:
            pass
        with transaction(self.read_factory) as session:
            ex = repo.execution_of_action(session, action_execution_id)
        if ex is not None:
            event = ev.ActionCompleted(ex.id, action_execution_id, state, output)

            def prepare(session: Session, _ex: WorkflowExecution) -> list[ActionExecution]:
                action_ex, extras = repo.get_action_execution_with_extras(session, action_execution_id)
                if token is not None and not token_matches(token, extras.token_hash):
                    raise CallbackTokenError(action_execution_id)
                _refuse_done(action_ex)
                return [action_ex]

            def finish(session: Session, loaded: ExecutionState) -> ActionDetail:
                extras = repo.get_action_execution_with_extras(session, action_execution_id)[1]
                return _detail(loaded.actions[action_execution_id], loaded, extras.heartbeat)

            applying[:] = [event]
            answer = self._off_lock(ex.id, [event], prepare=prepare, finish=finish)
            if answer is not None:
                return answer
        return self._complete_locked(action_execution_id, state, output, token, applying, None)

    def _complete_locked(self, action_execution_id: str, state: str, output: Any, token: str | None,
                         applying: list[ev.ActionCompleted], lock_slice: float | None) -> ActionDetail:
        applying.clear()
        outcome = Outcome()
        loaded: ExecutionState | None = None
        with transaction(self.session_factory) as session:
            # The execution is locked first (found by the action's id), so the action read next is
            # as it stands under the lock. An action run on its own has no execution: its own row is
            # locked instead, so of concurrent completions exactly one wins and the others get 409.
            ex = repo.execution_of_action(session, action_execution_id, lock=True)
            action_ex, extras = repo.get_action_execution_with_extras(session, action_execution_id, lock=ex is None)
            if token is not None and not token_matches(token, extras.token_hash):
                raise CallbackTokenError(action_execution_id)
            if action_ex.workflow_execution_id:
                if ex is None:
                    raise NotFoundError("Workflow execution", action_ex.workflow_execution_id)
                event = ev.ActionCompleted(ex.id, action_execution_id, state, output)
                _refuse_done(action_ex)
                applying.append(event)
                loaded = self._load(session, ex.id, [event], execution=ex, actions=[action_ex])
                self._decide(session, loaded, [event], outcome, lock_slice)
                action_ex = loaded.actions.get(action_execution_id, action_ex)
            else:
                _refuse_done(action_ex)
                action_ex.state = State(state)
                if state not in ("PAUSED", "RUNNING"):
                    size = json_size(output, self.limits.result_size)
                    if size > self.limits.result_size:
                        action_ex.state = State.ERROR
                        output = result_too_large("the action's result", size, self.limits.result_size)
                    action_ex.output = {"result": output}
                    action_ex.accepted = True
                    action_ex.updated_at = self.clock()
                repo.save(session, action_ex)
            answer = _detail(action_ex, loaded, extras.heartbeat)
        self._after_commit(outcome)
        return answer

    def run_action(self, name: str, action_input: dict[str, Any] | None = None,
                   description: str = "", target: str | None = None, sync_only: bool = False) -> ActionExecution:
        """Run a registered action on its own, outside any workflow (``POST /v2/action_executions``),
        on the executors of ``target`` (the default group when None).

        Raises:
            NotFoundError: no action has that name. InputError: the input does not fit it, or
                ``sync_only`` and the action is asynchronous (it cannot be waited for).
        """
        action_input = dict(action_input or {})
        system = self.catalog.system_action(name)
        if system is None:
            raise NotFoundError("Action", name)
        problem = system.input_error(action_input)
        if problem:
            raise InputError(problem)
        if sync_only and not system.is_sync:
            raise InputError(f"Action {name} is asynchronous: it does not support synchronous execution "
                             "(run it without run_sync and complete it with its callback).")
        outcome = Outcome()
        action_ex = ActionExecution(id=new_id(), name=name, state=State.RUNNING, input=action_input,
                                    is_sync=system.is_sync, description=description, created_at=self.clock(),
                                    runtime_context={"index": 0})
        run = RunAction(action_execution_id=action_ex.id, action_name=system.name, input=action_input,
                        target=target or None)
        topic = executor_topic(target, check=False)
        with transaction(self.session_factory) as session:
            runs, hashes = _with_callback_tokens([run], [action_ex])
            repo.insert_action_executions(session, [action_ex], token_hashes=hashes)
            payload = runs[0].to_dict()
            [row_id] = repo.enqueue_many(session, [(topic, payload)])
            outcome.outbox.append((row_id, topic, payload))
        self._after_commit(outcome)
        return action_ex

    def _complete_standalone(self, session: Session, event: ev.ActionCompleted) -> None:
        action_ex = _find(_locked_action, session, event.action_execution_id)
        if action_ex is None or action_ex.state in _DONE or action_ex.task_execution_id:
            return  # unknown or already completed: a duplicate changes nothing
        action_ex.state = State(event.state)
        action_ex.output = {"result": event.result}
        action_ex.accepted = True
        action_ex.updated_at = self.clock()
        repo.save(session, action_ex)

    def request(self, event: ev.Event) -> WorkflowExecution:
        """Apply a lifecycle request (pause, resume, cancel, rerun, skip, stop) now.

        Raises:
            NotFoundError: unknown execution. ConflictError: a cancel or a pause of an execution
                that has ended (:func:`~levante.engine.machine.refuse_request`).
        """
        lock_slice: float | None = self.lock_slice
        for attempt in range(REQUEST_ATTEMPTS):
            outcome = Outcome()
            try:
                with transaction(self.session_factory) as session:
                    if self._locks_tree(event, session):
                        self._lock_tree(session, event.execution_id)
                    ex = repo.get_execution(session, event.execution_id, lock=True)
                    refuse_request(ex, event)
                    state = self._load(session, ex.id, [event], execution=ex)
                    self._decide(session, state, [event], outcome, lock_slice)
            except SliceExpired:
                done = self._request_off_lock(event)
                if done is not None:
                    return done  # type: ignore[no-any-return]
                lock_slice = None
                continue
            except DBAPIError as exc:
                if not _is_deadlock(exc) or attempt == REQUEST_ATTEMPTS - 1:
                    raise
                LOG.warning("request %s on %s lost a deadlock; trying again", event.kind, event.execution_id)
                continue
            self._after_commit(outcome)
            return state.execution
        raise AssertionError("unreachable")

    def _request_off_lock(self, event: ev.Event) -> WorkflowExecution | None:
        """:meth:`request` for a decision that evaluates slow expressions (see :meth:`_off_lock`)."""
        def prepare(_session: Session, ex: WorkflowExecution) -> list[ActionExecution]:
            refuse_request(ex, event)
            return []

        def lock_first(session: Session) -> None:
            if self._locks_tree(event, session):
                self._lock_tree(session, event.execution_id)

        return self._off_lock(event.execution_id, [event], prepare=prepare,  # type: ignore[no-any-return]
                              lock_first=lock_first)

    @staticmethod
    def _locks_tree(event: ev.Event, session: Session) -> bool:
        return isinstance(event, (ev.CancelRequested, ev.StopRequested)) and not is_sqlite(session)

    @staticmethod
    def _lock_tree(session: Session, execution_id: str) -> None:
        """Lock an execution and every unfinished one below it, in id order (PostgreSQL), before
        ending them: two cancels in one tree, or a cancel and an engine batch (which lock in id
        order too), then cannot deadlock. What starts meanwhile is caught by :meth:`_abandon`."""
        below = [i for i, s in repo.executions_below(session, execution_id) if s not in _DONE]
        repo.lock_executions(session, [execution_id, *below])

    def update_execution(self, execution_id: str, description: str | None = None,
                         env: dict[str, Any] | None = None) -> WorkflowExecution:
        """Change an execution's description, and/or merge ``env`` into its ``params.env`` (only
        while it is IDLE, PAUSED or ERROR, as Mistral allows: a running execution may be reading it).

        Raises:
            NotFoundError: unknown id. ConflictError: ``env`` for an execution in another state.
        """
        with transaction(self.session_factory) as session:
            ex = repo.get_execution(session, execution_id, lock=True)
            if env is not None:
                if ex.state not in (State.IDLE, State.PAUSED, State.ERROR):
                    raise ConflictError("Updating env to workflow execution is only permitted if it is "
                                        f"in IDLE, PAUSED, or ERROR state; execution {execution_id} "
                                        f"is {ex.state}.")
                ex.params = {**ex.params, "env": deep_merge(dict(ex.params.get("env") or {}), env)}
            if description is not None:
                ex.description = description
            ex.updated_at = self.clock()
            repo.save(session, ex)
        return ex

    # --- waiting --------------------------------------------------------------------------

    def wait(self, execution_id: str, timeout: float | None = None) -> WorkflowExecution:
        """Block until the execution is in a terminal state (or the timeout passes); return it."""
        waiter = threading.Event()
        with self._waiters_lock:
            self._waiters[execution_id].append(waiter)
        ex = self.get_execution(execution_id)
        if ex.state not in _DONE:
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
        """Read an execution."""
        with transaction(self.session_factory) as session:
            return repo.get_execution(session, execution_id)
