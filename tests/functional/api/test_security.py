"""Callback tokens, API keys and roles, heartbeats, and rejected callbacks leaving actions untouched.

``client`` is the app with auth off (127.0.0.1, the default); ``auth_client`` is the same node behind
an app with auth on, where ``ADMIN_KEY`` is an admin key.
"""

from __future__ import annotations

import hashlib
from typing import Any

import falcon.testing
import pytest

from levante.db import repository as repo
from levante.db.session import transaction
from tests.functional.api.helpers import ADMIN_KEY, ASYNC_WF, ECHO_WF, MAX_BODY, Api, callback_token, decoded

ADMIN = {"X-API-Key": ADMIN_KEY}


@pytest.fixture
def admin(auth_app: Any, node: Any) -> Api:
    """The auth-on app driven with the admin key."""
    return Api(falcon.testing.TestClient(auth_app, headers=ADMIN), node)


@pytest.fixture
def user_key(admin: Api, name: str) -> str:
    created = admin.client.simulate_post("/v2/api_keys", json={"name": name, "role": "user"})
    assert created.status_code == 201, created.text
    assert created.json["role"] == "user" and created.json["key"]
    return created.json["key"]


@pytest.fixture
def waiting(api: Api, name: str) -> tuple[str, dict[str, Any]]:
    """An execution waiting on an async action: (execution id, action view)."""
    api.upload("workflows", ASYNC_WF.format(name=name))
    ex = api.start(name)
    return ex["id"], api.running_action(ex["id"], "wait")


def _stored(node: Any, action_id: str) -> tuple[Any, ...]:
    """What a rejected request must not change: the stored action and its heartbeat columns."""
    with transaction(node.read_factory) as session:
        action = repo.get_action_execution(session, action_id)
        beat = repo.heartbeats_of(session, [action_id]).get(action_id)
        return (str(action.state), action.output, action.accepted, action.updated_at, beat)


# --- callback tokens --------------------------------------------------------------------------


def test_async_action_gets_a_token_stored_as_a_hash(api, node, waiting):
    _, action = waiting
    token = callback_token(node, action["id"])
    assert len(token) >= 40
    with transaction(node.read_factory) as session:
        stored = repo.callback_token_hash_of(session, action["id"])
    assert stored == hashlib.sha256(token.encode()).hexdigest() and token not in stored


def test_sync_actions_get_no_token(api, node, name):
    api.upload("workflows", ECHO_WF.format(name=name))
    ex = api.wait(api.start(name, {"who": "Ada"})["id"])
    task = api.task(ex["id"], "say")
    action = api.get(f"/v2/tasks/{task['id']}/action_executions")["action_executions"][0]
    with transaction(node.read_factory) as session:
        assert repo.callback_token_hash_of(session, action["id"]) is None


def test_auth_on_callback_with_header_token(auth_client, api, node, waiting):
    ex_id, action = waiting
    token = callback_token(node, action["id"])
    resp = auth_client.simulate_put(f"/v2/action_executions/{action['id']}", json={"state": "SUCCESS", "output": 7},
                                    headers={"Levante-Callback-Token": token})
    assert resp.status_code == 200, resp.text
    assert decoded(resp.json["output"]) == {"result": 7}
    assert api.wait(ex_id)["state"] == "SUCCESS"


def test_auth_on_callback_with_query_token_and_post(auth_client, api, node, waiting):
    ex_id, action = waiting
    token = callback_token(node, action["id"])
    resp = auth_client.simulate_post(f"/v2/action_executions/{action['id']}", json={"state": "SUCCESS"},
                                     params={"token": token})
    assert resp.status_code == 200, resp.text
    assert api.wait(ex_id)["state"] == "SUCCESS"


def test_auth_on_missing_token_401_wrong_token_403_nothing_changes(auth_client, node, waiting):
    _, action = waiting
    path = f"/v2/action_executions/{action['id']}"
    before = _stored(node, action["id"])
    missing = auth_client.simulate_put(path, json={"state": "SUCCESS", "output": 1})
    assert missing.status_code == 401 and missing.json["faultcode"] == "Client"
    wrong = auth_client.simulate_put(path, json={"state": "SUCCESS"}, headers={"Levante-Callback-Token": "nope"})
    assert wrong.status_code == 403
    wrong_query = auth_client.simulate_put(path, json={"state": "SUCCESS"}, params={"token": "nope"})
    assert wrong_query.status_code == 403
    # another action's token is wrong too
    assert _stored(node, action["id"]) == before


def test_auth_on_callback_with_an_api_key(admin, api, waiting):
    ex_id, action = waiting
    admin.put(f"/v2/action_executions/{action['id']}", {"state": "SUCCESS", "output": {"k": 1}})
    assert api.wait(ex_id)["state"] == "SUCCESS"


