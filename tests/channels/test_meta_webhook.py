"""WhatsApp Cloud API, Messenger and Instagram end to end: really signed webhooks shaped like Meta's
documented examples into a real ``rasa run`` (trained model, action server, worker), replies
received by a local stand-in for the Graph API, the inbox in a real SQLite database."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import select

from connectors.core.signatures import hub_signature
from misybot.db.engine import create_db_engine
from misybot.db.models import ConversationMessage, OutboundMessage, User
from misybot.db.session import make_session_factory, session_scope
from misybot.enums import Channel
from misybot.identity import person_conversation
from testkit.database import link_identities, seeded_database_url
from testkit.payloads import (
    messaging_event,
    messaging_webhook,
    signed_meta_request,
    whatsapp_message,
    whatsapp_webhook,
)
from testkit.processes import RasaProcess
from testkit.waiting import wait_until

pytestmark = pytest.mark.rasa_model

ROOT = Path(__file__).resolve().parents[2]
VERSION = "v23.0"  # what the stand-in (tests/channels/conftest.py) serves
APP_SECRET = "meta-app-secret-0123456789abcdef"
VERIFY_TOKEN = "meta-verify-token"
PHONE_NUMBER_ID = "106540352242922"
PAGE_ID = "104420000000001"
IG_ACCOUNT_ID = "17841400000000001"
TOKENS = {"whatsapp": "wa-token", "messenger": "page-token", "instagram": "ig-token"}
CHANNELS = ("whatsapp_cloud", "messenger", "instagram")


@pytest.fixture(scope="module")
def database(tmp_path_factory):
    url = seeded_database_url(tmp_path_factory.mktemp("meta-inbox"))
    engine = create_db_engine(url)
    yield engine, url
    engine.dispose()


def credentials(graph_url: str) -> str:
    common = (
        f'  app_secret: "{APP_SECRET}"\n'
        f'  verify_token: "{VERIFY_TOKEN}"\n'
        f'  api_url: "{graph_url}"\n'
        f'  api_version: "{VERSION}"\n'
        "  send_backoff_s: 0.05\n"
    )
    return (
        "connectors.meta.WhatsAppCloudInput:\n"
        f"{common}"
        f'  access_token: "{TOKENS["whatsapp"]}"\n'
        f'  phone_number_id: "{PHONE_NUMBER_ID}"\n'
        "  templates:\n"
        '    default: {name: "agent_update", language: "en"}\n'
        "connectors.meta.MessengerInput:\n"
        f"{common}"
        f'  access_token: "{TOKENS["messenger"]}"\n'
        f'  page_id: "{PAGE_ID}"\n'
        "connectors.meta.InstagramInput:\n"
        f"{common}"
        f'  access_token: "{TOKENS["instagram"]}"\n'
        f'  instagram_account_id: "{IG_ACCOUNT_ID}"\n'
        "  allow_sha1_signature: true\n"
    )


# Senders whose questions reach company data: each linked to a demo user of their own in the
# database the action server reads (a person's channels share one conversation, and each test
# starts its own); every other sender of these tests is unregistered.
REGISTERED = {
    "tiago.ferreira@misy-demo.example": (Channel.WHATSAPP, "+351910000201"),
    "lucia.gomez@misy-demo.example": (Channel.WHATSAPP, "+351910000202"),
    "priya.nair@misy-demo.example": (Channel.INSTAGRAM, "7002000000000001"),
    "marta.costa@misy-demo.example": (Channel.MESSENGER, "6002000000000002"),
    "joao.pereira@misy-demo.example": (Channel.MESSENGER, "6002000000000004"),
}


CONVERSATIONS: dict[str, str] = {}  # a registered sender → its person's conversation id


@pytest.fixture(scope="module")
def registered(demo_database_url, database):
    for email, (_, address) in REGISTERED.items():
        link_identities([demo_database_url, database[1]], email, [REGISTERED[email]])
        with session_scope(make_session_factory(database[0])) as session:
            user_id = session.execute(select(User.id).where(User.email == email)).scalar_one()
        CONVERSATIONS[address.lstrip("+")] = person_conversation(user_id)


@pytest.fixture(scope="module")
def rasa(model_path, action_server_url, worker, graph, database, registered, tmp_path_factory):
    server = RasaProcess(
        root=ROOT,
        workdir=tmp_path_factory.mktemp("rasa-meta"),
        model=model_path,
        action_url=action_server_url,
        credentials=credentials(graph.url),
        health_channel="whatsapp_cloud",
        env={"MISYBOT_DATABASE_URL": database[1]},
    )
    server.start()
    yield server
    server.stop()


def stored(engine, channel: Channel, address: str) -> list[ConversationMessage]:
    with session_scope(make_session_factory(engine)) as session:
        query = select(ConversationMessage).where(
            ConversationMessage.channel == channel, ConversationMessage.sender_address == address
        )
        return list(session.execute(query.order_by(ConversationMessage.id)).scalars())


async def post(server: RasaProcess, channel: str, payload, *, headers=None, body=None):
    """POST ``payload`` to ``channel``'s webhook signed as Meta would (``headers`` override)."""
    signed_body, signed_headers = signed_meta_request(APP_SECRET, payload)
    url = f"{server.url}/webhooks/{channel}/webhook"
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            url, data=signed_body if body is None else body, headers=headers or signed_headers
        ) as response,
    ):
        return response.status, await response.text()


