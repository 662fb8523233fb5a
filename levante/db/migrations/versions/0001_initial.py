"""Initial schema: definitions, executions, delayed calls, outbox, history, resources.

Revision ID: 0001
Revises:
Create Date: 2025-01-01 00:00:00

The types are spelled out here (not imported from ``levante.db.models``) so that this revision keeps
describing the schema it created when the models change later.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TS = sa.DateTime(timezone=True)
BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
ID = 36
NAME = 255


def _id() -> sa.Column:
    return sa.Column("id", sa.String(ID), nullable=False)


def _stamps() -> list[sa.Column]:
    return [sa.Column("created_at", TS, nullable=False), sa.Column("updated_at", TS, nullable=True)]


def _definitions() -> None:
    op.create_table(
        "workflow_definitions",
        _id(),
        sa.Column("name", sa.String(NAME), nullable=False),
        sa.Column("namespace", sa.String(NAME), nullable=False),
        sa.Column("definition", sa.Text(), nullable=False),
        sa.Column("spec", JSON, nullable=True),
        sa.Column("tags", JSON, nullable=True),
        sa.Column("input", sa.Text(), nullable=True),
        sa.Column("workbook_name", sa.String(NAME), nullable=True),
        sa.Column("scope", sa.String(20), nullable=False),
        sa.Column("project_id", sa.String(128), nullable=True),
        *_stamps(),
        sa.PrimaryKeyConstraint("id", name="pk_workflow_definitions"),
        sa.UniqueConstraint("name", "namespace", name="uq_workflow_definitions_name_namespace"),
    )
    op.create_table(
        "workbook_definitions",
        _id(),
        sa.Column("name", sa.String(NAME), nullable=False),
        sa.Column("namespace", sa.String(NAME), nullable=False),
        sa.Column("definition", sa.Text(), nullable=False),
        sa.Column("tags", JSON, nullable=True),
        sa.Column("scope", sa.String(20), nullable=False),
        sa.Column("project_id", sa.String(128), nullable=True),
        *_stamps(),
        sa.PrimaryKeyConstraint("id", name="pk_workbook_definitions"),
        sa.UniqueConstraint("name", "namespace", name="uq_workbook_definitions_name_namespace"),
    )
    op.create_table(
        "action_definitions",
        _id(),
        sa.Column("name", sa.String(NAME), nullable=False),
        sa.Column("namespace", sa.String(NAME), nullable=False),
        sa.Column("definition", sa.Text(), nullable=False),
        sa.Column("input", sa.Text(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("tags", JSON, nullable=True),
        sa.Column("workbook_name", sa.String(NAME), nullable=True),
        sa.Column("scope", sa.String(20), nullable=False),
        sa.Column("project_id", sa.String(128), nullable=True),
        *_stamps(),
        sa.PrimaryKeyConstraint("id", name="pk_action_definitions"),
        sa.UniqueConstraint("name", "namespace", name="uq_action_definitions_name_namespace"),
    )


def _executions(sqlite: bool) -> None:
    # workflow_executions.task_execution_id and task_executions.workflow_execution_id refer to each
    # other. SQLite accepts a reference to a table created later (and cannot ALTER TABLE ADD
    # CONSTRAINT); PostgreSQL needs the constraint added once both tables exist.
    parent_task_fk = sa.ForeignKeyConstraint(
        ["task_execution_id"],
        ["task_executions.id"],
        name="fk_workflow_executions_task_execution_id_task_executions",
    )
    op.create_table(
        "workflow_executions",
        _id(),
        sa.Column("workflow_name", sa.String(NAME), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("state_info", sa.Text(), nullable=True),
        sa.Column("input", JSON, nullable=True),
        sa.Column("params", JSON, nullable=True),
        sa.Column("context", JSON, nullable=True),
        sa.Column("output", JSON, nullable=True),
        sa.Column("runtime_context", JSON, nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("workflow_id", sa.String(ID), nullable=True),
        sa.Column("workflow_namespace", sa.String(NAME), nullable=False),
        sa.Column("task_execution_id", sa.String(ID), nullable=True),
        sa.Column("parent_id", sa.String(ID), nullable=True),
        sa.Column("root_execution_id", sa.String(ID), nullable=True),
        sa.Column("tags", JSON, nullable=True),
        *_stamps(),
        sa.Column("finished_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_workflow_executions"),
        *([parent_task_fk] if sqlite else []),
    )
    op.create_index("ix_workflow_executions_state", "workflow_executions", ["state"])
    op.create_index("ix_workflow_executions_workflow_name", "workflow_executions", ["workflow_name"])
    op.create_index("ix_workflow_executions_created_at_id", "workflow_executions", ["created_at", "id"])
    op.create_index("ix_workflow_executions_root_execution_id", "workflow_executions", ["root_execution_id"])
    op.create_index("ix_workflow_executions_task_execution_id", "workflow_executions", ["task_execution_id"])

    op.create_table(
        "task_executions",
        _id(),
        sa.Column("name", sa.String(NAME), nullable=False),
        sa.Column("workflow_execution_id", sa.String(ID), nullable=False),
        sa.Column("workflow_name", sa.String(NAME), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("state_info", sa.Text(), nullable=True),
        sa.Column("type", sa.String(20), nullable=False),
        sa.Column("in_context", JSON, nullable=True),
        sa.Column("in_versions", JSON, nullable=True),
        sa.Column("published", JSON, nullable=True),
        sa.Column("result", JSON, nullable=True),
        sa.Column("runtime_context", JSON, nullable=True),
        sa.Column("next_tasks", JSON, nullable=True),
        sa.Column("has_next_tasks", sa.Boolean(), nullable=False),
        sa.Column("error_handled", sa.Boolean(), nullable=False),
        sa.Column("processed", sa.Boolean(), nullable=False),
        sa.Column("unique_key", sa.String(512), nullable=True),
        *_stamps(),
        sa.Column("started_at", TS, nullable=True),
        sa.Column("finished_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_task_executions"),
        sa.ForeignKeyConstraint(
            ["workflow_execution_id"],
            ["workflow_executions.id"],
            ondelete="CASCADE",
            name="fk_task_executions_workflow_execution_id_workflow_executions",
        ),
        sa.UniqueConstraint("unique_key", name="uq_task_executions_unique_key"),
    )
    op.create_index(
        "ix_task_executions_workflow_execution_id_name", "task_executions", ["workflow_execution_id", "name"]
    )
    if not sqlite:
        op.create_foreign_key(
            "fk_workflow_executions_task_execution_id_task_executions",
            "workflow_executions",
            "task_executions",
            ["task_execution_id"],
            ["id"],
        )

    op.create_table(
        "action_executions",
        _id(),
        sa.Column("name", sa.String(NAME), nullable=False),
        sa.Column("task_execution_id", sa.String(ID), nullable=True),
        sa.Column("workflow_execution_id", sa.String(ID), nullable=True),
        sa.Column("workflow_name", sa.String(NAME), nullable=True),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("state_info", sa.Text(), nullable=True),
        sa.Column("input", JSON, nullable=True),
        sa.Column("output", JSON, nullable=True),
        sa.Column("accepted", sa.Boolean(), nullable=False),
        sa.Column("is_sync", sa.Boolean(), nullable=False),
        sa.Column("runtime_context", JSON, nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        *_stamps(),
        sa.Column("callback_token_hash", sa.String(128), nullable=True),
        sa.Column("last_heartbeat", TS, nullable=True),
        sa.Column("progress", JSON, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_action_executions"),
        sa.ForeignKeyConstraint(
            ["task_execution_id"],
            ["task_executions.id"],
            ondelete="CASCADE",
            name="fk_action_executions_task_execution_id_task_executions",
        ),
    )
    op.create_index("ix_action_executions_task_execution_id", "action_executions", ["task_execution_id"])
    op.create_index("ix_action_executions_state", "action_executions", ["state"])
    op.create_index(
        "ix_action_executions_workflow_execution_id", "action_executions", ["workflow_execution_id"]
    )


def _queues() -> None:
    op.create_table(
        "delayed_calls",
        sa.Column("id", BIGID, autoincrement=True, nullable=False),
        sa.Column("due_at", TS, nullable=False),
        sa.Column("execution_id", sa.String(ID), nullable=True),
        sa.Column("key", sa.String(NAME), nullable=True),
        sa.Column("payload", JSON, nullable=True),
        sa.Column("claimed_by", sa.String(NAME), nullable=True),
        sa.Column("claimed_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_delayed_calls"),
        sa.UniqueConstraint("key", name="uq_delayed_calls_key"),
    )
    op.create_index("ix_delayed_calls_due_at", "delayed_calls", ["due_at"])
    op.create_index("ix_delayed_calls_execution_id", "delayed_calls", ["execution_id"])

    op.create_table(
        "outbox",
        sa.Column("id", BIGID, autoincrement=True, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("topic", sa.String(NAME), nullable=False),
        sa.Column("payload", JSON, nullable=True),
        sa.Column("sent_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_outbox"),
    )
    op.create_index(
        "ix_outbox_unsent",
        "outbox",
        ["id"],
        sqlite_where=sa.text("sent_at IS NULL"),
        postgresql_where=sa.text("sent_at IS NULL"),
    )

    op.create_table(
        "execution_events",
        sa.Column("id", BIGID, autoincrement=True, nullable=False),
        sa.Column("execution_id", sa.String(ID), nullable=False),
        sa.Column("task_execution_id", sa.String(ID), nullable=True),
        sa.Column("action_execution_id", sa.String(ID), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("payload", JSON, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_execution_events"),
    )
    op.create_index("ix_execution_events_execution_id", "execution_events", ["execution_id"])


def _resources() -> None:
    op.create_table(
        "environments",
        _id(),
        sa.Column("name", sa.String(NAME), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("variables", JSON, nullable=True),
        sa.Column("scope", sa.String(20), nullable=False),
        sa.Column("project_id", sa.String(128), nullable=True),
        *_stamps(),
        sa.PrimaryKeyConstraint("id", name="pk_environments"),
        sa.UniqueConstraint("name", name="uq_environments_name"),
    )
    op.create_table(
        "cron_triggers",
        _id(),
        sa.Column("name", sa.String(NAME), nullable=False),
        sa.Column("pattern", sa.String(100), nullable=True),
        sa.Column("workflow_name", sa.String(NAME), nullable=False),
        sa.Column("workflow_id", sa.String(ID), nullable=True),
        sa.Column("workflow_input", JSON, nullable=True),
        sa.Column("workflow_params", JSON, nullable=True),
        sa.Column("first_execution_time", TS, nullable=True),
        sa.Column("next_execution_time", TS, nullable=True),
        sa.Column("remaining_executions", sa.Integer(), nullable=True),
        sa.Column("scope", sa.String(20), nullable=False),
        sa.Column("project_id", sa.String(128), nullable=True),
        *_stamps(),
        sa.PrimaryKeyConstraint("id", name="pk_cron_triggers"),
        sa.UniqueConstraint("name", name="uq_cron_triggers_name"),
    )
    op.create_index("ix_cron_triggers_next_execution_time", "cron_triggers", ["next_execution_time"])
    op.create_table(
        "api_keys",
        _id(),
        sa.Column("name", sa.String(NAME), nullable=False),
        sa.Column("key_hash", sa.String(128), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_api_keys"),
        sa.UniqueConstraint("key_hash", name="uq_api_keys_key_hash"),
    )


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    _definitions()
    _executions(sqlite)
    _queues()
    _resources()


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for table in (
        "api_keys",
        "cron_triggers",
        "environments",
        "execution_events",
        "outbox",
        "delayed_calls",
        "action_executions",
    ):
        op.drop_table(table)
    if not sqlite:
        op.drop_constraint(
            "fk_workflow_executions_task_execution_id_task_executions",
            "workflow_executions",
            type_="foreignkey",
        )
    for table in (
        "task_executions",
        "workflow_executions",
        "action_definitions",
        "workbook_definitions",
        "workflow_definitions",
    ):
        op.drop_table(table)
