"""A running worker says it is alive, idle or busy, and takes its word back when it stops."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import socket
from datetime import timedelta

from agents_for_tests import registry
from sqlalchemy import select

from misybot.db.models import WorkerHeartbeat
from misybot.db.session import session_scope
from misybot.db.types import utc_now
from misybot.orchestrator import heartbeats, queue
from misybot.orchestrator.worker import Worker
from misybot.settings import get_settings
from testkit.waiting import wait_until


def beats(sessions) -> dict[str, WorkerHeartbeat]:
    with session_scope(sessions) as session:
        rows = session.execute(select(WorkerHeartbeat)).scalars().all()
    return {row.worker_id: row for row in rows}


def make_worker(engine, **changes) -> Worker:
    settings = dataclasses.replace(get_settings(), worker_heartbeat_s=0.05, lease_s=5.0, **changes)
    return Worker(engine, settings=settings, registry=registry(), deliver=False)


async def test_an_idle_worker_beats_and_its_row_goes_when_it_stops_cleanly(engine, sessions):
    worker = make_worker(engine)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        first = await wait_until(lambda: beats(sessions).get(worker.worker_id))
        assert first, "the worker never beat"
        assert (first.host, first.pid, first.running) == (socket.gethostname(), os.getpid(), 0)
        later = await wait_until(
            lambda: (row := beats(sessions).get(worker.worker_id)) and row.beat_at > first.beat_at
        )
        assert later, "the heartbeat was not refreshed"
        with session_scope(sessions) as session:
            assert heartbeats.alive(session, max_age_s=15) == 1
    finally:
        stop.set()
        await task
    assert beats(sessions) == {}


async def test_the_heartbeat_counts_the_executions_running(engine, sessions, company_id):
    worker = make_worker(engine)
    with session_scope(sessions) as session:
        queue.enqueue(session, company_id=company_id, agent_type="looping", context={})
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        busy = await wait_until(
            lambda: (row := beats(sessions).get(worker.worker_id)) and row.running == 1
        )
        assert busy, "the heartbeat never showed the running execution"
        with session_scope(sessions) as session:
            queue.cancel(session, company_id, "looping")
    finally:
        stop.set()
        await task


def test_a_dead_worker_s_row_stops_counting_once_it_is_older_than_the_limit(sessions):
    identity = heartbeats.WorkerIdentity("host:1:dead", "host", 1, utc_now())
    with session_scope(sessions) as session:
        heartbeats.beat(session, identity, running=2)
    with session_scope(sessions) as session:
        assert heartbeats.alive(session, max_age_s=15) == 1
        later = utc_now() + timedelta(seconds=16)
        assert heartbeats.alive(session, max_age_s=15, now=later) == 0


def test_a_new_worker_clears_rows_dead_workers_left_a_day_ago(sessions):
    long_dead = heartbeats.WorkerIdentity("host:1:old", "host", 1, utc_now() - timedelta(days=3))
    with session_scope(sessions) as session:
        heartbeats.beat(session, long_dead, running=0)
        session.get(WorkerHeartbeat, "host:1:old").beat_at = utc_now() - timedelta(days=2)
    newcomer = heartbeats.WorkerIdentity("host:2:new", "host", 2, utc_now())
    with session_scope(sessions) as session:
        heartbeats.beat(session, newcomer, running=0)
    assert set(beats(sessions)) == {"host:2:new"}
