"""The durable inbox: inbound messages are stored before the webhook is answered, processed later.

Synchronous SQLAlchemy Core; the Rasa-side runtime stores inbound messages through one
``BatchWriter`` thread and finishes processed ones (with the replies they got) through another.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from functools import cache, cached_property
from typing import Any, Generic, TypeVar

from sqlalchemy import and_, bindparam, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.orm import sessionmaker
from sqlalchemy.sql import Insert, Update

from connectors.core.messages import InboundMessage
from misybot.db.models import ChannelIdentity, ConversationMessage, OutboundMessage, User
from misybot.db.session import make_session_factory, session_scope
from misybot.db.types import utc_now
from misybot.enums import Channel, DeliveryStatus, InboxStatus
from misybot.people.invitations import Outcome, SelfRequest, redeem, request_code
from misybot.privacy.digests import provider_id_digest

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


# How far along a message is: a status only ever moves to a higher rank.
_STATUS_RANK = {
    DeliveryStatus.QUEUED: 0,
    DeliveryStatus.SENT: 1,
    DeliveryStatus.DELIVERED: 2,
    DeliveryStatus.UNDELIVERED: 2,
    DeliveryStatus.FAILED: 2,
    DeliveryStatus.READ: 3,
}


def is_outage(error: BaseException) -> bool:
    """Whether a failed write was the store being unavailable (worth the provider's retry), as
    opposed to a row it refused (which a retry of the same request would only repeat)."""
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    return isinstance(error, OperationalError | InterfaceError | TimeoutError | ConnectionError)


def delivery_status(provider_status: str) -> DeliveryStatus | None:
    """A provider's message status (Twilio's or Meta's) as ours; None when we do not know it."""
    return _PROVIDER_STATUSES.get(provider_status.lower())


@dataclass(frozen=True)
class StoredMessage:
    """An inbox row as the runtime needs it."""

    id: int
    status: InboxStatus
    message: InboundMessage
    company_id: int | None = None
    user_id: int | None = None
    attempts: int = 0  # how often its processing began before (a crash each time, if > 0)
    due_at: datetime | None = None  # over its sender's rate limit: not processed before this


@dataclass(frozen=True)
class OutboundRecord:
    """A message we sent, or failed to send, as ``outbound_messages`` keeps it."""

    channel: Channel
    recipient: str
    body: str
    status: DeliveryStatus
    attempts: int
    provider_message_id: str | None = None
    media: list[str] | None = None
    conversation_message_id: int | None = None
    company_id: int | None = None
    error_code: str | None = None
    error_message: str | None = None
    response_key: str | None = None  # the response of its turn it was part of


@dataclass(frozen=True)
class Finished:
    """A processed inbox message: how it ended, what we answered, the sends that answer took."""

    message_id: int
    status: InboxStatus
    response: str | None = None
    outbound: tuple[OutboundRecord, ...] = ()
    error: str | None = None  # why it failed


class Inbox:
    """Inbound and outbound message records in the store."""

    def __init__(self, factory: sessionmaker | None = None) -> None:
        self._factory = factory

    @property
    def factory(self) -> sessionmaker:
        if self._factory is None:  # built on first use: no engine at import or construction
            self._factory = make_session_factory()
        return self._factory

    # Option engines are costly to build: once each.
    @cached_property
    def engine(self) -> Engine:
        """For writes. SQLite: the write lock taken up front, so a read-then-write transaction
        waits for another writer instead of failing at once with "database is locked"."""
        return self.factory.kw["bind"].execution_options(sqlite_begin="BEGIN IMMEDIATE")

    @cached_property
    def _autocommit(self) -> Engine:
        """PostgreSQL single statements: no BEGIN/COMMIT round trips."""
        return self.factory.kw["bind"].execution_options(isolation_level="AUTOCOMMIT")

    def store(self, message: InboundMessage, status: InboxStatus) -> StoredMessage | None:
        """Record ``message``; None when this provider message id was stored before (a retry)."""
        return self.store_many([(message, status)])[0]

    def store_many(
        self,
        messages: Sequence[
            tuple[InboundMessage, InboxStatus] | tuple[InboundMessage, InboxStatus, datetime]
        ],
        connection: Connection | None = None,
    ) -> list[StoredMessage | None]:
        """Record ``messages`` (with a due time when over the sender's rate limit), in order;
        None for each one stored before (a retry). On SQLite, in ``connection``'s transaction
        when given.

        Each row is linked to the active user and company behind its sender as it is written,
        so processing needs no second write. This runs while the provider waits for its 200:
        on PostgreSQL the batch is one statement on an autocommit connection, a single round
        trip (each round trip waits for the interpreter again while a turn is running).
        """
        if not messages:
            return []
        messages = [(item[0], item[1], item[2] if len(item) > 2 else None) for item in messages]
        rows = [
            {
                "channel": message.channel,
                "sender_address": message.address,
                "provider_message_id": message.provider_message_id,
                "provider_id_digest": provider_id_digest(
                    message.channel, message.provider_message_id
                ),
                "body": message.user_text,
                "received_at": message.received_at,
                "status": status.value,
                "payload": message.payload(),
                "due_at": due_at,
            }
            for message, status, due_at in messages
        ]
        if self.engine.dialect.name == "postgresql":
            with self._autocommit.connect() as db:
                returned = db.execute(
                    _store_linked_statement(),
                    [
                        {
                            **row,
                            "from_channel": row["channel"],
                            "from_address": row["sender_address"],
                        }
                        for row in rows
                    ],
                )
                inserted = {
                    (channel, sid): (id_, user, company)
                    for id_, channel, sid, user, company in returned
                }
            # A retry in the same batch: the first delivery took the id.
            written = [
                inserted.pop((row["channel"], row["provider_message_id"]), None) for row in rows
            ]
        elif connection is None:
            with self.engine.begin() as own:
                return self.store_many(messages, own)
        else:
            senders = self._senders(
                {(row["channel"], row["sender_address"]) for row in rows}, connection
            )
            written = []
            for row in rows:
                user, company = senders.get((row["channel"], row["sender_address"]), (None, None))
                result = connection.execute(
                    _store_statement(), {**row, "user_id": user, "company_id": company}
                )
                written.append(
                    (result.inserted_primary_key[0], user, company) if result.rowcount else None
                )
        return [
            None
            if found is None
            else StoredMessage(found[0], status, message, found[2], found[1], due_at=due_at)
            for found, (message, status, due_at) in zip(written, messages, strict=True)
        ]

    def _senders(
        self, addresses: set[tuple[Channel, str]], connection: Connection
    ) -> dict[tuple[Channel, str], tuple]:
        """``(user id, company id)`` of the active user behind each (channel, address) known."""
        if not addresses:
            return {}
        wanted = or_(
            *(
                and_(ChannelIdentity.channel == channel, ChannelIdentity.address == address)
                for channel, address in addresses
            )
        )
        found = connection.execute(
            select(ChannelIdentity.channel, ChannelIdentity.address, User.id, User.company_id)
            .join(User, ChannelIdentity.user_id == User.id)
            .where(wanted, User.active.is_(True))
        ).all()
        return {
            (Channel(channel), address): (user, company)
            for channel, address, user, company in found
        }

    def relink(self, stored: StoredMessage) -> StoredMessage:
        """``stored`` linked to the user its sender is linked to now, if any (the row too)."""
        message = stored.message
        with self.factory.kw["bind"].connect() as connection:  # a read: no write lock
            found = self._senders({(message.channel, message.address)}, connection)
        if not found:
            return stored
        ((user, company),) = found.values()
        with self.engine.begin() as connection:
            connection.execute(
                update(ConversationMessage.__table__)
                .where(ConversationMessage.id == stored.id)
                .values(user_id=user, company_id=company)
            )
        return replace(stored, user_id=user, company_id=company)

    def pending(self, transport: str) -> list[StoredMessage]:
        """Stored but unprocessed messages of ``transport``, oldest first (for recovery)."""
        return self._stored(transport, InboxStatus.RECEIVED)

    def pending_of(
        self, transport: str, sender: tuple[Channel, str], limit: int = 20
    ) -> list[StoredMessage]:
        """The oldest unprocessed messages of one sender (``(channel, address)``) on
        ``transport``: the next ones to process, in order."""
        channel, address = sender
        return self._stored(
            transport,
            InboxStatus.RECEIVED,
            ConversationMessage.channel == channel,
            ConversationMessage.sender_address == address,
            limit=limit,
        )

    def pending_senders(self, transport: str) -> list[tuple[Channel, str]]:
        """The senders with unprocessed messages on ``transport``, longest waiting first."""
        with session_scope(self.factory) as session:
            rows = session.execute(
                select(
                    ConversationMessage.channel,
                    ConversationMessage.sender_address,
                    ConversationMessage.payload["transport"].as_string(),
                )
                .where(ConversationMessage.status == InboxStatus.RECEIVED.value)
                .order_by(ConversationMessage.id)
            ).all()
        senders = {}
        for channel, address, carried_by in rows:
            if carried_by == transport:
                senders.setdefault((Channel(channel), address), None)
        return list(senders)

    def _stored(
        self, transport: str, status: InboxStatus, *where: Any, limit: int | None = None
    ) -> list[StoredMessage]:
        with session_scope(self.factory) as session:
            query = (
                select(ConversationMessage)
                .where(ConversationMessage.status == status.value, *where)
                .order_by(ConversationMessage.id)
            )
            stored = []
            for row in session.execute(query).scalars():
                if not row.payload or row.payload.get("transport") != transport:
                    continue
                stored.append(
                    StoredMessage(
                        row.id,
                        status,
                        InboundMessage.from_payload(row.payload),
                        row.company_id,
                        row.user_id,
                        row.attempts,
                        row.due_at,
                    )
                )
                if limit is not None and len(stored) >= limit:
                    break
            return stored

    def begin_attempt(self, message_id: int) -> int:
        """Count one more processing attempt of a message, before it begins (a crash during
        it then counts too); returns the attempts so far, this one included."""
        with self.engine.begin() as connection:
            connection.execute(
                update(ConversationMessage.__table__)
                .where(ConversationMessage.id == message_id)
                .values(attempts=ConversationMessage.attempts + 1)
            )
            return connection.execute(
                select(ConversationMessage.attempts).where(ConversationMessage.id == message_id)
            ).scalar_one()

    def claim_retries(self, transport: str) -> list[StoredMessage]:
        """Messages an admin asked to process again (``retry``), taken by this process: each
        one moves back to ``received`` here, so no other process takes it too."""
        claimed = []
        for stored in self._stored(transport, InboxStatus.RETRY):
            with self.engine.begin() as connection:
                taken = connection.execute(
                    update(ConversationMessage.__table__)
                    .where(
                        ConversationMessage.id == stored.id,
                        ConversationMessage.status == InboxStatus.RETRY.value,
                    )
                    .values(status=InboxStatus.RECEIVED.value)
                ).rowcount
            if taken:
                claimed.append(replace(stored, status=InboxStatus.RECEIVED))
        return claimed

    def finish_many(self, finished: Sequence[Finished]) -> list[None]:
        """Mark messages processed or failed, and record the sends that answered them, in one
        transaction: a message counts as answered exactly when its replies are on record."""
        now = utc_now()
        outbound = [_outbound_row(record) for item in finished for record in item.outbound]
        with self.engine.begin() as connection:
            if outbound:
                connection.execute(insert(OutboundMessage.__table__), outbound)
            connection.execute(
                _finish_statement(),
                [
                    {
                        "message_id": item.message_id,
                        "new_status": item.status.value,
                        "processed": now,
                        "answer": item.response or None,
                        "answered": bool(item.response),
                        "answered_at": now if item.response else None,
                        "failure": item.error,
                    }
                    for item in finished
                ],
            )
        return [None] * len(finished)

    def record_outbound(self, record: OutboundRecord) -> int:
        """Record a message we sent, or failed to send (never silently dropped)."""
        row = _outbound_row(record)
        if record.company_id is None and record.conversation_message_id is not None:
            row["company_id"] = (  # the company of the message it answers
                select(ConversationMessage.company_id)
                .where(ConversationMessage.id == record.conversation_message_id)
                .scalar_subquery()
            )
        with self.engine.begin() as connection:
            result = connection.execute(insert(OutboundMessage.__table__).values(**row))
            return result.inserted_primary_key[0]

    def replies_sent(self, message_id: int) -> list[tuple[str | None, str]]:
        """The replies to message ``message_id`` that a provider accepted, in the order they
        were sent: each one's response key and body."""
        with self.engine.connect() as connection:
            return [
                (key, body)
                for key, body in connection.execute(
                    select(OutboundMessage.response_key, OutboundMessage.body)
                    .where(
                        OutboundMessage.conversation_message_id == message_id,
                        OutboundMessage.status != DeliveryStatus.FAILED,
                    )
                    .order_by(OutboundMessage.id)
                )
            ]

    def record_delivery(
        self,
        channel: Channel,
        provider_message_id: str,
        provider_status: str,
        error_code: str | None = None,
    ) -> bool:
        """Apply a provider's status callback; False when the message is not on record (or the
        status is not one we know). Providers may call back out of order: a status never moves
        back ("delivered" after "read" is ignored)."""
        status = delivery_status(provider_status)
        if status is None:
            return False
        values: dict[str, Any] = {"status": status, "updated_at": utc_now()}
        if error_code:
            values["error_code"] = error_code
        ours = and_(
            OutboundMessage.channel == channel,
            OutboundMessage.provider_message_id == provider_message_id,
        )
        behind = [other for other, rank in _STATUS_RANK.items() if rank < _STATUS_RANK[status]]
        with session_scope(self.factory) as session:
            result = session.execute(
                update(OutboundMessage)
                .where(ours, OutboundMessage.status.in_(behind))
                .values(**values)
            )
            if result.rowcount > 0:
                return True
            return (
                session.execute(select(OutboundMessage.id).where(ours).limit(1)).first() is not None
            )

    def address_of(self, user_id: int, channel: Channel) -> str | None:
        """The address of ``user_id``'s on ``channel`` that wrote last (an identity of theirs
        that never wrote, if none did)."""
        with session_scope(self.factory) as session:
            wrote = session.execute(
                select(ConversationMessage.sender_address)
                .join(
                    ChannelIdentity,
                    and_(
                        ChannelIdentity.channel == ConversationMessage.channel,
                        ChannelIdentity.address == ConversationMessage.sender_address,
                    ),
                )
                .where(
                    ChannelIdentity.user_id == user_id,
                    ConversationMessage.channel == channel,
                    ConversationMessage.user_id == user_id,
                )
                .order_by(ConversationMessage.id.desc())
                .limit(1)
            ).scalar_one_or_none()
            if wrote is not None:
                return wrote
            return session.execute(
                select(ChannelIdentity.address)
                .where(ChannelIdentity.user_id == user_id, ChannelIdentity.channel == channel)
                .order_by(ChannelIdentity.id.desc())
                .limit(1)
            ).scalar_one_or_none()

    def redeem_code(self, channel: Channel, address: str, code: str) -> Outcome:
        """Link the sender ``address`` with an invitation code (``misybot.people.invitations``)."""
        with session_scope(make_session_factory(self.engine)) as session:
            return redeem(session, channel, address, code).outcome

    def request_code(self, user_id: int, channel: Channel) -> SelfRequest:
        """A code for ``user_id`` to link the address of theirs on ``channel`` ("link my
        email"), or why there is none."""
        with session_scope(make_session_factory(self.engine)) as session:
            return request_code(session, user_id, channel)

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


def _outbound_row(record: OutboundRecord) -> dict[str, Any]:
    row = asdict(record)
    row["recipient_address"] = row.pop("recipient")
    row["media"] = row["media"] or None
    return row


@cache
def _finish_statement() -> Update:
    """UPDATE one inbox row per parameter set (an executemany for a batch of finishes)."""
    table = ConversationMessage.__table__
    return (
        update(table)
        .where(table.c.id == bindparam("message_id"))
        .values(
            status=bindparam("new_status"),
            processed_at=bindparam("processed"),
            response_body=bindparam("answer"),
            response_sent=bindparam("answered"),
            responded_at=bindparam("answered_at"),
            error=bindparam("failure"),
        )
    )


class _SkipDuplicates(postgresql.dml.OnConflictDoNothing):
    """A bare ``ON CONFLICT DO NOTHING`` (no target): nothing in it varies, so its cache key is
    its class. SQLAlchemy 1.4 caches no ON CONFLICT clause, so without this the store
    statement is compiled on every write, which costs more than the write itself."""

    inherit_cache = True
    _traverse_internals = []  # noqa: RUF012 (SQLAlchemy's declaration, read per class)


class _PostgresInsertSkippingDuplicates(postgresql.Insert):
    """``INSERT … ON CONFLICT DO NOTHING`` that SQLAlchemy compiles once (see _SkipDuplicates)."""

    inherit_cache = True

    def skip_duplicates(self) -> _PostgresInsertSkippingDuplicates:
        statement = self._generate()
        statement._post_values_clause = _SkipDuplicates()
        return statement


class _SqliteSkipDuplicates(sqlite.dml.OnConflictDoNothing):
    """See ``_SkipDuplicates``."""

    inherit_cache = True
    _traverse_internals = []  # noqa: RUF012


class _SqliteInsertSkippingDuplicates(sqlite.Insert):
    """See ``_PostgresInsertSkippingDuplicates``."""

    inherit_cache = True

    def skip_duplicates(self) -> _SqliteInsertSkippingDuplicates:
        statement = self._generate()
        statement._post_values_clause = _SqliteSkipDuplicates()
        return statement


@cache
def _store_statement() -> Insert:
    """INSERT an inbound message unless stored before (SQLite: one row at a time, linked by
    the caller)."""
    return _SqliteInsertSkippingDuplicates(ConversationMessage.__table__).skip_duplicates()


@cache
def _store_linked_statement() -> Insert:
    """INSERT inbound messages linked to their senders, skipping any stored before, and return
    what was written (PostgreSQL: a batch in one statement, psycopg2's execute_values)."""
    table = ConversationMessage.__table__
    sender = (
        select(User.id)
        .join(ChannelIdentity, ChannelIdentity.user_id == User.id)
        .where(
            ChannelIdentity.channel == bindparam("from_channel"),
            ChannelIdentity.address == bindparam("from_address"),
            User.active.is_(True),
        )
    )
    return (
        _PostgresInsertSkippingDuplicates(table)
        .values(
            user_id=sender.scalar_subquery(),
            company_id=sender.with_only_columns(User.company_id).scalar_subquery(),
        )
        .skip_duplicates()
        .returning(
            table.c.id,
            table.c.channel,
            table.c.provider_message_id,
            table.c.user_id,
            table.c.company_id,
        )
    )


Item = TypeVar("Item")
Result = TypeVar("Result")


class BatchWriter(Generic[Item, Result]):
    """Runs ``write`` on one thread of its own: what is submitted while it writes goes into the
    next call, one transaction for many webhooks or finished turns.

    One thread on one warm connection, one commit for a burst, beats a pool thread and
    connection each (every round trip waits for the interpreter again while a turn runs; SQLite
    writes one at a time anyway). ``write`` takes a batch and returns one result per item.
    """

    def __init__(
        self,
        write: Callable[[list[Item]], list[Result]],
        *,
        name: str,
        max_batch: int = 100,
    ) -> None:
        self.write = write
        self.name = name
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[tuple[Item, concurrent.futures.Future]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._starting = threading.Lock()

    async def run(self, item: Item) -> Result:
        """``write([item])``'s result, written with whatever else is waiting."""
        return await asyncio.wrap_future(self.submit(item))

    def submit(self, item: Item) -> concurrent.futures.Future[Result]:
        future: concurrent.futures.Future[Result] = concurrent.futures.Future()
        self._start()
        self._queue.put((item, future))
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
            # An item whose caller went away before it was written is not written (a webhook
            # that saw no 200 is delivered again).
            self._write([pair for pair in batch if pair[1].set_running_or_notify_cancel()])

    def _write(self, batch: list[tuple[Item, concurrent.futures.Future]]) -> None:
        if not batch:
            return
        try:
            results = self.write([item for item, _ in batch])
        except Exception as error:
            if len(batch) > 1:  # one bad item must not refuse its neighbours
                for pair in batch:
                    self._write([pair])
                return
            logger.exception("channel.inbox.write_failed writer=%s", self.name)
            batch[0][1].set_exception(error)
            return
        for (_, future), result in zip(batch, results, strict=True):
            future.set_result(result)
