"""Fixtures the channel tests share: an inbox on a fresh database, the Graph API stand-in and
the mail servers of the e-mail channel."""

from __future__ import annotations

import pytest

from connectors.core.inbox import Inbox
from misybot.db.session import make_session_factory
from testkit.database import migrated_sqlite
from testkit.mail import DovecotServer
from testkit.standins import GraphStandIn

MAILBOX = "bot@misy.example"
MAILBOX_PASSWORD = "imap-secret"


@pytest.fixture
def inbox(tmp_path):
    """The channel inbox on a migrated, empty SQLite database of this test's own."""
    engine = migrated_sqlite(tmp_path / "inbox.db")
    yield Inbox(make_session_factory(engine))
    engine.dispose()


@pytest.fixture(scope="module")
def graph():
    """A Graph API stand-in: one WhatsApp number, a Page and an Instagram account, each a token."""
    standin = GraphStandIn(
        version="v23.0",
        phone_number_id="106540352242922",
        whatsapp_token="wa-token",
        messenger_token="page-token",
        instagram_token="ig-token",
    ).start()
    yield standin
    standin.stop()


@pytest.fixture(scope="module")
def dovecot():
    """A private Dovecot (installed by scripts/test-services.sh if missing) with the bot's box.
    No Dovecot is a failure, not a skip: the e-mail channel's tests must run everywhere."""
    server = DovecotServer({MAILBOX: MAILBOX_PASSWORD})
    server.start()
    yield server
    server.stop()
