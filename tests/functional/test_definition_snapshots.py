"""An execution runs the definition it started with (issue 11, item 6).

Each test starts an execution that waits on an asynchronous action, changes the stored definition
through the API (replaced, or deleted), stops the node and starts a new one on the same database
(so nothing the first process kept in memory helps), completes the callback, and checks that the
rest of the run follows the definition as it was at the start. The module runs on SQLite here;
``tests/integration/engine/test_definition_snapshots_postgres.py`` runs the same tests on PostgreSQL.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import falcon.testing
import pytest
from sqlalchemy import event, text

from levante.api.app import create_app
from levante.config import load
from levante.node import Node
from tests.functional.api.helpers import Api, decoded

V1 = """\
version: '2.0'
{name}:
  output:
    version: 1
    got: <% $.got %>
  tasks:
    wait:
      action: std.async_noop
      on-success: after
    after:
      action: std.echo output="v1 <% task(wait).result %>"
      publish: {{got: <% task().result %>}}
"""

V2 = """\
version: '2.0'
{name}:
  output:
    version: 2
    got: <% $.got %>
  tasks:
    other:
      action: std.echo output="v2"
      publish: {{got: <% task().result %>}}
"""

PARENT = """\
version: '2.0'
{name}:
  output:
    parent: 1
    child: <% $.child %>
  tasks:
    call:
      workflow: {child}
      publish: {{child: <% task().result %>}}
"""

WORKBOOK_V1 = """\
version: '2.0'
name: {name}
actions:
  shout:
    base: std.echo
    base-input: {{output: "v1 <% $.word %>"}}
    input: [word]
workflows:
  main:
    output: {{said: <% $.said %>, sub: <% $.sub %>}}
    tasks:
      wait:
        action: std.async_noop
        on-success: say
      say:
        action: shout word=<% task(wait).result %>
        publish: {{said: <% task().result %>}}
        on-success: sub
      sub:
        workflow: helper
        publish: {{sub: <% task().result %>}}
  helper:
    output: {{helper: 1}}
    tasks:
      noop:
        action: std.noop
"""

WORKBOOK_V2 = """\
version: '2.0'
name: {name}
actions:
  shout:
    base: std.echo
    base-input: {{output: "v2 <% $.word %>"}}
    input: [word]
workflows:
  main:
    output: {{version: 2}}
    tasks:
      only:
        action: std.noop
  helper:
    output: {{helper: 2}}
    tasks:
      noop:
        action: std.noop
