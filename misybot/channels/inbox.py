"""The durable inbox: inbound messages are stored before the webhook is answered, processed later.

Synchronous SQLAlchemy; the Rasa-side runtime calls these functions in worker threads, and stores
inbound messages through one ``InboxWriter`` thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import queue
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import sessionmaker
from sqlalchemy.sql import Insert, Select

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
        """Record ``message``; None when this provider message id was stored before (a retry)."""
        return self.store_many([(message, status)])[0]

    def store_many(
        self, messages: Sequence[tuple[InboundMessage, InboxStatus]]
    ) -> list[StoredMessage | None]:
        """Record ``messages`` in one transaction, in order; None for each one stored before.

        Who sent each one is looked up for the whole batch first (one read), so the rows are
        linked to their user and company as they are written and processing needs no second
        write. This runs while the provider waits for its 200: one query and one insert.
        """
        senders = self.senders({(message.channel, message.address) for message, _ in messages})
        rows = [
            {
                "channel": message.channel,
                "sender_address": message.address,
                "provider_message_id": message.provider_message_id,
                "body": message.user_text,
                "received_at": message.received_at,
                "status": status.value,
                "payload": message.payload(),
                "user_id": senders.get((message.channel, message.address), (None, None))[0],
                "company_id": senders.get((message.channel, message.address), (None, None))[1],
            }
            for message, status in messages
        ]
        with session_scope(self.factory) as session:
            dialect = session.get_bind().dialect.name
            statement = _store_statement(dialect)
            if dialect == "postgresql":
                # One round trip for the batch (psycopg2's execute_values): each round trip
                # waits for the interpreter again while a turn is running.
                returned = session.execute(statement, rows)
                inserted = {(channel, sid): id_ for id_, channel, sid in returned}
                # A retry in the same batch: the first delivery took the id.
                ids = [
                    inserted.pop((row["channel"], row["provider_message_id"]), None) for row in rows
                ]
            else:
                ids = []
                for row in rows:
                    result = session.execute(statement, row)
                    ids.append(result.inserted_primary_key[0] if result.rowcount else None)
        # None: (channel, provider message id) was there already, a retry.
        return [
            None
            if id_ is None
            else StoredMessage(id_, status, message, row["company_id"], row["user_id"])
            for id_, row, (message, status) in zip(ids, rows, messages, strict=True)
        ]

    def senders(self, addresses: set[tuple[Channel, str]]) -> dict[tuple[Channel, str], tuple]:
        """``(user id, company id)`` of the active user behind each (channel, address) known."""
        if not addresses:
            return {}
        wanted = or_(
            *(
                and_(ChannelIdentity.channel == channel, ChannelIdentity.address == address)
                for channel, address in addresses
            )
        )
        with session_scope(self.factory) as session:
            found = session.execute(
                select(ChannelIdentity.channel, ChannelIdentity.address, User.id, User.company_id)
                .join(User, ChannelIdentity.user_id == User.id)
                .where(wanted, User.active.is_(True))
            ).all()
        return {
            (Channel(channel), address): (user, company)
            for channel, address, user, company in found
        }

    def link_sender(self, stored: StoredMessage) -> StoredMessage:
        """``stored`` with the user and company behind its address (unknown senders stay None)."""
        message = stored.message
        identity = _identity(message.channel, message.address)
        row = ConversationMessage
        # Write, then read back, in one transaction: on SQLite a transaction that reads before it
        # writes cannot wait for another writer and fails at once with "database is locked".
        with session_scope(self.factory) as session:
            session.execute(
                update(row)
                .where(row.id == stored.id)
                .values(
                    user_id=identity.scalar_subquery(),
                    company_id=identity.with_only_columns(User.company_id).scalar_subquery(),
                )
            )
            user_id, company_id = session.execute(
                select(row.user_id, row.company_id).where(row.id == stored.id)
            ).one()
        return StoredMessage(stored.id, stored.status, message, company_id, user_id)

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
        if conversation_message_id is not None:  # the company of the message it answers
            company_id = (
                select(ConversationMessage.company_id)
                .where(ConversationMessage.id == conversation_message_id)
                .scalar_subquery()
            )
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


# The stores the inbox runs on; both skip a row whose unique key exists instead of failing the
# transaction (a provider's retry must not undo the other messages of a batch).
_INSERT_IGNORING_DUPLICATES = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def _identity(channel: Channel, address: str) -> Select:
    """The id of the active user behind ``address`` on ``channel``."""
    return (
        select(User.id)
        .join(ChannelIdentity, ChannelIdentity.user_id == User.id)
        .where(
            ChannelIdentity.channel == channel,
            ChannelIdentity.address == address,
            User.active.is_(True),
        )
    )


@cache
def _store_statement(dialect: str) -> Insert:
    """INSERT inbound messages, skipping any stored before (built once per dialect)."""
    table = ConversationMessage.__table__
    statement = _INSERT_IGNORING_DUPLICATES[dialect](table).on_conflict_do_nothing()
    if dialect == "postgresql":  # what was inserted, from the one statement of a batch
        statement = statement.returning(table.c.id, table.c.channel, table.c.provider_message_id)
    return statement


class InboxWriter:
    """Stores inbound messages on one thread: what arrives while it writes goes in one transaction.

    The provider waits for its 200 while its message is stored. One thread on one warm
    connection, one commit for a burst of webhooks, beats a pool thread and connection each (a
    connection opened under load takes longer than the insert); SQLite writes one at a time anyway.
    """

    def __init__(self, inbox: Inbox, max_batch: int = 100, name: str = "misybot-inbox") -> None:
        self.inbox = inbox
        self.max_batch = max_batch
        self.name = name
        self._queue: queue.SimpleQueue[_Pending] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._starting = threading.Lock()

    async def store(self, message: InboundMessage, status: InboxStatus) -> StoredMessage | None:
        """``Inbox.store`` through the writer thread."""
        return await asyncio.wrap_future(self.submit(message, status))

    def submit(
        self, message: InboundMessage, status: InboxStatus
    ) -> concurrent.futures.Future[StoredMessage | None]:
        future: concurrent.futures.Future[StoredMessage | None] = concurrent.futures.Future()
        self._start()
        self._queue.put(_Pending(message, status, future))
        return future

    def _start(self) -> None:
        with self._starting:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < self.max_batch:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            # A webhook whose caller went away before its message was written is not stored:
            # the provider saw no 200 and delivers it again.
            self._write([item for item in batch if item.future.set_running_or_notify_cancel()])

    def _write(self, batch: list[_Pending]) -> None:
        if not batch:
            return
        try:
            results = self.inbox.store_many([(item.message, item.status) for item in batch])
        except Exception as error:
            if len(batch) > 1:  # one bad message must not refuse its neighbours
                for item in batch:
                    self._write([item])
                return
            logger.exception("channel.inbox.store_failed")
            batch[0].future.set_exception(error)
            return
        for item, result in zip(batch, results, strict=True):
            item.future.set_result(result)


@dataclass(frozen=True)
class _Pending:
    message: InboundMessage
    status: InboxStatus
    future: concurrent.futures.Future
