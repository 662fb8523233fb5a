"""Outbox rows whose first publish certainly failed.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 15:50:00

A row whose first publish failed before a connection to the broker was open is marked, so that the
sweeper sends it later as a first delivery: before, every row left unsent was re-sent flagged as a
repeat, and an executor refuses to run a repeat of an action that is not safe to re-run, so a broker
outage longer than the publisher's retries failed the tasks started during it.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("outbox", sa.Column("unpublished", sa.Boolean(), nullable=False, server_default=sa.text("false")))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("unpublished")
