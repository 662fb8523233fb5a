"""Requests of the API on executions, tasks and action executions that are not results: state
changes (checked, then handed to the engine as events), deletions and heartbeats.

Each method is the whole of one request: its checks and its transaction(s).
"""

from __future__ import annotations

from typing import Any

from levante.db import repository as repo
from levante.engine import events as ev
from levante.engine.service.callbacks import completed_conflict
from levante.engine.service.core import EngineService
from levante.engine.service.credentials import token_matches
from levante.engine.service.parts import Transactions
from levante.exceptions import CallbackTokenError, ConflictError, ForbiddenError, InputError
from levante.states import COMPLETED, State

#: States a PUT of an execution may ask for.
TARGET_STATES = ("PAUSED", "RUNNING", "SUCCESS", "ERROR", "CANCELLED")


class Operations:
    """Changes the API asks for, beside the results the engine applies."""

    def __init__(self, transactions: Transactions, engine: EngineService) -> None:
        self._tx = transactions
        self._engine = engine

    # --- executions ---------------------------------------------------------------------------

    def change_state(self, execution_id: str, state: str, info: str | None = None,
                     env: dict[str, Any] | None = None) -> None:
        """Pause, resume (with a new ``env``), cancel or stop (SUCCESS/ERROR) an execution."""
        if state not in TARGET_STATES:
            raise InputError(f"Cannot change state to {state}. "
                             f"Allowed states are: '{', '.join(TARGET_STATES)}'.")
        with self._tx.read() as session:
            repo.get_execution(session, execution_id)  # 404 before anything else
        event: ev.Event
        if state == "PAUSED":
            event = ev.PauseRequested(execution_id)
        elif state == "RUNNING":
            event = ev.ResumeRequested(execution_id, env=env)
        elif state == "CANCELLED":
            event = ev.CancelRequested(execution_id, message=info)
        else:
            event = ev.StopRequested(execution_id, state, message=info)
        self._engine.request(event)

    def delete_execution(self, execution_id: str, force: bool = False) -> None:
        """Delete the execution with its tasks, actions and sub-executions (only a completed one
        unless ``force``)."""
        with self._tx.write() as session:
            ex = repo.get_execution(session, execution_id)
            if ex.state not in COMPLETED and not force:
                raise ForbiddenError(
                    f"Only completed executions can be deleted; execution {execution_id} is {ex.state}. "
                    "Use force=true to delete it anyway.")
            repo.delete_execution(session, execution_id)

    # --- tasks --------------------------------------------------------------------------------

    def update_task(self, task_id: str, body: dict[str, Any], env: dict[str, Any] | None = None) -> None:
        """Rerun (``state`` RUNNING, ``reset``) or skip (``state`` SKIPPED) a task in ERROR, after
        Mistral's checks of the body (``name`` and ``workflow_name`` must match when given)."""
        with self._tx.read() as session:
            task = repo.get_task(session, task_id)
            ex = repo.get_execution(session, task.workflow_execution_id)
            for key, actual in (("name", task.name), ("workflow_name", task.workflow_name)):
                if body.get(key) is not None and body[key] != actual:
                    raise InputError(f"Task {key} does not match: given {body[key]!r}, the task's is {actual!r}.")
            if task.state != State.ERROR:
                raise ConflictError("The current task execution must be in ERROR for rerun. "
                                    f"Task {task.name} [id={task.id}] is {task.state}.")
            if body["state"] != "SKIPPED":
                if "reset" not in body or body["reset"] is None:
                    raise InputError("Reset field is mandatory to rerun task.")
                if not isinstance(body["reset"], bool):
                    raise InputError("Reset field must be true or false.")
                if not body["reset"]:
                    task_spec = self._engine.catalog.spec_of(session, ex).tasks.get(task.name)
                    if task_spec is None or not task_spec.with_items:
                        raise InputError("Only with-items task has the option to not reset.")
        if body["state"] == "SKIPPED":
            event: ev.Event = ev.SkipRequested(ex.id, task.id)
        else:
            event = ev.RerunRequested(ex.id, task.id, reset=bool(body["reset"]), env=env)
        self._engine.request(event)

    # --- action executions --------------------------------------------------------------------

    def pause_or_resume_action(self, action_execution_id: str, state: str, token: str | None = None) -> None:
        """An async action set PAUSED pauses its task and workflow; RUNNING resumes them."""
        with self._tx.read() as session:
            action, extras = repo.get_action_execution_with_extras(session, action_execution_id)
        if token is not None and not token_matches(token, extras.token_hash):
            raise CallbackTokenError(action_execution_id)
        if action.is_sync:
            raise InputError(f"Transition to the {state} state is only supported for asynchronous "
                             "action execution.")
        self._engine.complete_action(action_execution_id, state, None, token=token)

    def heartbeat(self, action_execution_id: str, progress: Any = None) -> None:
        """Record ``last_heartbeat`` (now) and ``progress``; ConflictError once the action ended."""
        with self._tx.write() as session:
            action = repo.get_action_execution(session, action_execution_id)
            if action.state in (State.SUCCESS, State.ERROR, State.CANCELLED):
                raise completed_conflict(action)
            repo.record_heartbeat(session, action_execution_id, progress=progress)

    def delete_action_execution(self, action_execution_id: str) -> None:
        """Delete a completed action execution that ran on its own; those of a task go with their
        workflow execution."""
        with self._tx.write() as session:
            action = repo.get_action_execution(session, action_execution_id)
            if action.task_execution_id is not None:
                raise ForbiddenError(
                    f"Only ad-hoc action executions can be deleted; {action_execution_id} belongs to task "
                    f"{action.task_execution_id}: delete its workflow execution instead.")
            if action.state not in COMPLETED:
                raise ForbiddenError(
                    f"Only completed action executions can be deleted; {action_execution_id} is {action.state}.")
            repo.delete_action_execution(session, action_execution_id)
