"""Orchestrator: cooperative cancellation and delivery bookkeeping on agent executions, and
persisted recurring runs (agent schedules).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "agent_schedules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("agent_type", sa.String(length=64), nullable=False),
        sa.Column("interval_s", sa.Integer(), nullable=False),
        sa.Column("context", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("next_run_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("interval_s > 0", name=op.f("ck_agent_schedules_interval_s")),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_agent_schedules_company_id_companies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_agent_schedules_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_schedules")),
    )
    op.create_index(
        op.f("ix_agent_schedules_company_id"), "agent_schedules", ["company_id"], unique=False
    )
    op.create_index(
        "ix_agent_schedules_due", "agent_schedules", ["active", "next_run_at"], unique=False
    )
    with op.batch_alter_table("agent_executions") as batch:
        batch.add_column(
            sa.Column(
                "cancel_requested", sa.Boolean(), server_default=sa.text("false"), nullable=False
            )
        )
        batch.add_column(
            sa.Column("deliver", sa.Boolean(), server_default=sa.text("false"), nullable=False)
        )
        batch.add_column(
            sa.Column(
                "response_sent", sa.Boolean(), server_default=sa.text("false"), nullable=False
            )
        )
        batch.add_column(
            sa.Column(
                "delivery_attempts", sa.Integer(), server_default=sa.text("0"), nullable=False
            )
        )
        batch.add_column(sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("schedule_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            batch.f("fk_agent_executions_schedule_id_agent_schedules"),
            "agent_schedules",
            ["schedule_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch.create_index(
            batch.f("ix_agent_executions_schedule_id"), ["schedule_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("agent_executions") as batch:
        batch.drop_index(batch.f("ix_agent_executions_schedule_id"))
        batch.drop_constraint(
            batch.f("fk_agent_executions_schedule_id_agent_schedules"), type_="foreignkey"
        )
        for column in (
            "schedule_id",
            "delivered_at",
            "delivery_attempts",
            "response_sent",
            "deliver",
            "cancel_requested",
        ):
            batch.drop_column(column)
    op.drop_index("ix_agent_schedules_due", table_name="agent_schedules")
    op.drop_index(op.f("ix_agent_schedules_company_id"), table_name="agent_schedules")
    op.drop_table("agent_schedules")
