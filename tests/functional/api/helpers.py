"""Helpers of the API tests: a thin client over falcon's TestClient, and sample workflows."""

from __future__ import annotations

import json
import time
from typing import Any, Callable

import falcon.testing

from levante.node import Node

#: Bodies above this answer 413 in these tests.
MAX_BODY = 64 * 1024
#: Accepted as an admin key by the auth-on app (``auth_client``).
ADMIN_KEY = "test-admin-key-0123456789"


class Api:
    """Small helpers over the TestClient."""

    def __init__(self, client: falcon.testing.TestClient, node: Node) -> None:
        self.client = client
        self.node = node

    def upload(self, collection: str, text: str, method: str = "POST", status: int = 201,
               **params: str) -> Any:
        resp = self.client.simulate_request(method, f"/v2/{collection}", body=text,
                                            headers={"Content-Type": "text/plain"}, params=params or None)
        assert resp.status_code == status, resp.text
        return resp.json

    def start(self, workflow: str, wf_input: Any = None, status: int = 201, **body: Any) -> dict[str, Any]:
        payload = {"workflow_name": workflow, **body}
        if wf_input is not None:
            payload["input"] = wf_input
        resp = self.client.simulate_post("/v2/executions", json=payload)
        assert resp.status_code == status, resp.text
        return resp.json

    def get(self, path: str, status: int = 200, **params: Any) -> Any:
        resp = self.client.simulate_get(path, params=params or None)
        assert resp.status_code == status, resp.text
        return resp.json

    def put(self, path: str, body: dict[str, Any], status: int = 200) -> Any:
        resp = self.client.simulate_put(path, json=body)
        assert resp.status_code == status, resp.text
        return resp.json

    def wait(self, execution_id: str, timeout: float = 15.0) -> dict[str, Any]:
        """Wait for the execution to end; return its API view."""
        self.node.service.wait(execution_id, timeout)
        return self.get(f"/v2/executions/{execution_id}")

    def wait_for(self, check: Callable[[], Any], timeout: float = 15.0) -> Any:
        """Poll ``check`` until it returns something truthy."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = check()
            if found:
                return found
            time.sleep(0.02)
        raise AssertionError("timed out waiting")

    def tasks(self, execution_id: str) -> list[dict[str, Any]]:
        return self.get(f"/v2/executions/{execution_id}/tasks")["tasks"]

    def task(self, execution_id: str, task_name: str) -> dict[str, Any] | None:
        found = [t for t in self.tasks(execution_id) if t["name"] == task_name]
        return found[-1] if found else None

    def running_action(self, execution_id: str, task_name: str) -> dict[str, Any]:
        """Wait for a RUNNING action execution of the task; return it."""
        def find() -> Any:
            task = self.task(execution_id, task_name)
            if task is None:
                return None
            acts = self.get(f"/v2/tasks/{task['id']}/action_executions")["action_executions"]
            running = [a for a in acts if a["state"] == "RUNNING"]
            return running[0] if running else None
        return self.wait_for(find)


def decoded(value: str) -> Any:
    """A JSON-typed field (JSON text on the wire)."""
    assert isinstance(value, str), f"expected JSON text, got {value!r}"
    return json.loads(value)


ASYNC_WF = """\
version: '2.0'
{name}:
  tasks:
    wait:
      action: std.async_noop
      on-success: [after]
    after:
      action: std.echo output=<% task(wait).result %>
"""

ECHO_WF = """\
version: '2.0'
{name}:
  input:
    - who
    - greeting: Hello
  output:
    said: <% $.said %>
  tasks:
    say:
      action: std.echo output="<% $.greeting %>, <% $.who %>"
      publish:
        said: <% task().result %>
"""

FAIL_WF = """\
version: '2.0'
{name}:
  tasks:
    broken:
      action: std.fail
"""


def callback_token(node: Node, action_execution_id: str) -> str:
    """The callback token the engine sent to the executor with the action (read from the outbox)."""
    from sqlalchemy import select

    from levante.db.models import OutboxMessage
    from levante.db.session import transaction

    with transaction(node.read_factory) as session:
        for payload in session.scalars(select(OutboxMessage.payload).order_by(OutboxMessage.id.desc())):
            if payload.get("action_execution_id") == action_execution_id:
                return payload["info"]["callback_token"]
    raise AssertionError(f"no outbox message for action {action_execution_id}")