"""


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'levante.db'}"


@pytest.fixture
def name() -> str:
    return f"snap_{uuid.uuid4().hex[:10]}"


@contextlib.contextmanager
def running(db_url: str) -> Iterator[Api]:
    """A node (API, engine and executor in one process) on ``db_url``, with a client to its API."""
    with Node(load(env={}, db_url=db_url, executor_threads=2)) as node:
        client = falcon.testing.TestClient(create_app(node.config, node.services))
        yield Api(client, node)


def _finish(api: Api, action_id: str, output: Any, execution_id: str) -> dict[str, Any]:
    api.put(f"/v2/action_executions/{action_id}", {"state": "SUCCESS", "output": output})
    done = api.wait(execution_id, 30)
    assert done["state"] == "SUCCESS", done["state_info"]
    return done


def test_a_replaced_workflow_does_not_change_a_running_execution_across_a_restart(db_url: str, name: str) -> None:
    with running(db_url) as api:
        api.upload("workflows", V1.format(name=name))
        ex = api.start(name)
        action = api.running_action(ex["id"], "wait")
        api.upload("workflows", V2.format(name=name), method="PUT", status=200)
    with running(db_url) as api:
        done = _finish(api, action["id"], "hi", ex["id"])
        assert decoded(done["output"]) == {"version": 1, "got": "v1 hi"}
        assert [t["name"] for t in api.tasks(ex["id"])] == ["wait", "after"]
        # a new execution runs the definition as it is now
        later = api.start(name)
        assert decoded(api.wait(later["id"], 30)["output"]) == {"version": 2, "got": "v2"}


def test_a_sub_execution_keeps_its_definition_when_it_is_replaced(db_url: str, name: str) -> None:
    child = f"{name}_child"
    with running(db_url) as api:
        api.upload("workflows", V1.format(name=child))
        api.upload("workflows", PARENT.format(name=name, child=child))
        ex = api.start(name)
        sub = api.wait_for(lambda: api.get("/v2/executions", task_execution_id=api.task(ex["id"], "call")["id"])
                           ["executions"] if api.task(ex["id"], "call") else None)[0]
        action = api.running_action(sub["id"], "wait")
        api.upload("workflows", V2.format(name=child), method="PUT", status=200)
        api.upload("workflows", PARENT.format(name=name, child=child).replace("parent: 1", "parent: 2"),
                   method="PUT", status=200)
    with running(db_url) as api:
        api.put(f"/v2/action_executions/{action['id']}", {"state": "SUCCESS", "output": "hi"})
        done = api.wait(ex["id"], 30)
        assert done["state"] == "SUCCESS", done["state_info"]
        assert decoded(done["output"]) == {"parent": 1, "child": {"version": 1, "got": "v1 hi"}}


def test_a_deleted_workflow_lets_its_running_execution_finish(db_url: str, name: str) -> None:
    with running(db_url) as api:
        api.upload("workflows", V1.format(name=name))
        ex = api.start(name)
        action = api.running_action(ex["id"], "wait")
        assert api.client.simulate_delete(f"/v2/workflows/{name}").status_code == 204
    with running(db_url) as api:
        done = _finish(api, action["id"], "hi", ex["id"])
        assert decoded(done["output"]) == {"version": 1, "got": "v1 hi"}
        api.start(name, status=404)


def test_a_workbook_execution_keeps_its_workbook_actions_and_sub_workflows(db_url: str, name: str) -> None:
    # Better than Mistral, which reads ad-hoc actions and sub-workflows when they are used: the
    # workbook is replaced as a whole, so an execution keeps the whole workbook it started with.
    with running(db_url) as api:
        api.upload("workbooks", WORKBOOK_V1.format(name=name))
        ex = api.start(f"{name}.main")
        action = api.running_action(ex["id"], "wait")
        api.upload("workbooks", WORKBOOK_V2.format(name=name), method="PUT", status=200)
    with running(db_url) as api:
        done = _finish(api, action["id"], "hi", ex["id"])
        assert decoded(done["output"]) == {"said": "v1 hi", "sub": {"helper": 1}}
        later = api.start(f"{name}.main")
        assert decoded(api.wait(later["id"], 30)["output"]) == {"version": 2}


def test_an_execution_from_before_snapshots_runs_the_stored_definition(db_url: str, name: str) -> None:
    # Executions created before the migration have no snapshot: they look their workflow up by name.
    with running(db_url) as api:
        api.upload("workflows", V1.format(name=name))
        ex = api.start(name)
        action = api.running_action(ex["id"], "wait")
        api.upload("workflows", V1.format(name=name).replace("version: 1", "version: 3"), method="PUT",
                   status=200)
        with api.node.db.begin() as conn:
            conn.execute(text("UPDATE workflow_executions SET definition_checksum = NULL WHERE id = :id"),
                         {"id": ex["id"]})
    with running(db_url) as api:
        done = _finish(api, action["id"], "hi", ex["id"])
        assert decoded(done["output"]) == {"version": 3, "got": "v1 hi"}


def test_a_lost_snapshot_falls_back_to_the_stored_definition(db_url: str, name: str) -> None:
    # Defensive: a snapshot row that went missing (restored from an old backup, deleted by hand)
    # does not strand the execution; it runs the workflow stored under its name, as before snapshots.
    with running(db_url) as api:
        api.upload("workflows", V1.format(name=name))
        ex = api.start(name)
        action = api.running_action(ex["id"], "wait")
        with api.node.db.begin() as conn:
            conn.execute(text("DELETE FROM definition_snapshots WHERE checksum = "
                              "(SELECT definition_checksum FROM workflow_executions WHERE id = :id)"),
                         {"id": ex["id"]})
    with running(db_url) as api:
        done = _finish(api, action["id"], "hi", ex["id"])
        assert decoded(done["output"]) == {"version": 1, "got": "v1 hi"}


def test_an_engine_that_never_saw_the_start_runs_the_started_definition(db_url: str, name: str) -> None:
    with running(db_url) as first, running(db_url) as second:
        first.upload("workflows", V1.format(name=name))
        ex = first.start(name)
        action = first.running_action(ex["id"], "wait")
        first.upload("workflows", V2.format(name=name), method="PUT", status=200)
        done = _finish(second, action["id"], "hi", ex["id"])
        assert decoded(done["output"]) == {"version": 1, "got": "v1 hi"}


@contextlib.contextmanager
def statements(api: Api) -> Iterator[list[str]]:
    """The SQL statements the node runs meanwhile (each followed by its parameters)."""
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        seen.append(f"{statement} -- {parameters!r}")

    event.listen(api.node.db, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(api.node.db, "before_cursor_execute", record)


def test_a_callback_reads_the_snapshot_only_when_the_process_does_not_know_the_execution(
        db_url: str, name: str) -> None:
    def reads(seen: list[str], table: str) -> int:
        return sum(1 for s in seen if s.lstrip().upper().startswith("SELECT") and f"FROM {table}" in s)

    with running(db_url) as api:
        api.upload("workflows", V1.format(name=name).replace("      on-success: after\n", ""))
        warm, cold = api.start(name), api.start(name)
        warm_action = api.running_action(warm["id"], "wait")
        cold_action = api.running_action(cold["id"], "wait")
        with statements(api) as seen:
            api.put(f"/v2/action_executions/{warm_action['id']}", {"state": "SUCCESS", "output": 1})
        assert reads(seen, "definition_snapshots") == reads(seen, "workflow_definitions") == 0
    with running(db_url) as api:
        with statements(api) as seen:
            api.put(f"/v2/action_executions/{cold_action['id']}", {"state": "SUCCESS", "output": 1})
        assert reads(seen, "definition_snapshots") == 1
        assert reads(seen, "workflow_definitions") == reads(seen, "workbook_definitions") == 0


def test_names_of_its_own_workbook_cost_an_execution_no_query(db_url: str, name: str) -> None:
    # The workbook's ad-hoc action and its sub-workflow come from the snapshot. (The base of the
    # ad-hoc action, std.echo, is still looked up among stored ad-hoc actions, as before.)
    definitions = ("workflow_definitions", "workbook_definitions", "action_definitions")
    with running(db_url) as api:
        api.upload("workbooks", WORKBOOK_V1.format(name=name))
        ex = api.start(f"{name}.main")
        action = api.running_action(ex["id"], "wait")
        with statements(api) as seen:
            done = _finish(api, action["id"], "hi", ex["id"])
        assert decoded(done["output"]) == {"said": "v1 hi", "sub": {"helper": 1}}
        reads = [s for s in seen if any(f"FROM {table}" in s for table in definitions)]
        assert [s for s in reads if f"'{name}." in s or "workflow_definitions" in s] == [], reads
