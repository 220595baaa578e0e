"""Where one person is in the stores: their addresses, their messages, their conversations."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from misybot.db.models import (
    ChannelIdentity,
    ConversationEvent,
    ConversationMessage,
    OutboundMessage,
    User,
)
from misybot.enums import Channel
from misybot.identity import person_conversation

# connectors.local names a local (REST) conversation so: "rest:<address>[~tag]".
LOCAL_NAMESPACE = "rest:"


@dataclass
class Footprint:
    """Where one person is in the stores."""

    user: User
    addresses: set[tuple[str, str]] = field(default_factory=set)  # (channel, address)
    conversations: set[str] = field(default_factory=set)
    message_ids: list[int] = field(default_factory=list)


def footprint(session: Session, user: User) -> Footprint:
    found = Footprint(user, conversations={person_conversation(user.id)})
    for channel, address in session.execute(
        select(ChannelIdentity.channel, ChannelIdentity.address).where(
            ChannelIdentity.user_id == user.id
        )
    ):
        found.addresses.add((Channel(channel).value, address))
    if user.email:
        found.addresses.add((Channel.EMAIL.value, user.email.lower()))
    if user.phone:
        found.addresses.add((Channel.WHATSAPP.value, user.phone))
    rows = session.execute(
        select(ConversationMessage.id, ConversationMessage.channel, ConversationMessage.payload)
        .where(their_messages(user, found.addresses))
        .order_by(ConversationMessage.id)
    ).all()
    for message_id, _channel, payload in rows:
        found.message_ids.append(message_id)
        if isinstance(payload, dict) and isinstance(payload.get("sender"), str):
            found.conversations.add(payload["sender"])
    for _channel, address in found.addresses:  # a local conversation under an address
        found.conversations.update({address, f"{LOCAL_NAMESPACE}{address}"})
    local = [a for _, a in found.addresses]
    found.conversations.update(
        session.execute(
            select(ConversationEvent.conversation_id)
            .where(
                or_(
                    *(
                        ConversationEvent.conversation_id.like(
                            f"{LOCAL_NAMESPACE}{like_pattern(a)}~%", escape="\\"
                        )
                        for a in local
                    ),
                    ConversationEvent.conversation_id.in_(found.conversations),
                )
            )
            .distinct()
        ).scalars()
    )
    return found


def like_pattern(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def their_messages(user: User, addresses: set[tuple[str, str]]):
    by_address = [
        (ConversationMessage.channel == channel) & (ConversationMessage.sender_address == address)
        for channel, address in addresses
    ]
    return or_(ConversationMessage.user_id == user.id, *by_address)


def sent_to_them(addresses: set[tuple[str, str]], message_ids: list[int]):
    return or_(
        OutboundMessage.conversation_message_id.in_(message_ids or [-1]),
        *(
            (OutboundMessage.channel == channel) & (OutboundMessage.recipient_address == address)
            for channel, address in addresses
        ),
    )


def emails_of(addresses: set[tuple[str, str]]) -> list[str]:
    return sorted(a for c, a in addresses if c == Channel.EMAIL.value)
