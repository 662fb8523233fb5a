"""The items of with-items tasks whose items do not all start at once.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 19:10:00

A with-items task evaluates its items once, when it starts; when its concurrency (or the engine's
window) lets only some of them run at once, it keeps them here, a thousand per row, and each later
step reads the rows of the items it starts. Before, each such step evaluated the whole list again.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "with_items_chunks",
        sa.Column("task_execution_id", sa.String(36), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("chunk", sa.Integer(), nullable=False),
        sa.Column("values", JSON, nullable=False),
        sa.PrimaryKeyConstraint("task_execution_id", "attempt", "chunk", name="pk_with_items_chunks"),
        sa.ForeignKeyConstraint(
            ["task_execution_id"],
            ["task_executions.id"],
            ondelete="CASCADE",
            name="fk_with_items_chunks_task_execution_id_task_executions",
        ),
    )


def downgrade() -> None:
    op.drop_table("with_items_chunks")
