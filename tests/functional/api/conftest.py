"""The API in process: a Node on a temporary SQLite file, driven through falcon's TestClient."""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any

import falcon.testing
import pytest

from levante import config as config_mod
from levante.api.app import create_app
from levante.node import Node
from tests.functional.api.helpers import ADMIN_KEY, MAX_BODY, Api


@pytest.fixture(scope="session")
def node(tmp_path_factory: pytest.TempPathFactory) -> Any:
    db = tmp_path_factory.mktemp("api") / "levante.db"
    config = config_mod.load(env={}, db_url=f"sqlite:///{db}", executor_threads=4, max_body_bytes=MAX_BODY)
    with Node(config) as running:
        yield running


@pytest.fixture(scope="session")
def app(node: Node) -> Any:
    return create_app(node.config, node.services)


@pytest.fixture
def client(app: Any) -> falcon.testing.TestClient:
    return falcon.testing.TestClient(app)


@pytest.fixture
def name() -> str:
    """A workflow (or other) name no other test uses."""
    return f"wf_{uuid.uuid4().hex[:10]}"


@pytest.fixture
def api(client: falcon.testing.TestClient, node: Node) -> Api:
    return Api(client, node)


@pytest.fixture(scope="session")
def auth_app(node: Node) -> Any:
    """The same node behind an app with auth on (``ADMIN_KEY`` is an admin key)."""
    return create_app(replace(node.config, auth=True, admin_key=ADMIN_KEY), node.services)


@pytest.fixture
def auth_client(auth_app: Any) -> falcon.testing.TestClient:
    return falcon.testing.TestClient(auth_app)
