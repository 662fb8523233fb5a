"""Every operator of Mistral's filter syntax (``attr=<op>:<value>``) on every list endpoint.

Each test makes a few items of one resource whose text attribute holds values chosen so that a
``LIKE`` would go wrong (``%``, ``_``), then asks for each operator and compares with the same
predicate evaluated in Python. tests/integration/api/test_pg_list_filters.py runs them again on
PostgreSQL.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from urllib.parse import urlencode

import pytest

from tests.functional.api.helpers import Api

Check = Callable[[str], bool]


def _listed(api: Api, path: str, collection: str, pairs: list[tuple[str, str]], key: str) -> list[str]:
    resp = api.client.simulate_get(path, query_string=urlencode(pairs))
    assert resp.status_code == 200, f"{pairs}: {resp.text}"
    return sorted(item[key] for item in resp.json[collection])


def _cases(values: list[str], needle: str) -> list[tuple[str, Check]]:
    """``(filter text, predicate)`` for every operator, around the middle value."""
    low, mid, high = sorted(values)[0], sorted(values)[len(values) // 2], sorted(values)[-1]
    return [
        (mid, lambda v: v == mid),
        (f"eq:{mid}", lambda v: v == mid),
        (f"neq:{mid}", lambda v: v != mid),
        (f"in:{low},{high}", lambda v: v in (low, high)),
        (f"nin:{low},{high}", lambda v: v not in (low, high)),
        (f"gt:{mid}", lambda v: v > mid),
        (f"gte:{mid}", lambda v: v >= mid),
        (f"lt:{mid}", lambda v: v < mid),
        (f"lte:{mid}", lambda v: v <= mid),
        (f"has:{needle}", lambda v: needle in v),
        ("has:%", lambda v: "%" in v),
        ("has:_", lambda v: "_" in v),
    ]


def check_every_operator(api: Api, path: str, collection: str, attr: str, items: dict[str, str],
                         scope: list[tuple[str, str]], key: str = "id", needle: str = "_b") -> None:
    """``items`` (key -> value of ``attr``) are what ``scope`` selects; every operator on ``attr``
    selects the ones its predicate holds for."""
    assert _listed(api, path, collection, scope, key) == sorted(items)
    for text, holds in _cases(list(items.values()), needle):
        expected = sorted(k for k, v in items.items() if holds(v))
        assert _listed(api, path, collection, [*scope, (attr, text)], key) == expected, f"{attr}={text}"


@pytest.fixture
def tag() -> str:
    return "f" + uuid.uuid4().hex[:8]


def _values(tag: str) -> list[str]:
    # 'x' sorts between '%' and '_' in ASCII and in the databases' collations; LIKE would read
    # '_' as any character ('<tag>xb' would match has:_b) and '%' as anything.
    return [f"{tag}_b", f"{tag}xb", f"{tag}%c", f"{tag}a"]


WORKFLOW = """\
version: '2.0'
{name}:
  description: {description}
  tasks:
    t:
      action: std.noop
"""


def test_workflows(api: Api, tag: str) -> None:
    names = _values(tag)[:2] + [f"{tag}c", f"{tag}a"]  # workflow names are words
    for name in names:
        api.upload("workflows", WORKFLOW.format(name=name, description="d"))
    check_every_operator(api, "/v2/workflows", "workflows", "name", {n: n for n in names},
                         [("name", f"has:{tag}")], key="name")


def test_workbooks(api: Api, tag: str) -> None:
    names = _values(tag)[:2] + [f"{tag}c", f"{tag}a"]
    for name in names:
        api.upload("workbooks", f"version: '2.0'\nname: {name}\nworkflows:\n  w:\n    tasks:\n"
                                "      t: {action: std.noop}\n")
    check_every_operator(api, "/v2/workbooks", "workbooks", "name", {n: n for n in names},
                         [("name", f"has:{tag}")], key="name")


def test_actions_listed_in_memory(api: Api, tag: str) -> None:
    names = _values(tag)[:2] + [f"{tag}c", f"{tag}a"]
    descriptions = dict(zip(names, _values(tag), strict=True))
    for name, description in descriptions.items():
        api.upload("actions", f"version: '2.0'\n{name}:\n  description: '{description}'\n  base: std.noop\n")
    check_every_operator(api, "/v2/actions", "actions", "name", {n: n for n in names},
                         [("name", f"has:{tag}")], key="name")
    check_every_operator(api, "/v2/actions", "actions", "description", descriptions,
                         [("name", f"has:{tag}")], key="name")


def test_environments(api: Api, tag: str) -> None:
    descriptions = {f"{tag}{i}": value for i, value in enumerate(_values(tag))}
    for name, description in descriptions.items():
        resp = api.client.simulate_post("/v2/environments", json={"name": name, "description": description,
                                                                  "variables": {}})
        assert resp.status_code == 201, resp.text
    check_every_operator(api, "/v2/environments", "environments", "description", descriptions,
                         [("name", f"has:{tag}")], key="name")
    check_every_operator(api, "/v2/environments", "environments", "name", {n: n for n in descriptions},
                         [("name", f"has:{tag}")], key="name", needle="2")


def test_cron_triggers(api: Api, tag: str) -> None:
    api.upload("workflows", WORKFLOW.format(name=tag, description="d"))
    names = _values(tag)
    for name in names:
        body = {"name": name, "workflow_name": tag, "pattern": "0 0 1 1 *"}
        resp = api.client.simulate_post("/v2/cron_triggers", json=body)
        assert resp.status_code == 201, resp.text
    try:
        check_every_operator(api, "/v2/cron_triggers", "cron_triggers", "name", {n: n for n in names},
                             [("workflow_name", tag)], key="name")
    finally:
        for name in names:
            api.client.simulate_delete(f"/v2/cron_triggers/{name}")


THREE_ACTIONS = """\
version: '2.0'
{name}:
  tasks:
    {tag}_b:
      action: std.noop
    {tag}xb:
      action: std.echo output=1
    {tag}a:
      action: std.sleep seconds=0
