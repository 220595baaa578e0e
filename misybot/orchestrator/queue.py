"""The execution queue on ``agent_executions``: enqueue, claim with a lease, renew, finish, cancel.

Claims take the highest priority first, then the oldest. On PostgreSQL ``FOR UPDATE SKIP LOCKED``
lets any number of worker processes share the queue and ``NOTIFY`` wakes idle ones; elsewhere
(SQLite) a compare-and-set ``UPDATE`` claims a row, safe for one worker process.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, text, update
from sqlalchemy.orm import Session

from misybot.db.models import AgentExecution, AgentSchedule
from misybot.db.types import utc_now
from misybot.enums import ExecutionStatus

NOTIFY_CHANNEL = "misybot_executions"
FINISHED = (ExecutionStatus.SUCCEEDED, ExecutionStatus.FAILED, ExecutionStatus.CANCELLED)
ACTIVE = (ExecutionStatus.QUEUED, ExecutionStatus.RUNNING)


@dataclass(frozen=True)
class Job:
    """A claimed execution, as a worker sees it."""

    id: int
    agent_type: str
    company_id: int
    user_id: int | None
    context: dict
    attempts: int
    max_attempts: int
    cancel_requested: bool = False


@dataclass(frozen=True)
class ExecutionView:
    """An execution as the chat user sees it (status, age, place in the queue)."""

    id: int
    agent_type: str
    status: ExecutionStatus
    age_s: float
    position: int | None  # 1 = next to run; None once running
    result: dict | None
    error: str | None
    context: dict


def priority_for(agent_type: str, persona: str | None, rules: Mapping[str, int]) -> int:
    """The design's rule: the highest of the persona's and the agent type's priorities."""
    candidates = [rules.get("default", 5)]
    if persona and f"persona:{persona}" in rules:
        candidates.append(rules[f"persona:{persona}"])
    if agent_type in rules:
        candidates.append(rules[agent_type])
    return max(candidates)


def is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def notify(session: Session) -> None:
    """Wake idle PostgreSQL workers when this transaction commits (a no-op elsewhere)."""
    if is_postgres(session):
        session.execute(text("SELECT pg_notify(:channel, '')"), {"channel": NOTIFY_CHANNEL})


def enqueue(
    session: Session,
    *,
    company_id: int,
    agent_type: str,
    context: dict[str, Any],
    priority: int = 5,
    user_id: int | None = None,
    max_attempts: int = 3,
    schedule_id: int | None = None,
    available_at: datetime | None = None,
) -> int:
    """Add an execution to the queue; returns its id (visible to workers on commit)."""
    now = utc_now()
    execution = AgentExecution(
        company_id=company_id,
        user_id=user_id,
        agent_type=agent_type,
        priority=priority,
        status=ExecutionStatus.QUEUED,
        context=dict(context),
        attempts=0,
        max_attempts=max_attempts,
        created_at=now,
        available_at=available_at or now,
        schedule_id=schedule_id,
    )
    session.add(execution)
    session.flush()
    notify(session)
    return execution.id


def _claimable(now: datetime):
    """Queued and due, or running under a lease that expired (its worker died)."""
    return or_(
        and_(
            AgentExecution.status == ExecutionStatus.QUEUED,
            AgentExecution.available_at <= now,
        ),
        and_(
            AgentExecution.status == ExecutionStatus.RUNNING,
            AgentExecution.lease_expires_at < now,
        ),
    )


CLAIM_ORDER = (
    AgentExecution.priority.desc(),
    AgentExecution.available_at,
    AgentExecution.id,
)


