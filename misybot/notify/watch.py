"""What a finished execution sets off: the push of its result to the person who subscribed to
it, new alerts to their subscribers, and — when stock moved and someone listens for alerts —
a scan, so a stock-out is told within moments, not at the next monitor run."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from misybot.db.models import AgentExecution
from misybot.enums import ExecutionStatus
from misybot.notify import outbox
from misybot.notify.news import SCANS
from misybot.orchestrator.queue import enqueue, priority_for

STOCK_CHANGES = frozenset({"update_stock", "reorder_stock"})
SCAN_AGENT = "alert_generator"


def after_success(
    session: Session,
    *,
    execution_id: int,
    company_id: int,
    user_id: int | None,
    agent_type: str,
    context: Mapping[str, Any],
    result: Mapping[str, Any],
    priorities: Mapping[str, int],
) -> bool:
    """In the transaction that records the result; True when there is something to push."""
    pushed = outbox.on_finished(
        session,
        execution_id=execution_id,
        company_id=company_id,
        user_id=user_id,
        agent_type=agent_type,
        context=context,
        result=result,
    )
    if agent_type in SCANS:
        pushed = outbox.fan_out_alerts(session, company_id) or pushed
    elif agent_type in STOCK_CHANGES and outbox.has_alert_subscribers(session, company_id):
        scan_soon(session, company_id, user_id, context, priorities)
    return bool(pushed)


def scan_soon(
    session: Session,
    company_id: int,
    user_id: int | None,
    context: Mapping[str, Any],
    priorities: Mapping[str, int],
) -> int | None:
    """Queue an alert scan for the company, unless one is queued already (it will see this
    change too); it runs as the person who moved the stock, who may scan."""
    queued = session.execute(
        select(AgentExecution.id)
        .where(
            AgentExecution.company_id == company_id,
            AgentExecution.agent_type == SCAN_AGENT,
            AgentExecution.status == ExecutionStatus.QUEUED,
        )
        .limit(1)
    ).first()
    if queued is not None:
        return None
    return enqueue(
        session,
        company_id=company_id,
        user_id=user_id,
        agent_type=SCAN_AGENT,
        context={"command": SCAN_AGENT, "role": context.get("role"), "reason": "stock moved"},
        priority=priority_for(SCAN_AGENT, None, priorities),
    )
