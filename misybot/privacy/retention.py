"""Message bodies kept no longer than ``MISYBOT_RETENTION_DAYS`` (the worker sweeps hourly)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import bindparam, delete, null, or_, select, update
from sqlalchemy.orm import Session

from misybot.db.models import ConversationMessage, EmailOutbox, OutboundMessage
from misybot.db.types import utc_now
from misybot.enums import InboxStatus

# What a message keeps of its payload: the conversation it was in (a later privacy request
# finds it) and the transport it came by (misybot.people.reach).
KEPT = ("channel", "transport", "sender")
BATCH = 500


def apply_retention(session: Session, days: int) -> dict[str, int]:
    """Blank the bodies of messages older than ``days`` days (counters, intents, statuses and
    the business records they led to stay)."""
    cutoff = utc_now() - timedelta(days=days)
    done = [s.value for s in InboxStatus if s != InboxStatus.RECEIVED]
    blanked = 0
    while True:
        rows = session.execute(
            select(ConversationMessage.id, ConversationMessage.payload)
            .where(
                ConversationMessage.received_at < cutoff,
                ConversationMessage.status.in_(done),
                or_(ConversationMessage.body != "", ConversationMessage.response_body.is_not(None)),
            )
            .limit(BATCH)
        ).all()
        if not rows:
            break
        table = ConversationMessage.__table__
        session.connection().execute(  # one executemany for the batch
            update(table)
            .where(table.c.id == bindparam("row_id"))
            .values(body="", entities=null(), response_body=None, payload=bindparam("kept")),
            [{"row_id": row_id, "kept": _kept(payload)} for row_id, payload in rows],
        )
        blanked += len(rows)
    return {
        "conversation_messages": blanked,
        "outbound_messages": session.execute(
            update(OutboundMessage)
            .where(OutboundMessage.created_at < cutoff, OutboundMessage.body != "")
            .values(body="", media=null())
            .execution_options(synchronize_session=False)
        ).rowcount,
        "email_outbox": session.execute(
            delete(EmailOutbox)
            .where(EmailOutbox.created_at < cutoff, EmailOutbox.status == "sent")
            .execution_options(synchronize_session=False)
        ).rowcount,
    }


def _kept(payload) -> dict | None:
    if not isinstance(payload, dict):
        return None
    return {key: payload[key] for key in KEPT if key in payload}
