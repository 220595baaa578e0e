"""A real worker pushes notifications to a stand-in of Rasa's ``trigger_intent`` API: once
each, on the person's channel, not during their quiet hours, held while no channel can carry
it and sent once they write; a push Rasa took but answered nothing to is tried again."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from misybot.db.models import (
    AgentExecution,
    AgentSchedule,
    ChannelIdentity,
    Notification,
    User,
)
from misybot.db.session import make_session_factory, session_scope
from misybot.db.types import utc_now
from misybot.enums import Channel, ExecutionStatus, Role
from misybot.errors import MisybotError
from misybot.identity import person_conversation
from misybot.notify import outbox
from misybot.orchestrator import queue
from misybot.orchestrator.registry import AgentSpec
from misybot.orchestrator.worker import Worker
from misybot.people.reach import publish_reach
from misybot.settings import get_settings
from testkit.database import Builder, wrote
from testkit.rasa_api import rasa_api
from testkit.waiting import run_until

TRANSPORT = "whatsapp_twilio"


def settings(rasa_url: str):
    return dataclasses.replace(
        get_settings(), rasa_url=rasa_url, rasa_token="t", lease_s=2.0, retry_base_s=0.05
    )


def scans(findings: list[list[dict]]):
    """A scan agent that raises ``findings[n]`` on its n-th run (then nothing)."""

    def run(session, actor, context, run_context):
        raised = findings.pop(0) if findings else []
        return {"raised": raised, "cleared": [], "unresolved_count": len(raised)}

    return {"inventory_monitor": AgentSpec(run)}


def broken(session, actor, context, run_context):
    raise MisybotError("the supplier portal refused the export")


@pytest.fixture
def person(engine):
    """Ana (operator) with a WhatsApp number she wrote from an hour ago; returns her id."""
    sessions = make_session_factory(engine)
    with session_scope(sessions) as session:
        acme = Builder(session)
        ana = acme.user("Ana Silva", Role.OPERATOR)
        session.add(ChannelIdentity(user_id=ana.id, channel=Channel.WHATSAPP, address="+351911"))
        publish_reach(session, TRANSPORT, Channel.WHATSAPP, None)
        wrote(session, ana.id, Channel.WHATSAPP, TRANSPORT, utc_now() - timedelta(hours=1))
        return sessions, acme.id, ana.id


def schedule(sessions, company_id: int, user_id: int, agent_type: str, notify: str = "new"):
    with session_scope(sessions) as session:
        return queue.schedule(
            session,
            company_id=company_id,
            user_id=user_id,
            agent_type=agent_type,
            interval_s=3600,
            context={"sender_id": person_conversation(user_id), "command": "run_agent"},
            notify=notify,
        ).id


def executions(sessions, status=ExecutionStatus.SUCCEEDED) -> list[int]:
    with session_scope(sessions) as session:
        return list(
            session.execute(
                select(AgentExecution.id).where(AgentExecution.status == status)
            ).scalars()
        )


def notifications(sessions) -> list[Notification]:
    with session_scope(sessions) as session:
        rows = session.execute(select(Notification).order_by(Notification.id)).scalars().all()
        session.expunge_all()
        return rows


async def test_a_recurring_run_is_pushed_when_it_finds_something_and_only_then(engine, person):
    sessions, company_id, ana = person
    schedule_id = schedule(sessions, company_id, ana, "inventory_monitor")
    async with rasa_api() as rasa:
        worker = Worker(
            engine, settings=settings(rasa.url), registry=scans([[{"id": 1, "title": "out"}]])
        )
        await run_until([worker], lambda: len(rasa.calls) == 1)
        (call,) = rasa.calls
        assert call["sender"] == person_conversation(ana)
        assert call["query"] == {"output_channel": TRANSPORT, "token": "t"}
        assert call["body"]["name"] == "EXTERNAL_notification"
        # The next run finds nothing: it runs, and nothing is queued for Ana.
        with session_scope(sessions) as session:
            session.execute(
                update(AgentSchedule).values(next_run_at=utc_now() - timedelta(seconds=1))
            )
        again = Worker(engine, settings=settings(rasa.url), registry=scans([]))  # a run ends one
        await run_until([again], lambda: len(executions(sessions)) == 2)
    assert len(rasa.calls) == 1
    (pushed,) = notifications(sessions)
    assert (pushed.status, pushed.channel, pushed.attempts) == ("sent", TRANSPORT, 1)
    with session_scope(sessions) as session:
        assert session.get(AgentSchedule, schedule_id).active


async def test_every_run_is_pushed_when_that_was_asked_and_a_failure_is_news(engine, person):
    sessions, company_id, ana = person
    schedule(sessions, company_id, ana, "inventory_monitor", notify="always")
    schedule(sessions, company_id, ana, "broken")
    registry = {**scans([]), "broken": AgentSpec(broken)}
    async with rasa_api() as rasa:
        worker = Worker(engine, settings=settings(rasa.url), registry=registry)
        await run_until([worker], lambda: len(rasa.calls) == 2)
    kinds = sorted(n.execution_id for n in notifications(sessions))
    assert len(kinds) == 2 and executions(sessions, ExecutionStatus.FAILED)


async def test_nothing_is_pushed_in_quiet_hours_it_waits_for_their_end(engine, person):
    sessions, company_id, ana = person
    now = utc_now()  # the company's zone is UTC
    minute = now.hour * 60 + now.minute
    with session_scope(sessions) as session:
        session.execute(
            update(User)
            .where(User.id == ana)
            .values(quiet_from=(minute - 60) % 1440, quiet_until=(minute + 60) % 1440)
        )
    schedule(sessions, company_id, ana, "inventory_monitor", notify="always")
    async with rasa_api() as rasa:
        worker = Worker(engine, settings=settings(rasa.url), registry=scans([]))

        def waiting():
            found = notifications(sessions)
            return found and found[0].note == "quiet hours"

        await run_until([worker], waiting)
    assert rasa.calls == []
    (waiting_one,) = notifications(sessions)
    assert waiting_one.status == "pending"
    assert timedelta(minutes=58) < waiting_one.available_at - now <= timedelta(minutes=61)


async def test_held_while_no_channel_can_carry_it_then_sent_when_they_write(engine, person):
    sessions, company_id, ana = person
    with session_scope(sessions) as session:  # her window closed 6 hours ago, no template
        session.execute(
            update(outbox.ConversationMessage).values(received_at=utc_now() - timedelta(hours=30))
        )
    schedule(sessions, company_id, ana, "inventory_monitor", notify="always")
    async with rasa_api() as rasa:
        worker = Worker(engine, settings=settings(rasa.url), registry=scans([]))
        await run_until([worker], lambda: [n.status for n in notifications(sessions)] == ["held"])
        assert rasa.calls == []
        assert "until they write" in notifications(sessions)[0].note
        with session_scope(sessions) as session:  # she writes: the window opens
            wrote(session, ana, Channel.WHATSAPP, TRANSPORT, utc_now() + timedelta(seconds=1))
        again = Worker(engine, settings=settings(rasa.url), registry=scans([]))
        await run_until([again], lambda: len(rasa.calls) == 1)
    assert rasa.calls[0]["query"]["output_channel"] == TRANSPORT
    assert notifications(sessions)[0].status == "sent"


async def test_a_push_rasa_answered_nothing_to_is_tried_again(engine, person):
    sessions, company_id, ana = person
    schedule(sessions, company_id, ana, "inventory_monitor", notify="always")
    async with rasa_api(silent=1) as rasa:  # the action failed once: 200, no reply
        worker = Worker(engine, settings=settings(rasa.url), registry=scans([]))
        await run_until(
            [worker], lambda: rasa.calls and notifications(sessions)[0].status == "sent"
        )
    (pushed,) = notifications(sessions)
    assert pushed.attempts == 2
