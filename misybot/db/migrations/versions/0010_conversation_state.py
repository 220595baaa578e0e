"""Conversation state in the project's database: every tracker event, and recent snapshots of
the state so that a turn reads a bounded part of a long conversation.

Revision ID: 0010_conversations
Revises: 0009_aliases
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_conversations"
down_revision = "0009_aliases"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "conversation_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
        ),
        sa.Column("conversation_id", sa.String(255), nullable=False),
        sa.Column("type_name", sa.String(64), nullable=False),
        sa.Column("timestamp", sa.Float(), nullable=False),
        sa.Column("intent_name", sa.String(255)),
        sa.Column("action_name", sa.String(255)),
        sa.Column("data", sa.Text(), nullable=False),
    )
    op.create_index(
        "ix_conversation_events_conversation", "conversation_events", ["conversation_id", "id"]
    )
    op.create_table(
        "conversation_snapshots",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("conversation_id", sa.String(255), nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.Column("session_start_id", sa.BigInteger()),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("conversation_id", "event_id"),
    )


def downgrade() -> None:
    op.drop_table("conversation_snapshots")
    op.drop_index("ix_conversation_events_conversation", "conversation_events")
    op.drop_table("conversation_events")
