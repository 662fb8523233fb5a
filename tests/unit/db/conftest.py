"""Fixtures of the database tests on SQLite: a migrated database file per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from levante.db.session import SessionFactory, make_engine, make_session_factory, migrate


@pytest.fixture
def db_engine(tmp_path: Path) -> Iterator[Engine]:
    """An engine on a fresh, migrated SQLite file."""
    engine = make_engine(f"sqlite:///{tmp_path / 'levante.db'}")
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def session_factory(db_engine: Engine) -> SessionFactory:
    """Sessions on :func:`db_engine`."""
    return make_session_factory(db_engine)
