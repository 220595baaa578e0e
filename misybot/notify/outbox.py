"""The notifications outbox: one row per thing to tell one person unasked — a finished run of
their recurring schedule or digest (``result``), a new alert they subscribed to (``alert``).

A row is pending until a worker pushes it (claimed under a short lease, so two workers never
push one row); held while no channel can carry it, until the person writes; pushed later when
their quiet hours end. The unique keys (person, execution) and (person, alert) make "once each"
a property of the table: a scan that sees an alert again, a worker that retries, add nothing."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, func, insert, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from misybot.db.models import (
    AgentExecution,
    Alert,
    Company,
    ConversationMessage,
    Notification,
    Subscription,
    User,
)
from misybot.db.types import utc_now
from misybot.enums import AlertSeverity, AlertStatus
from misybot.notify.news import has_news
from misybot.orchestrator.queue.common import take_under_lease
from misybot.orchestrator.queue.schedules import NOTIFY_KEY  # whom a result is pushed to

PENDING, HELD, SENT, FAILED = "pending", "held", "sent", "failed"
RESULT, ALERT = "result", "alert"
MODES = ("new", "always", "never")
PUSHED_SEVERITIES = (AlertSeverity.CRITICAL, AlertSeverity.HIGH)  # what alerts can push


def notify_context(mode: str) -> dict[str, Any]:
    """What an execution's context says so its finished result is pushed to its user."""
    return {NOTIFY_KEY: mode if mode in MODES else "new"}


def reports_to_someone(context: Mapping[str, Any] | None) -> bool:
    """Whether an execution's result is pushed to its user (a recurring run, a digest)."""
    return (context or {}).get(NOTIFY_KEY) in ("new", "always")


def on_finished(
    session: Session,
    *,
    execution_id: int,
    company_id: int,
    user_id: int | None,
    agent_type: str,
    context: Mapping[str, Any],
    result: Mapping[str, Any] | None,
) -> int | None:
    """Queue the push of a finished execution to its user when its context asks for one and
    (mode ``new``) it has news — or it failed, which is news. Returns the notification's id."""
    if user_id is None or not reports_to_someone(context):
        return None
    mode = context[NOTIFY_KEY]
    if mode == "new" and result is not None and not has_news(agent_type, result):
        return None
    return _add(session, company_id, user_id, RESULT, execution_id=execution_id)


def fan_out_alerts(session: Session, company_id: int) -> list[int]:
    """One pending notification per (new alert, subscriber of ``company_id``) not told yet: open
    alerts at or above the subscriber's severity, raised since they subscribed."""
    rows = session.execute(
        select(Subscription.user_id, Subscription.min_severity, Subscription.created_at)
        .join(User, User.id == Subscription.user_id)
        .where(
            Subscription.company_id == company_id,
            Subscription.kind == "alerts",
            User.active.is_(True),  # a deactivated person is told nothing
        )
    ).all()
    created: list[int] = []
    for user_id, min_severity, since in rows:
        wanted = _at_least(AlertSeverity(min_severity or AlertSeverity.HIGH))
        told = exists().where(Notification.user_id == user_id, Notification.alert_id == Alert.id)
        alerts = session.execute(
            select(Alert.id)
            .where(
                Alert.company_id == company_id,
                Alert.status == AlertStatus.OPEN,
                Alert.severity.in_(wanted),
                Alert.created_at >= since,
                ~told,
            )
            .order_by(Alert.id)
        ).scalars()
        for alert_id in alerts:
            notification = _add(session, company_id, user_id, ALERT, alert_id=alert_id)
            if notification is not None:
                created.append(notification)
    return created


def has_alert_subscribers(session: Session | Connection, company_id: int) -> bool:
    return (
        session.execute(
            select(Subscription.id)
            .where(Subscription.company_id == company_id, Subscription.kind == "alerts")
            .limit(1)
        ).first()
        is not None
    )


def _at_least(severity: AlertSeverity) -> list[AlertSeverity]:
    order = list(AlertSeverity)  # critical, high, medium, low
    return [s for s in order[: order.index(severity) + 1] if s in PUSHED_SEVERITIES]


def _add(
    session: Session, company_id: int, user_id: int, kind: str, **reference: int
) -> int | None:
    """Insert a pending notification unless that person has it already (a savepoint keeps the
    caller's transaction when the unique key says so)."""
    now = utc_now()
    try:
        with session.begin_nested():
            return session.execute(
                insert(Notification).values(
                    company_id=company_id,
                    user_id=user_id,
                    kind=kind,
                    status=PENDING,
                    attempts=0,
                    available_at=now,
                    created_at=now,
                    **reference,
                )
            ).inserted_primary_key[0]
    except IntegrityError:
        return None


# ------------------------------------------------------------------------------ pushing them
@dataclass(frozen=True)
class Due:
    """A claimed notification: whom it is for and in which zone their quiet hours are."""

    id: int
    user_id: int
    kind: str
    attempts: int
    quiet_from: int | None
    quiet_until: int | None
    timezone: str
    active: bool


