"""The audit log: who changed which user, role or link, who exported or erased whose data.

Entries name people by id, never by name or address, so erasing a person leaves the history
of what was done to their account readable without keeping anything that identifies them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from misybot.db.models import AuditEntry
from misybot.store.tenancy import Actor


@dataclass(frozen=True)
class AuditRecord:
    id: int
    at: datetime
    action: str
    actor_user_id: int | None
    subject_user_id: int | None
    details: dict[str, Any]


def record(
    session: Session,
    actor: Actor | None,
    company_id: int,
    action: str,
    subject_user_id: int | None,
    **details: Any,
) -> None:
    """Add an entry (in the caller's transaction: it is kept exactly when the change is)."""
    session.add(
        AuditEntry(
            company_id=company_id,
            actor_user_id=actor.user_id if actor else None,
            action=action,
            subject_user_id=subject_user_id,
            details=details,
        )
    )


def entries(session: Session, company_id: int, user_id: int | None = None) -> list[AuditRecord]:
    """A company's entries, oldest first; with ``user_id``, those by or about that user."""
    query = select(AuditEntry).where(AuditEntry.company_id == company_id)
    if user_id is not None:
        query = query.where(
            or_(AuditEntry.subject_user_id == user_id, AuditEntry.actor_user_id == user_id)
        )
    return [
        AuditRecord(e.id, e.created_at, e.action, e.actor_user_id, e.subject_user_id, e.details)
        for e in session.execute(query.order_by(AuditEntry.id)).scalars()
    ]
