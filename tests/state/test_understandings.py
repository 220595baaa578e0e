"""What the assistant understood of each message is recorded with the conversation's events:
intent, confidence, runner-up and margin, entities, the answering action — once per message."""

from __future__ import annotations

from sqlalchemy import select

from misybot.conversations.store import ConversationState, ConversationStore
from misybot.db.models import Understanding
from misybot.db.session import make_session_factory, session_scope
from misybot.nlu.understandings import understood
from testkit.database import Builder


def user_event(text: str, message_id: str, intent: str, confidence: float, **extra) -> dict:
    return {
        "event": "user",
        "text": text,
        "message_id": message_id,
        "input_channel": "whatsapp_twilio",
        "metadata": {"transport": "whatsapp_twilio", **extra.pop("metadata", {})},
        "parse_data": {
            "intent": {"name": intent, "confidence": confidence},
            "intent_ranking": [
                {"name": intent, "confidence": confidence},
                {"name": "view_alerts", "confidence": 1 - confidence - 0.05},
            ],
            "entities": extra.pop("entities", []),
        },
    }


def turn(text: str, message_id: str, intent: str, confidence: float, **extra) -> list[dict]:
    return [
        user_event(text, message_id, intent, confidence, **extra),
        {"event": "user_featurization"},
        {"event": "action", "name": f"action_{intent}"},
        {"event": "bot", "text": "an answer"},
        {"event": "action", "name": "action_listen"},
    ]


def test_each_message_yields_its_intent_runner_up_margin_entities_and_action():
    sku = {"entity": "sku", "value": "WID-220", "start": 9, "end": 16, "confidence_entity": 0.9}
    rows = understood(
        "user:7",
        [
            *turn(
                "how many wid-220",
                "SM1",
                "check_inventory",
                0.8,
                entities=[sku],
                metadata={"company_id": 1, "user_id": 7},
            ),  # fmt: skip
            {
                "event": "user",
                "text": "EXTERNAL: EXTERNAL_agent_result",
                "message_id": "x",
                "parse_data": {"intent": {"name": "EXTERNAL_agent_result"}},
            },  # fmt: skip
            {"event": "action", "name": "action_deliver_agent_result"},
        ],
    )
    (row,) = rows
    assert (row["intent"], row["runner_up"], row["action"]) == (
        "check_inventory", "view_alerts", "action_check_inventory"
    )  # fmt: skip
    assert abs(row["margin"] - 0.65) < 1e-9 and row["confidence"] == 0.8
    assert row["entities"] == [{"entity": "sku", "value": "WID-220", "start": 9, "end": 16}]
    assert (row["company_id"], row["user_id"], row["channel"]) == (1, 7, "whatsapp_twilio")


def test_a_message_is_recorded_once_however_often_it_is_stored(engine):
    sessions = make_session_factory(engine)
    with session_scope(sessions) as session:
        company = Builder(session).id
    store = ConversationStore(sessions)
    state = ConversationState({})
    first = turn("hi", "SM1", "greet", 0.97, metadata={"company_id": company})
    store.append("whatsapp:+351911", first, state)
    store.append("whatsapp:+351911", first, state)  # the turn run again after a crash
    store.append("whatsapp:+351911", turn("stock?", "SM2", "check_inventory", 0.41), state)
    with session_scope(sessions) as session:
        rows = session.execute(select(Understanding).order_by(Understanding.id)).scalars().all()
        found = [(r.message_id, r.intent, r.company_id, r.action) for r in rows]
    assert found == [
        ("SM1", "greet", company, "action_greet"),
        ("SM2", "check_inventory", None, "action_check_inventory"),
    ]
