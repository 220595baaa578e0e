"""Team administration (misybot.people): normalised addresses, scoped and audited changes, links
that belong to one person, invitation codes — on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from misybot.db.models import AuditEntry, ChannelIdentity, Invitation, User
from misybot.db.session import make_session_factory, session_scope
from misybot.db.types import utc_now
from misybot.enums import Channel, Persona, Role
from misybot.errors import Conflict, InvalidInput, NotFound
from misybot.importer import import_csv
from misybot.people import team
from misybot.people.addresses import normalise, phone_number
from misybot.people.invitations import (
    CODE_ATTEMPTS,
    SELF_REQUESTS,
    SENDER_ATTEMPTS,
    Outcome,
    code_in,
    invite,
    link_request_in,
    redeem,
    request_code,
)
from misybot.permissions import PermissionDenied
from misybot.store.tenancy import resolve_actor
from testkit.database import Builder


# ------------------------------------------------------------------------------ addresses
@pytest.mark.parametrize(
    ("typed", "country", "expected"),
    [
        ("+351 912 345 678", None, "+351912345678"),
        ("00351-912-345-678", None, "+351912345678"),
        ("(+351) 912.345.678", None, "+351912345678"),
        ("912 345 678", "351", "+351912345678"),  # Portugal: no trunk prefix
        ("020 7946 0958", "44", "+442079460958"),  # the UK's trunk 0 dropped
        ("0171 1234567", "49", "+491711234567"),
        ("06 12 34 56 78", "33", "+33612345678"),
        ("(415) 555-2671", "1", "+14155552671"),
        ("whatsapp:+351912345678", None, "+351912345678"),
    ],
)
def test_phone_numbers_typed_any_usual_way_are_one_e164_number(typed, country, expected):
    assert phone_number(typed, country) == expected


@pytest.mark.parametrize(
    ("typed", "country", "reason"),
    [
        ("912 345 678", None, "no country code"),
        ("+351 91x 345", None, "characters"),
        ("+0351912345678", None, "never starts with 0"),
        ("+351 12", None, "8-15 digits"),
        ("+351 9123456789012345", None, "8-15 digits"),
        ("912345678", "3a", "country calling code"),
    ],
)
def test_a_number_that_is_not_one_is_refused_with_the_reason(typed, country, reason):
    with pytest.raises(InvalidInput, match=reason):
        phone_number(typed, country)


def test_other_channels_addresses():
    assert normalise(Channel.EMAIL, " <Ana.Ribeiro@Example.COM> ") == "ana.ribeiro@example.com"
    assert normalise(Channel.MESSENGER, "6003000000000001") == "6003000000000001"
    for channel, bad in (
        (Channel.EMAIL, "ana@"),
        (Channel.EMAIL, "a:b@example.com"),
        (Channel.MESSENGER, "not-a-psid"),
        (Channel.INSTAGRAM, "7" * 40),
        (Channel.WHATSAPP, ""),
        (Channel.EMAIL, "x" * 300 + "@example.com"),
    ):
        with pytest.raises(InvalidInput):
            normalise(channel, bad)


def test_an_invitation_code_is_recognised_only_as_a_whole_message():
    assert code_in("link 48291375") == "48291375"
    assert code_in("  LINK: 4829 1375 ") == "48291375"
    assert code_in("4829-1375") == "48291375"
    assert code_in("48291375") == "48291375"
    for text in ("stock 48291375", "link 4829137", "link 482913755", "1234567", "", "8" * 100):
        assert code_in(text) is None


# ------------------------------------------------------------------------------ people
@pytest.fixture
def sessions(engine):
    return make_session_factory(engine)


@pytest.fixture
def acme(sessions):
    """Acme with an admin (Rita) and an operator; Globex with its own admin."""
    with session_scope(sessions) as session:
        acme = Builder(session)
        rita = acme.user("Rita Admin", Role.ADMIN, "rita@acme.example", phone="+351912000001")
        acme.user("Otto Operator", Role.OPERATOR, "otto@acme.example")
        globex = Builder(session, "globex")
        gina = globex.user("Gina Globex", Role.ADMIN, "gina@globex.example")
        session.add(ChannelIdentity(user_id=gina.id, channel=Channel.MESSENGER, address="600"))
        return {"acme": acme.id, "rita": rita.id, "gina": gina.id}


def as_admin(session, who="rita@acme.example", company="acme"):
    return team.admin_actor(session, company, who)


def test_an_admin_adds_changes_deactivates_and_links_a_person_each_step_audited(sessions, acme):
    with session_scope(sessions) as session:
        admin = as_admin(session)
        person = team.add_user(
            session,
            admin,
            name="  Carla   Ops ",
            email="Carla@Acme.Example",
            phone="00351 912 000 002",
            role="operator",
            persona="hub",
        )
        assert (person.name, person.email, person.phone) == (
            "Carla Ops",
            "carla@acme.example",
            "+351912000002",
        )
        assert person.preferred_channel == Channel.WHATSAPP and person.identities == ()
        team.update_user(session, admin, "+351 912 000 002", role="viewer", persona="")
        team.link(session, admin, "carla@acme.example", "whatsapp", "+351 912-000-002")
        team.set_active(session, admin, str(person.id), False)
        shown = team.show_user(session, admin, str(person.id))
    assert shown.role == Role.VIEWER and shown.persona is None and not shown.active
    (identity,) = shown.identities
    assert (identity.channel, identity.address, identity.verified_by) == (
        Channel.WHATSAPP,
        "+351912000002",
        "admin",
    )
    assert identity.verified_at is not None
    with session_scope(sessions) as session:
        entries = session.execute(
            select(AuditEntry).where(AuditEntry.subject_user_id == person.id)
        ).scalars()
        log = [(e.action, e.actor_user_id, e.details) for e in entries]
    assert [(action, by) for action, by, _ in log] == [
        ("user.add", acme["rita"]),
        ("user.update", acme["rita"]),
        ("identity.link", acme["rita"]),
        ("user.deactivate", acme["rita"]),
    ]
    assert log[1][2] == {"fields": ["persona", "role"], "persona": None, "role": "viewer"}
    # Entries name people by id only: nothing to rewrite when one is erased.
    assert "carla" not in repr(log).lower() and "912000002" not in repr(log)


def test_only_an_active_admin_of_the_company_manages_its_people(sessions, acme):
    with session_scope(sessions) as session:
        with pytest.raises(PermissionDenied):
            as_admin(session, "otto@acme.example")
        with pytest.raises(NotFound):
            as_admin(session, "gina@globex.example")  # another company's admin
        admin = as_admin(session)
        with pytest.raises(NotFound):
            team.show_user(session, admin, "gina@globex.example")  # never another tenant's
        with pytest.raises(NotFound):
            team.update_user(session, admin, str(acme["gina"]), name="Hijacked")
    with session_scope(sessions) as session:
        assert session.get(User, acme["gina"]).name == "Gina Globex"


def test_an_address_belongs_to_one_person(sessions, acme):
    with session_scope(sessions) as session:
        admin = as_admin(session)
        team.link(session, admin, "otto@acme.example", "messenger", "601")
        with pytest.raises(Conflict, match="Otto Operator"):
            team.link(session, admin, "rita@acme.example", "messenger", "601")
        with pytest.raises(Conflict, match="another company") as refused:
            team.link(session, admin, "rita@acme.example", "messenger", "600")
        assert "Gina" not in str(refused.value)  # another tenant's user is never named
        with pytest.raises(Conflict, match="already"):
            team.add_user(session, admin, name="Twin", email="OTTO@acme.example")
        with pytest.raises(InvalidInput, match="no country code"):
            team.link(session, admin, "otto@acme.example", "whatsapp", "912 000 009")
        team.link(session, admin, "otto@acme.example", "whatsapp", "912 000 009", "351")
        team.unlink(session, admin, "otto@acme.example", "messenger", "601")
        assert [
            i.channel for i in team.show_user(session, admin, "otto@acme.example").identities
        ] == [Channel.WHATSAPP]
        with pytest.raises(NotFound):
            team.unlink(session, admin, "otto@acme.example", "messenger", "601")


def test_the_last_admin_cannot_be_demoted_or_deactivated(sessions, acme):
    with session_scope(sessions) as session:
        admin = as_admin(session)
        with pytest.raises(Conflict, match="last active admin"):
            team.update_user(session, admin, "rita@acme.example", role="viewer")
        with pytest.raises(Conflict, match="last active admin"):
            team.set_active(session, admin, "rita@acme.example", False)
        team.update_user(session, admin, "otto@acme.example", role="admin")
        team.update_user(session, admin, "rita@acme.example", role="operator")


def test_a_users_csv_is_imported_whole_or_not_at_all(sessions, acme):
    bad = (
        "name,role,email,phone,persona\n"
        "Carla Ops,operator,carla@acme.example,00351 912 000 002,hub\n"
        "Eve,boss,eve@,+351912000002,loud\n"
        ",viewer,otto@acme.example,,\n"
        "Dan,viewer,dan@acme.example,+351 912 000 002,\n"
    )
    good = (
        "name;role;email;phone;persona\n"
        "Carla Ops;operator;carla@acme.example;00351 912 000 002;hub\n"
        "Dan View;viewer;DAN@acme.example;;\n"
    )
    with session_scope(sessions) as session:
        admin = as_admin(session)
        result = import_csv(session, admin, "users", bad)
        assert not result.written
        assert [str(e) for e in result.errors] == [
            "row 3, role: 'boss' is not one of viewer, operator, admin",
            "row 3, email: 'eve@' is not an e-mail address",
            "row 3, persona: 'loud' is not one of streamliner, navigator, hub, spring, processor",
            "row 3, phone: +351912000002 repeats row 2",
            "row 4, name: is empty",
            "row 4, email: otto@acme.example is already a user's of this company",
            "row 5, phone: +351912000002 repeats row 2",
        ]
        assert len(team.list_users(session, admin)) == 2
        result = import_csv(session, admin, "users", good)
        assert (result.written, result.created) == (True, 2)
        people = {p.email: p for p in team.list_users(session, admin)}
    assert people["carla@acme.example"].persona == Persona.HUB
    assert people["dan@acme.example"].preferred_channel == Channel.EMAIL
    with session_scope(sessions) as session:
        operator = resolve_actor(session, "acme", "otto@acme.example")
        with pytest.raises(PermissionDenied):
            import_csv(session, operator, "users", good)


# ------------------------------------------------------------------------------ invitations
def redeem_now(sessions, channel, address, code):
    with session_scope(sessions) as session:
        return redeem(session, channel, address, code)


def test_a_code_links_the_sender_once_and_is_kept_only_as_a_hash(sessions, acme):
    with session_scope(sessions) as session:
        issued = invite(session, as_admin(session), "otto@acme.example")
    assert len(issued.code) == 8 and issued.code.isdigit()
    with session_scope(sessions) as session:
        (stored,) = session.execute(select(Invitation.code_digest)).scalars()
    assert issued.code not in stored
    linked = redeem_now(sessions, Channel.MESSENGER, "6010", issued.code)
    assert linked.outcome == Outcome.LINKED and linked.company_id == acme["acme"]
    with session_scope(sessions) as session:
        identity = session.execute(
            select(ChannelIdentity).where(ChannelIdentity.address == "6010")
        ).scalar_one()
        assert identity.verified_by == "invitation" and identity.verified_at is not None
        audit = session.execute(
            select(AuditEntry.action, AuditEntry.actor_user_id).where(
                AuditEntry.subject_user_id == linked.user_id
            )
        ).all()
    assert audit == [("invitation.create", acme["rita"]), ("identity.link", None)]
    # Used: from anyone else it is refused; from the sender it linked (a turn run twice after
    # a crash) it says so.
    assert redeem_now(sessions, Channel.MESSENGER, "6011", issued.code).outcome == Outcome.REFUSED
    assert redeem_now(sessions, Channel.MESSENGER, "6010", issued.code).outcome == Outcome.ALREADY


def test_wrong_expired_foreign_and_wrong_channel_codes_are_refused_alike(sessions, acme):
    with session_scope(sessions) as session:
        admin = as_admin(session)
        expired = invite(session, admin, "otto@acme.example")
        email_only = invite(session, admin, "otto@acme.example", Channel.EMAIL)
        for_rita = invite(session, admin, "rita@acme.example")
        session.execute(
            update(Invitation)
            .where(Invitation.user_id == expired.user_id, Invitation.channel.is_(None))
            .values(expires_at=utc_now() - timedelta(seconds=1))
        )
    outcomes = [
        redeem_now(sessions, Channel.MESSENGER, f"70{n}", code).outcome
        for n, code in enumerate(("00000000", expired.code, email_only.code))
    ]
    # Gina's Messenger id belongs to Globex: a code for an Acme user cannot take it over.
    outcomes.append(redeem_now(sessions, Channel.MESSENGER, "600", for_rita.code).outcome)
    assert outcomes == [Outcome.REFUSED] * 4
    with session_scope(sessions) as session:
        assert (
            session.execute(
                select(ChannelIdentity.user_id).where(ChannelIdentity.address == "600")
            ).scalar_one()
            == acme["gina"]
        )
    assert redeem_now(sessions, Channel.EMAIL, "otto@x.example", email_only.code).outcome == (
        Outcome.LINKED
    )


def test_guessing_is_cut_off_per_sender_and_per_code(sessions, acme):
    with session_scope(sessions) as session:
        issued = invite(session, as_admin(session), "otto@acme.example")
    wrong = [f"{n:08d}" for n in range(50) if f"{n:08d}" != issued.code]
    outcomes = [redeem_now(sessions, Channel.MESSENGER, "666", code).outcome for code in wrong]
    assert outcomes[:SENDER_ATTEMPTS] == [Outcome.REFUSED] * SENDER_ATTEMPTS
    assert set(outcomes[SENDER_ATTEMPTS:]) == {Outcome.LIMITED}
    # Even the right code, from the sender that kept guessing.
    assert redeem_now(sessions, Channel.MESSENGER, "666", issued.code).outcome == Outcome.LIMITED
    # Many senders guessing together void the open codes after CODE_ATTEMPTS wrong tries.
    guesses = [f"{n:08d}" for n in range(100, 200) if f"{n:08d}" != issued.code]
    for n, guess in enumerate(guesses[:CODE_ATTEMPTS]):
        redeem_now(sessions, Channel.MESSENGER, f"8{n:03d}", guess)
    assert redeem_now(sessions, Channel.MESSENGER, "9999", issued.code).outcome == Outcome.REFUSED


def test_a_user_asks_for_a_code_to_the_email_on_their_profile_and_only_that_address_uses_it(
    sessions, acme
):
    assert link_request_in("link my email") == Channel.EMAIL
    assert link_request_in("Link my e-mail address.") == Channel.EMAIL
    assert link_request_in("link my email to the report") is None
    with session_scope(sessions) as session:
        otto = session.execute(select(User).where(User.email == "otto@acme.example")).scalar_one()
        asked = request_code(session, otto.id, Channel.EMAIL)
    assert asked.outcome == Outcome.SENT and asked.address == "otto@acme.example"
    code = asked.issued.code
    # Someone else's mailbox cannot use it, even with the code in hand.
    assert redeem_now(sessions, Channel.EMAIL, "mallory@evil.example", code).outcome == (
        Outcome.REFUSED
    )
    assert redeem_now(sessions, Channel.EMAIL, "otto@acme.example", code).outcome == (
        Outcome.LINKED
    )
    with session_scope(sessions) as session:
        assert request_code(session, otto.id, Channel.EMAIL).outcome == Outcome.ALREADY
        rita = acme["rita"]
        for _ in range(SELF_REQUESTS):
            assert request_code(session, rita, Channel.EMAIL).outcome == Outcome.SENT
        assert request_code(session, rita, Channel.EMAIL).outcome == Outcome.ASKED_TOO_OFTEN
        session.execute(update(User).where(User.id == rita).values(email=None))
        assert request_code(session, rita, Channel.EMAIL).outcome == Outcome.NO_ADDRESS
