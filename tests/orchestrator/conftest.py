"""Queues for the orchestrator tests: SQLite always, PostgreSQL when it answers (it does in CI)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker

from misybot.db.session import make_session_factory, session_scope
from testkit.database import Builder, postgres_schema


@pytest.fixture(scope="session")
def postgres_engine(postgres_url: str) -> Iterator[Engine]:
    """A schema of the orchestrator tests' own.

    Sharing the store tests' schema makes their later SAVEPOINTs fail ("can only be used in
    transaction blocks"); the cause is not yet understood (see the session note).
    """
    with postgres_schema(postgres_url) as engine:
        yield engine


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker:
    return make_session_factory(engine)


@pytest.fixture
def company_id(sessions: sessionmaker) -> int:
    with session_scope(sessions) as session:
        return Builder(session, "acme").id
