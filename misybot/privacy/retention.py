"""Message bodies kept no longer than ``MISYBOT_RETENTION_DAYS`` (the worker sweeps hourly):
in the inbox, the sent messages, the mail outbox and the conversations' events (their texts
blanked, the rest — intents, entities, slots — kept, so a conversation still continues)."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import bindparam, delete, null, or_, select, update
from sqlalchemy.orm import Session

from misybot.db.models import (
    ConversationEvent,
    ConversationMessage,
    EmailOutbox,
    OutboundMessage,
    RetentionMark,
    Understanding,
)
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
        "conversation_events": _blank_events(session, cutoff.timestamp()),
        "outbound_messages": session.execute(
            update(OutboundMessage)
            .where(OutboundMessage.created_at < cutoff, OutboundMessage.body != "")
            .values(body="", media=null())
            .execution_options(synchronize_session=False)
        ).rowcount,
        "understandings": session.execute(  # the text goes; what was understood stays
            update(Understanding)
            .where(Understanding.created_at < cutoff, Understanding.text != "")
            .values(text="", entities=null())
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


def _blank_events(session: Session, cutoff: float) -> int:
    """Blank what was said in conversation events before ``cutoff`` (epoch seconds), from
    where the last sweep stopped."""
    mark = session.get(RetentionMark, "conversation_events")
    if mark is None:
        mark = RetentionMark(name="conversation_events", last_id=0)
        session.add(mark)
    blanked = 0
    while True:
        rows = session.execute(
            select(ConversationEvent.id, ConversationEvent.type_name, ConversationEvent.data)
            .where(ConversationEvent.id > mark.last_id, ConversationEvent.timestamp < cutoff)
            .order_by(ConversationEvent.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return blanked
        changed = [
            {"row_id": row_id, "blank": _without_text(data)}
            for row_id, kind, data in rows
            if kind in ("user", "bot")
        ]
        if changed:
            table = ConversationEvent.__table__
            session.connection().execute(
                update(table)
                .where(table.c.id == bindparam("row_id"))
                .values(data=bindparam("blank")),
                changed,
            )
        blanked += len(changed)
        mark.last_id = rows[-1][0]
        session.flush()


def _without_text(data: str) -> str:
    event = json.loads(data)
    event["text"] = ""
    if isinstance(event.get("parse_data"), dict):
        event["parse_data"]["text"] = ""
    return json.dumps(event)
