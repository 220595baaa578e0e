"""Team administration: a company's admin adds, changes, deactivates and links its people.

Every operation runs as a named admin of the company (``admin_actor``), touches only that
company's users, and leaves an audit entry in the same transaction. An address belongs to one
person: linking one another person holds is refused, saying who holds it when that person is in
the same company (and only that it is taken otherwise — another tenant's users are never named).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from misybot.db.models import ChannelIdentity, User
from misybot.db.types import utc_now
from misybot.enums import Channel, Persona, Role
from misybot.errors import Conflict, InvalidInput, NotFound
from misybot.people import audit
from misybot.people.addresses import email_address, normalise, phone_number
from misybot.permissions import Operation
from misybot.store.tenancy import Actor, actor_for_user, get_company

MAX_NAME_CHARS = 120
PROFILE_FIELDS = ("name", "email", "phone", "role", "persona", "preferred_channel")


@dataclass(frozen=True)
class Identity:
    channel: Channel
    address: str
    verified_by: str | None
    verified_at: datetime | None


@dataclass(frozen=True)
class Person:
    """A user as an admin sees them."""

    id: int
    name: str
    email: str | None
    phone: str | None
    role: Role
    persona: Persona | None
    preferred_channel: Channel
    active: bool
    identities: tuple[Identity, ...] = ()


def admin_actor(session: Session, company_slug: str, admin: str) -> Actor:
    """The active admin of ``company_slug`` named by e-mail, phone or id; refused otherwise."""
    company = get_company(session, company_slug)
    user = find_user(session, company.id, admin)
    if not user.active:
        raise NotFound("user", admin)
    actor = actor_for_user(company, user)
    actor.require(Operation.MANAGE_USERS)
    return actor


def find_user(session: Session, company_id: int, reference: str) -> User:
    """A user of ``company_id`` by id, e-mail or phone (in any spelling); ``NotFound``."""
    reference = (reference or "").strip()
    query = select(User).where(User.company_id == company_id)
    if reference.isdigit() and len(reference) < 10:
        query = query.where(User.id == int(reference))
    elif "@" in reference:
        try:
            query = query.where(func.lower(User.email) == email_address(reference))
        except InvalidInput:
            raise NotFound("user", reference) from None
    else:
        try:
            query = query.where(User.phone == phone_number(reference, _country()))
        except InvalidInput:
            raise NotFound("user", reference) from None
    found = session.execute(query).scalars().all()
    if len(found) != 1:
        raise NotFound("user", reference)
    return found[0]


def add_user(
    session: Session,
    admin: Actor,
    *,
    name: str,
    role: Role | str = Role.VIEWER,
    email: str | None = None,
    phone: str | None = None,
    persona: Persona | str | None = None,
    preferred_channel: Channel | str | None = None,
    country_code: str | None = None,
    via: str = "cli",
) -> Person:
    """A new active user of the admin's company (no channel is linked yet)."""
    admin.require(Operation.MANAGE_USERS)
    fields = profile(
        name=name,
        role=role,
        email=email,
        phone=phone,
        persona=persona,
        preferred_channel=preferred_channel,
        country_code=country_code,
    )
    fields.setdefault("role", Role.VIEWER)
    fields.setdefault("preferred_channel", _default_channel(fields))
    _check_unique(session, admin.company_id, fields)
    user = User(company_id=admin.company_id, active=True, **fields)
    session.add(user)
    session.flush()
    audit.record(session, admin, admin.company_id, "user.add", user.id, **_safe(fields, via))
    return show_user(session, admin, str(user.id))


