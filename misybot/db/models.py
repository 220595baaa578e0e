"""Declarative models of the operations data; every business row belongs to one company.

Rows that point at another business row of the same company use a composite foreign key
``(company_id, x_id) -> x(company_id, id)``, so the database itself refuses, say, a stock movement
of company A's product at company B's location.
"""

from __future__ import annotations

from enum import Enum as PyEnum

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    Enum,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import declarative_base, relationship

from misybot.db.types import Money, UTCDateTime, utc_now
from misybot.enums import (
    AlertCategory,
    AlertSeverity,
    AlertStatus,
    Channel,
    DeliveryStatus,
    ExecutionStatus,
    InboxStatus,
    LocationKind,
    MovementKind,
    Persona,
    PurchaseOrderStatus,
    ReportType,
    Role,
)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

Base = declarative_base(metadata=MetaData(naming_convention=NAMING_CONVENTION))


def _enum(enum_class: type[PyEnum], name: str) -> Enum:
    """A portable enum column: VARCHAR plus a CHECK constraint, storing the ``.value``."""
    return Enum(
        enum_class,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=max(len(member.value) for member in enum_class),
        values_callable=lambda members: [member.value for member in members],
    )


def _company_fk() -> Column:
    return Column(
        Integer, ForeignKey("companies.id", ondelete="CASCADE"), nullable=False, index=True
    )


def _user_fk(**kwargs) -> Column:
    return Column(Integer, ForeignKey("users.id", ondelete="SET NULL"), nullable=True, **kwargs)


def _same_company(column: str, table: str) -> ForeignKeyConstraint:
    """``(company_id, column)`` must name a row of ``table`` in the same company."""
    return ForeignKeyConstraint(["company_id", column], [f"{table}.company_id", f"{table}.id"])


class Company(Base):
    """A tenant: everything else hangs off one company."""

    __tablename__ = "companies"

    id = Column(Integer, primary_key=True)
    slug = Column(String(64), nullable=False, unique=True)
    name = Column(String(200), nullable=False)
    # The IANA zone its people live in: a digest "at 7" is 07:00 here.
    timezone = Column(String(64), nullable=False, default="UTC", server_default="UTC")
    created_at = Column(UTCDateTime, nullable=False, default=utc_now)


class User(Base):
    """A person at a company who talks to the assistant."""

    __tablename__ = "users"
    __table_args__ = (
        UniqueConstraint("company_id", "email"),
        UniqueConstraint("company_id", "id"),
    )

    id = Column(Integer, primary_key=True)
    company_id = _company_fk()
    name = Column(String(120), nullable=False)
    role = Column(_enum(Role, "user_role"), nullable=False, default=Role.VIEWER)
    # None: no preference yet — replies use the assistant's default voice.
    persona = Column(_enum(Persona, "user_persona"))
    preferred_channel = Column(_enum(Channel, "user_channel"), nullable=False)
    email = Column(String(254))
    phone = Column(String(32))
    active = Column(Boolean, nullable=False, default=True)
    created_at = Column(UTCDateTime, nullable=False, default=utc_now)
    # Quiet hours, in minutes after local midnight (company zone): nothing is pushed to them
    # from ``quiet_from`` until ``quiet_until`` (which may be the next morning). None: none.
    quiet_from = Column(Integer)
    quiet_until = Column(Integer)


