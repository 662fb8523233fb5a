"""The migration is the schema: it runs idempotently and matches the ORM metadata exactly."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect

from levante.db.models import Base
from levante.db.session import alembic_config, current_revision, migrate


def test_migrate_is_idempotent_and_at_head(db_engine: Engine) -> None:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    assert current_revision(db_engine) == head
    migrate(db_engine)
    migrate(db_engine)
    assert current_revision(db_engine) == head


def test_migrated_schema_equals_orm_metadata(db_engine: Engine) -> None:
    with db_engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": False}
        )
        differences = compare_metadata(context, Base.metadata)
    assert differences == []


def test_every_table_exists(db_engine: Engine) -> None:
    tables = set(inspect(db_engine).get_table_names())
    assert set(Base.metadata.tables) <= tables
    assert "alembic_version" in tables


def test_foreign_keys_and_their_delete_rules_match(db_engine: Engine) -> None:
    # compare_metadata ignores ON DELETE: check it (and the targets) here.
    inspector = inspect(db_engine)
    for table in Base.metadata.sorted_tables:
        expected = {
            (tuple(fk.parent.name for fk in c.elements), c.referred_table.name, (c.ondelete or "").upper())
            for c in table.foreign_key_constraints
        }
        found = {
            (
                tuple(fk["constrained_columns"]),
                fk["referred_table"],
                (fk.get("options", {}).get("ondelete") or "").upper().replace("NO ACTION", ""),
            )
            for fk in inspector.get_foreign_keys(table.name)
        }
        assert found == expected, table.name


def test_indexes_named_in_the_design_exist(db_engine: Engine) -> None:
    inspector = inspect(db_engine)

    def indexed(table: str) -> set[tuple[str, ...]]:
        found = {tuple(i["column_names"]) for i in inspector.get_indexes(table)}
        found |= {tuple(u["column_names"]) for u in inspector.get_unique_constraints(table)}
        return found

    executions = indexed("workflow_executions")
    for columns in [
        ("state",),
        ("workflow_name",),
        ("created_at", "id"),
        ("root_execution_id",),
        ("task_execution_id",),
    ]:
        assert columns in executions
    assert {("workflow_execution_id", "name"), ("unique_key",)} <= indexed("task_executions")
    assert {("task_execution_id",), ("state",)} <= indexed("action_executions")
    assert {("due_at",), ("execution_id",), ("key",)} <= indexed("delayed_calls")
    assert ("id",) in indexed("outbox")  # partial: WHERE sent_at IS NULL
    assert ("execution_id",) in indexed("execution_events")
    assert ("next_execution_time",) in indexed("cron_triggers")
