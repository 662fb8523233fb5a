"""NUL characters (U+0000) through the API and the engine, on SQLite.

tests/integration/api/test_pg_nul.py runs these same tests on PostgreSQL, which refuses NUL in text
and ``\\u0000`` in JSONB: data holding one (inputs, outputs, results, environment values, state
info) must work the same on both backends, and a name or a filter holding one must get a 400 that
says why, never a 500.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.functional.api.helpers import ASYNC_WF, Api, decoded

NUL = "\x00"
NUL_MESSAGE = "NUL character not allowed"

PUBLISH_WF = """\
version: '2.0'
{name}:
  input: [x]
  tasks:
    parse:
      action: std.noop
      publish:
        v: <% json_parse('"a\\\\u0000b"') %>
        also: <% $.x %>
      on-success: echo
    echo:
      action: std.echo output=<% $.x %>
      publish:
        echoed: <% task().result %>
  output:
    v: <% $.v %>
    x: <% $.x %>
    echoed: <% $.echoed %>
    env_k: <% env().k %>
"""

HTTP_WF = """\
version: '2.0'
{name}:
  input: [url]
  tasks:
    call:
      action: std.http url=<% $.url %>
      publish:
        content: <% task().result.content %>
  output:
    content: <% $.content %>
"""


class NulAnswer(BaseHTTPRequestHandler):
    """Answers every GET with the JSON ``{"v": "a\\u0000b", "k\\u0000": 1}``."""

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        body = b'{"v": "a\\u0000b", "k\\u0000": 1}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def nul_server() -> Iterator[str]:
    """A local HTTP server (127.0.0.1) whose JSON answer holds NUL characters; its URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), NulAnswer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/nul"
    finally:
        server.shutdown()
        server.server_close()


def _refused(resp: Any) -> str:
    assert resp.status_code == 400, resp.text
    assert NUL_MESSAGE in resp.json["faultstring"], resp.json
    return str(resp.json["faultstring"])


def test_published_json_parse_nul_input_and_env_value(api: Api, name: str) -> None:
    env = f"env_{uuid.uuid4().hex[:8]}"
    created = api.client.simulate_post("/v2/environments", json={
        "name": env, "variables": {"k": "e" + NUL, "k" + NUL: [NUL]}, "description": "d" + NUL})
    assert created.status_code == 201, created.text
    stored = api.get(f"/v2/environments/{env}")
    assert decoded(stored["variables"]) == {"k": "e" + NUL, "k" + NUL: [NUL]}
    assert stored["description"] == "d" + NUL

    api.upload("workflows", PUBLISH_WF.format(name=name))
    ex = api.start(name, {"x": "in" + NUL + "put"}, params={"env": env}, description="desc" + NUL)
    done = api.wait(ex["id"])
    assert done["state"] == "SUCCESS", done["state_info"]
    assert decoded(done["output"]) == {"v": "a" + NUL + "b", "x": "in" + NUL + "put", "env_k": "e" + NUL,
                                       "echoed": "in" + NUL + "put"}
    assert decoded(done["input"]) == {"x": "in" + NUL + "put"}
    assert done["description"] == "desc" + NUL
    task = api.task(ex["id"], "parse")
    assert decoded(task["published"]) == {"v": "a" + NUL + "b", "also": "in" + NUL + "put"}


def test_http_answer_with_nul(api: Api, name: str, nul_server: str) -> None:
    api.upload("workflows", HTTP_WF.format(name=name))
    ex = api.start(name, {"url": nul_server})
    done = api.wait(ex["id"])
    assert done["state"] == "SUCCESS", done["state_info"]
    assert decoded(done["output"]) == {"content": {"v": "a" + NUL + "b", "k" + NUL: 1}}


def test_callback_output_with_nul_completes_the_action(api: Api, name: str) -> None:
    api.upload("workflows", ASYNC_WF.format(name=name))
    ex = api.start(name)
    action = api.running_action(ex["id"], "wait")
    output = {"r": "a" + NUL + "b", "key" + NUL: ["\U0010fffd0", NUL * 3]}
    answer = api.put(f"/v2/action_executions/{action['id']}", {"state": "SUCCESS", "output": output})
    assert answer["state"] == "SUCCESS"
    done = api.wait(ex["id"])
    assert done["state"] == "SUCCESS", done["state_info"]
    detail = api.get(f"/v2/action_executions/{action['id']}")
    assert decoded(detail["output"]) == {"result": output}


