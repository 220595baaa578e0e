"""Queues for the orchestrator tests: SQLite always, PostgreSQL when it answers (it does in CI)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker

from misybot.db.session import make_session_factory, session_scope
from misybot.testing import (
    DEFAULT_POSTGRES_URL,
    Builder,
    empty_tables,
    migrated_sqlite,
    postgres_schema,
    postgres_unavailable,
)

POSTGRES_URL = os.environ.get("MISYBOT_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)


@pytest.fixture(scope="session")
def postgres_url() -> str:
    reason = postgres_unavailable(POSTGRES_URL)
    if reason:
        pytest.skip(reason)
    return POSTGRES_URL


@pytest.fixture(scope="session")
def postgres_engine(postgres_url: str) -> Iterator[Engine]:
    with postgres_schema(postgres_url) as engine:
        yield engine


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request, tmp_path) -> Iterator[Engine]:
    """A migrated, empty database: a fresh SQLite file, or the PostgreSQL schema emptied."""
    if request.param == "sqlite":
        engine = migrated_sqlite(tmp_path / "queue.db")
        yield engine
        engine.dispose()
        return
    engine = request.getfixturevalue("postgres_engine")
    empty_tables(engine)
    yield engine
    empty_tables(engine)


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker:
    return make_session_factory(engine)


@pytest.fixture
def company_id(sessions: sessionmaker) -> int:
    with session_scope(sessions) as session:
        return Builder(session, "acme").id
