"""The API tests of tests/functional/api run again on PostgreSQL: the API and the engine in process
(a Node on the run's database, actions run in process), driven through falcon's TestClient. These
fixtures replace the SQLite ones of tests/functional/api/conftest.py. The run's database is shared
with the other integration tests: each module's rows are removed when its node stops."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import falcon.testing
import pytest
from sqlalchemy import text

from levante import config as config_mod
from levante.api.app import create_app
from levante.db.models import Base
from levante.node import Node
from tests.functional.api.helpers import Api


@pytest.fixture(scope="module")
def node(pg_url: str) -> Iterator[Node]:
    config = config_mod.load(env={}, db_url=pg_url, executor_threads=4)
    with Node(config) as running:
        yield running
        tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with running.db.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture
def api(node: Node) -> Api:
    return Api(falcon.testing.TestClient(create_app(node.config, node.services)), node)


@pytest.fixture
def name() -> str:
    return f"wf_{uuid.uuid4().hex[:10]}"
