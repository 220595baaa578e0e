"""Privacy requests (misybot.privacy): an export holds everything of one person and nothing
of anyone else; an erasure leaves nothing that names them or that they wrote in any store, keeps
the business records and other people's data, and a late redelivery is still a duplicate."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from datetime import date, timedelta
from urllib.parse import urlencode

import pytest
from sqlalchemy import select, update

from connectors.core.inbox import Inbox, OutboundRecord
from connectors.twilio import parse_form, parse_inbound
from misybot.db.models import (
    AgentExecution,
    ChannelIdentity,
    ConversationEvent,
    ConversationMessage,
    EmailOutbox,
    Report,
    User,
)
from misybot.db.session import make_session_factory, session_scope
from misybot.db.types import utc_now
from misybot.enums import Channel, DeliveryStatus, InboxStatus, ReportType, Role
from misybot.errors import Conflict, NotFound
from misybot.identity import person_conversation
from misybot.orchestrator.worker import Worker
from misybot.people import team
from misybot.people.invitations import invite
from misybot.privacy.erase import erase_person
from misybot.privacy.export import export_person
from misybot.privacy.retention import apply_retention
from misybot.settings import get_settings
from testkit.database import Builder, stored_text
from testkit.payloads import inbound_form
from testkit.waiting import wait_until

ANA = {"name": "Ana Privada", "email": "ana.privada@acme.example", "phone": "+351915550001"}
BOB = {"name": "Bob Restante", "email": "bob.restante@acme.example", "phone": "+351915550002"}
ANA_SAID = ["how many WID-220 are left in Lisbon", "generate the sales report for last week"]
BOB_SAID = ["show me the open alerts please"]


def whatsapp(sid: str, phone: str, text: str):
    fields = inbound_form(f"whatsapp:{phone}", text, account_sid="AC1", MessageSid=sid)
    return parse_inbound(parse_form(urlencode(fields).encode()))


@pytest.fixture
def world(engine, tmp_path):
    """Acme: an admin, Ana and Bob, each with messages, replies, conversation events, an agent
    run; Ana also a report on disk, an invitation, a Messenger link and a queued mail."""
    sessions = make_session_factory(engine)
    inbox = Inbox(sessions)
    with session_scope(sessions) as session:
        acme = Builder(session)
        admin = acme.user("Rita Admin", Role.ADMIN, "rita@acme.example")
        ids = {"admin": admin.id}
        for key, person in (("ana", ANA), ("bob", BOB)):
            user = acme.user(person["name"], Role.OPERATOR, person["email"], phone=person["phone"])
            session.add(
                ChannelIdentity(user_id=user.id, channel=Channel.WHATSAPP, address=person["phone"])
            )
            ids[key] = user.id
        session.add(
            ChannelIdentity(user_id=ids["ana"], channel=Channel.MESSENGER, address="6005550001")
        )
        ids["acme"] = acme.id
    stored = {}
    for key, person, said in (("ana", ANA, ANA_SAID), ("bob", BOB, BOB_SAID)):
        stored[key] = []
        for n, text in enumerate(said):
            message = inbox.store(
                whatsapp(f"SM{key[0]}{n}", person["phone"], text), InboxStatus.RECEIVED
            )
            stored[key].append(message)
            inbox.record_outbound(
                OutboundRecord(
                    channel=Channel.WHATSAPP,
                    recipient=person["phone"],
                    body=f"{person['name'].split()[0]}, about '{text}': done",
                    status=DeliveryStatus.SENT,
                    attempts=1,
                    provider_message_id=f"SMout{key[0]}{n}",
                    conversation_message_id=message.id,
                )
            )
    folder = tmp_path / "reports"
    folder.mkdir()
    report_file = folder / "sales-ana.csv"
    report_file.write_text(f"requested by,{ANA['name']}\nsku,units\nWID-220,4\n")
    with session_scope(sessions) as session:
        for key, person, said in (("ana", ANA, ANA_SAID), ("bob", BOB, BOB_SAID)):
            conversation = person_conversation(ids[key])
            for n, text in enumerate(said):
                event = {
                    "event": "user",
                    "text": text,
                    "metadata": {"address": person["phone"], "profile_name": person["name"]},
                }
                session.add(
                    ConversationEvent(
                        conversation_id=conversation,
                        type_name="user",
                        timestamp=time.time() + n,
                        data=json.dumps(event),
                    )
                )
            session.add(
                AgentExecution(
                    company_id=ids["acme"],
                    user_id=ids[key],
                    agent_type="inventory_monitor",
                    context={"sender_id": conversation, "text": said[0]},
                    result={"summary": f"for {person['name']}"},
                )
            )
        session.add(
            Report(
                company_id=ids["acme"],
                report_type=ReportType.SALES,
                start_date=date(2026, 11, 23),
                end_date=date(2026, 11, 29),
                file_path=str(report_file),
                summary={"units": 4},
                requested_by_id=ids["ana"],
            )
        )
        session.add(
            EmailOutbox(
                message_id="<r1@misy.example>",
                recipient=ANA["email"],
                body=f"Hi {ANA['name']}",
                raw=f"To: {ANA['email']}\r\n\r\nHi".encode(),
                status="pending",
            )
        )
        invite(session, team.admin_actor(session, "acme", "rita@acme.example"), ANA["email"])
    return {"sessions": sessions, "inbox": inbox, "ids": ids, "stored": stored, "file": report_file}


def admin_session(world):
    return session_scope(world["sessions"])


def traces(text: str, person: dict, said: list[str]) -> list[str]:
    needles = [person["name"], person["email"], person["phone"], person["phone"][1:], *said]
    needles.append(person["name"].split()[0])
    return [needle for needle in needles if needle.lower() in text.lower()]


def test_an_export_holds_the_persons_data_and_nobody_elses(world):
    with admin_session(world) as session:
        admin = team.admin_actor(session, "acme", "rita@acme.example")
        document = export_person(session, admin, ANA["email"])
    text = json.dumps(document, default=str)
    assert document["profile"]["email"] == ANA["email"]
    assert {i["channel"] for i in document["identities"]} == {"whatsapp", "messenger"}
    assert [m["body"] for m in document["messages_received"]] == ANA_SAID
    assert len(document["messages_sent"]) == 2
    (conversation,) = document["conversations"].values()
    assert [e["text"] for e in conversation] == ANA_SAID
    assert [e["context"]["text"] for e in document["agent_executions"]] == [ANA_SAID[0]]
    assert [r["file_path"] for r in document["reports"]] == [str(world["file"])]
    assert {entry["action"] for entry in document["audit"]} == {"invitation.create"}
    assert traces(text, BOB, BOB_SAID) == []
    # The export itself is on record.
    with admin_session(world) as session:
        admin = team.admin_actor(session, "acme", "rita@acme.example")
        document = export_person(session, admin, ANA["email"])
    assert [e["action"] for e in document["audit"]][-1] == "privacy.export"


def test_an_erasure_leaves_nothing_of_the_person_in_any_store(world):
    ids = world["ids"]
    answered, waiting = (message.id for message in world["stored"]["ana"])
    with admin_session(world) as session:
        session.execute(
            update(ConversationMessage)
            .where(ConversationMessage.id == answered)
            .values(status=InboxStatus.PROCESSED.value)
        )
    with admin_session(world) as session:
        admin = team.admin_actor(session, "acme", "rita@acme.example")
        receipt = erase_person(session, admin, ANA["email"])
    with admin_session(world) as session:
        statuses = {
            row.id: (row.status, row.error)
            for row in session.execute(select(ConversationMessage)).scalars()
        }
    # What was answered stays answered (the counts stay true); what waited is not processed.
    assert statuses[answered] == ("processed", None)
    assert statuses[waiting] == ("failed", "erased before it was processed")
    assert receipt["conversation_messages"] == 2 and receipt["outbound_messages"] == 2
    assert receipt["tracker_store"] == 2 and receipt["channel_identities"] == 2
    assert receipt["report_files"] == 1 and receipt["email_outbox"] == 1
    assert receipt["invitations"] == 1 and receipt["agent_executions"] == 1
    stored = stored_text(world["sessions"].kw["bind"])
    assert traces(stored, ANA, ANA_SAID) == []
    assert not world["file"].exists()
    # Bob's data and the business records are intact.
    assert traces(stored, BOB, BOB_SAID) == [
        BOB["name"],
        BOB["email"],
        BOB["phone"],
        BOB["phone"][1:],
        *BOB_SAID,
        "Bob",
    ]
    with admin_session(world) as session:
        ana = session.get(User, ids["ana"])
        assert (ana.name, ana.email, ana.phone, ana.active) == (
            f"Erased user {ids['ana']}",
            None,
            None,
            False,
        )
        report = session.execute(select(Report)).scalar_one()
        assert report.summary == {"units": 4} and report.requested_by_id == ids["ana"]
        runs = session.execute(select(AgentExecution).order_by(AgentExecution.id)).scalars()
        assert [(r.user_id, r.agent_type) for r in runs] == [
            (ids["ana"], "inventory_monitor"),
            (ids["bob"], "inventory_monitor"),
        ]
        bob_rows = session.execute(
            select(ConversationMessage.body).where(ConversationMessage.user_id == ids["bob"])
        ).scalars()
        assert list(bob_rows) == BOB_SAID


def test_a_late_redelivery_of_an_erased_message_is_still_a_duplicate(world):
    with admin_session(world) as session:
        erase_person(session, team.admin_actor(session, "acme", "rita@acme.example"), ANA["email"])
    inbox = world["inbox"]
    assert inbox.store(whatsapp("SMa0", ANA["phone"], ANA_SAID[0]), InboxStatus.RECEIVED) is None
    fresh = inbox.store(whatsapp("SMa9", ANA["phone"], "hello again"), InboxStatus.RECEIVED)
    assert fresh is not None and fresh.user_id is None  # a stranger now


def test_an_admin_cannot_erase_themself_nor_someone_of_another_company(world):
    with admin_session(world) as session:
        Builder(session, "globex").user("Gina Globex", Role.ADMIN, "gina@globex.example")
    with admin_session(world) as session:
        admin = team.admin_actor(session, "acme", "rita@acme.example")
        with pytest.raises(Conflict):
            erase_person(session, admin, "rita@acme.example")
        with pytest.raises(NotFound):
            erase_person(session, admin, "gina@globex.example")
        with pytest.raises(NotFound):
            export_person(session, admin, "gina@globex.example")
    with admin_session(world) as session:
        assert (
            session.execute(
                select(User.name).where(User.email == "gina@globex.example")
            ).scalar_one()
            == "Gina Globex"
        )


def processed_and_aged(sessions, user_id: int, days: int) -> None:
    """Every message processed; ``user_id``'s (and their conversation's) ``days`` old."""
    then = utc_now() - timedelta(days=days)
    with session_scope(sessions) as session:
        session.execute(update(ConversationMessage).values(status=InboxStatus.PROCESSED.value))
        session.execute(
            update(ConversationMessage)
            .where(ConversationMessage.user_id == user_id)
            .values(received_at=then)
        )
        session.execute(
            update(ConversationEvent)
            .where(ConversationEvent.conversation_id == person_conversation(user_id))
            .values(timestamp=then.timestamp())
        )


def test_retention_blanks_old_bodies_and_keeps_the_counts(world):
    sessions = world["sessions"]
    processed_and_aged(sessions, world["ids"]["ana"], days=40)
    with session_scope(sessions) as session:
        done = apply_retention(session, 30)
    assert done["conversation_messages"] == 2 and done["conversation_events"] == 2
    with session_scope(sessions) as session:
        said = [
            json.loads(data)["text"]
            for data in session.execute(
                select(ConversationEvent.data).order_by(ConversationEvent.id)
            ).scalars()
        ]
    assert said == ["", "", *BOB_SAID]  # Ana's old turns blanked, Bob's recent one kept
    with session_scope(sessions) as session:
        rows = session.execute(select(ConversationMessage.user_id, ConversationMessage.body)).all()
    assert sorted(body for _, body in rows) == sorted(["", "", *BOB_SAID])
    assert len(rows) == 3
    with session_scope(sessions) as session:  # nothing left to do: a second sweep is a no-op
        again = apply_retention(session, 30)
        assert again["conversation_messages"] == again["conversation_events"] == 0
        kept = (
            session.execute(
                select(ConversationMessage.payload).where(
                    ConversationMessage.user_id == world["ids"]["ana"]
                )
            )
            .scalars()
            .all()
        )
    # What a later privacy request needs (the conversation) and the transport stay.
    assert {tuple(sorted(payload)) for payload in kept} == {("channel", "sender", "transport")}


async def test_a_worker_with_a_retention_setting_blanks_old_bodies(world, engine):
    sessions = world["sessions"]
    processed_and_aged(sessions, world["ids"]["bob"], days=8)
    settings = dataclasses.replace(get_settings(), retention_days=7)
    worker = Worker(engine, settings=settings, deliver=False)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        assert await wait_until(lambda: worker.retention_sweeps >= 1)
    finally:
        stop.set()
        await task
    with session_scope(sessions) as session:
        bodies = dict(
            session.execute(select(ConversationMessage.body, ConversationMessage.user_id)).all()
        )
    assert set(bodies) == {"", *ANA_SAID}  # Bob's week-old message is blank, Ana's kept
