"""Definition snapshots: the text each execution started from, addressed by its checksum.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07 01:30:00

``definition_snapshots`` holds one row per distinct definition document an execution started
from (``checksum`` is the SHA-256 of the document's kind and text); ``workflow_executions`` gains
``definition_checksum``, the snapshot it runs. Executions created before this revision have none
and keep looking their workflow up by name.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHECKSUM = 64


def upgrade() -> None:
    op.create_table(
        "definition_snapshots",
        sa.Column("checksum", sa.String(CHECKSUM), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("definition", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("checksum", name="pk_definition_snapshots"),
    )
    op.add_column("workflow_executions", sa.Column("definition_checksum", sa.String(CHECKSUM), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("workflow_executions") as batch:
        batch.drop_column("definition_checksum")
    op.drop_table("definition_snapshots")
