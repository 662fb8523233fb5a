"""The real ``mistral`` command (python-mistralclient) against a real ``levante server`` with auth on.

One server (``--port 0``, temporary SQLite, ``LEVANTE_AUTH=true`` with an admin key) serves the
module. The client is set up as the README says: ``OS_MISTRAL_URL`` (the API), ``OS_AUTH_URL``
(Levante's own ``/identity/v3``, which hands the key back as the token) and ``OS_AUTH_TOKEN`` (the
API key); it sends the key as ``X-Auth-Token``. A developer's other ``OS_*`` variables are removed.

Every execution, task, action-execution, workflow, workbook, environment and cron-trigger command
runs here. They run through tests/functional/mistral_worker.py, which calls the executable's
``main`` once per command in one long-lived process (one import instead of sixty); the tests of
authentication run the ``mistral`` executable itself.
"""

from __future__ import annotations

import json
import os
import secrets
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
WORKER = Path(__file__).with_name("mistral_worker.py")

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
      on-success:
        publish:
          global:
            g: <% task().result * 2 %>
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
    stage: <% env().stage %>
mc_fail:
  tasks:
    bad:
      action: std.fail
mc_parent:
  tasks:
    call:
      workflow: mc_fail
"""

WORKBOOK = """\
version: '2.0'
name: mc_book
description: {description}
workflows:
  main:
    tasks:
      t:
        action: std.echo output="from the book"
"""

Mistral = Callable[..., Any]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, Path]]:
    """``(API URL, admin key, folder)`` of a ``levante server`` with auth on."""
    tmp = tmp_path_factory.mktemp("mistralclient")
    key = "lvk_" + secrets.token_urlsafe(16)
    out, err = tmp / "server.out", tmp / "server.err"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEVANTE_")}
    env.update(LEVANTE_AUTH="true", LEVANTE_ADMIN_KEY=key)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    command = [sys.executable, "-m", "levante", "server", "--port", "0",
               "--db", f"sqlite:///{tmp / 'levante.db'}"]
    with out.open("wb") as stdout, err.open("wb") as stderr:
        proc = subprocess.Popen(command, stdout=stdout, stderr=stderr, env=env, cwd=tmp)
    try:
        yield wait_ready(proc, out, err), key, tmp
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def client_env(url: str, key: str) -> dict[str, str]:
    """The environment the README gives ``mistral`` for an authenticated Levante."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_") and k != "MISTRAL_AUTH_TYPE"}
    env.update(OS_MISTRAL_URL=url, OS_AUTH_URL=url.removesuffix("/v2") + "/identity/v3", OS_AUTH_TOKEN=key)
    return env


