"""``/v2/action_executions``: action executions; ``PUT`` completes an asynchronous action.

``PUT /v2/action_executions/<id>`` is the callback of asynchronous actions (``std.mistral_http``,
``std.async_noop``): ``{"state": "SUCCESS"|"ERROR"|"CANCELLED", "output": ...}``. Unlike Mistral,
``output`` may be any JSON value (Mistral 23 rejects scalars, so its own documented ``--output 3``
fails); a string is parsed when it holds JSON. ``POST`` to the same URL and the hyphenated path
``/v2/action-executions/<id>`` (which Mistral's documentation shows) do the same.

``PUT /v2/action_executions/<id>/heartbeat`` with ``{"progress": <any JSON>}`` (or no body) notes that
a long asynchronous action is alive: ``last_heartbeat`` and ``progress`` show on the action, and the
progress on its task. Both callbacks accept the action's callback token (``Levante-Callback-Token``
header or ``?token=``) instead of an API key: see :mod:`levante.api.auth`. A rejected callback (bad
token 401/403, body too large 413, not JSON or bad state 400, unknown id 404, finished action 409)
changes nothing: every check happens before the engine is asked to do anything.
"""

from __future__ import annotations

import time
from typing import Any

import falcon

from levante.api import listing, views
from levante.api.context import ApiContext
from levante.api.payloads import bool_param, check_keys, json_body, json_value, text_field
from levante.engine.service.parts import ActionDetail
from levante.exceptions import InputError

FILTERS: dict[str, listing.Converter] = {
    "id": listing.as_text, "name": listing.as_text, "workflow_name": listing.as_text,
    "task_execution_id": listing.as_text, "workflow_execution_id": listing.as_text,
    "state": listing.as_state, "state_info": listing.as_text, "accepted": listing.as_bool,
    "description": listing.as_text, "created_at": listing.as_time, "updated_at": listing.as_time,
}
EXTRA = ("include_output", "all_projects", "project_id")
UPDATE_KEYS = {"state", "output"} | set(views.FIELDS["action_executions"])
#: States a callback may set, as Mistral lists them.
CALLBACK_STATES = ("SUCCESS", "ERROR", "CANCELLED", "PAUSED", "RUNNING")


def render(found: ActionDetail, include_output: bool = True) -> dict[str, Any]:
    """The view of an action execution with its task's name, namespace and heartbeat."""
    return views.action_execution_view(found.action, task_name=found.task_name,
                                       workflow_namespace=found.workflow_namespace,
                                       include_output=include_output, heartbeat=found.heartbeat)


def list_action_executions(ctx: ApiContext, req: falcon.Request, of_task: str | None = None) -> dict[str, Any]:
    """A page of action executions (``of_task``: only those of this task)."""
    query = listing.parse(req, FILTERS, views.FIELDS["action_executions"], extra=EXTRA)
    if of_task is not None:
        query.filters["task_execution_id"] = of_task
    include_output = bool_param(req, "include_output")
    found = ctx.reads.action_executions(query, of_task=of_task)
    items = [views.pick(render(d, include_output), query.fields) for d in found]
    return listing.page(req, "action_executions", items, query, found[-1].action.id if found else None)


def detail(ctx: ApiContext, action_execution_id: str) -> dict[str, Any]:
    """One action execution with its ``output``."""
    return render(ctx.reads.action_execution(action_execution_id))


RUN_KEYS = {"name", "input", "description", "params"}
#: Longest a ``run_sync`` request waits for the action's result, in seconds.
RUN_SYNC_TIMEOUT = 60.0


