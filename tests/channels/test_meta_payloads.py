"""Meta webhook payloads (shapes from Meta's documented examples) parsed into inbox messages, and
the helpers the Meta connectors added to the channel core."""

from __future__ import annotations

import pytest

from connectors.core.formatting import markdown_to_plain, split_text, utf8_length
from connectors.core.signatures import hub_challenge, hub_signature, valid_hub_signature
from connectors.meta.graph import PayloadError, load_event
from connectors.meta.messenger import parse_messaging
from connectors.meta.whatsapp_cloud import interactive_message, parse_whatsapp_cloud
from misybot.enums import Channel
from testkit.payloads import messaging_event, messaging_webhook, whatsapp_message, whatsapp_webhook

PHONE_NUMBER_ID = "106540352242922"
MEDIA_BASE = "https://graph.facebook.com/v23.0"
WA_ID = "16505551234"


def parse_one(kind: str, **content):
    payload = whatsapp_webhook(
        PHONE_NUMBER_ID,
        contacts=[{"profile": {"name": "Sheena Nelson"}, "wa_id": WA_ID}],
        messages=[whatsapp_message(WA_ID, kind, **content)],
    )
    batch = parse_whatsapp_cloud(
        payload, phone_number_id=PHONE_NUMBER_ID, media_base_url=MEDIA_BASE
    )
    return batch.messages[0] if batch.messages else None


def test_whatsapp_text_carries_sender_wamid_and_profile():
    message = parse_one("text", body="Does it come in another color?")
    assert message.text == "Does it come in another color?"
    assert (message.sender, message.address) == (WA_ID, f"+{WA_ID}")
    assert message.channel == Channel.WHATSAPP and message.transport == "whatsapp_cloud"
    assert message.provider_message_id.startswith("wamid.")
    assert message.profile_name == "Sheena Nelson"


@pytest.mark.parametrize(
    ("kind", "content", "payload", "text"),
    [
        ("interactive", {"type": "button_reply", "button_reply": {"id": "/affirm", "title": "Yes"}},
         "/affirm", "Yes"),
        ("interactive", {"type": "list_reply", "list_reply": {"id": "/pick", "title": "Sales"}},
         "/pick", "Sales"),
        ("button", {"payload": "STOP_ALERTS", "text": "Stop alerts"}, "STOP_ALERTS", "Stop alerts"),
    ],
)  # fmt: skip
def test_whatsapp_replies_to_widgets_carry_their_payload(kind, content, payload, text):
    message = parse_one(kind, **content)
    assert (message.button_payload, message.text, message.user_text) == (payload, text, payload)


@pytest.mark.parametrize("kind", ["image", "video", "audio", "document", "sticker"])
def test_whatsapp_media_is_referenced_by_its_graph_url_for_fetching_later(kind):
    message = parse_one(kind, id="1048576", mime_type="image/webp", sha256="abc", caption="WID-220")
    assert [(m.url, m.content_type) for m in message.media] == [
        (f"{MEDIA_BASE}/1048576", "image/webp")
    ]
    assert message.text == "WID-220"


def test_whatsapp_location_and_reactions():
    location = parse_one(
        "location", latitude=38.7223, longitude=-9.1393, name="Warehouse", address="Lisbon"
    )
    assert (location.location.latitude, location.location.label) == (38.7223, "Warehouse")
    reaction = parse_one("reaction", message_id="wamid.OURS", emoji="\U0001f44d")
    assert reaction.text == "\U0001f44d"
    assert parse_one("reaction", message_id="wamid.OURS", emoji="") is None  # removed
    assert parse_one("unsupported", errors=[{"code": 131051}]) is None


def test_whatsapp_statuses_with_errors_are_reported_not_processed():
    failed = {
        "id": "wamid.OUT",
        "status": "failed",
        "timestamp": "1",
        "recipient_id": WA_ID,
        "errors": [{"code": 131047, "title": "Re-engagement message"}],
    }
    batch = parse_whatsapp_cloud(
        whatsapp_webhook(PHONE_NUMBER_ID, statuses=[failed]),
        phone_number_id=PHONE_NUMBER_ID,
        media_base_url=MEDIA_BASE,
    )
    assert batch.messages == []
    assert [(s.provider_message_id, s.status, s.error_code) for s in batch.statuses] == [
        ("wamid.OUT", "failed", "131047")
    ]


