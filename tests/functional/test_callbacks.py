"""The asynchronous action story end to end: a real ``levante server`` calls a third party with
``std.mistral_http``; the third party checks the headers and completes the action through the
callback URL it was given; the workflow goes on."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

WORKFLOW = """
version: '2.0'
approval:
  input: [url]
  output: {decision: <% $.decision %>}
  tasks:
    ask:
      action: std.mistral_http
      input:
        url: <% $.url %>
        method: POST
        json: {document: contract-42}
      publish: {decision: <% task().result %>}
      on-success: notify
    notify:
      action: std.echo output="<% $.decision.verdict %>"
"""


class ThirdParty(ThreadingHTTPServer):
    """Answers 202 at once, then completes the action through its callback URL (as a real
    approval service would, later and from elsewhere)."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[dict[str, Any]] = []
        self.callbacks: list[int] = []


class _Handler(BaseHTTPRequestHandler):
    server: ThirdParty

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append({"headers": dict(self.headers), "body": body})
        self.send_response(202)
        self.end_headers()
        threading.Thread(target=self._complete, args=(self.headers["Mistral-Callback-URL"],)).start()

    def _complete(self, url: str) -> None:
        time.sleep(0.2)
        data = json.dumps({"state": "SUCCESS", "output": {"verdict": "approved"}}).encode()
        req = urllib.request.Request(url, data=data, method="PUT", headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            self.server.callbacks.append(resp.status)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    env = {**os.environ, "LEVANTE_DB_URL": f"sqlite:///{tmp_path / 'levante.db'}"}
    out = open(tmp_path / "server.out", "w+b")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([sys.executable, "-m", "levante", "server", "--port", "0"], env=env,
                            stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        base = None
        while time.monotonic() < deadline and base is None:
            found = re.search(rb"serving on (http://\S+/v2)", (tmp_path / "server.out").read_bytes())
            base = found.group(1).decode() if found else None
            time.sleep(0.1)
        assert base, (tmp_path / "server.out").read_text()
        yield base
    finally:
        proc.terminate()
        proc.wait(15)
        out.close()


def _call(method: str, url: str, body: Any = None, text: bool = False) -> Any:
    data = None if body is None else (body.encode() if text else json.dumps(body).encode())
    headers = {} if body is None else {"Content-Type": "text/plain" if text else "application/json"}
    with urllib.request.urlopen(urllib.request.Request(url, data=data, method=method, headers=headers),
                                timeout=10) as resp:
        return json.loads(resp.read())


def test_third_party_completes_the_action_through_its_callback_url(server: str) -> None:
    third = ThirdParty()
    threading.Thread(target=third.serve_forever, daemon=True).start()
    try:
        _call("POST", f"{server}/workflows", WORKFLOW, text=True)
        url = f"http://127.0.0.1:{third.server_address[1]}/approve"
        ex = _call("POST", f"{server}/executions", {"workflow_name": "approval", "input": {"url": url}})
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            ex = _call("GET", f"{server}/executions/{ex['id']}")
            if ex["state"] != "RUNNING":
                break
            time.sleep(0.1)
    finally:
        third.shutdown()
    assert ex["state"] == "SUCCESS", ex["state_info"]
    assert json.loads(ex["output"]) == {"decision": {"verdict": "approved"}}
    [request] = third.requests
    headers = request["headers"]
    tasks = {t["name"]: t for t in _call("GET", f"{server}/executions/{ex['id']}/tasks")["tasks"]}
    [action] = _call("GET", f"{server}/tasks/{tasks['ask']['id']}/action_executions")["action_executions"]
    assert request["body"] == {"document": "contract-42"}
    assert headers["Mistral-Workflow-Name"] == "approval"
    assert headers["Mistral-Workflow-Execution-Id"] == ex["id"]
    assert headers["Mistral-Task-Id"] == tasks["ask"]["id"]
    assert headers["Mistral-Action-Execution-Id"] == action["id"]
    assert headers["Mistral-Callback-URL"] == f"{server}/action_executions/{action['id']}"
    assert third.callbacks == [200]
    assert tasks["notify"]["state"] == "SUCCESS"
