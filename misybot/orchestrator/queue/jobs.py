"""The execution queue on ``agent_executions``: enqueue, claim with a lease, renew, finish, retry,
cancel.

Claims take the highest priority first, then the oldest. On PostgreSQL ``FOR UPDATE SKIP LOCKED``
lets any number of worker processes share the queue and ``NOTIFY`` wakes idle ones; elsewhere
(SQLite) a compare-and-set ``UPDATE`` claims a row, safe for one worker process."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, insert, or_, select, union_all, update
from sqlalchemy.orm import Session

from misybot.db.models import AgentExecution, AgentSchedule
from misybot.db.types import utc_now
from misybot.enums import ExecutionStatus
from misybot.orchestrator.queue.common import (
    Database,
    _columns,
    _executions,
    is_postgres,
    notify,
)


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
