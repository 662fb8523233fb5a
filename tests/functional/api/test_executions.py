"""/v2/executions: start, read, list with filters and pages, lifecycle changes, delete."""

from __future__ import annotations

import json
import re
import uuid

import pytest

from tests.functional.api.helpers import ASYNC_WF, ECHO_WF, FAIL_WF, decoded

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")

PARENT_WF = """\
version: '2.0'
{name}:
  tasks:
    call:
      workflow: {name}_child
{name}_child:
  tasks:
    inner:
      action: std.noop
"""


@pytest.fixture
def echo(api, name):
    api.upload("workflows", ECHO_WF.format(name=name))
    return name


def test_start_and_read_an_execution(api, echo):
    ex = api.start(echo, {"who": "Ada"}, description="first")
    assert ex["state"] in ("RUNNING", "SUCCESS")
    assert ex["workflow_name"] == echo and ex["description"] == "first"
    assert decoded(ex["input"]) == {"who": "Ada", "greeting": "Hello"}
    done = api.wait(ex["id"])
    assert done["state"] == "SUCCESS", done["state_info"]
    assert decoded(done["output"]) == {"said": "Hello, Ada"}
    params = decoded(done["params"])
    assert params["namespace"] == "" and params["env"] == {}
    assert decoded(done["published_global"]) == {}
    assert done["progress"] == {"tasks_done": 1, "tasks_total": 1}
    assert TIMESTAMP.match(done["created_at"]) and TIMESTAMP.match(done["updated_at"])
    assert done["workflow_id"] == api.get(f"/v2/workflows/{echo}")["id"]
    assert done["project_id"] and done["root_execution_id"] is None


def test_input_and_params_may_be_json_strings(api, echo):
    ex = api.start(echo, json.dumps({"who": "Bo"}), params=json.dumps({"env": {"k": "v"}, "extra": 1}))
    done = api.wait(ex["id"])
    assert decoded(done["output"]) == {"said": "Hello, Bo"}
    assert decoded(done["params"])["env"] == {"k": "v"}
    assert decoded(done["params"])["extra"] == 1


def test_start_by_workflow_id(api, echo):
    wf_id = api.get(f"/v2/workflows/{echo}")["id"]
    resp = api.client.simulate_post("/v2/executions", json={"workflow_id": wf_id, "input": {"who": "Cy"}})
    assert resp.status_code == 201
    assert resp.json["workflow_name"] == echo


def test_start_errors(api, echo):
    missing = api.client.simulate_post("/v2/executions", json={"input": {}})
    assert missing.status_code == 400 and "Workflow ID or workflow name" in missing.json["faultstring"]
    unknown = api.client.simulate_post("/v2/executions", json={"workflow_name": "nowhere_wf"})
    assert unknown.status_code == 404
    bad_input = api.client.simulate_post("/v2/executions", json={"workflow_name": echo, "input": {"x": 1}})
    assert bad_input.status_code == 400 and "Invalid input" in bad_input.json["faultstring"]
    not_object = api.client.simulate_post("/v2/executions", json={"workflow_name": echo, "input": "[1]"})
    assert not_object.status_code == 400
    typo = api.client.simulate_post("/v2/executions", json={"workflow_name": echo, "inptu": {}})
    assert typo.status_code == 400 and "inptu" in typo.json["faultstring"]


def test_client_supplied_id_is_idempotent(api, echo):
    ex_id = str(uuid.uuid4())
    first = api.start(echo, {"who": "Di"}, id=ex_id)
    second = api.start(echo, {"who": "Di"}, id=ex_id)
    assert first["id"] == second["id"] == ex_id
    assert len(api.get("/v2/executions", id=ex_id)["executions"]) == 1


def test_env_by_environment_name(api, name):
    text = (f"version: '2.0'\n{name}:\n  output:\n    v: <% env().k %>\n"
            "  tasks:\n    t: {action: std.noop}\n")
    api.upload("workflows", text)
    env_name = f"env_{uuid.uuid4().hex[:8]}"
    api.client.simulate_post("/v2/environments", json={"name": env_name, "variables": {"k": "from env"}})
    ex = api.start(name, params={"env": env_name})
    assert decoded(api.wait(ex["id"])["output"]) == {"v": "from env"}


def test_source_execution_id_copies_workflow_and_input(api, echo):
    source = api.start(echo, {"who": "Ed"})
    api.wait(source["id"])
    copy = api.start("", status=201, source_execution_id=source["id"])
    assert copy["workflow_name"] == echo
    assert decoded(copy["input"])["who"] == "Ed"
    assert source["id"] in copy["description"]


