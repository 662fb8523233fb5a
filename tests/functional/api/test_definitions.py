"""Workflows, workbooks and actions: YAML text in, Mistral's JSON out."""

from __future__ import annotations

import hashlib
import uuid

from tests.functional.api.helpers import ECHO_WF, decoded

TWO_WORKFLOWS = """\
version: '2.0'
{a}:
  tasks:
    t: {{action: std.noop}}
{b}:
  input: [x]
  tasks:
    t: {{action: std.noop}}
"""

WORKBOOK = """\
version: '2.0'
name: {name}
actions:
  greet:
    base: std.echo
    base-input:
      output: "Hi <% $.who %>"
    input: [who]
workflows:
  main:
    tasks:
      t:
        action: {name}.greet who="you"
"""

ACTIONS = """\
version: '2.0'
{name}:
  description: Says hello.
  base: std.echo output="hello <% $.who %>"
  input:
    - who
"""


# --- workflows ------------------------------------------------------------------------------


def test_create_workflow_answers_201_with_mistral_fields(api, name):
    text = ECHO_WF.format(name=name)
    body = api.upload("workflows", text)
    (wf,) = body["workflows"]
    assert wf["name"] == name
    assert wf["namespace"] == ""
    assert wf["input"] == "who, greeting=Hello"
    assert decoded(wf["interface"]) == {"input": ["who", {"greeting": "Hello"}], "output": ["said"]}
    assert wf["definition"] == text
    assert wf["checksum"] == hashlib.md5(text.encode()).hexdigest()
    assert wf["scope"] == "private"
    assert len(wf["created_at"]) == 19 and wf["created_at"][10] == " "
    assert set(wf) >= {"id", "tags", "project_id", "updated_at"}


def test_duplicate_workflow_is_409_and_put_replaces_it(api, name):
    text = ECHO_WF.format(name=name)
    api.upload("workflows", text)
    resp = api.client.simulate_post("/v2/workflows", body=text, headers={"Content-Type": "text/plain"})
    assert resp.status_code == 409
    assert name in resp.json["faultstring"]
    changed = text.replace("Hello", "Howdy")
    (wf,) = api.upload("workflows", changed, method="PUT", status=200)["workflows"]
    assert wf["input"] == "who, greeting=Howdy"
    assert api.get(f"/v2/workflows/{name}")["definition"] == changed


def test_get_workflow_by_name_and_by_id(api, name):
    (wf,) = api.upload("workflows", ECHO_WF.format(name=name))["workflows"]
    assert api.get(f"/v2/workflows/{name}")["id"] == wf["id"]
    assert api.get(f"/v2/workflows/{wf['id']}")["name"] == name
    assert set(api.get(f"/v2/workflows/{name}", fields="name")) == {"id", "name"}


def test_unknown_workflow_is_404(api):
    resp = api.client.simulate_get("/v2/workflows/no_such_workflow")
    assert resp.status_code == 404
    assert "no_such_workflow" in resp.json["faultstring"]


def test_bad_definition_is_400_with_positions(api, name):
    text = f"version: '2.0'\n{name}:\n  tasks:\n    t1:\n      action: std.noop\n      on-success: [nope]\n"
    resp = api.client.simulate_post("/v2/workflows", body=text, headers={"Content-Type": "text/plain"})
    assert resp.status_code == 400
    (error,) = resp.json["errors"]
    assert (error["line"], error["column"]) == (6, 20)
    assert error["path"] == f"{name}.tasks.t1.on-success[0]"
    assert "nope" in resp.json["faultstring"]


def test_unparsable_yaml_is_400_with_line(api):
    resp = api.client.simulate_post("/v2/workflows", body="version: '2.0'\nwf: [\n",
                                    headers={"Content-Type": "text/plain"})
    assert resp.status_code == 400
    assert resp.json["errors"][0]["line"] >= 2


