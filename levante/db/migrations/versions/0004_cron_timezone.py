"""Cron trigger time zones: the IANA zone whose wall clock a trigger's pattern follows.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07 05:00:00

``cron_triggers`` gains ``timezone`` (an IANA name such as ``Europe/Madrid``). Triggers created
before this revision have none and keep reading their patterns in UTC, as Mistral does.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ZONE = 64


def upgrade() -> None:
    op.add_column("cron_triggers", sa.Column("timezone", sa.String(ZONE), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cron_triggers") as batch:
        batch.drop_column("timezone")
