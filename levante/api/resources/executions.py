"""``/v2/executions``: start, read, list, pause/resume/cancel/stop and delete workflow executions."""

from __future__ import annotations

from typing import Any

import falcon

from levante.api import listing, views
from levante.api.context import ApiContext
from levante.api.payloads import bool_param, check_keys, json_body, json_object, text_field
from levante.api.resources import tasks as task_resources
from levante.engine.records import WorkflowExecution
from levante.exceptions import InputError
from levante.states import State

FILTERS: dict[str, listing.Converter] = {
    "id": listing.as_text, "workflow_name": listing.as_text, "workflow_id": listing.as_text,
    "workflow_namespace": listing.as_text, "description": listing.as_text,
    "task_execution_id": listing.as_text, "root_execution_id": listing.as_text,
    "state": listing.as_state, "state_info": listing.as_text,
    "created_at": listing.as_time, "updated_at": listing.as_time,
}
EXTRA = ("include_output", "all_projects", "project_id")
#: Fields a POST may carry: what it uses, and the resource's read-only fields (ignored).
CREATE_KEYS = {"id", "workflow_name", "workflow_id", "workflow_namespace", "input", "params", "description",
               "source_execution_id"} | set(views.FIELDS["executions"])
UPDATE_KEYS = {"state", "state_info", "description", "params"} | set(views.FIELDS["executions"])
_NO_WORKFLOW = "Workflow ID or workflow name must be provided. Workflow ID is recommended."


def detail(ctx: ApiContext, execution_id: str) -> dict[str, Any]:
    """The view of one execution as ``GET /v2/executions/<id>`` shows it."""
    ex, counts = ctx.reads.execution_with_progress(execution_id)
    return views.execution_view(ex, counts=counts)


def list_executions(ctx: ApiContext, req: falcon.Request, of_task: str | None = None) -> dict[str, Any]:
    """A page of executions (``of_task``: only those this task started)."""
    query = listing.parse(req, FILTERS, views.FIELDS["executions"], extra=EXTRA)
    if of_task is not None:
        query.filters["task_execution_id"] = of_task
    include_output = bool_param(req, "include_output")
    found, counts = ctx.reads.executions(query, of_task=of_task)
    items = []
    for ex in found:
        view = views.execution_view(ex, include_output=include_output)
        view["progress"] = views.progress(counts.get(ex.id, (0, 0)))
        items.append(views.pick(view, query.fields))
    return listing.page(req, "executions", items, query, found[-1].id if found else None)


class ExecutionCollection:
    """``GET`` and ``POST`` ``/v2/executions``."""

    def __init__(self, ctx: ApiContext) -> None:
        self.ctx = ctx

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = list_executions(self.ctx, req)

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Start an execution. With an ``id`` that exists, that execution is returned (idempotent)."""
        body = json_body(req, self.ctx.max_body)
        check_keys(body, CREATE_KEYS, "an execution")
        description = text_field(body, "description", free_text=True) or ""
        source_id = text_field(body, "source_execution_id")
        if source_id:
            body, description = self._from_source(source_id, body, description)
        workflow = text_field(body, "workflow_id") or text_field(body, "workflow_name")
        if not workflow:
            raise InputError(_NO_WORKFLOW)
        params = json_object(body.get("params"), "params") or {}
        namespace = text_field(body, "workflow_namespace")
        if namespace:
            params["namespace"] = namespace
        wf_input = json_object(body.get("input"), "input") or {}
        ex = self.ctx.service.start_execution(workflow, wf_input, params, description,
                                              execution_id=text_field(body, "id"))
        resp.status = falcon.HTTP_201
        resp.media = detail(self.ctx, ex.id)

    def _from_source(self, source_id: str, body: dict[str, Any],
                     description: str) -> tuple[dict[str, Any], str]:
        """The body completed from a previous execution's workflow, input and params."""
        source = self.ctx.reads.execution(source_id)
        merged: dict[str, Any] = {
            "workflow_id": source.workflow_id,
            "workflow_name": source.workflow_name,
            "workflow_namespace": source.workflow_namespace,
            "input": source.input,
            "params": {k: v for k, v in source.params.items()
                       if k not in ("task_execution_id", "root_execution_id", "index")},
        }
        if body.get("workflow_id") or body.get("workflow_name"):
            merged.pop("workflow_id")
            merged.pop("workflow_name")
        merged.update({k: v for k, v in body.items() if v is not None})
        return merged, f"{description} Based on the execution '{source_id}'".strip()


