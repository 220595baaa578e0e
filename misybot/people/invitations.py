"""Linking with proof: a one-time code an admin gives a person, sent back from any channel.

The code is eight digits, valid for ``invitation_hours`` (24 h unless set), kept only as a keyed
hash (HMAC with the installation's key: a copy of the database alone does not give the codes
back), compared in constant time, and used once. Whoever sends it ("link 48291375", or just the
code) from a verified sender address gets that address linked to the invited user, with the
method and time kept. A registered user may also ask for a code to the e-mail address on their
profile ("link my email"; ``SELF_REQUESTS`` an hour): only that address can use it.

Guessing is bounded twice: a sender has ``SENDER_ATTEMPTS`` wrong tries per
``SENDER_WINDOW``, after which even a right code is refused until the window passes; and every
wrong code counts against every open invitation, which is void after ``CODE_ATTEMPTS`` of them
(an attacker with many sender addresses still has at most that many guesses at 1 in 10^8 per
code; the cost is that an admin may have to invite again). Every refusal reads the same, so a
sender learns nothing about which users or codes exist.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from enum import Enum

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from misybot.db.models import ChannelIdentity, Invitation, LinkAttempt, User
from misybot.db.types import utc_now
from misybot.enums import Channel
from misybot.errors import Conflict
from misybot.people import audit
from misybot.people.team import attach_identity, find_user
from misybot.permissions import Operation
from misybot.settings import get_settings
from misybot.store.tenancy import Actor

CODE_DIGITS = 8
SENDER_ATTEMPTS = 5
SENDER_WINDOW = timedelta(minutes=15)
CODE_ATTEMPTS = 30
SELF_REQUESTS = 3  # "link my email" a user may ask for per hour (each one mails a code)
# "link my email", "link my e-mail address" — a registered user adding the address on file.
_LINK_REQUEST = re.compile(
    r"^\s*(?:please\s+)?link\s+(?:my\s+)?e-?mail(?:\s+address)?\s*[.!]?\s*$", re.I
)
# "link 4829 1375", "LINK: 48291375", "48291375" — and nothing else around it.
_CODE_MESSAGE = re.compile(
    r"^\s*(?:link(?:\s+code)?\s*:?\s*)?((?:\d[\s-]?){7}\d)\s*[.!]?\s*$", re.I
)


class Outcome(str, Enum):
    LINKED = "linked"  # the address is now the invited user's
    ALREADY = "already"  # the address was the invited user's already
    REFUSED = "refused"  # wrong, expired, used, void, or for an address held by someone else
    LIMITED = "limited"  # too many tries: wait
    SENT = "sent"  # "link my email": a code went to the address on the profile
    NO_ADDRESS = "no_address"  # no such address on the profile (or no way to send there)
    ASKED_TOO_OFTEN = "asked_too_often"  # SELF_REQUESTS codes mailed this hour already


@dataclass(frozen=True)
class Redemption:
    outcome: Outcome
    user_id: int | None = None
    company_id: int | None = None


@dataclass(frozen=True)
class Issued:
    code: str
    user_id: int
    expires_at: object


def code_in(text: str) -> str | None:
    """The code a message consists of, if it is one ("link 4829-1375" → "48291375")."""
    if not isinstance(text, str) or len(text) > 64:
        return None
    match = _CODE_MESSAGE.match(text)
    return re.sub(r"\D", "", match.group(1)) if match else None


def link_request_in(text: str) -> Channel | None:
    """The channel a registered user asks to link ("link my email" → e-mail), if that is all
    the message says."""
    if not isinstance(text, str) or len(text) > 64:
        return None
    return Channel.EMAIL if _LINK_REQUEST.match(text) else None


def digest(code: str) -> str:
    key = hmac.new(get_settings().signing_key, b"misybot invitation codes", hashlib.sha256)
    return hmac.new(key.digest(), code.encode(), hashlib.sha256).hexdigest()


def invite(
    session: Session,
    admin: Actor,
    reference: str,
    channel: Channel | None = None,
    hours: float | None = None,
) -> Issued:
    """A new code for a user of the admin's company (shown once: only its hash is kept)."""
    admin.require(Operation.MANAGE_USERS)
    user = find_user(session, admin.company_id, reference)
    if not user.active:
        raise Conflict(f"user {user.id} is deactivated; reactivate them first")
    return _issue(session, user, channel, hours, admin)


@dataclass(frozen=True)
class SelfRequest:
    """What asking for a code to one's own address gave: a code to send there, or why not."""

    outcome: Outcome
    issued: Issued | None = None
    address: str | None = None


def request_code(session: Session, user_id: int, channel: Channel) -> SelfRequest:
    """A registered user asks to link the address of theirs on ``channel`` that their profile
    holds (their e-mail): a code only that address may use, to be sent there."""
    user = session.get(User, user_id)
    address = (user.email or "").strip().lower() if user is not None and user.active else ""
    if channel != Channel.EMAIL or not address:
        return SelfRequest(Outcome.NO_ADDRESS)
    held_by = session.execute(
        select(ChannelIdentity.user_id).where(
            ChannelIdentity.channel == channel, ChannelIdentity.address == address
        )
    ).scalar_one_or_none()
    if held_by == user.id:
        return SelfRequest(Outcome.ALREADY)
    if held_by is not None:
        return SelfRequest(Outcome.NO_ADDRESS)
    asked = session.execute(
        select(func.count())
        .select_from(Invitation)
        .where(
            Invitation.user_id == user.id,
            Invitation.created_by_id.is_(None),
            Invitation.created_at > utc_now() - timedelta(hours=1),
        )
    ).scalar_one()
    if asked >= SELF_REQUESTS:
        return SelfRequest(Outcome.ASKED_TOO_OFTEN)
    issued = _issue(session, user, channel, None, None, address)
    return SelfRequest(Outcome.SENT, issued, address)


