"""Mail servers for the e-mail channel tests."""

from __future__ import annotations

import pytest

from connectors.email.testing import DovecotServer, DovecotUnavailable

MAILBOX = "bot@misy.example"
MAILBOX_PASSWORD = "imap-secret"


@pytest.fixture(scope="module")
def dovecot():
    """A private Dovecot (installed by scripts/test-services.sh if missing) with the bot's box."""
    server = DovecotServer({MAILBOX: MAILBOX_PASSWORD})
    try:
        server.start()
    except DovecotUnavailable as error:
        pytest.skip(str(error))
    yield server
    server.stop()
