"""Where a result nobody is waiting for reaches a person: the channel they last used, unless
that channel only carries free-form messages within 24 hours of the person's last message
(WhatsApp, Messenger, Instagram) and those have passed — then their preferred channel, when
they have written on it and it can carry the message now."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from misybot.db.models import ChannelIdentity, ChannelReach, ConversationMessage, User
from misybot.db.types import utc_now
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
    latest = (ConversationMessage.received_at.desc(), ConversationMessage.id.desc())
    row = session.execute(query.order_by(*latest).limit(1)).first()
    if row is None:
        return None
    channel_value, payload, received_at = row
    transport = (payload or {}).get("transport") if isinstance(payload, dict) else None
    return Channel(channel_value), transport or LATEST, received_at


# ----------------------------------------------------------------------- unasked-for messages
TAG_WINDOW = timedelta(days=7)  # Messenger / Instagram's HUMAN_AGENT tag reaches this far
TEMPLATE, TAG = "template", "tag"


@dataclass(frozen=True)
class Route:
    """Where a notification goes now: a transport (an input channel's name), or nowhere yet
    (``transport`` None: keep it until the person writes), and why."""

    transport: str | None
    reason: str


def publish_reach(
    session: Session | Connection, transport: str, channel: Channel, outside_window: str | None
) -> None:
    """A connector says, when it starts, what ``transport`` can send outside the window."""
    values = {"channel": channel, "outside_window": outside_window, "updated_at": utc_now()}
    changed = session.execute(
        update(ChannelReach).where(ChannelReach.transport == transport).values(**values)
    ).rowcount
    if not changed:
        session.execute(insert(ChannelReach).values(transport=transport, **values))


def route(session: Session | Connection, user_id: int, now: datetime) -> Route:
    """The channel an unasked-for message reaches ``user_id`` on now: the one they last wrote
    on, else their preferred one, while its window is open; else the first of those whose
    transport may write outside the window (a WhatsApp template, a Messenger tag within 7
    days); else e-mail when they have an address; else none — it waits for them to write."""
    transports = _published(session)
    if not transports:
        return Route(None, "no channel is running")
    last = _last_message(session, user_id)
    preferred = session.execute(
        select(User.preferred_channel).where(User.id == user_id)
    ).scalar_one_or_none()
    order: list[Channel] = []
    for channel in (last[0] if last else None, Channel(preferred) if preferred else None):
        if channel is not None and channel not in order:
            order.append(channel)
    options = [_option(session, user_id, channel, transports, now) for channel in order]
    for transport, open_now, _ in options:
        if transport and open_now:
            return Route(transport, "window open")
    for transport, _, outside in options:
        if transport and outside:
            return Route(transport, f"outside the window: {outside}")
    if Channel.EMAIL not in order:
        transport, _, _ = _option(session, user_id, Channel.EMAIL, transports, now)
        if transport:
            return Route(transport, "e-mail, as no chat window is open")
    return Route(None, "no channel can carry it until they write")


def _published(session: Session | Connection) -> dict[str, tuple[Channel, str | None]]:
    rows = session.execute(
        select(ChannelReach.transport, ChannelReach.channel, ChannelReach.outside_window)
    ).all()
    return {transport: (Channel(channel), outside) for transport, channel, outside in rows}


def _option(
    session: Session | Connection,
    user_id: int,
    channel: Channel,
    transports: dict[str, tuple[Channel, str | None]],
    now: datetime,
) -> tuple[str | None, bool, str | None]:
    """``(transport, open now, what it may send outside the window)`` for ``channel``; no
    transport when the person has no address there or no transport of it runs."""
    has_identity = session.execute(
        select(ChannelIdentity.id)
        .where(ChannelIdentity.user_id == user_id, ChannelIdentity.channel == channel)
        .limit(1)
    ).first()
    if has_identity is None:
        return None, False, None
    wrote = _last_message(session, user_id, channel)
    running = [name for name, (of, _) in transports.items() if of == channel]
    transport = wrote[1] if wrote and wrote[1] in transports else (running[0] if running else None)
    if transport is None:
        return None, False, None
    if channel not in WINDOWED:
        return transport, True, None
    last_at = wrote[2] if wrote else None
    if last_at is not None and now - last_at <= SESSION_WINDOW:
        return transport, True, None
    outside = transports[transport][1]
    if outside == TAG and (last_at is None or now - last_at > TAG_WINDOW):
        outside = None
    return transport, False, outside
