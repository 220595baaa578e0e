"""The health check: the database answers, a worker is alive, the inbox keeps up — each with its
figure — on SQLite and PostgreSQL, and an unreachable or hung database within the time limit."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
from health_helpers import SilentServer, a_worker_beats, inbox_messages
from sqlalchemy import create_engine
from sqlalchemy.engine import Engine

from misybot.db.engine import create_db_engine
from misybot.db.types import utc_now
from misybot.enums import InboxStatus
from misybot.health import HealthProbe, HealthThresholds, describe, measure

THRESHOLDS = HealthThresholds(worker_max_age_s=15, backlog_age_s=60, backlog_limit=3, timeout_s=10)


def test_all_well_is_healthy_with_its_figures(engine):
    a_worker_beats(engine)
    inbox_messages(engine, 2, age_s=120)

    report = HealthProbe(engine, THRESHOLDS).check()

    assert report.healthy and report.failing == ()
    assert report.database.healthy and report.database.latency_ms >= 0
    assert (report.workers.alive, report.backlog.waiting) == (1, 2)
    assert report.public() == {
        "healthy": True,
        "failing": [],
        "database": {"healthy": True},
        "workers": {"healthy": True, "alive": 1},
        "backlog": {"healthy": True, "waiting": 2},
    }


def test_no_worker_heartbeat_is_unhealthy(engine):
    report = HealthProbe(engine, THRESHOLDS).check()

    assert not report.healthy
    assert report.failing == ("workers",)
    assert report.workers.alive == 0


def test_a_heartbeat_older_than_the_limit_does_not_count(engine):
    a_worker_beats(engine)  # and then nothing for 16 seconds: the worker was killed

    report = measure(engine, THRESHOLDS, now=utc_now() + timedelta(seconds=16))

    assert report.failing == ("workers",)


def test_a_backlog_at_the_threshold_is_unhealthy_and_only_old_unprocessed_messages_count(engine):
    a_worker_beats(engine)
    inbox_messages(engine, 3, age_s=120)  # waiting for two minutes: backlog
    inbox_messages(engine, 5, age_s=0)  # just arrived: not (yet) backlog
    inbox_messages(engine, 5, age_s=600, status=InboxStatus.PROCESSED)

    report = HealthProbe(engine, THRESHOLDS).check()

    assert report.failing == ("backlog",)
    assert (report.backlog.waiting, report.backlog.limit) == (3, 3)
    assert "backlog: FAILING (3 inbox message(s) waiting over 60 s" in describe(report)


@pytest.fixture(params=["sqlite", "postgresql"])
def unreachable_engine(request, tmp_path) -> Iterator[Engine]:
    """A database that cannot be opened: a SQLite file in a directory that does not exist, a
    PostgreSQL port nothing listens on."""
    if request.param == "sqlite":
        engine = create_engine(f"sqlite:///{tmp_path / 'missing' / 'misybot.db'}")
    else:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        engine = create_db_engine(f"postgresql+psycopg2://postgres:s3cret@127.0.0.1:{port}/test")
    yield engine
    engine.dispose()


def test_an_unreachable_database_is_unhealthy_and_says_nothing_else(unreachable_engine):
    report = HealthProbe(unreachable_engine, THRESHOLDS).check()

    assert report.failing == ("database", "workers", "backlog")
    assert report.database.problem.startswith("OperationalError")
    assert (report.workers.alive, report.backlog.waiting) == (None, None)
    public = report.public()
    assert public["database"] == {"healthy": False}
    assert "s3cret" not in repr(public) and "127.0.0.1" not in repr(public)


@pytest.fixture
def silent_server() -> Iterator[SilentServer]:
    server = SilentServer()
    yield server
    server.close()


def health_threads() -> int:
    return sum(thread.name == "misybot-health" for thread in threading.enumerate())


def test_a_database_that_hangs_is_reported_within_the_limit_by_one_thread(silent_server):
    engine = create_db_engine(silent_server.url)
    probe = HealthProbe(engine, HealthThresholds(timeout_s=0.3))
    before = health_threads()
    try:
        first = probe.check()
        second = probe.check()  # the first check still waits: no second thread
        assert first.failing == second.failing == ("database", "workers", "backlog")
        assert first.database.problem == "no answer within 0.3 s"
        assert health_threads() == before + 1
    finally:
        engine.dispose()