def claim(session: Session, worker_id: str, lease_s: float, limit: int = 1) -> list[Job]:
    """Take up to ``limit`` executions for ``worker_id`` under a lease of ``lease_s`` seconds."""
    now = utc_now()
    candidates = (
        select(AgentExecution.id).where(_claimable(now)).order_by(*CLAIM_ORDER).limit(limit)
    )
    if is_postgres(session):
        # One statement: lock the best unlocked rows (others' claims are skipped) and take them.
        rows = session.execute(
            update(AgentExecution)
            .where(
                AgentExecution.id.in_(
                    candidates.with_for_update(skip_locked=True).scalar_subquery()
                )
            )
            .values(_claim_values(worker_id, now, lease_s))
            .returning(*_JOB_COLUMNS)
            .execution_options(synchronize_session=False)
        ).all()
        return sorted((Job(*row) for row in rows), key=lambda job: job.id)
    ids = session.execute(candidates).scalars().all()
    claimed = []
    for execution_id in ids:
        # Compare-and-set: on PostgreSQL the row is already locked; on SQLite this is the claim.
        taken = session.execute(
            update(AgentExecution)
            .where(AgentExecution.id == execution_id, _claimable(now))
            .values(_claim_values(worker_id, now, lease_s))
            .execution_options(synchronize_session=False)
        ).rowcount
        if taken:
            claimed.append(execution_id)
    if not claimed:
        return []
    rows = session.execute(
        select(*_JOB_COLUMNS).where(AgentExecution.id.in_(claimed)).order_by(*CLAIM_ORDER)
    ).all()
    return [Job(*row) for row in rows]


_JOB_COLUMNS = (
    AgentExecution.id,
    AgentExecution.agent_type,
    AgentExecution.company_id,
    AgentExecution.user_id,
    AgentExecution.context,
    AgentExecution.attempts,
    AgentExecution.max_attempts,
    AgentExecution.cancel_requested,
)


def _claim_values(worker_id: str, now: datetime, lease_s: float) -> dict:
    return {
        "status": ExecutionStatus.RUNNING,
        "attempts": AgentExecution.attempts + 1,
        "lease_owner": worker_id,
        "lease_expires_at": now + timedelta(seconds=lease_s),
        "started_at": now,
        "updated_at": now,
    }


def _owned(execution_id: int, worker_id: str):
    return and_(
        AgentExecution.id == execution_id,
        AgentExecution.status == ExecutionStatus.RUNNING,
        AgentExecution.lease_owner == worker_id,
    )