async def tracker(server: RasaProcess, sender: str, turns: int, timeout: float = 30.0) -> dict:
    """The sender's person's tracker (``user:<id>``) once ``turns`` of their messages were
    handled: Rasa saves it after the replies went out, so a reply at the stand-in comes a
    moment before its turn is saved."""
    sender = CONVERSATIONS[sender]
    async with aiohttp.ClientSession() as session:
        for _ in range(int(timeout / 0.05)):
            async with session.get(
                f"{server.url}/conversations/{sender}/tracker",
                params={"token": server.api_token},
            ) as response:
                state = await response.json()
            events = state["events"]
            handled = sum(event["event"] == "user" for event in events)
            if handled >= turns and events[-1].get("name") == "action_listen":
                return state
            await asyncio.sleep(0.05)
    return state


def last_response(state: dict) -> str | None:
    """The name of the domain response the bot uttered last in ``state`` (a tracker)."""
    bot = [e for e in state["events"] if e["event"] == "bot"]
    return bot[-1].get("metadata", {}).get("utter_action") if bot else None


def processed(engine, channel: Channel, address: str, count: int):
    rows = stored(engine, channel, address)
    return rows if len(rows) == count and all(r.status == "processed" for r in rows) else None


# Subscription verification


@pytest.mark.parametrize("channel", CHANNELS)
async def test_verification_echoes_the_challenge_only_for_the_right_token(rasa, channel):
    url = f"{rasa.url}/webhooks/{channel}/webhook"
    good = {
        "hub.mode": "subscribe",
        "hub.verify_token": VERIFY_TOKEN,
        "hub.challenge": "1158201444",
    }
    async with aiohttp.ClientSession() as session:
        async with session.get(url, params=good) as response:
            assert (response.status, await response.text()) == (200, "1158201444")
        for wrong in ({"hub.verify_token": "guess"}, {"hub.mode": "unsubscribe"}, {"hub.mode": ""}):
            async with session.get(url, params={**good, **wrong}) as response:
                assert response.status == 403
                assert "1158201444" not in await response.text()


# WhatsApp Cloud API


async def test_whatsapp_inventory_question_is_answered_at_the_graph_api(rasa, graph, database):
    wa_id = "351910000201"
    payload = whatsapp_webhook(
        PHONE_NUMBER_ID,
        contacts=[{"profile": {"name": "Sheena Nelson"}, "wa_id": wa_id}],
        messages=[whatsapp_message(wa_id, body="how many WID-220 in Lisbon?")],
    )
    assert await post(rasa, "whatsapp_cloud", payload) == (200, "EVENT_RECEIVED")
    (reply,) = await graph.wait_for(wa_id, 1)
    assert reply.node == PHONE_NUMBER_ID and reply.token == TOKENS["whatsapp"]
    assert reply.payload["messaging_product"] == "whatsapp" and reply.payload["type"] == "text"
    body = reply.payload["text"]["body"]
    assert "WID-220" in body and re.search(r"\d", body.replace("WID-220", ""))
    assert "**" not in body
    (row,) = await wait_until(lambda: processed(database[0], Channel.WHATSAPP, f"+{wa_id}", 1))
    assert row.payload["profile_name"] == "Sheena Nelson" and row.response_sent
    wamid = payload["entry"][0]["changes"][0]["value"]["messages"][0]["id"]
    receipts = [r for r in graph.requests if r.payload.get("message_id") == wamid]
    assert [r.payload["status"] for r in receipts] == ["read"]
    assert receipts[0].payload["typing_indicator"] == {"type": "text"}


