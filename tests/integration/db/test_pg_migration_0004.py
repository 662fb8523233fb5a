"""The tests of tests/unit/db/test_migration_0004.py on PostgreSQL, each on a database of its own."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from levante.db.session import make_engine
from tests.integration.conftest import ADMIN_URL, _unreachable
from tests.unit.db.test_migration_0004 import *  # noqa: F403 - the tests are collected here with fresh_engine below

pytestmark = pytest.mark.integration


@pytest.fixture
def fresh_engine() -> Iterator[Engine]:  # noqa: F811 - replaces the SQLite one imported above
    """An engine on an empty PostgreSQL database (not migrated), dropped after the test."""
    admin = make_engine(ADMIN_URL, isolation_level="AUTOCOMMIT", poolclass=NullPool,
                        connect_args={"connect_timeout": 5})
    name = f"levante_migration_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except SQLAlchemyError as exc:
        admin.dispose()
        _unreachable(str(exc).splitlines()[0])
    engine = make_engine(make_url(make_engine(ADMIN_URL).url).set(database=name).render_as_string(
        hide_password=False))
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
