"""The definition snapshot tests of tests/functional/test_definition_snapshots.py on PostgreSQL:
restarts are new nodes on one database, and the last test runs two nodes on it at once. The module
gets a database of its own (created from the run's), so the rows it leaves bother no other test."""

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from levante.db.session import make_engine
from tests.functional.test_definition_snapshots import *  # noqa: F403 - the tests are collected here

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def own_database(pg_url: str) -> Iterator[str]:
    admin = make_engine(pg_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    name = f"levante_snap_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(pg_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def db_url(own_database: str) -> str:
    return own_database
