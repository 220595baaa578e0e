"""A person's data, as one JSON document (``misybot privacy export``)."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from misybot.db.models import (
    AgentExecution,
    AgentSchedule,
    ChannelIdentity,
    ConversationEvent,
    ConversationMessage,
    Notification,
    OutboundMessage,
    Report,
    Subscription,
    Understanding,
)
from misybot.db.types import utc_now
from misybot.people import audit
from misybot.people.team import find_user
from misybot.permissions import Operation
from misybot.privacy.footprint import footprint, sent_to_them
from misybot.store.tenancy import Actor


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
        .where(sent_to_them(found.addresses, found.message_ids))
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
        "understandings": [
            _row(
                u,
                "message_id",
                "channel",
                "text",
                "intent",
                "confidence",
                "runner_up",
                "margin",
                "entities",
                "action",
                "created_at",
            )  # fmt: skip
            for u in session.execute(
                select(Understanding)
                .where(
                    or_(
                        Understanding.user_id == user.id,
                        Understanding.conversation_id.in_(sorted(found.conversations)),
                    )
                )
                .order_by(Understanding.id)
            ).scalars()
        ],
        "subscriptions": [
            _row(s, "kind", "min_severity", "at_minute", "next_at", "created_at")
            for s in session.execute(
                select(Subscription).where(Subscription.user_id == user.id)
            ).scalars()
        ],
        "quiet_hours": {"from_minute": user.quiet_from, "until_minute": user.quiet_until},
        "notifications": [
            _row(
                n,
                "id",
                "kind",
                "execution_id",
                "alert_id",
                "status",
                "channel",
                "note",
                "created_at",
                "sent_at",
            )  # fmt: skip
            for n in session.execute(
                select(Notification)
                .where(Notification.user_id == user.id)
                .order_by(Notification.id)
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