def code_mail(code: str, hours: float) -> tuple[str, str]:
    """The subject and text of the mail that carries a code someone asked for."""
    return (
        "Your MisyBot code",
        f"Your MisyBot code is **{code}**.\n\n"
        "To link this e-mail address to your MisyBot profile, reply to this mail with the code "
        f"(or send it from this address) within {hours:g} hours.\n\n"
        "If you did not ask for it, ignore this mail: nothing happens without the code.",
    )


def _issue(
    session: Session,
    user: User,
    channel: Channel | None,
    hours: float | None,
    admin: Actor | None,
    address: str | None = None,
) -> Issued:
    hours = hours if hours is not None else get_settings().invitation_hours
    if not 0 < hours <= 24 * 14:
        raise Conflict("an invitation is valid for up to 14 days")
    for _ in range(20):
        code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
        hashed = digest(code)
        taken = session.execute(select(Invitation.id).where(Invitation.code_digest == hashed))
        if taken.first() is None:
            break
    else:  # pragma: no cover - 20 collisions in 10^8 codes
        raise Conflict("could not draw an unused code; try again")
    expires = utc_now() + timedelta(hours=hours)
    session.add(
        Invitation(
            company_id=user.company_id,
            user_id=user.id,
            code_digest=hashed,
            channel=channel,
            address=address,
            created_by_id=admin.user_id if admin else None,
            expires_at=expires,
            failed_attempts=0,
        )
    )
    session.flush()
    audit.record(
        session,
        admin,
        user.company_id,
        "invitation.create",
        user.id,
        channel=channel.value if channel else None,
        hours=hours,
        via="admin" if admin else "self",
    )
    return Issued(code, user.id, expires)


def redeem(session: Session, channel: Channel, address: str, code: str) -> Redemption:
    """Link the sender ``address`` on ``channel`` (verified by its connector) with ``code``.

    The caller commits: a refusal's counted attempt is kept like a success's link.
    """
    now = utc_now()
    recent = session.execute(
        select(func.count())
        .select_from(LinkAttempt)
        .where(
            LinkAttempt.channel == channel.value,
            LinkAttempt.address == address,
            LinkAttempt.attempted_at > now - SENDER_WINDOW,
        )
    ).scalar_one()
    if recent >= SENDER_ATTEMPTS:
        return Redemption(Outcome.LIMITED)
    invitation = _invitation(session, code)
    user = session.get(User, invitation.user_id) if invitation is not None else None
    held_by = session.execute(
        select(ChannelIdentity.user_id).where(
            ChannelIdentity.channel == channel, ChannelIdentity.address == address
        )
    ).scalar_one_or_none()
    used = invitation is not None and invitation.used_at is not None
    if used and user is not None and held_by == user.id:
        # The sender it linked sends it again (or its turn ran twice): nothing new to learn.
        return Redemption(Outcome.ALREADY, user.id, user.company_id)
    if (
        invitation is None
        or not _open(invitation, now)
        or user is None
        or not user.active
        or (invitation.channel is not None and invitation.channel != channel)
        or (invitation.address is not None and invitation.address != address)
        or (held_by is not None and held_by != user.id)
    ):
        return _refuse(session, channel, address, now)
    invitation.used_at = now
    if held_by == user.id:
        return Redemption(Outcome.ALREADY, user.id, user.company_id)
    try:
        attach_identity(session, user, channel, address, "invitation")
    except Conflict:  # taken since we looked, by someone else
        return _refuse(session, channel, address, now)
    audit.record(
        session,
        None,
        user.company_id,
        "identity.link",
        user.id,
        channel=channel.value,
        via="invitation",
    )
    return Redemption(Outcome.LINKED, user.id, user.company_id)


def _invitation(session: Session, code: str) -> Invitation | None:
    """The invitation whose code this is, in whatever state (found by its hash, compared
    with it in constant time)."""
    hashed = digest(code)
    invitation = session.execute(
        select(Invitation).where(Invitation.code_digest == hashed).with_for_update()
    ).scalar_one_or_none()
    if invitation is None or not hmac.compare_digest(invitation.code_digest, hashed):
        return None
    return invitation


def _open(invitation: Invitation, now) -> bool:
    """Unused, unexpired, and not void from guessing."""
    return (
        invitation.used_at is None
        and invitation.expires_at > now
        and invitation.failed_attempts < CODE_ATTEMPTS
    )


def _refuse(session: Session, channel: Channel, address: str, now) -> Redemption:
    session.add(LinkAttempt(channel=channel.value, address=address, attempted_at=now))
    session.execute(
        update(Invitation)
        .where(Invitation.used_at.is_(None), Invitation.expires_at > now)
        .values(failed_attempts=Invitation.failed_attempts + 1)
    )
    return Redemption(Outcome.REFUSED)
