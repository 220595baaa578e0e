"""A user's persona is optional: no preference means the assistant's default voice.

Revision ID: 0006_persona
Revises: 0005_meta
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_persona"
down_revision = "0005_meta"
branch_labels = None
depends_on = None

LENGTH = len("streamliner")


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.alter_column(
            "persona",
            existing_type=sa.String(length=LENGTH),
            existing_nullable=False,
            nullable=True,
        )


def downgrade() -> None:
    op.execute(sa.text("UPDATE users SET persona = 'navigator' WHERE persona IS NULL"))
    with op.batch_alter_table("users") as batch:
        batch.alter_column(
            "persona",
            existing_type=sa.String(length=LENGTH),
            existing_nullable=True,
            nullable=False,
        )
