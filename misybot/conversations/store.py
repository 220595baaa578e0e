"""Conversations in the project's database: every event, and a bounded window to continue from.

Every event of a conversation is kept (``conversation_events``), in order, for export and
review. A turn does not read them all: after each save, the state the conversation has reached
(its slots, its active form, whether it is paused) is kept as a snapshot
(``conversation_snapshots``). A turn starts from the snapshot ``window_saves`` saves back and
reads only the events after it, so the six-hundredth turn of the day reads, replays and sends
to the action server what the tenth did. A session start inside that window cuts it there
instead, as Rasa's own stores do: a new session starts from its own events only.

Events are plain dictionaries here (Rasa's serialised events); what they mean to Rasa is the
tracker store's business (``connectors/state/``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session, sessionmaker

from misybot.db.models import ConversationEvent, ConversationSnapshot, Understanding
from misybot.nlu.understandings import understood

SESSION_STARTED = "session_started"
WINDOW_SAVES = 10  # how many saves back a turn starts: policies look back a few actions
KEPT_SNAPSHOTS = 2 * WINDOW_SAVES  # older ones are deleted as new ones come
MAX_CONVERSATION_ID = 255


@dataclass(frozen=True)
class ConversationState:
    """What a conversation has reached: all it takes to continue it without its events."""

    slots: dict[str, Any]
    active_loop: dict[str, Any] | None = None  # name, validate, rejected
    paused: bool = False

    def as_json(self) -> dict[str, Any]:
        return {"slots": self.slots, "active_loop": self.active_loop, "paused": self.paused}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ConversationState:
        return cls(data.get("slots") or {}, data.get("active_loop"), bool(data.get("paused")))


@dataclass(frozen=True)
class Window:
    """Where a turn continues from: the state before ``events`` (None: the events are the
    whole session), and the events since, oldest first."""

    state: ConversationState | None
    events: list[dict[str, Any]]


class ConversationStore:
    """Reads and appends conversations; a conversation id is the channel's sender key."""

    def __init__(self, sessions: sessionmaker, window_saves: int = WINDOW_SAVES) -> None:
        self.sessions = sessions
        self.window_saves = window_saves
        self.kept_snapshots = max(KEPT_SNAPSHOTS, 2 * window_saves)

    def window(self, conversation_id: str) -> Window | None:
        """The state and the events a turn continues from; None for a new conversation."""
        with self.sessions() as session:
            snapshots = session.execute(
                select(
                    ConversationSnapshot.event_id,
                    ConversationSnapshot.session_start_id,
                    ConversationSnapshot.state,
                )
                .where(ConversationSnapshot.conversation_id == conversation_id)
                .order_by(ConversationSnapshot.event_id.desc())
                .limit(self.window_saves + 1)
            ).all()
            if not snapshots:  # saved by nobody but us: none, or events from before snapshots
                return self._session_window(session, conversation_id, None)
            session_start = snapshots[0].session_start_id
            if len(snapshots) <= self.window_saves:  # a short conversation: all of its session
                return self._session_window(session, conversation_id, session_start)
            cut = snapshots[-1]
            if session_start is not None and session_start > cut.event_id:
                return self._session_window(session, conversation_id, session_start)
            events = self._events(session, conversation_id, ConversationEvent.id > cut.event_id)
            return Window(ConversationState.from_json(cut.state), events)

    def _session_window(
        self, session: Session, conversation_id: str, session_start: int | None
    ) -> Window | None:
        if session_start is None:
            session_start = session.execute(
                select(func.max(ConversationEvent.id)).where(
                    ConversationEvent.conversation_id == conversation_id,
                    ConversationEvent.type_name == SESSION_STARTED,
                )
            ).scalar_one()
        since = ConversationEvent.id >= (session_start or 0)
        events = self._events(session, conversation_id, since)
        return Window(None, events) if events else None

    @staticmethod
    def _events(session: Session, conversation_id: str, *where: Any) -> list[dict[str, Any]]:
        rows = session.execute(
            select(ConversationEvent.data)
            .where(ConversationEvent.conversation_id == conversation_id, *where)
            .order_by(ConversationEvent.id)
        ).scalars()
        return [json.loads(data) for data in rows]

    def all_events(self, conversation_id: str) -> list[dict[str, Any]]:
        """Every event of the conversation, all sessions, oldest first."""
        with self.sessions() as session:
            return self._events(session, conversation_id)

    def stored_in_session(self, conversation_id: str) -> int:
        """How many events the conversation's latest session has stored (Rasa's count of what
        a tracker it did not load from here already holds)."""
        with self.sessions() as session:
            start = session.execute(
                select(func.max(ConversationEvent.id)).where(
                    ConversationEvent.conversation_id == conversation_id,
                    ConversationEvent.type_name == SESSION_STARTED,
                )
            ).scalar_one()
            return session.execute(
                select(func.count()).where(
                    ConversationEvent.conversation_id == conversation_id,
                    ConversationEvent.id >= (start or 0),
                )
            ).scalar_one()

    def append(
        self, conversation_id: str, events: Sequence[dict[str, Any]], state: ConversationState
    ) -> None:
        """Store new ``events`` and the ``state`` the conversation reached with them, in one
        transaction (nothing when there are no new events)."""
        if not events:
            return
        if len(conversation_id) > MAX_CONVERSATION_ID:
            raise ValueError(f"conversation id longer than {MAX_CONVERSATION_ID} characters")
        rows = [_event_row(conversation_id, event) for event in events]
        ours = ConversationEvent.conversation_id == conversation_id
        understandings = understood(conversation_id, events)
        with self.sessions.begin() as session:
            session.execute(insert(ConversationEvent), rows)
            if understandings:  # once per message: a redelivery or a re-run adds nothing
                session.execute(_insert_new(session, Understanding), understandings)
            # The conversation's lock is held: its latest ids are the ones just written.
            last_id = session.execute(
                select(func.max(ConversationEvent.id)).where(ours)
            ).scalar_one()
            if any(row["type_name"] == SESSION_STARTED for row in rows):
                session_start = session.execute(
                    select(func.max(ConversationEvent.id)).where(
                        ours, ConversationEvent.type_name == SESSION_STARTED
                    )
                ).scalar_one()
            else:
                session_start = session.execute(
                    select(ConversationSnapshot.session_start_id)
                    .where(ConversationSnapshot.conversation_id == conversation_id)
                    .order_by(ConversationSnapshot.event_id.desc())
                    .limit(1)
                ).scalar_one_or_none()
            session.execute(
                insert(ConversationSnapshot).values(
                    conversation_id=conversation_id,
                    event_id=last_id,
                    session_start_id=session_start,
                    state=state.as_json(),
                )
            )
            oldest_kept = (
                select(ConversationSnapshot.event_id)
                .where(ConversationSnapshot.conversation_id == conversation_id)
                .order_by(ConversationSnapshot.event_id.desc())
                .offset(self.kept_snapshots - 1)
                .limit(1)
                .scalar_subquery()
            )
            session.execute(
                delete(ConversationSnapshot)
                .where(
                    ConversationSnapshot.conversation_id == conversation_id,
                    ConversationSnapshot.event_id < oldest_kept,
                )
                .execution_options(synchronize_session=False)
            )

    def has_user_message(self, conversation_id: str, message_id: str, recent: int = 50) -> bool:
        """Whether one of the conversation's latest ``recent`` user messages is ``message_id``
        (its turn ran to the end: Rasa saves a turn's events once it is over)."""
        with self.sessions() as session:
            rows = session.execute(
                select(ConversationEvent.data)
                .where(
                    ConversationEvent.conversation_id == conversation_id,
                    ConversationEvent.type_name == "user",
                )
                .order_by(ConversationEvent.id.desc())
                .limit(recent)
            ).scalars()
            return any(json.loads(data).get("message_id") == message_id for data in rows)

    def exists(self, conversation_id: str) -> bool:
        with self.sessions() as session:
            return (
                session.execute(
                    select(ConversationEvent.id)
                    .where(ConversationEvent.conversation_id == conversation_id)
                    .limit(1)
                ).first()
                is not None
            )

    def conversation_ids(self) -> list[str]:
        with self.sessions() as session:
            return list(
                session.execute(select(ConversationEvent.conversation_id).distinct()).scalars()
            )

    def erase(self, conversation_id: str) -> int:
        """Delete the conversation: its events and snapshots. Returns the events deleted."""
        with self.sessions.begin() as session:
            session.execute(
                delete(ConversationSnapshot).where(
                    ConversationSnapshot.conversation_id == conversation_id
                )
            )
            return session.execute(
                delete(ConversationEvent).where(
                    ConversationEvent.conversation_id == conversation_id
                )
            ).rowcount


def _event_row(conversation_id: str, event: dict[str, Any]) -> dict[str, Any]:
    intent = ((event.get("parse_data") or {}).get("intent") or {}).get("name")
    action = event.get("name") if event.get("event") == "action" else None
    return {
        "conversation_id": conversation_id,
        "type_name": str(event.get("event") or "")[:64],
        "timestamp": float(event.get("timestamp") or 0.0),
        "intent_name": intent[:255] if isinstance(intent, str) else None,
        "action_name": action[:255] if isinstance(action, str) else None,
        "data": json.dumps(event, ensure_ascii=False),
    }


def _insert_new(session: Session, model):
    """An INSERT that skips rows whose unique key is taken (either dialect)."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    return dialect_insert(model).on_conflict_do_nothing()
