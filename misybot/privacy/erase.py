"""Erase a person from every store, keeping the business records (``misybot privacy erase``)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import case, delete, null, or_, select, update
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
    Notification,
    OutboundMessage,
    Report,
    SenderRateSchedule,
    Subscription,
    Understanding,
)
from misybot.db.types import utc_now
from misybot.enums import InboxStatus
from misybot.errors import Conflict
from misybot.people import audit
from misybot.people.team import find_user
from misybot.permissions import Operation
from misybot.privacy.digests import provider_id_digest
from misybot.privacy.footprint import emails_of, footprint, like_pattern, sent_to_them
from misybot.store.tenancy import Actor

ERASED_ADDRESS = "erased"


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
            status=_finished_status(),
            error=_erased_note(),
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    receipt["outbound_messages"] = session.execute(
        update(OutboundMessage)
        .where(sent_to_them(found.addresses, found.message_ids))
        .values(recipient_address=ERASED_ADDRESS, body="", media=null(), error_message=None)
        .execution_options(synchronize_session=False)
    ).rowcount
    receipt["email_outbox"] = session.execute(
        delete(EmailOutbox)
        .where(
            or_(
                EmailOutbox.recipient.in_(emails_of(found.addresses) or [""]),
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
                    SenderRateSchedule.sender.like(f"%:{like_pattern(c)}", escape="\\")
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
    receipt["understandings"] = session.execute(
        delete(Understanding).where(
            or_(
                Understanding.user_id == user.id,
                Understanding.conversation_id.in_(conversations),
            )
        )
    ).rowcount
    receipt["subscriptions"] = session.execute(
        delete(Subscription).where(Subscription.user_id == user.id)
    ).rowcount
    receipt["notifications"] = session.execute(
        delete(Notification).where(Notification.user_id == user.id)
    ).rowcount
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
    user.quiet_from = user.quiet_until = None
    user.active = False
    receipt["users"] = 1
    audit.record(session, admin, admin.company_id, "privacy.erase", user.id, receipt=dict(receipt))
    session.flush()
    receipt["report_files"] = _remove(files)
    return receipt


def _finished_status():
    """A message erased before it was processed is not processed afterwards (failed, with the
    reason); the others keep their status, so counts of what was answered stay true."""
    waiting = ConversationMessage.status == InboxStatus.RECEIVED.value
    return case((waiting, InboxStatus.FAILED.value), else_=ConversationMessage.status)


def _erased_note():
    waiting = ConversationMessage.status == InboxStatus.RECEIVED.value
    return case((waiting, "erased before it was processed"), else_=null())


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
