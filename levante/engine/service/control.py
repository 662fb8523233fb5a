"""Lifecycle requests on executions (pause, resume, cancel, stop, rerun, skip), the bulk end of
everything under a cancelled execution, and changes of an execution's description and env."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from levante.db import repository as repo
from levante.db.session import is_sqlite, transaction
from levante.engine import events as ev
from levante.engine.commands import AbandonWork
from levante.engine.context import deep_merge
from levante.engine.lifecycle import refuse_request
from levante.engine.records import ActionExecution, WorkflowExecution
from levante.engine.service.parts import Outcome
from levante.exceptions import ConflictError
from levante.states import COMPLETED, State
from levante.workflows.expressions.limits import SliceExpired

if TYPE_CHECKING:
    from levante.engine.service.core import EngineService

LOG = logging.getLogger(__name__)
#: Times a cancel (or another request) is tried again after PostgreSQL chose it as a deadlock's
#: victim (cancelling a tree waits for the locks of every execution in it).
REQUEST_ATTEMPTS = 3
#: Most rounds of looking for sub-executions started while a tree was being cancelled.
_ABANDON_ROUNDS = 100


def _is_deadlock(exc: DBAPIError) -> bool:
    return getattr(exc.orig, "sqlstate", None) == "40P01" or getattr(exc.orig, "pgcode", None) == "40P01"


def _locks_tree(event: ev.Event, session: Session) -> bool:
    return isinstance(event, (ev.CancelRequested, ev.StopRequested)) and not is_sqlite(session)


def _lock_tree(session: Session, execution_id: str) -> None:
    """Lock an execution and every unfinished one below it, in id order (PostgreSQL), before
    ending them: two cancels in one tree, or a cancel and an engine batch (which lock in id
    order too), then cannot deadlock. What starts meanwhile is caught by :meth:`Control.abandon`."""
    below = [i for i, s in repo.executions_below(session, execution_id) if s not in COMPLETED]
    repo.lock_executions(session, [execution_id, *below])


class Control:
    """The lifecycle requests of one :class:`EngineService`."""

    def __init__(self, service: "EngineService") -> None:
        self.service = service

    def request(self, event: ev.Event) -> WorkflowExecution:
        """See :meth:`EngineService.request`."""
        service = self.service
        lock_slice: float | None = service.lock_slice
        for attempt in range(REQUEST_ATTEMPTS):
            outcome = Outcome()
            try:
                with transaction(service.session_factory) as session:
                    if _locks_tree(event, session):
                        _lock_tree(session, event.execution_id)
                    ex = repo.get_execution(session, event.execution_id, lock=True)
                    refuse_request(ex, event)
                    state = service.steps.load(session, ex.id, [event], execution=ex)
                    service.steps.decide(session, state, [event], outcome, lock_slice)
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
            service.after_commit(outcome)
            return state.execution
        raise AssertionError("unreachable")

    def _request_off_lock(self, event: ev.Event) -> WorkflowExecution | None:
        """:meth:`request` for a decision that evaluates slow expressions (see
        :meth:`.applying.Applying.off_lock`)."""
        def prepare(_session: Session, ex: WorkflowExecution) -> list[ActionExecution]:
            refuse_request(ex, event)
            return []

        def lock_first(session: Session) -> None:
            if _locks_tree(event, session):
                _lock_tree(session, event.execution_id)

        return self.service.applying.off_lock(  # type: ignore[no-any-return]
            event.execution_id, [event], prepare=prepare, lock_first=lock_first)

    def abandon(self, session: Session, command: AbandonWork, outcome: Outcome) -> None:
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
        now = self.service.clock()
        info = command.info
        ended: list[str] = []
        history: list[tuple[str, str, dict[str, Any]]] = []
        for _ in range(_ABANDON_ROUNDS):
            open_ = [(i, s) for i, s in repo.executions_below(session, command.execution_id) if s not in COMPLETED]
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

    def update_execution(self, execution_id: str, description: str | None = None,
                         env: dict[str, Any] | None = None) -> WorkflowExecution:
        """See :meth:`EngineService.update_execution`."""
        with transaction(self.service.session_factory) as session:
            ex = repo.get_execution(session, execution_id, lock=True)
            if env is not None:
                if ex.state not in (State.IDLE, State.PAUSED, State.ERROR):
                    raise ConflictError("Updating env to workflow execution is only permitted if it is "
                                        f"in IDLE, PAUSED, or ERROR state; execution {execution_id} "
                                        f"is {ex.state}.")
                ex.params = {**ex.params, "env": deep_merge(dict(ex.params.get("env") or {}), env)}
            if description is not None:
                ex.description = description
            ex.updated_at = self.service.clock()
            repo.save(session, ex)
        return ex
