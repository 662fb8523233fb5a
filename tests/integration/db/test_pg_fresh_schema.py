"""``fresh_schema.at_head`` on PostgreSQL: a migrated database needs no Alembic, one that is
behind or empty does."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.pool import NullPool

from levante.db import _sqlite_schema_data as data
from levante.db import fresh_schema
from levante.db.session import current_revision, make_engine, migrate
from tests.integration.conftest import extra_database

pytestmark = pytest.mark.integration


def test_at_head_on_the_runs_migrated_database(pg_engine: Engine) -> None:
    with pg_engine.connect() as connection:
        assert fresh_schema.at_head(connection)


def test_an_empty_database_and_an_older_revision_go_through_alembic(pg_url: str) -> None:
    with extra_database(pg_url, "levante_fresh") as url:
        engine = make_engine(url, poolclass=NullPool)
        try:
            with engine.connect() as connection:
                assert not fresh_schema.at_head(connection)
            migrate(engine, "0006")
            with engine.connect() as connection:
                assert not fresh_schema.at_head(connection)
            migrate(engine)
            assert current_revision(engine) == data.REVISION
            with engine.connect() as connection:
                assert fresh_schema.at_head(connection)
                assert connection.execute(text("SELECT to_regclass('with_items_chunks')")).scalar()
        finally:
            engine.dispose()
