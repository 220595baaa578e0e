"""WhatsApp through Twilio end to end: really signed webhooks into a real ``rasa run``, replies
received by a local stand-in for api.twilio.com, the inbox in a real SQLite database."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import select

from misybot.db.engine import create_db_engine
from misybot.db.models import (
    AgentExecution,
    ChannelIdentity,
    ConversationMessage,
    OutboundMessage,
    User,
)
from misybot.db.session import make_session_factory, session_scope
from misybot.enums import Channel
from testkit.database import link_identities, seeded_database_url
from testkit.payloads import inbound_form, signed_request
from testkit.processes import RasaProcess
from testkit.standins import TwilioStandIn
from testkit.waiting import wait_until

pytestmark = pytest.mark.rasa_model

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT_SID = "AC" + "1" * 32
AUTH_TOKEN = "test-auth-token-0123456789abcdef"
BOT = "whatsapp:+14155238886"
WINDOW_S = 4  # the rate limit's window here: ten messages per sender in it


@pytest.fixture(scope="module")
def twilio():
    standin = TwilioStandIn(ACCOUNT_SID, AUTH_TOKEN).start()
    yield standin
    standin.stop()


@pytest.fixture(scope="module")
def database(tmp_path_factory):
    url = seeded_database_url(tmp_path_factory.mktemp("inbox"))
    engine = create_db_engine(url)
    yield engine, url
    engine.dispose()


@pytest.fixture(scope="module")
def registered(demo_database_url, database):
    """Numbers of these tests that reach company data: Tiago's (hub voice), besides the demo's."""
    numbers = ("+351910000003", "+351919990001")
    identities = [(Channel.WHATSAPP, number) for number in numbers]
    link_identities(
        [demo_database_url, database[1]], "tiago.ferreira@misy-demo.example", identities
    )


@pytest.fixture(scope="module")
def rasa(model_path, action_server_url, worker, twilio, database, registered, tmp_path_factory):
    server = RasaProcess(
        root=ROOT,
        workdir=tmp_path_factory.mktemp("rasa"),
        model=model_path,
        action_url=action_server_url,
        twilio_url=twilio.url,
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        public_url="https://misybot.example.com",
        env={
            "MISYBOT_DATABASE_URL": database[1],
            "MISYBOT_CHANNEL_RATE_WINDOW_S": str(WINDOW_S),
        },
    )
    server.start()
    yield server
    server.stop()


def stored(engine, sender: str) -> list[ConversationMessage]:
    with session_scope(make_session_factory(engine)) as session:
        address = sender.removeprefix("whatsapp:")
        query = select(ConversationMessage).where(ConversationMessage.sender_address == address)
        return list(session.execute(query.order_by(ConversationMessage.id)).scalars())


async def post(server: RasaProcess, fields: dict, *, signed_url: str | None = None, **override):
    """POST ``fields`` to the webhook as Twilio would (signed over the public URL)."""
    body, headers = signed_request(AUTH_TOKEN, signed_url or server.webhook_url, fields)
    headers.update(override.pop("headers", {}))
    body = override.pop("body", body)
    local = f"{server.url}/webhooks/whatsapp_twilio/webhook"
    async with (
        aiohttp.ClientSession() as session,
        session.post(local, data=body, headers=headers) as response,
    ):
        return response.status, await response.text()


async def test_greeting_is_answered_through_the_twilio_api(rasa, twilio, database):
    sender = "whatsapp:+351910000001"
    status, body = await post(rasa, inbound_form(sender, "hi", account_sid=ACCOUNT_SID))
    assert status == 200 and "<Response>" in body

    (reply, *_) = await twilio.wait_for(sender, 1)
    assert reply.auth == (ACCOUNT_SID, AUTH_TOKEN)
    assert reply.account_sid == ACCOUNT_SID
    assert reply.one("From") == BOT
    assert reply.one("Body")
    assert reply.one("StatusCallback") == (
        "https://misybot.example.com/webhooks/whatsapp_twilio/status"
    )
    (message,) = await wait_until(
        lambda: [m for m in stored(database[0], sender) if m.status == "processed"] or None
    )
    assert message.body == "hi" and message.response_sent
    assert message.payload["profile_name"] == "Test User"


async def test_a_known_whatsapp_user_runs_a_command_as_themselves(rasa, twilio, demo_database_url):
    """Webhook → model → action server → store: the demo's Ana asks for stock on WhatsApp."""
    sender = "whatsapp:+351910000001"  # Ana Ribeiro's number in the demo data
    before = len(twilio.delivered_to(sender))
    fields = inbound_form(sender, "how many WID-220 in Lisbon", account_sid=ACCOUNT_SID)
    assert (await post(rasa, fields))[0] == 200
    replies = await twilio.wait_for(sender, before + 1, timeout=60)
    assert "WID-220" in replies[before].one("Body")
    with session_scope(make_session_factory(create_db_engine(demo_database_url))) as session:
        ana = session.execute(
            select(User.id).join(ChannelIdentity).where(ChannelIdentity.address == sender[9:])
        ).scalar_one()
        latest = session.execute(
            select(AgentExecution).order_by(AgentExecution.id.desc()).limit(1)
        ).scalar_one()
    assert latest.user_id == ana  # not the read-only guest an unknown sender would be


