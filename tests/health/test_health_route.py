"""``GET /health`` on a real Sanic server: 200 when all is well, 503 naming the failing part
otherwise, with counts and verdicts only, and the event loop free while the database is asked."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import uuid
from collections.abc import AsyncIterator

import aiohttp
import pytest
from health_helpers import SilentServer, a_worker_beats, inbox_messages
from sanic import Sanic
from sanic.response import text
from sqlalchemy import create_engine

from connectors.health import add_health_route
from misybot.db.engine import create_db_engine
from misybot.health import HealthProbe, HealthThresholds
from testkit.processes import free_port
from testkit.waiting import wait_until

THRESHOLDS = HealthThresholds(backlog_limit=3, timeout_s=10)


@pytest.fixture(autouse=True)
def several_apps(monkeypatch):
    """Each test starts an app of its own in this process: Sanic's start-up rewrites of its
    protocol class must begin from the originals each time (what its test mode does)."""
    monkeypatch.setattr(Sanic, "test_mode", True)


@contextlib.asynccontextmanager
async def serving(app: Sanic) -> AsyncIterator[str]:
    """``app`` listening on a free loopback port in this event loop; yields its base URL."""
    port = free_port()
    server = await app.create_server(
        host="127.0.0.1", port=port, return_asyncio_server=True, access_log=False
    )
    await server.startup()
    await server.before_start()
    await server.after_start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await server.before_stop()
        await server.close()
        await server.after_stop()


def health_app(probe: HealthProbe) -> Sanic:
    app = Sanic(f"health_test_{uuid.uuid4().hex[:8]}")
    add_health_route(app, probe)

    @app.get("/ping")
    async def ping(_request):
        return text("pong")

    return app


async def get(url: str) -> tuple[int, dict, str]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.json(), response.headers.get("Cache-Control")


async def test_all_well_answers_200(engine):
    a_worker_beats(engine)
    async with serving(health_app(HealthProbe(engine, THRESHOLDS))) as url:
        status, body, caching = await get(f"{url}/health")
    assert status == 200
    assert body == {
        "healthy": True,
        "failing": [],
        "database": {"healthy": True},
        "workers": {"healthy": True, "alive": 1},
        "backlog": {"healthy": True, "waiting": 0},
    }
    assert caching == "no-store"


async def test_no_worker_heartbeat_answers_503_naming_the_workers(engine):
    async with serving(health_app(HealthProbe(engine, THRESHOLDS))) as url:
        status, body, _ = await get(f"{url}/health")
    assert status == 503
    assert body["failing"] == ["workers"]
    assert body["workers"] == {"healthy": False, "alive": 0}


async def test_a_backlog_over_the_threshold_answers_503_with_its_count(engine):
    a_worker_beats(engine)
    inbox_messages(engine, 4, age_s=300)
    async with serving(health_app(HealthProbe(engine, THRESHOLDS))) as url:
        status, body, _ = await get(f"{url}/health")
    assert status == 503
    assert body["failing"] == ["backlog"]
    assert body["backlog"] == {"healthy": False, "waiting": 4}


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
async def test_an_unreachable_database_answers_503_without_its_address(dialect, tmp_path):
    if dialect == "sqlite":
        engine = create_engine(f"sqlite:///{tmp_path / 'missing' / 'misybot.db'}")
    else:
        engine = create_db_engine(f"postgresql+psycopg2://ops:s3cret@127.0.0.1:{free_port()}/x")
    try:
        app = health_app(HealthProbe(engine, THRESHOLDS))
        async with (
            serving(app) as url,
            aiohttp.ClientSession() as session,
            session.get(f"{url}/health") as answer,
        ):
            status, raw = answer.status, await answer.text()
    finally:
        engine.dispose()
    assert status == 503
    assert '"failing":["database","workers","backlog"]' in raw
    for secret in ("s3cret", "ops", "127.0.0.1", "missing", "Error"):
        assert secret not in raw


def health_threads() -> int:
    return sum(thread.name == "misybot-health" for thread in threading.enumerate())


async def test_the_server_keeps_serving_while_the_database_hangs():
    silent = SilentServer()
    engine = create_db_engine(silent.url)
    probe = HealthProbe(engine, HealthThresholds(timeout_s=120))  # never reached: see below
    before = health_threads()
    try:
        async with serving(health_app(probe)) as url:
            health = asyncio.create_task(get(f"{url}/health"))
            assert await wait_until(lambda: health_threads() > before), "no check began"
            async with aiohttp.ClientSession() as session, session.get(f"{url}/ping") as answer:
                assert await answer.text() == "pong"
            assert not health.done()  # served while the check still waits on the database
            silent.close()  # the database refuses at last: the check ends, unhealthy
            status, body, _ = await health
    finally:
        silent.close()
        engine.dispose()
    assert status == 503 and body["failing"] == ["database", "workers", "backlog"]
