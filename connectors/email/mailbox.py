"""Durable e-mail channel state: how far each IMAP folder was read, replies waiting for SMTP,
and the one-time tokens of signed inbound webhooks.

Synchronous SQLAlchemy; the connector calls these in a worker thread.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker

from misybot.db.models import Company, ConversationMessage, EmailOutbox, MailboxCursor, WebhookToken
from misybot.db.session import make_session_factory, session_scope
from misybot.db.types import utc_now
from misybot.enums import Channel, InboxStatus, OutboxStatus

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Cursor:
    """A folder's UIDVALIDITY and the highest UID already taken into the inbox."""

    uid_validity: int
    last_uid: int


@dataclass(frozen=True)
class PendingEmail:
    """An outbox row due for (another) SMTP attempt."""

    id: int
    message_id: str
    recipient: str
    raw: bytes
    attempts: int
    conversation_message_id: int | None


class MailboxStore:
    """The e-mail channel's tables."""

    def __init__(self, factory: sessionmaker | None = None) -> None:
        self._factory = factory

    @property
    def factory(self) -> sessionmaker:
        if self._factory is None:  # built on first use: no engine at import or construction
            self._factory = make_session_factory()
        return self._factory

    # ------------------------------------------------------------------------- IMAP cursors
    def cursor(self, account: str, folder: str) -> Cursor | None:
        with session_scope(self.factory) as session:
            row = session.execute(
                select(MailboxCursor.uid_validity, MailboxCursor.last_uid).where(
                    MailboxCursor.account == account, MailboxCursor.folder == folder
                )
            ).one_or_none()
        return Cursor(row[0], row[1]) if row else None

    def save_cursor(self, account: str, folder: str, cursor: Cursor) -> None:
        """Record the read position (never moves backwards within one UIDVALIDITY)."""
        # Write first: on SQLite a transaction that reads before it writes cannot wait for
        # another writer and fails at once with "database is locked".
        with session_scope(self.factory) as session:
            moved = session.execute(
                update(MailboxCursor)
                .where(
                    MailboxCursor.account == account,
                    MailboxCursor.folder == folder,
                    (MailboxCursor.uid_validity != cursor.uid_validity)
                    | (MailboxCursor.last_uid < cursor.last_uid),
                )
                .values(
                    uid_validity=cursor.uid_validity,
                    last_uid=cursor.last_uid,
                    updated_at=utc_now(),
                )
            ).rowcount
            if moved:
                return
            known = session.execute(
                select(MailboxCursor.id).where(
                    MailboxCursor.account == account, MailboxCursor.folder == folder
                )
            ).first()
            if known is None:
                session.add(
                    MailboxCursor(
                        account=account,
                        folder=folder,
                        uid_validity=cursor.uid_validity,
                        last_uid=cursor.last_uid,
                    )
                )

    def forget_cursor(self, account: str, folder: str) -> None:
        with session_scope(self.factory) as session:
            session.execute(
                delete(MailboxCursor).where(
                    MailboxCursor.account == account, MailboxCursor.folder == folder
                )
            )

    # ---------------------------------------------------------------------------- outbox
    def enqueue(
        self,
        *,
        message_id: str,
        recipient: str,
        body: str,
        raw: bytes,
        conversation_message_id: int | None,
        first_retry_in: timedelta = timedelta(minutes=5),
    ) -> int:
        """Keep a composed reply before the first SMTP attempt, so no failure can lose it.

        The caller makes that attempt; the retry loop only takes the row if it is still pending
        ``first_retry_in`` later (the process died meanwhile)."""
        with session_scope(self.factory) as session:
            row = EmailOutbox(
                message_id=message_id,
                recipient=recipient,
                body=body,
                raw=raw,
                status=OutboxStatus.PENDING.value,
                attempts=0,
                next_attempt_at=utc_now() + first_retry_in,
                conversation_message_id=conversation_message_id,
            )
            session.add(row)
            session.flush()
            return row.id

    def due(self, now: datetime | None = None, limit: int = 50) -> list[PendingEmail]:
        """Pending replies whose next attempt is due, oldest first."""
        with session_scope(self.factory) as session:
            rows = session.execute(
                select(EmailOutbox)
                .where(
                    EmailOutbox.status == OutboxStatus.PENDING.value,
                    EmailOutbox.next_attempt_at <= (now or utc_now()),
                )
                .order_by(EmailOutbox.id)
                .limit(limit)
            ).scalars()
            return [
                PendingEmail(
                    row.id,
                    row.message_id,
                    row.recipient,
                    row.raw,
                    row.attempts,
                    row.conversation_message_id,
                )
                for row in rows
            ]

    def next_due_at(self) -> datetime | None:
        with session_scope(self.factory) as session:
            return session.execute(
                select(EmailOutbox.next_attempt_at)
                .where(EmailOutbox.status == OutboxStatus.PENDING.value)
                .order_by(EmailOutbox.next_attempt_at)
                .limit(1)
            ).scalar_one_or_none()

    def mark_sent(self, outbox_id: int, attempts: int) -> None:
        now = utc_now()
        with session_scope(self.factory) as session:
            session.execute(
                update(EmailOutbox)
                .where(EmailOutbox.id == outbox_id)
                .values(status=OutboxStatus.SENT.value, attempts=attempts, sent_at=now)
            )

    def mark_failed_attempt(
        self, outbox_id: int, attempts: int, error: str, retry_in: timedelta | None
    ) -> None:
        """One more failed attempt; ``retry_in`` None gives up (status ``failed``)."""
        values: dict[str, Any] = {"attempts": attempts, "last_error": error[:2000]}
        if retry_in is None:
            values["status"] = OutboxStatus.FAILED.value
        else:
            values["next_attempt_at"] = utc_now() + retry_in
        with session_scope(self.factory) as session:
            session.execute(update(EmailOutbox).where(EmailOutbox.id == outbox_id).values(**values))

    def company_of(self, conversation_message_id: int | None) -> int | None:
        if conversation_message_id is None:
            return None
        with session_scope(self.factory) as session:
            return session.execute(
                select(ConversationMessage.company_id).where(
                    ConversationMessage.id == conversation_message_id
                )
            ).scalar_one_or_none()

    # ------------------------------------------------------------------------- threading
    def latest_inbound(self, address: str) -> tuple[int, int | None, dict[str, Any]] | None:
        """Id, company and stored payload of ``address``'s latest e-mail (to thread under)."""
        with session_scope(self.factory) as session:
            row = session.execute(
                select(
                    ConversationMessage.id,
                    ConversationMessage.company_id,
                    ConversationMessage.payload,
                )
                .where(
                    ConversationMessage.channel == Channel.EMAIL,
                    ConversationMessage.sender_address == address,
                    ConversationMessage.status != InboxStatus.RATE_LIMITED.value,
                )
                .order_by(ConversationMessage.received_at.desc(), ConversationMessage.id.desc())
                .limit(1)
            ).one_or_none()
        return (row[0], row[1], row[2] or {}) if row else None

    def company_slug(self, company_id: int) -> str | None:
        with session_scope(self.factory) as session:
            return session.execute(
                select(Company.slug).where(Company.id == company_id)
            ).scalar_one_or_none()

    # --------------------------------------------------------------------- webhook tokens
    def claim_token(self, provider: str, token: str, keep_for: timedelta) -> bool:
        """Record ``token`` as used, atomically; False when it already was (a replay, or the
        same request posted concurrently). Forgets tokens past ``keep_for`` (their timestamps are
        stale by then, so a replay is refused on age anyway)."""
        try:
            with session_scope(self.factory) as session:
                session.add(WebhookToken(provider=provider, token=token))
        except IntegrityError:
            return False
        with session_scope(self.factory) as session:
            session.execute(delete(WebhookToken).where(WebhookToken.seen_at < utc_now() - keep_for))
        return True

    def release_token(self, provider: str, token: str) -> None:
        """Forget a claimed token whose request could not be stored (the provider's retry of the
        same request must then be taken)."""
        with session_scope(self.factory) as session:
            session.execute(
                delete(WebhookToken).where(
                    WebhookToken.provider == provider, WebhookToken.token == token
                )
            )