async def test_whatsapp_report_buttons_become_a_list_and_the_picked_row_routes(rasa, graph):
    wa_id = "351910000202"
    post_text = whatsapp_webhook(
        PHONE_NUMBER_ID, messages=[whatsapp_message(wa_id, body="i need a report")]
    )
    assert (await post(rasa, "whatsapp_cloud", post_text))[0] == 200
    (question,) = await graph.wait_for(wa_id, 1)
    interactive = question.payload["interactive"]
    assert interactive["type"] == "list"  # four report types: more than three reply buttons
    rows = interactive["action"]["sections"][0]["rows"]
    assert [row["title"] for row in rows] == ["Inventory", "Sales", "Supplier", "Financial"]
    assert all(row["id"].startswith("/generate_report") for row in rows)
    pick = whatsapp_message(
        wa_id,
        "interactive",
        type="list_reply",
        list_reply={"id": rows[1]["id"], "title": rows[1]["title"]},
    )
    assert (await post(rasa, "whatsapp_cloud", whatsapp_webhook(PHONE_NUMBER_ID, messages=[pick])))[
        0
    ] == 200
    await graph.wait_for(wa_id, 2)
    state = await tracker(rasa, wa_id, turns=2)
    assert state["slots"]["report_type"] == "sales"  # the picked row's payload was understood
    assert last_response(state) == "utter_ask_date_range"  # and the form moved on


async def test_whatsapp_batch_of_entries_changes_and_messages_is_processed_whole(
    rasa, graph, database
):
    senders = ["351910000211", "351910000212", "351910000213"]
    first = whatsapp_webhook(
        PHONE_NUMBER_ID,
        messages=[whatsapp_message(senders[0], body="hi"), whatsapp_message(senders[1], body="hi")],
    )
    second = whatsapp_webhook(
        PHONE_NUMBER_ID,
        messages=[
            whatsapp_message(
                senders[2], "image", id="1048576", mime_type="image/jpeg", sha256="x", caption="hi"
            )
        ],
        statuses=[
            {"id": "wamid.unknown", "status": "delivered", "timestamp": "1", "recipient_id": "1"}
        ],
    )
    other_number = whatsapp_webhook(
        "999999999", messages=[whatsapp_message("351910000219", body="hi")]
    )
    payload = {
        "object": "whatsapp_business_account",
        "entry": [first["entry"][0], second["entry"][0], other_number["entry"][0]],
    }
    assert (await post(rasa, "whatsapp_cloud", payload))[0] == 200
    for wa_id in senders:
        assert await wait_until(
            lambda w=wa_id: processed(database[0], Channel.WHATSAPP, f"+{w}", 1)
        )
        assert await graph.wait_for(wa_id, 1)
    (image,) = stored(database[0], Channel.WHATSAPP, f"+{senders[2]}")
    assert image.payload["media"] == [
        {"url": f"{graph.url}/{VERSION}/1048576", "content_type": "image/jpeg"}
    ]
    assert stored(database[0], Channel.WHATSAPP, "+351910000219") == []  # another number's


