"""The channel core without Rasa: signatures, parsing, formatting, limits and the inbox."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import os
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from connectors.core.formatting import (
    choose_option,
    markdown_to_whatsapp,
    numbered_options,
    split_text,
)
from connectors.core.inbox import BatchWriter, Finished, Inbox, OutboundRecord
from connectors.core.ratelimit import SenderRateLimiter
from connectors.core.signatures import (
    public_url,
    twilio_signature,
    valid_hub_signature,
    valid_twilio_signature,
)
from connectors.twilio import PayloadError, parse_form, parse_inbound
from misybot.db.models import ChannelIdentity, ConversationMessage, OutboundMessage
from misybot.db.session import make_session_factory, session_scope
from misybot.enums import Channel, DeliveryStatus, InboxStatus, Role
from testkit.database import Builder
from testkit.payloads import inbound_form
from testkit.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "12345"
URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
# Twilio's documented example (https://www.twilio.com/docs/usage/security).
DOC_PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+12349013030",
    "Digits": "1234",
    "From": "+12349013030",
    "To": "+18005551212",
}
DOC_SIGNATURE = "0/KCTR6DLpKmkAf8muzZqo1nDgQ="


def test_twilio_signature_matches_twilios_documented_example():
    signed = URL + "".join(name + DOC_PARAMS[name] for name in sorted(DOC_PARAMS))
    by_hand = base64.b64encode(hmac.new(TOKEN.encode(), signed.encode(), hashlib.sha1).digest())
    assert twilio_signature(TOKEN, URL, DOC_PARAMS) == by_hand.decode() == DOC_SIGNATURE
    assert valid_twilio_signature(TOKEN, URL, DOC_PARAMS, DOC_SIGNATURE)


@pytest.mark.parametrize(
    "token, url, params, signature",
    [
        ("other", URL, DOC_PARAMS, DOC_SIGNATURE),
        (TOKEN, URL.replace("foo=1", "foo=2"), DOC_PARAMS, DOC_SIGNATURE),
        (TOKEN, URL, {**DOC_PARAMS, "Digits": "9999"}, DOC_SIGNATURE),
        (TOKEN, URL, DOC_PARAMS, ""),
        (TOKEN, URL, DOC_PARAMS, None),
        ("", URL, DOC_PARAMS, DOC_SIGNATURE),
    ],
)
def test_twilio_signature_refuses_any_change(token, url, params, signature):
    assert not valid_twilio_signature(token, url, params, signature)


def test_signed_url_is_the_configured_public_one():
    assert public_url("https://bot.example.com/", "/webhooks/x/webhook", "a=1") == (
        "https://bot.example.com/webhooks/x/webhook?a=1"
    )


def test_blank_form_values_are_signed_too():
    fields = inbound_form("whatsapp:+351900000000", "", account_sid="AC1")
    params = parse_form(_encode(fields))
    assert params["Body"] == [""]
    assert valid_twilio_signature(
        "t", "https://h/p", params, twilio_signature("t", "https://h/p", fields)
    )


def test_meta_signature_is_over_the_raw_bytes():
    raw = '{"text":"olá"}'.encode()
    good = "sha256=" + hmac.new(b"secret", raw, hashlib.sha256).hexdigest()
    assert valid_hub_signature("secret", raw, good)
    assert not valid_hub_signature("secret", raw.replace(b"\xc3\xa1", b"a"), good)
    assert not valid_hub_signature("secret", raw, good.replace("sha256=", "sha1="))
    assert not valid_hub_signature("secret", raw, None)


def test_inbound_fields_are_normalised():
    fields = inbound_form(
        "whatsapp:+351911111111",
        "",
        account_sid="AC1",
        NumMedia=2,
        MediaUrl0="https://m/0",
        MediaContentType0="image/png",
        MediaUrl1="https://m/1",
        MediaContentType1="application/pdf",
        Latitude="38.7",
        Longitude="-9.1",
        Label="Dock",
        ButtonPayload='/choose_report{"report_type":"sales"}',
        ButtonText="Sales",
    )
    message = parse_inbound(parse_form(_encode(fields)))
    assert message.address == "+351911111111" and message.sender == "whatsapp:+351911111111"
    assert [m.url for m in message.media] == ["https://m/0", "https://m/1"]
    assert message.media[1].content_type == "application/pdf"
    assert message.location.latitude == 38.7 and message.location.label == "Dock"
    assert message.user_text.startswith("/choose_report")
    assert message.profile_name == "Test User"
    assert message.raw["MessageSid"] == message.provider_message_id


@pytest.mark.parametrize(
    "change",
    [
        {"MessageSid": "", "SmsMessageSid": ""},
        {"From": ""},
        {"NumMedia": "x"},
        {"NumMedia": "99"},
        {"Latitude": "north", "Longitude": "1"},
    ],
)
def test_malformed_inbound_fields_are_refused(change):
    fields = {**inbound_form("whatsapp:+351911111111", "hi", account_sid="AC1"), **change}
    with pytest.raises(PayloadError):
        parse_inbound(parse_form(_encode(fields)))


def test_undecodable_form_is_refused():
    with pytest.raises(PayloadError):
        parse_form(b"\xff\xfe=1")


def test_markdown_becomes_whatsapp_formatting():
    assert markdown_to_whatsapp("**Stock** of *WID-220* ~~old~~") == "*Stock* of _WID-220_ ~old~"
    assert markdown_to_whatsapp("- one\n- two") == "• one\n• two"
    assert markdown_to_whatsapp("[report](https://x/r.png)") == "report (https://x/r.png)"


def test_long_text_is_split_on_paragraphs_then_sentences_within_the_limit():
    paragraphs = [f"Paragraph {i}. " + "Some words here. " * 20 for i in range(6)]
    text = "\n\n".join(paragraphs)
    chunks = split_text(text, 1600)
    assert all(len(chunk) <= 1600 for chunk in chunks)
    assert "\n\n".join(chunks).split() == text.split()  # nothing lost or reordered
    assert all(chunk.startswith("Paragraph") for chunk in chunks)

    one_paragraph = "This is a sentence. " * 200
    chunks = split_text(one_paragraph, 1600)
    assert len(chunks) == 3 and all(c.endswith(".") for c in chunks)
    assert split_text("x" * 3500, 1600) == ["x" * 1600, "x" * 1600, "x" * 300]


def test_buttons_become_numbered_options_and_a_number_picks_one():
    buttons = [{"title": "Inventory", "payload": "/inv"}, {"title": "Sales", "payload": "/sales"}]
    assert numbered_options("Which report?", buttons) == (
        "Which report?\n1. Inventory\n2. Sales\nReply with a number."
    )
    assert choose_option("2", buttons) == "/sales"
    assert choose_option("sales", buttons) == "/sales"
    assert choose_option("3", buttons) is None


def test_over_the_rate_limit_messages_wait_for_the_next_windows_and_then_are_refused():
    limiter = SenderRateLimiter(limit=10, window_s=60, backlog_windows=2)
    decisions = [limiter.admit("wa", "+1", now=i / 10) for i in range(35)]
    # Ten now, ten in the next window, ten in the one after; the rest refused.
    assert [d.allowed for d in decisions] == [True] * 30 + [False] * 5
    assert [round(d.delay_s + i / 10) for i, d in enumerate(decisions[:30])] == (
        [i // 10 * 60 if i >= 10 else round(i / 10) for i in range(30)]
    )
    # The sender is told once that they must wait, and once that they were refused (and for
    # how long: until the next window begins, when the backlog has room again).
    assert [i for i, d in enumerate(decisions) if d.notify] == [10, 30]
    assert decisions[30].delay_s == pytest.approx(60 - 3.0)
    assert limiter.admit("wa", "+2", now=3.0).delay_s == 0  # other senders are not affected
    # A minute on, the next two windows are the backlog again: the next message queues behind
    # the twenty already given windows 1 and 2, in window 3.
    assert limiter.admit("wa", "+1", now=61.0).delay_s == pytest.approx(119.0)
    # Once every window they were given is over, they start afresh.
    fresh = limiter.admit("wa", "+1", now=241.0)
    assert fresh.allowed and fresh.delay_s == 0 and not fresh.notify


@pytest.fixture
def inbox(engine):
    """The inbox on SQLite and on PostgreSQL (duplicates are skipped in each one's own SQL)."""
    return Inbox(make_session_factory(engine))


def _message(sid: str, sender: str = "whatsapp:+351922222222", text: str = "hi"):
    fields = inbound_form(sender, text, account_sid="AC1", MessageSid=sid)
    return parse_inbound(
        parse_form(_encode(fields)), received_at=datetime(2026, 3, 1, 9, tzinfo=timezone.utc)
    )


def _runtime(inbox, turns, output_factory):
    """A Twilio channel runtime on ``turns`` (10 messages a minute per sender)."""
    from connectors.core.runtime import ChannelRuntime
    from connectors.core.settings import ChannelTuning

    tuning = ChannelTuning(rate_limit_per_minute=10, rate_limit_window_s=60, retry_poll_s=0)
    return ChannelRuntime("whatsapp_twilio", inbox, output_factory, tuning, turn_loop=turns)


def _known_sender(inbox, *numbers: str):
    """A company and an operator for each WhatsApp number (default: the one ``_message`` comes
    from); returns the company and the last operator."""
    with session_scope(inbox.factory) as session:
        acme = Builder(session)
        for index, number in enumerate(numbers or ("+351922222222",)):
            user = acme.user(f"Ana Silva{index or ''}", Role.OPERATOR, f"ana{index}@acme.example")
            session.add(ChannelIdentity(user_id=user.id, channel=Channel.WHATSAPP, address=number))
    return acme, user


def test_inbox_stores_once_per_provider_id_and_links_known_senders(inbox):
    acme, user = _known_sender(inbox)
    first = inbox.store(_message("SM1"), InboxStatus.RECEIVED)
    assert inbox.store(_message("SM1"), InboxStatus.RECEIVED) is None
    assert (first.company_id, first.user_id) == (acme.id, user.id)
    with session_scope(inbox.factory) as session:
        row = session.get(ConversationMessage, first.id)
        assert (row.company_id, row.user_id) == (acme.id, user.id)
    unknown = inbox.store(_message("SM2", sender="whatsapp:+1555"), InboxStatus.RECEIVED)
    assert (unknown.company_id, unknown.user_id) == (None, None)  # stored anyway: nothing lost
    with session_scope(inbox.factory) as session:
        row = session.get(ConversationMessage, unknown.id)
        assert (row.company_id, row.user_id, row.body) == (None, None, "hi")


def test_a_batch_is_stored_in_order_and_a_retry_inside_it_is_skipped(inbox):
    stored = inbox.store_many(
        [
            (_message("SM1", text="one"), InboxStatus.RECEIVED),
            (_message("SM2", text="two"), InboxStatus.RATE_LIMITED),
            (_message("SM1", text="one"), InboxStatus.RECEIVED),
            (_message("SM3", text="three"), InboxStatus.RECEIVED),
        ]
    )
    assert [s and s.message.text for s in stored] == ["one", "two", None, "three"]
    assert stored[0].id < stored[1].id < stored[3].id
    assert inbox.store_many([(_message("SM3"), InboxStatus.RECEIVED)]) == [None]
    with session_scope(inbox.factory) as session:
        rows = session.execute(select(ConversationMessage).order_by(ConversationMessage.id))
        assert [(r.provider_message_id, r.status) for r in rows.scalars()] == [
            ("SM1", "received"),
            ("SM2", "rate_limited"),
            ("SM3", "received"),
        ]


async def test_the_writer_thread_stores_what_arrives_together_and_refuses_only_the_bad(inbox):
    writer = BatchWriter(inbox.store_many, name="test-inbox")
    bad = replace(_message("SM2"), text=None)  # no body: the database refuses the row
    results = await asyncio.gather(
        *(
            writer.run((message, InboxStatus.RECEIVED))
            for message in [_message("SM1"), bad, _message("SM3"), _message("SM1")]
        ),
        return_exceptions=True,
    )
    assert results[0].message.provider_message_id == "SM1"
    assert isinstance(results[1], IntegrityError)
    assert results[2].message.provider_message_id == "SM3"
    assert results[3] is None  # the same MessageSid again
    assert [p.message.provider_message_id for p in inbox.pending("whatsapp_twilio")] == [
        "SM1",
        "SM3",
    ]


def test_an_outbound_message_carries_the_company_of_the_message_it_answers(inbox):
    acme, _ = _known_sender(inbox)
    answered = inbox.store(_message("SM1"), InboxStatus.RECEIVED)
    common = {"channel": Channel.WHATSAPP, "recipient": "+351922222222", "attempts": 1}
    reply = inbox.record_outbound(
        OutboundRecord(
            **common,
            body="hi",
            status=DeliveryStatus.QUEUED,
            provider_message_id="SMout",
            conversation_message_id=answered.id,
        )
    )
    pushed = inbox.record_outbound(
        OutboundRecord(**common, body="later", status=DeliveryStatus.FAILED)
    )
    with session_scope(inbox.factory) as session:
        assert session.get(OutboundMessage, reply).company_id == acme.id
        assert session.get(OutboundMessage, pushed).company_id is None
    assert inbox.record_delivery(Channel.WHATSAPP, "SMout", "delivered")
    assert not inbox.record_delivery(Channel.WHATSAPP, "SMunknown", "delivered")
    # Out of order: "read" first, then a late "sent"; the message stays read.
    assert inbox.record_delivery(Channel.WHATSAPP, "SMout", "read")
    assert inbox.record_delivery(Channel.WHATSAPP, "SMout", "sent")
    with session_scope(inbox.factory) as session:
        assert session.get(OutboundMessage, reply).status == DeliveryStatus.READ


def test_a_finish_records_the_replies_with_the_answer_in_one_transaction(inbox):
    acme, _ = _known_sender(inbox)
    first, second = (inbox.store(_message(sid), InboxStatus.RECEIVED) for sid in ("SM1", "SM2"))
    reply = OutboundRecord(
        channel=Channel.WHATSAPP,
        recipient="+351922222222",
        body="hello",
        status=DeliveryStatus.QUEUED,
        attempts=1,
        provider_message_id="SMout1",
        conversation_message_id=first.id,
        company_id=first.company_id,
    )
    broken = replace(reply, provider_message_id="SMout2", body=None)  # refused by the database
    with pytest.raises(IntegrityError):
        inbox.finish_many(
            [
                Finished(first.id, InboxStatus.PROCESSED, "hello", (reply,)),
                Finished(second.id, InboxStatus.PROCESSED, "hello", (broken,)),
            ]
        )
    # Nothing of the batch was written: both still wait to be processed, no reply on record.
    assert [p.id for p in inbox.pending("whatsapp_twilio")] == [first.id, second.id]
    assert not inbox.record_delivery(Channel.WHATSAPP, "SMout1", "delivered")

    inbox.finish_many(
        [
            Finished(first.id, InboxStatus.PROCESSED, "hello", (reply,)),
            Finished(second.id, InboxStatus.FAILED),
        ]
    )
    assert inbox.pending("whatsapp_twilio") == []
    with session_scope(inbox.factory) as session:
        rows = session.execute(select(ConversationMessage).order_by(ConversationMessage.id))
        assert [(r.status, r.response_body, r.response_sent) for r in rows.scalars()] == [
            ("processed", "hello", True),
            ("failed", None, False),
        ]
        sent = session.execute(select(OutboundMessage)).scalars().one()
        assert (sent.conversation_message_id, sent.company_id, sent.body) == (
            first.id,
            acme.id,
            "hello",
        )
    assert inbox.record_delivery(Channel.WHATSAPP, "SMout1", "delivered")


def test_pending_messages_come_back_in_order_until_finished(inbox):
    for sid in ("SM1", "SM2", "SM3"):
        inbox.store(_message(sid, text=sid), InboxStatus.RECEIVED)
    inbox.store(_message("SM4"), InboxStatus.RATE_LIMITED)
    pending = inbox.pending("whatsapp_twilio")
    assert [p.message.text for p in pending] == ["SM1", "SM2", "SM3"]
    assert pending[0].message.received_at == datetime(2026, 3, 1, 9, tzinfo=timezone.utc)
    inbox.finish_many([Finished(pending[0].id, InboxStatus.PROCESSED, "hello")])
    assert [p.message.text for p in inbox.pending("whatsapp_twilio")] == ["SM2", "SM3"]
    with session_scope(inbox.factory) as session:
        row = session.get(ConversationMessage, pending[0].id)
        assert row.response_sent and row.response_body == "hello" and row.processed_at


def _encode(fields: dict) -> bytes:
    from urllib.parse import urlencode

    return urlencode(fields).encode()


def test_repository_credentials_load_and_wait_for_secrets_from_the_environment(monkeypatch):
    import yaml

    from connectors.core.settings import provider_secrets
    from connectors.twilio import TwilioWhatsAppInput

    credentials = yaml.safe_load((ROOT / "credentials.yml").read_text())
    section = credentials["connectors.twilio.TwilioWhatsAppInput"]
    for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "MISYBOT_PUBLIC_URL"):
        monkeypatch.delenv(name, raising=False)
    provider_secrets.cache_clear()
    channel = TwilioWhatsAppInput.from_credentials(section)
    assert channel.name() == "whatsapp_twilio"
    assert channel.config.missing() == [
        "account_sid (TWILIO_ACCOUNT_SID)",
        "auth_token (TWILIO_AUTH_TOKEN)",
    ]

    monkeypatch.setenv("TWILIO_ACCOUNT_SID", "AC9")
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "secret")
    monkeypatch.setenv("MISYBOT_PUBLIC_URL", "https://bot.example.com/")
    provider_secrets.cache_clear()
    try:
        config = TwilioWhatsAppInput.from_credentials(section).config
    finally:
        provider_secrets.cache_clear()
    assert config.missing() == []
    assert config.messages_url == "https://api.twilio.com/2010-04-01/Accounts/AC9/Messages.json"
    assert config.status_callback_url() == (
        "https://bot.example.com/webhooks/whatsapp_twilio/status"
    )


