"""Migration 0004 (cron trigger time zones) on a database that has triggers from before it.

tests/integration/db/test_pg_migration_0004.py runs the same tests on PostgreSQL with its own
``fresh_engine``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Engine, MetaData, Table, inspect

from levante.db import repository as repo
from levante.db.session import alembic_config, current_revision, make_engine, make_session_factory, migrate, transaction

CREATED = datetime(2026, 12, 1, tzinfo=timezone.utc)


@pytest.fixture
def fresh_engine(tmp_path: Path) -> Iterator[Engine]:
    """An engine on an empty SQLite file (not migrated)."""
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    yield engine
    engine.dispose()


def _columns(engine: Engine) -> set[str]:
    return {c["name"] for c in inspect(engine).get_columns("cron_triggers")}


def _store_a_trigger_as_0003_did(engine: Engine) -> None:
    with engine.begin() as conn:
        table = Table("cron_triggers", MetaData(), autoload_with=conn)
        conn.execute(table.insert().values(
            id="0b6f6a2e-0000-4000-8000-000000000001", name="old_nightly", pattern="0 3 * * *",
            workflow_name="wf", workflow_input={}, workflow_params={}, scope="private", created_at=CREATED,
            next_execution_time=datetime(2026, 12, 2, 3, tzinfo=timezone.utc)))


def test_triggers_from_before_0004_keep_their_rows_and_read_in_utc(fresh_engine: Engine) -> None:
    migrate(fresh_engine, "0003")
    assert "timezone" not in _columns(fresh_engine)
    _store_a_trigger_as_0003_did(fresh_engine)
    migrate(fresh_engine)
    assert current_revision(fresh_engine) >= "0004"  # at head, past 0004
    factory = make_session_factory(fresh_engine)
    with transaction(factory) as session:
        old = repo.get_cron_trigger(session, "old_nightly")
        assert (old.timezone, old.pattern, old.workflow_name) == (None, "0 3 * * *", "wf")
        repo.create_cron_trigger(session, "new_madrid", "0 3 * * *", "wf", timezone="Europe/Madrid",
                                 next_execution_time=datetime(2026, 12, 2, 2, tzinfo=timezone.utc))
    with transaction(factory) as session:
        assert repo.get_cron_trigger(session, "new_madrid").timezone == "Europe/Madrid"
        assert [t.name for t in repo.list_cron_triggers(session, filters={"timezone": "Europe/Madrid"})] == [
            "new_madrid"]


def test_0004_goes_down_to_0003_keeping_the_triggers(fresh_engine: Engine) -> None:
    migrate(fresh_engine, "0003")
    _store_a_trigger_as_0003_did(fresh_engine)
    migrate(fresh_engine)
    assert "timezone" in _columns(fresh_engine)
    with fresh_engine.connect() as connection, connection.begin():
        command.downgrade(alembic_config(connection), "0003")
    assert current_revision(fresh_engine) == "0003"
    assert "timezone" not in _columns(fresh_engine)
    with fresh_engine.connect() as conn:
        table = Table("cron_triggers", MetaData(), autoload_with=conn)
        assert [r.name for r in conn.execute(table.select())] == ["old_nightly"]
