"""Inputs that used to get a 500 or be accepted and then stuck: deeply nested JSON, huge integers in
query parameters, deeply nested YAML, a workflow that starts itself, names with ``/``."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.functional.api.helpers import decoded

#: The documented limit on the nesting of JSON request values (levante.api.payloads.MAX_JSON_DEPTH).
MAX_JSON_DEPTH = 200


def _nested(depth: int) -> str:
    """A JSON object nested ``depth`` deep."""
    return '{"a": ' * depth + "1" + "}" * depth


def _standalone(api) -> str:
    created = api.client.simulate_post("/v2/action_executions", json={"name": "std.async_noop"})
    assert created.status_code == 201, created.text
    return created.json["id"]


# --- nested JSON ------------------------------------------------------------------------------


@pytest.mark.parametrize("output", [_nested(MAX_JSON_DEPTH), _nested(500), _nested(1000), "[" * 30000 + "]" * 30000],
                         ids=["limit+1", "500", "1000", "30000"])
def test_callback_output_nested_too_deep_is_400(api, output):
    action_id = _standalone(api)
    body = '{"state": "SUCCESS", "output": ' + output + "}"
    resp = api.client.simulate_put(f"/v2/action_executions/{action_id}", body=body,
                                   headers={"Content-Type": "application/json"})
    assert resp.status_code == 400, resp.text
    assert f"deeper than the limit of {MAX_JSON_DEPTH} levels" in resp.json["faultstring"]
    assert api.get(f"/v2/action_executions/{action_id}")["state"] == "RUNNING"  # nothing changed


def test_callback_output_as_a_json_string_nested_too_deep_is_400(api):
    action_id = _standalone(api)
    resp = api.client.simulate_put(f"/v2/action_executions/{action_id}",
                                   json={"state": "SUCCESS", "output": _nested(1000)})
    assert resp.status_code == 400, resp.text
    assert str(MAX_JSON_DEPTH) in resp.json["faultstring"]


def test_output_nested_to_the_limit_is_stored_and_rendered(api):
    """Inside the limit (the body's own object is one level): accepted, stored, listed."""
    action_id = _standalone(api)
    body = '{"state": "SUCCESS", "output": ' + _nested(MAX_JSON_DEPTH - 1) + "}"
    resp = api.client.simulate_put(f"/v2/action_executions/{action_id}", body=body,
                                   headers={"Content-Type": "application/json"})
    assert resp.status_code == 200, resp.text
    stored = api.get(f"/v2/action_executions/{action_id}")
    assert decoded(stored["output"]) == {"result": json.loads(_nested(MAX_JSON_DEPTH - 1))}
    listed = api.get("/v2/action_executions", include_output="true", id=action_id)["action_executions"]
    assert decoded(listed[0]["output"]) == decoded(stored["output"])


def test_brackets_inside_strings_do_not_count(api):
    action_id = _standalone(api)
    output = {"text": "[" * 5000 + '{"' * 100}
    resp = api.client.simulate_put(f"/v2/action_executions/{action_id}", json={"state": "SUCCESS", "output": output})
    assert resp.status_code == 200, resp.text
    assert decoded(api.get(f"/v2/action_executions/{action_id}")["output"]) == {"result": output}


def test_execution_input_nested_too_deep_is_400(api, name):
    api.upload("workflows", f"version: '2.0'\n{name}:\n  input: [x]\n  tasks:\n    t:\n      action: std.noop\n")
    resp = api.client.simulate_post("/v2/executions", body='{"workflow_name": "' + name + '", "input": {"x": '
                                    + _nested(1000) + "}}", headers={"Content-Type": "application/json"})
    assert resp.status_code == 400, resp.text
    assert api.get("/v2/executions", workflow_name=name)["executions"] == []


# --- integers in query parameters -------------------------------------------------------------


@pytest.mark.parametrize("collection", ["executions", "workflows", "tasks", "action_executions", "cron_triggers",
                                        "environments", "workbooks", "actions"])
def test_huge_limit_is_400(api, collection):
    resp = api.client.simulate_get(f"/v2/{collection}", params={"limit": str(10**30)})
    assert resp.status_code == 400, resp.text
    assert "out of range" in resp.json["faultstring"]


def test_largest_limit_still_lists(api):
    assert "executions" in api.get("/v2/executions", limit=str(2**63 - 1))


def test_huge_integer_filter_and_field_are_400(api, name):
    resp = api.client.simulate_get("/v2/cron_triggers", params={"remaining_executions": str(10**30)})
    assert resp.status_code == 400, resp.text
    api.upload("workflows", f"version: '2.0'\n{name}:\n  tasks:\n    t:\n      action: std.noop\n")
    resp = api.client.simulate_post("/v2/cron_triggers", json={
        "name": f"ct_{uuid.uuid4().hex[:8]}", "workflow_name": name, "pattern": "* * * * *",
        "remaining_executions": 10**30})
    assert resp.status_code == 400, resp.text
    assert "remaining_executions" in resp.json["faultstring"]


# --- nested YAML ------------------------------------------------------------------------------


@pytest.mark.parametrize("nesting", [
    "[" * 5000,                                     # left open
    "[" * 5000 + "]" * 4999,                        # one left open
    "{a: " * 5000,
    "[" * 5000 + "]" * 5000,                        # well formed
    "\n          " + "- " * 5000 + "x",           # block sequences
], ids=["open", "one-open", "flow-maps", "closed", "block"])
def test_yaml_nested_5000_deep_is_400(api, name, nesting):
    text = (f"version: '2.0'\n{name}:\n  tasks:\n    t:\n      action: std.noop\n      input:\n        x: "
            + nesting + "\n")
    resp = api.client.simulate_post("/v2/workflows", body=text, headers={"Content-Type": "text/plain"})
    assert resp.status_code == 400, resp.text


# --- a workflow that starts itself ------------------------------------------------------------


def test_workflow_whose_first_task_starts_itself_is_not_a_500(api, name):
    """It recursed while starting (a 500); the sub-workflow depth limit now ends it in ERROR."""
    api.upload("workflows", f"version: '2.0'\n{name}:\n  tasks:\n    again:\n      workflow: {name}\n")
    resp = api.client.simulate_post("/v2/executions", json={"workflow_name": name})
    assert resp.status_code == 201, resp.text
    assert api.wait(resp.json["id"], timeout=60)["state"] == "ERROR"


# --- names --------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["a/b", "/lead", "trail/", "a\\x01b", "tab\\there", ".", ".."])
def test_workflow_name_unusable_in_urls_is_refused(api, bad):
    text = f'version: \'2.0\'\n"{bad}":\n  tasks:\n    t:\n      action: std.noop\n'
    resp = api.client.simulate_post("/v2/workflows", body=text, headers={"Content-Type": "text/plain"})
    assert resp.status_code == 400, resp.text
    assert "workflow name" in resp.json["faultstring"]


def test_workbook_and_action_names_with_a_slash_are_refused(api, name):
    workbook = (f"version: '2.0'\nname: wb/{name}\nworkflows:\n  w:\n    tasks:\n      t:\n        action: std.noop\n")
    resp = api.client.simulate_post("/v2/workbooks", body=workbook, headers={"Content-Type": "text/plain"})
    assert resp.status_code == 400, resp.text
    assert "workbook name" in resp.json["faultstring"]
    action = f"version: '2.0'\nact/{name}:\n  base: std.echo\n  base-input: {{output: 1}}\n"
    resp = api.client.simulate_post("/v2/actions", body=action, headers={"Content-Type": "text/plain"})
    assert resp.status_code == 400, resp.text
    assert "action name" in resp.json["faultstring"]


def test_environment_and_cron_trigger_names_with_a_slash_are_refused(api, name):
    resp = api.client.simulate_post("/v2/environments", json={"name": f"env/{name}", "variables": {}})
    assert resp.status_code == 400, resp.text
    api.upload("workflows", f"version: '2.0'\n{name}:\n  tasks:\n    t:\n      action: std.noop\n")
    resp = api.client.simulate_post("/v2/cron_triggers", json={"name": f"ct/{name}", "workflow_name": name,
                                                                "pattern": "* * * * *"})
    assert resp.status_code == 400, resp.text
    assert '"/"' in resp.json["faultstring"]


def test_names_with_other_url_characters_stay_reachable(api):
    """Characters other than "/" are percent-encoded in a URL and decoded back before routing."""
    from urllib.parse import quote

    for odd in (f"a b?c#d%2F{uuid.uuid4().hex[:6]}", f"naïve:{uuid.uuid4().hex[:6]}"):
        text = f'version: \'2.0\'\n"{odd}":\n  tasks:\n    t:\n      action: std.noop\n'
        api.upload("workflows", text)
        found = api.client.simulate_get("/v2/workflows/" + quote(odd, safe=""))
        assert found.status_code == 200, found.text
        assert found.json["name"] == odd


# --- deep results from actions ----------------------------------------------------------------


def _deep_node(tmp_path, depth):
    """A node whose action ``test.deep`` returns ``{"a": {"a": ... 1}}`` nested ``depth`` deep."""
    from levante import config as config_mod
    from levante.actions.base import Action
    from levante.actions.registry import Registry
    from levante.node import Node

    class Deep(Action):
        def __init__(self, **kwargs):
            pass

        def run(self, context):
            value = 1
            for _ in range(depth):
                value = {"a": value}
            return value

    registry = Registry()
    registry.register("test.deep", Deep)
    return Node(config_mod.load(env={}, db_url=f"sqlite:///{tmp_path / 'levante.db'}", executor_threads=2),
                registry=registry)


def _deep_api(node):
    import falcon.testing

    from levante.api.app import create_app
    from tests.functional.api.helpers import Api

    api = Api(falcon.testing.TestClient(create_app(node.config, node.services)), node)
    api.upload("workflows", "version: '2.0'\ndeep_wf:\n  tasks:\n    t:\n      action: test.deep\n")
    return api


def test_action_result_nested_480_deep_is_rendered(tmp_path):
    """An action (not a callback, which the API bounds) may return a value nested deeper than the
    views' recursion allows: they render it all the same (it got a 500)."""
    depth = 480
    with _deep_node(tmp_path, depth) as node:
        api = _deep_api(node)
        ex = api.start("deep_wf")
        assert api.wait(ex["id"])["state"] == "SUCCESS"
        listed = api.get("/v2/action_executions", include_output="true")["action_executions"]
        one = api.get(f"/v2/action_executions/{listed[0]['id']}")
        for view in (listed[0], one):
            assert view["output"] == '{"result": ' + '{"a": ' * depth + "1" + "}" * depth + "}"


def test_action_result_nested_5000_deep_fails_the_action(tmp_path):
    """A result too deep to store as JSON: the engine failed to apply it for good and the execution
    stayed RUNNING; now the action fails with the depth named, and the workflow ends."""
    with _deep_node(tmp_path, 5000) as node:
        api = _deep_api(node)
        ex = api.start("deep_wf")
        done = api.wait(ex["id"], timeout=60)
        assert done["state"] == "ERROR"
        [task] = api.tasks(ex["id"])
        assert "deeper than 500 levels" in task["state_info"]
