"""Queues for the orchestrator tests: SQLite always, PostgreSQL when it answers (it does in CI)."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker

from misybot.db.session import make_session_factory, session_scope
from misybot.testing import (
    Builder,
)


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker:
    return make_session_factory(engine)


@pytest.fixture
def company_id(sessions: sessionmaker) -> int:
    with session_scope(sessions) as session:
        return Builder(session, "acme").id
