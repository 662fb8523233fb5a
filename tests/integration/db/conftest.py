"""Fixtures of the database tests on the real PostgreSQL (``pg_url`` comes from
tests/integration/conftest.py): the run's database is migrated, and its tables are emptied after
each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text

from levante.db.models import Base
from levante.db.session import SessionFactory, make_engine, make_session_factory, migrate


@pytest.fixture(scope="session")
def pg_engine(pg_url: str) -> Iterator[Engine]:
    """A migrated engine on the run's database."""
    engine = make_engine(pg_url)
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def db_engine(pg_engine: Engine) -> Iterator[Engine]:
    """The run's engine; every table is emptied after the test."""
    yield pg_engine
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with pg_engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture
def session_factory(db_engine: Engine) -> SessionFactory:
    """Sessions on :func:`db_engine`."""
    return make_session_factory(db_engine)
