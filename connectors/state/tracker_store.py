"""Rasa's tracker store on the project's database, with a bounded read per turn.

``endpoints.yml``: ``tracker_store: {type: connectors.state.tracker_store.DatabaseTrackerStore}``
(the database is ``MISYBOT_DATABASE_URL``; the tables come from the migrations). A conversation
survives a restart and moves to any replica, a form in progress included.

A turn's tracker is the conversation's state a few saves back, written as events (its slots, its
active form, paused or not), followed by the events since (``misybot.conversations.store``):
the policies look back a few actions and the actions read the latest messages, so replaying that
gives them what the whole history would, and the six-hundredth turn costs what the tenth did.
Only the events a turn added are written.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

from rasa.core.tracker_store import SerializedTrackerAsText, TrackerStore
from rasa.shared.core.constants import ACTION_LISTEN_NAME
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    ActionExecutionRejected,
    ActiveLoop,
    ConversationPaused,
    LoopInterrupted,
    SlotSet,
)
from rasa.shared.core.trackers import DialogueStateTracker
from sqlalchemy.orm import sessionmaker

from misybot.conversations.store import WINDOW_SAVES, ConversationState, ConversationStore
from misybot.db.engine import get_engine
from misybot.db.session import make_session_factory

logger = logging.getLogger(__name__)

STORED = "_misybot_stored"  # on a tracker: how many of its events are in the store


class DatabaseTrackerStore(TrackerStore, SerializedTrackerAsText):
    """Conversations in ``conversation_events`` / ``conversation_snapshots``."""

    def __init__(
        self,
        domain: Domain | None = None,
        host: str | None = None,  # Rasa passes the endpoint's url; ours is the settings'
        event_broker: Any = None,
        window_saves: int = WINDOW_SAVES,
        sessions: sessionmaker | None = None,  # default: MISYBOT_DATABASE_URL's
        **kwargs: Any,
    ) -> None:
        super().__init__(domain, event_broker, **kwargs)
        self.window_saves = int(window_saves)
        self._sessions = sessions
        self._store: ConversationStore | None = None

    @property
    def store(self) -> ConversationStore:
        if self._store is None:  # built on first use: no engine at construction
            sessions = self._sessions
            if sessions is None:
                # SQLite: the write lock up front, so a save waits behind another writer.
                engine = get_engine().execution_options(sqlite_begin="BEGIN IMMEDIATE")
                sessions = make_session_factory(engine)
            self._store = ConversationStore(sessions, self.window_saves)
        return self._store

    def init_tracker(self, sender_id: str) -> DialogueStateTracker:
        tracker = super().init_tracker(sender_id)
        setattr(tracker, STORED, 0)
        return tracker

    async def retrieve(self, sender_id: str) -> DialogueStateTracker | None:
        window = await asyncio.to_thread(self.store.window, sender_id)
        if window is None:
            return None
        events = [*self._state_events(window.state), *window.events]
        tracker = DialogueStateTracker.from_dict(sender_id, events, self.domain.slots)
        if window.state is not None:
            _restore_trigger_message(tracker, window.state, window.events)
        setattr(tracker, STORED, len(tracker.events))
        return tracker

    async def retrieve_full_tracker(self, conversation_id: str) -> DialogueStateTracker | None:
        events = await asyncio.to_thread(self.store.all_events, conversation_id)
        if not events:
            return None
        return DialogueStateTracker.from_dict(conversation_id, events, self.domain.slots)

    async def save(self, tracker: DialogueStateTracker) -> None:
        await self.stream_events(tracker)
        stored = getattr(tracker, STORED, None)
        if stored is None:  # a tracker made elsewhere (the HTTP API): Rasa's own rule
            stored = await asyncio.to_thread(self.store.stored_in_session, tracker.sender_id)
        events = list(tracker.events)[stored:]
        if events:
            await asyncio.to_thread(
                self.store.append,
                tracker.sender_id,
                [event.as_dict() for event in events],
                conversation_state(tracker),
            )
        setattr(tracker, STORED, len(tracker.events))

    async def exists(self, conversation_id: str) -> bool:
        return await asyncio.to_thread(self.store.exists, conversation_id)

    async def keys(self) -> Iterable[str]:
        return await asyncio.to_thread(self.store.conversation_ids)

    def _state_events(self, state: ConversationState | None) -> list[dict[str, Any]]:
        """``state`` as the events that recreate it on a new tracker."""
        if state is None:
            return []
        initial = {slot.name: slot.initial_value for slot in self.domain.slots}
        events: list[Any] = [
            SlotSet(name, value)
            for name, value in state.slots.items()
            if name in initial and value != initial[name]
        ]
        loop = state.active_loop
        if loop and loop.get("name"):
            events.append(ActiveLoop(loop["name"]))
            if loop.get("is_interrupted"):
                events.append(LoopInterrupted(True))
            if loop.get("rejected"):
                events.append(ActionExecutionRejected(loop["name"]))
        if state.paused:
            events.append(ConversationPaused())
        # The turn the window starts after ended listening, as every turn does. A rewind (a
        # form's rejected message, reverted) takes back the message and the listen before it:
        # without this listen it took the restored state (the form, the slots) instead, and
        # Rasa's featuriser found no state at all — every later turn failed.
        events.append(ActionExecuted(ACTION_LISTEN_NAME))
        return [event.as_dict() for event in events]


def conversation_state(tracker: DialogueStateTracker) -> ConversationState:
    """What ``tracker`` has reached, to continue from without its events."""
    loop = tracker.active_loop
    active_loop = None
    if loop is not None and loop.name:
        active_loop = {
            "name": loop.name,
            "is_interrupted": loop.is_interrupted,
            "rejected": loop.rejected,
            "trigger_message": loop.trigger_message,
        }
    return ConversationState(tracker.current_slot_values(), active_loop, tracker.is_paused())


def _restore_trigger_message(
    tracker: DialogueStateTracker, state: ConversationState, events: list[dict[str, Any]]
) -> None:
    """The message that started the active form, when it started before the window."""
    started_since = any(event.get("event") == "active_loop" for event in events)
    loop = state.active_loop or {}
    if tracker.active_loop is not None and not started_since and loop.get("trigger_message"):
        tracker.active_loop.trigger_message = loop["trigger_message"]
