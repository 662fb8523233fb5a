"""The commands test_commands.py leaves out: history, workbooks, ad-hoc actions, run-action, task
rerun/skip, environment-update, cron-trigger-get, and ``--api-key`` against a server with auth on."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from levante.cli.main import cli
from tests.functional.client.conftest import start_server

WORKBOOK = """
version: '2.0'
name: shop
actions:
  shout:
    base: std.echo
    base-input: {output: "<% $.word %>!"}
    input: [word]
workflows:
  order:
    output: {said: <% $.said %>}
    tasks:
      a:
        action: shout word='hi'
        publish: {said: <% task().result %>}
"""
ACTIONS = """
version: '2.0'
double:
  base: std.echo
  base-input: {output: <% $.n * 2 %>}
  input: [n]
"""
FLAKY = """
version: '2.0'
flaky:
  tasks:
    boom:
      action: std.fail
      on-success: after
    after:
      action: std.echo output="done"
"""


def _json(result: Result) -> Any:
    return json.loads(result.stdout)


def _state_becomes(levante: Any, execution_id: str, state: str) -> None:
    deadline = time.monotonic() + 10
    while levante("execution-get", execution_id, "-f", "value", "-c", "state").stdout.strip() != state:
        assert time.monotonic() < deadline, f"execution {execution_id} never became {state}"
        time.sleep(0.05)


def test_execution_get_history(levante: Any) -> None:
    done = _json(levante("execution-create", "greet", '{"name": "h"}', "--wait", "-f", "json"))
    events = _json(levante("execution-get-history", done["id"], "-f", "json"))
    assert [e["id"] for e in events] == sorted(e["id"] for e in events)
    assert set(events[0]) == {"id", "created_at", "kind", "task_execution_id", "action_execution_id", "payload"}
    assert events[0]["kind"] == "workflow_state" and events[0]["payload"]["state"] == "RUNNING"
    assert events[-1]["kind"] == "workflow_state" and events[-1]["payload"]["state"] == "SUCCESS"
    created = [e["payload"]["task"] for e in events if e["kind"] == "task_created"]
    assert created == ["say", "done"]
    table = levante("execution-get-history", done["id"]).stdout
    assert "Kind" in table and "Payload" in table and "task_created" in table
    kinds = levante("execution-get-history", done["id"], "-f", "value", "-c", "kind").stdout.split()
    assert kinds == [e["kind"] for e in events]
    nf = levante("execution-get-history", "nope", code=3)
    assert nf.output == 'levante: error: Workflow execution "nope" does not exist.\n'


def test_workbook_commands(levante: Any, tmp_path: Path) -> None:
    path = tmp_path / "wb.yaml"
    path.write_text(WORKBOOK)
    assert levante("workbook-validate", str(path), "-f", "value", "-c", "valid").stdout.strip() == "True"
    created = _json(levante("workbook-create", str(path), "-f", "json"))
    assert created["name"] == "shop" and created["scope"] == "private"
    assert "shop" in levante("workbook-list", "-f", "value", "-c", "name").stdout.split()
    assert "Name" in levante("workbook-list").stdout
    assert levante("workbook-get", "shop", "-f", "value", "-c", "name").stdout.strip() == "shop"
    assert "base: std.echo" in levante("workbook-get-definition", "shop").stdout
    # its workflow and action are stored with the workbook's prefix, and run
    assert "shop.order" in levante("workflow-list", "-f", "value", "-c", "name").stdout.split()
    assert "shop.shout" in levante("action-list", "-f", "value", "-c", "name").stdout.split()
    done = _json(levante("execution-create", "shop.order", "--wait", "-f", "json"))
    assert done["output"] == {"said": "hi!"}
    levante("workbook-create", str(path), code=4)
    levante("workbook-delete", "shop")
    levante("workbook-get", "shop", code=3)
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: '2.0'\nname: broken\nworkflows:\n  w:\n    tasks:\n      a: {action: 3}\n")
    invalid = levante("workbook-validate", str(bad), "-f", "json", code=1)
    assert _json(invalid)["valid"] is False and "action" in _json(invalid)["error"]


def test_action_commands(levante: Any, tmp_path: Path) -> None:
    path = tmp_path / "actions.yaml"
    path.write_text(ACTIONS)
    assert levante("action-validate", str(path), "-f", "value", "-c", "valid").stdout.strip() == "True"
    created = _json(levante("action-create", str(path), "-f", "json"))
    assert [a["name"] for a in created] == ["double"] and created[0]["is_system"] is False
    names = levante("action-list", "-f", "value", "-c", "name").stdout.split()
    assert "double" in names and "std.echo" in names
    got = _json(levante("action-get", "double", "-f", "json"))
    assert got["input"] == "n" and got["id"] == created[0]["id"]
    assert "base: std.echo" in levante("action-get-definition", "double").stdout
    levante("action-create", str(path), code=4)
    levante("action-delete", "double")
    levante("action-get", "double", code=3)
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: '2.0'\nbad: {base: 3}\n")
    assert "base" in _json(levante("action-validate", str(bad), "-f", "json", code=1))["error"]


def test_run_action(levante: Any, tmp_path: Path) -> None:
    # a synchronous action: its output, in each format
    assert _json(levante("run-action", "std.echo", '{"output": "hi"}')) == {"result": "hi"}
    assert _json(levante("run-action", "std.echo", '{"output": 3}', "-f", "json")) == {"result": 3}
    assert levante("run-action", "std.echo", '{"output": [1, 2]}', "-f", "yaml").stdout == "result:\n- 1\n- 2\n"
    assert levante("run-action", "std.echo", '{"output": 1}', "-f", "value").stdout == '{"result": 1}\n'
    source = tmp_path / "input.yaml"
    source.write_text("output: from a file\n")
    assert _json(levante("run-action", "std.echo", str(source))) == {"result": "from a file"}
    # --save-result shows the action execution, which is kept
    saved = _json(levante("run-action", "std.echo", '{"output": 5}', "-s", "-f", "json"))
    assert saved["state"] == "SUCCESS" and saved["output"] == {"result": 5} and saved["task_execution_id"] is None
    assert _json(levante("action-execution-get", saved["id"], "-f", "json"))["output"] == {"result": 5}
    # a failed action: its output and exit status 1
    failed = levante("run-action", "std.fail", code=1)
    assert "Fail action expected exception" in _json(failed)["result"]
    # an asynchronous action answers RUNNING (a table by default), and completes through its callback
    table = levante("run-action", "std.async_noop").stdout
    assert "State" in table and "RUNNING" in table and "std.async_noop" in table
    pending = _json(levante("run-action", "std.async_noop", "-f", "json"))
    assert pending["state"] == "RUNNING" and set(pending) >= {"id", "name", "accepted", "output"}
    assert levante("run-action", "std.async_noop", "-f", "value", "-c", "state").stdout == "RUNNING\n"
    levante("action-execution-update", pending["id"], "--state", "SUCCESS", "--output", "7")
    assert _json(levante("action-execution-get-output", pending["id"])) == {"result": 7}
    # errors: one line, the usual exit statuses
    nf = levante("run-action", "std.nope", code=3)
    assert nf.output == 'levante: error: Action "std.nope" does not exist.\n'
    bad = levante("run-action", "std.echo", '{"x": 1}', code=2)
    assert bad.output.startswith("levante: error: Invalid input") and bad.output.count("\n") == 1
    assert "must be a JSON object" in levante("run-action", "std.echo", "[1]", code=2).output
    assert "Missing argument" in levante("run-action", code=2).output

def test_task_rerun_and_skip(levante: Any, tmp_path: Path) -> None:
    path = tmp_path / "flaky.yaml"
    path.write_text(FLAKY)
    levante("workflow-create", str(path))
    failed = levante("execution-create", "flaky", "--wait", "-f", "json", code=1)
    ex_id = _json(failed)["id"]
    assert _json(failed)["state"] == "ERROR"
    task = _json(levante("task-list", ex_id, "-f", "json"))[0]
    assert task["name"] == "boom" and task["state"] == "ERROR"
    rerun = _json(levante("task-rerun", task["id"], "-f", "json"))
    assert rerun["id"] == task["id"]
    _state_becomes(levante, ex_id, "ERROR")  # std.fail fails again
    kinds = levante("execution-get-history", ex_id, "-f", "value", "-c", "kind").stdout.split()
    assert "task_rerun" in kinds
    # --resume is for with-items tasks only: the server refuses it (400 -> 2)
    assert "with-items" in levante("task-rerun", task["id"], "--resume", code=2).output
    skipped = levante("task-skip", task["id"], "-f", "value", "-c", "state")
    assert skipped.stdout.strip() == "SKIPPED"
    _state_becomes(levante, ex_id, "SUCCESS")
    states = {t["name"]: t["state"] for t in _json(levante("task-list", ex_id, "-f", "json"))}
    assert states == {"boom": "SKIPPED", "after": "SUCCESS"}
    conflict = levante("task-skip", task["id"], code=4)  # no longer in ERROR
    assert conflict.output.startswith("levante: error: ") and conflict.output.count("\n") == 1


def test_environment_update(levante: Any, tmp_path: Path) -> None:
    path = tmp_path / "env.yaml"
    path.write_text("name: prod\ndescription: first\nvariables: {region: eu}\n")
    levante("environment-create", str(path))
    path.write_text("name: prod\ndescription: second\nvariables: {region: us, size: 3}\n")
    updated = _json(levante("environment-update", str(path), "-f", "json"))
    assert updated["variables"] == {"region": "us", "size": 3} and updated["description"] == "second"
    got = _json(levante("environment-get", "prod", "-f", "json"))
    assert got["variables"] == {"region": "us", "size": 3}
    exported = _json(levante("environment-get", "prod", "--export"))
    assert exported == {"name": "prod", "description": "second", "scope": "private",
                        "variables": {"region": "us", "size": 3}}
    levante("environment-update", '{"name": "absent", "variables": {}}', code=3)
    levante("environment-delete", "prod")


def test_cron_trigger_get(levante: Any) -> None:
    created = _json(levante("cron-trigger-create", "weekly", "greet", '{"name": "w"}', "--pattern", "0 4 * * 1",
                            "--count", "2", "-f", "json"))
    assert created["remaining_executions"] == 2
    got = _json(levante("cron-trigger-get", "weekly", "-f", "json"))
    assert got["pattern"] == "0 4 * * 1" and got["workflow_name"] == "greet"
    assert got["workflow_input"] == {"name": "w"} and got["next_execution_time"]
    listed = _json(levante("cron-trigger-list", "-f", "json"))
    assert "weekly" in [t["name"] for t in listed]
    levante("cron-trigger-create", "weekly", "greet", '{"name": "w"}', "--pattern", "0 4 * * 1", code=4)
    levante("cron-trigger-delete", "weekly")
    levante("cron-trigger-get", "weekly", code=3)


def test_cron_trigger_create_with_a_time_zone(levante: Any) -> None:
    created = _json(levante("cron-trigger-create", "month_end", "greet", '{"name": "m"}', "--pattern", "30 9 L * *",
                            "--timezone", "Asia/Kolkata", "-f", "json"))
    assert created["timezone"] == "Asia/Kolkata" and created["pattern"] == "30 9 L * *"
    assert created["next_execution_time"].endswith(" 04:00:00")  # 09:30 in Kolkata (+05:30), shown in UTC
    assert levante("cron-trigger-get", "month_end", "-f", "value", "-c", "timezone").stdout.strip() == "Asia/Kolkata"
    assert "Timezone" in levante("cron-trigger-get", "month_end").stdout
    levante("cron-trigger-delete", "month_end")
    refused = levante("cron-trigger-create", "nowhere", "greet", '{"name": "m"}', "--pattern", "0 9 * * *",
                      "--timezone", "Nowhere/City", code=2)
    assert "Unknown time zone 'Nowhere/City'" in refused.output
    refused = levante("cron-trigger-create", "bad_pattern", "greet", '{"name": "m"}', "--pattern", "0 9 * * mon#6",
                      code=2)
    assert "Invalid cron pattern '0 9 * * mon#6'" in refused.output


# --- a server with auth on ----------------------------------------------------------------------

ADMIN_KEY = "test-admin-key-0123456789"


@pytest.fixture(scope="module")
def auth_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    proc, url = start_server(tmp_path_factory.mktemp("auth"),
                             env={"LEVANTE_AUTH": "1", "LEVANTE_ADMIN_KEY": ADMIN_KEY})
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(15)


def test_api_key_reaches_a_server_with_auth(auth_url: str) -> None:
    runner = CliRunner()
    refused = runner.invoke(cli, ["--url", auth_url, "workflow-list"], env={"LEVANTE_API_KEY": None})
    assert refused.exit_code == 1
    assert refused.output.startswith("levante: error: An API key is required")
    assert refused.output.count("\n") == 1 and "--api-key" in refused.output
    wrong = runner.invoke(cli, ["--url", auth_url, "--api-key", "wrong", "workflow-list"])
    assert wrong.exit_code == 1 and wrong.output == (
        "levante: error: The API key is not valid. Give one with --api-key or LEVANTE_API_KEY.\n")
    ok = runner.invoke(cli, ["--url", auth_url, "--api-key", ADMIN_KEY, "workflow-list", "-f", "json"])
    assert ok.exit_code == 0 and json.loads(ok.stdout) == []
    from_env = runner.invoke(cli, ["--url", auth_url, "action-get", "std.noop", "-f", "value", "-c", "name"],
                             env={"LEVANTE_API_KEY": ADMIN_KEY})
    assert from_env.exit_code == 0 and from_env.stdout.strip() == "std.noop"


def test_api_key_commands(auth_url: str) -> None:
    runner = CliRunner()

    def admin(*args: str, code: int = 0) -> Result:
        result = runner.invoke(cli, ["--url", auth_url, "--api-key", ADMIN_KEY, *args])
        assert result.exit_code == code, (result.output, result.exception)
        return result

    created = _json(admin("api-key-create", "ci", "-f", "json"))
    assert created["name"] == "ci" and created["role"] == "user" and created["key"]
    key = created["key"]
    listed = _json(admin("api-key-list", "-f", "json"))
    assert [k["name"] for k in listed] == ["ci"] and "key" not in listed[0]
    assert "Role" in admin("api-key-list").stdout
    # the new key works for a user's commands, not for an admin's
    as_user = runner.invoke(cli, ["--url", auth_url, "--api-key", key, "workflow-list"])
    assert as_user.exit_code == 0, as_user.output
    forbidden = runner.invoke(cli, ["--url", auth_url, "--api-key", key, "api-key-list"])
    assert forbidden.exit_code == 1 and "admin key is needed" in forbidden.output
    admin_key = _json(admin("api-key-create", "ops", "--role", "admin", "-f", "json"))
    assert admin_key["role"] == "admin"
    admin("api-key-create", "x", "--role", "root", code=2)
    admin("api-key-delete", "ops")
    assert [k["name"] for k in _json(admin("api-key-list", "-f", "json"))] == ["ci"]
    admin("api-key-delete", created["id"])
    admin("api-key-delete", "ci", code=3)
    gone = runner.invoke(cli, ["--url", auth_url, "--api-key", key, "workflow-list"])
    assert gone.exit_code == 1 and "not valid" in gone.output
