"""Worker heartbeats: each running worker's last sign of life, for the health check; and an
index of the results still to push, which an idle worker looks for every second.

Revision ID: 0011_heartbeats
Revises: 0010_conversations
Create Date: 2026-12-09
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_heartbeats"
down_revision = "0010_conversations"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "worker_heartbeats",
        sa.Column("worker_id", sa.String(255), primary_key=True),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("beat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("running", sa.Integer(), nullable=False),
    )
    op.create_index(
        "ix_agent_executions_undelivered",
        "agent_executions",
        ["available_at"],
        postgresql_where=sa.text("deliver AND NOT response_sent"),
        sqlite_where=sa.text("deliver = 1 AND response_sent = 0"),
    )


def downgrade() -> None:
    op.drop_index("ix_agent_executions_undelivered", "agent_executions")
    op.drop_table("worker_heartbeats")
