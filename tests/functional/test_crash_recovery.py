"""kill -9 of a one-process ``levante server`` (SQLite) while synchronous actions run, then a restart
on the same database file: every action that was in flight is run again when its task is
``safe-rerun``, and otherwise fails with an error saying the process running it died; each execution
then follows its ``on-error`` path and ends. (Before, the outbox row was marked sent when the
request was handed to the in-process pool and the result lived only in memory: such actions stayed
RUNNING for ever.)"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.functional.servers import wait_ready

WORKFLOWS = """
version: '2.0'
unsafe:
  tasks:
    nap:
      action: std.sleep seconds=4
      on-error: [recover]
    recover:
      action: std.echo output="recovered"
      publish: {recovered: <% task().result %>}
safe:
  tasks:
    nap:
      action: std.sleep seconds=2
      safe-rerun: true
      publish: {napped: true}
items:
  tasks:
    each:
      with-items: i in <% [1, 2, 3, 4] %>
      action: std.sleep seconds=2
      safe-rerun: true
      publish: {count: <% task().result.len() %>}
windowed:
  tasks:
    each:
      with-items: i in <% range(24) %>
      action: std.echo
      input: {output: <% $.i * 10 %>, delay: 0.5}
      safe-rerun: true
      publish: {results: <% task().result %>}
"""


class Server:
    """A ``levante server`` subprocess on one SQLite file, started and killed at will."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.env = {**os.environ, "LEVANTE_DB_URL": f"sqlite:///{tmp_path / 'levante.db'}",
                    "LEVANTE_EXECUTOR_THREADS": "8"}
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.runs = 0

    def start(self) -> str:
        self.runs += 1
        out, err = self.tmp_path / f"out{self.runs}", self.tmp_path / f"err{self.runs}"
        with open(out, "wb") as stdout, open(err, "wb") as stderr:
            self.proc = subprocess.Popen([sys.executable, "-m", "levante", "server", "--port", "0"],
                                         env=self.env, stdout=stdout, stderr=stderr, cwd=self.tmp_path)
        self.url = wait_ready(self.proc, out, err)
        return self.url

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    srv = Server(tmp_path)
    try:
        yield srv
    finally:
        srv.stop()


def _call(method: str, url: str, body: Any = None, text: bool = False) -> Any:
    data = None if body is None else (body.encode() if text else json.dumps(body).encode())
    headers = {} if body is None else {"Content-Type": "text/plain" if text else "application/json"}
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    with urllib.request.urlopen(request, timeout=30) as resp:
        return json.loads(resp.read())


def _running_actions(url: str) -> list[dict[str, Any]]:
    found = _call("GET", f"{url}/action_executions?state=RUNNING")["action_executions"]
    return [a for a in found if a["name"] == "std.sleep"]


def _wait_done(url: str, ids: list[str], timeout: float = 60.0) -> dict[str, dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        found = {i: _call("GET", f"{url}/executions/{i}") for i in ids}
        if all(e["state"] not in ("RUNNING", "IDLE") for e in found.values()) or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def _tasks(url: str, execution_id: str) -> dict[str, dict[str, Any]]:
    return {t["name"]: t for t in _call("GET", f"{url}/executions/{execution_id}/tasks")["tasks"]}


def test_actions_in_flight_at_a_kill_are_rerun_or_failed_after_the_restart(server: Server) -> None:
    url = server.start()
    _call("POST", f"{url}/workflows", WORKFLOWS, text=True)
    ids = {name: _call("POST", f"{url}/executions", {"workflow_name": name})["id"]
           for name in ("unsafe", "safe", "items")}
    deadline = time.monotonic() + 30
    while len(_running_actions(url)) < 6 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(_running_actions(url)) == 6  # 1 + 1 + 4 items, all sleeping now
    server.kill()

    url = server.start()
    done = _wait_done(url, list(ids.values()))
    states = {name: done[i]["state"] for name, i in ids.items()}
    assert states == {"unsafe": "SUCCESS", "safe": "SUCCESS", "items": "SUCCESS"}, done

    unsafe = _tasks(url, ids["unsafe"])
    assert unsafe["nap"]["state"] == "ERROR"
    assert "died" in unsafe["nap"]["state_info"] and "cannot be re-run safely" in unsafe["nap"]["state_info"]
    assert unsafe["recover"]["state"] == "SUCCESS"
    assert json.loads(done[ids["safe"]]["output"]) == {"napped": True}
    assert json.loads(done[ids["items"]]["output"]) == {"count": 4}
    # Nothing is left running anywhere.
    assert _call("GET", f"{url}/action_executions?state=RUNNING")["action_executions"] == []


def test_a_with_items_task_over_more_items_than_its_window_ends_after_a_kill(server: Server) -> None:
    """Killed after some items ran and while a window of others runs (their items kept in chunks):
    after the restart the running ones run again and the rest start from the kept chunks."""
    server.env["LEVANTE_WITH_ITEMS_WINDOW"] = "3"
    url = server.start()
    _call("POST", f"{url}/workflows", WORKFLOWS, text=True)
    ex_id = _call("POST", f"{url}/executions", {"workflow_name": "windowed"})["id"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        actions = _call("GET", f"{url}/action_executions?workflow_execution_id={ex_id}")["action_executions"]
        if sum(a["state"] == "SUCCESS" for a in actions) >= 3 and any(a["state"] == "RUNNING" for a in actions):
            break
        time.sleep(0.05)
    assert sum(a["state"] == "RUNNING" for a in actions) <= 3
    assert len(actions) < 24, [a["state"] for a in actions]  # some items had not started yet (8 waves of 0.5 s)
    server.kill()

    url = server.start()
    done = _wait_done(url, [ex_id])[ex_id]
    assert done["state"] == "SUCCESS", done
    assert json.loads(done["output"]) == {"results": [i * 10 for i in range(24)]}
    assert _call("GET", f"{url}/action_executions?state=RUNNING")["action_executions"] == []


def test_an_async_action_called_before_a_kill_still_waits_for_its_callback(server: Server) -> None:
    url = server.start()
    _call("POST", f"{url}/workflows", "version: '2.0'\nwait:\n  tasks:\n    w:\n      action: std.async_noop\n",
          text=True)
    ex = _call("POST", f"{url}/executions", {"workflow_name": "wait"})
    deadline = time.monotonic() + 30
    actions: list[dict[str, Any]] = []
    while not actions and time.monotonic() < deadline:
        actions = _call("GET", f"{url}/action_executions?state=RUNNING")["action_executions"]
        time.sleep(0.05)
    time.sleep(0.5)  # the call is made and its outbox row marked: a restart must not send it again
    server.kill()

    url = server.start()
    time.sleep(1.0)
    [action] = actions
    assert _call("GET", f"{url}/action_executions/{action['id']}")["state"] == "RUNNING"
    _call("PUT", f"{url}/action_executions/{action['id']}", {"state": "SUCCESS", "output": "done"})
    assert _wait_done(url, [ex["id"]])[ex["id"]]["state"] == "SUCCESS"
