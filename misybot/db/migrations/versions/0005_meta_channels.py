"""Meta channels: Messenger and Instagram join the channel vocabulary (WhatsApp Cloud API messages
are WhatsApp messages). Every channel column grows to the longer names and its CHECK is renewed.

Revision ID: 0005_meta
Revises: 0004_queue
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_meta"
down_revision = "0004_queue"
branch_labels = None
depends_on = None

OLD = ("whatsapp", "sms", "email", "slack", "telegram", "rest", "cmdline")
NEW = (*OLD, "messenger", "instagram")
# (table, column, enum name the CHECK constraint is named after, nullable)
COLUMNS = (
    ("message_templates", "channel", "template_channel", True),
    ("users", "preferred_channel", "user_channel", False),
    ("channel_identities", "channel", "identity_channel", False),
    ("conversation_messages", "channel", "message_channel", False),
    ("outbound_messages", "channel", "outbound_channel", False),
)


def _renew(values: tuple[str, ...], old_length: int) -> None:
    length = max(len(value) for value in values)
    for table, column, enum_name, nullable in COLUMNS:
        allowed = ", ".join(f"'{value}'" for value in values)  # literals from this file only
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(op.f(f"ck_{table}_{enum_name}"), type_="check")
            batch.alter_column(
                column,
                type_=sa.String(length=length),
                existing_type=sa.String(length=old_length),
                existing_nullable=nullable,
            )
            batch.create_check_constraint(enum_name, f"{column} IN ({allowed})")


def upgrade() -> None:
    _renew(NEW, max(len(value) for value in OLD))


def downgrade() -> None:
    for table, column, _, _ in COLUMNS:
        op.execute(sa.text(f"DELETE FROM {table} WHERE {column} IN ('messenger', 'instagram')"))
    _renew(OLD, max(len(value) for value in NEW))
