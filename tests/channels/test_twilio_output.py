"""Replies through the Twilio Messages API, against a local stand-in for api.twilio.com."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from connectors.core.messages import InboundMessage
from connectors.core.sending import HttpSender
from connectors.twilio import TwilioConfig, TwilioWhatsAppOutput
from misybot.db.models import OutboundMessage
from misybot.db.session import session_scope
from misybot.enums import Channel, DeliveryStatus, InboxStatus
from testkit.standins import TwilioStandIn

ACCOUNT_SID = "AC" + "3" * 32
AUTH_TOKEN = "output-test-token"
USER = "whatsapp:+351940000001"


@pytest.fixture(scope="module")
def twilio():
    standin = TwilioStandIn(ACCOUNT_SID, AUTH_TOKEN).start()
    yield standin
    standin.stop()


def output(twilio, inbox, sender=None, **config) -> TwilioWhatsAppOutput:
    settings = TwilioConfig(
        account_sid=ACCOUNT_SID,
        auth_token=config.pop("auth_token", AUTH_TOKEN),
        whatsapp_number="+14155238886",
        public_url="https://bot.example.com",
        api_url=twilio.url,
        **config,
    )
    return TwilioWhatsAppOutput(
        settings, sender or HttpSender(backoff_s=0.01, per_second=100), inbox
    )


def outbound(inbox) -> list[OutboundMessage]:
    with session_scope(inbox.factory) as session:
        return list(session.execute(select(OutboundMessage).order_by(OutboundMessage.id)).scalars())


async def test_long_markdown_reply_arrives_as_whatsapp_chunks_under_1600(twilio, inbox):
    to = "whatsapp:+351940000001"
    text = "\n\n".join(f"**Section {i}**\n" + "Stock is fine here. " * 30 for i in range(6))
    channel = output(twilio, inbox)
    await channel.send_text_message(to, text)
    sent = twilio.delivered_to(to)
    assert len(sent) == 3
    bodies = [m.one("Body") for m in sent]
    assert all(len(body) <= 1600 for body in bodies)
    assert bodies[0].startswith("*Section 0*")
    assert " ".join(bodies).split() == text.replace("**", "*").split()
    assert all(m.auth == (ACCOUNT_SID, AUTH_TOKEN) for m in sent)
    assert {m.one("From") for m in sent} == {"whatsapp:+14155238886"}
    assert [o.status for o in outbound(inbox)] == [DeliveryStatus.QUEUED] * 3


async def test_a_chart_goes_as_media_url(twilio, inbox):
    to = "whatsapp:+351940000002"
    await output(twilio, inbox).send_image_url(to, "https://bot.example.com/reports/chart.png")
    (sent,) = twilio.delivered_to(to)
    assert sent.fields["MediaUrl"] == ["https://bot.example.com/reports/chart.png"]
    assert "Body" not in sent.fields


async def test_buttons_become_numbered_options(twilio, inbox):
    to = "whatsapp:+351940000003"
    buttons = [{"title": "Inventory", "payload": "/a"}, {"title": "Sales", "payload": "/b"}]
    await output(twilio, inbox).send_text_with_buttons(to, "Which report?", buttons)
    (sent,) = twilio.delivered_to(to)
    assert sent.one("Body") == "Which report?\n1. Inventory\n2. Sales\nReply with a number."


async def test_outside_the_24_hour_window_the_approved_template_is_used(twilio, inbox):
    to = "whatsapp:+351940000004"
    old = InboundMessage(
        channel=Channel.WHATSAPP,
        transport="whatsapp_twilio",
        sender=to,
        address=to.removeprefix("whatsapp:"),
        provider_message_id="SMold",
        received_at=datetime.now(timezone.utc) - timedelta(hours=30),
        text="hi",
    )
    inbox.store(old, InboxStatus.PROCESSED)
    channel = output(twilio, inbox, template_content_sid="HX" + "a" * 32)
    await channel.send_text_message(to, "Your weekly digest is ready.")
    (sent,) = twilio.delivered_to(to)
    assert sent.one("ContentSid") == "HX" + "a" * 32
    assert json.loads(sent.one("ContentVariables")) == {"1": "Your weekly digest is ready."}
    assert "Body" not in sent.fields


async def test_a_send_twilio_keeps_refusing_is_recorded_as_failed(twilio, inbox):
    to = "whatsapp:+351940000005"
    twilio.fail[to] = [503, 503, 503, 503]
    await output(twilio, inbox).send_text_message(to, "hello")
    assert twilio.delivered_to(to) == []
    (failed,) = outbound(inbox)
    assert failed.status == DeliveryStatus.FAILED and failed.attempts == 4
    assert failed.body == "hello" and failed.error_code == "503"


async def test_bad_credentials_are_not_retried_and_are_recorded(twilio, inbox):
    to = "whatsapp:+351940000006"
    await output(twilio, inbox, auth_token="wrong").send_text_message(to, "hello")
    refused = [m for m in twilio.sent if m.one("To") == to]
    assert [m.status for m in refused] == [401]
    (failed,) = outbound(inbox)
    assert failed.status == DeliveryStatus.FAILED and failed.error_code == "20003"


def test_send_rate_allows_a_burst_then_paces_to_the_rate():
    from connectors.core.sending import SendRate

    now = [100.0]
    rate = SendRate(per_second=20, burst=5, clock=lambda: now[0])
    # Five at once, then each waits its turn at 20 a second.
    assert [rate.reserve() for _ in range(9)] == pytest.approx(
        [0, 0, 0, 0, 0, 0.05, 0.10, 0.15, 0.20]
    )
    now[0] += 1.0  # a quiet second refills the bucket (to the burst, no more)
    assert [rate.reserve() for _ in range(6)] == pytest.approx([0, 0, 0, 0, 0, 0.05])


async def test_one_sender_serves_the_turn_loop_and_the_servers_loop(twilio, inbox):
    """Turns reply from the turn loop's thread, Rasa's API pushes from Sanic's: both get out."""
    from connectors.core.turns import TurnLoop

    sender = HttpSender(backoff_s=0.01, per_second=100)
    channel = output(twilio, inbox, sender=sender)
    to = "whatsapp:+351940000007"
    turns = TurnLoop("test-turns")
    try:
        await channel.send_text_message(to, "pushed")
        await turns.run(channel.send_text_message(to, "a reply"))
        await channel.send_text_message(to, "pushed again")
    finally:
        await sender.close()
        turns.stop()
    assert [m.one("Body") for m in twilio.delivered_to(to)] == ["pushed", "a reply", "pushed again"]
    assert [o.status for o in outbound(inbox)] == [DeliveryStatus.QUEUED] * 3