class ActionExecutionCollection:
    """``GET /v2/action_executions``, and ``POST`` to run an action on its own."""

    def __init__(self, ctx: ApiContext) -> None:
        self.ctx = ctx

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = list_action_executions(self.ctx, req)

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Run a registered action outside any workflow: ``{"name", "input", "description",
        "params": {"run_sync": bool, "target": name}}``. With ``run_sync`` (the default for
        synchronous actions, as Mistral does) the answer waits for the result (400 for an
        asynchronous action, which only its callback completes); otherwise the action runs in the
        background and the answer is the RUNNING action execution. ``target`` sends it to that
        executor group."""
        body = json_body(req, self.ctx.max_body)
        check_keys(body, RUN_KEYS, "an action run")
        name = text_field(body, "name")
        if not name:
            raise InputError("'name' is required: the name of the action to run")
        action_input = json_value(body.get("input")) or {}
        params = json_value(body.get("params")) or {}
        if not isinstance(action_input, dict) or not isinstance(params, dict):
            raise InputError("'input' and 'params' must be JSON objects")
        description = body.get("description") or ""
        target = params.get("target")
        if target is not None and (not isinstance(target, str) or not target.strip()):
            raise InputError("'params.target' must be the name of an executor group")
        action = self.ctx.service.run_action(name, action_input, str(description), target=target,
                                             sync_only=params.get("run_sync") is True)
        run_sync = params.get("run_sync", action.is_sync)
        deadline = time.monotonic() + RUN_SYNC_TIMEOUT
        result = detail(self.ctx, action.id)
        while run_sync and result["state"] == "RUNNING" and time.monotonic() < deadline:
            time.sleep(0.01)
            result = detail(self.ctx, action.id)
        resp.status = falcon.HTTP_201
        resp.media = result


class ActionExecutionItem:
    """``GET``, ``PUT``, ``POST`` and ``DELETE`` ``/v2/action_executions/{action_execution_id}``."""

    #: PUT and POST accept the action's callback token (levante.api.auth), which the engine checks
    #: in the transaction that completes the action.
    callback = True
    verifies_callback_token = True

    def __init__(self, ctx: ApiContext) -> None:
        self.ctx = ctx

    def on_get(self, req: falcon.Request, resp: falcon.Response, action_execution_id: str) -> None:
        fields = listing.parse(req, {}, views.FIELDS["action_executions"]).fields
        resp.media = views.pick(detail(self.ctx, action_execution_id), fields)

    def on_put(self, req: falcon.Request, resp: falcon.Response, action_execution_id: str) -> None:
        """Complete the action: SUCCESS (output = the result), ERROR (output = the error,
        "Unknown error" when absent) or CANCELLED. 409 when it is already completed."""
        body = json_body(req, self.ctx.max_body)
        check_keys(body, UPDATE_KEYS, "an action execution update")
        state = text_field(body, "state")
        if state not in CALLBACK_STATES:
            raise InputError(f"Error. Expected one of {list(CALLBACK_STATES)}, actual: {state}")
        output = json_value(body.get("output"))
        token = req.context.callback_token
        if state in ("PAUSED", "RUNNING"):
            self.ctx.operations.pause_or_resume_action(action_execution_id, state, token)
            resp.media = detail(self.ctx, action_execution_id)
            return
        if state == "ERROR" and output is None:
            output = "Unknown error"
        if state == "CANCELLED":
            output = None
        resp.media = render(self.ctx.service.complete_action(action_execution_id, state, output, token=token))

    on_post = on_put

    def on_delete(self, req: falcon.Request, resp: falcon.Response, action_execution_id: str) -> None:
        """Delete a completed action execution that ran on its own (``POST /v2/action_executions``),
        as Mistral does when ``[api] allow_action_execution_deletion`` is set; here, as for every
        ``DELETE``, an admin key is needed when auth is on. The actions of a task go with their
        workflow execution (``DELETE /v2/executions/<id>``)."""
        self.ctx.operations.delete_action_execution(action_execution_id)
        resp.status = falcon.HTTP_204


class ActionExecutionHeartbeat:
    """``PUT`` (or ``POST``) ``/v2/action_executions/{action_execution_id}/heartbeat``."""

    callback = True

    def __init__(self, ctx: ApiContext) -> None:
        self.ctx = ctx

    def on_put(self, req: falcon.Request, resp: falcon.Response, action_execution_id: str) -> None:
        """Record ``last_heartbeat`` (now) and, when given, ``progress`` (any JSON value).
        404 unknown id, 409 when the action is already completed."""
        body = json_body(req, self.ctx.max_body, optional=True)
        check_keys(body, {"progress"}, "a heartbeat")
        self.ctx.operations.heartbeat(action_execution_id, body.get("progress"))
        resp.media = detail(self.ctx, action_execution_id)

    on_post = on_put