def test_empty_body_is_400(api):
    resp = api.client.simulate_post("/v2/workflows", body="", headers={"Content-Type": "text/plain"})
    assert resp.status_code == 400


def test_several_workflows_each_show_their_own_definition(api):
    a, b = f"a_{uuid.uuid4().hex[:8]}", f"b_{uuid.uuid4().hex[:8]}"
    body = api.upload("workflows", TWO_WORKFLOWS.format(a=a, b=b))
    by_name = {w["name"]: w for w in body["workflows"]}
    assert set(by_name) == {a, b}
    assert b in by_name[b]["definition"] and a not in by_name[b]["definition"]
    assert "version" in by_name[b]["definition"]
    assert by_name[b]["input"] == "x"


def test_put_workflow_by_id_may_rename(api, name):
    (wf,) = api.upload("workflows", ECHO_WF.format(name=name))["workflows"]
    new_name = name + "_renamed"
    resp = api.client.simulate_put(f"/v2/workflows/{wf['id']}", body=ECHO_WF.format(name=new_name),
                                   headers={"Content-Type": "text/plain"})
    assert resp.status_code == 200, resp.text
    assert resp.json["id"] == wf["id"] and resp.json["name"] == new_name


def test_delete_workflow(api, name):
    api.upload("workflows", ECHO_WF.format(name=name))
    assert api.client.simulate_delete(f"/v2/workflows/{name}").status_code == 204
    assert api.client.simulate_get(f"/v2/workflows/{name}").status_code == 404
    assert api.client.simulate_delete(f"/v2/workflows/{name}").status_code == 404


def test_list_workflows_paginates_with_next(api):
    prefix = f"page_{uuid.uuid4().hex[:6]}"
    for i in range(5):
        api.upload("workflows", ECHO_WF.format(name=f"{prefix}_{i}"))
    seen: list[str] = []
    params = {"limit": "2", "name": f"in:{','.join(f'{prefix}_{i}' for i in range(5))}"}
    page = api.get("/v2/workflows", **params)
    while True:
        seen += [w["name"] for w in page["workflows"]]
        if "next" not in page:
            break
        marker = page["next"].split("marker=")[1].split("&")[0]
        page = api.get("/v2/workflows", marker=marker, **params)
    assert seen == [f"{prefix}_{i}" for i in range(5)]


def test_list_workflows_sorted_desc_with_fields(api):
    prefix = f"sort_{uuid.uuid4().hex[:6]}"
    for i in range(3):
        api.upload("workflows", ECHO_WF.format(name=f"{prefix}_{i}"))
    page = api.get("/v2/workflows", sort_keys="name", sort_dirs="desc", fields="name",
                   name=f"in:{prefix}_0,{prefix}_1,{prefix}_2")
    assert [w["name"] for w in page["workflows"]] == [f"{prefix}_2", f"{prefix}_1", f"{prefix}_0"]
    assert all(set(w) == {"id", "name"} for w in page["workflows"])


def test_list_rejects_unknown_field_and_parameter(api):
    assert api.client.simulate_get("/v2/workflows", params={"fields": "nope"}).status_code == 400
    assert api.client.simulate_get("/v2/workflows", params={"colour": "red"}).status_code == 400
    assert api.client.simulate_get("/v2/workflows", params={"limit": "0"}).status_code == 400


def test_validate_workflow(api, name):
    ok = api.client.simulate_post("/v2/workflows/validate", body=ECHO_WF.format(name=name),
                                  headers={"Content-Type": "text/plain"})
    assert ok.status_code == 200 and ok.json == {"valid": True, "warnings": []}
    bad = api.client.simulate_post("/v2/workflows/validate", body="version: '2.0'\nwf:\n  tasks: 3\n",
                                   headers={"Content-Type": "text/plain"})
    assert bad.json["valid"] is False
    assert bad.json["error"]
    assert bad.json["errors"][0]["line"] == 3


