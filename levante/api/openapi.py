"""The OpenAPI 3.1 description of the API, served at ``GET /v2/openapi.json``.

Hand-written as data: :data:`ROUTES` maps every route of :func:`levante.api.app._routes` to its
methods (``tests/functional/api/test_openapi.py`` checks that both agree), and :func:`document`
builds the document from it. Every operation may also answer an error in Mistral's shape
(``Fault``), documented as the ``default`` response.
"""

from __future__ import annotations

from typing import Any

from levante import __version__
from levante.api import views

STR = {"type": ["string", "null"]}
JSON_TEXT = {"type": ["string", "null"], "description": "a JSON document as text (Mistral's JSON-typed field)"}
TIME = {"type": ["string", "null"], "description": "YYYY-MM-DD HH:MM:SS (UTC)"}
TAGS = {"type": ["array", "null"], "items": {"type": "string"}}
ANY: dict[str, Any] = {}

_TYPES: dict[str, Any] = {
    "tags": TAGS, "accepted": {"type": "boolean"}, "processed": {"type": "boolean"},
    "is_system": {"type": "boolean"}, "remaining_executions": {"type": ["integer", "null"]},
    "progress": ANY, "last_heartbeat": TIME,
}
_JSON_FIELDS = {"input", "output", "params", "published", "published_global", "runtime_context", "result",
                "interface", "variables", "workflow_input", "workflow_params"}


def _field(resource: str, name: str) -> Any:
    if name in _TYPES:
        return _TYPES[name]
    if name.endswith("_at") or name.endswith("_time"):
        return TIME
    if name in _JSON_FIELDS and not (resource in ("workflows", "actions") and name == "input"):
        return JSON_TEXT
    return STR


def _resource_schema(resource: str) -> dict[str, Any]:
    return {"type": "object", "properties": {f: _field(resource, f) for f in views.FIELDS[resource]},
            "required": ["id"]}


SCHEMAS: dict[str, Any] = {
    "Fault": {"type": "object", "required": ["faultstring"], "properties": {
        "faultcode": {"type": "string"}, "faultstring": {"type": "string"}, "debuginfo": ANY,
        "errors": {"type": "array", "items": {"type": "object"}}}},
    "Execution": _resource_schema("executions"),
    "Task": _resource_schema("tasks"),
    "ActionExecution": _resource_schema("action_executions"),
    "Workflow": _resource_schema("workflows"),
    "Workbook": _resource_schema("workbooks"),
    "Action": _resource_schema("actions"),
    "Environment": _resource_schema("environments"),
    "CronTrigger": _resource_schema("cron_triggers"),
    "ApiKey": {"type": "object", "properties": {"id": {"type": "string"}, "name": {"type": "string"},
                                                 "role": {"type": "string"}, "key": {"type": "string"}}},
    "HistoryEvent": {"type": "object", "properties": {
        "id": ANY, "execution_id": STR, "task_execution_id": STR, "action_execution_id": STR,
        "created_at": TIME, "kind": STR, "payload": ANY}},
    "Validation": {"type": "object", "required": ["valid"], "properties": {
        "valid": {"type": "boolean"}, "error": STR, "errors": {"type": "array"},
        "warnings": {"type": "array", "items": {"type": "object"}}}},
    "ReportStatistics": {"type": "object", "required": ["total_tasks_count"], "properties": {
        f"{state}_tasks_count": {"type": "integer", "minimum": 0}
        for state in ("total", "running", "success", "error", "idle", "paused")}},
    "ReportAction": {"type": "object", "required": ["id", "name", "state"], "properties": {
        "id": STR, "name": STR, "state": STR, "state_info": STR, "accepted": {"type": "boolean"},
        "last_heartbeat": TIME, "created_at": TIME, "updated_at": TIME}},
    "ReportTask": {"type": "object", "required": ["id", "name", "state"], "properties": {
        "id": STR, "name": STR, "type": STR, "state": STR, "state_info": STR, "created_at": TIME,
        "updated_at": TIME, "retry_count": {"type": "integer"},
        "action_executions": {"type": "array", "items": {"$ref": "#/components/schemas/ReportAction"}},
        "workflow_executions": {"type": "array", "items": {"$ref": "#/components/schemas/ReportExecution"}}}},
    "ReportExecution": {"type": "object", "required": ["id", "name", "state"], "properties": {
        "id": STR, "name": STR, "state": STR, "state_info": STR, "created_at": TIME, "updated_at": TIME,
        "task_executions": {"type": "array", "items": {"$ref": "#/components/schemas/ReportTask"}}}},
    "ExecutionReport": {"type": "object", "required": ["statistics"], "properties": {
        "statistics": {"$ref": "#/components/schemas/ReportStatistics"},
        "root_workflow_execution": {"$ref": "#/components/schemas/ReportExecution"}}},
    "IdentityToken": {"type": "object", "required": ["token"], "properties": {"token": {
        "type": "object", "required": ["expires_at"], "properties": {"expires_at": {"type": "string"}}}}},
    "Definitions": {"type": "object", "properties": {
        k: {"type": "array", "items": {"$ref": f"#/components/schemas/{s}"}}
        for k, s in (("workflows", "Workflow"), ("actions", "Action"), ("workbooks", "Workbook"))}},
}

