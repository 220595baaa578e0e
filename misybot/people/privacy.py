"""Privacy requests: hand a person everything held about them, or erase it from every store.

A person is found in the stores by their user id and by every address of theirs: the channel
identities linked to them, the e-mail and phone of their profile, and the addresses of the
messages stored as theirs. Their conversations (the tracker store) are their person's
(``user:<id>``), the ones those addresses wrote in before they were linked (each provider's
spelling), and their local (``rest:``) conversations.

Erasing keeps the business records (stock movements, orders, alerts, report figures) and every
counter, pointing at an anonymised account, and removes what identifies the person or what
they wrote: profile fields, links, invitations, message bodies and addresses, conversation
events, their report files, what their agent runs were asked and answered. Of an inbound
message only a salted hash of its provider id is left (``provider_id_digest``, written with
every message), so a late redelivery is still a duplicate and is not answered.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, null, or_, select, update
from sqlalchemy.orm import Session

from misybot.db.models import (
    AgentExecution,
    AgentSchedule,
    ChannelIdentity,
    ConversationEvent,
    ConversationMessage,
    ConversationSnapshot,
    EmailOutbox,
    Invitation,
    LinkAttempt,
    OutboundMessage,
    Report,
    SenderRateSchedule,
    User,
)
from misybot.db.types import utc_now
from misybot.enums import Channel, InboxStatus
from misybot.errors import Conflict
from misybot.identity import person_conversation
from misybot.people import audit
from misybot.people.team import find_user
from misybot.permissions import Operation
from misybot.settings import get_settings
from misybot.store.tenancy import Actor

ERASED_ADDRESS = "erased"
LOCAL_NAMESPACE = "rest:"


def provider_id_digest(channel: Channel | str, provider_message_id: str | None) -> str | None:
    """A salted hash of a provider's message id (keyed with the installation's secret)."""
    if not provider_message_id:
        return None
    kind = channel.value if isinstance(channel, Channel) else str(channel)
    key = hmac.new(get_settings().signing_key, b"misybot erased message ids", hashlib.sha256)
    signed = f"{kind}\x00{provider_message_id}".encode("utf-8", "surrogatepass")
    return hmac.new(key.digest(), signed, hashlib.sha256).hexdigest()


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
        .where(_their_messages(user, found.addresses))
        .order_by(ConversationMessage.id)
    ).all()
    for message_id, _channel, payload in rows:
        found.message_ids.append(message_id)
        if isinstance(payload, dict) and isinstance(payload.get("sender"), str):
            found.conversations.add(payload["sender"])
    for channel, address in found.addresses:
        found.conversations.update(_conversation_ids(channel, address))
    local = [a for _, a in found.addresses]
    found.conversations.update(
        session.execute(
            select(ConversationEvent.conversation_id)
            .where(
                or_(
                    *(
                        ConversationEvent.conversation_id.like(
                            f"{LOCAL_NAMESPACE}{_like(a)}~%", escape="\\"
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


def _conversation_ids(channel: str, address: str) -> set[str]:
    """The conversation ids an address writes in, as each transport spells its sender."""
    ids = {address, f"{LOCAL_NAMESPACE}{address}"}
    if channel == Channel.WHATSAPP.value:
        ids |= {f"whatsapp:{address}", address.removeprefix("+")}
    return ids


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _their_messages(user: User, addresses: set[tuple[str, str]]):
    by_address = [
        (ConversationMessage.channel == channel) & (ConversationMessage.sender_address == address)
        for channel, address in addresses
    ]
    return or_(ConversationMessage.user_id == user.id, *by_address)


def _sent_to_them(addresses: set[tuple[str, str]], message_ids: list[int]):
    return or_(
        OutboundMessage.conversation_message_id.in_(message_ids or [-1]),
        *(
            (OutboundMessage.channel == channel) & (OutboundMessage.recipient_address == address)
            for channel, address in addresses
        ),
    )


def _emails(addresses: set[tuple[str, str]]) -> list[str]:
    return sorted(a for c, a in addresses if c == Channel.EMAIL.value)


# ------------------------------------------------------------------------------- export
def export_person(session: Session, admin: Actor, reference: str) -> dict[str, Any]:
    """Everything held about a user of the admin's company, as one JSON-ready document."""
    admin.require(Operation.MANAGE_USERS)
    user = find_user(session, admin.company_id, reference)
    found = footprint(session, user)
    inbound = session.execute(
        select(ConversationMessage)
        .where(ConversationMessage.id.in_(found.message_ids or [-1]))
        .order_by(ConversationMessage.id)
    ).scalars()
    outbound = session.execute(
        select(OutboundMessage)
        .where(_sent_to_them(found.addresses, found.message_ids))
        .order_by(OutboundMessage.id)
    ).scalars()
    events = session.execute(
        select(ConversationEvent.conversation_id, ConversationEvent.data)
        .where(ConversationEvent.conversation_id.in_(sorted(found.conversations)))
        .order_by(ConversationEvent.conversation_id, ConversationEvent.id)
    ).all()
    conversations: dict[str, list] = {}
    for conversation_id, data in events:
        conversations.setdefault(conversation_id, []).append(json.loads(data))
    document = {
        "exported_at": utc_now().isoformat(),
        "company": admin.company_slug,
        "profile": _row(
            user,
            "id",
            "name",
            "email",
            "phone",
            "role",
            "persona",
            "preferred_channel",
            "active",
            "created_at",
        ),
        "identities": [
            _row(i, "channel", "address", "verified_by", "verified_at", "created_at")
            for i in session.execute(
                select(ChannelIdentity).where(ChannelIdentity.user_id == user.id)
            ).scalars()
        ],
        "messages_received": [
            _row(
                m,
                "id",
                "channel",
                "sender_address",
                "provider_message_id",
                "body",
                "intent",
                "confidence",
                "entities",
                "received_at",
                "response_body",
                "responded_at",
                "status",
            )
            for m in inbound
        ],
        "messages_sent": [
            _row(
                m,
                "id",
                "channel",
                "recipient_address",
                "body",
                "media",
                "status",
                "created_at",
            )
            for m in outbound
        ],
        "conversations": conversations,
        "agent_executions": [
            _row(
                e,
                "id",
                "agent_type",
                "status",
                "context",
                "result",
                "error",
                "created_at",
                "finished_at",
            )
            for e in session.execute(
                select(AgentExecution)
                .where(
                    AgentExecution.user_id == user.id,
                    AgentExecution.company_id == admin.company_id,
                )
                .order_by(AgentExecution.id)
            ).scalars()
        ],
        "agent_schedules": [
            _row(s, "id", "agent_type", "interval_s", "context", "active", "created_at")
            for s in session.execute(
                select(AgentSchedule).where(AgentSchedule.user_id == user.id)
            ).scalars()
        ],
        "reports": [
            _row(
                r,
                "id",
                "report_type",
                "start_date",
                "end_date",
                "file_path",
                "chart_path",
                "summary",
                "created_at",
            )
            for r in session.execute(
                select(Report).where(Report.requested_by_id == user.id).order_by(Report.id)
            ).scalars()
        ],
        "audit": [
            {
                "at": entry.at.isoformat(),
                "action": entry.action,
                "by_user_id": entry.actor_user_id,
                "about_user_id": entry.subject_user_id,
                "details": entry.details,
            }
            for entry in audit.entries(session, admin.company_id, user.id)
        ],
    }
    audit.record(session, admin, admin.company_id, "privacy.export", user.id)
    return document


