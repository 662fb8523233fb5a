"""``/v2/tasks``: task executions; ``PUT`` reruns a failed task or skips it."""

from __future__ import annotations

from typing import Any

import falcon

from levante.api import listing, views
from levante.api.context import ApiContext
from levante.api.payloads import check_keys, json_body, json_object, text_field
from levante.api.resources import action_executions as action_resources
from levante.db import repository as repo
from levante.engine import events as ev
from levante.engine.model import TaskExecution, WorkflowExecution
from levante.exceptions import ConflictError, InputError
from levante.states import State

FILTERS: dict[str, listing.Converter] = {
    "id": listing.as_text, "name": listing.as_text, "workflow_name": listing.as_text,
    "workflow_execution_id": listing.as_text, "state": listing.as_state, "state_info": listing.as_text,
    "type": listing.as_text, "processed": listing.as_bool,
    "created_at": listing.as_time, "updated_at": listing.as_time,
    "started_at": listing.as_time, "finished_at": listing.as_time,
}
EXTRA = ("all_projects", "project_id")
UPDATE_KEYS = {"state", "reset", "env"} | set(views.FIELDS["tasks"])


def _executions(session: Any, tasks: list[TaskExecution]) -> dict[str, WorkflowExecution]:
    ids = sorted({t.workflow_execution_id for t in tasks})
    if not ids:
        return {}
    return {ex.id: ex for ex in repo.list_executions(session, {"id": ids})}


def list_tasks(ctx: ApiContext, req: falcon.Request, fixed: dict[str, Any] | None = None) -> dict[str, Any]:
    """A page of task executions (``fixed`` filters added to the query's)."""
    query = listing.parse(req, FILTERS, views.FIELDS["tasks"], extra=EXTRA)
    query.filters.update(fixed or {})
    with ctx.read() as session:
        found = repo.list_tasks(session, query.filters, query.limit, query.marker,
                                query.sort_keys, query.sort_dirs)
        parents = _executions(session, found)
        running = [t.id for t in found if t.state == State.RUNNING]
        progress = repo.running_progress_of(session, running) if running else {}
    items = [views.pick(views.task_view(t, parents.get(t.workflow_execution_id),
                                        action_progress=progress.get(t.id)), query.fields)
             for t in found]
    return listing.page(req, "tasks", items, query, found[-1].id if found else None)


def detail(ctx: ApiContext, task_id: str) -> dict[str, Any]:
    """One task as ``GET /v2/tasks/<id>`` shows it (with ``result`` and ``published_global``)."""
    with ctx.read() as session:
        task = repo.get_task(session, task_id)
        ex = repo.get_execution(session, task.workflow_execution_id)
        progress = repo.running_progress_of(session, [task.id]).get(task.id)
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
        with self.ctx.read() as session:
            task = repo.get_task(session, task_id)
            ex = repo.get_execution(session, task.workflow_execution_id)
            self._check(session, body, task, ex)
        if state == "SKIPPED":
            event: ev.Event = ev.SkipRequested(ex.id, task.id)
        else:
            event = ev.RerunRequested(ex.id, task.id, reset=bool(body["reset"]),
                                      env=json_object(body.get("env"), "env"))
        self.ctx.service.request(event)
        resp.media = detail(self.ctx, task_id)

    def _check(self, session: Any, body: dict[str, Any], task: TaskExecution, ex: WorkflowExecution) -> None:
        """Mistral's preconditions of a rerun or skip."""
        for key, actual in (("name", task.name), ("workflow_name", task.workflow_name)):
            if body.get(key) is not None and body[key] != actual:
                raise InputError(f"Task {key} does not match: given {body[key]!r}, the task's is {actual!r}.")
        if task.state != State.ERROR:
            raise ConflictError("The current task execution must be in ERROR for rerun. "
                                f"Task {task.name} [id={task.id}] is {task.state}.")
        if body["state"] == "SKIPPED":
            return
        if "reset" not in body or body["reset"] is None:
            raise InputError("Reset field is mandatory to rerun task.")
        if not isinstance(body["reset"], bool):
            raise InputError("Reset field must be true or false.")
        if not body["reset"]:
            spec = self.ctx.catalog.spec_of(session, ex)
            task_spec = spec.tasks.get(task.name)
            if task_spec is None or not task_spec.with_items:
                raise InputError("Only with-items task has the option to not reset.")


class TaskActionExecutions:
    """``GET /v2/tasks/{task_id}/action_executions``."""

    def __init__(self, ctx: ApiContext) -> None:
        self.ctx = ctx

    def on_get(self, req: falcon.Request, resp: falcon.Response, task_id: str) -> None:
        with self.ctx.read() as session:
            repo.get_task(session, task_id)
        resp.media = action_resources.list_action_executions(self.ctx, req, {"task_execution_id": task_id})

