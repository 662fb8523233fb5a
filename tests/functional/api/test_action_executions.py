"""/v2/action_executions: read, list, and complete asynchronous actions."""

from __future__ import annotations

import uuid

import pytest

from tests.functional.api.helpers import ASYNC_WF, ECHO_WF, decoded


@pytest.fixture
def waiting(api, name):
    """An execution whose first task waits on an asynchronous action: (execution id, action)."""
    api.upload("workflows", ASYNC_WF.format(name=name))
    ex = api.start(name)
    return ex["id"], api.running_action(ex["id"], "wait")


def test_action_execution_shape(api, waiting):
    ex_id, action = waiting
    assert action["name"] == "std.async_noop"
    assert action["task_name"] == "wait"
    assert action["state"] == "RUNNING" and action["accepted"] is False
    assert "output" not in action  # lists leave it out
    detail = api.get(f"/v2/action_executions/{action['id']}")
    assert decoded(detail["input"]) == {}
    assert decoded(detail["output"]) == {}
    assert detail["task_execution_id"] == api.task(ex_id, "wait")["id"]
    listed = api.get("/v2/action_executions", task_execution_id=detail["task_execution_id"],
                     include_output="true")["action_executions"]
    assert [a["id"] for a in listed] == [action["id"]] and "output" in listed[0]


@pytest.mark.parametrize("output, result", [
    ({"answer": 42}, {"answer": 42}),
    (3, 3),
    ('{"parsed": true}', {"parsed": True}),
    ("plain text", "plain text"),
    ([1, 2], [1, 2]),
])
def test_complete_with_any_json_output(api, waiting, output, result):
    ex_id, action = waiting
    done = api.put(f"/v2/action_executions/{action['id']}", {"state": "SUCCESS", "output": output})
    assert done["state"] == "SUCCESS"
    assert decoded(done["output"]) == {"result": result}
    assert api.wait(ex_id)["state"] == "SUCCESS"
    wait_task = api.task(ex_id, "wait")
    assert decoded(api.get(f"/v2/tasks/{wait_task['id']}")["result"]) == result


def test_second_completion_is_409(api, waiting):
    _, action = waiting
    api.put(f"/v2/action_executions/{action['id']}", {"state": "SUCCESS", "output": 1})
    again = api.client.simulate_put(f"/v2/action_executions/{action['id']}", json={"state": "SUCCESS"})
    assert again.status_code == 409
    assert "already completed" in again.json["faultstring"]


def test_error_completion_fails_the_task(api, waiting):
    ex_id, action = waiting
    done = api.put(f"/v2/action_executions/{action['id']}", {"state": "ERROR", "output": {"why": "no"}})
    assert done["state"] == "ERROR"
    final = api.wait(ex_id)
    assert final["state"] == "ERROR"
    assert api.task(ex_id, "wait")["state"] == "ERROR"


def test_error_without_output_is_unknown_error(api, waiting):
    _, action = waiting
    done = api.put(f"/v2/action_executions/{action['id']}", {"state": "ERROR"})
    assert decoded(done["output"]) == {"result": "Unknown error"}


def test_post_and_hyphenated_alias(api, waiting):
    ex_id, action = waiting
    resp = api.client.simulate_post(f"/v2/action-executions/{action['id']}",
                                    json={"state": "SUCCESS", "output": "via alias"})
    assert resp.status_code == 200, resp.text
    assert api.get(f"/v2/action-executions/{action['id']}")["state"] == "SUCCESS"
    assert api.wait(ex_id)["state"] in ("SUCCESS", "RUNNING")


def test_bad_callbacks(api, waiting):
    _, action = waiting
    path = f"/v2/action_executions/{action['id']}"
    bad_state = api.client.simulate_put(path, json={"state": "DONE"})
    assert bad_state.status_code == 400 and "Expected one of" in bad_state.json["faultstring"]
    assert api.client.simulate_put(path, json={"output": 1}).status_code == 400
    assert api.client.simulate_put(f"/v2/action_executions/{uuid.uuid4()}",
                                   json={"state": "SUCCESS"}).status_code == 404


