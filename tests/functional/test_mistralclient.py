"""The real ``mistral`` command (python-mistralclient) against a real ``levante server`` process.

One server (``--port 0``, temporary SQLite) is started for the module; every command runs as
``mistral --os-mistral-url http://127.0.0.1:PORT/v2 ... -f json``. With ``--os-mistral-url`` and no
``OS_AUTH_URL`` mistralclient talks to the URL directly and skips keystone: the ``OS_*`` variables
are removed from the command's environment so that a developer's OpenStack settings do not leak in.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.functional.servers import wait_ready

REPO = Path(__file__).resolve().parents[2]
MISTRAL = shutil.which("mistral")

pytestmark = pytest.mark.skipif(MISTRAL is None, reason="python-mistralclient is not installed (test extra)")

WORKFLOWS = """\
version: '2.0'
mc_echo:
  input:
    - x: 1
  tasks:
    t1:
      action: std.echo output=<% $.x %>
      publish:
        y: <% task().result %>
  output:
    y: <% $.y %>
mc_async:
  tasks:
    wait:
      action: std.async_noop
      publish:
        got: <% task().result %>
      on-success: [after]
    after:
      action: std.noop
  output:
    got: <% $.got %>
mc_fail:
  tasks:
    bad:
      action: std.fail
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    tmp = tmp_path_factory.mktemp("mistralclient")
    out, err = tmp / "server.out", tmp / "server.err"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEVANTE_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    command = [sys.executable, "-m", "levante", "server", "--port", "0",
               "--db", f"sqlite:///{tmp / 'levante.db'}"]
    with out.open("wb") as stdout, err.open("wb") as stderr:
        proc = subprocess.Popen(command, stdout=stdout, stderr=stderr, env=env, cwd=tmp)
    try:
        yield wait_ready(proc, out, err), tmp
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def mistral(server: tuple[str, Path]) -> Callable[..., Any]:
    url, tmp = server
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}

    def run(*args: str, as_json: bool = True) -> Any:
        command = [str(MISTRAL), "--os-mistral-url", url, *args]
        if as_json:
            command += ["-f", "json"]
        done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp, timeout=60)
        assert done.returncode == 0, f"{' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
        if as_json:
            return json.loads(done.stdout)
        try:  # the get-output/-result commands print the JSON document, then cliff's (empty) table
            return json.JSONDecoder().raw_decode(done.stdout.lstrip())[0]
        except ValueError:
            return done.stdout

    return run


@pytest.fixture(scope="module")
def workflows(mistral: Callable[..., Any], server: tuple[str, Path]) -> list[dict[str, Any]]:
    path = server[1] / "workflows.yaml"
    path.write_text(WORKFLOWS)
    return mistral("workflow-create", str(path))


