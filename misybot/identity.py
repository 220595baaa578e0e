"""Who is writing: a channel's sender id resolved to a registered user of one company.

Provider channels (WhatsApp, e-mail, Messenger, Instagram) only reach here through connectors that
verified the provider's signature, so their sender ids are trusted and looked up as channel
identities. The local channels (``rasa shell``, Rasa's REST channel) carry whatever sender id the
caller chose: they resolve it as a user's e-mail address or phone number only while
``local_identities`` is on (the default for a single-machine set-up; turn it off when the REST
channel is reachable by people who are not your users). A local sender id may carry a
conversation tag after ``~`` (``ana@example.com~monday``): same user, separate conversation
(``~`` rather than ``#``: Rasa's HTTP API cannot address a conversation id holding ``#``).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from misybot.db.models import ChannelIdentity, Company, User
from misybot.enums import Channel, Persona
from misybot.store.tenancy import Actor, actor_for_user

# Rasa input channel name → the channel its sender ids are identities on.
PROVIDER_TRANSPORTS = {
    "whatsapp_twilio": "whatsapp",
    "whatsapp_cloud": "whatsapp",
    "email": "email",
    "messenger": "messenger",
    "instagram": "instagram",
}
LOCAL_TRANSPORTS = frozenset({"rest", "cmdline", "callback"})


@dataclass(frozen=True)
class Sender:
    """A sender as the chat layer sees it: the address to show and, if registered, the actor."""

    address: str
    actor: Actor | None

    @property
    def registered(self) -> bool:
        return self.actor is not None


def sender_address(transport: str | None, sender_id: str) -> str:
    """The address a sender id stands for (``whatsapp:+351…`` → ``+351…``, e-mail lower case)."""
    address = sender_id.strip()
    if transport is None or transport in LOCAL_TRANSPORTS:
        # One user may hold several local conversations: "ana@example.com~monday".
        address = address.split("~", 1)[0]
    if transport == "whatsapp_twilio":
        address = address.removeprefix("whatsapp:")
    elif transport == "whatsapp_cloud" and address.isdigit():
        address = f"+{address}"  # Cloud API wa_ids are digits without the plus
    elif transport == "email" or "@" in address:
        address = address.lower()
    return address


def resolve_sender(
    session: Session, transport: str | None, sender_id: str, local_identities: bool
) -> Sender:
    """The registered, active user behind ``sender_id`` on ``transport`` (actor None if none)."""
    address = sender_address(transport, sender_id)
    if transport in PROVIDER_TRANSPORTS:
        user = _by_identity(session, PROVIDER_TRANSPORTS[transport], address)
    elif (transport is None or transport in LOCAL_TRANSPORTS) and local_identities:
        user = _by_contact(session, address)
    else:
        user = None
    if user is None:
        return Sender(address, None)
    return Sender(address, actor_for_user(session.get(Company, user.company_id), user))


def _by_identity(session: Session, channel: str, address: str) -> User | None:
    try:
        kind = Channel(channel)
    except ValueError:  # a channel this database does not know yet
        return None
    return session.execute(
        select(User)
        .join(ChannelIdentity, ChannelIdentity.user_id == User.id)
        .where(
            ChannelIdentity.channel == kind,
            ChannelIdentity.address == address,
            User.active.is_(True),
        )
    ).scalar_one_or_none()


def _by_contact(session: Session, address: str) -> User | None:
    """A local sender id as a user's e-mail address or phone number (one match only)."""
    if not address:
        return None
    matches = (
        session.execute(
            select(User).where(
                User.active.is_(True),
                or_(func.lower(User.email) == address.lower(), User.phone == address),
            )
        )
        .scalars()
        .all()
    )
    return matches[0] if len(matches) == 1 else None


def set_persona(session: Session, actor: Actor, persona: Persona) -> None:
    """Keep ``persona`` as ``actor``'s reply style (their profile, for every channel)."""
    user = session.get(User, actor.user_id)
    if user is None or user.company_id != actor.company_id:
        return
    user.persona = persona
