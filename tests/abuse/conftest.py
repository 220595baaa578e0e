"""Fixtures the abuse suite shares: the channel inbox on SQLite and on PostgreSQL."""

from __future__ import annotations

import pytest

from connectors.core.inbox import Inbox
from misybot.db.session import make_session_factory


@pytest.fixture
def inbox(engine):
    """The inbox on a fresh SQLite file and on the emptied PostgreSQL schema."""
    return Inbox(make_session_factory(engine))
