"""Replies on WhatsApp Cloud, Messenger and Instagram, against a local Graph API stand-in."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from connectors.core.messages import InboundMessage
from connectors.core.sending import HttpSender
from connectors.meta.graph import GraphConfig
from connectors.meta.media import MediaUnavailable, fetch_whatsapp_media
from connectors.meta.messenger import InstagramOutput, MessengerOutput
from connectors.meta.whatsapp_cloud import WhatsAppCloudOutput
from misybot.db.models import OutboundMessage
from misybot.db.session import session_scope
from misybot.enums import Channel, DeliveryStatus, InboxStatus

VERSION = "v23.0"  # what the stand-in (tests/channels/conftest.py) serves
PHONE_NUMBER_ID = "106540352242922"
TOKENS = {"whatsapp": "wa-token", "messenger": "page-token", "instagram": "ig-token"}
REPORT_BUTTONS = [
    {"title": title, "payload": f'/generate_report{{"report_type": "{title.lower()}"}}'}
    for title in ("Inventory", "Sales", "Supplier", "Financial")
]


def config(graph, product: str, **overrides) -> GraphConfig:
    return GraphConfig(
        app_secret="secret",
        verify_token="verify",
        access_token=overrides.pop("access_token", TOKENS[product]),
        account_id=PHONE_NUMBER_ID if product == "whatsapp" else "1234",
        graph_url=graph.url,
        api_version=VERSION,
        **overrides,
    )


def whatsapp(graph, inbox, **overrides) -> WhatsAppCloudOutput:
    sender = HttpSender(backoff_s=0.01, per_second=100)
    return WhatsAppCloudOutput(config(graph, "whatsapp", **overrides), sender, inbox, stored=None)


def messenger(graph, inbox, cls=MessengerOutput, **overrides) -> MessengerOutput:
    product = "instagram" if cls is InstagramOutput else "messenger"
    sender = HttpSender(backoff_s=0.01, per_second=100)
    return cls(config(graph, product, **overrides), sender, inbox, stored=None)


def user_wrote(inbox, channel: Channel, address: str, hours_ago: float) -> None:
    inbox.store(
        InboundMessage(
            channel=channel,
            transport="test",
            sender=address,
            address=address,
            provider_message_id=f"in-{address}-{hours_ago}",
            received_at=datetime.now(timezone.utc) - timedelta(hours=hours_ago),
            text="hi",
        ),
        InboxStatus.PROCESSED,
    )


def outbound(inbox) -> list[OutboundMessage]:
    with session_scope(inbox.factory) as session:
        return list(session.execute(select(OutboundMessage).order_by(OutboundMessage.id)).scalars())


# WhatsApp Cloud API


async def test_whatsapp_text_goes_to_the_number_with_the_bearer_token_in_chunks(graph, inbox):
    to = "351910000101"
    user_wrote(inbox, Channel.WHATSAPP, f"+{to}", 1)
    text = "\n\n".join(f"**Section {i}**\n" + "Stock is fine here. " * 60 for i in range(5))
    await whatsapp(graph, inbox).send_text_message(to, text)
    sent = graph.messages_to(to)
    assert len(sent) == 2
    assert {r.node for r in sent} == {PHONE_NUMBER_ID}
    assert {r.token for r in sent} == {TOKENS["whatsapp"]}
    bodies = [r.payload["text"]["body"] for r in sent]
    assert all(len(body) <= 4096 for body in bodies)
    assert bodies[0].startswith("*Section 0*")  # WhatsApp bold
    assert " ".join(bodies).split() == text.replace("**", "*").split()
    assert {(r.payload["messaging_product"], r.payload["type"]) for r in sent} == {
        ("whatsapp", "text")
    }
    records = outbound(inbox)
    assert [o.status for o in records] == [DeliveryStatus.QUEUED] * 2
    assert {o.recipient_address for o in records} == {f"+{to}"}  # as Twilio's WhatsApp records
    assert [o.provider_message_id for o in records] == [r.answer["messages"][0]["id"] for r in sent]


@pytest.mark.parametrize(
    ("count", "title", "widget"),
    [(2, "Inventory", "button"), (3, "Inventory monitor", "button"), (4, "Sales", "list"),
     (10, "Sales", "list"), (3, "A title of 22 letters!", "list"), (11, "Sales", None),
     (2, "A title longer than 24 chars", None)],
)  # fmt: skip
async def test_whatsapp_buttons_become_the_widget_their_count_and_titles_allow(
    graph, inbox, count, title, widget
):
    to = f"35191100{count:02d}{len(title):02d}"
    user_wrote(inbox, Channel.WHATSAPP, f"+{to}", 1)
    buttons = [{"title": title, "payload": f'/choose{{"n": {n}}}'} for n in range(count)]
    await whatsapp(graph, inbox).send_text_with_buttons(to, "Which one?", buttons)
    (sent,) = graph.messages_to(to)
    if widget is None:
        body = sent.payload["text"]["body"]
        assert body.startswith("Which one?\n1. ") and f"\n{count}. {title}" in body
        return
    interactive = sent.payload["interactive"]
    assert sent.payload["type"] == "interactive" and interactive["type"] == widget
    assert interactive["body"]["text"] == "Which one?"
    if widget == "button":
        ids = [b["reply"]["id"] for b in interactive["action"]["buttons"]]
    else:
        ids = [r["id"] for r in interactive["action"]["sections"][0]["rows"]]
    assert ids == [b["payload"] for b in buttons]


async def test_whatsapp_report_chart_and_csv_go_by_link(graph, inbox):
    to = "351910000103"
    user_wrote(inbox, Channel.WHATSAPP, f"+{to}", 1)
    channel = whatsapp(graph, inbox)
    await channel.send_image_url(to, "https://bot.example.com/reports/demo/chart.png")
    await channel.send_attachment(to, "https://bot.example.com/reports/demo/sales.csv")
    image, document = graph.messages_to(to)
    assert image.payload["image"] == {"link": "https://bot.example.com/reports/demo/chart.png"}
    assert document.payload["document"] == {
        "link": "https://bot.example.com/reports/demo/sales.csv",
        "filename": "sales.csv",
    }


async def test_whatsapp_outside_24_hours_sends_the_configured_template(graph, inbox):
    to = "351910000104"
    user_wrote(inbox, Channel.WHATSAPP, f"+{to}", 30)
    templates = {
        "utter_agent_result": {"name": "agent_result", "language": "pt_PT"},
        "default": {"name": "generic_update", "language": "en"},
    }
    channel = whatsapp(graph, inbox, templates=templates)
    await channel.send_text_message(
        to, "Report ready:\n\n**WID-220** 40 units", utter_action="utter_agent_result"
    )
    await channel.send_text_message(to, "Anything else?")
    first, second = graph.messages_to(to)
    assert first.payload["type"] == "template"
    assert first.payload["template"]["name"] == "agent_result"
    assert first.payload["template"]["language"] == {"code": "pt_PT"}
    (parameter,) = first.payload["template"]["components"][0]["parameters"]
    assert parameter == {"type": "text", "text": "Report ready: *WID-220* 40 units"}
    assert second.payload["template"]["name"] == "generic_update"


async def test_whatsapp_inside_24_hours_sends_free_text(graph, inbox):
    to = "351910000105"
    user_wrote(inbox, Channel.WHATSAPP, f"+{to}", 23)
    await whatsapp(graph, inbox, templates={"default": {"name": "x"}}).send_text_message(to, "hi")
    (sent,) = graph.messages_to(to)
    assert sent.payload["type"] == "text"


async def test_whatsapp_read_receipt_and_typing_indicator(graph, inbox):
    await whatsapp(graph, inbox).acknowledge("351910000106", "wamid.ABC")
    (receipt,) = [r for r in graph.requests if r.payload.get("message_id") == "wamid.ABC"]
    assert receipt.status == 200 and receipt.node == PHONE_NUMBER_ID
    assert receipt.payload == {
        "messaging_product": "whatsapp",
        "status": "read",
        "message_id": "wamid.ABC",
        "typing_indicator": {"type": "text"},
    }


async def test_a_refused_send_is_recorded_with_the_graph_error(graph, inbox):
    to = "351910000107"
    user_wrote(inbox, Channel.WHATSAPP, f"+{to}", 1)
    await whatsapp(graph, inbox, access_token="expired").send_text_message(to, "hello")
    attempts = [r for r in graph.requests if r.recipient == to]
    assert [r.status for r in attempts] == [401]  # not retried
    (failed,) = outbound(inbox)
    assert failed.status == DeliveryStatus.FAILED and failed.error_code == "190"


async def test_transient_graph_errors_are_retried(graph, inbox):
    to = "351910000108"
    user_wrote(inbox, Channel.WHATSAPP, f"+{to}", 1)
    graph.fail[to] = [503, 429]
    await whatsapp(graph, inbox).send_text_message(to, "hello")
    assert [r.status for r in graph.requests if r.recipient == to] == [503, 429, 200]
    (sent,) = outbound(inbox)
    assert sent.attempts == 3 and sent.status == DeliveryStatus.QUEUED


async def test_whatsapp_media_is_fetched_by_id_with_the_token(graph):
    graph.media["998877"] = (b"\x89PNG fake image bytes", "image/png")
    content = await fetch_whatsapp_media(
        "998877", access_token=TOKENS["whatsapp"], graph_url=graph.url, version=VERSION
    )
    assert content.data == b"\x89PNG fake image bytes" and content.mime_type == "image/png"
    by_url = await fetch_whatsapp_media(
        f"{graph.url}/{VERSION}/998877", access_token=TOKENS["whatsapp"]
    )
    assert by_url.data == content.data
    with pytest.raises(MediaUnavailable, match="401"):
        await fetch_whatsapp_media(
            "998877", access_token="wrong", graph_url=graph.url, version=VERSION
        )
    with pytest.raises(MediaUnavailable, match="400"):
        await fetch_whatsapp_media(
            "unknown", access_token=TOKENS["whatsapp"], graph_url=graph.url, version=VERSION
        )


# Messenger and Instagram


async def test_messenger_text_is_plain_in_2000_character_chunks_as_a_response(graph, inbox):
    psid = "6001000000000001"
    user_wrote(inbox, Channel.MESSENGER, psid, 1)
    text = "**Stock** for [WID-220](https://x.example/wid) — " + "fine. " * 700
    await messenger(graph, inbox).send_text_message(psid, text)
    sent = graph.messages_to(psid)
    assert len(sent) == 3
    assert {r.node for r in sent} == {"me"} and {r.token for r in sent} == {TOKENS["messenger"]}
    assert all(r.payload["messaging_type"] == "RESPONSE" for r in sent)
    texts = [r.payload["message"]["text"] for r in sent]
    assert all(len(t) <= 2000 for t in texts)
    assert texts[0].startswith("Stock for WID-220 (https://x.example/wid)")
    assert "**" not in "".join(texts)
    assert [o.channel for o in outbound(inbox)] == [Channel.MESSENGER] * 3


@pytest.mark.parametrize("count", [4, 13, 14])
async def test_messenger_buttons_are_quick_replies_up_to_13(graph, inbox, count):
    psid = f"60010000000001{count:02d}"
    user_wrote(inbox, Channel.MESSENGER, psid, 1)
    buttons = [{"title": f"Option {n}", "payload": f'/pick{{"n": {n}}}'} for n in range(count)]
    await messenger(graph, inbox).send_text_with_buttons(psid, "Pick one", buttons)
    (sent,) = graph.messages_to(psid)
    message = sent.payload["message"]
    if count <= 13:
        assert message["text"] == "Pick one"
        assert [q["payload"] for q in message["quick_replies"]] == [b["payload"] for b in buttons]
        assert {q["content_type"] for q in message["quick_replies"]} == {"text"}
    else:
        assert "quick_replies" not in message
        assert f"\n{count}. Option {count - 1}" in message["text"]


async def test_messenger_url_buttons_use_the_button_template(graph, inbox):
    psid = "6001000000000003"
    user_wrote(inbox, Channel.MESSENGER, psid, 1)
    buttons = [{"title": "Open report", "url": "https://bot.example.com/r/1"}]
    await messenger(graph, inbox).send_text_with_buttons(psid, "Your report", buttons)
    (sent,) = graph.messages_to(psid)
    payload = sent.payload["message"]["attachment"]["payload"]
    assert payload["template_type"] == "button" and payload["text"] == "Your report"
    assert payload["buttons"] == [
        {"type": "web_url", "url": "https://bot.example.com/r/1", "title": "Open report"}
    ]


async def test_messenger_outside_24_hours_uses_the_human_agent_tag(graph, inbox):
    psid = "6001000000000004"
    user_wrote(inbox, Channel.MESSENGER, psid, 48)
    await messenger(graph, inbox).send_text_message(psid, "Your weekly digest is ready.")
    (sent,) = graph.messages_to(psid)
    assert sent.payload["messaging_type"] == "MESSAGE_TAG" and sent.payload["tag"] == "HUMAN_AGENT"


async def test_messenger_image_and_typing(graph, inbox):
    psid = "6001000000000005"
    user_wrote(inbox, Channel.MESSENGER, psid, 1)
    channel = messenger(graph, inbox)
    await channel.acknowledge(psid, "m_1")
    await channel.send_image_url(psid, "https://bot.example.com/chart.png")
    actions = [r.payload.get("sender_action") for r in graph.requests if r.recipient == psid]
    assert actions == ["mark_seen", "typing_on", None]
    (image,) = graph.messages_to(psid)
    assert image.payload["message"]["attachment"] == {
        "type": "image",
        "payload": {"url": "https://bot.example.com/chart.png", "is_reusable": False},
    }


async def test_instagram_text_is_split_under_1000_bytes_on_word_boundaries(graph, inbox):
    igsid = "7001000000000001"
    user_wrote(inbox, Channel.INSTAGRAM, igsid, 1)
    text = "Armazém de Lisboa: ações pendentes ✅ " * 60  # multi-byte characters
    await messenger(graph, inbox, InstagramOutput).send_text_message(igsid, text)
    sent = graph.messages_to(igsid)
    texts = [r.payload["message"]["text"] for r in sent]
    assert len(texts) >= 3 and all(len(t.encode()) < 1000 for t in texts)
    assert " ".join(texts).split() == text.split()
    assert {r.token for r in sent} == {TOKENS["instagram"]}
    assert [o.channel for o in outbound(inbox)] == [Channel.INSTAGRAM] * len(texts)


async def test_instagram_quick_replies_and_tag_outside_24_hours(graph, inbox):
    igsid = "7001000000000002"
    user_wrote(inbox, Channel.INSTAGRAM, igsid, 30)
    channel = messenger(graph, inbox, InstagramOutput)
    await channel.send_text_with_buttons(igsid, "Which report?", REPORT_BUTTONS)
    (sent,) = graph.messages_to(igsid)
    assert [q["title"] for q in sent.payload["message"]["quick_replies"]] == [
        "Inventory", "Sales", "Supplier", "Financial"
    ]  # fmt: skip
    assert sent.payload["tag"] == "HUMAN_AGENT"


async def test_instagram_url_buttons_become_numbered_links(graph, inbox):
    igsid = "7001000000000003"
    user_wrote(inbox, Channel.INSTAGRAM, igsid, 1)
    buttons = [{"title": "Open report", "url": "https://bot.example.com/r/1"}]
    await messenger(graph, inbox, InstagramOutput).send_text_with_buttons(igsid, "Ready", buttons)
    (sent,) = graph.messages_to(igsid)
    assert sent.payload["message"] == {
        "text": "Ready\n1. Open report: https://bot.example.com/r/1\nReply with a number."
    }