def test_list_filters_and_output(api, echo):
    ids = [api.start(echo, {"who": str(i)})["id"] for i in range(3)]
    for ex_id in ids:
        api.wait(ex_id)
    listed = api.get("/v2/executions", workflow_name=echo)["executions"]
    assert [e["id"] for e in listed] == ids  # oldest first by default
    assert all("output" not in e and "published_global" not in e for e in listed)
    with_output = api.get("/v2/executions", workflow_name=echo, include_output="true")["executions"]
    assert decoded(with_output[0]["output"]) == {"said": "Hello, 0"}
    assert [e["id"] for e in api.get("/v2/executions", workflow_name=echo, sort_dirs="desc")["executions"]] \
        == ids[::-1]
    assert len(api.get("/v2/executions", workflow_name=echo, state="SUCCESS")["executions"]) == 3
    assert api.get("/v2/executions", workflow_name=echo, state="neq:SUCCESS")["executions"] == []
    assert len(api.get("/v2/executions", workflow_name=f"in:{echo},other")["executions"]) == 3
    since = listed[0]["created_at"]
    assert len(api.get("/v2/executions", workflow_name=echo, created_at=f"gte:{since}")["executions"]) == 3
    before = api.get("/v2/executions", workflow_name=echo, created_at="lt:2000-01-01 00:00:00")
    assert before["executions"] == []
    assert api.client.simulate_get("/v2/executions", params={"state": "SLEEPY"}).status_code == 400
    assert api.client.simulate_get("/v2/executions", params={"created_at": "gt:soon"}).status_code == 400


def test_list_pages(api, echo):
    ids = [api.start(echo, {"who": str(i)})["id"] for i in range(5)]
    page = api.get("/v2/executions", workflow_name=echo, limit="2")
    assert [e["id"] for e in page["executions"]] == ids[:2]
    assert "limit=2" in page["next"] and f"marker={ids[1]}" in page["next"]
    page = api.get("/v2/executions", workflow_name=echo, limit="2", marker=ids[1])
    assert [e["id"] for e in page["executions"]] == ids[2:4]
    last = api.get("/v2/executions", workflow_name=echo, limit="2", marker=ids[3])
    assert [e["id"] for e in last["executions"]] == ids[4:] and "next" not in last
    assert api.client.simulate_get("/v2/executions", params={"marker": str(uuid.uuid4())}).status_code == 404
    fields = api.get("/v2/executions", workflow_name=echo, fields="state")["executions"]
    assert set(fields[0]) == {"id", "state"}


def test_unknown_execution_is_404(api):
    missing = str(uuid.uuid4())
    for method in ("GET", "DELETE"):
        assert api.client.simulate_request(method, f"/v2/executions/{missing}").status_code == 404
    assert api.client.simulate_put(f"/v2/executions/{missing}", json={"state": "PAUSED"}).status_code == 404
    assert api.client.simulate_get(f"/v2/executions/{missing}/tasks").status_code == 404


def _pause_complete_resume(api, name):
    """Pause, complete the async action while paused, resume: the next task then runs."""
    api.upload("workflows", ASYNC_WF.format(name=name))
    ex = api.start(name)
    action = api.running_action(ex["id"], "wait")
    paused = api.put(f"/v2/executions/{ex['id']}", {"state": "PAUSED"})
    assert paused["state"] == "PAUSED"
    api.put(f"/v2/action_executions/{action['id']}", {"state": "SUCCESS", "output": "done"})
    assert api.get(f"/v2/executions/{ex['id']}")["state"] == "PAUSED"
    assert api.task(ex["id"], "after") is None  # nothing new starts while paused
    resumed = api.put(f"/v2/executions/{ex['id']}", {"state": "RUNNING"})
    assert resumed["state"] in ("RUNNING", "SUCCESS")
    after = api.wait_for(lambda: (api.task(ex["id"], "after") or {}).get("state") == "SUCCESS"
                         and api.task(ex["id"], "after"))
    assert decoded(api.get(f"/v2/tasks/{after['id']}")["result"]) == "done"
    return ex["id"]


def test_pause_resume_and_complete(api, name):
    _pause_complete_resume(api, name)


def test_resume_then_the_workflow_completes(api, name):
    ex_id = _pause_complete_resume(api, name)
    assert api.wait(ex_id, timeout=5)["state"] == "SUCCESS"


def test_cancel_with_message(api, name):
    api.upload("workflows", ASYNC_WF.format(name=name))
    ex = api.start(name)
    api.running_action(ex["id"], "wait")
    cancelled = api.put(f"/v2/executions/{ex['id']}", {"state": "CANCELLED", "state_info": "enough"})
    assert cancelled["state"] == "CANCELLED"
    assert cancelled["state_info"] == "enough"
    assert decoded(cancelled["output"]) == {"result": "enough"}


def test_stop_with_error(api, name):
    api.upload("workflows", ASYNC_WF.format(name=name))
    ex = api.start(name)
    api.running_action(ex["id"], "wait")
    failed = api.put(f"/v2/executions/{ex['id']}", {"state": "ERROR", "state_info": "stopped by hand"})
    assert failed["state"] == "ERROR" and failed["state_info"] == "stopped by hand"