class ExecutionItem:
    """``GET``, ``PUT`` and ``DELETE`` ``/v2/executions/{execution_id}``."""

    def __init__(self, ctx: ApiContext) -> None:
        self.ctx = ctx

    def on_get(self, req: falcon.Request, resp: falcon.Response, execution_id: str) -> None:
        fields = listing.parse(req, {}, views.FIELDS["executions"]).fields
        resp.media = views.pick(detail(self.ctx, execution_id), fields)

    def on_put(self, req: falcon.Request, resp: falcon.Response, execution_id: str) -> None:
        """Change the state (pause, resume, cancel, stop), the description or ``params.env``."""
        body = json_body(req, self.ctx.max_body)
        check_keys(body, UPDATE_KEYS, "an execution update")
        state = text_field(body, "state")
        description = text_field(body, "description", free_text=True)
        params = json_object(body.get("params"), "params") or {}
        env = json_object(params.get("env"), "params.env")
        if state is None and description is None and env is None:
            raise InputError("One or more of the following must be provided: state, description, params.env.")
        if state is not None and description is not None:
            raise InputError("The description can not be changed together with the state.")
        if env is not None and state not in (None, "RUNNING"):
            raise InputError("The environment (params.env) can only be changed alone or when resuming "
                             "(state RUNNING).")
        if state is not None:
            self.ctx.operations.change_state(execution_id, state, text_field(body, "state_info", free_text=True),
                                             env)
        else:
            self.ctx.service.update_execution(execution_id, description=description, env=env)
        resp.media = detail(self.ctx, execution_id)

    def on_delete(self, req: falcon.Request, resp: falcon.Response, execution_id: str) -> None:
        """Delete the execution with its tasks, actions and sub-executions (only a completed one
        unless ``force=true``)."""
        self.ctx.operations.delete_execution(execution_id, force=bool_param(req, "force"))
        resp.status = falcon.HTTP_204


class ExecutionTasks:
    """``GET /v2/executions/{execution_id}/tasks``."""

    def __init__(self, ctx: ApiContext) -> None:
        self.ctx = ctx

    def on_get(self, req: falcon.Request, resp: falcon.Response, execution_id: str) -> None:
        resp.media = task_resources.list_tasks(self.ctx, req, within=execution_id)


class TaskWorkflowExecutions:
    """``GET /v2/tasks/{task_id}/workflow_executions``: the sub-workflow executions a task started."""

    def __init__(self, ctx: ApiContext) -> None:
        self.ctx = ctx

    def on_get(self, req: falcon.Request, resp: falcon.Response, task_id: str) -> None:
        resp.media = list_executions(self.ctx, req, of_task=task_id)


class SubExecutions:
    """``GET /v2/executions/{execution_id}/executions``: every execution below this one, at any
    depth (``max_depth``: -1 = all), optionally only the failed ones (``errors_only``)."""

    def __init__(self, ctx: ApiContext) -> None:
        self.ctx = ctx

    def on_get(self, req: falcon.Request, resp: falcon.Response, execution_id: str) -> None:
        found = self.ctx.reads.executions_below(execution_id)
        resp.media = {"executions": _below(_below_query(req), execution_id, found)}


class TaskSubExecutions:
    """``GET /v2/tasks/{task_id}/executions`` (``mistral task-get-sub-executions``): the executions
    the task started and every execution below them (``max_depth``: 1 = only those the task
    started; -1 = all), optionally only the failed ones (``errors_only``)."""

    def __init__(self, ctx: ApiContext) -> None:
        self.ctx = ctx

    def on_get(self, req: falcon.Request, resp: falcon.Response, task_id: str) -> None:
        task, found = self.ctx.reads.executions_below_task(task_id)
        resp.media = {"executions": _below(_below_query(req), task.workflow_execution_id, found)}


def _below_query(req: falcon.Request) -> tuple[bool, bool, int]:
    """``(errors_only, include_output, max_depth)`` of a request for the executions below one."""
    listing.parse(req, {}, (), extra=("errors_only", "max_depth", "include_output"))
    return (bool_param(req, "errors_only"), bool_param(req, "include_output"),
            listing.as_int(req.get_param("max_depth") or "-1"))


def _below(query: tuple[bool, bool, int], root_id: str, found: list[WorkflowExecution]) -> list[dict[str, Any]]:
    """The views of the executions ``found`` (below ``root_id``) that the query's ``max_depth`` and
    ``errors_only`` keep, oldest first."""
    errors_only, include_output, max_depth = query
    depth = _depths(root_id, found)
    return [views.execution_view(ex, include_output=include_output) for ex in found
            if (max_depth < 0 or depth.get(ex.id, 0) <= max_depth)
            and (not errors_only or ex.state == State.ERROR)]


def _depths(root_id: str, executions: list[WorkflowExecution]) -> dict[str, int]:
    """Depth of each execution below ``root_id`` (1 = a direct child), by parent links."""
    parent = {ex.id: ex.parent_id for ex in executions}
    depth: dict[str, int] = {}
    for ex_id in parent:
        level = 0
        node: str | None = ex_id
        while node is not None and node != root_id and level <= len(parent):
            node = parent.get(node)
            level += 1
        depth[ex_id] = level
    return depth
