"""The falcon application: ``create_app()`` is the only place where the API is wired.

It builds no engine and knows no node: it is given the
:class:`~levante.engine.service.services.Services` it drives. gunicorn runs
``levante.wsgi:application`` (:mod:`levante.wsgi` composes a node from the ``LEVANTE_*``
variables in each worker process and passes its ``services``); ``levante server`` passes those of
the node it runs, and tests those of one on a temporary database, or stand-ins.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import falcon

from levante.api import errors
from levante.api.auth import Guard
from levante.api.context import ApiContext
from levante.api.openapi import OpenApi
from levante.api.payloads import no_nul, too_large
from levante.api.resources import (
    action_executions,
    actions,
    api_keys,
    cron_triggers,
    environments,
    executions,
    history,
    identity,
    reports,
    root,
    tasks,
    unsupported,
    workbooks,
    workflows,
)
from levante.config import Config

if TYPE_CHECKING:
    from levante.engine.service.services import Services


class BodyLimit:
    """Answers 413 before reading a body whose declared length is over the limit."""

    def __init__(self, limit: int) -> None:
        self.limit = limit

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        if req.content_length is not None and req.content_length > self.limit:
            raise too_large(self.limit)


class NoNul:
    """400 for a NUL character in the URL path or a query parameter (an id, a name, a filter,
    a marker): nothing is named with one, and PostgreSQL cannot compare text with it. Cheap:
    the raw query string is searched for ``%00`` before anything is parsed."""

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        no_nul(req.path, "the URL path")
        if "%00" not in req.query_string:
            return
        for key, value in req.params.items():
            no_nul(key, "a query parameter name")
            for item in value if isinstance(value, list) else [value]:
                no_nul(item, f"the query parameter '{key}'")


def _routes(ctx: ApiContext, guard: Guard | None = None) -> list[tuple[str, Any]]:
    guard = guard or Guard(ctx)
    action_execution = action_executions.ActionExecutionItem(ctx)
    action_execution_list = action_executions.ActionExecutionCollection(ctx)
    heartbeat = action_executions.ActionExecutionHeartbeat(ctx)
    action = actions.ActionItem(ctx)
    return [
        ("/", root.Versions()),
        ("/v2", root.V2Root()),
        ("/health", root.Health(ctx)),
        ("/v2/openapi.json", OpenApi()),
        (identity.PREFIX, identity.IdentityVersion()),
        (f"{identity.PREFIX}/auth/tokens", identity.IdentityTokens(guard, ctx.max_body)),
        ("/v2/workbooks", workbooks.WorkbookCollection(ctx)),
        ("/v2/workbooks/validate", workbooks.WorkbookValidation(ctx)),
        ("/v2/workbooks/{name}", workbooks.WorkbookItem(ctx)),
        ("/v2/workflows", workflows.WorkflowCollection(ctx)),
        ("/v2/workflows/validate", workflows.WorkflowValidation(ctx)),
        ("/v2/workflows/{identifier}", workflows.WorkflowItem(ctx)),
        ("/v2/actions", actions.ActionCollection(ctx)),
        ("/v2/actions/validate", actions.ActionValidation(ctx)),
        ("/v2/actions/{identifier}", action),
        ("/v2/actions/{identifier}/{namespace}", action),
        ("/v2/executions", executions.ExecutionCollection(ctx)),
        ("/v2/executions/{execution_id}", executions.ExecutionItem(ctx)),
        ("/v2/executions/{execution_id}/tasks", executions.ExecutionTasks(ctx)),
        ("/v2/executions/{execution_id}/executions", executions.SubExecutions(ctx)),
        ("/v2/executions/{execution_id}/history", history.ExecutionHistory(ctx)),
        ("/v2/executions/{execution_id}/report", reports.ExecutionReport(ctx)),
        ("/v2/tasks", tasks.TaskCollection(ctx)),
        ("/v2/tasks/{task_id}", tasks.TaskItem(ctx)),
        ("/v2/tasks/{task_id}/action_executions", tasks.TaskActionExecutions(ctx)),
        ("/v2/tasks/{task_id}/workflow_executions", executions.TaskWorkflowExecutions(ctx)),
        ("/v2/tasks/{task_id}/executions", executions.TaskSubExecutions(ctx)),
        ("/v2/action_executions", action_execution_list),
        ("/v2/action_executions/{action_execution_id}", action_execution),
        ("/v2/action-executions", action_execution_list),
        ("/v2/action-executions/{action_execution_id}", action_execution),
        ("/v2/action_executions/{action_execution_id}/heartbeat", heartbeat),
        ("/v2/action-executions/{action_execution_id}/heartbeat", heartbeat),
        ("/v2/environments", environments.EnvironmentCollection(ctx)),
        ("/v2/environments/{name}", environments.EnvironmentItem(ctx)),
        ("/v2/cron_triggers", cron_triggers.CronTriggerCollection(ctx)),
        ("/v2/cron_triggers/{identifier}", cron_triggers.CronTriggerItem(ctx)),
        ("/v2/api_keys", api_keys.ApiKeyCollection(ctx)),
        ("/v2/api_keys/{identifier}", api_keys.ApiKeyItem(ctx)),
        *unsupported.routes(),
    ]


def create_app(config: Config, services: "Services") -> falcon.App:
    """The WSGI application of Mistral's v2 API.

    Args:
        config: settings.
        services: what the resources call (``node.services`` of the running node).
    """
    ctx = ApiContext(config, services)
    guard = Guard(ctx)
    middleware: list[Any] = [BodyLimit(config.max_body_bytes), NoNul(), guard]
    app = falcon.App(middleware=middleware)
    app.req_options.strip_url_path_trailing_slash = True
    errors.install(app)
    for path, resource in _routes(ctx, guard):
        app.add_route(path, resource)
    return app
