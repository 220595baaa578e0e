"""Engines built from a database URL; SQLite gets foreign keys and real SAVEPOINTs."""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine, create_engine, make_url

from misybot.settings import get_settings

logger = logging.getLogger(__name__)


def create_db_engine(url: str, **kwargs: Any) -> Engine:
    """A 2.0-style engine for ``url``; a SQLite file's directory is created if missing."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        kwargs.setdefault("pool_pre_ping", True)
        return create_engine(parsed, future=True, **kwargs)
    database = parsed.database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(parsed, future=True, **kwargs)
    _configure_sqlite(engine, file_database=bool(database) and database != ":memory:")
    return engine


def _configure_sqlite(engine: Engine, file_database: bool) -> None:
    # pysqlite opens transactions lazily and breaks SAVEPOINT; let SQLAlchemy emit BEGIN itself
    # (the documented recipe), and turn on foreign keys, which SQLite leaves off by default.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=5000")
        if file_database:
            # Write-ahead log: readers never wait for a writer, nor a writer for readers, and a
            # commit is one append; the processes sharing the file (replicas, the action server,
            # workers) then mostly wait for each other's writes only. Kept in the file.
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection) -> None:
        # ``engine.execution_options(sqlite_begin="BEGIN IMMEDIATE")`` takes the write lock up
        # front: concurrent read-then-write transactions would otherwise deadlock (SQLITE_BUSY).
        connection.exec_driver_sql(connection.get_execution_options().get("sqlite_begin", "BEGIN"))


@lru_cache(maxsize=4)
def engine_for_url(url: str) -> Engine:
    """The process-wide engine for ``url`` (built on first use)."""
    logger.info("db.engine.created backend=%s", make_url(url).get_backend_name())
    return create_db_engine(url)


def get_engine() -> Engine:
    """The engine for ``MISYBOT_DATABASE_URL``."""
    return engine_for_url(get_settings().database_url)