# --- request bodies --------------------------------------------------------------------------

JSON_OBJECT_OR_TEXT = {"type": ["object", "string"]}
YAML_BODY = {"required": True, "content": {"text/plain": {"schema": {"type": "string", "minLength": 1}}}}


def _json_body(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        schema["required"] = list(required)
    return {"required": True, "content": {"application/json": {"schema": schema}}}


BODIES: dict[str, Any] = {
    "execution_create": _json_body({
        "id": {"type": "string"}, "workflow_name": {"type": "string"}, "workflow_id": {"type": "string"},
        "workflow_namespace": {"type": "string"}, "input": JSON_OBJECT_OR_TEXT, "params": JSON_OBJECT_OR_TEXT,
        "description": {"type": "string"}, "source_execution_id": {"type": "string"}}),
    "execution_update": _json_body({
        "state": {"enum": ["PAUSED", "RUNNING", "SUCCESS", "ERROR", "CANCELLED"]},
        "state_info": {"type": "string"}, "description": {"type": "string"}, "params": JSON_OBJECT_OR_TEXT}),
    "task_update": _json_body({
        "state": {"enum": ["RUNNING", "SKIPPED"]}, "reset": {"type": "boolean"}, "env": JSON_OBJECT_OR_TEXT,
        "name": {"type": "string"}, "workflow_name": {"type": "string"}}, ("state",)),
    "action_execution_update": _json_body({
        "state": {"enum": ["SUCCESS", "ERROR", "CANCELLED", "PAUSED", "RUNNING"]}, "output": ANY}, ("state",)),
    "action_run": _json_body({
        "name": {"type": "string"}, "input": JSON_OBJECT_OR_TEXT, "description": {"type": "string"},
        "params": JSON_OBJECT_OR_TEXT}, ("name",)),
    "heartbeat": {"required": False, "content": {"application/json": {"schema": {
        "type": "object", "properties": {"progress": ANY}, "additionalProperties": False}}}},
    "environment": _json_body({
        "name": {"type": "string"}, "description": {"type": "string"}, "variables": JSON_OBJECT_OR_TEXT,
        "scope": {"enum": ["private", "public"]}}, ("name",)),
    "cron_trigger": _json_body({
        "name": {"type": "string"}, "workflow_name": {"type": "string"}, "workflow_id": {"type": "string"},
        "workflow_input": JSON_OBJECT_OR_TEXT, "workflow_params": JSON_OBJECT_OR_TEXT,
        "pattern": {"type": "string"}, "first_execution_time": {"type": "string"},
        "remaining_executions": {"type": "integer"}, "timezone": {"type": "string"}}, ("name",)),
    "api_key": _json_body({"name": {"type": "string"}, "role": {"enum": ["admin", "user"]}}, ("name",)),
    "identity_token": {"required": True, "content": {"application/json": {"schema": {
        "type": "object", "required": ["auth"], "description": "Keystone v3: auth.identity with the method 'token' "
        "(token.id = an API key) or 'password' (password.user.password = an API key)",
        "properties": {"auth": {"type": "object"}}}}}},
    "anything": {"required": True, "content": {"application/json": {"schema": ANY},
                                               "text/plain": {"schema": {"type": "string"}}}},
    "yaml": YAML_BODY,
}

# --- parameters ------------------------------------------------------------------------------


def _query(name: str, schema: dict[str, Any] | None = None, description: str = "") -> dict[str, Any]:
    param: dict[str, Any] = {"name": name, "in": "query", "required": False,
                             "schema": schema or {"type": "string"}}
    if description:
        param["description"] = description
    return param


BOOL = {"type": "boolean"}
PAGING = [
    _query("marker", description="id of the last item of the previous page"),
    _query("limit", {"type": "integer", "minimum": 1}),
    _query("sort_keys", description="comma-separated fields"),
    _query("sort_dirs", description="comma-separated asc|desc"),
    _query("fields", description="comma-separated fields to return"),
]
NAMESPACE = [_query("namespace")]
DEFINITION_UPLOAD = [_query("namespace"), _query("scope", {"enum": ["private", "public"]})]

# --- routes ----------------------------------------------------------------------------------


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _list_of(key: str, item: str) -> dict[str, Any]:
    return {"type": "object", "required": [key],
            "properties": {key: {"type": "array", "items": _ref(item)}, "next": {"type": "string"}}}


OBJECT = {"type": "object"}

#: path -> method -> (summary, query parameters, request body key or None, status, response schema)
Operation = tuple[str, list[dict[str, Any]], str | None, int, Any]
ROUTES: dict[str, dict[str, Operation]] = {
    "/": {"get": ("API versions", [], None, 200, OBJECT)},
    "/v2": {"get": ("v2 root", [], None, 200, OBJECT)},
    "/v2/openapi.json": {"get": ("this OpenAPI document", [], None, 200, OBJECT)},
    "/health": {"get": ("readiness (the database answers)", [], None, 200, OBJECT)},
    "/v2/workbooks": {
        "get": ("list workbooks", PAGING + NAMESPACE, None, 200, _list_of("workbooks", "Workbook")),
        "post": ("create a workbook (YAML)", DEFINITION_UPLOAD, "yaml", 201, _ref("Workbook")),
        "put": ("create or replace a workbook (YAML)", DEFINITION_UPLOAD, "yaml", 200, _ref("Workbook")),
    },
    "/v2/workbooks/validate": {"post": ("validate a workbook", [], "yaml", 200, _ref("Validation"))},
    "/v2/workbooks/{name}": {
        "get": ("get a workbook", [_query("fields")] + NAMESPACE, None, 200, _ref("Workbook")),
        "delete": ("delete a workbook", NAMESPACE, None, 204, None),
    },
    "/v2/workflows": {
        "get": ("list workflows", PAGING + NAMESPACE, None, 200, _list_of("workflows", "Workflow")),
        "post": ("create workflows (YAML)", DEFINITION_UPLOAD, "yaml", 201, _list_of("workflows", "Workflow")),
        "put": ("create or replace workflows (YAML)", DEFINITION_UPLOAD, "yaml", 200,
                _list_of("workflows", "Workflow")),
    },
    "/v2/workflows/validate": {"post": ("validate workflows", [], "yaml", 200, _ref("Validation"))},
    "/v2/workflows/{identifier}": {
        "get": ("get a workflow (id or name)", [_query("fields")] + NAMESPACE, None, 200, _ref("Workflow")),
        "put": ("replace one workflow (YAML)", DEFINITION_UPLOAD, "yaml", 200, _ref("Workflow")),
        "delete": ("delete a workflow", NAMESPACE, None, 204, None),
    },
    "/v2/actions": {
        "get": ("list actions (system and ad-hoc)", PAGING + NAMESPACE, None, 200, _list_of("actions", "Action")),
        "post": ("create ad-hoc actions (YAML)", DEFINITION_UPLOAD, "yaml", 201, _list_of("actions", "Action")),
        "put": ("create or replace ad-hoc actions (YAML)", DEFINITION_UPLOAD, "yaml", 200,
                _list_of("actions", "Action")),
    },
    "/v2/actions/validate": {"post": ("validate ad-hoc actions", [], "yaml", 200, _ref("Validation"))},
    "/v2/actions/{identifier}": {
        "get": ("get an action (id or name)", [_query("fields")] + NAMESPACE, None, 200, _ref("Action")),
        "delete": ("delete an ad-hoc action", NAMESPACE, None, 204, None),
    },
    "/v2/executions": {
        "get": ("list executions", PAGING + [_query("include_output", BOOL), _query("workflow_name"),
                                             _query("state")], None, 200, _list_of("executions", "Execution")),
        "post": ("start an execution", [], "execution_create", 201, _ref("Execution")),
    },
    "/v2/executions/{execution_id}": {
        "get": ("get an execution", [_query("fields")], None, 200, _ref("Execution")),
        "put": ("pause, resume, cancel, stop; change description or params.env", [], "execution_update", 200,
                _ref("Execution")),
        "delete": ("delete an execution", [_query("force", BOOL)], None, 204, None),
    },
    "/v2/executions/{execution_id}/tasks": {
        "get": ("the tasks of an execution", PAGING, None, 200, _list_of("tasks", "Task"))},
    "/v2/executions/{execution_id}/executions": {
        "get": ("the sub-executions of an execution",
                [_query("errors_only", BOOL), _query("include_output", BOOL), _query("max_depth", {"type": "integer"})],
                None, 200, _list_of("executions", "Execution"))},
    "/v2/executions/{execution_id}/history": {
        "get": ("the event history of an execution", [], None, 200, _list_of("events", "HistoryEvent"))},
    "/v2/tasks": {"get": ("list tasks", PAGING, None, 200, _list_of("tasks", "Task"))},
    "/v2/tasks/{task_id}": {
        "get": ("get a task", [_query("fields")], None, 200, _ref("Task")),
        "put": ("rerun (RUNNING) or skip (SKIPPED) a task in ERROR", [], "task_update", 200, _ref("Task")),
    },
    "/v2/tasks/{task_id}/action_executions": {
        "get": ("the action executions of a task", PAGING + [_query("include_output", BOOL)], None, 200,
                _list_of("action_executions", "ActionExecution"))},
    "/v2/tasks/{task_id}/workflow_executions": {
        "get": ("the sub-workflow executions of a task", PAGING, None, 200, _list_of("executions", "Execution"))},
    "/v2/environments": {
        "get": ("list environments", PAGING, None, 200, _list_of("environments", "Environment")),
        "post": ("create an environment", [], "environment", 201, _ref("Environment")),
        "put": ("update an environment", [], "environment", 200, _ref("Environment")),
    },
    "/v2/environments/{name}": {
        "get": ("get an environment", [_query("fields")], None, 200, _ref("Environment")),
        "delete": ("delete an environment", [], None, 204, None),
    },
    "/v2/cron_triggers": {
        "get": ("list cron triggers", PAGING, None, 200, _list_of("cron_triggers", "CronTrigger")),
        "post": ("create a cron trigger", [], "cron_trigger", 201, _ref("CronTrigger")),
    },
    "/v2/cron_triggers/{identifier}": {
        "get": ("get a cron trigger (id or name)", [_query("fields")], None, 200, _ref("CronTrigger")),
        "delete": ("delete a cron trigger", [], None, 204, None),
    },
    "/v2/api_keys": {
        "get": ("list API keys (admin)", [], None, 200, _list_of("api_keys", "ApiKey")),
        "post": ("create an API key (admin); the key is shown once", [], "api_key", 201, _ref("ApiKey")),
    },
    "/v2/api_keys/{identifier}": {"delete": ("delete an API key (admin)", [], None, 204, None)},
    "/identity/v3": {"get": ("identity version document (for keystoneauth: mistral --os-auth-url)", [], None,
                             200, OBJECT)},
    "/identity/v3/auth/tokens": {
        "post": ("exchange an API key (token or password method) for itself as a token (X-Subject-Token)",
                 [], "identity_token", 201, _ref("IdentityToken"))},
    "/v2/executions/{execution_id}/report": {
        "get": ("the execution report: task statistics and the tree of tasks, actions and sub-executions",
                [_query("errors_only", BOOL), _query("statistics_only", BOOL),
                 _query("max_depth", {"type": "integer"})], None, 200, _ref("ExecutionReport"))},
    "/v2/tasks/{task_id}/executions": {
        "get": ("the sub-executions of a task, at any depth",
                [_query("errors_only", BOOL), _query("include_output", BOOL), _query("max_depth", {"type": "integer"})],
                None, 200, _list_of("executions", "Execution"))},
    "/v2/actions/{identifier}/{namespace}": {
        "get": ("get an action in a namespace", [_query("fields")], None, 200, _ref("Action")),
        "delete": ("delete an ad-hoc action in a namespace", [], None, 204, None),
    },
}
#: Mistral's resources Levante does not have (levante/api/resources/unsupported.py): their lists
#: answer empty, everything else 501.
UNSUPPORTED = {"/v2/event_triggers": "{identifier}", "/v2/code_sources": "{identifier}",
               "/v2/dynamic_actions": "{identifier}", "/v2/workflows/{identifier}/members": "{member_id}"}
for _path, _item in UNSUPPORTED.items():
    _name = _path.rsplit("/", 1)[-1]
    ROUTES[_path] = {
        "get": (f"{_name}: not supported by Levante, always empty", [], None, 200,
                {"type": "object", "required": [_name], "properties": {_name: {"type": "array", "maxItems": 0}}}),
        **{m: (f"{_name}: not supported by Levante (501)", [], "anything", 501, _ref("Fault"))
           for m in ("post", "put")},
    }
    ROUTES[f"{_path}/{_item}"] = {
        m: (f"{_name}: not supported by Levante (501)", [], "anything" if m == "put" else None, 501, _ref("Fault"))
        for m in ("get", "put", "delete")}
for _prefix in ("/v2/action_executions", "/v2/action-executions"):
    ROUTES[_prefix] = {"get": ("list action executions", PAGING + [_query("include_output", BOOL)], None, 200,
                               _list_of("action_executions", "ActionExecution")),
                       "post": ("run a registered action on its own", [], "action_run", 201,
                                _ref("ActionExecution"))}
    ROUTES[_prefix + "/{action_execution_id}"] = {
        "get": ("get an action execution", [_query("fields")], None, 200, _ref("ActionExecution")),
        "put": ("complete an asynchronous action (callback)", [_query("token")], "action_execution_update", 200,
                _ref("ActionExecution")),
        "post": ("same as PUT", [_query("token")], "action_execution_update", 200, _ref("ActionExecution")),
        "delete": ("delete a completed action execution that ran on its own", [], None, 204, None),
    }
    ROUTES[_prefix + "/{action_execution_id}/heartbeat"] = {
        method: ("heartbeat of a long asynchronous action", [_query("token")], "heartbeat", 200,
                 _ref("ActionExecution")) for method in ("put", "post")}


def _path_params(path: str) -> list[dict[str, Any]]:
    names = [part[1:-1] for part in path.split("/") if part.startswith("{")]
    return [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}} for n in names]