class ChannelIdentity(Base):
    """An address on a channel (a WhatsApp number, an e-mail address) that belongs to one user."""

    __tablename__ = "channel_identities"
    __table_args__ = (UniqueConstraint("channel", "address"),)

    id = Column(Integer, primary_key=True)
    user_id = Column(
        Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    channel = Column(_enum(Channel, "identity_channel"), nullable=False)
    address = Column(String(254), nullable=False)
    created_at = Column(UTCDateTime, nullable=False, default=utc_now)
    # How it was proved to be theirs: "admin" (an admin linked it), "invitation" (the person
    # sent an invitation code from it), "import", "demo"; when.
    verified_by = Column(String(16))
    verified_at = Column(UTCDateTime)


class Location(Base):
    """A warehouse or store holding stock."""

    __tablename__ = "locations"
    __table_args__ = (
        UniqueConstraint("company_id", "name"),
        UniqueConstraint("company_id", "code"),
        UniqueConstraint("company_id", "id"),
    )

    id = Column(Integer, primary_key=True)
    company_id = _company_fk()
    code = Column(String(16), nullable=False)
    name = Column(String(120), nullable=False)
    kind = Column(_enum(LocationKind, "location_kind"), nullable=False)
    city = Column(String(120))
    active = Column(Boolean, nullable=False, default=True)
    created_at = Column(UTCDateTime, nullable=False, default=utc_now)


class Supplier(Base):
    """A company's supplier and its promised lead time."""

    __tablename__ = "suppliers"
    __table_args__ = (
        UniqueConstraint("company_id", "name"),
        UniqueConstraint("company_id", "id"),
        CheckConstraint("lead_time_days >= 0", name="lead_time_days"),
    )

    id = Column(Integer, primary_key=True)
    company_id = _company_fk()
    name = Column(String(200), nullable=False)
    contact_name = Column(String(120))
    email = Column(String(254))
    phone = Column(String(32))
    lead_time_days = Column(Integer, nullable=False)
    active = Column(Boolean, nullable=False, default=True)
    created_at = Column(UTCDateTime, nullable=False, default=utc_now)


class Product(Base):
    """A stocked item; the SKU is unique within its company."""

    __tablename__ = "products"
    __table_args__ = (
        UniqueConstraint("company_id", "sku"),
        UniqueConstraint("company_id", "id"),
        _same_company("preferred_supplier_id", "suppliers"),
        Index("ix_products_company_id_name", "company_id", "name"),
        CheckConstraint("reorder_point >= 0", name="reorder_point"),
        CheckConstraint("reorder_quantity > 0", name="reorder_quantity"),
        CheckConstraint("lead_time_days >= 0", name="lead_time_days"),
        CheckConstraint("unit_cost >= 0", name="unit_cost"),
        CheckConstraint("max_stock IS NULL OR max_stock > reorder_point", name="max_stock"),
    )

    id = Column(Integer, primary_key=True)
    company_id = _company_fk()
    sku = Column(String(32), nullable=False)
    name = Column(String(200), nullable=False)
    unit = Column(String(16), nullable=False, default="each")
    reorder_point = Column(Integer, nullable=False)
    reorder_quantity = Column(Integer, nullable=False)
    lead_time_days = Column(Integer, nullable=False)
    unit_cost = Column(Money, nullable=False)
    unit_price = Column(Money)
    # Above this total the product is overstocked; NULL means reorder point + 3 x reorder quantity.
    max_stock = Column(Integer)
    aliases = Column(JSON)  # other names the team uses for it (a list), for the NLU's catalogue
    preferred_supplier_id = Column(Integer)
    active = Column(Boolean, nullable=False, default=True)
    created_at = Column(UTCDateTime, nullable=False, default=utc_now)
    updated_at = Column(UTCDateTime, nullable=False, default=utc_now, onupdate=utc_now)


class StockLevel(Base):
    """How many units of a product a location holds now (never negative)."""

    __tablename__ = "stock_levels"
    __table_args__ = (
        UniqueConstraint("product_id", "location_id"),
        _same_company("product_id", "products"),
        _same_company("location_id", "locations"),
        CheckConstraint("quantity >= 0", name="quantity"),
        CheckConstraint("reorder_point IS NULL OR reorder_point >= 0", name="reorder_point"),
    )

    id = Column(Integer, primary_key=True)
    company_id = _company_fk()
    product_id = Column(Integer, nullable=False)
    location_id = Column(Integer, nullable=False, index=True)
    quantity = Column(Integer, nullable=False, default=0)
    # The location's own minimum; the product's reorder point applies to the company total.
    reorder_point = Column(Integer)
    updated_at = Column(UTCDateTime, nullable=False, default=utc_now, onupdate=utc_now)


class StockMovement(Base):
    """One change of a stock level: the audit trail (what, where, how much, who, when, why)."""

    __tablename__ = "stock_movements"
    __table_args__ = (
        UniqueConstraint("company_id", "idempotency_key"),
        _same_company("product_id", "products"),
        _same_company("location_id", "locations"),
        _same_company("transfer_location_id", "locations"),
        _same_company("purchase_order_id", "purchase_orders"),
        Index("ix_stock_movements_company_product_time", "company_id", "product_id", "occurred_at"),
        Index("ix_stock_movements_company_time", "company_id", "occurred_at"),
        CheckConstraint("quantity <> 0", name="quantity"),
        CheckConstraint("balance_after >= 0", name="balance_after"),
    )

    id = Column(Integer, primary_key=True)
    company_id = _company_fk()
    product_id = Column(Integer, nullable=False)
    location_id = Column(Integer, nullable=False)
    kind = Column(_enum(MovementKind, "movement_kind"), nullable=False)
    quantity = Column(Integer, nullable=False)  # signed: + into the location, - out of it
    balance_after = Column(Integer, nullable=False)
    reason = Column(String(255), nullable=False)
    user_id = _user_fk()
    occurred_at = Column(UTCDateTime, nullable=False)
    recorded_at = Column(UTCDateTime, nullable=False, default=utc_now)
    purchase_order_id = Column(Integer)
    transfer_location_id = Column(Integer)  # the other end of a transfer
    idempotency_key = Column(String(64))


class PurchaseOrder(Base):
    """An order to a supplier, delivered to one location."""

    __tablename__ = "purchase_orders"
    __table_args__ = (
        UniqueConstraint("company_id", "number"),
        UniqueConstraint("company_id", "idempotency_key"),
        UniqueConstraint("company_id", "id"),
        _same_company("supplier_id", "suppliers"),
        _same_company("location_id", "locations"),
        Index(
            "ix_purchase_orders_company_status_expected", "company_id", "status", "expected_date"
        ),
        Index("ix_purchase_orders_company_supplier", "company_id", "supplier_id"),
    )

    id = Column(Integer, primary_key=True)
    company_id = _company_fk()
    number = Column(String(32), nullable=False)
    supplier_id = Column(Integer, nullable=False)
    location_id = Column(Integer, nullable=False)
    status = Column(_enum(PurchaseOrderStatus, "purchase_order_status"), nullable=False)
    created_by_id = _user_fk()
    created_at = Column(UTCDateTime, nullable=False, default=utc_now)
    ordered_at = Column(UTCDateTime)  # when it was sent to the supplier
    expected_date = Column(Date)
    received_date = Column(Date)
    notes = Column(Text)
    idempotency_key = Column(String(64))

    lines = relationship(
        "PurchaseOrderLine",
        order_by="PurchaseOrderLine.id",
        cascade="all, delete-orphan",
        passive_deletes=True,
    )


class PurchaseOrderLine(Base):
    """A product on a purchase order: ordered and received quantities, agreed unit cost."""

    __tablename__ = "purchase_order_lines"
    __table_args__ = (
        UniqueConstraint("purchase_order_id", "product_id"),
        ForeignKeyConstraint(
            ["company_id", "purchase_order_id"],
            ["purchase_orders.company_id", "purchase_orders.id"],
            ondelete="CASCADE",
        ),
        _same_company("product_id", "products"),
        Index("ix_purchase_order_lines_company_product", "company_id", "product_id"),
        CheckConstraint("quantity_ordered > 0", name="quantity_ordered"),
        CheckConstraint(
            "quantity_received IS NULL OR quantity_received >= 0", name="quantity_received"
        ),
    )

    id = Column(Integer, primary_key=True)
    company_id = _company_fk()
    purchase_order_id = Column(Integer, nullable=False)
    product_id = Column(Integer, nullable=False)
    quantity_ordered = Column(Integer, nullable=False)
    quantity_received = Column(Integer)
    unit_cost = Column(Money, nullable=False)


class Alert(Base):
    """Something that needs attention; at most one unresolved alert per condition."""

    __tablename__ = "alerts"
    __table_args__ = (
        _same_company("product_id", "products"),
        _same_company("location_id", "locations"),
        _same_company("supplier_id", "suppliers"),
        _same_company("purchase_order_id", "purchase_orders"),
        Index("ix_alerts_company_status_severity", "company_id", "status", "severity"),
        Index(
            "uq_alerts_unresolved_condition",
            "company_id",
            "condition_key",
            unique=True,
            sqlite_where=text("status <> 'resolved'"),
            postgresql_where=text("status <> 'resolved'"),
        ),
    )

    id = Column(Integer, primary_key=True)
    company_id = _company_fk()
    severity = Column(_enum(AlertSeverity, "alert_severity"), nullable=False)
    category = Column(_enum(AlertCategory, "alert_category"), nullable=False)
    status = Column(_enum(AlertStatus, "alert_status"), nullable=False, default=AlertStatus.OPEN)
    title = Column(String(200), nullable=False)
    message = Column(Text, nullable=False)
    product_id = Column(Integer)
    location_id = Column(Integer)
    supplier_id = Column(Integer)
    purchase_order_id = Column(Integer)
    # What the alert generator raised it for, e.g. "low_stock:product=12"; NULL for manual alerts.
    condition_key = Column(String(128))
    created_at = Column(UTCDateTime, nullable=False, default=utc_now)
    acknowledged_by_id = _user_fk()
    acknowledged_at = Column(UTCDateTime)
    resolved_by_id = _user_fk()
    resolved_at = Column(UTCDateTime)
    resolution_note = Column(String(255))


class Report(Base):
    """A generated report document (CSV plus chart) and who asked for it."""

    __tablename__ = "reports"
    __table_args__ = (
        UniqueConstraint("company_id", "id"),
        Index("ix_reports_company_created", "company_id", "created_at"),
    )

    id = Column(Integer, primary_key=True)
    company_id = _company_fk()
    report_type = Column(_enum(ReportType, "report_type"), nullable=False)
    start_date = Column(Date, nullable=False)
    end_date = Column(Date, nullable=False)
    format = Column(String(16), nullable=False, default="csv")
    file_path = Column(String(500))
    chart_path = Column(String(500))
    summary = Column(JSON)
    requested_by_id = _user_fk()
    created_at = Column(UTCDateTime, nullable=False, default=utc_now)


class AgentExecution(Base):
    """One queued or finished run of an agent (the orchestrator's queue table)."""

    __tablename__ = "agent_executions"
    __table_args__ = (
        Index("ix_agent_executions_dequeue", "status", "priority", "available_at"),
        Index("ix_agent_executions_company_status", "company_id", "status"),
        CheckConstraint("attempts >= 0", name="attempts"),
    )

    id = Column(Integer, primary_key=True)
    company_id = _company_fk()
    user_id = _user_fk()
    agent_type = Column(String(64), nullable=False)
    priority = Column(Integer, nullable=False, default=5)  # higher runs first, then older
    status = Column(
        _enum(ExecutionStatus, "execution_status"), nullable=False, default=ExecutionStatus.QUEUED
    )
    context = Column(JSON, nullable=False, default=dict)
    result = Column(JSON)
    error = Column(Text)
    attempts = Column(Integer, nullable=False, default=0)
    max_attempts = Column(Integer, nullable=False, default=3)
    lease_owner = Column(String(128))
    lease_expires_at = Column(UTCDateTime)
    created_at = Column(UTCDateTime, nullable=False, default=utc_now)
    available_at = Column(UTCDateTime, nullable=False, default=utc_now)
    started_at = Column(UTCDateTime)
    finished_at = Column(UTCDateTime)
    updated_at = Column(UTCDateTime, nullable=False, default=utc_now, onupdate=utc_now)
    # Set by stop_agent while the job runs; the running agent checks it cooperatively.
    cancel_requested = Column(Boolean, nullable=False, default=False, server_default=text("false"))
    # Delivery of a result that was not answered inline (pushed to Rasa by the worker).
    deliver = Column(Boolean, nullable=False, default=False, server_default=text("false"))
    response_sent = Column(Boolean, nullable=False, default=False, server_default=text("false"))
    delivery_attempts = Column(Integer, nullable=False, default=0, server_default=text("0"))
    delivered_at = Column(UTCDateTime)
    schedule_id = Column(Integer, ForeignKey("agent_schedules.id", ondelete="SET NULL"), index=True)


# Claims read queued executions in this order (misybot.orchestrator.queue.claim).
Index(
    "ix_agent_executions_claim",
    AgentExecution.priority.desc(),
    AgentExecution.available_at,
    AgentExecution.id,
    postgresql_where=text("status = 'queued'"),
    sqlite_where=text("status = 'queued'"),
)


class AgentSchedule(Base):
    """A recurring agent run (``run_agent``), active until stopped; survives restarts."""

    __tablename__ = "agent_schedules"
    __table_args__ = (
        Index("ix_agent_schedules_due", "active", "next_run_at"),
        CheckConstraint("interval_s > 0", name="interval_s"),
    )

    id = Column(Integer, primary_key=True)
    company_id = _company_fk()
    user_id = _user_fk()
    agent_type = Column(String(64), nullable=False)
    interval_s = Column(Integer, nullable=False)
    context = Column(JSON, nullable=False, default=dict)
    active = Column(Boolean, nullable=False, default=True)
    next_run_at = Column(UTCDateTime, nullable=False)
    created_at = Column(UTCDateTime, nullable=False, default=utc_now)
    stopped_at = Column(UTCDateTime)
    # Who hears about each run: "new" (only when it found something), "always", "never".
    notify = Column(String(8), nullable=False, default="new", server_default="new")


class ConversationMessage(Base):
    """An inbound chat message on any channel, what was understood, and whether we answered."""

    __tablename__ = "conversation_messages"
    __table_args__ = (
        UniqueConstraint("channel", "provider_message_id"),
        UniqueConstraint("channel", "provider_id_digest"),
        Index("ix_conversation_messages_company_received", "company_id", "received_at"),
        Index("ix_conversation_messages_sender", "channel", "sender_address"),
        Index("ix_conversation_messages_status", "status", "id"),
        # A person's latest message (where to reach them; whether they wrote since)
        Index("ix_conversation_messages_user_received", "user_id", "received_at"),
    )

    id = Column(Integer, primary_key=True)
    company_id = Column(Integer, ForeignKey("companies.id", ondelete="CASCADE"))
    user_id = _user_fk()
    channel = Column(_enum(Channel, "message_channel"), nullable=False)
    sender_address = Column(String(254), nullable=False)
    provider_message_id = Column(String(128))
    body = Column(Text, nullable=False)
    intent = Column(String(64))
    confidence = Column(Float)
    entities = Column(JSON)
    execution_id = Column(
        Integer, ForeignKey("agent_executions.id", ondelete="SET NULL"), index=True
    )
    response_body = Column(Text)
    response_sent = Column(Boolean, nullable=False, default=False)
    received_at = Column(UTCDateTime, nullable=False, default=utc_now)
    responded_at = Column(UTCDateTime)
    created_at = Column(UTCDateTime, nullable=False, default=utc_now)
    # The channel inbox: a message is stored before its webhook is answered, processed afterwards.
    status = Column(  # an InboxStatus value (a plain string: SQLite migrations cannot drop a CHECK)
        String(16),
        nullable=False,
        default=InboxStatus.RECEIVED.value,
        server_default=InboxStatus.PROCESSED.value,  # rows from before the inbox were answered
    )
    payload = Column(JSON)  # the normalised message: media, location, button payload, raw fields
    processed_at = Column(UTCDateTime)
    # Processing began this many times (counted before it begins, so a crash counts too).
    attempts = Column(Integer, nullable=False, default=0, server_default=text("0"))
    error = Column(Text)  # why it failed, for `misybot inbox failed`
    # Over its sender's rate limit: not processed before this (whichever replica takes it).
    due_at = Column(UTCDateTime)
    # A salted hash of (channel, provider message id), written with the message: after the
    # sender's data is erased only this is left, and a late redelivery still conflicts with it.
    provider_id_digest = Column(String(64))


class OutboundMessage(Base):
    """A message we sent (or failed to send) on a provider channel, with its delivery status."""

    __tablename__ = "outbound_messages"
    __table_args__ = (
        UniqueConstraint("channel", "provider_message_id"),
        Index("ix_outbound_messages_recipient", "channel", "recipient_address", "created_at"),
    )

    id = Column(Integer, primary_key=True)
    company_id = Column(Integer, ForeignKey("companies.id", ondelete="CASCADE"), index=True)
    conversation_message_id = Column(
        Integer, ForeignKey("conversation_messages.id", ondelete="SET NULL"), index=True
    )
    channel = Column(_enum(Channel, "outbound_channel"), nullable=False)
    recipient_address = Column(String(254), nullable=False)
    provider_message_id = Column(String(128))
    body = Column(Text, nullable=False)
    media = Column(JSON)
    status = Column(_enum(DeliveryStatus, "delivery_status"), nullable=False)
    error_code = Column(String(32))
    error_message = Column(Text)
    attempts = Column(Integer, nullable=False, default=0)
    # Which of its turn's responses it was part of: a turn run again after a crash (its
    # replica died) does not send a response already sent (connectors.core.output).
    response_key = Column(String(32))
    created_at = Column(UTCDateTime, nullable=False, default=utc_now)
    updated_at = Column(UTCDateTime, nullable=False, default=utc_now, onupdate=utc_now)


class MailboxCursor(Base):
    """How far an IMAP poller has read a mailbox folder: the folder's UIDVALIDITY and last UID."""

    __tablename__ = "mailbox_cursors"
    __table_args__ = (UniqueConstraint("account", "folder"),)

    id = Column(Integer, primary_key=True)
    account = Column(String(254), nullable=False)  # user@host:port
    folder = Column(String(254), nullable=False)
    uid_validity = Column(BigInteger, nullable=False)  # IMAP numbers are unsigned 32-bit
    last_uid = Column(BigInteger, nullable=False)
    updated_at = Column(UTCDateTime, nullable=False, default=utc_now, onupdate=utc_now)


class EmailOutbox(Base):
    """A composed reply e-mail, kept until the SMTP server accepts it (retried with backoff)."""

    __tablename__ = "email_outbox"
    __table_args__ = (Index("ix_email_outbox_due", "status", "next_attempt_at"),)

    id = Column(Integer, primary_key=True)
    conversation_message_id = Column(
        Integer, ForeignKey("conversation_messages.id", ondelete="SET NULL"), index=True
    )
    message_id = Column(String(255), nullable=False, unique=True)  # our Message-ID header
    recipient = Column(String(254), nullable=False)
    body = Column(Text, nullable=False)  # the plain-text part, for people reading the table
    raw = Column(LargeBinary, nullable=False)  # the whole RFC 5322 message as sent
    status = Column(String(16), nullable=False)  # an OutboxStatus value
    attempts = Column(Integer, nullable=False, default=0)
    next_attempt_at = Column(UTCDateTime, nullable=False, default=utc_now)
    last_error = Column(Text)
    created_at = Column(UTCDateTime, nullable=False, default=utc_now)
    sent_at = Column(UTCDateTime)


class WebhookToken(Base):
    """A signed webhook's one-time token, remembered so a replayed request is refused."""

    __tablename__ = "webhook_tokens"
    __table_args__ = (UniqueConstraint("provider", "token"),)

    id = Column(Integer, primary_key=True)
    provider = Column(String(32), nullable=False)
    token = Column(String(128), nullable=False)
    seen_at = Column(UTCDateTime, nullable=False, default=utc_now, index=True)


class MessageTemplate(Base):
    """A reply template for a channel and persona; company NULL means the built-in default."""

    __tablename__ = "message_templates"
    __table_args__ = (UniqueConstraint("company_id", "name", "channel", "persona"),)

    id = Column(Integer, primary_key=True)
    company_id = Column(Integer, ForeignKey("companies.id", ondelete="CASCADE"), index=True)
    name = Column(String(64), nullable=False)
    channel = Column(_enum(Channel, "template_channel"))
    persona = Column(_enum(Persona, "template_persona"))
    intent = Column(String(64))
    body = Column(Text, nullable=False)
    variables = Column(JSON, nullable=False, default=list)
    created_at = Column(UTCDateTime, nullable=False, default=utc_now)
    updated_at = Column(UTCDateTime, nullable=False, default=utc_now, onupdate=utc_now)


class ConversationEvent(Base):
    """One event of a conversation (Rasa's tracker event, as JSON), in the order it happened:
    the whole history, kept for export and review. Turns read only the latest part of it (see
    ``ConversationSnapshot``)."""

    __tablename__ = "conversation_events"
    __table_args__ = (Index("ix_conversation_events_conversation", "conversation_id", "id"),)

    id = Column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    conversation_id = Column(String(255), nullable=False)
    type_name = Column(String(64), nullable=False)
    timestamp = Column(Float, nullable=False)
    intent_name = Column(String(255))
    action_name = Column(String(255))
    data = Column(Text, nullable=False)  # the event as Rasa serialises it (JSON)


class ConversationSnapshot(Base):
    """A conversation's state (slots, active form, paused) after its events up to ``event_id``:
    a turn starts from a recent one and reads only the events after it, so the hundredth
    turn of the day costs what the first did. The latest few per conversation are kept."""

    __tablename__ = "conversation_snapshots"
    __table_args__ = (UniqueConstraint("conversation_id", "event_id"),)  # also its index

    id = Column(Integer, primary_key=True)
    conversation_id = Column(String(255), nullable=False)
    event_id = Column(BigInteger, nullable=False)  # the last event the state includes
    session_start_id = Column(BigInteger)  # the latest session start up to then, if any
    state = Column(JSON, nullable=False)
    created_at = Column(UTCDateTime, nullable=False, default=utc_now)


class WorkerHeartbeat(Base):
    """A running worker's sign of life, refreshed every few seconds and removed when it stops
    cleanly; the health check counts the recent ones (a killed worker's row goes stale)."""

    __tablename__ = "worker_heartbeats"

    worker_id = Column(String(255), primary_key=True)
    host = Column(String(255), nullable=False)
    pid = Column(Integer, nullable=False)
    started_at = Column(UTCDateTime, nullable=False)
    beat_at = Column(UTCDateTime, nullable=False)
    running = Column(Integer, nullable=False, default=0)  # executions it was running then


# Results still to be pushed to their conversation, out of every execution ever run: an idle
# worker asks for the earliest one every second (misybot.orchestrator.queue.due).
Index(
    "ix_agent_executions_undelivered",
    AgentExecution.available_at,
    postgresql_where=text("deliver AND NOT response_sent"),
    sqlite_where=text("deliver = 1 AND response_sent = 0"),
)


class SenderRateSchedule(Base):
    """A sender's rate-limit schedule on a channel, shared by every replica: when it began,
    how many messages it admitted since, what the sender was told (connectors.core.ratelimit)."""

    __tablename__ = "sender_rate_schedules"
    __table_args__ = (UniqueConstraint("transport", "sender"),)

    id = Column(Integer, primary_key=True)
    transport = Column(String(64), nullable=False)
    sender = Column(String(512), nullable=False)  # a provider-spelt address, with its prefix
    started_at = Column(Float, nullable=False)  # epoch seconds: every replica's clock
    admitted = Column(Integer, nullable=False)
    told = Column(Integer, nullable=False)


class AuditEntry(Base):
    """Who changed which user, role or link, and who exported or erased whose data. Kept with
    ids, not names: the person an entry is about can be erased without rewriting history."""

    __tablename__ = "audit_entries"
    __table_args__ = (Index("ix_audit_entries_company_created", "company_id", "created_at"),)

    id = Column(Integer, primary_key=True)
    company_id = _company_fk()
    actor_user_id = Column(Integer)  # the admin (None: the person themself, or the system)
    action = Column(String(64), nullable=False)  # "user.add", "identity.link", "privacy.erase"…
    subject_user_id = Column(Integer, index=True)
    details = Column(JSON, nullable=False, default=dict)
    created_at = Column(UTCDateTime, nullable=False, default=utc_now)


class Invitation(Base):
    """A one-time code that links the sender who sends it to a user (kept as a keyed hash)."""

    __tablename__ = "invitations"

    id = Column(Integer, primary_key=True)
    company_id = _company_fk()
    user_id = Column(
        Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    code_digest = Column(String(64), nullable=False, unique=True)
    # Only a sender on this channel may use it (None: any channel; an admin's invitation), and
    # only this address ("link my email": the code was sent there).
    channel = Column(_enum(Channel, "invitation_channel"))
    address = Column(String(254))
    created_by_id = Column(Integer)  # the admin who made it (None: the person, "link my email")
    created_at = Column(UTCDateTime, nullable=False, default=utc_now)
    expires_at = Column(UTCDateTime, nullable=False)
    used_at = Column(UTCDateTime)
    # Wrong codes sent anywhere while it was open: past a limit it is void.
    failed_attempts = Column(Integer, nullable=False, default=0)


class LinkAttempt(Base):
    """A wrong or refused code from a sender: a sender gets a few per window."""

    __tablename__ = "link_attempts"
    __table_args__ = (Index("ix_link_attempts_sender", "channel", "address", "attempted_at"),)

    id = Column(Integer, primary_key=True)
    channel = Column(String(16), nullable=False)
    address = Column(String(254), nullable=False)
    attempted_at = Column(UTCDateTime, nullable=False, default=utc_now)


class RetentionMark(Base):
    """How far a retention sweep has gone through a table (the last id it blanked up to)."""

    __tablename__ = "retention_marks"

    name = Column(String(64), primary_key=True)
    last_id = Column(BigInteger, nullable=False)


class Subscription(Base):
    """What a person asked to be told without asking: new alerts of at least ``min_severity``
    (``alerts``) or the daily digest at ``at_minute`` local time (``digest``, next at
    ``next_at``)."""

    __tablename__ = "subscriptions"
    __table_args__ = (
        UniqueConstraint("user_id", "kind"),
        Index("ix_subscriptions_due", "kind", "next_at"),
        Index("ix_subscriptions_company_kind", "company_id", "kind"),
    )

    id = Column(Integer, primary_key=True)
    company_id = _company_fk()
    user_id = Column(
        Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    kind = Column(String(16), nullable=False)
    min_severity = Column(_enum(AlertSeverity, "subscription_severity"))
    at_minute = Column(Integer)
    next_at = Column(UTCDateTime)
    created_at = Column(UTCDateTime, nullable=False, default=utc_now)


class Notification(Base):
    """One thing to push to one person: a finished execution they did not ask for just now (a
    recurring run, their digest) or a new alert. Pushed once; held while no channel can carry
    it, until they write."""

    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint("user_id", "execution_id"),
        UniqueConstraint("user_id", "alert_id"),
        Index("ix_notifications_due", "status", "available_at"),
    )

    id = Column(Integer, primary_key=True)
    company_id = _company_fk()
    user_id = Column(
        Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    kind = Column(String(16), nullable=False)  # "result" | "alert"
    execution_id = Column(
        Integer, ForeignKey("agent_executions.id", ondelete="CASCADE"), index=True
    )
    alert_id = Column(Integer, ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    # pending → sent; held (no channel can carry it now: until they write); failed (gave up)
    status = Column(String(16), nullable=False, default="pending")
    attempts = Column(Integer, nullable=False, default=0)
    available_at = Column(UTCDateTime, nullable=False, default=utc_now)
    lease_owner = Column(String(128))
    lease_expires_at = Column(UTCDateTime)
    channel = Column(String(32))  # the transport it went out on
    note = Column(String(255))  # why it waits, or what failed last
    created_at = Column(UTCDateTime, nullable=False, default=utc_now)
    sent_at = Column(UTCDateTime)


class ChannelReach(Base):
    """What a running transport can send outside its channel's 24-hour window (an approved
    template, a message tag, or nothing): its connector says so when it starts."""

    __tablename__ = "channel_reach"

    transport = Column(String(32), primary_key=True)
    channel = Column(_enum(Channel, "reach_channel"), nullable=False)
    outside_window = Column(String(16))  # "template" | "tag" | None
    updated_at = Column(UTCDateTime, nullable=False, default=utc_now)


class Understanding(Base):
    """What the assistant understood of one message and what it did: the intent, its confidence,
    the runner-up and the margin to it, the entities, the action that answered. Written with the
    conversation's events (one per message: a redelivered or re-run message adds nothing), read
    by the NLU inbox (misybot.nlu.review)."""

    __tablename__ = "understandings"
    __table_args__ = (
        UniqueConstraint("conversation_id", "message_id"),
        Index("ix_understandings_company_created", "company_id", "created_at"),
    )

    id = Column(Integer, primary_key=True)
    conversation_id = Column(String(255), nullable=False)
    message_id = Column(String(128), nullable=False)
    company_id = Column(Integer, ForeignKey("companies.id", ondelete="CASCADE"), index=True)
    user_id = _user_fk(index=True)
    channel = Column(String(32))  # the transport it came by
    # An operator marked it for review (defined before ``text``, which names the column).
    flagged = Column(Boolean, nullable=False, default=False, server_default=text("false"))
    text = Column(Text, nullable=False)
    intent = Column(String(64))
    confidence = Column(Float)
    runner_up = Column(String(64))
    runner_up_confidence = Column(Float)
    margin = Column(Float)
    entities = Column(JSON)
    action = Column(String(64))  # the first action that answered it
    created_at = Column(UTCDateTime, nullable=False, default=utc_now)


class NluReview(Base):
    """A reviewer's decision about one distinct message text of a company (its normalised
    text's hash): accepted, corrected (to ``intent``) or discarded; it leaves the inbox."""

    __tablename__ = "nlu_reviews"
    __table_args__ = (UniqueConstraint("company_id", "text_key"),)

    id = Column(Integer, primary_key=True)
    company_id = _company_fk()
    text_key = Column(String(64), nullable=False)
    decision = Column(String(16), nullable=False)
    intent = Column(String(64))
    reviewer = Column(String(254))
    reviewed_at = Column(UTCDateTime, nullable=False, default=utc_now)