def test_scope_and_namespace(api, name):
    text = ECHO_WF.format(name=name)
    (wf,) = api.upload("workflows", text, namespace="ns1", scope="public")["workflows"]
    assert (wf["namespace"], wf["scope"]) == ("ns1", "public")
    assert api.client.simulate_get(f"/v2/workflows/{name}").status_code == 404
    assert api.get(f"/v2/workflows/{name}", namespace="ns1")["id"] == wf["id"]
    # the same name in another namespace is no conflict
    api.upload("workflows", text)


# --- workbooks ------------------------------------------------------------------------------


def test_workbook_crud(api, name):
    text = WORKBOOK.format(name=name)
    wb = api.upload("workbooks", text)
    assert wb["name"] == name and wb["definition"] == text
    assert api.get(f"/v2/workflows/{name}.main")["name"] == f"{name}.main"
    assert api.get(f"/v2/actions/{name}.greet")["is_system"] is False
    assert api.client.simulate_post("/v2/workbooks", body=text,
                                    headers={"Content-Type": "text/plain"}).status_code == 409
    updated = api.upload("workbooks", text.replace("Hi ", "Hey "), method="PUT", status=200)
    assert "Hey" in updated["definition"]
    assert name in [w["name"] for w in api.get("/v2/workbooks")["workbooks"]]
    assert api.get(f"/v2/workbooks/{name}")["id"] == wb["id"]
    assert api.client.simulate_delete(f"/v2/workbooks/{name}").status_code == 204
    assert api.client.simulate_get(f"/v2/workbooks/{name}").status_code == 404


def test_workbook_workflow_shows_its_own_part(api, name):
    api.upload("workbooks", WORKBOOK.format(name=name))
    definition = api.get(f"/v2/workflows/{name}.main")["definition"]
    assert "tasks" in definition and "base-input" not in definition


def test_validate_workbook(api, name):
    resp = api.client.simulate_post("/v2/workbooks/validate", body=WORKBOOK.format(name=name),
                                    headers={"Content-Type": "text/plain"})
    assert resp.json == {"valid": True, "warnings": []}


# --- actions --------------------------------------------------------------------------------


def test_actions_list_holds_system_actions(api):
    actions = {a["name"]: a for a in api.get("/v2/actions")["actions"]}
    echo = actions["std.echo"]
    assert echo["is_system"] is True
    assert echo["input"] == "output, delay=0"
    assert echo["description"]
    names = [a["name"] for a in api.get("/v2/actions", is_system="true")["actions"]]
    assert names == sorted(names) and "std.noop" in names


def test_system_action_get_and_delete_refused(api):
    assert api.get("/v2/actions/std.noop")["is_system"] is True
    resp = api.client.simulate_delete("/v2/actions/std.noop")
    assert resp.status_code == 400
    assert "system action" in resp.json["faultstring"]


def test_adhoc_action_crud(api, name):
    (action,) = api.upload("actions", ACTIONS.format(name=name))["actions"]
    assert action["name"] == name and action["is_system"] is False
    assert action["input"] == "who" and action["description"] == "Says hello."
    listed = api.get("/v2/actions", is_system="false")["actions"]
    assert name in [a["name"] for a in listed]
    assert api.get(f"/v2/actions/{action['id']}")["name"] == name
    assert api.client.simulate_post("/v2/actions", body=ACTIONS.format(name=name),
                                    headers={"Content-Type": "text/plain"}).status_code == 409
    api.upload("actions", ACTIONS.format(name=name), method="PUT", status=200)
    assert api.client.simulate_delete(f"/v2/actions/{name}").status_code == 204
    assert api.client.simulate_get(f"/v2/actions/{name}").status_code == 404


def test_actions_paginate(api):
    first = api.get("/v2/actions", limit="2")
    assert len(first["actions"]) == 2 and "next" in first
    marker = first["actions"][-1]["id"]
    second = api.get("/v2/actions", limit="2", marker=marker)
    assert second["actions"][0]["name"] > first["actions"][-1]["name"]