async def test_whatsapp_statuses_update_our_outbound_message_and_are_not_processed(
    rasa, graph, database
):
    wa_id = "351910000203"
    await post(
        rasa,
        "whatsapp_cloud",
        whatsapp_webhook(PHONE_NUMBER_ID, messages=[whatsapp_message(wa_id, body="hi")]),
    )
    (reply, *_) = await graph.wait_for(wa_id, 1)
    wamid = reply.answer["messages"][0]["id"]
    factory = make_session_factory(database[0])

    def delivery_status(message_id: str = wamid):
        with session_scope(factory) as session:
            return session.execute(
                select(OutboundMessage.status).where(
                    OutboundMessage.provider_message_id == message_id
                )
            ).scalar_one_or_none()

    async def status_callback(message_id: str, status: str, **extra) -> None:
        event = {"id": message_id, "status": status, "timestamp": "1749416383", **extra}
        payload = whatsapp_webhook(PHONE_NUMBER_ID, statuses=[{**event, "recipient_id": wa_id}])
        assert (await post(rasa, "whatsapp_cloud", payload))[0] == 200

    assert (await wait_until(delivery_status)).value == "queued"
    for status in ("sent", "read", "delivered"):  # "delivered" late: Meta may call back so
        await status_callback(wamid, status)
    assert delivery_status().value == "read"  # a status never moves back

    address = f"+{wa_id}"
    assert await wait_until(lambda: processed(database[0], Channel.WHATSAPP, address, 1))
    before = len(graph.messages_to(wa_id))
    await post(
        rasa,
        "whatsapp_cloud",
        whatsapp_webhook(PHONE_NUMBER_ID, messages=[whatsapp_message(wa_id, body="hi again")]),
    )
    replies = await graph.wait_for(wa_id, before + 1)
    second = replies[before].answer["messages"][0]["id"]
    assert (await wait_until(lambda: delivery_status(second))).value == "queued"
    await status_callback(second, "sent")
    errors = [{"code": 131047, "title": "Re-engagement message"}]
    await status_callback(second, "failed", errors=errors)
    assert delivery_status(second).value == "failed"
    assert len(stored(database[0], Channel.WHATSAPP, address)) == 2  # statuses never stored


async def test_the_same_wamid_delivered_three_times_is_answered_once(rasa, graph, database):
    wa_id = "351910000204"
    payload = whatsapp_webhook(PHONE_NUMBER_ID, messages=[whatsapp_message(wa_id, body="hi")])
    assert [(await post(rasa, "whatsapp_cloud", payload))[0] for _ in range(3)] == [200] * 3
    # Duplicates are refused before their 200; once the one stored message is processed (its
    # replies are recorded with that), every reply it will ever get has arrived.
    await wait_until(lambda: processed(database[0], Channel.WHATSAPP, f"+{wa_id}", 1))
    assert len(stored(database[0], Channel.WHATSAPP, f"+{wa_id}")) == 1
    replies = graph.messages_to(wa_id)
    assert replies
    assert len({json.dumps(r.payload, sort_keys=True) for r in replies}) == len(replies)


# Refusals


def _refused(case: str, payload: dict) -> tuple[bytes | None, dict | None]:
    body, headers = signed_meta_request(APP_SECRET, payload)
    if case == "forged":
        return body.replace(b'"hi"', b'"transfer all stock"'), headers
    if case == "unsigned":
        return body, {"Content-Type": "application/json"}
    if case == "wrong_secret":
        return signed_meta_request("not-the-secret", payload)
    if case == "sha1_not_allowed":
        return body, {"X-Hub-Signature": hub_signature(APP_SECRET, body, "sha1")}
    if case == "malformed_json":
        broken = body[:-2]
        return broken, {"X-Hub-Signature-256": hub_signature(APP_SECRET, broken)}
    if case == "not_an_object":
        return signed_meta_request(APP_SECRET, b"[1, 2, 3]")
    raise AssertionError(case)


CASES = [
    "forged",
    "unsigned",
    "wrong_secret",
    "sha1_not_allowed",
    "malformed_json",
    "not_an_object",
]  # noqa: E501


@pytest.mark.parametrize("case", CASES)
async def test_requests_meta_did_not_sign_or_cannot_have_sent_are_refused(
    rasa, graph, database, case
):
    wa_id = f"3519200000{CASES.index(case):02d}"
    payload = whatsapp_webhook(PHONE_NUMBER_ID, messages=[whatsapp_message(wa_id, body="hi")])
    body, headers = _refused(case, payload)
    status, reason = await post(rasa, "whatsapp_cloud", payload, body=body, headers=headers)
    assert 400 <= status < 500 and reason  # answered before anything is stored
    assert stored(database[0], Channel.WHATSAPP, f"+{wa_id}") == []
    assert graph.messages_to(wa_id) == []


