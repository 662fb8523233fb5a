"""/v2/environments: create, read, list, update, delete."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.functional.api.helpers import decoded


@pytest.fixture
def env_name() -> str:
    return f"env_{uuid.uuid4().hex[:10]}"


def test_environment_crud(api, env_name):
    created = api.client.simulate_post("/v2/environments", json={
        "name": env_name, "description": "d", "variables": {"a": 1}, "scope": "private"})
    assert created.status_code == 201, created.text
    env = created.json
    assert env["name"] == env_name and env["description"] == "d"
    assert decoded(env["variables"]) == {"a": 1}
    assert api.get(f"/v2/environments/{env_name}")["id"] == env["id"]
    assert env_name in [e["name"] for e in api.get("/v2/environments")["environments"]]
    updated = api.put("/v2/environments", {"name": env_name, "variables": json.dumps({"b": 2})})
    assert decoded(updated["variables"]) == {"b": 2} and updated["description"] == "d"
    assert api.client.simulate_delete(f"/v2/environments/{env_name}").status_code == 204
    assert api.client.simulate_get(f"/v2/environments/{env_name}").status_code == 404


def test_environment_errors(api, env_name):
    api.client.simulate_post("/v2/environments", json={"name": env_name, "variables": {}})
    duplicate = api.client.simulate_post("/v2/environments", json={"name": env_name})
    assert duplicate.status_code == 409
    assert api.client.simulate_post("/v2/environments", json={"variables": {}}).status_code == 400
    extra = api.client.simulate_post("/v2/environments", json={"name": "x" + env_name, "colour": "red"})
    assert extra.status_code == 400
    bad_vars = api.client.simulate_post("/v2/environments", json={"name": "y" + env_name, "variables": "[1]"})
    assert bad_vars.status_code == 400
    assert api.client.simulate_put("/v2/environments", json={"name": "missing" + env_name}).status_code == 404
    assert api.client.simulate_delete("/v2/environments/missing" + env_name).status_code == 404