def test_validate_actions(api):
    resp = api.client.simulate_post("/v2/actions/validate", body="version: '2.0'\nx:\n  base: 3\n",
                                    headers={"Content-Type": "text/plain"})
    assert resp.json["valid"] is False


# --- warnings: inline parameters Mistral ignores -----------------------------------------------

IGNORING = """\
version: '2.0'
{name}:
  tasks:
    call:
      action: std.http url="http://127.0.0.1:9/" method=POST
"""
METHOD_IGNORED = 'parameter \'method\' ignored: its value POST is not quoted (write method="POST")'


def _only_warning(body, path):
    (warning,) = body["warnings"]
    assert warning == {"line": 5, "column": 50, "path": path, "message": METHOD_IGNORED, "kind": "warning",
                       "text": f"<definition>:5:50: {path}: {METHOD_IGNORED}"}


def test_upload_answers_carry_the_warnings_and_the_log_has_them(api, name, caplog):
    text = IGNORING.format(name=name)
    with caplog.at_level("WARNING", logger="levante.api.resources.definitions"):
        created = api.upload("workflows", text)
    assert [w["name"] for w in created["workflows"]] == [name]
    _only_warning(created, f"{name}.tasks.call.action")
    logged = [r for r in caplog.records if r.levelname == "WARNING" and METHOD_IGNORED in r.getMessage()]
    assert len(logged) == 1 and name in logged[0].getMessage()
    _only_warning(api.upload("workflows", text, method="PUT", status=200), f"{name}.tasks.call.action")
    wf_id = created["workflows"][0]["id"]
    _only_warning(api.upload(f"workflows/{wf_id}", text, method="PUT", status=200), f"{name}.tasks.call.action")
    # nothing to say: an empty list
    assert api.upload("workflows", ECHO_WF.format(name=name + "_clean"))["warnings"] == []


def test_workbook_and_action_uploads_carry_the_warnings(api, name):
    workbook = f"version: '2.0'\nname: {name}\nworkflows:\n  main:\n    tasks:\n      call:\n" \
               "        action: std.http url=\"http://127.0.0.1:9/\" method=POST\n"
    body = api.upload("workbooks", workbook)
    assert body["name"] == name
    (warning,) = body["warnings"]
    assert (warning["line"], warning["path"], warning["message"]) == (7, "workflows.main.tasks.call.action",
                                                                      METHOD_IGNORED)
    assert api.upload("workbooks", workbook, method="PUT", status=200)["warnings"][0]["message"] == METHOD_IGNORED
    actions = f"version: '2.0'\n{name}_act:\n  base: std.http url=\"http://127.0.0.1:9/\" method=POST\n"
    body = api.upload("actions", actions)
    assert [a["name"] for a in body["actions"]] == [f"{name}_act"]
    assert [w["message"] for w in body["warnings"]] == [METHOD_IGNORED]


def test_validate_answers_carry_the_warnings(api, name):
    resp = api.client.simulate_post("/v2/workflows/validate", body=IGNORING.format(name=name),
                                    headers={"Content-Type": "text/plain"})
    assert resp.json["valid"] is True
    _only_warning(resp.json, f"{name}.tasks.call.action")


def test_an_uploaded_document_is_parsed_once_for_its_answer_and_its_first_start(api, name, monkeypatch):
    # A workflow of 20,000 tasks takes seconds to parse: the upload keeps what it validated.
    from levante.workflows import parser

    parses: list[str] = []
    real = parser.parse

    def counted(text, *args, **kwargs):
        parses.append(text)
        return real(text, *args, **kwargs)

    monkeypatch.setattr(parser, "parse", counted)
    text = ECHO_WF.format(name=name)
    created = api.upload("workflows", text)
    assert created["workflows"][0]["name"] == name
    ex = api.start(name, {"who": "Ada"})
    assert api.wait(ex["id"])["state"] == "SUCCESS"
    assert parses.count(text) == 1
