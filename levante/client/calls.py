"""Each API operation as data: the request to send and how to read the answer.

:class:`Calls` is the one place that knows the REST API's paths and shapes. The sync and async
clients (``client.py``) run the same :class:`Call` objects over ``httpx.Client`` and
``httpx.AsyncClient``, so the two cannot drift apart.

Answers are returned as dicts shaped as the API's, except that JSON-typed fields (``input``,
``output``, ``params``, ``published``, ``result``, ``variables``...) are decoded from the JSON
strings Mistral's API sends; lists are returned as lists (the ``next`` link is dropped).
"""

from __future__ import annotations

import json
from typing import Any

from levante.client.call import (
    Call,
    decode_item,
    listing,
    looks_like_uuid,
    query,
    read_many,
    read_nothing,
    read_one,
)

__all__ = ["OPERATIONS", "Call", "Calls"]


class Calls:
    """Every operation of the API (names are those of the client methods). Each returns a
    ``Call[T]``: the client method returns ``T`` (a coroutine of it on ``AsyncClient``), as
    ``levante/client/operations.py`` declares for type checkers (``python -m levante.client.stubgen``
    writes it from these signatures)."""

    # --- server -------------------------------------------------------------------------------

    def health(self) -> Call[dict[str, Any]]:
        """``GET /health`` (outside ``/v2``)."""
        return Call("GET", "/../health")

    # --- workbooks ----------------------------------------------------------------------------

    def list_workbooks(self, **query: Any) -> Call[list[dict[str, Any]]]:
        """Workbooks (``limit``, ``marker``, ``sort_keys``, ``sort_dirs``, ``fields``, filters)."""
        return listing("workbooks", **query)

    def get_workbook(self, name: str, namespace: str | None = None) -> Call[dict[str, Any]]:
        """One workbook."""
        return Call("GET", f"/workbooks/{name}", query(namespace=namespace), read=read_one("workbooks"))

    def create_workbook(self, definition: str, namespace: str | None = None,
                        scope: str | None = None) -> Call[dict[str, Any]]:
        """Store a workbook (YAML text); ConflictError when it exists."""
        return Call("POST", "/workbooks", query(namespace=namespace, scope=scope), text=definition,
                    read=read_one("workbooks"))

    def update_workbook(self, definition: str, namespace: str | None = None,
                        scope: str | None = None) -> Call[dict[str, Any]]:
        """Replace the workbook named in the text."""
        return Call("PUT", "/workbooks", query(namespace=namespace, scope=scope), text=definition,
                    read=read_one("workbooks"))

    def delete_workbook(self, name: str, namespace: str | None = None) -> Call[None]:
        """Delete a workbook record."""
        return Call("DELETE", f"/workbooks/{name}", query(namespace=namespace), read=read_nothing)

    def validate_workbook(self, definition: str) -> Call[dict[str, Any]]:
        """``{"valid": bool, "error": ..., "errors": [...]}``."""
        return Call("POST", "/workbooks/validate", text=definition)

    # --- workflows ----------------------------------------------------------------------------

    def list_workflows(self, **query: Any) -> Call[list[dict[str, Any]]]:
        """Workflow definitions."""
        return listing("workflows", **query)

    def get_workflow(self, identifier: str, namespace: str | None = None) -> Call[dict[str, Any]]:
        """One workflow, by name or id."""
        return Call("GET", f"/workflows/{identifier}", query(namespace=namespace), read=read_one("workflows"))

    def create_workflows(self, definition: str, namespace: str | None = None,
                         scope: str | None = None) -> Call[list[dict[str, Any]]]:
        """Store the workflows of a YAML document; returns the list stored."""
        return Call("POST", "/workflows", query(namespace=namespace, scope=scope), text=definition,
                    read=read_many("workflows"))

    def update_workflows(self, definition: str, namespace: str | None = None, scope: str | None = None,
                         id: str | None = None) -> Call[list[dict[str, Any]]]:  # noqa: A002 - the API's name
        """Replace (or create) the workflows of a document; with ``id``, the one workflow with that
        id (returns a list either way)."""
        if id:
            return Call("PUT", f"/workflows/{id}", query(namespace=namespace, scope=scope),
                        text=definition, read=lambda body: [decode_item("workflows", body)])
        return Call("PUT", "/workflows", query(namespace=namespace, scope=scope), text=definition,
                    read=read_many("workflows"))

    def delete_workflow(self, identifier: str, namespace: str | None = None) -> Call[None]:
        """Delete a workflow definition."""
        return Call("DELETE", f"/workflows/{identifier}", query(namespace=namespace), read=read_nothing)

    def validate_workflow(self, definition: str) -> Call[dict[str, Any]]:
        """``{"valid": bool, "error": ..., "errors": [...]}``."""
        return Call("POST", "/workflows/validate", text=definition)

    # --- ad-hoc actions -----------------------------------------------------------------------

    def list_actions(self, **query: Any) -> Call[list[dict[str, Any]]]:
        """System and ad-hoc actions."""
        return listing("actions", **query)

    def get_action(self, identifier: str, namespace: str | None = None) -> Call[dict[str, Any]]:
        """One action, by name or id."""
        return Call("GET", f"/actions/{identifier}", query(namespace=namespace), read=read_one("actions"))

    def create_actions(self, definition: str, namespace: str | None = None,
                       scope: str | None = None) -> Call[list[dict[str, Any]]]:
        """Store the ad-hoc actions of a YAML document."""
        return Call("POST", "/actions", query(namespace=namespace, scope=scope), text=definition,
                    read=read_many("actions"))

    def update_actions(self, definition: str, namespace: str | None = None,
                       scope: str | None = None) -> Call[list[dict[str, Any]]]:
        """Replace (or create) the ad-hoc actions of a document."""
        return Call("PUT", "/actions", query(namespace=namespace, scope=scope), text=definition,
                    read=read_many("actions"))

    def delete_action(self, identifier: str, namespace: str | None = None) -> Call[None]:
        """Delete an ad-hoc action."""
        return Call("DELETE", f"/actions/{identifier}", query(namespace=namespace), read=read_nothing)

    def validate_action(self, definition: str) -> Call[dict[str, Any]]:
        """``{"valid": bool, "error": ..., "errors": [...]}``."""
        return Call("POST", "/actions/validate", text=definition)

    # --- executions ---------------------------------------------------------------------------

    def list_executions(self, **query: Any) -> Call[list[dict[str, Any]]]:
        """Executions (filters such as ``state``, ``workflow_name``, ``include_output``)."""
        return listing("executions", **query)

    def get_execution(self, execution_id: str) -> Call[dict[str, Any]]:
        """One execution (with ``published_global`` and ``progress``)."""
        return Call("GET", f"/executions/{execution_id}", read=read_one("executions"))

    def create_execution(self, workflow: str, input: dict[str, Any] | None = None,  # noqa: A002
                         params: dict[str, Any] | None = None, *, description: str | None = None,
                         namespace: str | None = None, id: str | None = None,  # noqa: A002
                         source_execution_id: str | None = None, env: Any = None) -> Call[dict[str, Any]]:
        """Start ``workflow`` (a name, or an id when it looks like a UUID). With an ``id`` that
        exists, that execution is returned (idempotent)."""
        params = dict(params or {})
        if env is not None:
            params["env"] = env
        body: dict[str, Any] = {"workflow_id" if looks_like_uuid(workflow) else "workflow_name": workflow}
        if not workflow:
            body = {}
        body.update({k: v for k, v in {
            "input": json.dumps(input) if input is not None else None,
            "params": json.dumps(params) if params else None,
            "description": description, "workflow_namespace": namespace, "id": id,
            "source_execution_id": source_execution_id}.items() if v is not None})
        return Call("POST", "/executions", json=body, read=read_one("executions"))

    def update_execution(self, execution_id: str, state: str | None = None, *, state_info: str | None = None,
                         description: str | None = None, env: dict[str, Any] | None = None) -> Call[dict[str, Any]]:
        """Pause (PAUSED), resume (RUNNING), cancel (CANCELLED), stop (SUCCESS/ERROR), describe or
        change the env."""
        body: dict[str, Any] = {k: v for k, v in {"state": state, "state_info": state_info,
                                                  "description": description}.items() if v is not None}
        if env is not None:
            body["params"] = {"env": env}
        return Call("PUT", f"/executions/{execution_id}", json=body, read=read_one("executions"))

    def delete_execution(self, execution_id: str, force: bool = False) -> Call[None]:
        """Delete a completed execution (any with ``force``)."""
        return Call("DELETE", f"/executions/{execution_id}", query(force=force or None), read=read_nothing)

    def list_sub_executions(self, execution_id: str, errors_only: bool = False, max_depth: int = -1,
                            include_output: bool = False) -> Call[list[dict[str, Any]]]:
        """Every execution below this one."""
        return Call("GET", f"/executions/{execution_id}/executions",
                    query(errors_only=errors_only or None, max_depth=max_depth,
                           include_output=include_output or None), read=read_many("executions"))

    def get_execution_history(self, execution_id: str) -> Call[list[dict[str, Any]]]:
        """An execution's event history, oldest first: dicts with ``id``, ``execution_id``,
        ``task_execution_id``, ``action_execution_id``, ``created_at``, ``kind``, ``payload``."""
        return Call("GET", f"/executions/{execution_id}/history", read=read_many("events"))

    # --- tasks --------------------------------------------------------------------------------

    def list_tasks(self, execution_id: str | None = None, **query: Any) -> Call[list[dict[str, Any]]]:
        """Tasks (of one execution when ``execution_id`` is given)."""
        path = f"/executions/{execution_id}/tasks" if execution_id else None
        return listing("tasks", path, **query)

    def get_task(self, task_id: str) -> Call[dict[str, Any]]:
        """One task (with ``result`` and ``published_global``)."""
        return Call("GET", f"/tasks/{task_id}", read=read_one("tasks"))

    def rerun_task(self, task_id: str, reset: bool = True, env: dict[str, Any] | None = None) -> Call[dict[str, Any]]:
        """Rerun a task in ERROR (``reset=False``: only the failed with-items items)."""
        body: dict[str, Any] = {"state": "RUNNING", "reset": reset}
        if env is not None:
            body["env"] = env
        return Call("PUT", f"/tasks/{task_id}", json=body, read=read_one("tasks"))

    def skip_task(self, task_id: str) -> Call[dict[str, Any]]:
        """Skip a task in ERROR."""
        return Call("PUT", f"/tasks/{task_id}", json={"state": "SKIPPED"}, read=read_one("tasks"))

    def list_task_workflow_executions(self, task_id: str) -> Call[list[dict[str, Any]]]:
        """Sub-workflow executions a task started."""
        return Call("GET", f"/tasks/{task_id}/workflow_executions", read=read_many("executions"))

    # --- action executions --------------------------------------------------------------------

    def list_action_executions(self, task_id: str | None = None, **query: Any) -> Call[list[dict[str, Any]]]:
        """Action executions (of one task when ``task_id`` is given)."""
        path = f"/tasks/{task_id}/action_executions" if task_id else None
        return listing("action_executions", path, **query)

    def get_action_execution(self, action_execution_id: str) -> Call[dict[str, Any]]:
        """One action execution (with ``output``)."""
        return Call("GET", f"/action_executions/{action_execution_id}", read=read_one("action_executions"))

    def update_action_execution(self, action_execution_id: str, state: str, output: Any = None,
                                token: str | None = None) -> Call[dict[str, Any]]:
        """Set an asynchronous action's state: SUCCESS (``output``: the result), ERROR (``output``:
        the error), CANCELLED, PAUSED or RUNNING. ``output`` may be any JSON value."""
        body: dict[str, Any] = {"state": state}
        if output is not None:
            body["output"] = output
        headers = {"Levante-Callback-Token": token} if token else {}
        return Call("PUT", f"/action_executions/{action_execution_id}", json=body, headers=headers,
                    read=read_one("action_executions"))

    def complete_action(self, action_execution_id: str, output: Any = None,
                        token: str | None = None) -> Call[dict[str, Any]]:
        """Complete an asynchronous action with SUCCESS and ``output`` as its result."""
        return self.update_action_execution(action_execution_id, "SUCCESS", output, token)

    def fail_action(self, action_execution_id: str, error: Any, token: str | None = None) -> Call[dict[str, Any]]:
        """Complete an asynchronous action with ERROR; ``error`` becomes its output."""
        return self.update_action_execution(action_execution_id, "ERROR", error, token)

    def heartbeat(self, action_execution_id: str, progress: Any = None,
                  token: str | None = None) -> Call[dict[str, Any]]:
        """Record that a running asynchronous action is alive (``progress``: any JSON value);
        ConflictError when it is already completed."""
        body = {"progress": progress} if progress is not None else {}
        headers = {"Levante-Callback-Token": token} if token else {}
        return Call("PUT", f"/action_executions/{action_execution_id}/heartbeat", json=body, headers=headers,
                    read=read_one("action_executions"))

    def run_action(self, name: str, input: dict[str, Any] | None = None, *,  # noqa: A002
                   run_sync: bool | None = None, save_result: bool | None = None, target: str | None = None,
                   description: str | None = None) -> Call[dict[str, Any]]:
        """Run a registered action on its own, outside any workflow. A synchronous action answers
        once it is done (``state`` SUCCESS or ERROR, ``output`` ``{"result": ...}``); an
        asynchronous one, or any with ``run_sync=False``, answers RUNNING: read it again with
        :meth:`get_action_execution`, or complete it through its callback. ``None`` leaves a
        parameter to the server (``run_sync`` defaults to whether the action is synchronous)."""
        params = {k: v for k, v in {"run_sync": run_sync, "save_result": save_result,
                                    "target": target}.items() if v is not None}
        body: dict[str, Any] = {"name": name, "input": json.dumps(input or {})}
        if params:
            body["params"] = json.dumps(params)
        if description is not None:
            body["description"] = description
        return Call("POST", "/action_executions", json=body, read=read_one("action_executions"))

    # --- environments -------------------------------------------------------------------------

    def list_environments(self, **query: Any) -> Call[list[dict[str, Any]]]:
        """Environments."""
        return listing("environments", **query)

    def get_environment(self, name: str) -> Call[dict[str, Any]]:
        """One environment."""
        return Call("GET", f"/environments/{name}", read=read_one("environments"))

    def create_environment(self, name: str, variables: dict[str, Any] | None = None,
                           description: str | None = None, scope: str | None = None) -> Call[dict[str, Any]]:
        """Store an environment; ConflictError when the name is taken."""
        body = {k: v for k, v in {"name": name, "variables": variables, "description": description,
                                  "scope": scope}.items() if v is not None}
        return Call("POST", "/environments", json=body, read=read_one("environments"))

    def update_environment(self, name: str, variables: dict[str, Any] | None = None,
                           description: str | None = None, scope: str | None = None) -> Call[dict[str, Any]]:
        """Change an environment."""
        body = {k: v for k, v in {"name": name, "variables": variables, "description": description,
                                  "scope": scope}.items() if v is not None}
        return Call("PUT", "/environments", json=body, read=read_one("environments"))

    def delete_environment(self, name: str) -> Call[None]:
        """Delete an environment."""
        return Call("DELETE", f"/environments/{name}", read=read_nothing)

    # --- cron triggers ------------------------------------------------------------------------

    def list_cron_triggers(self, **query: Any) -> Call[list[dict[str, Any]]]:
        """Cron triggers."""
        return listing("cron_triggers", **query)

    def get_cron_trigger(self, identifier: str) -> Call[dict[str, Any]]:
        """One cron trigger, by name or id."""
        return Call("GET", f"/cron_triggers/{identifier}", read=read_one("cron_triggers"))

    def create_cron_trigger(self, name: str, workflow: str, input: dict[str, Any] | None = None,  # noqa: A002
                            params: dict[str, Any] | None = None, *, pattern: str | None = None,
                            first_time: str | None = None, count: int | None = None,
                            scope: str | None = None, timezone: str | None = None) -> Call[dict[str, Any]]:
        """Start ``workflow`` on a cron ``pattern`` and/or once at ``first_time``
        (``YYYY-MM-DD HH:MM`` UTC); the pattern follows the wall clock of ``timezone`` (an IANA
        name such as ``Europe/Madrid``; UTC when None)."""
        body: dict[str, Any] = {
            "name": name, "workflow_id" if looks_like_uuid(workflow) else "workflow_name": workflow}
        body.update({k: v for k, v in {
            "workflow_input": input, "workflow_params": params, "pattern": pattern,
            "first_execution_time": first_time, "remaining_executions": count, "scope": scope,
            "timezone": timezone}.items()
            if v is not None})
        return Call("POST", "/cron_triggers", json=body, read=read_one("cron_triggers"))

    def delete_cron_trigger(self, identifier: str) -> Call[None]:
        """Delete a cron trigger."""
        return Call("DELETE", f"/cron_triggers/{identifier}", read=read_nothing)

    # --- API keys (admin keys only) -----------------------------------------------------------

    def list_api_keys(self) -> Call[list[dict[str, Any]]]:
        """Stored API keys: ``id``, ``name``, ``role``, ``created_at`` (never the key)."""
        return Call("GET", "/api_keys", read=read_many("api_keys"))

    def create_api_key(self, name: str, role: str | None = None) -> Call[dict[str, Any]]:
        """A new key (``role``: the server's default, ``user``, when not given). The answer's
        ``key`` is shown this once only."""
        body = {k: v for k, v in {"name": name, "role": role}.items() if v is not None}
        return Call("POST", "/api_keys", json=body)

    def delete_api_key(self, identifier: str) -> Call[None]:
        """Delete a key, by id or name."""
        return Call("DELETE", f"/api_keys/{identifier}", read=read_nothing)


#: Names of the operations, in the order above (the clients expose each as a method).
OPERATIONS = tuple(name for name in vars(Calls) if not name.startswith("_"))
