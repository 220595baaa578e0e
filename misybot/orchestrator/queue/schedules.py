"""Recurring runs (``run_agent``): persisted schedules and the executions they enqueue when due."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from misybot.db.models import AgentSchedule
from misybot.db.types import utc_now
from misybot.orchestrator.queue.common import (
    is_postgres,
    priority_for,
)
from misybot.orchestrator.queue.jobs import enqueue

NOTIFY_KEY = "notify"  # misybot.notify.outbox reads it when the run finishes


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
    notify: str = "new",
) -> AgentSchedule:
    """Run ``agent_type`` every ``interval_s`` seconds until cancelled (persisted); each run's
    result is pushed to ``user_id`` per ``notify`` ("new": when it found something, "always",
    "never")."""
    row = AgentSchedule(
        notify=notify,
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
                context=run_context(row),
                priority=priority_for(
                    row.agent_type, (row.context or {}).get("persona"), priorities
                ),
                max_attempts=max_attempts,
                schedule_id=row.id,
            )
        )
    return created


def run_context(row: AgentSchedule) -> dict[str, Any]:
    """A run's context: the schedule's, plus whom its result is pushed to (its user, if any)."""
    context = dict(row.context or {})
    if row.user_id is not None:
        context[NOTIFY_KEY] = row.notify or "new"
    return context
