"""Queue claims: an index over queued executions in claim order (priority, then age).

Without it every claim sorts all queued rows; with it a claim reads just the rows it takes.

Revision ID: 0004_queue
Revises: 0003
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_queue"
down_revision = "0003"
branch_labels = None
depends_on = None

QUEUED = sa.text("status = 'queued'")


def upgrade() -> None:
    op.create_index(
        "ix_agent_executions_claim",
        "agent_executions",
        [sa.text("priority DESC"), "available_at", "id"],
        unique=False,
        postgresql_where=QUEUED,
        sqlite_where=QUEUED,
    )


def downgrade() -> None:
    op.drop_index("ix_agent_executions_claim", table_name="agent_executions")
