"""When something next comes due without a new enqueue — a queued execution (a retry), an expiring
lease, a recurring run, a result to push, a digest, a notification — read in one statement: an
idle worker asks every second, so the question must cost next to nothing, on a table of any age."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, bindparam, func, not_, select

from misybot.db.models import AgentSchedule, Notification, Subscription
from misybot.enums import ExecutionStatus
from misybot.orchestrator.queue.common import Database, _columns

_schedules = AgentSchedule.__table__


# A finished execution whose result is still to be pushed, among every execution ever run.
# ``finished_at`` is set exactly when an execution finishes (queue.jobs): saying "finished" with
# it rather than with the status lets SQLite use the partial index
# ``ix_agent_executions_undelivered`` (misybot.db.models) instead of walking every finished row
# through the status index (17 ms a look at 60,000 executions, against 0.04).
AWAITING_DELIVERY = and_(
    _columns.deliver, not_(_columns.response_sent), _columns.finished_at.isnot(None)
)


def _earliest(column, *conditions):
    return select(func.min(column)).where(*conditions).scalar_subquery()


_DUE = select(
    _earliest(_columns.available_at, _columns.status == ExecutionStatus.QUEUED).label("queued"),
    _earliest(_columns.lease_expires_at, _columns.status == ExecutionStatus.RUNNING).label(
        "lease_expiry"
    ),
    _earliest(_schedules.c.next_run_at, _schedules.c.active.is_(True)).label("schedule"),
    _earliest(
        _columns.available_at,
        AWAITING_DELIVERY,
        _columns.delivery_attempts < bindparam("delivery_attempts"),
    ).label("delivery"),
    _earliest(Subscription.next_at, Subscription.kind == "digest").label("digest"),
    _earliest(Notification.available_at, Notification.status == "pending").label("notification"),
    _earliest(Notification.available_at, Notification.status == "held").label("held"),
)


@dataclass(frozen=True)
class DueTimes:
    """The earliest moment of each kind of due work (None: there is none)."""

    queued: datetime | None
    lease_expiry: datetime | None
    schedule: datetime | None
    delivery: datetime | None
    digest: datetime | None  # a subscribed daily digest (misybot.notify)
    notification: datetime | None  # something to push to a person unasked
    held: datetime | None  # kept until its person writes

    @property
    def next_claim(self) -> datetime | None:
        """When a claim may next find something (a queued row, an expired lease, a run)."""
        found = [t for t in (self.queued, self.lease_expiry, self.schedule) if t is not None]
        return min(found) if found else None


def due_times(db: Database, delivery_attempts: int) -> DueTimes:
    """When each kind of work next comes due; results that used up ``delivery_attempts``
    pushes are not waited for."""
    return DueTimes(*db.execute(_DUE, {"delivery_attempts": delivery_attempts}).one())
