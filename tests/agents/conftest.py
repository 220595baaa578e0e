"""The demo data seeded once per session at a fixed moment; tests that write get a copy."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from seeded import NOW
from sqlalchemy.orm import Session, sessionmaker

from misybot.db.engine import create_db_engine
from misybot.db.session import make_session_factory, session_scope
from misybot.demo import seed_demo
from testkit.database import migrated_sqlite


@pytest.fixture(scope="session")
def seeded_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("demo") / "demo.db"
    engine = migrated_sqlite(path)
    with session_scope(make_session_factory(engine)) as session:
        seed_demo(session, now=NOW)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def demo_db(seeded_file) -> Iterator[sessionmaker]:
    """The seeded database, shared: for tests that only read (they must not commit)."""
    engine = create_db_engine(f"sqlite:///{seeded_file}")
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture
def writable_db(seeded_file, tmp_path) -> Iterator[sessionmaker]:
    """A private copy of the seeded database for a test that writes."""
    copy = tmp_path / "demo-copy.db"
    shutil.copyfile(seeded_file, copy)
    engine = create_db_engine(f"sqlite:///{copy}")
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture
def session(demo_db) -> Iterator[Session]:
    """A read-only look at the seeded data (rolled back at the end)."""
    session = demo_db()
    try:
        yield session
    finally:
        session.rollback()
        session.close()
