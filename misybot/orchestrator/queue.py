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

from sqlalchemy import and_, bindparam, func, insert, or_, select, text, union_all, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from misybot.db.models import AgentExecution, AgentSchedule
from misybot.db.types import utc_now
from misybot.enums import ExecutionStatus

NOTIFY_CHANNEL = "misybot_executions"
FINISHED = (ExecutionStatus.SUCCEEDED, ExecutionStatus.FAILED, ExecutionStatus.CANCELLED)
ACTIVE = (ExecutionStatus.QUEUED, ExecutionStatus.RUNNING)

# The hot path (enqueue, claim, finish, renew) runs statements built once here, on the table
# rather than the mapped class: no statement construction, cache-key walk or ORM bookkeeping per
# job (they cost more than the database work itself). ``Database`` is a Session or a Connection.
Database = Session | Connection
_executions = AgentExecution.__table__
_columns = _executions.c


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


def is_postgres(db: Database) -> bool:
    dialect = db.get_bind().dialect if isinstance(db, Session) else db.dialect
    return dialect.name == "postgresql"


_NOTIFY = text("SELECT pg_notify(:channel, '')").bindparams(channel=NOTIFY_CHANNEL)


def notify(session: Session) -> None:
    """Wake idle PostgreSQL workers when this transaction commits (a no-op elsewhere); once per
    transaction, however many jobs it enqueues."""
    if not is_postgres(session):
        return
    transaction = session.get_transaction()
    if session.info.get("misybot_notified") is not transaction:
        session.execute(_NOTIFY)
        session.info["misybot_notified"] = transaction


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
    execution_id = session.execute(
        _ENQUEUE,
        {
            "company_id": company_id,
            "user_id": user_id,
            "agent_type": agent_type,
            "priority": priority,
            "status": ExecutionStatus.QUEUED,
            "context": dict(context),
            "attempts": 0,
            "max_attempts": max_attempts,
            "created_at": now,
            "available_at": available_at or now,
            "updated_at": now,
            "schedule_id": schedule_id,
        },
    ).inserted_primary_key[0]
    notify(session)
    return execution_id


_ENQUEUE = insert(_executions)


CLAIM_ORDER = (
    AgentExecution.priority.desc(),
    AgentExecution.available_at,
    AgentExecution.id,
)


def _claim_statements():
    """(PostgreSQL claim, portable candidate query, portable compare-and-set)."""
    now, batch = bindparam("now"), bindparam("batch")
    order = (_columns.priority.desc(), _columns.available_at, _columns.id)
    queued = and_(_columns.status == ExecutionStatus.QUEUED, _columns.available_at <= now)
    expired = and_(_columns.status == ExecutionStatus.RUNNING, _columns.lease_expires_at < now)
    claim_values = {
        "status": ExecutionStatus.RUNNING,
        "attempts": _columns.attempts + 1,
        "lease_owner": bindparam("worker_id"),
        "lease_expires_at": bindparam("lease_until"),
        "started_at": now,
        "updated_at": now,
    }

    # Queued rows and rows whose lease expired are looked up apart, each through its own index
    # in claim order (a single OR'd query sorts every queued row on every claim), locked with
    # SKIP LOCKED so concurrent claims take different rows, then merged; taken in one statement.
    def due(condition, name):
        columns = (_columns.id, _columns.priority, _columns.available_at)
        query = select(*columns).where(condition).order_by(*order).limit(batch)
        return query.with_for_update(skip_locked=True).cte(name)

    due_queued, due_expired = due(queued, "due_queued"), due(expired, "due_expired")
    merged = union_all(select(due_queued), select(due_expired)).subquery("due")
    best = (
        select(merged.c.id)
        .order_by(merged.c.priority.desc(), merged.c.available_at, merged.c.id)
        .limit(batch)
    )
    postgres = (
        update(_executions)
        .where(_columns.id.in_(best.scalar_subquery()))
        .values(claim_values)
        .returning(*_CLAIMED_COLUMNS)
    )
    # Elsewhere (SQLite: one worker process, BEGIN IMMEDIATE) pick, then compare-and-set.
    candidates = select(_columns.id).where(or_(queued, expired)).order_by(*order).limit(batch)
    take = (
        update(_executions)
        .where(_columns.id == bindparam("execution_id"), or_(queued, expired))
        .values(claim_values)
    )
    return postgres, candidates, take


_JOB_FIELDS = (
    "id",
    "agent_type",
    "company_id",
    "user_id",
    "context",
    "attempts",
    "max_attempts",
    "cancel_requested",
)
# What a claim reads back: the job, and what orders a batch.
_CLAIMED_COLUMNS = [_columns[name] for name in _JOB_FIELDS] + [
    _columns.priority,
    _columns.available_at,
]
_CLAIM_POSTGRES, _CLAIM_CANDIDATES, _CLAIM_ONE = _claim_statements()


