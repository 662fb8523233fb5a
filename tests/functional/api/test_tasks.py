"""/v2/tasks: read, list, rerun and skip."""

from __future__ import annotations

import uuid

from tests.functional.api.helpers import ECHO_WF, FAIL_WF, decoded

ITEMS_WF = """\
version: '2.0'
{name}:
  tasks:
    each:
      with-items: x in [1, 2]
      action: std.echo output=<% $.x %>
"""

SKIPPABLE_WF = """\
version: '2.0'
{name}:
  tasks:
    broken:
      action: std.fail
      on-skip: [after]
    after:
      action: std.echo output="after"
"""


def test_task_detail_and_list(api, name):
    api.upload("workflows", ECHO_WF.format(name=name))
    ex = api.start(name, {"who": "Flo"})
    api.wait(ex["id"])
    (task,) = api.tasks(ex["id"])
    assert task["name"] == "say" and task["state"] == "SUCCESS" and task["type"] == "ACTION"
    assert task["workflow_execution_id"] == ex["id"] and task["workflow_name"] == name
    assert task["workflow_id"] == ex["workflow_id"]
    assert decoded(task["published"]) == {"said": "Hello, Flo"}
    assert isinstance(decoded(task["runtime_context"]), dict)
    assert task["processed"] is True
    assert "result" not in task  # only on GET by id
    detail = api.get(f"/v2/tasks/{task['id']}")
    assert decoded(detail["result"]) == "Hello, Flo"
    assert decoded(detail["published_global"]) == {}
    assert detail["started_at"] and detail["finished_at"]
    listed = api.get("/v2/tasks", workflow_execution_id=ex["id"], name="say")["tasks"]
    assert [t["id"] for t in listed] == [task["id"]]
    assert api.get("/v2/tasks", workflow_execution_id=ex["id"], state="ERROR")["tasks"] == []
    assert set(api.get(f"/v2/tasks/{task['id']}", fields="name,state")) == {"id", "name", "state"}


def test_unknown_task_is_404(api):
    missing = str(uuid.uuid4())
    assert api.client.simulate_get(f"/v2/tasks/{missing}").status_code == 404
    rerun = api.client.simulate_put(f"/v2/tasks/{missing}", json={"state": "RUNNING", "reset": True})
    assert rerun.status_code == 404
    assert api.client.simulate_get(f"/v2/tasks/{missing}/action_executions").status_code == 404


def test_rerun_preconditions(api, name):
    api.upload("workflows", ECHO_WF.format(name=name))
    ex = api.start(name, {"who": "Gus"})
    api.wait(ex["id"])
    task = api.task(ex["id"], "say")
    path = f"/v2/tasks/{task['id']}"
    not_error = api.client.simulate_put(path, json={"state": "RUNNING", "reset": True})
    assert not_error.status_code == 409
    assert "must be in ERROR" in not_error.json["faultstring"]
    assert api.client.simulate_put(path, json={"state": "SUCCESS"}).status_code == 400


def test_rerun_needs_reset_and_only_with_items_may_keep(api, name):
    api.upload("workflows", FAIL_WF.format(name=name))
    ex = api.start(name)
    api.wait(ex["id"])
    task = api.task(ex["id"], "broken")
    path = f"/v2/tasks/{task['id']}"
    no_reset = api.client.simulate_put(path, json={"state": "RUNNING"})
    assert no_reset.status_code == 400 and "Reset field is mandatory" in no_reset.json["faultstring"]
    keep = api.client.simulate_put(path, json={"state": "RUNNING", "reset": False})
    assert keep.status_code == 400 and "Only with-items task" in keep.json["faultstring"]
    wrong_name = api.client.simulate_put(path, json={"state": "RUNNING", "reset": True, "name": "other"})
    assert wrong_name.status_code == 400


def test_rerun_runs_the_task_again(api, name):
    api.upload("workflows", FAIL_WF.format(name=name))
    ex = api.start(name)
    assert api.wait(ex["id"])["state"] == "ERROR"
    task = api.task(ex["id"], "broken")
    rerun = api.put(f"/v2/tasks/{task['id']}", {"state": "RUNNING", "reset": True, "env": {"k": 1}})
    assert rerun["id"] == task["id"]
    again = api.wait(ex["id"])
    assert again["state"] == "ERROR"  # std.fail fails again
    assert decoded(again["params"])["env"] == {"k": 1}
    actions = api.get(f"/v2/tasks/{task['id']}/action_executions")["action_executions"]
    assert len(actions) == 2
    assert sorted(a["accepted"] for a in actions) == [False, True]


def test_rerun_with_items_without_reset_is_accepted(api, name):
    text = ITEMS_WF.format(name=name).replace("action: std.echo output=<% $.x %>", "action: std.fail")
    api.upload("workflows", text)
    ex = api.start(name)
    api.wait(ex["id"])
    task = api.task(ex["id"], "each")
    assert task["state"] == "ERROR"
    api.put(f"/v2/tasks/{task['id']}", {"state": "RUNNING", "reset": False})


def test_skip(api, name):
    api.upload("workflows", SKIPPABLE_WF.format(name=name))
    ex = api.start(name)
    assert api.wait(ex["id"])["state"] == "ERROR"
    task = api.task(ex["id"], "broken")
    skipped = api.put(f"/v2/tasks/{task['id']}", {"state": "SKIPPED"})
    assert skipped["state"] == "SKIPPED"
    done = api.wait(ex["id"])
    assert done["state"] == "SUCCESS", done["state_info"]
    assert api.task(ex["id"], "after")["state"] == "SUCCESS"


def test_with_items_result_is_a_list(api, name):
    api.upload("workflows", ITEMS_WF.format(name=name))
    ex = api.start(name)
    api.wait(ex["id"])
    task = api.task(ex["id"], "each")
    assert decoded(api.get(f"/v2/tasks/{task['id']}")["result"]) == [1, 2]
    assert len(api.get(f"/v2/tasks/{task['id']}/action_executions")["action_executions"]) == 2