async def test_runtime_answers_each_sender_in_order_on_the_turn_loop(inbox):
    """Rasa's handler runs on the turn loop's thread; each sender's messages in arrival order."""
    import threading

    from rasa.core.channels.channel import CollectingOutputChannel

    from connectors.core.turns import TurnLoop

    class Output(CollectingOutputChannel):
        @property
        def sent_texts(self) -> list[str]:  # what the runtime records as the answer
            return [message["text"] for message in self.messages]

    turns = TurnLoop("test-turns")
    handled: list[tuple[str, str, str]] = []

    async def on_new_message(message):  # what Rasa's handler does: awaits, then answers
        await asyncio.sleep(0.01)
        sender = f"whatsapp:{message.metadata['address']}"  # its conversation is its person's
        handled.append((sender, message.text, threading.current_thread().name))
        await message.output_channel.send_text_message(message.sender_id, "ok")

    def answered() -> set[tuple[str, str | None]]:
        with session_scope(inbox.factory) as session:
            rows = session.execute(select(ConversationMessage)).scalars().all()
            return {(row.status, row.response_body) for row in rows} if len(rows) == 9 else set()

    runtime = _runtime(inbox, turns, lambda stored: Output())
    senders = [f"whatsapp:+35193000000{i}" for i in range(3)]
    _known_sender(inbox, *(sender.removeprefix("whatsapp:") for sender in senders))
    try:
        assert await runtime.start(on_new_message) == 0
        for n in range(3):
            for i, sender in enumerate(senders):
                assert await runtime.accept(_message(f"SM{i}{n}", sender=sender, text=str(n)))
        assert not await runtime.accept(_message("SM00", sender=senders[0]))  # a retry
        await wait_until(lambda: answered() == {("processed", "ok")})
    finally:
        turns.stop()
    assert answered() == {("processed", "ok")}
    assert len(handled) == 9
    for sender in senders:
        assert [text for who, text, _ in handled if who == sender] == ["0", "1", "2"]
    assert {thread for *_, thread in handled} == {"test-turns"}