def update_user(
    session: Session, admin: Actor, reference: str, country_code: str | None = None, **changes
) -> Person:
    """Change some of a user's profile fields (None: unchanged; "" clears e-mail, phone,
    persona)."""
    admin.require(Operation.MANAGE_USERS)
    user = find_user(session, admin.company_id, reference)
    given = {k: v for k, v in changes.items() if v is not None}
    unknown = set(given) - set(PROFILE_FIELDS)
    if unknown:
        raise InvalidInput(sorted(unknown)[0], "is not a profile field")
    cleared = {k for k, v in given.items() if v == "" and k in ("email", "phone", "persona")}
    fields = profile(country_code=country_code, **{k: v for k, v in given.items() if v != ""})
    fields.update(dict.fromkeys(cleared))
    _check_unique(session, admin.company_id, fields, except_id=user.id)
    changed = {k: v for k, v in fields.items() if getattr(user, k) != v}
    if (
        changed.get("role", Role.ADMIN) != Role.ADMIN
        and user.role == Role.ADMIN
        and user.active
        and _other_admins(session, admin.company_id, user.id) == 0
    ):
        raise Conflict("the company's last active admin cannot lose the admin role")
    for key, value in changed.items():
        setattr(user, key, value)
    if changed:
        audit.record(session, admin, admin.company_id, "user.update", user.id, **_safe(changed))
    return show_user(session, admin, str(user.id))


def set_active(session: Session, admin: Actor, reference: str, active: bool) -> Person:
    """Deactivate (nobody can write as them; their links and history stay) or reactivate."""
    admin.require(Operation.MANAGE_USERS)
    user = find_user(session, admin.company_id, reference)
    if user.active == active:
        state = "active" if active else "deactivated"
        raise Conflict(f"user {user.id} is already {state}")
    if (
        not active
        and user.role == Role.ADMIN
        and not _other_admins(session, user.company_id, user.id)
    ):
        raise Conflict("the company's last active admin cannot be deactivated")
    user.active = active
    action = "user.reactivate" if active else "user.deactivate"
    audit.record(session, admin, admin.company_id, action, user.id)
    return show_user(session, admin, str(user.id))


def link(
    session: Session,
    admin: Actor,
    reference: str,
    channel: Channel | str,
    address: str,
    country_code: str | None = None,
) -> Person:
    """Link ``address`` on ``channel`` to a user: from now on it is recognised as them."""
    user, kind, normal = _identity_of(session, admin, reference, channel, address, country_code)
    attach_identity(session, user, kind, normal, "admin")
    audit.record(
        session,
        admin,
        admin.company_id,
        "identity.link",
        user.id,
        channel=kind.value,
        via="admin",
    )
    return show_user(session, admin, str(user.id))


def attach_identity(
    session: Session, user: User, channel: Channel, address: str, verified_by: str
) -> ChannelIdentity:
    """Make ``address`` ``user``'s (already normalised); ``Conflict`` when someone else's."""
    held = session.execute(
        select(ChannelIdentity, User)
        .join(User, User.id == ChannelIdentity.user_id)
        .where(ChannelIdentity.channel == channel, ChannelIdentity.address == address)
    ).one_or_none()
    if held is not None:
        identity, holder = held
        if holder.id == user.id:
            return identity
        if holder.company_id == user.company_id:
            raise Conflict(
                f"{channel.value} {address} is already linked to {holder.name} (user {holder.id})"
            )
        raise Conflict(f"{channel.value} {address} is already linked to someone in another company")
    identity = ChannelIdentity(
        user_id=user.id,
        channel=channel,
        address=address,
        verified_by=verified_by,
        verified_at=utc_now(),
    )
    session.add(identity)
    session.flush()
    return identity


def unlink(
    session: Session,
    admin: Actor,
    reference: str,
    channel: Channel | str,
    address: str,
    country_code: str | None = None,
) -> Person:
    """Remove a link: the address is an unregistered sender again."""
    user, kind, normal = _identity_of(session, admin, reference, channel, address, country_code)
    identity = session.execute(
        select(ChannelIdentity).where(
            ChannelIdentity.user_id == user.id,
            ChannelIdentity.channel == kind,
            ChannelIdentity.address == normal,
        )
    ).scalar_one_or_none()
    if identity is None:
        raise NotFound(f"{kind.value} link of user {user.id}", normal)
    session.delete(identity)
    session.flush()
    audit.record(session, admin, admin.company_id, "identity.unlink", user.id, channel=kind.value)
    return show_user(session, admin, str(user.id))


def _identity_of(
    session: Session,
    admin: Actor,
    reference: str,
    channel: Channel | str,
    address: str,
    country_code: str | None,
) -> tuple[User, Channel, str]:
    """The admin's user ``reference`` and ``address`` on ``channel`` as identities spell it."""
    admin.require(Operation.MANAGE_USERS)
    user = find_user(session, admin.company_id, reference)
    kind = _channel(channel)
    return user, kind, normalise(kind, address, country_code or _country())


