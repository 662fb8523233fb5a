"""The ``levante`` remote commands against a real server (click's CliRunner)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from levante.cli.main import cli

GRAPH_WF = """
version: '2.0'
branches:
  tasks:
    a:
      action: std.noop
      on-success: [b]
      on-error: [c]
    b:
      action: std.noop
    c:
      action: std.noop
"""


def _json(result: Result) -> Any:
    return json.loads(result.stdout)


def _wait_for_action(levante: Any, execution_id: str) -> str:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        tasks = _json(levante("task-list", execution_id, "-f", "json"))
        if tasks:
            actions = _json(levante("action-execution-list", tasks[0]["id"], "-f", "json"))
            if actions and actions[0]["state"] == "RUNNING":
                return str(actions[0]["id"])
        time.sleep(0.05)
    raise AssertionError("no running action")


def test_workflow_commands(levante: Any, tmp_path: Path) -> None:
    path = tmp_path / "wf.yaml"
    path.write_text(GRAPH_WF)
    created = _json(levante("workflow-create", str(path), "-f", "json"))
    assert [w["name"] for w in created] == ["branches"]
    table = levante("workflow-list").stdout
    assert "branches" in table and "greet" in table and "Name" in table
    got = _json(levante("workflow-get", "greet", "-f", "json"))
    assert got["name"] == "greet" and got["input"] == "name"
    assert levante("workflow-get", "greet", "-f", "value", "-c", "name").stdout.strip() == "greet"
    assert "std.echo" in levante("workflow-get-definition", "greet").stdout
    assert levante("workflow-validate", str(path), "-f", "value", "-c", "valid").stdout.strip() == "True"
    dot = levante("workflow-graph", str(path)).stdout
    assert '"a" -> "b" [color=green]' in dot and '"a" -> "c" [color=red]' in dot
    mermaid = levante("workflow-graph", "branches", "--format", "mermaid").stdout
    assert mermaid.startswith("flowchart TD") and "t0 --> t1" in mermaid
    levante("workflow-delete", "branches")
    levante("workflow-get", "branches", code=3)


def test_execution_and_task_commands(levante: Any) -> None:
    ex = _json(levante("execution-create", "greet", '{"name": "cli"}', "-f", "json"))
    assert ex["workflow_name"] == "greet"
    done = levante("execution-create", "greet", '{"name": "w"}', "--wait", "-f", "json")
    final = json.loads(done.stdout)
    assert final["state"] == "SUCCESS" and final["output"] == {"greeting": "hi w"}
    assert "SUCCESS tasks 2/2" in done.stderr  # plain progress lines off a terminal
    ex_id = final["id"]
    assert _json(levante("execution-get-output", ex_id)) == {"greeting": "hi w"}
    assert _json(levante("execution-get-input", ex_id)) == {"name": "w"}
    assert levante("execution-get", ex_id, "-f", "value", "-c", "state").stdout.strip() == "SUCCESS"
    listed = levante("execution-list", "-f", "value", "-c", "id").stdout.split()
    assert ex_id in listed and listed.index(ex["id"]) < listed.index(ex_id)  # oldest first
    tasks = _json(levante("task-list", ex_id, "-f", "json"))
    assert [t["name"] for t in tasks] == ["say", "done"]
    assert _json(levante("task-get-result", tasks[0]["id"])) == "hi w"
    assert _json(levante("task-get-published", tasks[0]["id"])) == {"greeting": "hi w"}
    assert levante("task-get", tasks[0]["id"], "-f", "yaml", "-c", "state").stdout.strip() == "state: SUCCESS"
    graph = levante("execution-graph", ex_id).stdout
    assert 'label="say\\nSUCCESS"' in graph


def test_pause_resume_and_complete_an_async_action(levante: Any) -> None:
    ex_id = _json(levante("execution-create", "waiter", "-f", "json"))["id"]
    action_id = _wait_for_action(levante, ex_id)
    paused = levante("execution-update", ex_id, "-s", "PAUSED", "-f", "value", "-c", "state")
    assert paused.stdout.strip() == "PAUSED"
    levante("execution-update", ex_id, "-s", "RUNNING")
    updated = _json(levante("action-execution-update", action_id, "--state", "SUCCESS", "--output", "3",
                            "-f", "json"))
    assert updated["state"] == "SUCCESS" and updated["output"] == {"result": 3}
    assert _json(levante("action-execution-get-output", action_id)) == {"result": 3}
    deadline = time.monotonic() + 10
    while levante("execution-get", ex_id, "-f", "value", "-c", "state").stdout.strip() != "SUCCESS":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert _json(levante("execution-get-output", ex_id)) == {"answer": 3}
    levante("action-execution-update", action_id, "--state", "SUCCESS", "--output", "4", code=4)


def test_cancel_and_delete(levante: Any) -> None:
    ex_id = _json(levante("execution-create", "waiter", "-f", "json"))["id"]
    levante("execution-delete", ex_id, code=1)  # not completed: 403
    cancelled = levante("execution-update", ex_id, "-s", "CANCELLED", "-f", "value", "-c", "state")
    assert cancelled.stdout.strip() in ("CANCELLED", "RUNNING")
    levante("execution-delete", ex_id, "--force")
    levante("execution-get", ex_id, code=3)


def test_environment_commands(levante: Any, tmp_path: Path) -> None:
    path = tmp_path / "env.yaml"
    path.write_text("name: staging\ndescription: test\nvariables: {region: eu}\n")
    created = _json(levante("environment-create", str(path), "-f", "json"))
    assert created["variables"] == {"region": "eu"}
    assert "staging" in levante("environment-list").stdout
    levante("environment-create", str(path), code=4)
    levante("environment-delete", "staging")
    levante("environment-get", "staging", code=3)


def test_cron_trigger_commands(levante: Any) -> None:
    created = _json(levante("cron-trigger-create", "nightly", "greet", '{"name": "n"}', "--pattern",
                            "0 3 * * *", "-f", "json"))
    assert created["pattern"] == "0 3 * * *"
    assert "nightly" in levante("cron-trigger-list", "-f", "value", "-c", "name").stdout
    levante("cron-trigger-delete", "nightly")


def test_exit_statuses(levante: Any, tmp_path: Path) -> None:
    assert "Missing argument" in levante("execution-get", code=2).output
    levante("execution-update", "x", "-s", "BOGUS", code=2)
    assert levante("execution-create", "greet", "{not json", code=2).output.startswith("Usage")
    bad = levante("execution-create", "greet", '{"wrong": 1}', code=2)
    assert bad.output.startswith("levante: error: Invalid input")
    nf = levante("execution-get", "nope", code=3)
    assert nf.output == 'levante: error: Workflow execution "nope" does not exist.\n'
    levante("task-get", "nope", code=3)
    path = tmp_path / "dup.yaml"
    path.write_text("version: '2.0'\ngreet: {tasks: {a: {action: std.noop}}}\n")
    assert "already exists" in levante("workflow-create", str(path), code=4).output
    result = CliRunner().invoke(cli, ["--url", "http://127.0.0.1:9/v2", "workflow-list"])
    assert result.exit_code == 5 and "Cannot reach" in result.output


def test_url_and_api_key_from_the_environment(server_url: str) -> None:
    result = CliRunner().invoke(cli, ["workflow-list", "-f", "value", "-c", "name"],
                                env={"LEVANTE_URL": server_url, "LEVANTE_API_KEY": "k"})
    assert result.exit_code == 0 and "greet" in result.output
