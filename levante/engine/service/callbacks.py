"""Results of actions sent from outside (a callback, the CLI, the API), and actions run on their
own, outside any workflow (``POST /v2/action_executions``): started here, and completed here
alone, whether their result comes by a callback or from an executor (:meth:`Callbacks.record_standalone`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from levante.db import repository as repo
from levante.db.session import is_transient, transaction
from levante.engine import events as ev
from levante.engine.commands import RunAction
from levante.engine.limits import json_size, result_too_large
from levante.engine.loaded import ExecutionState
from levante.engine.records import ActionExecution, WorkflowExecution, new_id
from levante.engine.service.credentials import _with_callback_tokens, token_matches
from levante.engine.service.parts import ActionDetail, Outcome
from levante.engine.service.starts import find
from levante.exceptions import (
    CallbackTokenError,
    ConflictError,
    EngineFailure,
    InputError,
    LevanteError,
    NotFoundError,
)
from levante.messaging.topics import executor_topic
from levante.states import COMPLETED, State
from levante.workflows.expressions.limits import SliceExpired

if TYPE_CHECKING:
    from levante.engine.service.core import EngineService


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
    if action_ex.state in COMPLETED:
        raise completed_conflict(action_ex)


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


class Callbacks:
    """Action results from outside and standalone actions, for one :class:`EngineService`."""

    def __init__(self, service: "EngineService") -> None:
        self.service = service

    # --- results from outside -----------------------------------------------------------------

    def complete_action(self, action_execution_id: str, state: str, output: Any,
                        token: str | None = None) -> ActionDetail:
        """See :meth:`EngineService.complete_action`."""
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
            self.service.recovery.fail_event(applying[0].execution_id, applying[0], exc)
            raise EngineFailure(f"The engine could not apply this result ({type(exc).__name__}: {exc}); "
                                f"action execution {action_execution_id} was failed with that error.") from exc

    def _complete_action(self, action_execution_id: str, state: str, output: Any,
                         token: str | None, applying: list[ev.ActionCompleted]) -> ActionDetail:
        try:
            return self._complete_locked(action_execution_id, state, output, token, applying,
                                         self.service.lock_slice)
        except SliceExpired:
            pass
        with transaction(self.service.read_factory) as session:
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
            answer = self.service.applying.off_lock(ex.id, [event], prepare=prepare, finish=finish)
            if answer is not None:
                return answer  # type: ignore[no-any-return]
        return self._complete_locked(action_execution_id, state, output, token, applying, None)

    def _complete_locked(self, action_execution_id: str, state: str, output: Any, token: str | None,
                         applying: list[ev.ActionCompleted], lock_slice: float | None) -> ActionDetail:
        service = self.service
        applying.clear()
        outcome = Outcome()
        loaded: ExecutionState | None = None
        with transaction(service.session_factory) as session:
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
                loaded = service.steps.load(session, ex.id, [event], execution=ex, actions=[action_ex])
                service.steps.decide(session, loaded, [event], outcome, lock_slice)
                action_ex = loaded.actions.get(action_execution_id, action_ex)
            else:
                _refuse_done(action_ex)
                self.record_standalone(session, action_ex, state, output)
            answer = _detail(action_ex, loaded, extras.heartbeat)
        service.after_commit(outcome)
        return answer

    # --- actions run on their own -------------------------------------------------------------

    def run_action(self, name: str, action_input: dict[str, Any] | None = None,
                   description: str = "", target: str | None = None, sync_only: bool = False) -> ActionExecution:
        """See :meth:`EngineService.run_action`."""
        service = self.service
        action_input = dict(action_input or {})
        system = service.catalog.system_action(name)
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
                                    is_sync=system.is_sync, description=description, created_at=service.clock(),
                                    runtime_context={"index": 0})
        run = RunAction(action_execution_id=action_ex.id, action_name=system.name, input=action_input,
                        target=target or None)
        topic = executor_topic(target, check=False)
        with transaction(service.session_factory) as session:
            runs, hashes = _with_callback_tokens([run], [action_ex])
            repo.insert_action_executions(session, [action_ex], token_hashes=hashes)
            payload = runs[0].to_dict()
            [row_id] = repo.enqueue_many(session, [(topic, payload)])
            outcome.outbox.append((row_id, topic, payload))
        service.after_commit(outcome)
        return action_ex

    def complete_standalone(self, session: Session, event: ev.ActionCompleted) -> None:
        """Record an executor's result of an action run on its own (``event`` has no execution);
        an unknown or ended action is left as it is: a duplicate changes nothing."""
        action_ex = find(_locked_action, session, event.action_execution_id)
        if action_ex is None or action_ex.state in COMPLETED or action_ex.task_execution_id:
            return
        self.record_standalone(session, action_ex, event.state, event.result)

    def record_standalone(self, session: Session, action_ex: ActionExecution, state: str, output: Any) -> None:
        """Write a new state of an action run on its own (read under its row's lock); a final
        result is kept (an ERROR in its place when it is too large) and marks it accepted."""
        action_ex.state = State(state)
        if state not in ("PAUSED", "RUNNING"):
            limit = self.service.limits.result_size
            size = json_size(output, limit)
            if size > limit:
                action_ex.state = State.ERROR
                output = result_too_large("the action's result", size, limit)
            action_ex.output = {"result": output}
            action_ex.accepted = True
            action_ex.updated_at = self.service.clock()
        repo.save(session, action_ex)