def list_users(session: Session, admin: Actor, include_inactive: bool = True) -> list[Person]:
    admin.require(Operation.MANAGE_USERS)
    query = select(User).where(User.company_id == admin.company_id)
    if not include_inactive:
        query = query.where(User.active.is_(True))
    users = session.execute(query.order_by(User.id)).scalars().all()
    return [_person(session, user) for user in users]


def show_user(session: Session, admin: Actor, reference: str) -> Person:
    admin.require(Operation.MANAGE_USERS)
    return _person(session, find_user(session, admin.company_id, reference))


def profile(country_code: str | None = None, **given) -> dict:
    """The given profile fields, checked and normalised (``InvalidInput`` says what is wrong)."""
    fields: dict = {}
    if given.get("name") is not None:
        name = " ".join(str(given["name"]).split())
        if not name:
            raise InvalidInput("name", "is empty")
        if len(name) > MAX_NAME_CHARS or any(ord(ch) < 32 for ch in name):
            raise InvalidInput("name", f"must be at most {MAX_NAME_CHARS} printable characters")
        fields["name"] = name
    if given.get("email") is not None:
        fields["email"] = email_address(given["email"])
    if given.get("phone") is not None:
        fields["phone"] = phone_number(given["phone"], country_code or _country())
    for key, kind in (("role", Role), ("persona", Persona), ("preferred_channel", Channel)):
        if given.get(key) is not None:
            fields[key] = _member(kind, key, given[key])
    return fields


def _member(kind, field_name: str, value):
    try:
        return kind(value.strip().lower() if isinstance(value, str) else value)
    except ValueError:
        allowed = ", ".join(member.value for member in kind)
        raise InvalidInput(field_name, f"{value!r} is not one of {allowed}") from None


def _channel(value: Channel | str) -> Channel:
    return _member(Channel, "channel", value)


def _default_channel(fields: dict) -> Channel:
    if fields.get("phone"):
        return Channel.WHATSAPP
    return Channel.EMAIL


def _check_unique(session: Session, company_id: int, fields: dict, except_id: int | None = None):
    """The company's users have distinct e-mail addresses and phone numbers."""
    for key in ("email", "phone"):
        if not fields.get(key):
            continue
        column = getattr(User, key)
        query = select(User).where(User.company_id == company_id, column == fields[key])
        if except_id is not None:
            query = query.where(User.id != except_id)
        holder = session.execute(query).scalars().first()
        if holder is not None:
            raise Conflict(f"{key} {fields[key]} is already {holder.name}'s (user {holder.id})")


def _other_admins(session: Session, company_id: int, user_id: int) -> int:
    return session.execute(
        select(func.count())
        .select_from(User)
        .where(
            User.company_id == company_id,
            User.role == Role.ADMIN,
            User.active.is_(True),
            User.id != user_id,
        )
    ).scalar_one()


def _safe(fields: dict, via: str | None = None) -> dict:
    """What an audit entry keeps of a change: which fields, and the values that identify
    nobody (role, persona, channel)."""
    kept: dict = {"fields": sorted(fields)}
    for key in ("role", "persona", "preferred_channel"):
        if key in fields:
            value = fields[key]
            kept[key] = value.value if value is not None else None
    if via:
        kept["via"] = via
    return kept


def _person(session: Session, user: User) -> Person:
    identities = session.execute(
        select(ChannelIdentity)
        .where(ChannelIdentity.user_id == user.id)
        .order_by(ChannelIdentity.channel, ChannelIdentity.id)
    ).scalars()
    return Person(
        id=user.id,
        name=user.name,
        email=user.email,
        phone=user.phone,
        role=Role(user.role),
        persona=Persona(user.persona) if user.persona else None,
        preferred_channel=Channel(user.preferred_channel),
        active=user.active,
        identities=tuple(
            Identity(Channel(i.channel), i.address, i.verified_by, i.verified_at)
            for i in identities
        ),
    )


def _country() -> str | None:
    from misybot.settings import get_settings

    return get_settings().default_country_code