async def test_an_authentic_event_for_another_object_is_acknowledged_and_ignored(rasa, database):
    psid = "6002000000000001"
    payload = messaging_webhook(
        "page", PAGE_ID, [messaging_event(psid, PAGE_ID, message={"text": "hi"})]
    )
    # Meta must not retry it; its 200 comes after whatever would have been stored was.
    assert (await post(rasa, "whatsapp_cloud", payload))[0] == 200
    assert stored(database[0], Channel.WHATSAPP, psid) == []
    assert stored(database[0], Channel.MESSENGER, psid) == []


async def test_instagram_accepts_the_legacy_sha1_signature_when_configured(rasa, graph, database):
    igsid = "7002000000000009"
    payload = messaging_webhook(
        "instagram", IG_ACCOUNT_ID, [messaging_event(igsid, IG_ACCOUNT_ID, message={"text": "hi"})]
    )
    body = json.dumps(payload).encode()
    headers = {
        "Content-Type": "application/json",
        "X-Hub-Signature": hub_signature(APP_SECRET, body, "sha1"),
    }
    assert (await post(rasa, "instagram", payload, body=body, headers=headers))[0] == 200
    assert await wait_until(lambda: processed(database[0], Channel.INSTAGRAM, igsid, 1))
    bad = {**headers, "X-Hub-Signature": hub_signature("wrong", body, "sha1")}
    other = json.dumps(
        messaging_webhook(
            "instagram",
            IG_ACCOUNT_ID,
            [messaging_event(igsid, IG_ACCOUNT_ID, message={"text": "x"})],
        )
    ).encode()
    assert (await post(rasa, "instagram", payload, body=other, headers=bad))[0] == 403


# Messenger and Instagram


async def test_messenger_batch_processes_messages_and_ignores_echoes_reads_and_standby(
    rasa, graph, database
):
    alice, bob = "6002000000000002", "6002000000000003"
    events = [
        messaging_event(alice, PAGE_ID, message={"text": "check stock pls"}),
        messaging_event(
            PAGE_ID, alice, message={"text": "an echo of ours", "is_echo": True, "app_id": 1}
        ),
        messaging_event(alice, PAGE_ID, delivery={"mids": ["m_x"], "watermark": 1}),
        messaging_event(alice, PAGE_ID, read={"watermark": 1}),
        messaging_event(
            bob,
            PAGE_ID,
            postback={"mid": "m_postback_bob_1", "title": "Get Started", "payload": "/greet"},
        ),
        messaging_event(bob, PAGE_ID, message={"text": "attachment echo", "is_echo": True}),
    ]
    payload = messaging_webhook("page", PAGE_ID, events)
    payload["entry"].append(
        {
            "id": PAGE_ID,
            "time": 1,
            "standby": [messaging_event(alice, PAGE_ID, message={"text": "handover"})],
        }
    )
    payload["entry"].append(
        {
            "id": "another-page",
            "time": 1,
            "messaging": [messaging_event(bob, "another-page", message={"text": "hi"})],
        }
    )
    assert await post(rasa, "messenger", payload) == (200, "EVENT_RECEIVED")
    (alice_row,) = await wait_until(lambda: processed(database[0], Channel.MESSENGER, alice, 1))
    (bob_row,) = await wait_until(lambda: processed(database[0], Channel.MESSENGER, bob, 1))
    assert alice_row.body == "check stock pls"
    assert bob_row.body == "/greet" and bob_row.provider_message_id == "m_postback_bob_1"
    assert stored(database[0], Channel.MESSENGER, PAGE_ID) == []  # the echo
    (question,) = await graph.wait_for(alice, 1)
    assert question.payload["messaging_type"] == "RESPONSE"
    assert question.token == TOKENS["messenger"] and question.node == "me"
    assert question.payload["message"]["text"]
    assert last_response(await tracker(rasa, alice, turns=1)) == "utter_ask_item"
    assert await graph.wait_for(bob, 1)
    actions = [r.payload.get("sender_action") for r in graph.requests if r.recipient == alice]
    assert {"mark_seen", "typing_on"} <= set(actions)