async def test_a_turn_waits_to_begin_while_a_webhook_waits_for_its_answer(inbox):
    """Acknowledgements first: a stored message's turn begins once no webhook is pending, or
    after the wait limit while webhooks keep arriving."""
    from rasa.core.channels.channel import CollectingOutputChannel

    from connectors.core.turns import TurnLoop

    turns = TurnLoop("test-turns")
    turns.acknowledgements.max_wait_s = 30.0
    begun: list[str] = []

    async def on_new_message(message):
        begun.append(message.text)

    gate = turns.acknowledgements
    runtime = _runtime(inbox, turns, lambda stored: CollectingOutputChannel())
    _known_sender(inbox)
    try:
        await runtime.start(on_new_message)
        with runtime.acknowledging():  # another webhook is still being answered
            assert await runtime.accept(_message("SM1", text="first"))
            assert await wait_until(lambda: gate.waiting == 1)  # the turn is at the gate
            assert begun == []
        assert await wait_until(lambda: begun == ["first"])

        gate.max_wait_s = 0.5
        with runtime.acknowledging():  # pending for longer than a turn may wait
            assert await runtime.accept(_message("SM2", text="second"))
            assert await wait_until(lambda: gate.waiting == 1)
            # It begins although the webhook is still owed its answer: the wait has a limit.
            assert await wait_until(lambda: begun == ["first", "second"])
    finally:
        turns.stop()