@pytest.fixture(scope="module")
def mistral(server: tuple[str, str, Path]) -> Iterator[Mistral]:
    """Runs one ``mistral`` command: ``mistral(*args, as_json=True, ok=True)``. With ``as_json``,
    ``-f json`` is added and the output parsed; without, the JSON document a ``get-output``-like
    command prints first, or the text. ``ok=False`` returns ``(exit status, stdout, stderr)``."""
    url, key, tmp = server
    worker = subprocess.Popen([sys.executable, str(WORKER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True, env=client_env(url, key), cwd=tmp)
    assert worker.stdin is not None and worker.stdout is not None

    def run(*args: str, as_json: bool = True, ok: bool = True) -> Any:
        argv = [*args, "-f", "json"] if as_json else list(args)
        worker.stdin.write(json.dumps(argv) + "\n")
        worker.stdin.flush()
        done = json.loads(worker.stdout.readline())
        if not ok:
            return done["rc"], done["stdout"], done["stderr"]
        assert done["rc"] == 0, f"mistral {' '.join(args)} failed ({done['rc']}):\n{done['stdout']}\n{done['stderr']}"
        if as_json:
            return json.loads(done["stdout"])
        try:  # the get-output/-result commands print the JSON document, then cliff's (empty) table
            return json.JSONDecoder().raw_decode(done["stdout"].lstrip())[0]
        except ValueError:
            return done["stdout"]

    yield run
    worker.stdin.close()
    worker.wait(timeout=30)


@pytest.fixture(scope="module")
def folder(server: tuple[str, str, Path]) -> Path:
    return server[2]


@pytest.fixture(scope="module")
def workflows(mistral: Mistral, folder: Path) -> list[dict[str, Any]]:
    path = folder / "workflows.yaml"
    path.write_text(WORKFLOWS)
    return mistral("workflow-create", str(path))


def _wait_state(mistral: Mistral, ex_id: str, states: tuple[str, ...], timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        ex = mistral("execution-get", ex_id)
        if ex["State"] in states or time.monotonic() > deadline:
            return ex
        time.sleep(0.2)


def _async_action(mistral: Mistral, ex_id: str) -> dict[str, Any]:
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


# --- authentication, with the mistral executable itself -------------------------------------


def _executable(server: tuple[str, str, Path], *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(MISTRAL), *args], capture_output=True, text=True, env=env, cwd=server[2],
                          timeout=60)


def test_the_executable_gets_in_with_the_key_as_token_or_password(server: tuple[str, str, Path],
                                                                  workflows: list[dict[str, Any]]) -> None:
    url, key, _ = server
    env = client_env(url, key)
    listed = _executable(server, "workflow-list", "-f", "value", "-c", "Name", env=env)
    assert listed.returncode == 0, listed.stderr
    assert {"mc_echo", "mc_fail"} <= set(listed.stdout.split())
    bare = {k: v for k, v in env.items() if k not in ("OS_AUTH_TOKEN", "OS_AUTH_URL")}
    flags = _executable(server, "--os-auth-url", env["OS_AUTH_URL"], "--os-auth-token", key,
                        "workflow-get", "mc_echo", "-f", "value", "-c", "Name", env=bare)
    assert (flags.returncode, flags.stdout.strip()) == (0, "mc_echo"), flags.stderr
    password = _executable(server, "--os-auth-url", env["OS_AUTH_URL"], "--os-username", "me", "--os-password", key,
                           "workflow-get", "mc_echo", "-f", "value", "-c", "Name", env=bare)
    assert (password.returncode, password.stdout.strip()) == (0, "mc_echo"), password.stderr


def test_the_executable_is_refused_without_a_valid_key(server: tuple[str, str, Path],
                                                       workflows: list[dict[str, Any]]) -> None:
    url, _, _ = server
    wrong = _executable(server, "workflow-list", env=client_env(url, "lvk_wrong"))
    assert wrong.returncode == 1
    assert "The API key is not valid" in wrong.stderr
    no_key = {k: v for k, v in client_env(url, "x").items() if k not in ("OS_AUTH_TOKEN", "OS_AUTH_URL")}
    anonymous = _executable(server, "workflow-list", env=no_key)
    assert anonymous.returncode == 1
    assert "An API key is required" in anonymous.stderr


# --- workflows and workbooks ------------------------------------------------------------------


def test_workflow_commands(mistral: Mistral, workflows: list[dict[str, Any]], folder: Path) -> None:
    created = {w["Name"]: w for w in workflows}
    assert set(created) == {"mc_echo", "mc_async", "mc_fail", "mc_parent"}
    assert created["mc_echo"]["Input"] == "x=1"
    listed = {w["Name"]: w for w in mistral("workflow-list")}
    assert {n: listed[n]["ID"] for n in created} == {n: w["ID"] for n, w in created.items()}
    # Literal: as a LIKE pattern, '_e' would match mc_parent too.
    assert [w["Name"] for w in mistral("workflow-list", "--filter", "name=has:_e")] == ["mc_echo"]
    assert mistral("workflow-get", "mc_echo")["Name"] == "mc_echo"
    assert mistral("workflow-get", created["mc_echo"]["ID"])["Name"] == "mc_echo"
    assert "std.echo" in mistral("workflow-get-definition", "mc_echo", as_json=False)
    extra = folder / "extra.yaml"
    extra.write_text("version: '2.0'\nmc_extra:\n  tasks:\n    t: {action: std.noop}\n")
    assert mistral("workflow-validate", str(extra)) == {"Valid": True, "Error": None}
    broken = folder / "broken.yaml"
    broken.write_text("version: '2.0'\nmc_broken:\n  tasks:\n    t: {action: std.noop, on-success: [nowhere]}\n")
    invalid = mistral("workflow-validate", str(broken))
    assert invalid["Valid"] is False and "nowhere" in invalid["Error"]
    assert [w["Name"] for w in mistral("workflow-create", str(extra))] == ["mc_extra"]
    extra.write_text("version: '2.0'\nmc_extra:\n  input: [z]\n  tasks:\n    t: {action: std.noop}\n")
    assert [w["Input"] for w in mistral("workflow-update", str(extra))] == ["z"]
    assert "Request to delete workflow mc_extra has been accepted." in mistral(
        "workflow-delete", "mc_extra", as_json=False)
    code, _, err = mistral("workflow-get", "mc_extra", ok=False)
    assert code == 1 and "mc_extra" in err


def test_workbook_commands(mistral: Mistral, folder: Path) -> None:
    path = folder / "book.yaml"
    path.write_text(WORKBOOK.format(description="first"))
    assert mistral("workbook-validate", str(path)) == {"Valid": True, "Error": None}
    created = mistral("workbook-create", str(path))
    assert created["Name"] == "mc_book"
    assert [b["Name"] for b in mistral("workbook-list", "--filter", "name=in:mc_book,none")] == ["mc_book"]
    assert mistral("workbook-get", "mc_book")["Name"] == "mc_book"
    assert "description: first" in mistral("workbook-get-definition", "mc_book", as_json=False)
    path.write_text(WORKBOOK.format(description="second"))
    assert mistral("workbook-update", str(path))["Name"] == "mc_book"
    assert "description: second" in mistral("workbook-get-definition", "mc_book", as_json=False)
    ex = mistral("execution-create", "mc_book.main")
    assert _wait_state(mistral, ex["ID"], ("SUCCESS", "ERROR"))["State"] == "SUCCESS"
    assert "has been accepted" in mistral("workbook-delete", "mc_book", as_json=False)
    assert [b for b in mistral("workbook-list") if b["Name"] == "mc_book"] == []


# --- environments and cron triggers ---------------------------------------------------------


def test_environment_commands(mistral: Mistral, folder: Path) -> None:
    path = folder / "env.yaml"
    path.write_text("name: mc_env\ndescription: first\nvariables:\n  greeting: hi\n")
    created = mistral("environment-create", str(path))
    assert (created["Name"], created["Description"]) == ("mc_env", "first")
    assert json.loads(created["Variables"]) == {"greeting": "hi"}
    assert [e["Name"] for e in mistral("environment-list", "--filter", "description=has:irs")] == ["mc_env"]
    assert mistral("environment-get", "mc_env")["Description"] == "first"
    path.write_text(json.dumps({"name": "mc_env", "description": "second", "variables": {"greeting": "yo"}}))
    updated = mistral("environment-update", str(path))
    assert updated["Description"] == "second" and json.loads(updated["Variables"]) == {"greeting": "yo"}
    assert "has been accepted" in mistral("environment-delete", "mc_env", as_json=False)
    code, _, err = mistral("environment-get", "mc_env", ok=False)
    assert code == 1 and "mc_env" in err


def test_cron_trigger_commands(mistral: Mistral, workflows: list[dict[str, Any]]) -> None:
    created = mistral("cron-trigger-create", "mc_cron", "mc_echo", '{"x": 3}', "--pattern", "0 0 1 1 *")
    assert (created["Name"], created["Workflow"], created["Pattern"]) == ("mc_cron", "mc_echo", "0 0 1 1 *")
    assert created["Next execution time"].endswith("-01-01 00:00:00")
    assert [t["Name"] for t in mistral("cron-trigger-list", "--filter", "pattern=eq:0 0 1 1 *")] == ["mc_cron"]
    got = mistral("cron-trigger-get", "mc_cron")
    assert got["Name"] == "mc_cron"
    assert "has been accepted" in mistral("cron-trigger-delete", "mc_cron", as_json=False)
    assert [t for t in mistral("cron-trigger-list") if t["Name"] == "mc_cron"] == []


# --- executions, tasks, action executions ---------------------------------------------------


def test_execution_create_get_output_tasks_actions(mistral: Mistral, workflows: list[dict[str, Any]]) -> None:
    ex = mistral("execution-create", "mc_echo", '{"x": 5}', "-d", "five 100%")
    assert ex["Workflow name"] == "mc_echo"
    assert ex["State"] in ("RUNNING", "SUCCESS")
    done = _wait_state(mistral, ex["ID"], ("SUCCESS", "ERROR"))
    assert done["State"] == "SUCCESS", done
    assert done["ID"] == ex["ID"]
    assert mistral("execution-get-output", ex["ID"], as_json=False) == {"y": 5}
    assert mistral("execution-get-input", ex["ID"], as_json=False) == {"x": 5}
    assert mistral("execution-get-published", ex["ID"], as_json=False) == {"g": 10}
    assert ex["ID"] in [e["ID"] for e in mistral("execution-list")]
    assert [e["ID"] for e in mistral("execution-list", "--filter", "description=has:0%")] == [ex["ID"]]
    tasks = mistral("task-list", ex["ID"])
    assert [(t["Name"], t["State"], t["Workflow Execution ID"]) for t in tasks] == [("t1", "SUCCESS", ex["ID"])]
    assert mistral("task-get", tasks[0]["ID"])["Name"] == "t1"
    assert mistral("task-get-published", tasks[0]["ID"], as_json=False) == {"y": 5}
    assert mistral("task-get-result", tasks[0]["ID"], as_json=False) == 5
    assert tasks[0]["ID"] in [t["ID"] for t in mistral("task-list", "--filter", "name=eq:t1")]
    actions = mistral("action-execution-list", tasks[0]["ID"])
    assert [(a["Name"], a["State"], a["Task name"]) for a in actions] == [("std.echo", "SUCCESS", "t1")]
    assert mistral("action-execution-get", actions[0]["ID"])["Name"] == "std.echo"
    assert mistral("action-execution-get-input", actions[0]["ID"], as_json=False) == {"output": 5}
    assert mistral("action-execution-get-output", actions[0]["ID"], as_json=False) == {"result": 5}
    everything = mistral("action-execution-list")
    assert actions[0]["ID"] in [a["ID"] for a in everything]
    updated = mistral("execution-update", ex["ID"], "-d", "renamed")
    assert updated["Description"] == "renamed"
    assert "has been accepted" in mistral("execution-delete", ex["ID"], as_json=False)
    code, _, err = mistral("execution-get", ex["ID"], ok=False)
    assert code == 1 and ex["ID"] in err


def test_pause_resume_env_and_complete_an_async_action(mistral: Mistral, workflows: list[dict[str, Any]]) -> None:
    ex = mistral("execution-create", "mc_async")
    action = _async_action(mistral, ex["ID"])
    assert mistral("execution-update", ex["ID"], "-s", "PAUSED")["State"] == "PAUSED"
    assert mistral("execution-get", ex["ID"])["State"] == "PAUSED"
    mistral("execution-update", ex["ID"], "-e", '{"stage": "late"}')  # allowed while paused
    assert mistral("execution-update", ex["ID"], "-s", "RUNNING")["State"] == "RUNNING"
    updated = mistral("action-execution-update", action["ID"], "--state", "SUCCESS", "--output", '{"k": 1}')
    assert updated["ID"] == action["ID"]
    assert updated["State"] == "SUCCESS"
    done = _wait_state(mistral, ex["ID"], ("SUCCESS", "ERROR"))
    assert done["State"] == "SUCCESS", done
    assert mistral("execution-get-output", ex["ID"], as_json=False) == {"got": {"k": 1}, "stage": "late"}
    assert {t["Name"]: t["State"] for t in mistral("task-list", ex["ID"])} == {"wait": "SUCCESS",
                                                                              "after": "SUCCESS"}


def test_cancel(mistral: Mistral, workflows: list[dict[str, Any]]) -> None:
    ex = mistral("execution-create", "mc_async")
    _async_action(mistral, ex["ID"])
    assert mistral("execution-update", ex["ID"], "-s", "CANCELLED")["State"] == "CANCELLED"
    assert _wait_state(mistral, ex["ID"], ("CANCELLED",))["State"] == "CANCELLED"


def test_task_rerun(mistral: Mistral, workflows: list[dict[str, Any]]) -> None:
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


def test_report_and_sub_executions(mistral: Mistral, workflows: list[dict[str, Any]]) -> None:
    ex = mistral("execution-create", "mc_parent")
    assert _wait_state(mistral, ex["ID"], ("ERROR", "SUCCESS"))["State"] == "ERROR"
    (sub,) = mistral("execution-get-sub-executions", ex["ID"])
    assert (sub["Workflow name"], sub["State"]) == ("mc_fail", "ERROR")
    (call,) = mistral("task-list", ex["ID"])
    assert [e["ID"] for e in mistral("task-get-sub-executions", call["ID"])] == [sub["ID"]]
    report = mistral("execution-get-report", ex["ID"], as_json=False)
    assert "Number of tasks in ERROR state: 2" in report
    assert f"workflow 'mc_parent' [ERROR] {ex['ID']}" in report
    assert f"workflow 'mc_fail' [ERROR] {sub['ID']}" in report
    assert "action 'std.fail' [ERROR]" in report
    shallow = mistral("execution-get-report", ex["ID"], "--no-errors-only", "--max-depth", "0", as_json=False)
    assert f"workflow 'mc_fail' [ERROR] {sub['ID']}" in shallow and "std.fail" not in shallow
    stats = mistral("execution-get-report", ex["ID"], "--statistics-only", as_json=False)
    assert "Number of tasks in ERROR state: 2" in stats and "Workflow Execution Tree" not in stats


def test_run_action_and_delete_its_execution(mistral: Mistral) -> None:
    assert mistral("run-action", "std.echo", '{"output": "hi"}', as_json=False) == {"result": "hi"}
    saved = mistral("run-action", "std.echo", '{"output": "kept"}', "--save-result")
    assert (saved["Name"], saved["State"]) == ("std.echo", "SUCCESS")
    assert mistral("action-execution-get-output", saved["ID"], as_json=False) == {"result": "kept"}
    ran = mistral("run-action", "std.async_noop", "--save-result")
    assert ran["State"] == "RUNNING" and ran["Name"] == "std.async_noop"
    code, out, err = mistral("action-execution-delete", ran["ID"], as_json=False, ok=False)
    assert code == 1 and "Only completed action executions can be deleted" in out + err
    mistral("action-execution-update", ran["ID"], "--state", "SUCCESS", "--output", '"done"')
    assert mistral("action-execution-get-output", ran["ID"], as_json=False) == {"result": "done"}
    assert "has been accepted" in mistral("action-execution-delete", ran["ID"], as_json=False)
    code, _, err = mistral("action-execution-get", ran["ID"], ok=False)
    assert code == 1 and ran["ID"] in err


def _empty(rows: list[dict[str, Any]]) -> bool:
    """Whether a listing is empty (mistralclient prints an empty list as one row of blanks)."""
    return all(not any(row.values()) for row in rows)


def test_what_levante_lacks_is_named(mistral: Mistral) -> None:
    for listing in ("event-trigger-list", "code-source-list", "dynamic-action-list"):
        assert _empty(mistral(listing)), listing
    code, _, err = mistral("event-trigger-create", "t", "00000000-0000-4000-8000-000000000000", "ex", "top", "ev",
                           ok=False)
    assert code == 1 and "Event triggers are not supported by Levante" in err
    code, _, err = mistral("dynamic-action-get", "dyn", ok=False)
    assert code == 1 and "Dynamic actions are not supported by Levante" in err
