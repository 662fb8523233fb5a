"""Runs one action request and turns the outcome into an engine event.

Shared by every kind of executor (in-process threads, a queue consumer): look the action up, build
it with its input, run it with the context (and, for sync actions, the task's timeout), and map
return values and exceptions to an :class:`~levante.engine.events.ActionCompleted`, or to nothing
for an asynchronous action that is now waiting for its callback.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

from levante.actions.base import ActionContext, Result, run_action
from levante.actions.registry import Registry
from levante.engine.commands import RunAction
from levante.engine.events import ActionCompleted
from levante.engine.limits import DEFAULT_RESULT_SIZE, MAX_RESULT_DEPTH, json_size, nests_deeper, result_too_large
from levante.exceptions import ActionError
from levante.executor.cancellations import Cancellations

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class ActionRequest:
    """What an executor receives: the engine's RunAction plus delivery facts."""

    command: RunAction
    #: The message was delivered before (the previous executor may have died mid-run). A request
    #: re-sent from the outbox after a crash (``command.info["resent"]``) counts as redelivered too.
    redelivered: bool = False


class ActionRunner:
    """Runs action requests with a registry; knows the public URL for callbacks."""

    def __init__(self, registry: Registry, api_base_url: str, max_result_size: int = DEFAULT_RESULT_SIZE,
                 max_http_response_size: int | None = None, cancellations: Cancellations | None = None) -> None:
        self.registry = registry
        self.api_base_url = api_base_url.rstrip("/")
        #: Largest result sent to the engine, in bytes of JSON (0: no limit); a larger one fails
        #: the action instead (the engine checks again when it records a result).
        self.max_result_size = max_result_size
        #: Handed to actions in their context (``std.http`` stops reading past it).
        self.max_http_response_size = max_http_response_size
        #: Action executions cancelled with their workflow: not run, or told to stop.
        self.cancellations = cancellations or Cancellations()

    def callback_url(self, action_execution_id: str) -> str:
        """The full URL a third party PUTs the result of an async action to."""
        return f"{self.api_base_url}/v2/action_executions/{action_execution_id}"

    def run(self, request: ActionRequest) -> ActionCompleted | None:
        """Run one request. Returns the event to send to the engine, or None when an async action
        started and now waits for its callback, or when the action execution was cancelled (the
        engine has recorded it already: a request still queued is not run, and the result of an
        action that was told to stop is not reported)."""
        command = request.command
        if self.cancellations.is_cancelled(command.action_execution_id):
            return None
        if (request.redelivered or command.info.get("resent")) and not command.safe_rerun:
            return self._event(command, "ERROR", (
                "Request to run an action was redelivered, but it cannot be re-run safely: the process running "
                "it died or lost its connection before reporting a result (a task with safe-rerun: true runs "
                "it again instead). The only safe thing to do is fail it "
                f"[action={command.action_name}, action_ex_id={command.action_execution_id}]."))
        try:
            action = self.registry.create(command.action_name, dict(command.input))
        except ActionError as exc:
            return self._event(command, "ERROR", str(exc))
        context = ActionContext(
            action_execution_id=command.action_execution_id,
            task_execution_id=command.task_execution_id,
            workflow_execution_id=command.execution_id,
            workflow_name=command.workflow_name,
            callback_url=self.callback_url(command.action_execution_id),
            callback_token=command.info.get("callback_token"),
            with_items_index=command.info.get("index"),
            redelivered=request.redelivered,
            max_response_size=self.max_http_response_size or None,
        )
        if not self.cancellations.start(command.action_execution_id, action):
            return None
        try:
            result = self._run_with_timeout(action, context, command.timeout)
        finally:
            cancelled = self.cancellations.finish(command.action_execution_id)
        if cancelled:
            return None
        if result is None:
            return self._event(command, "ERROR", f"Timeout after {command.timeout} seconds")
        if not action.is_sync() and result.error is None and not result.cancel:
            return None
        if result.cancel:
            return self._event(command, "CANCELLED", result.data)
        if result.error is not None:
            return self._sized(command, "ERROR", result.error)
        return self._sized(command, "SUCCESS", result.data)

    def run_safely(self, request: ActionRequest) -> ActionCompleted | None:
        """:meth:`run`, with an executor bug turned into an ERROR result: whatever happens, the
        action ends (every kind of executor runs requests through this)."""
        try:
            return self.run(request)
        except Exception as exc:  # noqa: BLE001 - an executor bug must still end the action
            LOG.exception("executor: %s failed", request.command.action_name)
            return self._event(request.command, "ERROR", f"Executor failure: {exc}")

    def _sized(self, command: RunAction, state: str, result: Any) -> ActionCompleted:
        """The event, or an error naming the limit when the result is too large (or too deeply
        nested) to store."""
        what = "the action's result" if state == "SUCCESS" else "the action's error"
        if nests_deeper(result):
            return self._event(command, "ERROR", f"{what} nests arrays and objects deeper than "
                                                 f"{MAX_RESULT_DEPTH} levels: it cannot be stored")
        size = json_size(result, self.max_result_size)
        if size > self.max_result_size:
            return self._event(command, "ERROR", result_too_large(what, size, self.max_result_size))
        return self._event(command, state, result)

    @staticmethod
    def _run_with_timeout(action: Any, context: ActionContext, timeout: float | None) -> Result | None:
        if not timeout:
            return run_action(action, context)
        box: list[Result] = []
        worker = threading.Thread(target=lambda: box.append(run_action(action, context)), daemon=True,
                                  name=f"action-{context.action_execution_id}")
        worker.start()
        worker.join(timeout)
        return box[0] if box else None

    @staticmethod
    def _event(command: RunAction, state: str, result: Any) -> ActionCompleted:
        return ActionCompleted(command.execution_id or "", command.action_execution_id, state, result)