def test_messenger_events_are_sorted_into_messages_and_ignored():
    psid, page = "6001", "1044"
    events = [
        messaging_event(psid, page, message={"text": "hi", "quick_reply": {"payload": "/greet"}}),
        messaging_event(psid, page, message={"attachments": [
            {"type": "image", "payload": {"url": "https://scontent.example/1.jpg"}}]}),
        messaging_event(psid, page, postback={"title": "Get Started", "payload": "/start"}),
        messaging_event(psid, page, reaction={"mid": "m_1", "action": "react", "emoji": "❤"}),
        messaging_event(psid, page, reaction={"mid": "m_1", "action": "unreact"}),
        messaging_event(page, psid, message={"text": "ours", "is_echo": True}),
        messaging_event(psid, page, delivery={"mids": ["m_1"], "watermark": 1}),
        messaging_event(psid, page, read={"watermark": 1}),
        messaging_event(psid, page, message={"is_deleted": True}),
    ]  # fmt: skip
    payload = messaging_webhook("page", page, events)
    payload["entry"].append({"id": page, "time": 1, "standby": [events[0]]})
    batch = parse_messaging(
        payload, channel=Channel.MESSENGER, transport="messenger", account_id=page
    )
    texts = [(m.user_text, [x.url for x in m.media]) for m in batch.messages]
    assert texts == [
        ("/greet", []),
        ("", ["https://scontent.example/1.jpg"]),
        ("/start", []),
        ("❤", []),
    ]
    assert batch.ignored == 6
    assert len({m.provider_message_id for m in batch.messages}) == 4


@pytest.mark.parametrize(
    ("body", "reason"),
    [(b"{not json", "malformed JSON"), (b'"text"', "entry list"), (b'{"entry": 3}', "entry list")],
)
def test_bodies_that_are_not_graph_events_are_refused(body, reason):
    with pytest.raises(PayloadError, match=reason):
        load_event(body, "page")


def test_an_event_for_another_object_is_recognised():
    assert load_event(b'{"object": "user", "entry": []}', "page") is None
    assert load_event(b'{"object": "page", "entry": []}', "page") == {"object": "page", "entry": []}


def test_hub_signatures_sha256_and_legacy_sha1():
    raw = '{"text": "Armazém"}'.encode()
    assert valid_hub_signature("s", raw, hub_signature("s", raw))
    assert not valid_hub_signature("s", raw, hub_signature("other", raw))
    assert valid_hub_signature("s", raw, hub_signature("s", raw, "sha1"), "sha1")
    assert not valid_hub_signature("s", raw, hub_signature("s", raw, "sha1"))  # not as -256


def test_subscription_challenge_needs_mode_and_token():
    good = {"hub.mode": "subscribe", "hub.verify_token": "t", "hub.challenge": "42"}
    assert hub_challenge(good, "t") == "42"
    assert hub_challenge({**good, "hub.verify_token": "x"}, "t") is None
    assert hub_challenge({**good, "hub.mode": "other"}, "t") is None
    assert hub_challenge(good, "") is None  # never verify against an unset token


def test_markdown_becomes_plain_text():
    text = "## Stock\n**WID-220**: *40* units, ~~old~~ see [report](https://x.example/r)\n- one"
    assert markdown_to_plain(text) == (
        "Stock\nWID-220: 40 units, old see report (https://x.example/r)\n• one"
    )


def test_byte_limited_splitting_never_cuts_a_character():
    word = "ã" * 700  # 1400 bytes, no boundary to cut at
    chunks = split_text(f"ok {word}", 999, utf8_length)
    assert all(utf8_length(chunk) <= 999 for chunk in chunks)
    assert "".join(chunks[1:]) == word and chunks[0] == "ok"


def test_interactive_widget_limits():
    assert interactive_message("x" * 1025, [{"title": "A", "payload": "/a"}]) is None
    url = [{"title": "Open", "url": "https://x.example"}]
    assert interactive_message("Pick", url) is None
    assert interactive_message("Pick", [{"title": "A", "payload": "/a"}])["type"] == "button"
