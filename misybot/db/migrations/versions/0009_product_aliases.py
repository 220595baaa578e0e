"""Products have aliases: the other names a team calls them by ("oat milk" for "barista oat
milk"), which the catalogue's entity matcher recognises as the product.

Revision ID: 0009_aliases
Revises: 0008_attempts
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_aliases"
down_revision = "0008_attempts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("products") as batch:
        batch.add_column(sa.Column("aliases", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("products") as batch:
        batch.drop_column("aliases")
