"""Resolving who is acting and what they named: identities, SKUs, fuzzy names, settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from misybot.db.models import ChannelIdentity
from misybot.db.session import session_scope
from misybot.enums import Channel, Persona, Role
from misybot.errors import NotFound
from misybot.settings import DEFAULT_DATABASE_URL, Settings
from misybot.skus import canonical_sku, sku_key
from misybot.store.fuzzy import match_name, normalise
from misybot.store.tenancy import actor_for_identity, resolve_actor
from testkit.database import Builder


def test_a_channel_address_resolves_to_its_user_and_company(session_factory):
    with session_scope(session_factory) as session:
        builder = Builder(session, "alpha")
        hub = builder.user("Tiago Ferreira", Role.OPERATOR, persona=Persona.HUB,
                           phone="+351910000004")  # fmt: skip
        gone = builder.user("Old Timer", Role.ADMIN, active=False)
        session.add_all([
            ChannelIdentity(user_id=hub.id, channel=Channel.WHATSAPP, address="+351910000004"),
            ChannelIdentity(user_id=gone.id, channel=Channel.WHATSAPP, address="+351910000009"),
        ])  # fmt: skip
        Builder(session, "beta").user("Someone", Role.ADMIN)

    with session_scope(session_factory) as session:
        actor = actor_for_identity(session, Channel.WHATSAPP, "+351910000004")
        assert (actor.company_slug, actor.user_name, actor.role, actor.persona) == (
            "alpha", "Tiago Ferreira", Role.OPERATOR, Persona.HUB,
        )  # fmt: skip
        assert resolve_actor(session, "alpha", "TIAGO@alpha.example").user_id == actor.user_id
        assert resolve_actor(session, "alpha", "+351910000004").user_id == actor.user_id
        assert resolve_actor(session, "alpha").role is Role.ADMIN  # the system, for scripts
        for attempt in (
            lambda: actor_for_identity(session, Channel.SMS, "+351910000004"),
            lambda: actor_for_identity(session, Channel.WHATSAPP, "+351910000009"),  # inactive
            lambda: resolve_actor(session, "beta", "tiago@alpha.example"),
            lambda: resolve_actor(session, "gamma"),
        ):
            with pytest.raises(NotFound):
                attempt()


def test_sku_spelling_is_canonical_however_it_is_typed():
    typed = ("wid-220", " #WID-220 ", "wid 220", "ac4410", "blt_108", "Wid--220")
    assert [canonical_sku(text) for text in typed] == [
        "WID-220", "WID-220", "WID-220", "AC4410", "BLT-108", "WID-220",
    ]  # fmt: skip
    assert sku_key("wid 220") == sku_key("WID220") == sku_key("#wid-220") == "WID220"


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("Acme", "Acme Supply"),
        ("northwind", "Northwind Traders"),
        ("GLOBEX industrial", "Globex Industrial"),
        ("iberia componets", "Iberia Components"),
        ("supply", "Acme Supply"),
        ("traders inc", None),
        ("zzz", None),
    ],
)
def test_supplier_names_are_matched_forgivingly_but_not_wildly(typed, expected):
    names = ["Acme Supply", "Northwind Traders", "Globex Industrial", "Iberia Components"]
    match = match_name(typed, [((name,), name) for name in names])
    assert match.best == expected


def test_normalise_makes_names_comparable():
    assert normalise("Blue  Widgets!") == normalise("blue widget") == "blue widget"
    assert normalise("USB-C cables") == "usb c cable"


def test_settings_defaults_and_overrides():
    default = Settings.from_environ({})
    assert default.database_url == DEFAULT_DATABASE_URL == "sqlite:///var/misybot.db"
    assert default.reports_dir == Path("var/reports")
    custom = Settings.from_environ(
        {"MISYBOT_DATABASE_URL": "postgresql://db/misy", "MISYBOT_REPORTS_DIR": "/srv/reports"}
    )
    assert (custom.database_url, custom.reports_dir) == ("postgresql://db/misy",
                                                         Path("/srv/reports"))  # fmt: skip
