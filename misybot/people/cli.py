"""``misybot users …`` and ``misybot privacy …``: a company's admin manages its people.

Every command names the company and the admin doing it (``--admin``, their e-mail, phone or
id); each change is audited. The one exception starts a company: while it has no active admin,
``users add --role admin`` needs no ``--admin`` (and is audited as the bootstrap).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from misybot.cli import EXIT_FAILED, EXIT_OK, _print_json, _run_in_session
from misybot.db.models import User
from misybot.enums import Channel, Persona, Role
from misybot.errors import MisybotError
from misybot.people import audit, team
from misybot.people.invitations import invite
from misybot.privacy.erase import erase_person
from misybot.privacy.export import export_person
from misybot.store.tenancy import get_company, system_actor


def register(commands) -> None:
    """Add the ``users`` and ``privacy`` commands to the ``misybot`` parser."""
    users = commands.add_parser("users", help="a company's people: add, change, link, invite")
    users.set_defaults(handler=lambda _args: users.print_help() or 2)
    actions = users.add_subparsers(title="users commands", metavar="ACTION")

    add = actions.add_parser("add", help="add a user (no channel is linked yet)")
    _common(add, admin_required=False)
    add.add_argument("--name", required=True)
    _profile(add)
    add.set_defaults(handler=_add)

    listing = actions.add_parser("list", help="the company's users and their links")
    _common(listing)
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=_list)

    show = actions.add_parser("show", help="one user, their links and how each was proved")
    _common(show)
    show.add_argument("user", help="id, e-mail or phone")
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=_show)

    update = actions.add_parser("update", help="change profile fields ('' clears one)")
    _common(update)
    update.add_argument("user", help="id, e-mail or phone")
    update.add_argument("--name")
    _profile(update)
    update.set_defaults(handler=_update)

    for name, active in (("deactivate", False), ("reactivate", True)):
        command = actions.add_parser(
            name, help="nobody can write as them (links stay)" if not active else "undo that"
        )
        _common(command)
        command.add_argument("user", help="id, e-mail or phone")
        command.set_defaults(handler=_set_active, active=active)

    for name, change in (("link", team.link), ("unlink", team.unlink)):
        command = actions.add_parser(name, help=f"{name} a channel address (admin-verified)")
        _common(command)
        command.add_argument("user", help="id, e-mail or phone")
        command.add_argument("--channel", required=True, choices=[c.value for c in Channel])
        command.add_argument("--address", required=True)
        command.set_defaults(handler=_linking, change=change)

    invitation = actions.add_parser(
        "invite", help="a one-time code the person sends from the channel to link"
    )
    _common(invitation)
    invitation.add_argument("user", help="id, e-mail or phone")
    invitation.add_argument(
        "--channel", choices=[c.value for c in Channel], help="only valid when sent from it"
    )
    invitation.add_argument("--hours", type=float, help="valid for (default 24)")
    invitation.set_defaults(handler=_invite)

    log = actions.add_parser("audit", help="who changed which user, link, role; exports, erasures")
    _common(log)
    log.add_argument("--user", help="only entries by or about this user (id, e-mail or phone)")
    log.add_argument("--json", action="store_true")
    log.set_defaults(handler=_audit)

    privacy = commands.add_parser("privacy", help="a person's data: export it or erase it")
    privacy.set_defaults(handler=lambda _args: privacy.print_help() or 2)
    requests = privacy.add_subparsers(title="privacy commands", metavar="ACTION")
    export = requests.add_parser("export", help="everything held about a user, as JSON")
    _common(export)
    export.add_argument("--user", required=True, help="id, e-mail or phone")
    export.add_argument("--out", required=True, help="the JSON file to write")
    export.set_defaults(handler=_export)
    erase = requests.add_parser("erase", help="erase a user from every store (a receipt)")
    _common(erase)
    erase.add_argument("--user", required=True, help="id, e-mail or phone")
    erase.add_argument("--yes", action="store_true", help="required: this cannot be undone")
    erase.set_defaults(handler=_erase)


def _common(parser: argparse.ArgumentParser, admin_required: bool = True) -> None:
    parser.add_argument("--company", required=True, help="company slug")
    parser.add_argument(
        "--admin",
        required=admin_required,
        help="the admin doing it (e-mail, phone or id)"
        + ("" if admin_required else "; not needed for a company's first admin"),
    )
    parser.add_argument(
        "--country-code", help="read national phone numbers in this country (e.g. 351)"
    )


def _profile(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--email")
    parser.add_argument("--phone")
    parser.add_argument("--role", choices=[r.value for r in Role])
    parser.add_argument("--persona", choices=[*(p.value for p in Persona), ""])
    parser.add_argument("--preferred-channel", choices=[c.value for c in Channel])


def _admin(session: Session, args: argparse.Namespace):
    return team.admin_actor(session, args.company, args.admin)


def _in_session(work):
    return lambda args: _run_in_session(lambda session: work(session, args))


def _print_person(person: team.Person) -> None:
    state = "" if person.active else "  [deactivated]"
    voice = person.persona.value if person.persona else "default"
    contact = ", ".join(x for x in (person.email, person.phone) if x) or "no contact"
    print(f"#{person.id} {person.name} — {person.role.value}, {voice} voice, {contact}{state}")
    for identity in person.identities:
        proved = identity.verified_by or "unrecorded"
        print(f"    {identity.channel.value:<9} {identity.address}  (linked by {proved})")


@_in_session
def _add(session: Session, args: argparse.Namespace) -> int:
    if args.admin:
        actor = _admin(session, args)
    else:
        company = get_company(session, args.company)
        admins = session.execute(
            select(func.count())
            .select_from(User)
            .where(User.company_id == company.id, User.role == Role.ADMIN, User.active.is_(True))
        ).scalar_one()
        if admins or args.role != Role.ADMIN.value:
            raise MisybotError(
                "name the admin adding this user (--admin); only a company without an admin "
                "may add its first admin without one"
            )
        actor = system_actor(company)
    person = team.add_user(
        session,
        actor,
        name=args.name,
        role=args.role or Role.VIEWER,
        email=args.email,
        phone=args.phone,
        persona=args.persona or None,
        preferred_channel=args.preferred_channel,
        country_code=args.country_code,
        via="cli" if args.admin else "bootstrap",
    )
    print("added:")
    _print_person(person)
    return EXIT_OK


@_in_session
def _list(session: Session, args: argparse.Namespace) -> int:
    people = team.list_users(session, _admin(session, args))
    if args.json:
        _print_json(people)
    else:
        for person in people:
            _print_person(person)
    return EXIT_OK


@_in_session
def _show(session: Session, args: argparse.Namespace) -> int:
    person = team.show_user(session, _admin(session, args), args.user)
    if args.json:
        _print_json(person)
    else:
        _print_person(person)
    return EXIT_OK


@_in_session
def _update(session: Session, args: argparse.Namespace) -> int:
    person = team.update_user(
        session,
        _admin(session, args),
        args.user,
        country_code=args.country_code,
        name=args.name,
        email=args.email,
        phone=args.phone,
        role=args.role,
        persona=args.persona,
        preferred_channel=args.preferred_channel,
    )
    print("updated:")
    _print_person(person)
    return EXIT_OK


@_in_session
def _set_active(session: Session, args: argparse.Namespace) -> int:
    person = team.set_active(session, _admin(session, args), args.user, args.active)
    _print_person(person)
    return EXIT_OK


@_in_session
def _linking(session: Session, args: argparse.Namespace) -> int:
    """``users link`` / ``users unlink`` (``args.change``)."""
    admin = _admin(session, args)
    person = args.change(session, admin, args.user, args.channel, args.address, args.country_code)
    _print_person(person)
    return EXIT_OK


@_in_session
def _invite(session: Session, args: argparse.Namespace) -> int:
    channel = Channel(args.channel) if args.channel else None
    issued = invite(session, _admin(session, args), args.user, channel, args.hours)
    where = f"on {channel.value}" if channel else "on any channel"
    print(f"invitation code for user {issued.user_id}: {issued.code}")
    print(
        f'They send it ({where}) as a message, e.g. "link {issued.code}", before '
        f"{issued.expires_at:%Y-%m-%d %H:%M} UTC. It works once and is not shown again."
    )
    return EXIT_OK


@_in_session
def _audit(session: Session, args: argparse.Namespace) -> int:
    admin = _admin(session, args)
    about = team.find_user(session, admin.company_id, args.user).id if args.user else None
    found = audit.entries(session, admin.company_id, about)
    if args.json:
        _print_json(found)
        return EXIT_OK
    for entry in found:
        by = f"user {entry.actor_user_id}" if entry.actor_user_id else "the person / system"
        details = ", ".join(f"{k}={v}" for k, v in entry.details.items())
        print(
            f"{entry.at:%Y-%m-%d %H:%M:%S} {entry.action:<18} about user {entry.subject_user_id}"
            f" by {by}" + (f"  ({details})" if details else "")
        )
    return EXIT_OK


@_in_session
def _export(session: Session, args: argparse.Namespace) -> int:
    document = export_person(session, _admin(session, args), args.user)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    temporary = out.with_name(f".{out.name}.partial")
    temporary.write_text(json.dumps(document, indent=2, ensure_ascii=False, default=str))
    temporary.chmod(0o600)
    temporary.replace(out)
    counts = {k: len(v) for k, v in document.items() if isinstance(v, list | dict)}
    print(f"wrote {out}: " + ", ".join(f"{k} {n}" for k, n in counts.items()))
    return EXIT_OK


@_in_session
def _erase(session: Session, args: argparse.Namespace) -> int:
    if not args.yes:
        print("erasing cannot be undone: add --yes to go ahead")
        return EXIT_FAILED
    receipt = erase_person(session, _admin(session, args), args.user)
    print(f"erased user {args.user} of {args.company}; receipt:")
    width = max(len(store) for store in receipt)
    for store, count in receipt.items():
        print(f"  {store:<{width}}  {count:>6}")
    return EXIT_OK