async def test_a_webhook_answered_on_another_thread_wakes_the_waiting_turn():
    import threading

    from connectors.core.turns import AcknowledgementsFirst

    gate = AcknowledgementsFirst(max_wait_s=30.0)
    await asyncio.wait_for(gate.clear(), 1)  # nothing pending: no wait at all
    entered, leave = threading.Event(), threading.Event()

    def webhook() -> None:
        with gate.pending():
            entered.set()
            leave.wait(10)

    thread = threading.Thread(target=webhook)
    thread.start()
    entered.wait(10)
    waiting = asyncio.ensure_future(gate.clear())
    assert await wait_until(lambda: gate.waiting == 1)
    assert not waiting.done()
    leave.set()
    await asyncio.wait_for(waiting, 5)
    thread.join(5)


def test_the_interpreter_is_tuned_and_what_is_loaded_frozen_once(tmp_path):
    """In a fresh interpreter (freezing is once per process): the switch interval from the
    settings, what is alive moved out of the collector's reach, new garbage still collected."""
    import subprocess
    import sys

    script = """
import gc, sys, weakref
from connectors.core.turns import tune_interpreter

class Node:
    pass

tune_interpreter(freeze=True)
frozen = gc.get_freeze_count()
alive = [[n] for n in range(1000)]  # would be frozen too by a second freeze
tune_interpreter(freeze=True)
a, b = Node(), Node()
a.other, b.other = b, a
gone = weakref.ref(a)
del a, b
gc.collect()
print(round(sys.getswitchinterval() * 1000, 3), frozen > 1000, gc.get_freeze_count() == frozen,
      gone() is None)
"""
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**os.environ, "MISYBOT_CHANNEL_SWITCH_INTERVAL_MS": "2"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["2.0", "True", "True", "True"]


