"""Who is acting for which company: every agent call carries an ``Actor``."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from misybot.db.models import ChannelIdentity, Company, User
from misybot.enums import Channel, Persona, Role
from misybot.errors import NotFound
from misybot.permissions import Operation, require


@dataclass(frozen=True)
class Actor:
    """The company an operation runs for and who runs it (``user_id`` None: a system process)."""

    company_id: int
    company_slug: str
    role: Role
    user_id: int | None = None
    user_name: str = "system"
    persona: Persona | None = None

    def require(self, operation: Operation) -> None:
        """Raise ``PermissionDenied`` unless this actor's role allows ``operation``."""
        require(self.role, operation)


def get_company(session: Session, slug: str) -> Company:
    """The company with ``slug``; ``NotFound`` otherwise (other tenants are never listed)."""
    company = session.execute(select(Company).where(Company.slug == slug)).scalar_one_or_none()
    if company is None:
        raise NotFound("company", slug)
    return company


def system_actor(company: Company, role: Role = Role.ADMIN) -> Actor:
    """An actor for scripts and schedulers of ``company`` (no user; admin unless told)."""
    return Actor(company_id=company.id, company_slug=company.slug, role=role)


def actor_for_user(company: Company, user: User) -> Actor:
    """The actor for ``user`` of ``company`` (the user must belong to it)."""
    if user.company_id != company.id or not user.active:
        raise NotFound("user", str(user.id))
    return Actor(
        company_id=company.id,
        company_slug=company.slug,
        role=Role(user.role),
        user_id=user.id,
        user_name=user.name,
        persona=Persona(user.persona) if user.persona else None,
    )


def resolve_actor(session: Session, company_slug: str, user: str | None = None) -> Actor:
    """The actor for ``company_slug`` and a user given by e-mail, phone or id (None: system)."""
    company = get_company(session, company_slug)
    if user is None:
        return system_actor(company)
    query = select(User).where(User.company_id == company.id, User.active.is_(True))
    if user.isdigit():
        query = query.where(User.id == int(user))
    elif "@" in user:
        query = query.where(func.lower(User.email) == user.strip().lower())
    else:
        query = query.where(User.phone == user.strip())
    found = session.execute(query).scalar_one_or_none()
    if found is None:
        raise NotFound("user", user)
    return actor_for_user(company, found)


def actor_for_identity(session: Session, channel: Channel, address: str) -> Actor:
    """The actor behind a channel address (a WhatsApp number, an e-mail); ``NotFound`` if none."""
    row = session.execute(
        select(User, Company)
        .join(ChannelIdentity, ChannelIdentity.user_id == User.id)
        .join(Company, Company.id == User.company_id)
        .where(ChannelIdentity.channel == Channel(channel), ChannelIdentity.address == address)
    ).one_or_none()
    if row is None:
        raise NotFound("user", address)
    return actor_for_user(row.Company, row.User)
