"""The caller's side of the queue (the action server): enqueue, wait briefly, run or stop agents.

Synchronous functions; the actions run them in a thread so the action server's loop never blocks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from misybot.orchestrator import queue
from misybot.permissions import Operation
from misybot.settings import get_settings
from misybot.store.tenancy import Actor


@dataclass(frozen=True)
class Submitted:
    execution_id: int
    priority: int


def submit(
    session: Session,
    actor: Actor,
    agent_type: str,
    context: dict[str, Any],
    priority_key: str | None = None,
) -> Submitted:
    """Enqueue ``agent_type`` for ``actor`` with the design's priority rule (looked up by
    ``priority_key``, the agent type by default)."""
    settings = get_settings()
    persona = context.get("persona") or (actor.persona.value if actor.persona else None)
    priority = queue.priority_for(priority_key or agent_type, persona, settings.priorities)
    execution_id = queue.enqueue(
        session,
        company_id=actor.company_id,
        user_id=actor.user_id,
        agent_type=agent_type,
        context={**context, "persona": persona, "role": actor.role.value},
        priority=priority,
        max_attempts=settings.max_attempts,
    )
    return Submitted(execution_id=execution_id, priority=priority)


def finished_view(session: Session, execution_id: int) -> queue.ExecutionView | None:
    """The execution once it has finished (None while it is queued or running)."""
    row = queue.get_execution(session, execution_id)
    if row is None or row.status not in queue.FINISHED:
        return None
    return queue.view(session, row)


def hand_over_or_finish(session: Session, execution_id: int) -> queue.ExecutionView | None:
    """After the inline deadline: ask for a pushed delivery (None), or — if it finished in the
    meantime — record the inline answer and return the execution."""
    if queue.request_delivery(session, execution_id):
        return None
    view = finished_view(session, execution_id)
    queue.mark_answered_inline(session, execution_id)
    return view


def answered_inline(session: Session, execution_id: int) -> None:
    queue.mark_answered_inline(session, execution_id)


def result_for(session: Session, execution_id: int, actor: Actor, conversation_id: str):
    """An execution ``actor`` started in the conversation ``conversation_id`` (None otherwise:
    a result is never released to another user, nor into another conversation)."""
    row = queue.get_execution(session, execution_id)
    if (
        row is None
        or row.company_id != actor.company_id
        or row.user_id != actor.user_id
        or (row.context or {}).get("sender_id") != conversation_id
    ):
        return None
    return queue.view(session, row)


def stop_agent(session: Session, actor: Actor, agent_type: str | None) -> dict[str, int]:
    """Cancel the company's queued and running executions of ``agent_type`` and its schedules."""
    actor.require(Operation.STOP_AGENT)
    return queue.cancel(session, actor.company_id, agent_type)


def agent_status(session: Session, actor: Actor) -> list[queue.ExecutionView]:
    """The company's running and queued executions, with age and place in the queue."""
    actor.require(Operation.VIEW)
    return queue.active_executions(session, actor.company_id)


def start_recurring(
    session: Session,
    actor: Actor,
    agent_type: str,
    context: dict[str, Any],
    interval_s: int | None = None,
    notify: str = "new",
) -> tuple[int, Submitted]:
    """Run ``agent_type`` now and then every ``interval_s`` (default: the configured interval)
    until stopped (persisted); each run's result is pushed to the person per ``notify``."""
    from datetime import timedelta

    from misybot.db.types import utc_now

    actor.require(Operation.RUN_AGENT)
    interval = interval_s or get_settings().recurring_interval_s
    row = queue.schedule(
        session,
        company_id=actor.company_id,
        user_id=actor.user_id,
        agent_type=agent_type,
        interval_s=interval,
        context={**context, "role": actor.role.value},
        first_run_at=utc_now() + timedelta(seconds=interval),
        notify=notify,
    )
    first = submit(session, actor, agent_type, queue.run_context(row))
    queue_row = queue.get_execution(session, first.execution_id)
    queue_row.schedule_id = row.id
    return row.id, first
