"""Several replicas share the inbox: a message's due time (over its sender's rate limit) is
stored with it, each sender's rate-limit schedule is a row every replica reads, and each reply
on record names the response it was part of (a turn run again after a crash skips those sent).

Revision ID: 0012_replicas
Revises: 0011_heartbeats
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_replicas"
down_revision = "0011_heartbeats"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("conversation_messages") as batch:
        batch.add_column(sa.Column("due_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("outbound_messages") as batch:
        batch.add_column(sa.Column("response_key", sa.String(32), nullable=True))
    op.create_table(
        "sender_rate_schedules",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("transport", sa.String(64), nullable=False),
        sa.Column("sender", sa.String(512), nullable=False),
        sa.Column("started_at", sa.Float(), nullable=False),
        sa.Column("admitted", sa.Integer(), nullable=False),
        sa.Column("told", sa.Integer(), nullable=False),
        sa.UniqueConstraint("transport", "sender"),
    )


def downgrade() -> None:
    op.drop_table("sender_rate_schedules")
    with op.batch_alter_table("outbound_messages") as batch:
        batch.drop_column("response_key")
    with op.batch_alter_table("conversation_messages") as batch:
        batch.drop_column("due_at")
