"""Fixtures shared by the integration tests on the real PostgreSQL.

Each test run creates its own database (``levante_test_<random>``) through a connection to the
admin database (``LEVANTE_TEST_PG_URL``, default ``postgresql://postgres@127.0.0.1:5432/test``) and
drops it at the end. When PostgreSQL cannot be reached the tests are skipped, or fail when the
``CI`` environment variable is set (a CI run must not pass by skipping).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from levante.db.session import make_engine

ADMIN_URL = os.environ.get("LEVANTE_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


def _unreachable(reason: str) -> None:
    message = f"PostgreSQL at {make_url(ADMIN_URL).render_as_string()} is not reachable: {reason}"
    if os.environ.get("CI"):
        pytest.fail(message + " (CI is set: the integration tests must run)", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """URL of a database created for this test run (dropped at the end)."""
    admin = make_engine(
        ADMIN_URL, isolation_level="AUTOCOMMIT", poolclass=NullPool, connect_args={"connect_timeout": 5}
    )
    name = f"levante_test_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except SQLAlchemyError as exc:
        admin.dispose()
        _unreachable(str(exc).splitlines()[0])
    try:
        yield make_url(make_engine(ADMIN_URL).url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def extra_database(pg_url: str, prefix: str) -> Iterator[str]:
    """URL of a database created beside the run's (on the same server), dropped at the end: for
    tests whose rows or names must not meet other tests' (``prefix`` names it)."""
    admin = make_engine(pg_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(pg_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
