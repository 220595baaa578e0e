"""People: how each channel identity was proved, an audit log of who changed whom, invitation
codes and the wrong attempts at them, a salted hash of every inbound provider message id
(what is left of it once its sender's data is erased), and how far retention has gone.

Revision ID: 0013_people
Revises: 0012_replicas
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013_people"
down_revision = "0012_replicas"
branch_labels = None
depends_on = None

CHANNELS = ("whatsapp", "sms", "email", "slack", "telegram", "messenger", "instagram")


def upgrade() -> None:
    with op.batch_alter_table("channel_identities") as batch:
        batch.add_column(sa.Column("verified_by", sa.String(16), nullable=True))
        batch.add_column(sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("conversation_messages") as batch:
        batch.add_column(sa.Column("provider_id_digest", sa.String(64), nullable=True))
        batch.create_unique_constraint(
            "uq_conversation_messages_channel_provider_id_digest",
            ["channel", "provider_id_digest"],
        )
    op.create_table(
        "audit_entries",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "company_id",
            sa.Integer(),
            sa.ForeignKey(
                "companies.id", ondelete="CASCADE", name="fk_audit_entries_company_id_companies"
            ),
            nullable=False,
        ),
        sa.Column("actor_user_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("subject_user_id", sa.Integer(), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_entries"),
    )
    op.create_index("ix_audit_entries_company_id", "audit_entries", ["company_id"])
    op.create_index("ix_audit_entries_subject_user_id", "audit_entries", ["subject_user_id"])
    op.create_index(
        "ix_audit_entries_company_created", "audit_entries", ["company_id", "created_at"]
    )
    op.create_table(
        "invitations",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "company_id",
            sa.Integer(),
            sa.ForeignKey(
                "companies.id", ondelete="CASCADE", name="fk_invitations_company_id_companies"
            ),
            nullable=False,
        ),
        sa.Column(
            "user_id",
            sa.Integer(),
            sa.ForeignKey("users.id", ondelete="CASCADE", name="fk_invitations_user_id_users"),
            nullable=False,
        ),
        sa.Column("code_digest", sa.String(64), nullable=False),
        sa.Column(
            "channel",
            sa.Enum(
                *CHANNELS,
                name="invitation_channel",
                native_enum=False,
                create_constraint=True,
                length=9,
            ),
            nullable=True,
        ),
        sa.Column("address", sa.String(254), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failed_attempts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_invitations"),
        sa.UniqueConstraint("code_digest", name="uq_invitations_code_digest"),
    )
    op.create_index("ix_invitations_company_id", "invitations", ["company_id"])
    op.create_index("ix_invitations_user_id", "invitations", ["user_id"])
    op.create_table(
        "link_attempts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("address", sa.String(254), nullable=False),
        sa.Column("attempted_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_link_attempts"),
    )
    op.create_index(
        "ix_link_attempts_sender", "link_attempts", ["channel", "address", "attempted_at"]
    )

    op.create_table(
        "retention_marks",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("last_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_retention_marks"),
    )


def downgrade() -> None:
    op.drop_table("retention_marks")
    op.drop_table("link_attempts")
    op.drop_table("invitations")
    op.drop_table("audit_entries")
    with op.batch_alter_table("conversation_messages") as batch:
        batch.drop_constraint("uq_conversation_messages_channel_provider_id_digest", type_="unique")
        batch.drop_column("provider_id_digest")
    with op.batch_alter_table("channel_identities") as batch:
        batch.drop_column("verified_at")
        batch.drop_column("verified_by")
