"""Resources against stand-in services: a resource parses the request, calls one service method
and renders what it returns, so it can be tested without a database or an engine."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import falcon
import falcon.testing
import pytest

from levante.api import errors
from levante.api.context import ApiContext
from levante.api.resources import environments
from levante.config import Config
from levante.exceptions import ConflictError


class FakeResources:
    """Records the calls of the environment resource; knows one name already."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def create_environment(self, name: str, **fields: Any) -> Any:
        self.calls.append(("create", (name, fields)))
        if name == "taken":
            raise ConflictError('Environment with name "taken" already exists.')
        return SimpleNamespace(id="env-1", name=name, description=fields.get("description", ""),
                               variables=fields.get("variables", {}), scope=fields.get("scope", "private"),
                               project_id=None, created_at=None, updated_at=None)


@pytest.fixture
def fake() -> FakeResources:
    return FakeResources()


@pytest.fixture
def client(fake: FakeResources) -> falcon.testing.TestClient:
    services = SimpleNamespace(engine=None, catalog=None, registry=None, reads=None, operations=None,
                               library=None, resources=fake, credentials=None, trees=None)
    ctx = ApiContext(Config(), services=services)
    app = falcon.App()
    errors.install(app)
    app.add_route("/v2/environments", environments.EnvironmentCollection(ctx))
    return falcon.testing.TestClient(app)


def test_a_create_calls_the_service_once_and_renders_what_it_returns(client: Any, fake: FakeResources) -> None:
    resp = client.simulate_post("/v2/environments", json={"name": "dev", "variables": {"a": 1}})
    assert resp.status_code == 201
    assert fake.calls == [("create", ("dev", {"variables": {"a": 1}}))]
    assert resp.json["id"] == "env-1" and resp.json["name"] == "dev"
    assert resp.json["variables"] == '{"a": 1}'  # Mistral's shape: JSON fields as strings


def test_bad_input_never_reaches_the_service(client: Any, fake: FakeResources) -> None:
    resp = client.simulate_post("/v2/environments", json={"variables": {"a": 1}})
    assert resp.status_code == 400 and "needs a 'name'" in resp.json["faultstring"]
    assert fake.calls == []


def test_an_error_of_the_service_is_rendered_as_mistral_does(client: Any, fake: FakeResources) -> None:
    resp = client.simulate_post("/v2/environments", json={"name": "taken"})
    assert resp.status_code == 409 and "already exists" in resp.json["faultstring"]