async def test_a_status_that_comes_before_its_reply_is_recorded_is_applied_by_the_finish(inbox):
    """A reply is recorded once the provider accepted it; its callbacks may come before that."""
    from connectors.core.output import InboxOutput
    from connectors.core.turns import TurnLoop

    turns = TurnLoop("test-turns")
    applied_at_once: list[bool] = []

    async def on_new_message(message):
        # Twilio's callbacks, before the send's record is written.
        for status in ("sent", "delivered"):
            applied_at_once.append(
                await runtime.record_delivery(Channel.WHATSAPP, "SMfast", status, None)
            )
        await message.output_channel.record(
            OutboundRecord(
                Channel.WHATSAPP,
                message.sender_id,
                "ok",
                DeliveryStatus.QUEUED,
                attempts=1,
                provider_message_id="SMfast",
            )
        )

    def reply_status() -> str | None:
        with session_scope(inbox.factory) as session:
            return session.execute(
                select(OutboundMessage.status).where(
                    OutboundMessage.provider_message_id == "SMfast"
                )
            ).scalar_one_or_none()

    runtime = _runtime(inbox, turns, lambda stored: InboxOutput(inbox, stored))
    try:
        await runtime.start(on_new_message)
        assert await runtime.accept(_message("SM1"))
        await wait_until(lambda: reply_status() == "delivered")
    finally:
        turns.stop()
    assert applied_at_once == [False, False]
    assert reply_status() == "delivered"
    assert runtime._early_statuses == {}  # nothing left held
    assert not await runtime.record_delivery(Channel.WHATSAPP, "SMnever", "delivered", None)
    assert not await runtime.record_delivery(Channel.WHATSAPP, "SMfast", "no-such-status", None)
    assert list(runtime._early_statuses) == ["SMnever"]  # held for a while; unknown ones not