def claim(db: Database, worker_id: str, lease_s: float, limit: int = 1) -> list[Job]:
    """Take up to ``limit`` executions for ``worker_id`` under a lease of ``lease_s`` seconds,
    best first. On PostgreSQL one statement, safe under any number of concurrent claimers (it
    needs no transaction of its own); elsewhere call it inside a write transaction."""
    now = utc_now()
    params = {
        "now": now,
        "batch": limit,
        "worker_id": worker_id,
        "lease_until": now + timedelta(seconds=lease_s),
    }
    if is_postgres(db):
        rows = db.execute(_CLAIM_POSTGRES, params).all()
    else:
        claimed = [
            execution_id
            for execution_id in db.execute(_CLAIM_CANDIDATES, params).scalars().all()
            if db.execute(_CLAIM_ONE, {**params, "execution_id": execution_id}).rowcount
        ]
        if not claimed:
            return []
        rows = db.execute(select(*_CLAIMED_COLUMNS).where(_columns.id.in_(claimed))).all()
    rows.sort(key=lambda row: (-row.priority, row.available_at, row.id))
    return [Job(*row[: len(_JOB_FIELDS)]) for row in rows]


def _owned():
    return and_(
        _columns.id == bindparam("execution_id"),
        _columns.status == ExecutionStatus.RUNNING,
        _columns.lease_owner == bindparam("worker_id"),
    )


def _finish_statement(**values):
    """Ending an execution: one statement, which applies only while the caller holds the lease."""
    now = bindparam("now")
    return (
        update(_executions)
        .where(_owned())
        .values(
            lease_owner=None,
            lease_expires_at=None,
            finished_at=now,
            updated_at=now,
            available_at=now,
            **values,
        )
    )


_COMPLETE = _finish_statement(status=ExecutionStatus.SUCCEEDED, result=bindparam("outcome"))
_FAIL = _finish_statement(status=ExecutionStatus.FAILED, error=bindparam("outcome"))
_CANCELLED = _finish_statement(status=ExecutionStatus.CANCELLED)


def _finish(db: Database, statement, execution_id: int, worker_id: str, outcome=None) -> bool:
    params = {
        "execution_id": execution_id,
        "worker_id": worker_id,
        "now": utc_now(),
        "outcome": outcome,
    }
    return bool(db.execute(statement, params).rowcount)


_RENEW = (
    update(_executions)
    .where(
        _columns.id.in_(bindparam("execution_ids", expanding=True)),
        _columns.status == ExecutionStatus.RUNNING,
        _columns.lease_owner == bindparam("worker_id"),
    )
    .values(lease_expires_at=bindparam("lease_until"), updated_at=bindparam("now"))
)
_STILL_OWNED = select(_columns.id, _columns.cancel_requested).where(
    _columns.id.in_(bindparam("execution_ids", expanding=True)),
    _columns.status == ExecutionStatus.RUNNING,
    _columns.lease_owner == bindparam("worker_id"),
)


def renew(
    db: Database, execution_ids: list[int], worker_id: str, lease_s: float
) -> dict[int, bool]:
    """Extend the leases of all of a worker's running executions at once; returns, for each one
    it still holds, whether cancellation was requested (the others' leases were lost)."""
    if not execution_ids:
        return {}
    now = utc_now()
    params = {
        "execution_ids": list(execution_ids),
        "worker_id": worker_id,
        "now": now,
        "lease_until": now + timedelta(seconds=lease_s),
    }
    db.execute(_RENEW, params)
    return {row.id: bool(row.cancel_requested) for row in db.execute(_STILL_OWNED, params)}


def complete(db: Database, execution_id: int, worker_id: str, result: dict) -> bool:
    """Record the result; False when the lease was lost (the caller must roll back)."""
    return _finish(db, _COMPLETE, execution_id, worker_id, result)


def fail(db: Database, execution_id: int, worker_id: str, error: str) -> bool:
    """Give up on the execution, keeping the error."""
    return _finish(db, _FAIL, execution_id, worker_id, error)


def mark_cancelled(db: Database, execution_id: int, worker_id: str) -> bool:
    return _finish(db, _CANCELLED, execution_id, worker_id)


def backoff_s(attempt: int, base_s: float, max_s: float, rng: random.Random | None = None) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(max, base * 2^(attempt-1))]."""
    ceiling = min(max_s, base_s * (2 ** max(attempt - 1, 0)))
    return (rng or random).uniform(ceiling / 2, ceiling)


_RETRY = (
    update(_executions)
    .where(_owned())
    .values(
        status=ExecutionStatus.QUEUED,
        lease_owner=None,
        lease_expires_at=None,
        error=bindparam("outcome"),
        available_at=bindparam("available_at"),
        updated_at=bindparam("now"),
    )
)


def retry_later(
    db: Database, execution_id: int, worker_id: str, error: str, delay_s: float
) -> bool:
    """Put the execution back in the queue after ``delay_s`` (a transient error)."""
    now = utc_now()
    params = {
        "execution_id": execution_id,
        "worker_id": worker_id,
        "outcome": error,
        "now": now,
        "available_at": now + timedelta(seconds=delay_s),
    }
    return bool(db.execute(_RETRY, params).rowcount)


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
