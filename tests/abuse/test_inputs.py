"""Whatever a signed request carries is bounded, cleaned and stored, or refused as the caller's
fault — never a database error — on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from urllib.parse import urlencode

import payloads
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from connectors.core.sanitize import bounded_json, clean_text, clean_token
from connectors.email.channel import MAX_TEXT_CHARS, inbound_message
from connectors.email.mailbox import MailboxStore
from connectors.email.mailgun import WebhookRefused, form_to_message
from connectors.email.parsing import parse_message
from connectors.meta.graph import PayloadError as GraphPayloadError
from connectors.meta.graph import load_event
from connectors.meta.messenger import parse_messaging
from connectors.meta.whatsapp_cloud import parse_whatsapp_cloud
from connectors.twilio import PayloadError, parse_form, parse_inbound
from misybot.db.models import ConversationMessage
from misybot.db.session import session_scope
from misybot.enums import Channel, InboxStatus
from misybot.nlu.bounds import MAX_TOKENS, nlu_text
from testkit.payloads import whatsapp_message, whatsapp_webhook

FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def test_text_loses_nul_and_controls_keeps_lines_and_marks_lone_surrogates():
    assert clean_text("a\x00b\x07c\nd\te", 100) == "abc\nd\te"
    assert clean_text("x\ud800y", 100) == "x\ufffdy"
    assert clean_text("é" * 5000, 4096) == "é" * 4096
    assert (
        clean_text({"a": 1}, 10) == "" and clean_text(None, 10) == "" and clean_text(7, 10) == "7"
    )


def test_an_id_is_a_bounded_token_or_nothing():
    assert clean_token(" wamid.ABC ") == "wamid.ABC" and clean_token(351910000001) == "351910000001"
    for bad in ("", "a b", "x" * 129, "a\x00b", "a\ud800", None, True, 1.5, ["x"], {"a": 1}):
        assert clean_token(bad) is None


def test_json_kept_with_a_message_is_bounded_and_storable_anywhere():
    deep: list = []
    for _ in range(50):
        deep = [deep]
    value = {"nan": float("nan"), "inf": float("-inf"), "text": "a\x00" + "b" * 5000, 1: deep}
    bounded = bounded_json(value, max_string=100)
    assert bounded["nan"] is None and bounded["inf"] is None
    assert bounded["text"] == "a" + "b" * 99 and "1" in bounded
    json.dumps(bounded, allow_nan=False)  # a JSON column takes it


def test_the_nlu_reads_a_bounded_prefix_whatever_the_shape_of_the_text():
    assert nlu_text("how many WID-220 in Lisbon?") == "how many WID-220 in Lisbon?"
    assert nlu_text("!" * 100_000) == "!" * MAX_TOKENS  # spaCy is quadratic in such a run
    assert nlu_text("😀 " * 10_000).count("😀") == MAX_TOKENS
    assert nlu_text("x" * 1_000_000) == "x" * 4096
    words = nlu_text("stock " * 1000).split()
    assert len(words) == MAX_TOKENS


def _stored_count(inbox) -> int:
    with session_scope(inbox.factory) as session:
        return session.execute(select(func.count(ConversationMessage.id))).scalar_one()


@FUZZ
@given(payload=payloads.whatsapp_payload)
def test_any_whatsapp_cloud_payload_parses_into_storable_messages(inbox, payload):
    batch = parse_whatsapp_cloud(
        payload, phone_number_id=payloads.PHONE_NUMBER_ID, media_base_url="https://graph"
    )
    inbox.store_many([(message, InboxStatus.RECEIVED) for message in batch.messages])


@FUZZ
@given(payload=st.one_of(payloads.messenger_payload, payloads.instagram_payload))
def test_any_messenger_or_instagram_payload_parses_into_storable_messages(inbox, payload):
    instagram = payload["object"] == "instagram"
    batch = parse_messaging(
        payload,
        channel=Channel.INSTAGRAM if instagram else Channel.MESSENGER,
        transport="instagram" if instagram else "messenger",
        account_id=payloads.IG_ACCOUNT_ID if instagram else payloads.PAGE_ID,
    )
    inbox.store_many([(message, InboxStatus.RECEIVED) for message in batch.messages])


@FUZZ
@given(form=payloads.twilio_form)
def test_any_twilio_form_is_refused_or_parses_into_a_storable_message(inbox, form):
    try:
        message = parse_inbound(parse_form(urlencode(form).encode()))
    except PayloadError:
        return
    assert len(message.text) <= 4096
    inbox.store_many([(message, InboxStatus.RECEIVED)])


@FUZZ
@given(fields=payloads.mailgun_fields)
def test_any_mailgun_form_is_refused_or_becomes_a_storable_message(inbox, fields):
    try:
        parsed = parse_message(form_to_message(fields))
    except WebhookRefused:
        return
    except (ValueError, TypeError, LookupError, IndexError, AttributeError):
        return  # the email library refuses it: the webhook answers 400 (tests/abuse/test_attacks)
    if parsed.automated or not parsed.text:
        return
    message = inbound_message(parsed, "mailgun")
    assert len(message.text) <= MAX_TEXT_CHARS
    inbox.store_many([(message, InboxStatus.RECEIVED)])


def test_json_nested_past_the_parsers_recursion_limit_is_a_payload_error():
    with pytest.raises(GraphPayloadError):
        load_event(b"[" * 100_000 + b"]" * 100_000, "page")


def test_a_bad_item_in_a_batch_is_refused_alone(inbox):
    good = whatsapp_message("351910000001", body="first")
    too_long = whatsapp_message("3" * 300, body="second")
    nowhere = whatsapp_message("351910000002", kind="location")
    nowhere["location"] = {"latitude": "nan", "longitude": 1}
    listed = whatsapp_message("351910000003", body="fourth")
    listed["text"] = ["not", "an", "object"]  # reads as no text: nothing to answer, ignored
    also_good = whatsapp_message("351910000004", body="fifth")
    payload = whatsapp_webhook(
        payloads.PHONE_NUMBER_ID, messages=[good, too_long, nowhere, listed, also_good]
    )
    batch = parse_whatsapp_cloud(
        payload, phone_number_id=payloads.PHONE_NUMBER_ID, media_base_url="https://graph"
    )
    assert [m.text for m in batch.messages] == ["first", "fifth"]
    assert len(batch.refused) == 2 and batch.ignored == 1
    stored = inbox.store_many([(message, InboxStatus.RECEIVED) for message in batch.messages])
    assert all(stored) and _stored_count(inbox) == 2


def test_a_mailgun_token_is_claimed_once_even_by_simultaneous_requests(engine):
    from misybot.db.session import make_session_factory

    store = MailboxStore(make_session_factory(engine))
    results: list[bool] = []
    start = threading.Barrier(5)

    def claim() -> None:
        start.wait()
        results.append(store.claim_token("mailgun", "tok-1", timedelta(minutes=30)))

    threads = [threading.Thread(target=claim) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * 4 + [True]
    assert not store.claim_token("mailgun", "tok-1", timedelta(minutes=30))  # a later replay
    store.release_token("mailgun", "tok-1")  # its request could not be stored: Mailgun retries
    assert store.claim_token("mailgun", "tok-1", timedelta(minutes=30))