def test_update_description_and_env(api, name):
    api.upload("workflows", ASYNC_WF.format(name=name))
    ex = api.start(name)
    api.running_action(ex["id"], "wait")
    assert api.put(f"/v2/executions/{ex['id']}", {"description": "renamed"})["description"] == "renamed"
    # env alone only while IDLE, PAUSED or ERROR
    conflict = api.client.simulate_put(f"/v2/executions/{ex['id']}", json={"params": {"env": {"a": 1}}})
    assert conflict.status_code == 409
    api.put(f"/v2/executions/{ex['id']}", {"state": "PAUSED"})
    updated = api.put(f"/v2/executions/{ex['id']}", {"params": {"env": {"a": 1}}})
    assert decoded(updated["params"])["env"] == {"a": 1}
    resumed = api.put(f"/v2/executions/{ex['id']}", {"state": "RUNNING", "params": {"env": {"b": 2}}})
    assert decoded(resumed["params"])["env"] == {"a": 1, "b": 2}
    api.put(f"/v2/executions/{ex['id']}", {"state": "CANCELLED"})


def test_update_errors(api, name):
    api.upload("workflows", ASYNC_WF.format(name=name))
    ex = api.start(name)
    path = f"/v2/executions/{ex['id']}"
    assert api.client.simulate_put(path, json={}).status_code == 400
    assert api.client.simulate_put(path, json={"state": "IDLE"}).status_code == 400
    both = api.client.simulate_put(path, json={"state": "PAUSED", "description": "x"})
    assert both.status_code == 400
    env_with_pause = api.client.simulate_put(path, json={"state": "PAUSED", "params": {"env": {}}})
    assert env_with_pause.status_code == 400
    api.put(path, {"state": "CANCELLED"})
    # pausing a finished execution is refused
    assert api.client.simulate_put(path, json={"state": "PAUSED"}).status_code in (400, 409)


def test_delete_only_when_finished_unless_forced(api, name):
    api.upload("workflows", ASYNC_WF.format(name=name))
    ex = api.start(name)
    action = api.running_action(ex["id"], "wait")
    refused = api.client.simulate_delete(f"/v2/executions/{ex['id']}")
    assert refused.status_code == 403
    forced = api.client.simulate_delete(f"/v2/executions/{ex['id']}", params={"force": "true"})
    assert forced.status_code == 204
    assert api.client.simulate_get(f"/v2/executions/{ex['id']}").status_code == 404
    assert api.client.simulate_get(f"/v2/action_executions/{action['id']}").status_code == 404


def test_delete_removes_the_tree(api, name):
    api.upload("workflows", PARENT_WF.format(name=name))
    ex = api.start(name)
    assert api.wait(ex["id"])["state"] == "SUCCESS"
    subs = api.get("/v2/executions", root_execution_id=ex["id"])["executions"]
    assert [s["workflow_name"] for s in subs] == [f"{name}_child"]
    roots = api.get("/v2/executions", nulls="root_execution_id", workflow_name=f"in:{name},{name}_child")
    assert [r["id"] for r in roots["executions"]] == [ex["id"]]
    assert api.client.simulate_delete(f"/v2/executions/{ex['id']}").status_code == 204
    assert api.client.simulate_get(f"/v2/executions/{subs[0]['id']}").status_code == 404


def test_sub_executions(api, name):
    api.upload("workflows", PARENT_WF.format(name=name))
    ex = api.start(name)
    api.wait(ex["id"])
    subs = api.get(f"/v2/executions/{ex['id']}/executions")["executions"]
    assert [s["workflow_name"] for s in subs] == [f"{name}_child"]
    call = api.task(ex["id"], "call")
    assert call["type"] == "WORKFLOW"
    by_task = api.get(f"/v2/tasks/{call['id']}/workflow_executions")["executions"]
    assert [s["id"] for s in by_task] == [subs[0]["id"]]
    assert by_task[0]["task_execution_id"] == call["id"]
    assert api.get(f"/v2/executions/{ex['id']}/executions", errors_only="true")["executions"] == []


def test_failed_execution_shows_state_info(api, name):
    api.upload("workflows", FAIL_WF.format(name=name))
    ex = api.start(name)
    done = api.wait(ex["id"])
    assert done["state"] == "ERROR"
    assert "broken" in done["state_info"]
    assert api.get("/v2/executions", workflow_name=name, state="ERROR")["executions"][0]["id"] == ex["id"]


def test_every_listed_execution_shows_its_progress(api, name):
    api.upload("workflows", ASYNC_WF.format(name=name))
    waiting = api.start(name)
    api.running_action(waiting["id"], "wait")
    listed = {e["id"]: e for e in api.get("/v2/executions", workflow_name=name)["executions"]}
    assert listed[waiting["id"]]["progress"] == {"tasks_done": 0, "tasks_total": 1}
    assert api.get(f"/v2/executions/{waiting['id']}")["progress"] == {"tasks_done": 0, "tasks_total": 1}
    action = api.running_action(waiting["id"], "wait")
    api.put(f"/v2/action_executions/{action['id']}", {"state": "SUCCESS", "output": {"v": 1}})
    api.wait(waiting["id"], timeout=5)
    listed = {e["id"]: e for e in api.get("/v2/executions", workflow_name=name)["executions"]}
    assert listed[waiting["id"]]["progress"] == {"tasks_done": 2, "tasks_total": 2}
