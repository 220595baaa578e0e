"""Idle workers on SQLite are woken when a job is enqueued (no polling), and find work a missed
wake-up would leave waiting through their once-a-second look."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import socket
import tempfile
from pathlib import Path

import pytest
from agents_for_tests import registry
from sqlalchemy import insert

from misybot.db.models import AgentExecution
from misybot.db.session import make_session_factory, session_scope
from misybot.db.types import utc_now
from misybot.enums import ExecutionStatus
from misybot.orchestrator import queue, wakeup
from misybot.orchestrator.worker import Worker
from misybot.settings import get_settings
from testkit.database import Builder, migrated_sqlite
from testkit.waiting import wait_until

ASLEEP_FOR_GOOD = 3600.0  # a safety-net interval no test outlives: only a wake-up can help


@pytest.fixture
def sqlite(tmp_path):
    engine = migrated_sqlite(tmp_path / "misybot.db")
    yield engine
    engine.dispose()


@pytest.fixture
def sessions(sqlite):
    return make_session_factory(sqlite)


@pytest.fixture
def company_id(sessions) -> int:
    with session_scope(sessions) as session:
        return Builder(session, "acme").id


def enqueue(sessions, company_id: int) -> int:
    with session_scope(sessions) as session:
        return queue.enqueue(session, company_id=company_id, agent_type="record", context={})


def status(sessions, execution_id: int) -> ExecutionStatus:
    with session_scope(sessions) as session:
        return ExecutionStatus(session.get(AgentExecution, execution_id).status)


def make_worker(engine, idle_s: float = ASLEEP_FOR_GOOD) -> Worker:
    settings = dataclasses.replace(get_settings(), lease_s=5.0)
    return Worker(engine, settings=settings, registry=registry(), deliver=False, idle_s=idle_s)


async def running(workers: list[Worker]):
    stop = asyncio.Event()
    tasks = [asyncio.create_task(worker.run(stop)) for worker in workers]
    return stop, tasks


async def test_an_idle_worker_is_woken_by_an_enqueue_and_runs_the_job(sqlite, sessions, company_id):
    worker = make_worker(sqlite)
    stop, tasks = await running([worker])
    try:
        assert await wait_until(lambda: worker.naps >= 1), "the worker never went idle"
        execution_id = enqueue(sessions, company_id)
        done = await wait_until(lambda: status(sessions, execution_id) == ExecutionStatus.SUCCEEDED)
        assert done, "the sleeping worker was not woken"
        assert worker.wakeups >= 1
    finally:
        stop.set()
        await asyncio.gather(*tasks)


async def test_every_worker_on_one_sqlite_file_is_woken(sqlite, sessions, company_id):
    workers = [make_worker(sqlite), make_worker(sqlite)]
    stop, tasks = await running(workers)
    try:
        assert await wait_until(lambda: all(worker.naps >= 1 for worker in workers))
        execution_id = enqueue(sessions, company_id)
        assert await wait_until(lambda: all(worker.wakeups >= 1 for worker in workers))
        assert await wait_until(lambda: status(sessions, execution_id) == ExecutionStatus.SUCCEEDED)
    finally:
        stop.set()
        await asyncio.gather(*tasks)


async def test_work_a_wake_up_missed_is_found_by_the_look_once_a_second(
    sqlite, sessions, company_id
):
    worker = make_worker(sqlite, idle_s=1.0)
    stop, tasks = await running([worker])
    try:
        assert await wait_until(lambda: worker.naps >= 1)
        with session_scope(sessions) as session:  # written without queue.enqueue: no poke
            now = utc_now()
            execution_id = session.execute(
                insert(AgentExecution).values(
                    company_id=company_id,
                    agent_type="record",
                    status=ExecutionStatus.QUEUED,
                    context={},
                    available_at=now,
                    created_at=now,
                    updated_at=now,
                )
            ).inserted_primary_key[0]
        done = await wait_until(lambda: status(sessions, execution_id) == ExecutionStatus.SUCCEEDED)
        assert done, "the safety net did not find the job"
        assert worker.wakeups == 0
    finally:
        stop.set()
        await asyncio.gather(*tasks)


def test_the_poke_comes_with_the_commit_and_not_with_a_rollback(sqlite, sessions, company_id):
    listener = wakeup.WakeSocket(wakeup.wake_directory(sqlite.url.database)).open()
    try:
        session = sessions()
        queue.enqueue(session, company_id=company_id, agent_type="record", context={})
        assert listener.drain() == 0  # not yet visible to a worker: no poke
        session.commit()
        assert listener.drain() == 1
        queue.enqueue(session, company_id=company_id, agent_type="record", context={})
        session.rollback()
        assert listener.drain() == 0
        with session.begin():
            for _ in range(3):
                queue.enqueue(session, company_id=company_id, agent_type="record", context={})
        assert listener.drain() == 1  # one poke per transaction
        session.close()
    finally:
        listener.close()


def test_a_savepoint_released_before_the_commit_does_not_poke_early(sqlite, sessions, company_id):
    listener = wakeup.WakeSocket(wakeup.wake_directory(sqlite.url.database)).open()
    try:
        with session_scope(sessions) as session:
            with session.begin_nested():
                queue.enqueue(session, company_id=company_id, agent_type="record", context={})
            assert listener.drain() == 0
        assert listener.drain() == 1
    finally:
        listener.close()


def test_a_dead_worker_s_socket_is_removed_by_the_next_poke(tmp_path):
    directory = tmp_path / "w"
    alive = wakeup.WakeSocket(directory).open()
    dead = wakeup.WakeSocket(directory).open()
    dead.socket.close()  # killed: its socket file stays behind, bound to nobody
    try:
        assert dead.path.exists()
        assert wakeup.poke(directory) == 1
        assert not dead.path.exists()
        assert alive.drain() == 1
    finally:
        alive.close()


def test_a_poke_with_no_worker_listening_does_nothing_and_never_fails(tmp_path):
    assert wakeup.poke(tmp_path / "nobody-ever-listened") == 0
    assert wakeup.poke(None) == 0


def test_a_full_socket_buffer_counts_as_woken_and_does_not_block(tmp_path):
    listener = wakeup.WakeSocket(tmp_path / "w").open()
    try:
        for _ in range(10_000):  # far past any datagram queue length
            assert wakeup.poke(listener.directory) == 1
        assert listener.drain() >= 1
    finally:
        listener.close()


def test_a_long_database_path_gets_a_short_hashed_wake_directory(tmp_path):
    deep = tmp_path.joinpath(*["a-rather-long-directory-name"] * 6, "misybot.db")
    directory = wakeup.wake_directory(str(deep))
    assert directory.parent == Path(tempfile.gettempdir())
    assert len(os.fsencode(directory / "4194304-00000000.sock")) <= wakeup.SUN_PATH_MAX
    assert directory == wakeup.wake_directory(str(deep))  # both sides agree
    assert directory != wakeup.wake_directory(str(deep.with_name("other.db")))
    listener = wakeup.WakeSocket(directory).open()  # and a socket can be bound there
    try:
        assert wakeup.poke(directory) == 1
    finally:
        listener.close()


def test_a_short_database_path_keeps_its_wake_directory_beside_it():
    assert wakeup.wake_directory("/srv/misybot/var/misybot.db") == Path(
        "/srv/misybot/var/misybot.db.wake"
    )
    assert wakeup.wake_directory(":memory:") is None


def test_a_wake_directory_someone_else_planted_is_refused(tmp_path):
    target = tmp_path / "elsewhere"
    target.mkdir()
    planted = tmp_path / "planted"
    planted.symlink_to(target)
    with pytest.raises(PermissionError):
        wakeup.WakeSocket(planted).open()


async def test_a_worker_that_cannot_listen_still_picks_up_work_by_polling(
    tmp_path, company_id, sessions, sqlite
):
    directory = wakeup.wake_directory(sqlite.url.database)
    directory.parent.mkdir(parents=True, exist_ok=True)
    directory.write_text("not a directory")  # the worker cannot bind its socket there
    worker = make_worker(sqlite)
    stop, tasks = await running([worker])
    try:
        assert await wait_until(lambda: worker.naps >= 1)
        execution_id = enqueue(sessions, company_id)
        assert await wait_until(lambda: status(sessions, execution_id) == ExecutionStatus.SUCCEEDED)
        assert worker.wakeups == 0
    finally:
        stop.set()
        await asyncio.gather(*tasks)
        directory.unlink()


def test_the_wake_socket_is_a_datagram_socket_bound_to_its_path(tmp_path):
    listener = wakeup.WakeSocket(tmp_path / "w").open()
    try:
        assert listener.socket.type == socket.SOCK_DGRAM
        assert os.fsdecode(listener.socket.getsockname()) == str(listener.path)
        assert oct(os.stat(listener.directory).st_mode & 0o777) == "0o700"
    finally:
        listener.close()
    assert not listener.path.exists()
