"""The API tests of tests/functional/api run again on PostgreSQL: the API and the engine in process
(a Node on the run's database, actions run in process), driven through falcon's TestClient. These
fixtures replace the SQLite ones of tests/functional/api/conftest.py."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import falcon.testing
import pytest

from levante import config as config_mod
from levante.api.app import create_app
from levante.node import Node
from tests.functional.api.helpers import Api


@pytest.fixture(scope="module")
def node(pg_url: str) -> Iterator[Node]:
    config = config_mod.load(env={}, db_url=pg_url, executor_threads=4)
    with Node(config) as running:
        yield running


@pytest.fixture
def api(node: Node) -> Api:
    return Api(falcon.testing.TestClient(create_app(node.config, node)), node)


@pytest.fixture
def name() -> str:
    return f"wf_{uuid.uuid4().hex[:10]}"
