"""Understandings: what the assistant understood of each message (intent, confidence, the
runner-up and the margin to it, entities) and the action that answered it, one row per message,
which an operator may flag; and the NLU inbox reviewers' decisions.

Revision ID: 0015_understandings
Revises: 0014_notifications
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015_understandings"
down_revision = "0014_notifications"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "understandings",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("conversation_id", sa.String(255), nullable=False),
        sa.Column("message_id", sa.String(128), nullable=False),
        sa.Column(
            "company_id",
            sa.Integer(),
            sa.ForeignKey(
                "companies.id", ondelete="CASCADE", name="fk_understandings_company_id_companies"
            ),
            nullable=True,
        ),
        sa.Column(
            "user_id",
            sa.Integer(),
            sa.ForeignKey("users.id", ondelete="SET NULL", name="fk_understandings_user_id_users"),
            nullable=True,
        ),
        sa.Column("channel", sa.String(32), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("intent", sa.String(64), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("runner_up", sa.String(64), nullable=True),
        sa.Column("runner_up_confidence", sa.Float(), nullable=True),
        sa.Column("margin", sa.Float(), nullable=True),
        sa.Column("entities", sa.JSON(), nullable=True),
        sa.Column("action", sa.String(64), nullable=True),
        sa.Column("flagged", sa.Boolean(), nullable=False, server_default=sa.text("false")),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_understandings"),
        sa.UniqueConstraint(
            "conversation_id", "message_id", name="uq_understandings_conversation_id_message_id"
        ),
    )
    op.create_index("ix_understandings_company_id", "understandings", ["company_id"])
    op.create_index("ix_understandings_user_id", "understandings", ["user_id"])
    op.create_index(
        "ix_understandings_company_created", "understandings", ["company_id", "created_at"]
    )

    op.create_table(
        "nlu_reviews",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "company_id",
            sa.Integer(),
            sa.ForeignKey(
                "companies.id", ondelete="CASCADE", name="fk_nlu_reviews_company_id_companies"
            ),
            nullable=False,
        ),
        sa.Column("text_key", sa.String(64), nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("intent", sa.String(64), nullable=True),
        sa.Column("reviewer", sa.String(254), nullable=True),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_nlu_reviews"),
        sa.UniqueConstraint("company_id", "text_key", name="uq_nlu_reviews_company_id_text_key"),
    )
    op.create_index("ix_nlu_reviews_company_id", "nlu_reviews", ["company_id"])


def downgrade() -> None:
    op.drop_table("nlu_reviews")
    op.drop_table("understandings")
