"""Inbound messages that failed, for an admin: list them with their error, retry one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from misybot.db.models import Company, ConversationMessage
from misybot.enums import Channel, InboxStatus

RETRYABLE = (InboxStatus.FAILED.value, InboxStatus.RATE_LIMITED.value)


@dataclass(frozen=True)
class FailedMessage:
    """A message that was not answered normally, and why."""

    id: int
    company: str | None
    channel: Channel
    sender: str
    received_at: datetime
    status: InboxStatus
    attempts: int
    error: str | None
    text: str


def failed_messages(
    session: Session, company_id: int | None = None, limit: int = 50
) -> list[FailedMessage]:
    """The newest failed and refused (rate-limited) messages, of one company or of all."""
    query = (
        select(ConversationMessage, Company.slug)
        .outerjoin(Company, Company.id == ConversationMessage.company_id)
        .where(ConversationMessage.status.in_(RETRYABLE))
        .order_by(ConversationMessage.id.desc())
        .limit(limit)
    )
    if company_id is not None:
        query = query.where(ConversationMessage.company_id == company_id)
    return [
        FailedMessage(
            id=row.id,
            company=slug,
            channel=Channel(row.channel),
            sender=row.sender_address,
            received_at=row.received_at,
            status=InboxStatus(row.status),
            attempts=row.attempts,
            error=row.error,
            text=row.body,
        )
        for row, slug in session.execute(query)
    ]


def retry_message(session: Session, message_id: int, company_id: int | None = None) -> bool:
    """Ask the running server to process a failed or refused message again, from its first
    attempt (it picks it up within ``MISYBOT_CHANNEL_RETRY_POLL_S``); False if no such message."""
    query = (
        update(ConversationMessage)
        .where(ConversationMessage.id == message_id, ConversationMessage.status.in_(RETRYABLE))
        .values(status=InboxStatus.RETRY.value, attempts=0, error=None)
        .execution_options(synchronize_session=False)
    )
    if company_id is not None:
        query = query.where(ConversationMessage.company_id == company_id)
    return session.execute(query).rowcount == 1
