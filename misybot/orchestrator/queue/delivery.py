"""Whether a finished execution's result must still be pushed into its conversation, and who
pushes it (a short lease per delivery)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from misybot.db.models import AgentExecution
from misybot.db.types import utc_now
from misybot.orchestrator.queue.common import ACTIVE, take_under_lease
from misybot.orchestrator.queue.due import AWAITING_DELIVERY


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
        AWAITING_DELIVERY,  # spelt as the partial index is, so that it is used
        AgentExecution.delivery_attempts < max_attempts,
        AgentExecution.available_at <= now,
        or_(AgentExecution.lease_expires_at.is_(None), AgentExecution.lease_expires_at < now),
    )
    # Earliest due first, along the partial index (by id alone would walk the whole table).
    order = (AgentExecution.available_at, AgentExecution.id)
    taken = take_under_lease(
        session, AgentExecution, due, order, worker_id, lease_s, limit, "delivery_attempts"
    )
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