def test_error_text_with_nul_is_kept_in_state_info(api: Api, name: str) -> None:
    api.upload("workflows", ASYNC_WF.format(name=name))
    ex = api.start(name)
    action = api.running_action(ex["id"], "wait")
    api.put(f"/v2/action_executions/{action['id']}", {"state": "ERROR", "output": "boom" + NUL + "!"})
    done = api.wait(ex["id"])
    assert done["state"] == "ERROR"
    assert "boom" + NUL + "!" in done["state_info"]
    assert "boom" + NUL + "!" in api.task(ex["id"], "wait")["state_info"]
    listed = api.get("/v2/executions", workflow_name=name)["executions"]
    assert [e["id"] for e in listed] == [ex["id"]]


DYNAMIC_WF = """\
version: '2.0'
{name}:
  tasks:
    call:
      {kind}: <% json_parse('"no\\\\u0000such"') %>
"""


@pytest.mark.parametrize("kind", ["workflow", "action"])
def test_dynamic_name_with_nul_fails_the_task(api: Api, name: str, kind: str) -> None:
    """A name computed at run time is looked up as it is: nothing has it, so the task fails with the
    usual "not found" error (which quotes the NUL), and the execution ends."""
    api.upload("workflows", DYNAMIC_WF.format(name=name, kind=kind))
    ex = api.start(name)
    done = api.wait(ex["id"])
    assert done["state"] == "ERROR"
    assert "no" + NUL + "such" in done["state_info"]


@pytest.mark.parametrize("what, text", [
    ("workflow", "version: '2.0'\n\"wf\\0{name}\":\n  tasks:\n    t:\n      action: std.noop\n"),
    ("task", "version: '2.0'\n{name}:\n  tasks:\n    \"t\\0\":\n      action: std.noop\n"),
])
def test_definition_names_with_nul_are_refused(api: Api, name: str, what: str, text: str) -> None:
    resp = api.client.simulate_post("/v2/workflows", body=text.format(name=name),
                                    headers={"Content-Type": "text/plain"})
    assert f"{what} name" in _refused(resp)


def test_workbook_and_action_names_with_nul_are_refused(api: Api, name: str) -> None:
    workbook = (f"version: '2.0'\nname: \"wb\\0{name}\"\n"
                "workflows:\n  w:\n    tasks:\n      t:\n        action: std.noop\n")
    resp = api.client.simulate_post("/v2/workbooks", body=workbook, headers={"Content-Type": "text/plain"})
    assert "workbook name" in _refused(resp)
    actions = f"version: '2.0'\n\"a\\0{name}\":\n  base: std.noop\n"
    resp = api.client.simulate_post("/v2/actions", body=actions, headers={"Content-Type": "text/plain"})
    assert "action name" in _refused(resp)


@pytest.mark.parametrize("path, body", [
    ("/v2/environments", {"name": "e" + NUL, "variables": {}}),
    ("/v2/executions", {"workflow_name": "w" + NUL}),
    ("/v2/executions", {"workflow_name": "w", "workflow_namespace": "n" + NUL}),
    ("/v2/cron_triggers", {"name": "c" + NUL, "workflow_name": "w", "pattern": "* * * * *"}),
    ("/v2/action_executions", {"name": "std.noop" + NUL}),
])
def test_body_names_with_nul_are_refused(api: Api, path: str, body: dict[str, Any]) -> None:
    _refused(api.client.simulate_post(path, json=body))


@pytest.mark.parametrize("path, query", [
    ("/v2/executions", "workflow_name=a%00b"),
    ("/v2/executions", "state_info=x%00"),
    ("/v2/executions", "workflow_name=in:a,b%00"),
    ("/v2/executions", "marker=%00"),
    ("/v2/tasks", "name=t%00"),
    ("/v2/action_executions", "task_execution_id=%00"),
    ("/v2/workflows", "namespace=%00"),
    ("/v2/environments", "name=%00"),
    ("/v2/executions/a%00b", ""),
    ("/v2/environments/e%00", ""),
    ("/v2/workflows/w%00", ""),
])
def test_filters_and_ids_with_nul_are_refused(api: Api, path: str, query: str) -> None:
    _refused(api.client.simulate_get(path, query_string=query))


def test_put_with_nul_in_the_path_is_refused(api: Api) -> None:
    resp = api.client.simulate_put("/v2/action_executions/x%00", body=json.dumps({"state": "SUCCESS"}),
                                   headers={"Content-Type": "application/json"})
    _refused(resp)