def test_auth_off_needs_no_token_but_refuses_a_wrong_one(api, node, waiting):
    ex_id, action = waiting
    path = f"/v2/action_executions/{action['id']}"
    before = _stored(node, action["id"])
    wrong = api.client.simulate_put(path, json={"state": "SUCCESS"}, headers={"Levante-Callback-Token": "bad"})
    assert wrong.status_code == 403
    assert _stored(node, action["id"]) == before
    api.put(path, {"state": "SUCCESS", "output": 2})
    assert api.wait(ex_id)["state"] == "SUCCESS"


@pytest.mark.parametrize("state", ["PAUSED", "RUNNING", "ERROR", "CANCELLED"])
def test_wrong_token_refused_for_every_callback_state(auth_client, node, waiting, state):
    """The engine checks the token in the transaction that would change the action, whatever the
    state asked for: a wrong one changes nothing (the execution stays RUNNING, too)."""
    ex_id, action = waiting
    before = _stored(node, action["id"])
    wrong = auth_client.simulate_put(f"/v2/action_executions/{action['id']}", json={"state": state, "output": 1},
                                     headers={"Levante-Callback-Token": "x" + callback_token(node, action["id"])})
    assert wrong.status_code == 403, wrong.text
    assert "not the one of action execution" in wrong.json["faultstring"]
    assert _stored(node, action["id"]) == before
    with transaction(node.read_factory) as session:
        assert str(repo.get_execution(session, ex_id).state) == "RUNNING"


def test_token_of_one_action_does_not_open_another(auth_client, api, node, name):
    api.upload("workflows", ASYNC_WF.format(name=name))
    first = api.running_action(api.start(name)["id"], "wait")
    second = api.running_action(api.start(name)["id"], "wait")
    token = callback_token(node, first["id"])
    resp = auth_client.simulate_put(f"/v2/action_executions/{second['id']}", json={"state": "SUCCESS"},
                                    headers={"Levante-Callback-Token": token})
    assert resp.status_code == 403


# --- API keys and roles -----------------------------------------------------------------------


def test_auth_on_public_endpoints(auth_client):
    assert auth_client.simulate_get("/").status_code == 200
    assert auth_client.simulate_get("/health").status_code == 200
    assert auth_client.simulate_get("/v2/workflows").status_code == 401


def test_auth_on_keys_in_both_headers(auth_client, user_key):
    assert auth_client.simulate_get("/v2/workflows", headers={"X-API-Key": user_key}).status_code == 200
    bearer = auth_client.simulate_get("/v2/executions", headers={"Authorization": f"Bearer {user_key}"})
    assert bearer.status_code == 200
    admin = auth_client.simulate_get("/v2/executions", headers={"Authorization": f"Bearer {ADMIN_KEY}"})
    assert admin.status_code == 200
    bad = auth_client.simulate_get("/v2/workflows", headers={"X-API-Key": "lvk_not-a-key"})
    assert bad.status_code == 401


def test_user_may_not_delete_admin_may(admin, auth_client, user_key, name):
    admin.upload("workflows", ECHO_WF.format(name=name))
    as_user = {"X-API-Key": user_key}
    created = auth_client.simulate_post("/v2/executions", json={"workflow_name": name, "input": {"who": "U"}},
                                        headers=as_user)
    assert created.status_code == 201, created.text
    ex_id = created.json["id"]
    admin.wait(ex_id)
    denied = auth_client.simulate_delete(f"/v2/executions/{ex_id}", headers=as_user)
    assert denied.status_code == 403
    forced = auth_client.simulate_delete(f"/v2/executions/{ex_id}", params={"force": "true"}, headers=as_user)
    assert forced.status_code == 403
    assert auth_client.simulate_delete(f"/v2/workflows/{name}", headers=as_user).status_code == 403
    assert admin.client.simulate_delete(f"/v2/executions/{ex_id}").status_code == 204
    assert admin.client.simulate_delete(f"/v2/workflows/{name}").status_code == 204


def test_api_keys_are_admin_only_and_stored_hashed(admin, auth_client, node, user_key, name):
    assert auth_client.simulate_get("/v2/api_keys", headers={"X-API-Key": user_key}).status_code == 403
    listed = admin.get("/v2/api_keys")["api_keys"]
    mine = [k for k in listed if k["name"] == name]
    assert mine and "key" not in mine[0] and mine[0]["role"] == "user"
    with transaction(node.read_factory) as session:
        row = repo.find_api_key(session, hashlib.sha256(user_key.encode()).hexdigest())
    assert row is not None and row.key_hash != user_key
    assert admin.client.simulate_delete(f"/v2/api_keys/{name}").status_code == 204
    assert auth_client.simulate_get("/v2/workflows", headers={"X-API-Key": user_key}).status_code == 401