def _operation(path: str, method: str, op: Operation) -> dict[str, Any]:
    summary, params, body, status, schema = op
    ok: dict[str, Any] = {"description": summary}
    if schema is not None:
        ok["content"] = {"application/json": {"schema": schema}}
    fault = {"description": "an error in Mistral's shape",
             "content": {"application/json": {"schema": _ref("Fault")}}}
    out: dict[str, Any] = {
        "operationId": f"{method}_{path}".replace("/", "_").replace("{", "").replace("}", "").replace("-", "_")
                                                     .replace(".", "_"),
        "summary": summary,
        "parameters": _path_params(path) + params,
        "responses": {str(status): ok, "default": fault},
    }
    if body is not None:
        out["requestBody"] = BODIES[body]
    return out


def document() -> dict[str, Any]:
    """The OpenAPI document."""
    return {
        "openapi": "3.1.0",
        "info": {"title": "Levante (Mistral v2 compatible) API", "version": __version__},
        "paths": {path: {m: _operation(path, m, op) for m, op in methods.items()}
                  for path, methods in ROUTES.items()},
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                                "openstackToken": {"type": "apiKey", "in": "header", "name": "X-Auth-Token"},
                                "bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


class OpenApi:
    """``GET /v2/openapi.json``."""

    def on_get(self, req: Any, resp: Any) -> None:
        resp.media = document()
