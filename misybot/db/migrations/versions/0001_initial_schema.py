"""Initial schema: tenants, users, catalogue, stock and its audit trail, purchasing, alerts,
reports, conversations, templates and the agent execution queue.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "companies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_companies")),
        sa.UniqueConstraint("slug", name=op.f("uq_companies_slug")),
    )
    op.create_table(
        "locations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "warehouse",
                "store",
                name="location_kind",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("city", sa.String(length=120), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_locations_company_id_companies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_locations")),
        sa.UniqueConstraint("company_id", "code", name=op.f("uq_locations_company_id_code")),
        sa.UniqueConstraint("company_id", "id", name=op.f("uq_locations_company_id_id")),
        sa.UniqueConstraint("company_id", "name", name=op.f("uq_locations_company_id_name")),
    )
    op.create_index(op.f("ix_locations_company_id"), "locations", ["company_id"], unique=False)

    op.create_table(
        "message_templates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=True),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column(
            "channel",
            sa.Enum(
                "whatsapp",
                "sms",
                "email",
                "slack",
                "telegram",
                "rest",
                "cmdline",
                name="template_channel",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=True,
        ),
        sa.Column(
            "persona",
            sa.Enum(
                "streamliner",
                "navigator",
                "hub",
                "spring",
                "processor",
                name="template_persona",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=True,
        ),
        sa.Column("intent", sa.String(length=64), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("variables", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_message_templates_company_id_companies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message_templates")),
        sa.UniqueConstraint(
            "company_id",
            "name",
            "channel",
            "persona",
            name=op.f("uq_message_templates_company_id_name_channel_persona"),
        ),
    )
    op.create_index(
        op.f("ix_message_templates_company_id"), "message_templates", ["company_id"], unique=False
    )

    op.create_table(
        "suppliers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("contact_name", sa.String(length=120), nullable=True),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("phone", sa.String(length=32), nullable=True),
        sa.Column("lead_time_days", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("lead_time_days >= 0", name=op.f("ck_suppliers_lead_time_days")),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_suppliers_company_id_companies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_suppliers")),
        sa.UniqueConstraint("company_id", "id", name=op.f("uq_suppliers_company_id_id")),
        sa.UniqueConstraint("company_id", "name", name=op.f("uq_suppliers_company_id_name")),
    )
    op.create_index(op.f("ix_suppliers_company_id"), "suppliers", ["company_id"], unique=False)

    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column(
            "role",
            sa.Enum(
                "viewer",
                "operator",
                "admin",
                name="user_role",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column(
            "persona",
            sa.Enum(
                "streamliner",
                "navigator",
                "hub",
                "spring",
                "processor",
                name="user_persona",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column(
            "preferred_channel",
            sa.Enum(
                "whatsapp",
                "sms",
                "email",
                "slack",
                "telegram",
                "rest",
                "cmdline",
                name="user_channel",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("phone", sa.String(length=32), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_users_company_id_companies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("company_id", "email", name=op.f("uq_users_company_id_email")),
        sa.UniqueConstraint("company_id", "id", name=op.f("uq_users_company_id_id")),
    )
    op.create_index(op.f("ix_users_company_id"), "users", ["company_id"], unique=False)

    op.create_table(
        "agent_executions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("agent_type", sa.String(length=64), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "queued",
                "running",
                "succeeded",
                "failed",
                "cancelled",
                name="execution_status",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("context", sa.JSON(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("lease_owner", sa.String(length=128), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("available_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("attempts >= 0", name=op.f("ck_agent_executions_attempts")),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_agent_executions_company_id_companies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_agent_executions_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_executions")),
    )
    op.create_index(
        op.f("ix_agent_executions_company_id"), "agent_executions", ["company_id"], unique=False
    )
    op.create_index(
        "ix_agent_executions_company_status",
        "agent_executions",
        ["company_id", "status"],
        unique=False,
    )
    op.create_index(
        "ix_agent_executions_dequeue",
        "agent_executions",
        ["status", "priority", "available_at"],
        unique=False,
    )

    op.create_table(
        "channel_identities",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column(
            "channel",
            sa.Enum(
                "whatsapp",
                "sms",
                "email",
                "slack",
                "telegram",
                "rest",
                "cmdline",
                name="identity_channel",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("address", sa.String(length=254), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_channel_identities_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_channel_identities")),
        sa.UniqueConstraint(
            "channel", "address", name=op.f("uq_channel_identities_channel_address")
        ),
    )
    op.create_index(
        op.f("ix_channel_identities_user_id"), "channel_identities", ["user_id"], unique=False
    )

    op.create_table(
        "products",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("sku", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("unit", sa.String(length=16), nullable=False),
        sa.Column("reorder_point", sa.Integer(), nullable=False),
        sa.Column("reorder_quantity", sa.Integer(), nullable=False),
        sa.Column("lead_time_days", sa.Integer(), nullable=False),
        sa.Column("unit_cost", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("unit_price", sa.Numeric(precision=12, scale=2), nullable=True),
        sa.Column("max_stock", sa.Integer(), nullable=True),
        sa.Column("preferred_supplier_id", sa.Integer(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("lead_time_days >= 0", name=op.f("ck_products_lead_time_days")),
        sa.CheckConstraint(
            "max_stock IS NULL OR max_stock > reorder_point", name=op.f("ck_products_max_stock")
        ),
        sa.CheckConstraint("reorder_point >= 0", name=op.f("ck_products_reorder_point")),
        sa.CheckConstraint("reorder_quantity > 0", name=op.f("ck_products_reorder_quantity")),
        sa.CheckConstraint("unit_cost >= 0", name=op.f("ck_products_unit_cost")),
        sa.ForeignKeyConstraint(
            ["company_id", "preferred_supplier_id"],
            ["suppliers.company_id", "suppliers.id"],
            name=op.f("fk_products_company_id_preferred_supplier_id_suppliers"),
        ),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_products_company_id_companies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_products")),
        sa.UniqueConstraint("company_id", "id", name=op.f("uq_products_company_id_id")),
        sa.UniqueConstraint("company_id", "sku", name=op.f("uq_products_company_id_sku")),
    )
    op.create_index(op.f("ix_products_company_id"), "products", ["company_id"], unique=False)
    op.create_index("ix_products_company_id_name", "products", ["company_id", "name"], unique=False)

    op.create_table(
        "purchase_orders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("supplier_id", sa.Integer(), nullable=False),
        sa.Column("location_id", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "draft",
                "sent",
                "received",
                "cancelled",
                name="purchase_order_status",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ordered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expected_date", sa.Date(), nullable=True),
        sa.Column("received_date", sa.Date(), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("idempotency_key", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["company_id", "location_id"],
            ["locations.company_id", "locations.id"],
            name=op.f("fk_purchase_orders_company_id_location_id_locations"),
        ),
        sa.ForeignKeyConstraint(
            ["company_id", "supplier_id"],
            ["suppliers.company_id", "suppliers.id"],
            name=op.f("fk_purchase_orders_company_id_supplier_id_suppliers"),
        ),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_purchase_orders_company_id_companies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_purchase_orders_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_purchase_orders")),
        sa.UniqueConstraint("company_id", "id", name=op.f("uq_purchase_orders_company_id_id")),
        sa.UniqueConstraint(
            "company_id",
            "idempotency_key",
            name=op.f("uq_purchase_orders_company_id_idempotency_key"),
        ),
        sa.UniqueConstraint(
            "company_id", "number", name=op.f("uq_purchase_orders_company_id_number")
        ),
    )
    op.create_index(
        op.f("ix_purchase_orders_company_id"), "purchase_orders", ["company_id"], unique=False
    )
    op.create_index(
        "ix_purchase_orders_company_status_expected",
        "purchase_orders",
        ["company_id", "status", "expected_date"],
        unique=False,
    )
    op.create_index(
        "ix_purchase_orders_company_supplier",
        "purchase_orders",
        ["company_id", "supplier_id"],
        unique=False,
    )

    op.create_table(
        "reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column(
            "report_type",
            sa.Enum(
                "inventory",
                "sales",
                "supplier",
                "financial",
                name="report_type",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=False),
        sa.Column("format", sa.String(length=16), nullable=False),
        sa.Column("file_path", sa.String(length=500), nullable=True),
        sa.Column("chart_path", sa.String(length=500), nullable=True),
        sa.Column("summary", sa.JSON(), nullable=True),
        sa.Column("requested_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_reports_company_id_companies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["requested_by_id"],
            ["users.id"],
            name=op.f("fk_reports_requested_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reports")),
        sa.UniqueConstraint("company_id", "id", name=op.f("uq_reports_company_id_id")),
    )
    op.create_index(
        "ix_reports_company_created", "reports", ["company_id", "created_at"], unique=False
    )
    op.create_index(op.f("ix_reports_company_id"), "reports", ["company_id"], unique=False)

    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column(
            "severity",
            sa.Enum(
                "critical",
                "high",
                "medium",
                "low",
                name="alert_severity",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column(
            "category",
            sa.Enum(
                "low_stock",
                "out_of_stock",
                "overstock",
                "late_delivery",
                "supplier",
                name="alert_category",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum(
                "open",
                "acknowledged",
                "resolved",
                name="alert_status",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=True),
        sa.Column("location_id", sa.Integer(), nullable=True),
        sa.Column("supplier_id", sa.Integer(), nullable=True),
        sa.Column("purchase_order_id", sa.Integer(), nullable=True),
        sa.Column("condition_key", sa.String(length=128), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_by_id", sa.Integer(), nullable=True),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_by_id", sa.Integer(), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolution_note", sa.String(length=255), nullable=True),
        sa.ForeignKeyConstraint(
            ["acknowledged_by_id"],
            ["users.id"],
            name=op.f("fk_alerts_acknowledged_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["company_id", "location_id"],
            ["locations.company_id", "locations.id"],
            name=op.f("fk_alerts_company_id_location_id_locations"),
        ),
        sa.ForeignKeyConstraint(
            ["company_id", "product_id"],
            ["products.company_id", "products.id"],
            name=op.f("fk_alerts_company_id_product_id_products"),
        ),
        sa.ForeignKeyConstraint(
            ["company_id", "purchase_order_id"],
            ["purchase_orders.company_id", "purchase_orders.id"],
            name=op.f("fk_alerts_company_id_purchase_order_id_purchase_orders"),
        ),
        sa.ForeignKeyConstraint(
            ["company_id", "supplier_id"],
            ["suppliers.company_id", "suppliers.id"],
            name=op.f("fk_alerts_company_id_supplier_id_suppliers"),
        ),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_alerts_company_id_companies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["resolved_by_id"],
            ["users.id"],
            name=op.f("fk_alerts_resolved_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
    )
    op.create_index(op.f("ix_alerts_company_id"), "alerts", ["company_id"], unique=False)
    op.create_index(
        "ix_alerts_company_status_severity",
        "alerts",
        ["company_id", "status", "severity"],
        unique=False,
    )
    op.create_index(
        "uq_alerts_unresolved_condition",
        "alerts",
        ["company_id", "condition_key"],
        unique=True,
        sqlite_where=sa.text("status <> 'resolved'"),
        postgresql_where=sa.text("status <> 'resolved'"),
    )

    op.create_table(
        "conversation_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column(
            "channel",
            sa.Enum(
                "whatsapp",
                "sms",
                "email",
                "slack",
                "telegram",
                "rest",
                "cmdline",
                name="message_channel",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("sender_address", sa.String(length=254), nullable=False),
        sa.Column("provider_message_id", sa.String(length=128), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("intent", sa.String(length=64), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("entities", sa.JSON(), nullable=True),
        sa.Column("execution_id", sa.Integer(), nullable=True),
        sa.Column("response_body", sa.Text(), nullable=True),
        sa.Column("response_sent", sa.Boolean(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("responded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_conversation_messages_company_id_companies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["execution_id"],
            ["agent_executions.id"],
            name=op.f("fk_conversation_messages_execution_id_agent_executions"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_conversation_messages_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversation_messages")),
        sa.UniqueConstraint(
            "channel",
            "provider_message_id",
            name=op.f("uq_conversation_messages_channel_provider_message_id"),
        ),
    )
    op.create_index(
        "ix_conversation_messages_company_received",
        "conversation_messages",
        ["company_id", "received_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_conversation_messages_execution_id"),
        "conversation_messages",
        ["execution_id"],
        unique=False,
    )
    op.create_index(
        "ix_conversation_messages_sender",
        "conversation_messages",
        ["channel", "sender_address"],
        unique=False,
    )

    op.create_table(
        "purchase_order_lines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("purchase_order_id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("quantity_ordered", sa.Integer(), nullable=False),
        sa.Column("quantity_received", sa.Integer(), nullable=True),
        sa.Column("unit_cost", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.CheckConstraint(
            "quantity_ordered > 0", name=op.f("ck_purchase_order_lines_quantity_ordered")
        ),
        sa.CheckConstraint(
            "quantity_received IS NULL OR quantity_received >= 0",
            name=op.f("ck_purchase_order_lines_quantity_received"),
        ),
        sa.ForeignKeyConstraint(
            ["company_id", "product_id"],
            ["products.company_id", "products.id"],
            name=op.f("fk_purchase_order_lines_company_id_product_id_products"),
        ),
        sa.ForeignKeyConstraint(
            ["company_id", "purchase_order_id"],
            ["purchase_orders.company_id", "purchase_orders.id"],
            name=op.f("fk_purchase_order_lines_company_id_purchase_order_id_purchase_orders"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_purchase_order_lines_company_id_companies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_purchase_order_lines")),
        sa.UniqueConstraint(
            "purchase_order_id",
            "product_id",
            name=op.f("uq_purchase_order_lines_purchase_order_id_product_id"),
        ),
    )
    op.create_index(
        op.f("ix_purchase_order_lines_company_id"),
        "purchase_order_lines",
        ["company_id"],
        unique=False,
    )
    op.create_index(
        "ix_purchase_order_lines_company_product",
        "purchase_order_lines",
        ["company_id", "product_id"],
        unique=False,
    )

    op.create_table(
        "stock_levels",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("location_id", sa.Integer(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("reorder_point", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("quantity >= 0", name=op.f("ck_stock_levels_quantity")),
        sa.CheckConstraint(
            "reorder_point IS NULL OR reorder_point >= 0",
            name=op.f("ck_stock_levels_reorder_point"),
        ),
        sa.ForeignKeyConstraint(
            ["company_id", "location_id"],
            ["locations.company_id", "locations.id"],
            name=op.f("fk_stock_levels_company_id_location_id_locations"),
        ),
        sa.ForeignKeyConstraint(
            ["company_id", "product_id"],
            ["products.company_id", "products.id"],
            name=op.f("fk_stock_levels_company_id_product_id_products"),
        ),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_stock_levels_company_id_companies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stock_levels")),
        sa.UniqueConstraint(
            "product_id", "location_id", name=op.f("uq_stock_levels_product_id_location_id")
        ),
    )
    op.create_index(
        op.f("ix_stock_levels_company_id"), "stock_levels", ["company_id"], unique=False
    )
    op.create_index(
        op.f("ix_stock_levels_location_id"), "stock_levels", ["location_id"], unique=False
    )

    op.create_table(
        "stock_movements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("location_id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "receipt",
                "sale",
                "consumption",
                "adjustment",
                "write_off",
                "transfer",
                name="movement_kind",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("balance_after", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=255), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("purchase_order_id", sa.Integer(), nullable=True),
        sa.Column("transfer_location_id", sa.Integer(), nullable=True),
        sa.Column("idempotency_key", sa.String(length=64), nullable=True),
        sa.CheckConstraint("balance_after >= 0", name=op.f("ck_stock_movements_balance_after")),
        sa.CheckConstraint("quantity <> 0", name=op.f("ck_stock_movements_quantity")),
        sa.ForeignKeyConstraint(
            ["company_id", "location_id"],
            ["locations.company_id", "locations.id"],
            name=op.f("fk_stock_movements_company_id_location_id_locations"),
        ),
        sa.ForeignKeyConstraint(
            ["company_id", "product_id"],
            ["products.company_id", "products.id"],
            name=op.f("fk_stock_movements_company_id_product_id_products"),
        ),
        sa.ForeignKeyConstraint(
            ["company_id", "purchase_order_id"],
            ["purchase_orders.company_id", "purchase_orders.id"],
            name=op.f("fk_stock_movements_company_id_purchase_order_id_purchase_orders"),
        ),
        sa.ForeignKeyConstraint(
            ["company_id", "transfer_location_id"],
            ["locations.company_id", "locations.id"],
            name=op.f("fk_stock_movements_company_id_transfer_location_id_locations"),
        ),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_stock_movements_company_id_companies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_stock_movements_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stock_movements")),
        sa.UniqueConstraint(
            "company_id",
            "idempotency_key",
            name=op.f("uq_stock_movements_company_id_idempotency_key"),
        ),
    )
    op.create_index(
        op.f("ix_stock_movements_company_id"), "stock_movements", ["company_id"], unique=False
    )
    op.create_index(
        "ix_stock_movements_company_product_time",
        "stock_movements",
        ["company_id", "product_id", "occurred_at"],
        unique=False,
    )
    op.create_index(
        "ix_stock_movements_company_time",
        "stock_movements",
        ["company_id", "occurred_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_table("stock_movements")
    op.drop_table("stock_levels")
    op.drop_table("purchase_order_lines")
    op.drop_table("conversation_messages")
    op.drop_table("alerts")
    op.drop_table("reports")
    op.drop_table("purchase_orders")
    op.drop_table("products")
    op.drop_table("channel_identities")
    op.drop_table("agent_executions")
    op.drop_table("users")
    op.drop_table("suppliers")
    op.drop_table("message_templates")
    op.drop_table("locations")
    op.drop_table("companies")
