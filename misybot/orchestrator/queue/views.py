"""What the chat user sees of executions: status, age and place in the queue."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from misybot.db.models import AgentExecution
from misybot.db.types import utc_now
from misybot.enums import ExecutionStatus
from misybot.orchestrator.queue.common import (
    ACTIVE,
)
from misybot.orchestrator.queue.jobs import CLAIM_ORDER


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