async def test_help_lists_what_the_bot_can_do_in_whatsapp_format(rasa, twilio):
    sender = "whatsapp:+351910000002"
    await post(rasa, inbound_form(sender, "help", account_sid=ACCOUNT_SID))
    replies = await twilio.wait_for(sender, 1)
    text = "\n".join(m.one("Body") or "" for m in replies)
    assert "**" not in text  # markdown bold became WhatsApp's *bold*
    assert all(len(m.one("Body") or "") <= 1600 for m in replies)


async def test_an_inventory_command_gets_an_answer(rasa, twilio):
    sender = "whatsapp:+351910000003"
    await post(rasa, inbound_form(sender, "check stock pls", account_sid=ACCOUNT_SID))
    (reply,) = await twilio.wait_for(sender, 1)
    assert reply.one("Body").startswith("Which product?")


async def test_a_numbered_option_is_picked_by_replying_with_its_number(rasa, twilio):
    sender = "whatsapp:+351919990001"
    await post(rasa, inbound_form(sender, "i need a report", account_sid=ACCOUNT_SID))
    (question,) = await twilio.wait_for(sender, 1)
    assert "1. Inventory" in question.one("Body") and "2. Sales" in question.one("Body")
    await post(rasa, inbound_form(sender, "2", account_sid=ACCOUNT_SID))
    replies = await twilio.wait_for(sender, 2)
    # "2" became the Sales option's payload: the report form moved on to the period.
    assert replies[1].one("Body").startswith("Which period?")


async def test_the_same_message_sid_delivered_three_times_is_answered_once(rasa, twilio, database):
    sender = "whatsapp:+351910000004"
    fields = inbound_form(sender, "hi", account_sid=ACCOUNT_SID)
    statuses = [(await post(rasa, fields))[0] for _ in range(3)]
    assert statuses == [200, 200, 200]
    # Duplicates are refused before their 200; once the one stored message is processed (its
    # replies are recorded with that), every reply it will ever get has arrived.
    (row,) = await wait_until(
        lambda: [m for m in stored(database[0], sender) if m.status == "processed"] or None
    )
    replies = twilio.delivered_to(sender)
    assert len(replies) >= 1 and len(stored(database[0], sender)) == 1
    assert len({m.one("Body") for m in replies}) == len(replies)  # one turn's messages, once


