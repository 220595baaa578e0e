"""The database tracker store: a long conversation continues exactly where it was, from a
bounded read, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    ActionExecutionRejected,
    ActiveLoop,
    LoopInterrupted,
    SessionStarted,
    SlotSet,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker

from connectors.state.tracker_store import DatabaseTrackerStore
from misybot.db.session import make_session_factory

ROOT = Path(__file__).resolve().parents[2]
HISTORY = 4  # MemoizationPolicy's max_history (config.yml): states the policies compare


@pytest.fixture(scope="module")
def domain() -> Domain:
    return Domain.load(str(ROOT / "domain"))


def turn_events(turn: int) -> list:
    """One turn of a long conversation: a message, what the bot did, the slots it set; a
    session start at turn 12; a report form begun at 36, interrupted at 37, still going."""
    events: list = []
    if turn == 12:
        events += [ActionExecuted("action_session_start"), SessionStarted()]
        events += [SlotSet("persona", "hub"), ActionExecuted("action_listen")]
    intent = ["check_inventory", "view_alerts", "greet", "thank"][turn % 4]
    if turn >= 36:
        intent = "generate_report"
    events.append(UserUttered(f"message {turn}", {"name": intent, "confidence": 1.0}))
    if turn % 3 == 0:
        events.append(SlotSet("product", f"product {turn}"))
    if turn == 5:
        events.append(SlotSet("persona", "spring"))
    if turn == 36:
        events += [ActionExecuted("report_form"), ActiveLoop("report_form")]
        events.append(SlotSet("requested_slot", "report_type"))
    elif turn == 37:
        events += [ActionExecuted("utter_help"), LoopInterrupted(True)]
    elif turn == 38:
        events += [ActionExecuted("report_form"), ActionExecutionRejected("report_form")]
    else:
        events.append(ActionExecuted("action_check_inventory"))
    events.append(ActionExecuted("action_listen"))
    return events


async def test_a_long_conversation_continues_exactly_from_a_bounded_read(engine, domain):
    store = DatabaseTrackerStore(domain, sessions=make_session_factory(engine), window_saves=6)
    reference = DialogueStateTracker("ana", domain.slots)
    reference.update(ActionExecuted("action_listen"))  # a new tracker's first event
    for turn in range(40):
        tracker = await store.get_or_create_tracker("ana")
        for event in turn_events(turn):
            tracker.update(event)
            reference.update(event)
        await store.save(tracker)

        # A restart, or another replica: a new store object reads what this one wrote.
        again = await DatabaseTrackerStore(
            domain, sessions=make_session_factory(engine), window_saves=6
        ).retrieve("ana")
        assert again.current_slot_values() == reference.current_slot_values(), turn
        assert again.active_loop == reference.active_loop, turn
        assert again.latest_message.text == reference.latest_message.text
        assert again.past_states(domain)[-HISTORY:] == reference.past_states(domain)[-HISTORY:]

    assert reference.active_loop.is_interrupted is False  # rejected after the interruption
    assert reference.active_loop.rejected and again.active_loop.rejected
    # The whole history is kept, each event once; a turn read only the last few saves.
    full = await store.retrieve_full_tracker("ana")
    assert full.events[0] == reference.events[0]  # action_listen (written at its own time)
    assert [e.as_dict() for e in full.events][1:] == [e.as_dict() for e in reference.events][1:]
    assert len(again.events) < 50 < len(reference.events)


async def test_a_new_session_starts_from_its_own_events_as_in_rasa(engine, domain):
    store = DatabaseTrackerStore(domain, sessions=make_session_factory(engine), window_saves=6)
    reference = DialogueStateTracker("ana", domain.slots)
    reference.update(ActionExecuted("action_listen"))  # a new tracker's first event
    for turn in range(15):
        tracker = await store.get_or_create_tracker("ana")
        for event in turn_events(turn):
            tracker.update(event)
            reference.update(event)
        await store.save(tracker)
    tracker = await store.retrieve("ana")
    session = list(reference.events)
    session = session[max(i for i, e in enumerate(session) if isinstance(e, SessionStarted)) :]
    assert [e.as_dict() for e in tracker.events] == [e.as_dict() for e in session]
    assert tracker.get_slot("persona") == "hub"


async def test_only_new_events_are_written_and_a_conversation_can_be_erased(engine, domain):
    store = DatabaseTrackerStore(domain, sessions=make_session_factory(engine))
    tracker = await store.get_or_create_tracker("ana")
    tracker.update(UserUttered("hi", {"name": "greet", "confidence": 1.0}))
    await store.save(tracker)
    await store.save(tracker)  # nothing new: nothing written
    assert len(store.store.all_events("ana")) == 2  # action_listen, the message
    assert await store.exists("ana") and list(await store.keys()) == ["ana"]
    assert store.store.erase("ana") == 2
    assert await store.retrieve("ana") is None and not await store.exists("ana")


async def test_a_window_that_starts_with_a_reverted_turn_keeps_the_state_before_it(engine, domain):
    """A form rejects a message and the turn is reverted (a rewind takes back the message and
    the listen before it). When the window starts with such a turn, the listen before it must
    be there, as in the full conversation, or the rewind takes the restored state (the form,
    the slots) with it: Rasa's featuriser then saw no state at all and every turn failed."""
    from rasa.shared.core.events import BotUttered, UserUtteranceReverted

    store = DatabaseTrackerStore(domain, sessions=make_session_factory(engine), window_saves=1)
    tracker = await store.get_or_create_tracker("rui")
    for event in (
        ActionExecuted("action_listen"),
        UserUttered("hi 0", {"name": "update_stock", "confidence": 0.5}),
        SlotSet("persona", "processor"),
        ActionExecuted("stock_update_form", hide_rule_turn=True),
        ActiveLoop("stock_update_form"),
        SlotSet("requested_slot", "item"),
        ActionExecuted("action_listen", hide_rule_turn=True),
    ):
        tracker.update(event)
    await store.save(tracker)
    for turn in range(1, 4):
        tracker = await store.get_or_create_tracker("rui")
        for event in (
            UserUttered(f"hi {turn}", {"name": "update_stock", "confidence": 0.5}),
            ActionExecutionRejected("stock_update_form"),
            ActionExecuted("action_default_fallback", hide_rule_turn=True),
            BotUttered("answer or cancel"),
            UserUtteranceReverted(),
            ActionExecuted("action_listen", hide_rule_turn=True),
        ):
            tracker.update(event)
        await store.save(tracker)
    tracker = await store.get_or_create_tracker("rui")
    tracker.update(UserUttered("hi 4", {"name": "update_stock", "confidence": 0.5}))
    states = tracker.past_states(domain)
    assert states and states[-1].get("active_loop") == {"name": "stock_update_form"}
    assert tracker.active_loop_name == "stock_update_form"
