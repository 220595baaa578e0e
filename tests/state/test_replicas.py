"""Conversations as a service: state in the database survives a kill -9 (a form half-filled
included), and two ``rasa run`` replicas on one database process each sender's messages once,
in order, even when one of them is killed mid-way."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import select

from misybot.db.engine import create_db_engine
from misybot.db.models import (
    AgentExecution,
    ChannelIdentity,
    ConversationEvent,
    ConversationMessage,
    OutboundMessage,
)
from misybot.db.session import make_session_factory, session_scope
from misybot.enums import Channel
from misybot.identity import person_conversation
from testkit.database import link_identities
from testkit.payloads import inbound_form, signed_request
from testkit.processes import RasaProcess
from testkit.standins import TwilioStandIn
from testkit.waiting import wait_until

pytestmark = pytest.mark.rasa_model

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT_SID = "AC" + "2" * 32
AUTH_TOKEN = "replica-auth-token-0123456789abcdef"
PUBLIC_URL = "https://misybot.example.com"
SENDERS = [f"+35193100{index:04d}" for index in range(10)]
MESSAGES = ["hi", "thanks", "help", "what can you do", "bye"]  # each sender's, in this order


@pytest.fixture(scope="module")
def twilio():
    standin = TwilioStandIn(ACCOUNT_SID, AUTH_TOKEN).start()
    yield standin
    standin.stop()


@pytest.fixture(scope="module")
def database(demo_database_url):
    """The session's demo database (the action server's and worker's), ten WhatsApp numbers
    linked to one of its users."""
    identities = [(Channel.WHATSAPP, number) for number in SENDERS]
    link_identities([demo_database_url], "tiago.ferreira@misy-demo.example", identities)
    engine = create_db_engine(demo_database_url)
    yield engine
    engine.dispose()


def replica(name, tmp_path_factory, model_path, action_server_url, twilio, url) -> RasaProcess:
    return RasaProcess(
        root=ROOT,
        workdir=tmp_path_factory.mktemp(name),
        model=model_path,
        action_url=action_server_url,
        twilio_url=twilio.url,
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        public_url=PUBLIC_URL,
        rest=True,
        env={"MISYBOT_DATABASE_URL": url, "MISYBOT_CHANNEL_RATE_LIMIT": "100"},
    )


@pytest.fixture(scope="module")
def replicas(
    model_path, action_server_url, worker, twilio, database, demo_database_url, tmp_path_factory
):
    servers = [
        replica(name, tmp_path_factory, model_path, action_server_url, twilio, demo_database_url)
        for name in ("replica-a", "replica-b")
    ]
    for server in servers:
        server.start()
    yield servers
    for server in servers:
        server.stop()


async def rest(server: RasaProcess, sender: str, text: str) -> list[str]:
    """A local REST conversation's turn: the texts of its replies."""
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{server.url}/webhooks/rest/webhook", json={"sender": sender, "message": text}
        ) as response,
    ):
        assert response.status == 200, await response.text()
        return [reply.get("text", "") for reply in await response.json()]


async def post(server: RasaProcess, sender: str, text: str, sid: str) -> None:
    """A WhatsApp message through Twilio, signed, posted to ``server``."""
    fields = inbound_form(f"whatsapp:{sender}", text, account_sid=ACCOUNT_SID, MessageSid=sid)
    body, headers = signed_request(
        AUTH_TOKEN, f"{PUBLIC_URL}/webhooks/whatsapp_twilio/webhook", fields
    )
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{server.url}/webhooks/whatsapp_twilio/webhook", data=body, headers=headers
        ) as response,
    ):
        assert response.status == 200, await response.text()


def inbox_rows(engine, sender: str) -> list[ConversationMessage]:
    with session_scope(make_session_factory(engine)) as session:
        query = select(ConversationMessage).where(ConversationMessage.sender_address == sender)
        rows = list(session.execute(query.order_by(ConversationMessage.id)).scalars())
        session.expunge_all()
        return rows