def _wait_state(mistral: Callable[..., Any], ex_id: str, states: tuple[str, ...],
                timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        ex = mistral("execution-get", ex_id)
        if ex["State"] in states or time.monotonic() > deadline:
            return ex
        time.sleep(0.2)


def _async_action(mistral: Callable[..., Any], ex_id: str) -> dict[str, Any]:
    """The running std.async_noop action of execution ``ex_id``."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        tasks = {t["Name"]: t for t in mistral("task-list", ex_id)}
        if "wait" in tasks:
            actions = mistral("action-execution-list", tasks["wait"]["ID"])
            if actions and actions[0]["State"] == "RUNNING":
                return actions[0]
        time.sleep(0.2)
    raise AssertionError(f"no running async action in execution {ex_id}")


def test_workflow_create_and_list(mistral: Callable[..., Any], workflows: list[dict[str, Any]]) -> None:
    created = {w["Name"]: w for w in workflows}
    assert set(created) == {"mc_echo", "mc_async", "mc_fail"}
    assert created["mc_echo"]["Input"] == "x=1"
    listed = {w["Name"]: w for w in mistral("workflow-list")}
    assert {n: listed[n]["ID"] for n in created} == {n: w["ID"] for n, w in created.items()}
    assert mistral("workflow-get", "mc_echo")["Name"] == "mc_echo"
    assert "std.echo" in mistral("workflow-get-definition", "mc_echo", as_json=False)


def test_execution_create_get_output_tasks_actions(mistral: Callable[..., Any],
                                                   workflows: list[dict[str, Any]]) -> None:
    ex = mistral("execution-create", "mc_echo", '{"x": 5}')
    assert ex["Workflow name"] == "mc_echo"
    assert ex["State"] in ("RUNNING", "SUCCESS")
    done = _wait_state(mistral, ex["ID"], ("SUCCESS", "ERROR"))
    assert done["State"] == "SUCCESS", done
    assert done["ID"] == ex["ID"]
    assert mistral("execution-get-output", ex["ID"], as_json=False) == {"y": 5}
    assert mistral("execution-get-input", ex["ID"], as_json=False) == {"x": 5}
    assert ex["ID"] in [e["ID"] for e in mistral("execution-list")]
    tasks = mistral("task-list", ex["ID"])
    assert [(t["Name"], t["State"], t["Workflow Execution ID"]) for t in tasks] == [("t1", "SUCCESS", ex["ID"])]
    assert mistral("task-get-published", tasks[0]["ID"], as_json=False) == {"y": 5}
    assert mistral("task-get-result", tasks[0]["ID"], as_json=False) == 5
    actions = mistral("action-execution-list", tasks[0]["ID"])
    assert [(a["Name"], a["State"], a["Task name"]) for a in actions] == [("std.echo", "SUCCESS", "t1")]
    assert mistral("action-execution-get-output", actions[0]["ID"], as_json=False) == {"result": 5}
    everything = mistral("action-execution-list")
    assert actions[0]["ID"] in [a["ID"] for a in everything]


def test_pause_resume_and_complete_an_async_action(mistral: Callable[..., Any],
                                                   workflows: list[dict[str, Any]]) -> None:
    ex = mistral("execution-create", "mc_async")
    action = _async_action(mistral, ex["ID"])
    assert mistral("execution-update", ex["ID"], "-s", "PAUSED")["State"] == "PAUSED"
    assert mistral("execution-get", ex["ID"])["State"] == "PAUSED"
    assert mistral("execution-update", ex["ID"], "-s", "RUNNING")["State"] == "RUNNING"
    updated = mistral("action-execution-update", action["ID"], "--state", "SUCCESS",
                      "--output", '{"k": 1}')
    assert updated["ID"] == action["ID"]
    assert updated["State"] == "SUCCESS"
    done = _wait_state(mistral, ex["ID"], ("SUCCESS", "ERROR"))
    assert done["State"] == "SUCCESS", done
    assert mistral("execution-get-output", ex["ID"], as_json=False) == {"got": {"k": 1}}
    assert {t["Name"]: t["State"] for t in mistral("task-list", ex["ID"])} == {"wait": "SUCCESS",
                                                                              "after": "SUCCESS"}


def test_cancel(mistral: Callable[..., Any], workflows: list[dict[str, Any]]) -> None:
    ex = mistral("execution-create", "mc_async")
    _async_action(mistral, ex["ID"])
    assert mistral("execution-update", ex["ID"], "-s", "CANCELLED")["State"] == "CANCELLED"
    assert _wait_state(mistral, ex["ID"], ("CANCELLED",))["State"] == "CANCELLED"


def test_task_rerun(mistral: Callable[..., Any], workflows: list[dict[str, Any]]) -> None:
    ex = mistral("execution-create", "mc_fail")
    failed = _wait_state(mistral, ex["ID"], ("ERROR", "SUCCESS"))
    assert failed["State"] == "ERROR"
    (task,) = mistral("task-list", ex["ID"])
    assert task["State"] == "ERROR"
    assert "Fail action expected exception" in mistral("task-get", task["ID"])["State info"]
    rerun = mistral("task-rerun", task["ID"])
    assert rerun["ID"] == task["ID"]
    # std.fail fails again: a second action execution, and the workflow back in ERROR.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        actions = mistral("action-execution-list", task["ID"])
        if len(actions) == 2 and all(a["State"] == "ERROR" for a in actions):
            break
        time.sleep(0.2)
    assert [a["State"] for a in actions] == ["ERROR", "ERROR"]
    assert _wait_state(mistral, ex["ID"], ("ERROR",))["State"] == "ERROR"
