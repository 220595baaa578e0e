"""Shared fixtures: the trained model is built once per run and loaded once per session."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from testkit.database import (
    DEFAULT_POSTGRES_URL,
    empty_tables,
    migrated_sqlite,
    postgres_schema,
    postgres_unavailable,
)
from testkit.processes import action_endpoint, action_server, worker_process

ROOT = Path(__file__).resolve().parents[1]
# The installation's generated secrets (misybot/secrets.py): one file for this test run, shared by
# the processes it starts, never the checkout's var/secrets.json.
os.environ.setdefault(
    "MISYBOT_SECRETS_FILE",
    str(Path(tempfile.mkdtemp(prefix="misybot-test-secrets-")) / "secrets.json"),
)
MODEL = ROOT / "models" / "misybot.tar.gz"
POSTGRES_URL = os.environ.get("MISYBOT_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)


@pytest.fixture(scope="session")
def event_loop() -> Iterator[asyncio.AbstractEventLoop]:
    """One loop for the session, so session-scoped async resources (the agent) stay usable."""
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


@pytest.fixture(scope="session")
def model_path() -> Path:
    """The trained model; `make train` (a no-op when up to date) builds it if needed."""
    subprocess.run(["make", "--no-print-directory", "-C", str(ROOT), "train"], check=True)
    return MODEL


@pytest.fixture(scope="session")
def demo_database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A migrated SQLite database with the demo data, private to this test session."""
    url = f"sqlite:///{tmp_path_factory.mktemp('demo-db') / 'misybot.db'}"
    environment = {**os.environ, "MISYBOT_DATABASE_URL": url}
    misybot = Path(sys.executable).with_name("misybot")
    subprocess.run([str(misybot), "demo", "seed"], env=environment, check=True, capture_output=True)
    return url


@pytest.fixture(scope="session")
def worker(demo_database_url: str) -> Iterator[subprocess.Popen]:
    """A real orchestrator worker process on the session's demo database."""
    env = {**os.environ, "MISYBOT_DATABASE_URL": demo_database_url}
    with worker_process(env, cwd=ROOT) as process:
        yield process


@pytest.fixture(scope="session")
def action_server_url(demo_database_url: str) -> Iterator[str]:
    """A real rasa_sdk action server serving ``actions/`` on the session's demo database."""
    # A generous inline deadline: these tests assert results, not the "working on it" path
    # (tests/orchestrator cover that), and a loaded CI machine may render a chart slowly.
    env = {
        **os.environ,
        "MISYBOT_DATABASE_URL": demo_database_url,
        "MISYBOT_INLINE_DEADLINE_S": "30",
    }
    with action_server(env) as url:
        yield url


@pytest.fixture(scope="session")
def agent(
    model_path: Path, action_server_url: str, worker: subprocess.Popen, demo_database_url: str
):
    """The trained assistant, loaded once, with the real action server and a worker; its
    catalogue component reads the same database they do."""
    from rasa.core.agent import Agent
    from rasa.utils.common import configure_logging_and_warnings
    from rasa.utils.log_utils import configure_structlog

    from misybot.settings import get_settings

    configure_logging_and_warnings(logging.WARNING)
    configure_structlog(logging.WARNING)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MISYBOT_DATABASE_URL", demo_database_url)
        get_settings.cache_clear()
        yield Agent.load(str(model_path), action_endpoint=action_endpoint(action_server_url))
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """PostgreSQL for the tests that run on both databases; skipped when it does not answer."""
    reason = postgres_unavailable(POSTGRES_URL)
    if reason:
        pytest.skip(reason)
    return POSTGRES_URL


@pytest.fixture(scope="session")
def postgres_engine(postgres_url: str) -> Iterator[Engine]:
    """One migrated schema for the session's PostgreSQL tests, dropped at the end."""
    with postgres_schema(postgres_url) as engine:
        yield engine


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request, tmp_path) -> Iterator[Engine]:
    """A migrated, empty database: a fresh SQLite file, or the PostgreSQL schema emptied."""
    if request.param == "sqlite":
        engine = migrated_sqlite(tmp_path / "misybot.db")
        yield engine
        engine.dispose()
        return
    engine = request.getfixturevalue("postgres_engine")
    empty_tables(engine)
    yield engine
    empty_tables(engine)
