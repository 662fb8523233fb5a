"""The lazy with-items tests of tests/functional/test_with_items_window.py on PostgreSQL (JSONB
chunks, the cascade from the task rows), in a database of each test's own."""

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from levante.db.session import make_engine
from tests.functional.test_with_items_window import *  # noqa: F403 - the tests are collected here

pytestmark = pytest.mark.integration


@pytest.fixture
def own_database(pg_url: str) -> Iterator[str]:
    admin = make_engine(pg_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    name = f"levante_items_{uuid.uuid4().hex[:12]}"
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