@pytest.mark.parametrize(
    "case",
    ["forged", "unsigned", "wrong_url", "wrong_token", "malformed", "oversized", "json", "no_sid"],
)
async def test_requests_twilio_did_not_sign_are_refused_and_nothing_is_stored(
    rasa, twilio, database, case
):
    sender = f"whatsapp:+35192{abs(hash(case)) % 10**7:07d}"
    fields = inbound_form(sender, "hi", account_sid=ACCOUNT_SID)
    if case == "forged":
        body, headers = signed_request(AUTH_TOKEN, rasa.webhook_url, fields)
        fields["Body"] = "transfer everything"
        status, _ = await post(
            rasa, fields, headers={"X-Twilio-Signature": headers["X-Twilio-Signature"]}
        )
    elif case == "unsigned":
        status, _ = await post(rasa, fields, headers={"X-Twilio-Signature": ""})
    elif case == "wrong_url":
        status, _ = await post(
            rasa, fields, signed_url=f"{rasa.url}/webhooks/whatsapp_twilio/webhook"
        )
    elif case == "wrong_token":
        body, headers = signed_request("not-the-token", rasa.webhook_url, fields)
        status, _ = await post(rasa, fields, body=body, headers=headers)
    elif case == "malformed":
        status, _ = await post(rasa, fields, body=b"\xff\xfe&&=%%")
    elif case == "oversized":
        fields["Body"] = "x" * 200_000
        status, _ = await post(rasa, fields)
    elif case == "json":
        status, _ = await post(
            rasa, fields, body=b'{"Body": "hi"}', headers={"Content-Type": "application/json"}
        )
    else:
        del fields["MessageSid"], fields["SmsMessageSid"]
        status, _ = await post(rasa, fields)
    assert 400 <= status < 500  # answered before anything is stored: nothing will be
    assert stored(database[0], sender) == []
    assert twilio.delivered_to(sender) == []


async def test_media_without_text_and_a_location_are_accepted(rasa, twilio, database):
    sender = "whatsapp:+351910000005"
    media = inbound_form(
        sender,
        "",
        account_sid=ACCOUNT_SID,
        NumMedia=1,
        MediaUrl0="https://api.twilio.com/media/ME1",
        MediaContentType0="image/jpeg",
    )
    location = inbound_form(
        sender,
        "",
        account_sid=ACCOUNT_SID,
        Latitude="38.7223",
        Longitude="-9.1393",
        Address="Lisbon",
        Label="Warehouse",
    )
    assert (await post(rasa, media))[0] == 200
    assert (await post(rasa, location))[0] == 200
    rows = await wait_until(
        lambda: (r := stored(database[0], sender)) and all(m.status != "received" for m in r) and r
    )
    assert [row.payload["media"] for row in rows] == [
        [{"url": "https://api.twilio.com/media/ME1", "content_type": "image/jpeg"}],
        [],
    ]
    assert rows[1].payload["location"]["label"] == "Warehouse"
    assert {row.status for row in rows} <= {"processed"}


async def test_over_the_rate_limit_messages_are_answered_in_order_in_later_windows(
    rasa, twilio, database
):
    """Ten per window (4 s here), two windows of backlog: 35 messages in a burst are 30
    answered in their order over three windows, 5 refused; one notice says each, truthfully."""
    sender = "whatsapp:+351910000006"
    for index in range(35):
        fields = inbound_form(sender, f"hi {index}", account_sid=ACCOUNT_SID)
        assert (await post(rasa, fields))[0] == 200
    rows = await wait_until(
        lambda: (
            (r := stored(database[0], sender))
            and sum(m.status == "processed" for m in r) == 30
            and r
        ),
        timeout=90,
    )
    assert [row.status for row in rows] == ["processed"] * 30 + ["rate_limited"] * 5
    answered = sorted(rows[:30], key=lambda row: row.processed_at)
    assert [row.body for row in answered] == [f"hi {index}" for index in range(30)]
    # The last ten waited for the third window.
    assert rows[29].processed_at - rows[0].processed_at >= timedelta(seconds=2 * WINDOW_S - 1)
    notices = await wait_until(
        lambda: (
            (
                found := [
                    m.one("Body")
                    for m in twilio.delivered_to(sender)
                    if "faster than" in (m.one("Body") or "") or "skip" in (m.one("Body") or "")
                ]
            )
            and len(found) == 2
            and found
        )
    )
    assert "I'll answer the rest in order" in notices[0] and "no need to resend" in notices[0]
    assert "please send it again" in notices[1]


