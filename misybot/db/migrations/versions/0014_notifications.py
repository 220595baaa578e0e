"""Notifications: each company's time zone, a person's quiet hours, who hears about a recurring
run, subscriptions (new alerts, the daily digest), the push outbox and what each transport can
send outside its 24-hour window.

Revision ID: 0014_notifications
Revises: 0013_people
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014_notifications"
down_revision = "0013_people"
branch_labels = None
depends_on = None

CHANNELS = ("whatsapp", "sms", "email", "slack", "telegram", "messenger", "instagram")
SEVERITIES = ("critical", "high", "medium", "low")


def _fk(column: str, table: str, source: str, *, nullable: bool = False) -> sa.Column:
    return sa.Column(
        column,
        sa.Integer(),
        sa.ForeignKey(f"{table}.id", ondelete="CASCADE", name=f"fk_{source}_{column}_{table}"),
        nullable=nullable,
    )


def upgrade() -> None:
    with op.batch_alter_table("companies") as batch:
        batch.add_column(sa.Column("timezone", sa.String(64), nullable=False, server_default="UTC"))
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("quiet_from", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("quiet_until", sa.Integer(), nullable=True))
    with op.batch_alter_table("agent_schedules") as batch:
        batch.add_column(sa.Column("notify", sa.String(8), nullable=False, server_default="new"))

    op.create_index(
        "ix_conversation_messages_user_received",
        "conversation_messages",
        ["user_id", "received_at"],
    )
    op.create_table(
        "subscriptions",
        sa.Column("id", sa.Integer(), primary_key=True),
        _fk("company_id", "companies", "subscriptions"),
        _fk("user_id", "users", "subscriptions"),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column(
            "min_severity",
            sa.Enum(
                *SEVERITIES,
                name="subscription_severity",
                native_enum=False,
                create_constraint=True,
                length=8,
            ),
            nullable=True,
        ),
        sa.Column("at_minute", sa.Integer(), nullable=True),
        sa.Column("next_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_subscriptions"),
        sa.UniqueConstraint("user_id", "kind", name="uq_subscriptions_user_id_kind"),
    )
    op.create_index("ix_subscriptions_company_id", "subscriptions", ["company_id"])
    op.create_index("ix_subscriptions_user_id", "subscriptions", ["user_id"])
    op.create_index("ix_subscriptions_due", "subscriptions", ["kind", "next_at"])
    op.create_index("ix_subscriptions_company_kind", "subscriptions", ["company_id", "kind"])

    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer(), primary_key=True),
        _fk("company_id", "companies", "notifications"),
        _fk("user_id", "users", "notifications"),
        sa.Column("kind", sa.String(16), nullable=False),
        _fk("execution_id", "agent_executions", "notifications", nullable=True),
        _fk("alert_id", "alerts", "notifications", nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("available_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_owner", sa.String(128), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("channel", sa.String(32), nullable=True),
        sa.Column("note", sa.String(255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_notifications"),
        sa.UniqueConstraint(
            "user_id", "execution_id", name="uq_notifications_user_id_execution_id"
        ),
        sa.UniqueConstraint("user_id", "alert_id", name="uq_notifications_user_id_alert_id"),
    )
    op.create_index("ix_notifications_company_id", "notifications", ["company_id"])
    op.create_index("ix_notifications_user_id", "notifications", ["user_id"])
    op.create_index("ix_notifications_execution_id", "notifications", ["execution_id"])
    op.create_index("ix_notifications_alert_id", "notifications", ["alert_id"])
    op.create_index("ix_notifications_due", "notifications", ["status", "available_at"])

    op.create_table(
        "channel_reach",
        sa.Column("transport", sa.String(32), nullable=False),
        sa.Column(
            "channel",
            sa.Enum(
                *CHANNELS, name="reach_channel", native_enum=False, create_constraint=True, length=9
            ),
            nullable=False,
        ),
        sa.Column("outside_window", sa.String(16), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("transport", name="pk_channel_reach"),
    )


def downgrade() -> None:
    op.drop_table("channel_reach")
    op.drop_table("notifications")
    op.drop_table("subscriptions")
    op.drop_index("ix_conversation_messages_user_received", "conversation_messages")
    with op.batch_alter_table("agent_schedules") as batch:
        batch.drop_column("notify")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("quiet_until")
        batch.drop_column("quiet_from")
    with op.batch_alter_table("companies") as batch:
        batch.drop_column("timezone")
