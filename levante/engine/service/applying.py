"""Applying events to executions: batches of them, several executions per transaction, each
execution alone when a shared transaction fails; and decisions made off the lock when their
expressions are slow (:meth:`Applying.off_lock`)."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any, Callable, Iterable

from sqlalchemy.orm import Session

from levante.db import repository as repo
from levante.db.session import is_transient, transaction
from levante.engine import events as ev
from levante.engine.loaded import ExecutionState
from levante.engine.records import ActionExecution, WorkflowExecution
from levante.engine.service.parts import Outcome
from levante.exceptions import EngineBusy, NotFoundError
from levante.workflows.expressions.limits import SliceExpired

if TYPE_CHECKING:
    from levante.engine.service.core import EngineService

LOG = logging.getLogger(__name__)
#: Most executions one engine transaction applies events to.
EXECUTIONS_PER_TRANSACTION = 32
#: A shared transaction commits early once its decisions took this long (seconds): a decision
#: evaluating slow expressions (up to two expression timeouts) must not make the executions after it
#: in the batch, and every writer waiting for the lock, wait for theirs too.
SHARED_TRANSACTION_SECONDS = 0.5
#: Times a decision made off the lock is made again because its execution changed meanwhile;
#: after that it is made under the lock, with the whole expression budget of a step.
OFF_LOCK_ATTEMPTS = 3


class _Changed(Exception):  # noqa: N818 - control flow: roll the write back, decide again
    """The execution changed between an off-lock decision and its write."""


class Applying:
    """Applies events to the executions of one :class:`EngineService`."""

    def __init__(self, service: "EngineService") -> None:
        self.service = service

    def handle(self, events: Iterable[ev.Event]) -> None:
        """See :meth:`EngineService.handle`."""
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
                with transaction(self.service.session_factory) as session:
                    for result in standalone:
                        self.service.callbacks.complete_standalone(session, result)
            except Exception as exc:  # noqa: BLE001 - sorted out one by one below
                cause = exc
                again += self.service.recovery.standalone_one_by_one(standalone)
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
            with transaction(self.service.session_factory) as session:
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
        self.service.after_commit(outcome)
        return items[taken:], [], None

    def _apply_known(self, session: Session, execution_id: str, events: list[ev.Event], outcome: Outcome) -> None:
        try:  # an unknown execution fails at its lock, before anything was written
            self.service.steps.apply(session, execution_id, events, outcome, self.service.lock_slice)
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
        return self.service.recovery.poisoned(execution_id, events, failed)

    def apply(self, execution_id: str, events: list[ev.Event]) -> WorkflowExecution:
        """See :meth:`EngineService.apply`."""
        try:
            return self._apply_locked(execution_id, events, self.service.lock_slice)
        except SliceExpired:
            return self._apply_off_lock(execution_id, events)

    def _apply_locked(self, execution_id: str, events: list[ev.Event], lock_slice: float | None) -> WorkflowExecution:
        outcome = Outcome()
        with transaction(self.service.session_factory) as session:
            ex = self.service.steps.apply(session, execution_id, events, outcome, lock_slice)
        self.service.after_commit(outcome)
        return ex

    def _apply_off_lock(self, execution_id: str, events: list[ev.Event]) -> WorkflowExecution:
        """:meth:`apply` for events whose decision evaluates slow expressions (see :meth:`off_lock`)."""
        done = self.off_lock(execution_id, events)
        if done is not None:
            return done  # type: ignore[no-any-return]
        return self._apply_locked(execution_id, events, None)

    def off_lock(self, execution_id: str, events: list[ev.Event],
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
        service = self.service
        steps, starts = service.steps, service.starts
        for _ in range(OFF_LOCK_ATTEMPTS):
            with transaction(service.read_factory) as session:
                ex, version = repo.versioned_execution(session, execution_id)
                known = prepare(session, ex) if prepare is not None else ()
                state = steps.load(session, execution_id, events, execution=ex, actions=known)
                commands = steps.conduct(session, state, events, None)
                children = starts.prepare_children(session, state.execution, commands)
            outcome = Outcome()
            try:
                with transaction(service.session_factory) as session:
                    if lock_first is not None:
                        lock_first(session)
                    if repo.lock_if_unchanged(session, execution_id, version) is None:
                        raise _Changed
                    starts.persist_prepared(session, state, commands, outcome, children)
                    answer = finish(session, state) if finish is not None else state.execution
            except _Changed:
                LOG.debug("execution %s changed while a decision was made off its lock; deciding again",
                          execution_id)
                continue
            service.after_commit(outcome)
            return answer
        LOG.info("execution %s kept changing while decisions were made off its lock; deciding under it",
                 execution_id)
        return None
