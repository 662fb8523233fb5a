"""A version counter on workflow executions.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07 05:00:00

``workflow_executions.version`` is bumped by every transaction that takes an execution's lock.
The engine decides a step whose expressions are slow without holding any lock, then takes the
lock and writes the decision only if the version is still the one it decided on.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("workflow_executions",
                  sa.Column("version", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("workflow_executions") as batch:
        batch.drop_column("version")
