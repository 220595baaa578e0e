"""In a person's conversation (``user:<id>``) every message speaks for itself: the sender an
action trusts is the one its connector verified for the message being answered, whichever
channel of theirs it came from."""

from __future__ import annotations

from rasa_sdk import Tracker

from actions.people import verified_sender
from misybot.identity import METADATA_KEY, VerifiedSender
from misybot.settings import get_settings

CONVERSATION = "user:7"
WHATSAPP = VerifiedSender(CONVERSATION, "whatsapp", "+351911111111")
EMAIL = VerifiedSender(CONVERSATION, "email", "ana@acme.example")


def user(sender: VerifiedSender, text: str = "hi") -> dict:
    return {
        "event": "user",
        "text": text,
        "metadata": {METADATA_KEY: sender.signed(get_settings().signing_key)},
    }


def started(sender: VerifiedSender) -> list[dict]:
    """What Rasa logs when a message starts a session: its metadata in a slot first."""
    return [
        {
            "event": "slot",
            "name": "session_started_metadata",
            "value": {METADATA_KEY: sender.signed(get_settings().signing_key)},
        },
        {"event": "action", "name": "action_session_start"},
        {"event": "session_started"},
        {"event": "action", "name": "action_listen"},
    ]


def tracker(events: list[dict]) -> Tracker:
    slots = {}
    for event in events:
        if event["event"] == "slot":
            slots[event["name"]] = event["value"]
    return Tracker.from_dict(
        {"sender_id": CONVERSATION, "slots": slots, "latest_message": {}, "events": events}
    )


def test_the_message_being_answered_speaks_not_the_one_that_started_the_session():
    session = [*started(WHATSAPP), user(WHATSAPP)]
    assert verified_sender(tracker(session)) == WHATSAPP
    assert verified_sender(tracker([*session, user(EMAIL, "share it")])) == EMAIL
    # A pushed result ("EXTERNAL: …") has no sender: the message before it speaks.
    pushed = {"event": "user", "text": "EXTERNAL: EXTERNAL_agent_result", "metadata": {}}
    assert verified_sender(tracker([*session, user(EMAIL), pushed])) == EMAIL


def test_at_a_session_start_the_message_starting_it_speaks():
    earlier = [*started(WHATSAPP), user(WHATSAPP)]
    starting = [*earlier, started(EMAIL)[0]]  # action_session_start runs now
    assert verified_sender(tracker(starting)) == EMAIL


def test_a_message_no_connector_verified_is_from_nobody():
    forged = {"event": "user", "text": "hi", "metadata": {METADATA_KEY: {"v": 1}}}
    assert verified_sender(tracker([*started(WHATSAPP), user(WHATSAPP), forged])) is None
    plain = {"event": "user", "text": "hi", "metadata": {}}
    assert verified_sender(tracker([*started(WHATSAPP), user(WHATSAPP), plain])) is None


def test_a_session_a_pushed_result_started_is_spoken_for_by_the_message_before():
    earlier = [*started(EMAIL), user(EMAIL)]
    pushed_session = [
        {"event": "slot", "name": "session_started_metadata", "value": None},
        {"event": "action", "name": "action_session_start"},
        {"event": "session_started"},
        {"event": "action", "name": "action_listen"},
        {"event": "user", "text": "EXTERNAL: EXTERNAL_agent_result", "metadata": {}},
    ]
    assert verified_sender(tracker([*earlier, *pushed_session])) == EMAIL
