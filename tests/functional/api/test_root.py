"""GET /, /v2, /health, and the error shapes of falcon's own errors."""

from __future__ import annotations

from tests.functional.api.helpers import MAX_BODY


def test_versions(client):
    resp = client.simulate_get("/")
    assert resp.status_code == 200
    version = resp.json["versions"][0]
    assert version["id"] == "v2.0"
    assert version["status"] == "CURRENT"
    assert version["links"][0]["href"].endswith("/v2")


def test_v2_root(client):
    assert client.simulate_get("/v2").json["uri"].endswith("/v2")


def test_health(client):
    resp = client.simulate_get("/health")
    assert resp.status_code == 200
    assert resp.json["status"] == "ok"


def test_unknown_route_is_404_with_faultstring(client):
    resp = client.simulate_get("/v2/nothing-here")
    assert resp.status_code == 404
    assert resp.json["faultcode"] == "Client"
    assert "faultstring" in resp.json


def test_method_not_allowed(client):
    resp = client.simulate_delete("/v2/executions")
    assert resp.status_code == 405
    assert "faultstring" in resp.json


def test_trailing_slash_is_accepted(client):
    assert client.simulate_get("/v2/workflows/").status_code == 200


def test_body_too_large_is_413(client):
    resp = client.simulate_post("/v2/workflows", body="x" * (MAX_BODY + 1),
                                headers={"Content-Type": "text/plain"})
    assert resp.status_code == 413
    assert "larger than" in resp.json["faultstring"]


def test_json_body_too_large_is_413(client):
    resp = client.simulate_post("/v2/executions", body='{"a": "' + "x" * MAX_BODY + '"}',
                                headers={"Content-Type": "application/json"})
    assert resp.status_code == 413


def test_malformed_json_is_400(client):
    resp = client.simulate_post("/v2/executions", body="{not json",
                                headers={"Content-Type": "application/json"})
    assert resp.status_code == 400
    assert "not valid JSON" in resp.json["faultstring"]


def test_json_body_must_be_an_object(client):
    resp = client.simulate_post("/v2/executions", body="[1, 2]", headers={"Content-Type": "application/json"})
    assert resp.status_code == 400
    assert "JSON object" in resp.json["faultstring"]


def test_unexpected_error_is_500_without_traceback(node, caplog):
    import falcon.testing

    from levante.api.app import create_app

    class Boom:
        def on_get(self, req, resp):
            raise RuntimeError("secret internals")

    app = create_app(node.config, node.services)
    app.add_route("/boom", Boom())
    resp = falcon.testing.TestClient(app).simulate_get("/boom")
    assert resp.status_code == 500
    assert resp.json["faultcode"] == "Server"
    assert "secret" not in resp.text and "Traceback" not in resp.text
    assert "secret internals" in caplog.text  # logged for the operator
