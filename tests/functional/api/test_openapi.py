"""``GET /v2/openapi.json`` documents exactly the routes of ``levante.api.app`` with their methods."""

from __future__ import annotations

from typing import Any
from unittest import mock

import falcon.testing

from levante.api import app as app_module
from levante.api.openapi import document

METHODS = ("get", "post", "put", "delete", "patch")


def _app_routes() -> dict[str, set[str]]:
    """Each route of app.py with the methods its resource answers (``on_<method>``)."""
    routes: dict[str, set[str]] = {}
    for path, resource in app_module._routes(mock.MagicMock()):
        routes[path] = {m for m in METHODS if callable(getattr(type(resource), f"on_{m}", None))}
    return routes


def test_every_route_is_documented_with_its_methods_and_vice_versa() -> None:
    documented = {path: set(ops) for path, ops in document()["paths"].items()}
    assert documented == _app_routes()


def test_every_operation_documents_its_path_parameters_and_responses() -> None:
    for path, ops in document()["paths"].items():
        names = {part[1:-1] for part in path.split("/") if part.startswith("{")}
        for method, op in ops.items():
            declared = {p["name"] for p in op["parameters"] if p["in"] == "path"}
            assert declared == names, (method, path)
            assert "default" in op["responses"] and len(op["responses"]) >= 2, (method, path)
            if method in ("post", "put") and not path.endswith("/heartbeat"):
                assert op.get("requestBody", {}).get("required"), (method, path)


def test_served_at_v2_openapi_json(client: falcon.testing.TestClient, auth_client: Any) -> None:
    got = client.simulate_get("/v2/openapi.json")
    assert got.status_code == 200
    assert got.json["openapi"].startswith("3.")
    assert set(got.json["paths"]) == set(_app_routes())
    assert auth_client.simulate_get("/v2/openapi.json").status_code == 200  # public, as /health
