"""``GET /v2/executions/<id>/history`` in pages: ``limit`` entries after ``marker`` (an entry's id),
with ``next`` while a page is full, as Mistral's collections page (a huge execution's history is
read a page at a time)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from tests.functional.api.helpers import Api

CHAIN = """\
version: '2.0'
{name}:
  tasks:
    a:
      action: std.noop
      on-success: [b]
    b:
      action: std.noop
      on-success: [c]
    c:
      action: std.noop
"""


def test_history_pages_follow_each_other(api: Api, name: str) -> None:
    api.upload("workflows", CHAIN.format(name=name))
    ex = api.wait(api.start(name)["id"])
    path = f"/v2/executions/{ex['id']}/history"
    whole = api.get(path)["events"]
    assert len(whole) > 4 and "next" not in api.get(path)
    pages, params = [], {"limit": 3}
    while True:
        body = api.get(path, **params)
        pages.append(body["events"])
        if "next" not in body:
            break
        assert len(body["events"]) == 3
        query = parse_qs(urlsplit(body["next"]).query)
        assert urlsplit(body["next"]).path == path
        params = {"limit": int(query["limit"][0]), "marker": query["marker"][0]}
        assert params["marker"] == str(body["events"][-1]["id"])
    assert [e for p in pages for e in p] == whole
    assert api.get(path, marker=whole[-1]["id"])["events"] == []
    assert api.get(path, marker=whole[1]["id"], limit=1)["events"] == [whole[2]]


def test_bad_paging_is_a_400_naming_it(api: Api, name: str) -> None:
    api.upload("workflows", CHAIN.format(name=name))
    ex = api.wait(api.start(name)["id"])
    path = f"/v2/executions/{ex['id']}/history"
    for params, says in [({"limit": 0}, "Limit must be positive"), ({"limit": "x"}, "Not an integer"),
                         ({"marker": "abc"}, "Not an integer"), ({"sort_keys": "id"}, "Unknown query parameter")]:
        resp = api.client.simulate_get(path, params=params)
        assert resp.status_code == 400 and says in resp.json["faultstring"], (params, resp.text)
    assert api.client.simulate_get("/v2/executions/nope/history", params={"limit": 2}).status_code == 404