def next_due(db: Session | Connection) -> datetime | None:
    """When a pending notification next comes due (an index range on (status, available_at))."""
    return db.execute(
        select(func.min(Notification.available_at)).where(Notification.status == PENDING)
    ).scalar_one()


def claim(session: Session, worker_id: str, lease_s: float, limit: int = 20) -> list[Due]:
    """Pending notifications that are due, each taken under a short lease; a result's only
    once its execution finished."""
    now = utc_now()
    due = and_(
        Notification.status == PENDING,
        Notification.available_at <= now,
        or_(Notification.lease_expires_at.is_(None), Notification.lease_expires_at < now),
    )
    order = (Notification.available_at, Notification.id)
    taken = take_under_lease(
        session, Notification, due, order, worker_id, lease_s, limit, "attempts"
    )
    if not taken:
        return []
    rows = session.execute(
        select(
            Notification.id,
            Notification.user_id,
            Notification.kind,
            Notification.attempts,
            User.quiet_from,
            User.quiet_until,
            Company.timezone,
            User.active,
        )
        .join(User, User.id == Notification.user_id)
        .join(Company, Company.id == Notification.company_id)
        .where(Notification.id.in_(taken))
        .order_by(Notification.id)
    ).all()
    return [Due(*row) for row in rows]


def _settle(session: Session, notification_id: int, **values: Any) -> None:
    session.execute(
        update(Notification)
        .where(Notification.id == notification_id)
        .values(lease_owner=None, lease_expires_at=None, **values)
        .execution_options(synchronize_session=False)
    )


def sent(session: Session, notification_id: int, transport: str) -> None:
    _settle(session, notification_id, status=SENT, channel=transport, sent_at=utc_now(), note=None)


def hold(session: Session, notification_id: int, reason: str) -> None:
    """No channel can carry it now: kept until the person writes (``release_held``)."""
    _settle(session, notification_id, status=HELD, available_at=utc_now(), note=reason[:255])


def later(session: Session, notification_id: int, at: datetime, reason: str) -> None:
    """Try again at ``at`` (quiet hours end, a failed push's backoff)."""
    _settle(session, notification_id, available_at=at, note=reason[:255])


def give_up(session: Session, notification_id: int, reason: str) -> None:
    _settle(session, notification_id, status=FAILED, note=reason[:255])


_WROTE_SINCE = exists().where(
    ConversationMessage.user_id == Notification.user_id,
    ConversationMessage.received_at > Notification.available_at,
)


def releasable(db: Session | Connection) -> bool:
    """Whether someone wrote since something was held for them (a read)."""
    query = select(Notification.id).where(Notification.status == HELD, _WROTE_SINCE).limit(1)
    return db.execute(query).first() is not None


def release_held(db: Session | Connection) -> int:
    """What was held for people who have written since goes out now, in the window their
    message opened."""
    return db.execute(
        update(Notification)
        .where(Notification.status == HELD, _WROTE_SINCE)
        .values(status=PENDING, available_at=utc_now(), note="released: they wrote")
        .execution_options(synchronize_session=False)
    ).rowcount


def for_person(session: Session, notification_id: int, user_id: int) -> Notification | None:
    """The notification, only if it is ``user_id``'s (a pushed id is checked against who the
    conversation's verified sender is)."""
    return session.execute(
        select(Notification).where(
            Notification.id == notification_id, Notification.user_id == user_id
        )
    ).scalar_one_or_none()


def finished_execution(session: Session, notification: Notification) -> AgentExecution | None:
    if notification.execution_id is None:
        return None
    return session.get(AgentExecution, notification.execution_id)


@dataclass(frozen=True)
class Content:
    """What a pushed notification says: a finished execution, or an alert (as shown)."""

    kind: str
    company: str  # the company's slug (its reports folder)
    execution: Any = None  # misybot.orchestrator.queue.ExecutionView
    alert: dict[str, Any] | None = None


def content_for(session: Session, notification_id: int, user_id: int) -> Content | None:
    """The content of ``user_id``'s notification (None: not theirs, or nothing left to say)."""
    from misybot.agents.alerts import alert_infos
    from misybot.orchestrator.queue import view

    notification = for_person(session, notification_id, user_id)
    if notification is None:
        return None
    if notification.kind == RESULT and notification.execution_id is not None:
        execution = session.get(AgentExecution, notification.execution_id)
        if execution is None or execution.company_id != notification.company_id:
            return None
        return Content(RESULT, _slug(session, notification), execution=view(session, execution))
    if notification.kind == ALERT and notification.alert_id is not None:
        alert = session.get(Alert, notification.alert_id)
        if alert is None or alert.company_id != notification.company_id:
            return None
        (info,) = alert_infos(session, alert.company_id, [alert])
        shown = {
            key: (value.value if hasattr(value, "value") else value)
            for key, value in info.__dict__.items()
        }
        return Content(ALERT, _slug(session, notification), alert=shown)
    return None


def _slug(session: Session, notification: Notification) -> str:
    return session.get(Company, notification.company_id).slug
