"""What a person subscribes to ("alert me about critical stock", "the daily digest at 7"),
their quiet hours, and the digests that are due (enqueued as their own executions, pushed when
they finish)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from misybot.db.models import Company, Subscription, User
from misybot.db.types import utc_now
from misybot.enums import AlertSeverity
from misybot.errors import MisybotError
from misybot.identity import person_conversation
from misybot.notify import outbox
from misybot.notify.times import DAY_MINUTES, clock, next_local, zone
from misybot.orchestrator.queue import enqueue, priority_for
from misybot.permissions import Operation
from misybot.store.tenancy import Actor

ALERTS, DIGEST = "alerts", "digest"
DEFAULT_DIGEST_MINUTE = 7 * 60


@dataclass(frozen=True)
class Standing:
    """A person's subscriptions and quiet hours, as a reply says them."""

    alerts: AlertSeverity | None
    digest_at: str | None  # "07:00"
    quiet: tuple[str, str] | None  # ("22:00", "07:00")
    timezone: str


def _person(session: Session, actor: Actor) -> tuple[User, Company]:
    if actor.user_id is None:
        raise MisybotError("only a registered person can subscribe")
    user = session.get(User, actor.user_id)
    company = session.get(Company, actor.company_id)
    if user is None or company is None or user.company_id != company.id:
        raise MisybotError("only a registered person can subscribe")
    return user, company


def _subscription(session: Session, user_id: int, kind: str) -> Subscription | None:
    return session.execute(
        select(Subscription).where(Subscription.user_id == user_id, Subscription.kind == kind)
    ).scalar_one_or_none()


def _upsert(session: Session, user: User, kind: str, **values) -> None:
    """The person's subscription of ``kind`` with ``values`` (created, or changed)."""
    row = _subscription(session, user.id, kind)
    if row is None:
        row = Subscription(company_id=user.company_id, user_id=user.id, kind=kind)
        row.created_at = utc_now()
        session.add(row)
    for name, value in values.items():
        setattr(row, name, value)
    session.flush()


def subscribe_alerts(
    session: Session, actor: Actor, min_severity: AlertSeverity | str | None = None
) -> Standing:
    """New alerts of ``min_severity`` or worse (critical or high; high by default) from now on."""
    actor.require(Operation.VIEW)
    user, _company = _person(session, actor)
    severity = AlertSeverity(min_severity or AlertSeverity.HIGH)
    if severity not in outbox.PUSHED_SEVERITIES:
        severity = AlertSeverity.HIGH  # medium and low are for "show alerts", not for pushes
    _upsert(session, user, ALERTS, min_severity=severity)
    return standing(session, actor)


def subscribe_digest(
    session: Session, actor: Actor, at_minute: int | None, now: datetime | None = None
) -> Standing:
    """The daily digest at ``at_minute`` after local midnight (07:00 when not said)."""
    actor.require(Operation.VIEW)
    user, company = _person(session, actor)
    minute = DEFAULT_DIGEST_MINUTE if at_minute is None else at_minute % DAY_MINUTES
    next_at = next_local(minute, zone(company.timezone), now or utc_now())
    _upsert(session, user, DIGEST, at_minute=minute, next_at=next_at)
    return standing(session, actor)


def unsubscribe(session: Session, actor: Actor, kinds: tuple[str, ...] = (ALERTS, DIGEST)) -> int:
    """End the person's subscriptions of ``kinds``; how many there were."""
    user, _company = _person(session, actor)
    return session.execute(
        delete(Subscription).where(Subscription.user_id == user.id, Subscription.kind.in_(kinds))
    ).rowcount


def set_quiet_hours(session: Session, actor: Actor, span: tuple[int, int] | None) -> Standing:
    """Nothing is pushed from ``span[0]`` to ``span[1]`` local time (None: no quiet hours)."""
    user, _company = _person(session, actor)
    user.quiet_from, user.quiet_until = span if span else (None, None)
    session.flush()
    return standing(session, actor)


def standing(session: Session, actor: Actor) -> Standing:
    user, company = _person(session, actor)
    alerts = _subscription(session, user.id, ALERTS)
    digest = _subscription(session, user.id, DIGEST)
    quiet = None
    if user.quiet_from is not None and user.quiet_until is not None:
        quiet = (clock(user.quiet_from), clock(user.quiet_until))
    return Standing(
        alerts=AlertSeverity(alerts.min_severity) if alerts else None,
        digest_at=clock(digest.at_minute) if digest else None,
        quiet=quiet,
        timezone=company.timezone,
    )


def follow_timezone(session: Session, company_id: int, now: datetime | None = None) -> int:
    """After the company's zone changed: each digest's next time, at its hour in the new zone."""
    company = session.get(Company, company_id)
    rows = session.execute(
        select(Subscription).where(
            Subscription.company_id == company_id, Subscription.kind == DIGEST
        )
    ).scalars()
    moved = 0
    for row in rows:
        row.next_at = next_local(row.at_minute, zone(company.timezone), now or utc_now())
        moved += 1
    return moved


# ------------------------------------------------------------------------------ due digests
def next_digest_at(db: Session | Connection) -> datetime | None:
    return db.execute(
        select(func.min(Subscription.next_at)).where(Subscription.kind == DIGEST)
    ).scalar_one()


def enqueue_due_digests(
    session: Session, priorities: Mapping[str, int], max_attempts: int = 3
) -> list[int]:
    """One ``daily_digest`` execution for every digest that is due, pushed to its person when
    it finishes; each moves to the next day's time in its company's zone (so 07:00 stays 07:00
    across a DST change). A subscription that missed days while nothing ran fires once."""
    now = utc_now()
    query = (
        select(Subscription, User, Company)
        .join(User, User.id == Subscription.user_id)
        .join(Company, Company.id == Subscription.company_id)
        .where(Subscription.kind == DIGEST, Subscription.next_at <= now)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(of=Subscription, skip_locked=True)
    created = []
    for subscription, user, company in session.execute(query).all():
        previous = subscription.next_at
        following = next_local(subscription.at_minute, zone(company.timezone), now)
        moved = session.execute(
            update(Subscription)
            .where(Subscription.id == subscription.id, Subscription.next_at == previous)
            .values(next_at=following)
            .execution_options(synchronize_session=False)
        ).rowcount
        if not moved or not user.active:
            continue
        persona = user.persona.value if user.persona else None
        context = {
            "command": "daily_digest",
            "intent": "daily_digest",
            "entities": {},
            "text": "daily digest (subscription)",
            "sender_id": person_conversation(user.id),
            "persona": persona,
            "subscription_id": subscription.id,
            "due_at": previous.isoformat(),
            **outbox.notify_context("always"),
        }
        created.append(
            enqueue(
                session,
                company_id=company.id,
                user_id=user.id,
                agent_type="daily_digest",
                context=context,
                priority=priority_for("daily_digest", persona, priorities),
                max_attempts=max_attempts,
            )
        )
    return created
