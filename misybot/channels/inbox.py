"""The durable inbox: inbound messages are stored before the webhook is answered, processed later.

Synchronous SQLAlchemy; the Rasa-side runtime calls these functions in a worker thread.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker

from misybot.channels.messages import InboundMessage
from misybot.db.models import ChannelIdentity, ConversationMessage, OutboundMessage, User
from misybot.db.session import make_session_factory, session_scope
from misybot.db.types import utc_now
from misybot.enums import Channel, DeliveryStatus, InboxStatus

logger = logging.getLogger(__name__)

# Twilio's and Meta's status words, mapped onto ours.
_PROVIDER_STATUSES = {
    "accepted": DeliveryStatus.QUEUED,
    "queued": DeliveryStatus.QUEUED,
    "sending": DeliveryStatus.QUEUED,
    "scheduled": DeliveryStatus.QUEUED,
    "sent": DeliveryStatus.SENT,
    "delivered": DeliveryStatus.DELIVERED,
    "read": DeliveryStatus.READ,
    "undelivered": DeliveryStatus.UNDELIVERED,
    "failed": DeliveryStatus.FAILED,
    "canceled": DeliveryStatus.FAILED,
}


@dataclass(frozen=True)
class StoredMessage:
    """An inbox row as the runtime needs it."""

    id: int
    status: InboxStatus
    message: InboundMessage
    company_id: int | None = None
    user_id: int | None = None


class Inbox:
    """Inbound and outbound message records in the store."""

    def __init__(self, factory: sessionmaker | None = None) -> None:
        self._factory = factory

    @property
    def factory(self) -> sessionmaker:
        if self._factory is None:  # built on first use: no engine at import or construction
            self._factory = make_session_factory()
        return self._factory

    def store(self, message: InboundMessage, status: InboxStatus) -> StoredMessage | None:
        """Record ``message``; None when this provider message id was stored before (a retry).

        One INSERT and nothing else: this runs while the provider waits for its 200. Who sent it
        (``link_sender``) is worked out when the message is processed.
        """
        try:
            with session_scope(self.factory) as session:
                row = ConversationMessage(
                    channel=message.channel,
                    sender_address=message.address,
                    provider_message_id=message.provider_message_id,
                    body=message.user_text,
                    received_at=message.received_at,
                    status=status.value,
                    payload=message.payload(),
                )
                session.add(row)
                session.flush()
                return StoredMessage(row.id, status, message)
        except IntegrityError:
            if self.exists(message.channel, message.provider_message_id):
                return None
            raise

    def link_sender(self, stored: StoredMessage) -> StoredMessage:
        """``stored`` with the user and company behind its address (unknown senders stay None)."""
        message = stored.message
        # Read, then write in a transaction of its own: on SQLite a transaction that reads before
        # it writes cannot wait for another writer and fails at once with "database is locked".
        with session_scope(self.factory) as session:
            row = session.execute(
                select(User.id, User.company_id)
                .join(ChannelIdentity, ChannelIdentity.user_id == User.id)
                .where(
                    ChannelIdentity.channel == message.channel,
                    ChannelIdentity.address == message.address,
                    User.active.is_(True),
                )
            ).one_or_none()
        if row is None:
            return stored
        with session_scope(self.factory) as session:
            session.execute(
                update(ConversationMessage)
                .where(ConversationMessage.id == stored.id)
                .values(user_id=row[0], company_id=row[1])
            )
        return StoredMessage(stored.id, stored.status, message, row[1], row[0])

    def exists(self, channel: Channel, provider_message_id: str) -> bool:
        with session_scope(self.factory) as session:
            return (
                session.execute(
                    select(ConversationMessage.id).where(
                        ConversationMessage.channel == channel,
                        ConversationMessage.provider_message_id == provider_message_id,
                    )
                ).first()
                is not None
            )

    def pending(self, transport: str) -> list[StoredMessage]:
        """Stored but unprocessed messages of ``transport``, oldest first (for recovery)."""
        with session_scope(self.factory) as session:
            rows = session.execute(
                select(ConversationMessage)
                .where(ConversationMessage.status == InboxStatus.RECEIVED.value)
                .order_by(ConversationMessage.id)
            ).scalars()
            found = []
            for row in rows:
                if not row.payload or row.payload.get("transport") != transport:
                    continue
                message = InboundMessage.from_payload(row.payload)
                found.append(
                    StoredMessage(
                        row.id, InboxStatus.RECEIVED, message, row.company_id, row.user_id
                    )
                )
            return found

    def finish(self, message_id: int, status: InboxStatus, response: str | None = None) -> None:
        """Mark an inbox message processed (or failed), with what we answered."""
        now = utc_now()
        values: dict[str, Any] = {"status": status.value, "processed_at": now}
        if response:
            values.update(response_body=response, response_sent=True, responded_at=now)
        with session_scope(self.factory) as session:
            session.execute(
                update(ConversationMessage)
                .where(ConversationMessage.id == message_id)
                .values(**values)
            )

    def record_outbound(
        self,
        *,
        channel: Channel,
        recipient: str,
        body: str,
        status: DeliveryStatus,
        attempts: int,
        provider_message_id: str | None = None,
        media: list[str] | None = None,
        conversation_message_id: int | None = None,
        error_code: str | None = None,
        error_message: str | None = None,
    ) -> int:
        """Record a message we sent, or failed to send (never silently dropped)."""
        company_id = None
        if conversation_message_id is not None:  # read in its own transaction (see ``store``)
            with session_scope(self.factory) as session:
                company_id = session.get(ConversationMessage, conversation_message_id).company_id
        with session_scope(self.factory) as session:
            row = OutboundMessage(
                company_id=company_id,
                conversation_message_id=conversation_message_id,
                channel=channel,
                recipient_address=recipient,
                provider_message_id=provider_message_id,
                body=body,
                media=media or None,
                status=status,
                attempts=attempts,
                error_code=error_code,
                error_message=error_message,
            )
            session.add(row)
            session.flush()
            return row.id

    def record_delivery(
        self,
        channel: Channel,
        provider_message_id: str,
        provider_status: str,
        error_code: str | None = None,
    ) -> bool:
        """Apply a provider's status callback; False when the message is not ours/unknown."""
        status = _PROVIDER_STATUSES.get(provider_status.lower())
        if status is None:
            return False
        values: dict[str, Any] = {"status": status, "updated_at": utc_now()}
        if error_code:
            values["error_code"] = error_code
        with session_scope(self.factory) as session:
            result = session.execute(
                update(OutboundMessage)
                .where(
                    OutboundMessage.channel == channel,
                    OutboundMessage.provider_message_id == provider_message_id,
                )
                .values(**values)
            )
            return result.rowcount > 0

    def last_inbound_at(self, channel: Channel, address: str) -> datetime | None:
        """When ``address`` last wrote to us on ``channel`` (the 24-hour window starts there)."""
        with session_scope(self.factory) as session:
            return session.execute(
                select(ConversationMessage.received_at)
                .where(
                    ConversationMessage.channel == channel,
                    ConversationMessage.sender_address == address,
                )
                .order_by(ConversationMessage.received_at.desc())
                .limit(1)
            ).scalar_one_or_none()