def user_texts(engine, sender: str) -> list[str]:
    """What the tracker says the sender wrote, in the order the turns ran. The senders are all
    Tiago's numbers, so they write in his one conversation: each event names its address."""
    with session_scope(make_session_factory(engine)) as session:
        tiago = session.execute(
            select(ChannelIdentity.user_id).where(ChannelIdentity.address == sender)
        ).scalar_one()
        events = session.execute(
            select(ConversationEvent.data)
            .where(
                ConversationEvent.conversation_id == person_conversation(tiago),
                ConversationEvent.type_name == "user",
            )
            .order_by(ConversationEvent.id)
        ).scalars()
        said = [json.loads(event) for event in events]
        return [e["text"] for e in said if (e.get("metadata") or {}).get("address") == sender]


def recorded_replies(engine, sender: str) -> int:
    """Replies on record as accepted by Twilio for ``sender`` (each written with its turn)."""
    with session_scope(make_session_factory(engine)) as session:
        query = select(OutboundMessage.provider_message_id).where(
            OutboundMessage.recipient_address == sender,
            OutboundMessage.provider_message_id.isnot(None),
        )
        return len(session.execute(query).all())


async def test_a_form_half_filled_continues_after_the_server_is_killed(replicas, database):
    first, _ = replicas
    sender = "tiago.ferreira@misy-demo.example~form-after-kill"
    assert await rest(first, sender, "generate a report")  # "which report type?"
    asked = " ".join(await rest(first, sender, "sales"))
    assert "period" in asked.lower(), asked  # the form has its type, and wants the period
    first.kill()  # SIGKILL: no shutdown hook runs; whatever it knew is only in the database
    first.start()
    assert await rest(first, sender, "last week")
    # Only the restored form knows that "last week" completes a sales report request.
    (command,) = reports_requested(database, f"rest:{sender}")
    assert command["entities"]["report_type"] == "sales"


def reports_requested(engine, conversation_id: str) -> list[dict]:
    with session_scope(make_session_factory(engine)) as session:
        contexts = session.execute(
            select(AgentExecution.context).order_by(AgentExecution.id)
        ).scalars()
        return [
            context
            for context in contexts
            if context.get("sender_id") == conversation_id
            and context.get("command") == "generate_report"
        ]


async def test_two_replicas_answer_every_sender_once_in_order_even_when_one_dies(
    replicas, twilio, database
):
    first, second = replicas
    # Hold the first reply to the last sender: the kill below lands while its turn is under
    # way on the second replica, so it must be taken over, not lost.
    held = SENDERS[-1]
    twilio.hold[f"whatsapp:{held}"] = 1
    for index, text in enumerate(MESSAGES[:3]):  # interleaved: each sender alternates replicas
        for number, sender in enumerate(SENDERS):
            alternate = (first, second)[(index + number) % 2]
            server = second if sender == held else alternate
            await post(server, sender, text, sid=f"SM{number:02d}{index:02d}{'r' * 20}")
    assert await wait_until(lambda: twilio.hold[f"whatsapp:{held}"] == 0, timeout=240)
    second.kill()
    for index, text in enumerate(MESSAGES[3:], start=3):  # the survivor gets the rest
        for number, sender in enumerate(SENDERS):
            await post(first, sender, text, sid=f"SM{number:02d}{index:02d}{'r' * 20}")

    def all_processed():
        rows = [row for sender in SENDERS for row in inbox_rows(database, sender)]
        done = [row for row in rows if row.status == "processed"]
        return len(done) == len(SENDERS) * len(MESSAGES) or None

    assert await wait_until(all_processed, timeout=300)
    for sender in SENDERS:
        rows = inbox_rows(database, sender)
        assert [row.body for row in rows] == MESSAGES  # stored once each
        assert all(row.status == "processed" and row.response_sent for row in rows)
        assert user_texts(database, sender) == MESSAGES, sender  # processed once, in order
        delivered = twilio.delivered_to(f"whatsapp:{sender}")
        assert len(delivered) >= len(MESSAGES)  # every message answered...
        assert len(delivered) == recorded_replies(database, sender)  # ...none twice
    # The held turn died with its replica before its reply was accepted; the survivor ran it.
    (taken_over,) = [row for row in inbox_rows(database, held) if row.attempts > 1] or [None]
    assert taken_over is not None and taken_over.body == MESSAGES[0]