def test_pausing_a_sync_action_is_refused(api, name):
    api.upload("workflows", ECHO_WF.format(name=name))
    ex = api.start(name, {"who": "Hal"})
    api.wait(ex["id"])
    task = api.task(ex["id"], "say")
    (action,) = api.get(f"/v2/tasks/{task['id']}/action_executions")["action_executions"]
    resp = api.client.simulate_put(f"/v2/action_executions/{action['id']}", json={"state": "PAUSED"})
    assert resp.status_code == 400
    assert "only supported for asynchronous" in resp.json["faultstring"]


def test_list_filters(api, waiting):
    ex_id, action = waiting
    mine = api.get("/v2/action_executions", workflow_execution_id=ex_id)["action_executions"]
    assert [a["id"] for a in mine] == [action["id"]]
    assert api.get("/v2/action_executions", workflow_execution_id=ex_id, state="SUCCESS")[
        "action_executions"] == []
    running = api.get("/v2/action_executions", name="std.async_noop", state="RUNNING", limit="1000")
    assert action["id"] in [a["id"] for a in running["action_executions"]]


def test_pausing_an_async_action_pauses_its_task_and_workflow(api, name):
    api.upload("workflows", ASYNC_WF.format(name=name))
    ex = api.start(name)
    action = api.running_action(ex["id"], "wait")
    paused = api.put(f"/v2/action_executions/{action['id']}", {"state": "PAUSED"})
    assert paused["state"] == "PAUSED"
    assert api.task(ex["id"], "wait")["state"] == "PAUSED"
    assert api.get(f"/v2/executions/{ex['id']}")["state"] == "PAUSED"
    assert api.put(f"/v2/action_executions/{action['id']}", {"state": "RUNNING"})["state"] == "RUNNING"
    assert api.get(f"/v2/executions/{ex['id']}")["state"] == "RUNNING"
    api.put(f"/v2/action_executions/{action['id']}", {"state": "SUCCESS", "output": {"ok": 1}})
    assert api.wait(ex["id"], timeout=5)["state"] == "SUCCESS"


def test_run_an_action_on_its_own(api):
    ran = api.client.simulate_post("/v2/action_executions",
                                   json={"name": "std.echo", "input": {"output": "hi"}, "description": "direct"})
    assert ran.status_code == 201
    assert ran.json["state"] == "SUCCESS"  # a sync action answers with its result (run_sync)
    assert decoded(ran.json["output"]) == {"result": "hi"}
    assert ran.json["task_execution_id"] is None and ran.json["description"] == "direct"
    assert api.get(f"/v2/action_executions/{ran.json['id']}")["state"] == "SUCCESS"


def test_run_an_async_action_on_its_own_then_complete_it(api):
    ran = api.client.simulate_post("/v2/action_executions", json={"name": "std.async_noop"})
    assert ran.status_code == 201 and ran.json["state"] == "RUNNING"
    done = api.put(f"/v2/action_executions/{ran.json['id']}", {"state": "SUCCESS", "output": {"x": 1}})
    assert done["state"] == "SUCCESS" and decoded(done["output"]) == {"result": {"x": 1}}


def test_an_async_action_cannot_be_run_sync(api):
    before = len(api.get("/v2/action_executions")["action_executions"])
    refused = api.client.simulate_post("/v2/action_executions",
                                       json={"name": "std.async_noop", "params": {"run_sync": True}})
    assert refused.status_code == 400 and "does not support synchronous execution" in refused.json["faultstring"]
    assert len(api.get("/v2/action_executions")["action_executions"]) == before  # nothing stored
    bad_target = api.client.simulate_post("/v2/action_executions",
                                          json={"name": "std.noop", "params": {"target": 3}})
    assert bad_target.status_code == 400 and "target" in bad_target.json["faultstring"]


def test_running_an_unknown_action_or_with_bad_input_is_refused(api):
    unknown = api.client.simulate_post("/v2/action_executions", json={"name": "std.nope"})
    assert unknown.status_code == 404 and "std.nope" in unknown.json["faultstring"]
    nameless = api.client.simulate_post("/v2/action_executions", json={"input": {}})
    assert nameless.status_code == 400 and "'name' is required" in nameless.json["faultstring"]
    bad = api.client.simulate_post("/v2/action_executions", json={"name": "std.echo", "input": {"x": 1}})
    assert bad.status_code == 400 and "missing=['output']" in bad.json["faultstring"]
    before = api.get("/v2/action_executions")["action_executions"]
    assert all(a["name"] != "std.nope" for a in before)
