"""Databases for the store tests: SQLite always, PostgreSQL when it answers (it does in CI)."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker

from misybot.db.session import make_session_factory


@pytest.fixture
def session_factory(engine: Engine) -> sessionmaker:
    return make_session_factory(engine)
