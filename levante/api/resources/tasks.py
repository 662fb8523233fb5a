"""``/v2/tasks``: task executions; ``PUT`` reruns a failed task or skips it."""

from __future__ import annotations

from typing import Any

import falcon

from levante.api import listing, views
from levante.api.context import ApiContext
from levante.api.payloads import check_keys, json_body, json_object, text_field
from levante.api.resources import action_executions as action_resources
from levante.exceptions import InputError

FILTERS: dict[str, listing.Converter] = {
    "id": listing.as_text, "name": listing.as_text, "workflow_name": listing.as_text,
    "workflow_execution_id": listing.as_text, "state": listing.as_state, "state_info": listing.as_text,
    "type": listing.as_text, "processed": listing.as_bool,
    "created_at": listing.as_time, "updated_at": listing.as_time,
    "started_at": listing.as_time, "finished_at": listing.as_time,
}
EXTRA = ("all_projects", "project_id")
UPDATE_KEYS = {"state", "reset", "env"} | set(views.FIELDS["tasks"])


def list_tasks(ctx: ApiContext, req: falcon.Request, within: str | None = None) -> dict[str, Any]:
    """A page of task executions (``within``: only those of this execution)."""
    query = listing.parse(req, FILTERS, views.FIELDS["tasks"], extra=EXTRA)
    if within is not None:
        query.filters["workflow_execution_id"] = within
    found, parents, progress = ctx.reads.tasks(query, within=within)
    items = [views.pick(views.task_view(t, parents.get(t.workflow_execution_id),
                                        action_progress=progress.get(t.id)), query.fields)
             for t in found]
    return listing.page(req, "tasks", items, query, found[-1].id if found else None)


def detail(ctx: ApiContext, task_id: str) -> dict[str, Any]:
    """One task as ``GET /v2/tasks/<id>`` shows it (with ``result`` and ``published_global``)."""
    task, ex, progress = ctx.reads.task(task_id)
    return views.task_view(task, ex, detail=True, action_progress=progress)


class TaskCollection:
    """``GET /v2/tasks``."""

    def __init__(self, ctx: ApiContext) -> None:
        self.ctx = ctx

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = list_tasks(self.ctx, req)


class TaskItem:
    """``GET`` and ``PUT`` ``/v2/tasks/{task_id}``."""

    def __init__(self, ctx: ApiContext) -> None:
        self.ctx = ctx

    def on_get(self, req: falcon.Request, resp: falcon.Response, task_id: str) -> None:
        fields = listing.parse(req, {}, views.FIELDS["tasks"]).fields
        resp.media = views.pick(detail(self.ctx, task_id), fields)

    def on_put(self, req: falcon.Request, resp: falcon.Response, task_id: str) -> None:
        """Rerun (``{"state": "RUNNING", "reset": bool, "env": {...}}``) or skip (``{"state":
        "SKIPPED"}``) a task in ERROR."""
        body = json_body(req, self.ctx.max_body)
        check_keys(body, UPDATE_KEYS, "a task update")
        state = text_field(body, "state")
        if state not in ("RUNNING", "SKIPPED"):
            raise InputError("Only updating a task to rerun it (state RUNNING) or to skip it "
                             f"(state SKIPPED) is supported, not state {state!r}.")
        env = json_object(body.get("env"), "env") if state == "RUNNING" else None
        self.ctx.operations.update_task(task_id, body, env=env)
        resp.media = detail(self.ctx, task_id)


class TaskActionExecutions:
    """``GET /v2/tasks/{task_id}/action_executions``."""

    def __init__(self, ctx: ApiContext) -> None:
        self.ctx = ctx

    def on_get(self, req: falcon.Request, resp: falcon.Response, task_id: str) -> None:
        resp.media = action_resources.list_action_executions(self.ctx, req, of_task=task_id)