async def test_a_persons_conversation_is_answered_at_the_address_that_wrote(inbox):
    """``user:<id>`` is a person's conversation on every channel: a reply goes to the address
    of the message it answers, a pushed result to the address of theirs that wrote last."""
    from connectors.core.output import InboxOutput
    from misybot.identity import person_conversation

    class Output(InboxOutput):
        identity_channel = Channel.WHATSAPP
        sent: list[tuple[str, str]] = []  # noqa: RUF012 - one list per test, read below

        def provider_address(self, address: str) -> str:
            return f"whatsapp:{address}"

        async def send_text_message(self, recipient_id: str, text: str, **kwargs) -> None:
            self.sent.append((recipient_id, text))

    _acme, ana = _known_sender(inbox, "+351922222222")
    with session_scope(inbox.factory) as session:  # a second number of hers
        session.add(ChannelIdentity(user_id=ana.id, channel=Channel.WHATSAPP, address="+351933"))
    person = person_conversation(ana.id)
    stored = inbox.store(_message("SM1", sender="whatsapp:+351933"), InboxStatus.RECEIVED)
    await Output(inbox, stored).send_response(person, {"text": "answer"})
    await Output(inbox, None).send_response(person, {"text": "pushed"})
    await Output(inbox, None).send_response("whatsapp:+351944", {"text": "as addressed"})
    assert Output.sent == [
        ("whatsapp:+351933", "answer"),
        ("whatsapp:+351933", "pushed"),  # the number she wrote from last
        ("whatsapp:+351944", "as addressed"),  # not a person's conversation: as given
    ]
    with pytest.raises(LookupError):  # nobody of hers on this channel: not sent anywhere
        await Output(inbox, None).send_response(person_conversation(999), {"text": "lost"})
