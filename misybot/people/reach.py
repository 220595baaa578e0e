"""Where a result nobody is waiting for reaches a person: the channel they last used, unless
that channel only carries free-form messages within 24 hours of the person's last message
(WhatsApp, Messenger, Instagram) and those have passed — then their preferred channel, when
they have written on it and it can carry the message now."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from misybot.db.models import ConversationMessage, User
from misybot.enums import Channel
from misybot.identity import person_in

LATEST = "latest"  # Rasa's output channel of the conversation's latest message
SESSION_WINDOW = timedelta(hours=24)
WINDOWED = frozenset({Channel.WHATSAPP, Channel.MESSENGER, Channel.INSTAGRAM})


def delivery_channel(session: Session | Connection, conversation_id: str, now: datetime) -> str:
    """The Rasa output channel (an input channel's name, or ``latest``) to push to."""
    user_id = person_in(conversation_id)
    if user_id is None:
        return LATEST  # a single sender's conversation: the channel it is on
    last = _last_message(session, user_id)
    if last is None:
        return LATEST
    channel, _transport, received_at = last
    if not _closed(channel, received_at, now):
        return LATEST
    preferred_value = session.execute(
        select(User.preferred_channel).where(User.id == user_id)
    ).scalar_one_or_none()
    preferred = Channel(preferred_value) if preferred_value is not None else None
    if preferred is None or preferred == channel:
        return LATEST
    on_preferred = _last_message(session, user_id, preferred)
    if on_preferred is None or _closed(preferred, on_preferred[2], now):
        return LATEST  # the latest channel's own fallback (a template, a tag) applies
    return on_preferred[1]


def _closed(channel: Channel, last_message_at: datetime, now: datetime) -> bool:
    return channel in WINDOWED and now - last_message_at > SESSION_WINDOW


def _last_message(
    session: Session | Connection, user_id: int, channel: Channel | None = None
) -> tuple[Channel, str, datetime] | None:
    """The channel, transport and time of the person's latest message (on ``channel``)."""
    query = select(
        ConversationMessage.channel, ConversationMessage.payload, ConversationMessage.received_at
    ).where(ConversationMessage.user_id == user_id)
    if channel is not None:
        query = query.where(ConversationMessage.channel == channel)
    row = session.execute(query.order_by(ConversationMessage.id.desc()).limit(1)).first()
    if row is None:
        return None
    channel_value, payload, received_at = row
    transport = (payload or {}).get("transport") if isinstance(payload, dict) else None
    return Channel(channel_value), transport or LATEST, received_at