def renew(session: Session, execution_id: int, worker_id: str, lease_s: float) -> tuple[bool, bool]:
    """Extend the lease; returns (still owned, cancellation requested)."""
    now = utc_now()
    owned = session.execute(
        update(AgentExecution)
        .where(_owned(execution_id, worker_id))
        .values(lease_expires_at=now + timedelta(seconds=lease_s), updated_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    cancel = session.execute(
        select(AgentExecution.cancel_requested).where(AgentExecution.id == execution_id)
    ).scalar_one_or_none()
    return bool(owned), bool(cancel)


def cancel_requested(session: Session, execution_id: int) -> bool:
    return bool(
        session.execute(
            select(AgentExecution.cancel_requested).where(AgentExecution.id == execution_id)
        ).scalar_one_or_none()
    )


def _finish(
    session: Session, execution_id: int, worker_id: str, status: ExecutionStatus, **values
) -> bool:
    now = utc_now()
    return bool(
        session.execute(
            update(AgentExecution)
            .where(_owned(execution_id, worker_id))
            .values(
                status=status,
                lease_owner=None,
                lease_expires_at=None,
                finished_at=now,
                updated_at=now,
                available_at=now,
                **values,
            )
            .execution_options(synchronize_session=False)
        ).rowcount
    )


def complete(session: Session, execution_id: int, worker_id: str, result: dict) -> bool:
    """Record the result; False when the lease was lost (the caller must roll back)."""
    return _finish(session, execution_id, worker_id, ExecutionStatus.SUCCEEDED, result=result)


def fail(session: Session, execution_id: int, worker_id: str, error: str) -> bool:
    """Give up on the execution, keeping the error."""
    return _finish(session, execution_id, worker_id, ExecutionStatus.FAILED, error=error)


def mark_cancelled(session: Session, execution_id: int, worker_id: str) -> bool:
    return _finish(session, execution_id, worker_id, ExecutionStatus.CANCELLED)


def backoff_s(attempt: int, base_s: float, max_s: float, rng: random.Random | None = None) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(max, base * 2^(attempt-1))]."""
    ceiling = min(max_s, base_s * (2 ** max(attempt - 1, 0)))
    return (rng or random).uniform(ceiling / 2, ceiling)


def retry_later(
    session: Session, execution_id: int, worker_id: str, error: str, delay_s: float
) -> bool:
    """Put the execution back in the queue after ``delay_s`` (a transient error)."""
    now = utc_now()
    return bool(
        session.execute(
            update(AgentExecution)
            .where(_owned(execution_id, worker_id))
            .values(
                status=ExecutionStatus.QUEUED,
                lease_owner=None,
                lease_expires_at=None,
                error=error,
                available_at=now + timedelta(seconds=delay_s),
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        ).rowcount
    )


def cancel(session: Session, company_id: int, agent_type: str | None = None) -> dict[str, int]:
    """Cancel the company's queued executions (of ``agent_type``), ask running ones to stop, and
    end its recurring runs. Returns how many of each."""
    now = utc_now()
    scope = [AgentExecution.company_id == company_id]
    if agent_type:
        scope.append(AgentExecution.agent_type == agent_type)
    queued = session.execute(
        update(AgentExecution)
        .where(*scope, AgentExecution.status == ExecutionStatus.QUEUED)
        .values(status=ExecutionStatus.CANCELLED, finished_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    running = session.execute(
        update(AgentExecution)
        .where(*scope, AgentExecution.status == ExecutionStatus.RUNNING)
        .values(cancel_requested=True, updated_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    schedule_scope = [AgentSchedule.company_id == company_id, AgentSchedule.active.is_(True)]
    if agent_type:
        schedule_scope.append(AgentSchedule.agent_type == agent_type)
    schedules = session.execute(
        update(AgentSchedule)
        .where(*schedule_scope)
        .values(active=False, stopped_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    return {"queued": queued, "running": running, "schedules": schedules}


def get_execution(session: Session, execution_id: int, company_id: int | None = None):
    """The execution row (scoped to ``company_id`` when given), or None."""
    query = select(AgentExecution).where(AgentExecution.id == execution_id)
    if company_id is not None:
        query = query.where(AgentExecution.company_id == company_id)
    return session.execute(query).scalar_one_or_none()


def view(session: Session, execution: AgentExecution) -> ExecutionView:
    """What the user sees of one execution: its status, age and place in the queue."""
    position = None
    if execution.status == ExecutionStatus.QUEUED:
        # Everything that would be claimed before it, in any company (they share the workers).
        ahead = session.execute(
            select(func.count(AgentExecution.id)).where(
                AgentExecution.status == ExecutionStatus.QUEUED,
                or_(
                    AgentExecution.priority > execution.priority,
                    and_(
                        AgentExecution.priority == execution.priority,
                        or_(
                            AgentExecution.available_at < execution.available_at,
                            and_(
                                AgentExecution.available_at == execution.available_at,
                                AgentExecution.id < execution.id,
                            ),
                        ),
                    ),
                ),
            )
        ).scalar_one()
        position = ahead + 1
    return ExecutionView(
        id=execution.id,
        agent_type=execution.agent_type,
        status=ExecutionStatus(execution.status),
        age_s=(utc_now() - execution.created_at).total_seconds(),
        position=position,
        result=execution.result,
        error=execution.error,
        context=dict(execution.context or {}),
    )


def active_executions(session: Session, company_id: int) -> list[ExecutionView]:
    """The company's running and queued executions: running first, then in claim order."""
    rows = session.execute(
        select(AgentExecution)
        .where(AgentExecution.company_id == company_id, AgentExecution.status.in_(ACTIVE))
        .order_by(AgentExecution.status.desc(), *CLAIM_ORDER)
    ).scalars()
    return [view(session, row) for row in rows]


# ------------------------------------------------------------------------ delivery bookkeeping
def request_delivery(session: Session, execution_id: int) -> bool:
    """Ask the worker to push the result when it is ready; False when it is ready already
    (the caller answers inline instead)."""
    return bool(
        session.execute(
            update(AgentExecution)
            .where(AgentExecution.id == execution_id, AgentExecution.status.in_(ACTIVE))
            .values(deliver=True)
            .execution_options(synchronize_session=False)
        ).rowcount
    )


def mark_answered_inline(session: Session, execution_id: int) -> None:
    now = utc_now()
    session.execute(
        update(AgentExecution)
        .where(AgentExecution.id == execution_id)
        .values(response_sent=True, delivered_at=now)
        .execution_options(synchronize_session=False)
    )


def claim_delivery(
    session: Session, worker_id: str, lease_s: float, max_attempts: int, limit: int = 10
) -> list[AgentExecution]:
    """Finished executions whose result must still be pushed, each taken under a short lease."""
    now = utc_now()
    due = and_(
        AgentExecution.deliver.is_(True),
        AgentExecution.response_sent.is_(False),
        AgentExecution.status.in_(FINISHED),
        AgentExecution.delivery_attempts < max_attempts,
        AgentExecution.available_at <= now,
        or_(AgentExecution.lease_expires_at.is_(None), AgentExecution.lease_expires_at < now),
    )
    query = select(AgentExecution.id).where(due).order_by(AgentExecution.id).limit(limit)
    if is_postgres(session):
        query = query.with_for_update(skip_locked=True)
    taken = []
    for execution_id in session.execute(query).scalars().all():
        if session.execute(
            update(AgentExecution)
            .where(AgentExecution.id == execution_id, due)
            .values(
                lease_owner=worker_id,
                lease_expires_at=now + timedelta(seconds=lease_s),
                delivery_attempts=AgentExecution.delivery_attempts + 1,
            )
            .execution_options(synchronize_session=False)
        ).rowcount:
            taken.append(execution_id)
    if not taken:
        return []
    return list(
        session.execute(select(AgentExecution).where(AgentExecution.id.in_(taken))).scalars()
    )


def delivery_done(session: Session, execution_id: int) -> None:
    now = utc_now()
    session.execute(
        update(AgentExecution)
        .where(AgentExecution.id == execution_id)
        .values(response_sent=True, delivered_at=now, lease_owner=None, lease_expires_at=None)
        .execution_options(synchronize_session=False)
    )


def delivery_failed(session: Session, execution_id: int, error: str, retry_in_s: float) -> None:
    now = utc_now()
    session.execute(
        update(AgentExecution)
        .where(AgentExecution.id == execution_id)
        .values(
            lease_owner=None,
            lease_expires_at=None,
            available_at=now + timedelta(seconds=retry_in_s),
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )


# ------------------------------------------------------------------------- recurring runs
def schedule(
    session: Session,
    *,
    company_id: int,
    agent_type: str,
    interval_s: int,
    context: dict[str, Any],
    user_id: int | None = None,
    first_run_at: datetime | None = None,
) -> AgentSchedule:
    """Run ``agent_type`` every ``interval_s`` seconds until cancelled (persisted)."""
    row = AgentSchedule(
        company_id=company_id,
        user_id=user_id,
        agent_type=agent_type,
        interval_s=interval_s,
        context=dict(context),
        active=True,
        next_run_at=first_run_at or utc_now(),
    )
    session.add(row)
    session.flush()
    return row


def enqueue_due_schedules(
    session: Session, priorities: Mapping[str, int], max_attempts: int = 3
) -> list[int]:
    """Enqueue one execution for every schedule that is due and move it to its next time."""
    now = utc_now()
    query = select(AgentSchedule).where(
        AgentSchedule.active.is_(True), AgentSchedule.next_run_at <= now
    )
    if is_postgres(session):
        query = query.with_for_update(skip_locked=True)
    created = []
    for row in session.execute(query).scalars().all():
        previous = row.next_run_at
        following = previous + timedelta(seconds=row.interval_s)
        if following <= now:  # after downtime: run once, not once per missed slot
            following = now + timedelta(seconds=row.interval_s)
        moved = session.execute(
            update(AgentSchedule)
            .where(AgentSchedule.id == row.id, AgentSchedule.next_run_at == previous)
            .values(next_run_at=following)
            .execution_options(synchronize_session=False)
        ).rowcount
        if not moved:
            continue
        created.append(
            enqueue(
                session,
                company_id=row.company_id,
                user_id=row.user_id,
                agent_type=row.agent_type,
                context=row.context,
                priority=priority_for(
                    row.agent_type, (row.context or {}).get("persona"), priorities
                ),
                max_attempts=max_attempts,
                schedule_id=row.id,
            )
        )
    return created


def next_wakeup(session: Session) -> datetime | None:
    """When something next becomes claimable without a new enqueue (a retry, a lease, a run)."""
    times = [
        session.execute(
            select(func.min(AgentExecution.available_at)).where(
                AgentExecution.status == ExecutionStatus.QUEUED
            )
        ).scalar(),
        session.execute(
            select(func.min(AgentExecution.lease_expires_at)).where(
                AgentExecution.status == ExecutionStatus.RUNNING
            )
        ).scalar(),
        session.execute(
            select(func.min(AgentSchedule.next_run_at)).where(AgentSchedule.active.is_(True))
        ).scalar(),
    ]
    found = [t for t in times if t is not None]
    return min(found) if found else None
