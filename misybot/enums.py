"""The closed vocabularies of the business data (stored as their string values)."""

from __future__ import annotations

from enum import Enum


class Role(str, Enum):
    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"


class Persona(str, Enum):
    STREAMLINER = "streamliner"
    NAVIGATOR = "navigator"
    HUB = "hub"
    SPRING = "spring"
    PROCESSOR = "processor"


class Channel(str, Enum):
    """Where a person can be reached and recognised (their channel identities). The database's
    check constraints still admit two values of the first schema, Rasa's local connectors,
    which no person is on; nothing writes them."""

    WHATSAPP = "whatsapp"
    SMS = "sms"
    EMAIL = "email"
    SLACK = "slack"
    TELEGRAM = "telegram"
    MESSENGER = "messenger"
    INSTAGRAM = "instagram"


class LocationKind(str, Enum):
    WAREHOUSE = "warehouse"
    STORE = "store"


class MovementKind(str, Enum):
    RECEIPT = "receipt"
    SALE = "sale"
    CONSUMPTION = "consumption"
    ADJUSTMENT = "adjustment"
    WRITE_OFF = "write_off"
    TRANSFER = "transfer"


# Movements that are demand (what "usage" means for coverage and reorder maths).
USAGE_KINDS = (MovementKind.SALE, MovementKind.CONSUMPTION)


class PurchaseOrderStatus(str, Enum):
    DRAFT = "draft"
    SENT = "sent"
    RECEIVED = "received"
    CANCELLED = "cancelled"


class AlertSeverity(str, Enum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"

    @property
    def rank(self) -> int:
        """0 for critical … 3 for low (sort key, most severe first)."""
        return list(AlertSeverity).index(self)


class AlertCategory(str, Enum):
    LOW_STOCK = "low_stock"
    OUT_OF_STOCK = "out_of_stock"
    OVERSTOCK = "overstock"
    LATE_DELIVERY = "late_delivery"
    SUPPLIER = "supplier"


class AlertStatus(str, Enum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class ReportType(str, Enum):
    INVENTORY = "inventory"
    SALES = "sales"
    SUPPLIER = "supplier"
    FINANCIAL = "financial"


class ExecutionStatus(str, Enum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class StockStatus(str, Enum):
    OK = "ok"
    BELOW_REORDER_POINT = "below_reorder_point"
    OUT_OF_STOCK = "out_of_stock"


class InboxStatus(str, Enum):
    """Where a stored inbound chat message is in its life: stored first, processed afterwards."""

    RECEIVED = "received"
    PROCESSED = "processed"
    RATE_LIMITED = "rate_limited"  # over the sender's limit and its backlog: never processed
    FAILED = "failed"  # processing failed (or crashed too often): the sender got an apology
    RETRY = "retry"  # an admin asked for it to be processed again (`misybot inbox retry`)


class OutboxStatus(str, Enum):
    """A composed e-mail reply: waiting for the SMTP server, accepted by it, or given up on."""

    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


class DeliveryStatus(str, Enum):
    """An outbound message as the provider last reported it (``failed``: we could not send it)."""

    QUEUED = "queued"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    UNDELIVERED = "undelivered"
    FAILED = "failed"
