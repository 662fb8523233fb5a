"""What OpenStack clients (python-mistralclient) send: the key as ``X-Auth-Token``, obtained from the
Keystone-shaped ``/identity/v3`` endpoints that hand an API key back as the token."""

from __future__ import annotations

from typing import Any

import pytest

from tests.functional.api.helpers import ADMIN_KEY, Api


@pytest.fixture
def user_key(auth_client: Any, name: str) -> str:
    created = auth_client.simulate_post("/v2/api_keys", json={"name": name, "role": "user"},
                                        headers={"X-API-Key": ADMIN_KEY})
    assert created.status_code == 201, created.text
    return created.json["key"]


def _token_body(key: str) -> dict[str, Any]:
    return {"auth": {"identity": {"methods": ["token"], "token": {"id": key}},
                     "scope": {"project": {"name": "p", "domain": {"id": "default"}}}}}


def _password_body(key: str) -> dict[str, Any]:
    return {"auth": {"identity": {"methods": ["password"], "password": {
        "user": {"name": "anyone", "domain": {"id": "default"}, "password": key}}}}}


def test_x_auth_token_carries_an_api_key(auth_client: Any, user_key: str) -> None:
    assert auth_client.simulate_get("/v2/workflows", headers={"X-Auth-Token": ADMIN_KEY}).status_code == 200
    assert auth_client.simulate_get("/v2/executions", headers={"X-Auth-Token": user_key}).status_code == 200
    bad = auth_client.simulate_get("/v2/workflows", headers={"X-Auth-Token": "lvk_not-a-key"})
    assert bad.status_code == 401
    assert "X-Auth-Token" in auth_client.simulate_get("/v2/workflows").json["faultstring"]
    # The role still applies: a user key may not delete.
    denied = auth_client.simulate_delete("/v2/environments/none", headers={"X-Auth-Token": user_key})
    assert denied.status_code == 403


def test_identity_version_document_is_public(auth_client: Any) -> None:
    got = auth_client.simulate_get("/identity/v3")
    assert got.status_code == 200
    version = got.json["version"]
    assert version["id"].startswith("v3") and version["status"] == "stable"
    assert version["links"] == [{"rel": "self", "href": "http://falconframework.org/identity/v3/"}]


@pytest.mark.parametrize("body", [_token_body, _password_body])
def test_identity_hands_a_valid_key_back_as_the_token(auth_client: Any, user_key: str, body: Any) -> None:
    got = auth_client.simulate_post("/identity/v3/auth/tokens", json=body(user_key))
    assert got.status_code == 201, got.text
    assert got.headers["X-Subject-Token"] == user_key
    token = got.json["token"]
    assert token["expires_at"] > token["issued_at"]
    assert token["roles"] == [{"id": "user", "name": "user"}]
    assert token["catalog"] == []


@pytest.mark.parametrize("body", [_token_body, _password_body])
def test_identity_refuses_a_wrong_key(auth_client: Any, body: Any) -> None:
    got = auth_client.simulate_post("/identity/v3/auth/tokens", json=body("lvk_wrong"))
    assert got.status_code == 401
    assert "not valid" in got.json["faultstring"]
    assert "X-Subject-Token" not in got.headers


@pytest.mark.parametrize("body", [{}, {"auth": []}, {"auth": {"identity": {"methods": ["totp"]}}},
                                  {"auth": {"identity": {"methods": ["token"], "token": {"id": 5}}}}])
def test_identity_refuses_a_body_without_a_key(auth_client: Any, body: Any) -> None:
    got = auth_client.simulate_post("/identity/v3/auth/tokens", json=body)
    assert got.status_code == 400
    assert "'token'" in got.json["faultstring"] and "'password'" in got.json["faultstring"]


def test_identity_with_auth_off_accepts_any_token(api: Api) -> None:
    got = api.client.simulate_post("/identity/v3/auth/tokens", json=_token_body("anything"))
    assert got.status_code == 201
    assert got.headers["X-Subject-Token"] == "anything"