async def test_messenger_quick_reply_payload_drives_the_conversation(rasa, graph, database):
    psid = "6002000000000004"
    await post(
        rasa,
        "messenger",
        messaging_webhook(
            "page", PAGE_ID, [messaging_event(psid, PAGE_ID, message={"text": "i need a report"})]
        ),
    )
    (question,) = await graph.wait_for(psid, 1)
    replies = question.payload["message"]["quick_replies"]
    assert [r["title"] for r in replies] == ["Inventory", "Sales", "Supplier", "Financial"]
    tap = messaging_event(
        psid, PAGE_ID, message={"text": "Sales", "quick_reply": {"payload": replies[1]["payload"]}}
    )
    await post(rasa, "messenger", messaging_webhook("page", PAGE_ID, [tap]))
    await graph.wait_for(psid, 2)
    state = await tracker(rasa, psid, turns=2)
    assert state["slots"]["report_type"] == "sales"
    assert last_response(state) == "utter_ask_date_range"
    rows = stored(database[0], Channel.MESSENGER, psid)
    assert rows[1].payload["button_payload"] == replies[1]["payload"]


async def test_messenger_duplicate_mid_is_processed_once(rasa, graph, database):
    psid = "6002000000000005"
    payload = messaging_webhook(
        "page", PAGE_ID, [messaging_event(psid, PAGE_ID, message={"text": "hi"})]
    )
    assert [(await post(rasa, "messenger", payload))[0] for _ in range(2)] == [200, 200]
    await wait_until(lambda: processed(database[0], Channel.MESSENGER, psid, 1))
    assert len(stored(database[0], Channel.MESSENGER, psid)) == 1
    assert len(graph.messages_to(psid)) >= 1


async def test_instagram_inventory_question_with_an_attachment_is_answered(rasa, graph, database):
    igsid = "7002000000000001"
    events = [
        messaging_event(igsid, IG_ACCOUNT_ID, message={"text": "how many WID-220 in Lisbon?"}),
        messaging_event(
            igsid,
            IG_ACCOUNT_ID,
            message={
                "attachments": [
                    {
                        "type": "image",
                        "payload": {
                            "url": "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=1"
                        },
                    }
                ]
            },
        ),
        messaging_event(IG_ACCOUNT_ID, igsid, message={"text": "echo", "is_echo": True}),
    ]
    assert (await post(rasa, "instagram", messaging_webhook("instagram", IG_ACCOUNT_ID, events)))[
        0
    ] == 200
    rows = await wait_until(lambda: processed(database[0], Channel.INSTAGRAM, igsid, 2))
    assert rows[1].payload["media"][0]["url"].startswith("https://lookaside.fbsbx.com/")
    replies = await graph.wait_for(igsid, 1)
    first = replies[0].payload["message"]["text"]
    assert replies[0].token == TOKENS["instagram"]
    assert "WID-220" in first and "**" not in first and len(first.encode()) < 1000


@pytest.mark.parametrize("channel", CHANNELS)
async def test_trigger_intent_reaches_the_user_on_each_channel(rasa, graph, channel):
    """What the orchestrator does with a late result: Rasa's API pushes it through our channel."""
    recipient = {
        "whatsapp_cloud": "351910000299",
        "messenger": "6002000000000099",
        "instagram": "7002000000000099",
    }[channel]
    url = f"{rasa.url}/conversations/{recipient}/trigger_intent?output_channel={channel}"
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            url, json={"name": "greet", "entities": {}}, params={"token": rasa.api_token}
        ) as response,
    ):
        assert response.status == 200
    (reply,) = await graph.wait_for(recipient, 1)
    token = TOKENS["whatsapp" if channel == "whatsapp_cloud" else channel]
    assert reply.token == token
    # The user never wrote: outside the 24-hour window.
    if channel == "whatsapp_cloud":
        assert reply.payload["type"] == "template"
        assert reply.payload["template"]["name"] == "agent_update"
        assert reply.payload["template"]["components"][0]["parameters"][0]["text"]
    else:
        assert reply.payload["messaging_type"] == "MESSAGE_TAG"
        assert reply.payload["tag"] == "HUMAN_AGENT"
