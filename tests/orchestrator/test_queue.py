"""The queue and its workers on a real database (SQLite, and PostgreSQL when it answers)."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
from agents_for_tests import Ledger, registry
from sqlalchemy import func, select, text

from misybot.db.models import AgentExecution, AgentSchedule, Alert
from misybot.db.session import session_scope
from misybot.db.types import utc_now
from misybot.enums import Channel, ExecutionStatus, Role
from misybot.identity import person_conversation
from misybot.orchestrator import queue
from misybot.orchestrator.worker import Worker
from misybot.settings import Settings, get_settings
from testkit.database import Builder, wrote
from testkit.rasa_api import rasa_api
from testkit.waiting import run_until, wait_until

HERE = Path(__file__).resolve().parent


def settings(**changes) -> Settings:
    defaults = {"lease_s": 2.0, "retry_base_s": 0.05, "retry_max_s": 0.2, "max_attempts": 3}
    return dataclasses.replace(get_settings(), **{**defaults, **changes})


def enqueue(sessions, company_id, agent_type="record", n=1, **fields) -> list[int]:
    with session_scope(sessions) as session:
        return [
            queue.enqueue(
                session,
                company_id=company_id,
                agent_type=agent_type,
                context={"n": i, **fields.pop("context", {})},
                **fields,
            )
            for i in range(n)
        ]


def statuses(sessions) -> dict[int, ExecutionStatus]:
    with session_scope(sessions) as session:
        rows = session.execute(select(AgentExecution.id, AgentExecution.status)).all()
    return {row.id: ExecutionStatus(row.status) for row in rows}


def all_finished(sessions):
    return lambda: all(s in queue.FINISHED for s in statuses(sessions).values())


def test_priority_rule_follows_the_design_and_settings():
    rules = get_settings().priorities
    assert queue.priority_for("report", "streamliner", rules) == 10
    assert queue.priority_for("alert_generator", "navigator", rules) == 9
    assert queue.priority_for("inventory_monitor", None, rules) == 8
    assert queue.priority_for("check_inventory", "hub", rules) == 5
    custom = Settings.from_environ({"MISYBOT_PRIORITIES": "check_inventory=7"}).priorities
    assert queue.priority_for("check_inventory", "streamliner", custom) == 7


def test_claims_take_the_highest_priority_first_then_the_oldest(sessions, company_id):
    low = enqueue(sessions, company_id, priority=5)[0]
    high_old = enqueue(sessions, company_id, priority=9)[0]
    high_new = enqueue(sessions, company_id, priority=9)[0]
    top = enqueue(sessions, company_id, priority=10)[0]
    with session_scope(sessions) as session:
        views = {v.id: v.position for v in queue.active_executions(session, company_id)}
    assert views == {top: 1, high_old: 2, high_new: 3, low: 4}
    order = []
    for _ in range(4):
        with session_scope(sessions) as session:
            order += [job.id for job in queue.claim(session, "w1", 30)]
    assert order == [top, high_old, high_new, low]
    with session_scope(sessions) as session:
        assert queue.claim(session, "w1", 30) == []


def test_a_job_whose_lease_expired_is_claimed_again_in_priority_order(sessions, company_id):
    low = enqueue(sessions, company_id, priority=5)[0]
    (urgent,) = enqueue(sessions, company_id, priority=9)
    with session_scope(sessions) as session:
        # A worker takes the urgent job and dies: its lease (zero seconds here) runs out.
        assert [job.id for job in queue.claim(session, "dead", 0)] == [urgent]
    newer_low = enqueue(sessions, company_id, priority=5)[0]
    with session_scope(sessions) as session:
        jobs = queue.claim(session, "alive", 30, limit=3)
    assert [job.id for job in jobs] == [urgent, low, newer_low]
    assert [job.attempts for job in jobs] == [2, 1, 1]
    with session_scope(sessions) as session:
        # The dead worker's late result is refused: the job is someone else's now.
        assert not queue.complete(session, urgent, "dead", {"late": True})
        assert queue.complete(session, urgent, "alive", {"on": "time"})
        assert session.get(AgentExecution, urgent).result == {"on": "time"}


def test_one_renewal_extends_all_held_leases_and_reports_lost_and_cancelled_ones(
    sessions, company_id
):
    (taken_over,) = enqueue(sessions, company_id)
    (stopped,) = enqueue(sessions, company_id, agent_type="looping")
    (held,) = enqueue(sessions, company_id)
    with session_scope(sessions) as session:
        assert len(queue.claim(session, "w1", 0, limit=3)) == 3  # leases already expired
    with session_scope(sessions) as session:
        # Another worker takes over the oldest, and the user stops the looping agent.
        assert [job.id for job in queue.claim(session, "w2", 30)] == [taken_over]
        assert queue.cancel(session, company_id, "looping")["running"] == 1
    with session_scope(sessions) as session:
        renewed = queue.renew(session, [taken_over, stopped, held], "w1", 30)
    assert renewed == {stopped: True, held: False}  # taken_over is w2's now
    with session_scope(sessions) as session:
        assert queue.claim(session, "w3", 30, limit=3) == []  # renewed: nothing expired


async def test_many_workers_run_every_job_exactly_once(engine, sessions, company_id):
    # PostgreSQL: several workers (each its own claims, as separate processes would) share the
    # queue; SQLite supports one worker process.
    ledger = Ledger()
    count = 40 if engine.dialect.name == "sqlite" else 200
    ids = enqueue(sessions, company_id, n=count, context={"sleep_s": 0.005})
    workers = [
        Worker(engine, settings=settings(), registry=registry(ledger), concurrency=5, deliver=False)
        for _ in range(1 if engine.dialect.name == "sqlite" else 4)
    ]
    await run_until(workers, all_finished(sessions))
    assert set(statuses(sessions).values()) == {ExecutionStatus.SUCCEEDED}
    assert ledger.overlaps == []
    assert dict(ledger.runs) == {i: 1 for i in ids}


def _process_url(engine) -> str:
    """A URL another process can use for the same database (the private schema included)."""
    if engine.dialect.name == "sqlite":
        return engine.url.render_as_string(hide_password=False)
    with engine.connect() as connection:
        schema = connection.execute(text("SELECT current_schema()")).scalar_one()
    base = engine.url.render_as_string(hide_password=False)
    return f"{base}?options={quote('-csearch_path=' + schema)}"


async def test_a_killed_worker_s_job_completes_after_its_lease_expires(
    engine, sessions, company_id
):
    (execution_id,) = enqueue(sessions, company_id, agent_type="sleepy")
    process = subprocess.Popen(
        [sys.executable, str(HERE / "worker_process.py"), _process_url(engine), "1.0"],
        env={**os.environ, "MISYBOT_WORKER_CONCURRENCY": "2"},
    )
    try:
        running = await wait_until(
            lambda: (
                process.poll() is None
                and statuses(sessions)[execution_id] == ExecutionStatus.RUNNING
            )
        )
        assert running, "the worker process never began the job"
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    with session_scope(sessions) as session:
        lease_ended = session.get(AgentExecution, execution_id).lease_expires_at
    worker = Worker(engine, settings=settings(lease_s=1.0), registry=registry(), deliver=False)
    await run_until([worker], all_finished(sessions))
    with session_scope(sessions) as session:
        row = session.get(AgentExecution, execution_id)
    assert row.started_at >= lease_ended  # not before the dead worker's lease ran out
    assert row.status == ExecutionStatus.SUCCEEDED
    assert row.attempts == 2 and row.result == {"attempt": 2}


@pytest.fixture
async def fake_rasa():
    async with rasa_api(failures=1) as rasa:
        yield rasa


async def test_transient_errors_are_retried_then_fail_and_the_user_is_told(
    engine, sessions, company_id, fake_rasa
):
    (execution_id,) = enqueue(
        sessions, company_id, agent_type="flaky", context={"sender_id": "+351 900 000 001"}
    )
    with session_scope(sessions) as session:
        assert queue.request_delivery(session, execution_id)
    worker = Worker(
        engine,
        settings=settings(rasa_url=fake_rasa.url, rasa_token="secret"),
        registry=registry(),
    )
    await run_until([worker], lambda: len(fake_rasa.calls) == 1)
    with session_scope(sessions) as session:
        row = session.get(AgentExecution, execution_id)
    assert row.status == ExecutionStatus.FAILED
    assert row.attempts == 3
    assert "supplier portal unreachable" in row.error
    # Rasa was down for the first push: retried, then delivered once, and recorded.
    assert row.response_sent and row.delivery_attempts == 2
    (call,) = fake_rasa.calls
    assert call["sender"] == "+351 900 000 001"
    assert call["query"] == {"output_channel": "latest", "token": "secret"}
    assert call["body"] == {
        "name": "EXTERNAL_agent_result",
        "entities": {"execution_id": str(execution_id)},
    }


async def test_a_result_goes_to_the_preferred_channel_when_the_last_ones_window_closed(
    engine, sessions, company_id, fake_rasa
):
    """Ana last wrote on WhatsApp 30 hours ago (free-form messages are closed there), by
    e-mail, her preferred channel, before: the result is pushed on the e-mail channel."""
    fake_rasa.failures = 0
    with session_scope(sessions) as session:
        ana = Builder(session).user("Ana", Role.OPERATOR, preferred_channel=Channel.EMAIL).id
        wrote(session, ana, Channel.EMAIL, "email", utc_now() - timedelta(hours=50))
        wrote(session, ana, Channel.WHATSAPP, "whatsapp_cloud", utc_now() - timedelta(hours=30))
    (execution_id,) = enqueue(sessions, company_id, context={"sender_id": person_conversation(ana)})
    with session_scope(sessions) as session:
        assert queue.request_delivery(session, execution_id)
    worker = Worker(engine, settings=settings(rasa_url=fake_rasa.url), registry=registry())
    await run_until([worker], lambda: len(fake_rasa.calls) == 1)
    (call,) = fake_rasa.calls
    assert call["sender"] == person_conversation(ana)
    assert call["query"]["output_channel"] == "email"


async def test_an_agent_over_its_time_limit_is_retried_then_failed(engine, sessions, company_id):
    (execution_id,) = enqueue(sessions, company_id, agent_type="slow_timeout", max_attempts=2)
    worker = Worker(engine, settings=settings(), registry=registry(), deliver=False)
    await run_until([worker], all_finished(sessions))
    with session_scope(sessions) as session:
        row = session.get(AgentExecution, execution_id)
    assert (row.status, row.attempts) == (ExecutionStatus.FAILED, 2)
    assert "timed out" in row.error


async def test_stop_cancels_queued_and_running_executions_of_that_agent(
    engine, sessions, company_id
):
    (running,) = enqueue(sessions, company_id, agent_type="looping")
    worker = Worker(engine, settings=settings(), registry=registry(), concurrency=1, deliver=False)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        while statuses(sessions)[running] != ExecutionStatus.RUNNING:
            await asyncio.sleep(0.05)
        # The worker is busy (concurrency 1): these wait in the queue.
        queued = enqueue(sessions, company_id, agent_type="looping", n=2)
        (other,) = enqueue(sessions, company_id, agent_type="record")
        with session_scope(sessions) as session:
            counts = queue.cancel(session, company_id, "looping")
        assert counts == {"queued": 2, "running": 1, "schedules": 0}
        deadline = time.monotonic() + 10
        while statuses(sessions)[other] != ExecutionStatus.SUCCEEDED:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await task
    final = statuses(sessions)
    assert final[running] == ExecutionStatus.CANCELLED
    assert [final[i] for i in queued] == [ExecutionStatus.CANCELLED] * 2
    with session_scope(sessions) as session:
        # What the cancelled agent had written was rolled back; queued ones never started.
        assert session.execute(select(func.count(Alert.id))).scalar_one() == 0
        assert {
            row.attempts
            for row in session.execute(select(AgentExecution)).scalars()
            if row.id in queued
        } == {0}


async def test_recurring_runs_survive_a_restart_until_stopped(engine, sessions, company_id):
    with session_scope(sessions) as session:
        schedule_id = queue.schedule(
            session, company_id=company_id, agent_type="record", interval_s=1, context={}
        ).id

    def runs() -> int:
        with session_scope(sessions) as session:
            return session.execute(
                select(func.count(AgentExecution.id)).where(
                    AgentExecution.schedule_id == schedule_id,
                    AgentExecution.status == ExecutionStatus.SUCCEEDED,
                )
            ).scalar_one()

    first = Worker(engine, settings=settings(), registry=registry(), deliver=False)
    await run_until([first], lambda: runs() >= 1)
    # A new worker (after a restart of everything) carries on from the stored schedule.
    second = Worker(engine, settings=settings(), registry=registry(), deliver=False)
    await run_until([second], lambda: runs() >= 2)
    with session_scope(sessions) as session:
        assert queue.cancel(session, company_id, "record")["schedules"] == 1
        assert session.get(AgentSchedule, schedule_id).active is False
    done = runs()
    third = Worker(engine, settings=settings(), registry=registry(), deliver=False)
    # Three schedule checks, two seconds apart from the first: a live one-second schedule
    # would have run again by then.
    await run_until([third], lambda: third.housekeeping_rounds >= 3)
    assert runs() == done


def test_run_status_and_stop_as_the_chat_commands_use_them(sessions, company_id):
    from misybot.enums import Role
    from misybot.orchestrator import submit
    from misybot.permissions import PermissionDenied
    from testkit.database import Builder

    with session_scope(sessions) as session:
        builder = Builder(session, "acme")
        operator = builder.actor(builder.user("Olga Ops", Role.OPERATOR))
        viewer = builder.actor(builder.user("Vic View", Role.VIEWER))
        schedule_id, first = submit.start_recurring(
            session, operator, "inventory_monitor", {"sender_id": "olga"}
        )
        report = submit.submit(session, viewer, "generate_report", {"sender_id": "vic"})
    assert first.priority == 8 and report.priority == 5
    with session_scope(sessions) as session:
        status = submit.agent_status(session, viewer)
        assert [(v.id, v.position) for v in status] == [
            (first.execution_id, 1),
            (report.execution_id, 2),
        ]
        assert session.get(AgentExecution, first.execution_id).schedule_id == schedule_id
        with pytest.raises(PermissionDenied):
            submit.stop_agent(session, viewer, "inventory_monitor")
    with session_scope(sessions) as session:
        stopped = submit.stop_agent(session, operator, "inventory_monitor")
    assert stopped == {"queued": 1, "running": 0, "schedules": 1}
    assert statuses(sessions)[report.execution_id] == ExecutionStatus.QUEUED
