"""A result nobody waits for reaches the person on the channel they last used — or, when that
channel's 24-hour window has closed, on their preferred channel if it can carry it now."""

from __future__ import annotations

from datetime import timedelta

import pytest

from misybot.db.session import make_session_factory, session_scope
from misybot.db.types import utc_now
from misybot.enums import Channel, Role
from misybot.identity import person_conversation
from misybot.people.reach import delivery_channel
from testkit.database import Builder, wrote

NOW = utc_now()


@pytest.fixture
def ana_wrote(engine):
    """``wrote(channel, transport, hours_ago)``: a message of Ana's (preferred: e-mail)."""
    sessions = make_session_factory(engine)
    with session_scope(sessions) as session:
        ana = Builder(session).user("Ana", Role.OPERATOR, preferred_channel=Channel.EMAIL).id

    def write(channel: Channel, transport: str, hours_ago: float) -> None:
        with session_scope(sessions) as session:
            wrote(session, ana, channel, transport, NOW - timedelta(hours=hours_ago))

    def where() -> str:
        with session_scope(sessions) as session:
            return delivery_channel(session, person_conversation(ana), NOW)

    return write, where


def test_the_channel_last_used_while_it_can_carry_the_message(ana_wrote):
    write, where = ana_wrote
    assert where() == "latest"  # never wrote: Rasa's latest (nothing better known)
    write(Channel.EMAIL, "email", 100)
    write(Channel.WHATSAPP, "whatsapp_cloud", 2)
    assert where() == "latest"


def test_the_preferred_channel_when_the_last_ones_window_has_closed(ana_wrote):
    write, where = ana_wrote
    write(Channel.EMAIL, "email", 100)
    write(Channel.WHATSAPP, "whatsapp_twilio", 30)
    assert where() == "email"


def test_the_latest_channel_when_the_preferred_one_cannot_carry_it_either(ana_wrote):
    write, where = ana_wrote
    write(Channel.WHATSAPP, "whatsapp_twilio", 30)  # never wrote by e-mail
    assert where() == "latest"


def test_a_single_senders_conversation_stays_on_its_channel(engine):
    with session_scope(make_session_factory(engine)) as session:
        assert delivery_channel(session, "whatsapp:+351911111111", NOW) == "latest"
