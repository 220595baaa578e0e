"""Sessions: one ``session_scope()`` per unit of work."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from misybot.db.engine import get_engine


def make_session_factory(engine: Engine | None = None) -> sessionmaker:
    """A 2.0-style session factory bound to ``engine`` (default: the configured database)."""
    return sessionmaker(bind=engine or get_engine(), future=True, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker | None = None) -> Iterator[Session]:
    """A session that commits when the block succeeds and rolls back when it raises."""
    session: Session = (factory or make_session_factory())()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
