"""The moment the demo data is seeded at in these tests, and who acts on it."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session

from misybot import clock
from misybot.db.models import Company, User
from misybot.store.tenancy import Actor, actor_for_user, system_actor

NOW = datetime(2026, 3, 11, 15, 0, tzinfo=timezone.utc)  # a Wednesday afternoon
TODAY = clock.local_date(NOW)


def company(session: Session, slug: str = "demo") -> Company:
    return session.execute(select(Company).where(Company.slug == slug)).scalar_one()


def actor_as(session: Session, email_prefix: str, slug: str = "demo") -> Actor:
    """The actor for the seeded user whose e-mail starts with ``email_prefix``."""
    owner = company(session, slug)
    user = session.execute(
        select(User).where(User.company_id == owner.id, User.email.startswith(email_prefix))
    ).scalar_one()
    return actor_for_user(owner, user)


def admin(session: Session, slug: str = "demo") -> Actor:
    return system_actor(company(session, slug))
