"""Who is writing: a sender a connector verified, resolved to a registered user of one company.

Who is asking never comes from a conversation id or an input channel, which Rasa's HTTP API and
its REST channel let a caller choose. A connector that verified a message (a provider's
signature, or a local conversation on this machine) puts a ``VerifiedSender`` on it, signed with
the installation's key and bound to the conversation id; the actions trust only that. A message
without one (``rasa shell``'s own channel, the HTTP API, another channel) is from nobody.

Provider senders (WhatsApp, e-mail, Messenger, Instagram) are looked up as channel identities.
Local senders name a user by e-mail address or phone number (``local_identities``); the local
connector decides when a caller may do that (see ``connectors.local``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from misybot.db.models import ChannelIdentity, Company, User
from misybot.enums import Channel, Persona
from misybot.store.tenancy import Actor, actor_for_user

LOCAL = "local"  # the channel of a local conversation: the address is a user's e-mail or phone
# A linked person's conversation, whichever channel they write on (see ``person_conversation``).
PERSON_PREFIX = "user:"
METADATA_KEY = "verified_sender"  # where a message's metadata carries its VerifiedSender
STAMP_VERSION = 1


def person_conversation(user_id: int) -> str:
    """The one conversation of a linked person, across every channel of theirs.

    Rasa keeps a tracker per conversation id, and the connectors choose that id: a sender
    linked to a user writes in ``user:<id>``, so what they started on WhatsApp (the last
    report, a "did you mean", a form) is there when they write by e-mail. No provider spells
    a sender this way (e-mail addresses with ":" are refused, Meta's ids are digits, Twilio's
    start with ``whatsapp:``, local ones with ``rest:``). A sender nobody is linked to keeps
    its own conversation, named as its provider spells it.
    """
    return f"{PERSON_PREFIX}{user_id}"


def person_in(conversation_id: str) -> int | None:
    """The user whose conversation ``conversation_id`` is (None: a single sender's)."""
    number = conversation_id.removeprefix(PERSON_PREFIX)
    if number == conversation_id or not number.isdigit():
        return None
    return int(number)


@dataclass(frozen=True)
class VerifiedSender:
    """A sender a connector verified: ``address`` on ``channel`` (a ``Channel`` value, or
    ``LOCAL``), writing in the conversation ``conversation``."""

    conversation: str
    channel: str
    address: str

    def _digest(self, key: bytes) -> str:
        signed = json.dumps([STAMP_VERSION, self.conversation, self.channel, self.address])
        return hmac.new(key, signed.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()

    def signed(self, key: bytes) -> dict[str, Any]:
        """As message metadata: the fields and their signature."""
        return {
            "v": STAMP_VERSION,
            "conversation": self.conversation,
            "channel": self.channel,
            "address": self.address,
            "signature": self._digest(key),
        }

    @classmethod
    def from_signed(cls, data: Any, key: bytes, conversation: str) -> VerifiedSender | None:
        """The sender ``data`` carries, if its signature holds and it is for ``conversation``."""
        if not isinstance(data, dict) or data.get("v") != STAMP_VERSION:
            return None
        fields = (data.get("conversation"), data.get("channel"), data.get("address"))
        signature = data.get("signature")
        if not all(isinstance(value, str) for value in (*fields, signature)):
            return None
        sender = cls(*fields)
        if sender.conversation != conversation:
            return None
        if not hmac.compare_digest(sender._digest(key), signature):
            return None
        return sender


@dataclass(frozen=True)
class Sender:
    """A sender as the chat layer sees it: the address to show and, if registered, the actor."""

    address: str
    actor: Actor | None

    @property
    def registered(self) -> bool:
        return self.actor is not None


def resolve_sender(
    session: Session, verified: VerifiedSender | None, local_identities: bool, shown: str = ""
) -> Sender:
    """The registered, active user behind ``verified`` (actor None for anyone else; ``shown`` is
    the address an unverified sender is told to give their admin)."""
    if verified is None:
        return Sender(shown, None)
    if verified.channel == LOCAL:
        user = _by_contact(session, verified.address) if local_identities else None
    else:
        user = _by_identity(session, verified.channel, verified.address)
    if user is None:
        return Sender(verified.address, None)
    return Sender(verified.address, actor_for_user(session.get(Company, user.company_id), user))


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
    """A local sender as a user's e-mail address or phone number (one match only)."""
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
