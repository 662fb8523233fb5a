"""``GET /v2/executions/<id>/report`` (Mistral's execution report), ``GET /v2/tasks/<id>/executions``,
and the Mistral resources Levante does not have (empty lists, 501 naming the feature)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.functional.api.helpers import ADMIN_KEY, Api

TREE = """\
version: '2.0'
{name}:
  tasks:
    first:
      action: std.noop
      on-success: [call]
    call:
      workflow: {name}_middle
{name}_middle:
  tasks:
    fine:
      action: std.echo output=1
    deeper:
      workflow: {name}_leaf
{name}_leaf:
  tasks:
    retried:
      action: std.fail
      retry:
        count: 2
        delay: 0
"""


@pytest.fixture
def failed(api: Api, name: str) -> dict[str, Any]:
    """A finished execution three levels deep whose innermost task failed after 2 retries."""
    api.upload("workflows", TREE.format(name=name))
    ex = api.start(name)
    assert api.wait(ex["id"])["state"] == "ERROR"
    middle = api.get(f"/v2/executions/{ex['id']}/executions")["executions"]
    assert len(middle) == 2
    return ex


def _names(entry: dict[str, Any]) -> Any:
    """The tree as nested (name, state, children) tuples."""
    if "task_executions" in entry:
        return (entry["name"], entry["state"], [_names(t) for t in entry["task_executions"]])
    if "action_executions" in entry:
        children = [(a["name"], a["state"]) for a in entry["action_executions"]]
        return (entry["name"], entry["state"], children + [_names(w) for w in entry["workflow_executions"]])
    return (entry["name"], entry["state"])


def test_the_whole_tree(api: Api, name: str, failed: dict[str, Any]) -> None:
    report = api.get(f"/v2/executions/{failed['id']}/report")
    assert report["statistics"] == {"total_tasks_count": 5, "success_tasks_count": 2, "error_tasks_count": 3,
                                    "running_tasks_count": 0, "idle_tasks_count": 0, "paused_tasks_count": 0}
    root = report["root_workflow_execution"]
    assert root["id"] == failed["id"] and root["created_at"] and root["state_info"]
    leaf = (f"{name}_leaf", "ERROR", [("retried", "ERROR", [("std.fail", "ERROR")] * 3)])
    middle = (f"{name}_middle", "ERROR", [("fine", "SUCCESS", [("std.echo", "SUCCESS")]),
                                          ("deeper", "ERROR", [leaf])])
    assert _names(root) == (name, "ERROR", [("first", "SUCCESS", [("std.noop", "SUCCESS")]),
                                            ("call", "ERROR", [middle])])
    retried = root["task_executions"][1]["workflow_executions"][0]["task_executions"][1][
        "workflow_executions"][0]["task_executions"][0]
    assert retried["retry_count"] == 2
    assert retried["type"] == "ACTION" and "Fail action" in retried["state_info"]
    action = retried["action_executions"][-1]
    assert set(action) == {"id", "name", "state", "state_info", "accepted", "last_heartbeat", "created_at",
                           "updated_at"}
    assert "retry_count" not in root["task_executions"][0]


def test_errors_only_keeps_the_error_path_and_all_the_statistics(api: Api, name: str,
                                                                 failed: dict[str, Any]) -> None:
    report = api.get(f"/v2/executions/{failed['id']}/report", errors_only="true")
    assert report["statistics"]["total_tasks_count"] == 5
    assert report["statistics"]["success_tasks_count"] == 2
    leaf = (f"{name}_leaf", "ERROR", [("retried", "ERROR", [("std.fail", "ERROR")] * 3)])
    assert _names(report["root_workflow_execution"]) == (
        name, "ERROR", [("call", "ERROR", [(f"{name}_middle", "ERROR", [("deeper", "ERROR", [leaf])])])])


@pytest.mark.parametrize(("depth", "total"), [(0, 2), (1, 4), (2, 5), (-1, 5)])
def test_max_depth_lists_deeper_executions_without_their_tasks(api: Api, name: str, failed: dict[str, Any],
                                                               depth: int, total: int) -> None:
    report = api.get(f"/v2/executions/{failed['id']}/report", max_depth=str(depth))
    assert report["statistics"]["total_tasks_count"] == total
    level, executions = 0, [report["root_workflow_execution"]]
    while executions:
        (execution,) = executions
        assert ("task_executions" in execution) == (depth < 0 or level <= depth), (level, execution)
        executions = [w for t in execution.get("task_executions", []) for w in t["workflow_executions"]]
        level += 1
    assert level == (3 if depth < 0 else min(depth + 2, 3))


@pytest.mark.parametrize("depth", [None, "0", "1", "2", "-1"])
def test_statistics_only(api: Api, failed: dict[str, Any], depth: str | None) -> None:
    params = {"max_depth": depth} if depth is not None else {}
    middle = api.get(f"/v2/executions/{failed['id']}/executions")["executions"][0]
    for execution_id in (failed["id"], middle["id"]):  # the root's tree, and a sub-tree of it
        report = api.get(f"/v2/executions/{execution_id}/report", statistics_only="true", **params)
        assert set(report) == {"statistics"}
        # Counted by the database without reading the tree: the same as the whole report counts.
        assert report["statistics"] == api.get(f"/v2/executions/{execution_id}/report", **params)["statistics"]
    whole = api.get(f"/v2/executions/{failed['id']}/report", statistics_only="true", **params)["statistics"]
    assert whole["total_tasks_count"] == {None: 5, "0": 2, "1": 4, "2": 5, "-1": 5}[depth]
    assert whole["error_tasks_count"] == {None: 3, "0": 1, "1": 2, "2": 3, "-1": 3}[depth]
    unknown = api.client.simulate_get("/v2/executions/00000000-0000-4000-8000-000000000000/report",
                                      params={"statistics_only": "true"})
    assert unknown.status_code == 404


def test_report_errors(api: Api, failed: dict[str, Any]) -> None:
    missing = api.client.simulate_get("/v2/executions/00000000-0000-4000-8000-000000000000/report")
    assert missing.status_code == 404
    for params in ({"max_depth": "deep"}, {"errors_only": "maybe"}, {"colour": "red"}):
        bad = api.client.simulate_get(f"/v2/executions/{failed['id']}/report", params=params)
        assert bad.status_code == 400, params
        assert next(iter(params)) in bad.json["faultstring"] or "deep" in bad.json["faultstring"]


def test_task_sub_executions(api: Api, name: str, failed: dict[str, Any]) -> None:
    call = next(t for t in api.tasks(failed["id"]) if t["name"] == "call")
    below = api.get(f"/v2/tasks/{call['id']}/executions")["executions"]
    assert [e["workflow_name"] for e in below] == [f"{name}_middle", f"{name}_leaf"]
    direct = api.get(f"/v2/tasks/{call['id']}/executions", max_depth="1")["executions"]
    assert [e["workflow_name"] for e in direct] == [f"{name}_middle"]
    first = next(t for t in api.tasks(failed["id"]) if t["name"] == "first")
    assert api.get(f"/v2/tasks/{first['id']}/executions")["executions"] == []
    assert api.client.simulate_get("/v2/tasks/00000000-0000-4000-8000-000000000000/executions").status_code == 404


def test_an_action_by_name_and_namespace_in_the_path(api: Api, name: str) -> None:
    api.upload("actions", f"version: '2.0'\n{name}:\n  base: std.noop\n", namespace="ns1")
    assert api.get(f"/v2/actions/{name}/ns1")["namespace"] == "ns1"
    assert api.client.simulate_get(f"/v2/actions/{name}/other").status_code == 404
    assert api.client.simulate_delete(f"/v2/actions/{name}/ns1").status_code == 204
    assert api.client.simulate_get(f"/v2/actions/{name}", params={"namespace": "ns1"}).status_code == 404


@pytest.mark.parametrize(("collection", "item", "words"), [
    ("/v2/event_triggers", "/v2/event_triggers/t1", "Event triggers"),
    ("/v2/code_sources", "/v2/code_sources/src", "Code sources"),
    ("/v2/dynamic_actions", "/v2/dynamic_actions/dyn", "Dynamic actions"),
    ("/v2/workflows/wf1/members", "/v2/workflows/wf1/members/p2", "Workflow members"),
])
def test_what_levante_does_not_have_says_so(api: Api, auth_client: Any, collection: str, item: str,
                                            words: str) -> None:
    key = collection.rsplit("/", 1)[-1]
    assert api.get(collection) == {key: []}
    for method, path in (("POST", collection), ("PUT", collection), ("GET", item), ("PUT", item),
                         ("DELETE", item)):
        got = api.client.simulate_request(method, path, json={"name": "x"})
        assert got.status_code == 501, (method, path)
        assert got.json["faultstring"].startswith(f"{words}") and "not supported by Levante" in got.json[
            "faultstring"], got.json
        assert f"{method} {path}" in got.json["faultstring"]
    assert auth_client.simulate_get(collection).status_code == 401
    assert auth_client.simulate_get(collection, headers={"X-Auth-Token": ADMIN_KEY}).status_code == 200


def test_delete_an_action_execution_that_ran_on_its_own(api: Api, failed: dict[str, Any]) -> None:
    ran = api.client.simulate_post("/v2/action_executions", json={"name": "std.echo", "input": {"output": 1}})
    assert ran.status_code == 201 and ran.json["state"] == "SUCCESS", ran.text
    assert api.client.simulate_delete(f"/v2/action_executions/{ran.json['id']}").status_code == 204
    assert api.client.simulate_get(f"/v2/action_executions/{ran.json['id']}").status_code == 404
    of_a_task = api.get("/v2/action_executions", workflow_name=failed["workflow_name"])["action_executions"][0]
    refused = api.client.simulate_delete(f"/v2/action_executions/{of_a_task['id']}")
    assert refused.status_code == 403 and "ad-hoc" in refused.json["faultstring"]
    waiting = api.client.simulate_post("/v2/action_executions", json={"name": "std.async_noop"})
    assert waiting.status_code == 201 and waiting.json["state"] == "RUNNING", waiting.text
    refused = api.client.simulate_delete(f"/v2/action_executions/{waiting.json['id']}")
    assert refused.status_code == 403 and "completed" in refused.json["faultstring"]
