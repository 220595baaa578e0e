"""Channel inbox: conversation messages carry a processing status and their normalised payload;
outbound messages record what we sent and the provider's delivery status.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

CHANNELS = ("whatsapp", "sms", "email", "slack", "telegram", "rest", "cmdline")
DELIVERY_STATUSES = ("queued", "sent", "delivered", "read", "undelivered", "failed")


def upgrade() -> None:
    with op.batch_alter_table("conversation_messages") as batch:
        batch.add_column(
            # A plain string (values: misybot.enums.InboxStatus): SQLite cannot drop a CHECK.
            sa.Column("status", sa.String(length=16), nullable=False, server_default="processed")
        )
        batch.add_column(sa.Column("payload", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index(
        "ix_conversation_messages_status", "conversation_messages", ["status", "id"], unique=False
    )
    op.create_table(
        "outbound_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=True),
        sa.Column("conversation_message_id", sa.Integer(), nullable=True),
        sa.Column(
            "channel",
            sa.Enum(*CHANNELS, name="outbound_channel", native_enum=False, create_constraint=True),
            nullable=False,
        ),
        sa.Column("recipient_address", sa.String(length=254), nullable=False),
        sa.Column("provider_message_id", sa.String(length=128), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("media", sa.JSON(), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                *DELIVERY_STATUSES,
                name="delivery_status",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("error_code", sa.String(length=32), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_outbound_messages_company_id_companies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["conversation_message_id"],
            ["conversation_messages.id"],
            name=op.f("fk_outbound_messages_conversation_message_id_conversation_messages"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbound_messages")),
        sa.UniqueConstraint(
            "channel",
            "provider_message_id",
            name=op.f("uq_outbound_messages_channel_provider_message_id"),
        ),
    )
    op.create_index(
        op.f("ix_outbound_messages_company_id"), "outbound_messages", ["company_id"], unique=False
    )
    op.create_index(
        op.f("ix_outbound_messages_conversation_message_id"),
        "outbound_messages",
        ["conversation_message_id"],
        unique=False,
    )
    op.create_index(
        "ix_outbound_messages_recipient",
        "outbound_messages",
        ["channel", "recipient_address", "created_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_table("outbound_messages")
    op.drop_index("ix_conversation_messages_status", table_name="conversation_messages")
    with op.batch_alter_table("conversation_messages") as batch:
        batch.drop_column("processed_at")
        batch.drop_column("payload")
        batch.drop_column("status")