def _row(obj: Any, *names: str) -> dict[str, Any]:
    values = {}
    for name in names:
        value = getattr(obj, name)
        if hasattr(value, "isoformat"):
            value = value.isoformat()
        elif hasattr(value, "value"):
            value = value.value
        values[name] = value
    return values


# -------------------------------------------------------------------------------- erase
def erase_person(session: Session, admin: Actor, reference: str) -> dict[str, int]:
    """Erase a user of the admin's company from every store; a receipt: store → rows touched.

    One transaction for the database (the caller's); report files are removed after the
    rows that name them are updated, so a failure leaves nothing half-written in the tables.
    """
    admin.require(Operation.MANAGE_USERS)
    user = find_user(session, admin.company_id, reference)
    if user.id == admin.user_id:
        raise Conflict("an admin cannot erase themself; ask another admin")
    found = footprint(session, user)
    receipt: dict[str, int] = {}
    digests = session.execute(
        select(
            ConversationMessage.id,
            ConversationMessage.channel,
            ConversationMessage.provider_message_id,
        ).where(
            ConversationMessage.id.in_(found.message_ids or [-1]),
            ConversationMessage.provider_id_digest.is_(None),
            ConversationMessage.provider_message_id.is_not(None),
        )
    ).all()
    for message_id, channel, provider_id in digests:
        session.execute(
            update(ConversationMessage)
            .where(ConversationMessage.id == message_id)
            .values(provider_id_digest=provider_id_digest(channel, provider_id))
        )
    receipt["conversation_messages"] = session.execute(
        update(ConversationMessage)
        .where(ConversationMessage.id.in_(found.message_ids or [-1]))
        .values(
            sender_address=ERASED_ADDRESS,
            provider_message_id=None,
            body="",
            entities=null(),
            response_body=None,
            payload=null(),
            error=None,
            status=_finished_status(),
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    receipt["outbound_messages"] = session.execute(
        update(OutboundMessage)
        .where(_sent_to_them(found.addresses, found.message_ids))
        .values(recipient_address=ERASED_ADDRESS, body="", media=null(), error_message=None)
        .execution_options(synchronize_session=False)
    ).rowcount
    receipt["email_outbox"] = session.execute(
        delete(EmailOutbox)
        .where(
            or_(
                EmailOutbox.recipient.in_(_emails(found.addresses) or [""]),
                EmailOutbox.conversation_message_id.in_(found.message_ids or [-1]),
            )
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    conversations = sorted(found.conversations)
    session.execute(
        delete(ConversationSnapshot)
        .where(ConversationSnapshot.conversation_id.in_(conversations))
        .execution_options(synchronize_session=False)
    )
    receipt["tracker_store"] = session.execute(
        delete(ConversationEvent)
        .where(ConversationEvent.conversation_id.in_(conversations))
        .execution_options(synchronize_session=False)
    ).rowcount
    receipt["sender_rate_schedules"] = session.execute(
        delete(SenderRateSchedule)
        .where(
            or_(
                SenderRateSchedule.sender.in_(conversations),
                *(
                    SenderRateSchedule.sender.like(f"%:{_like(c)}", escape="\\")
                    for c in conversations
                ),
            )
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    receipt["link_attempts"] = session.execute(
        delete(LinkAttempt)
        .where(
            or_(
                *(
                    (LinkAttempt.channel == channel) & (LinkAttempt.address == address)
                    for channel, address in found.addresses
                ),
                LinkAttempt.id < 0,
            )
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    receipt["agent_executions"] = session.execute(
        update(AgentExecution)
        .where(AgentExecution.user_id == user.id)
        .values(context={}, result=null(), error=None)
        .execution_options(synchronize_session=False)
    ).rowcount
    receipt["agent_schedules"] = session.execute(
        update(AgentSchedule)
        .where(AgentSchedule.user_id == user.id)
        .values(context={}, active=False, stopped_at=utc_now())
        .execution_options(synchronize_session=False)
    ).rowcount
    files = []
    for report in session.execute(
        select(Report).where(Report.requested_by_id == user.id)
    ).scalars():
        files += [p for p in (report.file_path, report.chart_path) if p]
        report.file_path = report.chart_path = None
    receipt["invitations"] = session.execute(
        delete(Invitation).where(Invitation.user_id == user.id)
    ).rowcount
    receipt["channel_identities"] = session.execute(
        delete(ChannelIdentity).where(ChannelIdentity.user_id == user.id)
    ).rowcount
    user.name = f"Erased user {user.id}"
    user.email = None
    user.phone = None
    user.persona = None
    user.active = False
    receipt["users"] = 1
    audit.record(session, admin, admin.company_id, "privacy.erase", user.id, receipt=dict(receipt))
    session.flush()
    receipt["report_files"] = _remove(files)
    return receipt


def _finished_status() -> str:
    """A message erased before it was processed is not processed afterwards."""
    return InboxStatus.FAILED.value


def _remove(paths: list[str]) -> int:
    removed = 0
    for text in paths:
        path = Path(text)
        try:
            path.unlink()
            removed += 1
        except FileNotFoundError:
            continue
    return removed


# ---------------------------------------------------------------------------- retention
def apply_retention(session: Session, days: int) -> dict[str, int]:
    """Blank the bodies of messages older than ``days`` days (counters, intents, statuses and
    the business records they led to stay)."""
    cutoff = utc_now() - timedelta(days=days)
    done = [s.value for s in InboxStatus if s != InboxStatus.RECEIVED]
    return {
        "conversation_messages": session.execute(
            update(ConversationMessage)
            .where(
                ConversationMessage.received_at < cutoff,
                ConversationMessage.status.in_(done),
                or_(ConversationMessage.body != "", ConversationMessage.payload.is_not(None)),
            )
            .values(body="", entities=null(), response_body=None, payload=null())
            .execution_options(synchronize_session=False)
        ).rowcount,
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