"""


def test_executions_tasks_and_action_executions(api: Api, tag: str) -> None:
    api.upload("workflows", WORKFLOW.format(name=tag, description="d"))
    descriptions = {}
    for description in _values(tag):
        ex = api.start(tag, description=description)
        descriptions[ex["id"]] = description
        api.wait(ex["id"])
    check_every_operator(api, "/v2/executions", "executions", "description", descriptions,
                         [("workflow_name", tag)])
    check_every_operator(api, "/v2/executions", "executions", "workflow_name",
                         {i: tag for i in descriptions}, [("description", f"has:{tag}")], needle=tag[2:5])

    api.upload("workflows", THREE_ACTIONS.format(name=f"{tag}_three", tag=tag))
    ex = api.start(f"{tag}_three")
    assert api.wait(ex["id"])["state"] == "SUCCESS"
    tasks = {t["id"]: t["name"] for t in api.tasks(ex["id"])}
    check_every_operator(api, "/v2/tasks", "tasks", "name", tasks, [("workflow_execution_id", ex["id"])])
    check_every_operator(api, f"/v2/executions/{ex['id']}/tasks", "tasks", "name", tasks, [])
    actions = {a["id"]: a["name"] for a in api.get("/v2/action_executions", workflow_name=f"{tag}_three")
               ["action_executions"]}
    assert sorted(actions.values()) == ["std.echo", "std.noop", "std.sleep"]
    check_every_operator(api, "/v2/action_executions", "action_executions", "name", actions,
                         [("workflow_name", f"{tag}_three")], needle="e")
    one_task = next(i for i, n in tasks.items() if n == f"{tag}_b")
    check_every_operator(api, f"/v2/tasks/{one_task}/action_executions", "action_executions", "name",
                         {i: n for i, n in actions.items() if n == "std.noop"}, [], needle="noop")


@pytest.mark.parametrize(("path", "params", "named"), [
    ("/v2/executions", {"description": "like:x"}, "'like'"),
    ("/v2/workflows", {"name": "contains:x"}, "'contains'"),
    ("/v2/actions", {"name": "hass:x"}, "'hass'"),
    ("/v2/executions", {"created_at": "has:2024"}, "created_at=has:"),
    ("/v2/tasks", {"state": "has:RUN"}, "state=has:"),
    ("/v2/action_executions", {"accepted": "has:t"}, "accepted=has:"),
    ("/v2/environments", {"description": "has:"}, "needs a text"),
    ("/v2/workbooks", {"name": "in:"}, "name=in:"),
    ("/v2/cron_triggers", {"name": "nin:,"}, "name=nin:"),
    ("/v2/executions", {"created_at": "gt:soon"}, "'soon'"),
    ("/v2/tasks", {"state": "in:RUNNING,SLEEPY"}, "'SLEEPY'"),
])
def test_a_bad_operator_or_value_is_a_400_naming_it(api: Api, path: str, params: dict[str, str],
                                                    named: str) -> None:
    resp = api.client.simulate_get(path, params=params)
    assert resp.status_code == 400, resp.text
    assert named in resp.text


def test_a_value_with_a_colon_is_taken_as_it_is(api: Api, tag: str) -> None:
    api.upload("workflows", WORKFLOW.format(name=tag, description="d"))
    ex = api.start(tag, description="ETA: 10:30")
    for text in ("eq:ETA: 10:30", "ETA: 10:30", "has:A: 10:"):
        listed = api.get("/v2/executions", workflow_name=tag, description=text)["executions"]
        assert [e["id"] for e in listed] == [ex["id"]], text