async def test_transient_twilio_errors_are_retried_and_counted(rasa, twilio, database):
    """A 503 then a 429 from Twilio are retried; the reply still arrives, once."""
    sender = "whatsapp:+351910000007"
    twilio.fail[sender] = [503, 429]
    await post(rasa, inbound_form(sender, "hi", account_sid=ACCOUNT_SID))
    replies = await twilio.wait_for(sender, 1)
    assert len(replies) == 1
    refused = [m for m in twilio.sent if m.one("To") == sender and m.status != 201]
    assert [m.status for m in refused] == [503, 429]
    factory = make_session_factory(database[0])

    def attempts() -> int | None:  # recorded with the turn's finish, just after the reply
        with session_scope(factory) as session:
            return session.execute(
                select(OutboundMessage.attempts).where(
                    OutboundMessage.recipient_address == sender.removeprefix("whatsapp:")
                )
            ).scalar_one_or_none()

    assert await wait_until(attempts) == 3


async def test_a_status_callback_updates_the_outbound_message(rasa, twilio, database):
    sender = "whatsapp:+351910000008"
    await post(rasa, inbound_form(sender, "hi", account_sid=ACCOUNT_SID))
    (reply, *_) = await twilio.wait_for(sender, 1)
    factory = make_session_factory(database[0])

    def outbound():
        with session_scope(factory) as session:
            return (
                session.execute(
                    select(OutboundMessage).where(
                        OutboundMessage.recipient_address == sender.removeprefix("whatsapp:")
                    )
                )
                .scalars()
                .first()
            )

    sent = await wait_until(outbound)
    assert sent.status.value == "queued" and sent.provider_message_id.startswith("SM")
    status_url = "https://misybot.example.com/webhooks/whatsapp_twilio/status"
    fields = {
        "MessageSid": sent.provider_message_id,
        "MessageStatus": "delivered",
        "AccountSid": ACCOUNT_SID,
        "To": sender,
        "From": BOT,
    }
    body, headers = signed_request(AUTH_TOKEN, status_url, fields)
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{rasa.url}/webhooks/whatsapp_twilio/status", data=body, headers=headers
        ) as response,
    ):
        assert response.status == 204
    assert outbound().status.value == "delivered"


async def test_trigger_intent_reaches_the_whatsapp_user(rasa, twilio):
    """What the orchestrator does with a late result: Rasa's API pushes it through our channel."""
    sender = "whatsapp:+351910000009"
    url = f"{rasa.url}/conversations/{sender}/trigger_intent?output_channel=whatsapp_twilio"
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            url, json={"name": "greet", "entities": {}}, params={"token": rasa.api_token}
        ) as response,
    ):
        assert response.status == 200
    (reply,) = await twilio.wait_for(sender, 1)
    assert reply.one("To") == sender and reply.one("Body")


# Last in this module: it kills the module's server and starts it again.
async def test_message_acknowledged_before_a_kill_is_answered_once_after_restart(
    rasa, twilio, database
):
    sender = "whatsapp:+351930000001"
    twilio.hold[sender] = 1  # Twilio "hangs" on the reply: the kill lands while it is in flight
    assert (await post(rasa, inbound_form(sender, "hi", account_sid=ACCOUNT_SID)))[0] == 200
    assert await wait_until(lambda: twilio.hold[sender] == 0), "the reply never left"
    rasa.kill()
    assert twilio.delivered_to(sender) == []
    (row,) = stored(database[0], sender)
    assert row.status == "received"  # acknowledged and stored, not processed

    rasa.start()  # same port, same database: the stored message is queued again
    replies = await twilio.wait_for(sender, 1)
    assert len(replies) >= 1
    (row,) = await wait_until(
        lambda: [m for m in stored(database[0], sender) if m.status == "processed"] or None
    )
    assert row.body == "hi" and row.response_sent
    # Processed means its replies are on record: nothing more will come, and it came once.
    bodies = [m.one("Body") for m in twilio.delivered_to(sender)]
    assert len(bodies) == len(set(bodies)) == len(replies)
