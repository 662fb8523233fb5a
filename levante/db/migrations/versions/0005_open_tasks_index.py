"""An index of the open task executions of each workflow execution.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07 07:40:00

A step of an execution loads its open tasks (not ended, or their end not processed) instead of
every task it ever ran: with this partial index that read costs what the open tasks cost, however
many tasks ended before.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: As levante.db.models.OPEN_TASKS stood when this revision was written (a migration does not follow later code).
OPEN_TASKS = "NOT processed OR state NOT IN ('CANCELLED', 'ERROR', 'SKIPPED', 'SUCCESS')"


def upgrade() -> None:
    op.create_index("ix_task_executions_open", "task_executions", ["workflow_execution_id"],
                    postgresql_where=sa.text(OPEN_TASKS), sqlite_where=sa.text(OPEN_TASKS))


def downgrade() -> None:
    op.drop_index("ix_task_executions_open", table_name="task_executions")