def test_auth_off_everything_open(api):
    assert api.client.simulate_get("/v2/api_keys").status_code == 200
    assert api.client.simulate_get("/v2/workflows").status_code == 200


# --- heartbeats -------------------------------------------------------------------------------


def test_heartbeat_records_progress(api, node, waiting):
    ex_id, action = waiting
    path = f"/v2/action_executions/{action['id']}/heartbeat"
    shown = api.put(path, {"progress": {"done": 3, "of": 10}})
    assert shown["progress"] == {"done": 3, "of": 10} and shown["last_heartbeat"]
    assert api.get(f"/v2/action_executions/{action['id']}")["progress"] == {"done": 3, "of": 10}
    task = api.task(ex_id, "wait")
    assert task["progress"] == {"done": 3, "of": 10}
    assert api.get(f"/v2/tasks/{task['id']}")["progress"] == {"done": 3, "of": 10}
    assert api.put(path, {"progress": 0.5})["progress"] == 0.5
    bare = api.client.simulate_put(path)
    assert bare.status_code == 200 and bare.json["progress"] == 0.5
    api.put(f"/v2/action_executions/{action['id']}", {"state": "SUCCESS"})
    done = api.client.simulate_put(path, json={"progress": 1})
    assert done.status_code == 409
    assert api.get(f"/v2/action_executions/{action['id']}")["progress"] == 0.5
    api.wait(ex_id)
    assert api.task(ex_id, "wait")["progress"] is None


def test_heartbeat_auth(auth_client, node, waiting):
    _, action = waiting
    path = f"/v2/action_executions/{action['id']}/heartbeat"
    before = _stored(node, action["id"])
    assert auth_client.simulate_put(path, json={"progress": 1}).status_code == 401
    assert auth_client.simulate_put(path, json={"progress": 1},
                                    headers={"Levante-Callback-Token": "x"}).status_code == 403
    assert _stored(node, action["id"]) == before
    token = callback_token(node, action["id"])
    ok = auth_client.simulate_put(path, json={"progress": 2}, headers={"Levante-Callback-Token": token})
    assert ok.status_code == 200 and ok.json["progress"] == 2
    keyed = auth_client.simulate_put(path, json={"progress": 3}, headers=ADMIN)
    assert keyed.status_code == 200 and keyed.json["progress"] == 3


def test_heartbeat_unknown_id_404(api):
    assert api.client.simulate_put("/v2/action_executions/nope/heartbeat", json={}).status_code == 404


# --- rejected callbacks leave the action untouched ---------------------------------------------


@pytest.mark.parametrize("body, status, words", [
    (b"{not json", 400, "not valid JSON"),
    (b"[1, 2]", 400, "JSON object"),
    (b"", 400, "empty"),
    (b'{"state": "DONE"}', 400, "Expected one of"),
    (b'{"state": "SUCCESS", "colour": 1}', 400, "colour"),
    (b"x" * (MAX_BODY + 1), 413, "larger than"),
])
def test_malformed_callback_is_rejected_and_changes_nothing(api, node, waiting, body, status, words):
    _, action = waiting
    before = _stored(node, action["id"])
    for path in (f"/v2/action_executions/{action['id']}", f"/v2/action_executions/{action['id']}/heartbeat"):
        if path.endswith("heartbeat") and body in (b"", b'{"state": "DONE"}'):
            continue  # an empty heartbeat is fine; a state is not a heartbeat key (checked below)
        resp = api.client.simulate_put(path, body=body, headers={"Content-Type": "application/json"})
        assert resp.status_code in (status, 400), resp.text
        if not path.endswith("heartbeat"):
            assert resp.status_code == status and words in resp.json["faultstring"], resp.text
    assert _stored(node, action["id"]) == before


def test_callback_for_unknown_id_404_and_finished_409(api, node, waiting):
    _, action = waiting
    assert api.client.simulate_put("/v2/action_executions/no-such-id", json={"state": "SUCCESS"}).status_code == 404
    api.put(f"/v2/action_executions/{action['id']}", {"state": "SUCCESS", "output": 1})
    after = _stored(node, action["id"])
    for body in ({"state": "SUCCESS", "output": 2}, {"state": "ERROR"}, {"state": "PAUSED"}):
        again = api.client.simulate_put(f"/v2/action_executions/{action['id']}", json=body)
        assert again.status_code == 409, again.text
    assert _stored(node, action["id"]) == after
