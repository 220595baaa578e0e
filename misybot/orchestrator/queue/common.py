"""What every part of the queue shares: the table, its statuses, the priority rule and the
wake-up of idle workers (NOTIFY on PostgreSQL, a poke after the commit on SQLite)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

from sqlalchemy import event, select, text, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from misybot.db.models import AgentExecution
from misybot.db.types import utc_now
from misybot.enums import ExecutionStatus
from misybot.orchestrator import wakeup

NOTIFY_CHANNEL = "misybot_executions"


FINISHED = (ExecutionStatus.SUCCEEDED, ExecutionStatus.FAILED, ExecutionStatus.CANCELLED)


ACTIVE = (ExecutionStatus.QUEUED, ExecutionStatus.RUNNING)


# The hot path (enqueue, claim, finish, renew) runs statements built once here, on the table
# rather than the mapped class: no statement construction, cache-key walk or ORM bookkeeping per
# job (they cost more than the database work itself). ``Database`` is a Session or a Connection.
Database = Session | Connection


_executions = AgentExecution.__table__


_columns = _executions.c


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
    """Wake idle workers when this transaction commits: NOTIFY on PostgreSQL, once per
    transaction however many jobs it enqueues; on SQLite a poke after the commit (see
    ``misybot.orchestrator.wakeup``), never before: the worker must find the job."""
    if not is_postgres(session):
        _poke_after_commit(session)
        return
    transaction = session.get_transaction()
    if session.info.get("misybot_notified") is not transaction:
        session.execute(_NOTIFY)
        session.info["misybot_notified"] = transaction


_POKE_PENDING = "misybot_poke_pending"


def _poke_after_commit(session: Session) -> None:
    if _POKE_PENDING not in session.info:  # the first enqueue on this session: listen once
        event.listen(session, "after_commit", _poke_on_commit)
        event.listen(session, "after_rollback", _forget_poke)
    session.info[_POKE_PENDING] = True


def _poke_on_commit(session: Session) -> None:
    # Releasing a SAVEPOINT commits nothing yet: only the outermost commit makes jobs visible.
    if session.info.get(_POKE_PENDING) and not session.in_nested_transaction():
        session.info[_POKE_PENDING] = False
        wakeup.poke(wakeup.wake_directory(session.get_bind().url.database))


def _forget_poke(session: Session) -> None:
    if not session.in_nested_transaction():  # (a SAVEPOINT's rollback may spare the enqueue)
        session.info[_POKE_PENDING] = False  # nothing was enqueued after all


def take_under_lease(
    session: Session,
    model,
    due,
    order,
    worker_id: str,
    lease_s: float,
    limit: int,
    counter: str,
) -> list[int]:
    """The ids of up to ``limit`` rows of ``model`` matching ``due`` (taken in ``order``), each
    leased to ``worker_id`` for ``lease_s`` with its ``counter`` column incremented. Another
    worker skips what is locked (PostgreSQL) or loses the compare-and-set (``due`` is checked
    again in the update); the rows a pushing worker owns until it settles them."""
    query = select(model.id).where(due).order_by(*order).limit(limit)
    if is_postgres(session):
        query = query.with_for_update(skip_locked=True)
    expires = utc_now() + timedelta(seconds=lease_s)
    taken = []
    for row_id in session.execute(query).scalars().all():
        if session.execute(
            update(model)
            .where(model.id == row_id, due)
            .values(
                lease_owner=worker_id,
                lease_expires_at=expires,
                **{counter: getattr(model, counter) + 1},
            )
            .execution_options(synchronize_session=False)
        ).rowcount:
            taken.append(row_id)
    return taken
