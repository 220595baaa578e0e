"""Who is writing: the session start resolves the sender to a registered user and fills the
profile slots (persona, role, user, company) every reply and permission check relies on."""

from __future__ import annotations

import asyncio
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActionExecuted, EventType, SessionStarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from misybot.db.engine import get_engine
from misybot.db.session import make_session_factory, session_scope
from misybot.enums import Persona
from misybot.identity import (
    METADATA_KEY,
    Sender,
    VerifiedSender,
    resolve_sender,
    set_persona,
)
from misybot.replies import Reply
from misybot.settings import get_settings

PROFILE_SLOTS = ("persona", "user_id", "company_id", "role", "user_name")


def _in_session(write: bool, fn, *args):
    engine = get_engine()
    if write:
        # On SQLite a transaction that reads before it writes cannot wait for the worker's write
        # lock ("database is locked" at once); taking the lock up front makes it wait its turn.
        engine = engine.execution_options(sqlite_begin="BEGIN IMMEDIATE")
    with session_scope(make_session_factory(engine)) as session:
        return fn(session, *args)


async def db(fn, *args):
    """A read in a thread: the action server's event loop never waits on the database."""
    return await asyncio.to_thread(_in_session, False, fn, *args)


async def db_write(fn, *args):
    """A unit of work that writes, in a thread (see ``_in_session`` for SQLite's lock)."""
    return await asyncio.to_thread(_in_session, True, fn, *args)


def utter(dispatcher: CollectingDispatcher, reply: Reply) -> None:
    """Send ``reply``'s response with its variables and follow-up buttons."""
    if reply.buttons:
        dispatcher.utter_message(response=reply.response, buttons=reply.buttons, **reply.variables)
    else:
        dispatcher.utter_message(response=reply.response, **reply.variables)


# Rasa's text of an intent triggered through its HTTP API (the worker pushing a result).
EXTERNAL_TEXT_PREFIX = "EXTERNAL: "


def verified_sender(tracker: Tracker) -> VerifiedSender | None:
    """Who wrote the conversation's latest message, as its connector verified it; None when no
    verified connector carried it. Only the signed sender counts: the conversation id and the
    input channel are the caller's to choose on Rasa's HTTP API and REST channel.

    At a session start the message is not logged yet: Rasa hands its metadata over in
    ``session_started_metadata`` (which then stays set all session: a later message, maybe on
    another channel of the same person, speaks for itself). An intent triggered through the
    HTTP API (a pushed result) has no sender of its own, nor has a session it started: the
    message before it speaks for the conversation.
    """
    key = get_settings().signing_key
    for event in reversed(tracker.events):
        if event.get("event") == "slot" and event.get("name") == "session_started_metadata":
            started = event.get("value")
            if isinstance(started, dict) and METADATA_KEY in started:
                return VerifiedSender.from_signed(started[METADATA_KEY], key, tracker.sender_id)
            continue
        if event.get("event") != "user":
            continue
        metadata = event.get("metadata") or {}
        if METADATA_KEY in metadata:
            return VerifiedSender.from_signed(metadata[METADATA_KEY], key, tracker.sender_id)
        if not (event.get("text") or "").startswith(EXTERNAL_TEXT_PREFIX):
            return None
    return None


async def identify(tracker: Tracker) -> Sender:
    """The sender of this conversation and, if registered, their actor (read fresh each time)."""
    verified = verified_sender(tracker)
    local = get_settings().local_identities
    # What to show someone nobody verified: the address their channel saw (unverified, but
    # shown only to them), else the conversation id.
    metadata = (tracker.latest_message or {}).get("metadata") or {}
    shown = metadata.get("address") if isinstance(metadata.get("address"), str) else None
    return await db(resolve_sender, verified, local, shown or tracker.sender_id)


def profile_events(tracker: Tracker, sender: Sender) -> list[EventType]:
    """Slot events that bring the profile slots in line with ``sender`` (none if they are)."""
    actor = sender.actor
    wanted: dict[str, Any] = dict.fromkeys(PROFILE_SLOTS)
    if actor is not None:
        wanted.update(
            persona=actor.persona.value if actor.persona else None,
            user_id=actor.user_id,
            company_id=actor.company_id,
            role=actor.role.value,
            user_name=actor.user_name,
        )
    return [
        SlotSet(slot, value) for slot, value in wanted.items() if tracker.get_slot(slot) != value
    ]


class ActionSessionStart(Action):
    """Start a session: carry slots over, then fill the profile slots from the sender's user."""

    def name(self) -> str:
        return "action_session_start"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        events: list[EventType] = [SessionStarted()]
        carried = {
            name: value
            for name, value in tracker.slots.items()
            if value is not None
            and name not in PROFILE_SLOTS
            and name != "session_started_metadata"
        }
        events += [SlotSet(name, value) for name, value in carried.items()]
        sender = await identify(tracker)
        # The profile is authoritative (a persona changed on another channel, a role revoked).
        events += [SlotSet(slot, None) for slot in PROFILE_SLOTS]
        if sender.actor is not None:
            events += [
                SlotSet(slot, value)
                for slot, value in {
                    "persona": sender.actor.persona.value if sender.actor.persona else None,
                    "user_id": sender.actor.user_id,
                    "company_id": sender.actor.company_id,
                    "role": sender.actor.role.value,
                    "user_name": sender.actor.user_name,
                }.items()
            ]
        events.append(ActionExecuted("action_listen"))
        return events


class ActionSetPersona(Action):
    """Switch the reply style: kept on the user's profile, confirmed in the new voice."""

    def name(self) -> str:
        return "action_set_persona"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        requested = next(tracker.get_latest_entity_values("persona"), None)
        sender = await identify(tracker)
        previous = sender.actor.persona.value if sender.actor and sender.actor.persona else None
        if requested not in {p.value for p in Persona}:
            dispatcher.utter_message(response="utter_ask_persona")
            # The slot mapping may have stored an unknown style: keep the profile's.
            return [SlotSet("persona", previous)]
        if sender.actor is not None:
            await db_write(set_persona, sender.actor, Persona(requested))
        # The confirmation is rendered before this action's events apply: name the new style
        # explicitly so it reads right, and the slot (set by the mapping) is already the new one.
        dispatcher.utter_message(response="utter_persona_set", persona=requested)
        return [SlotSet("persona", requested)]


class ActionNotRegistered(Action):
    """For a message the channel knew to be from no user (sent without NLU): say so, with the
    address to give an admin; a sender linked since it was stored is greeted instead."""

    def name(self) -> str:
        return "action_not_registered"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        sender = await identify(tracker)
        if sender.registered:
            dispatcher.utter_message(response="utter_greet")
            return profile_events(tracker, sender)
        dispatcher.utter_message(response="utter_not_registered", address=sender.address)
        return []


class ActionLinkCode(Action):
    """After an invitation code (tried by the channel runtime): a sender it linked gets their
    profile slots, so the reply that follows (``action_link_reply``) is in their voice."""

    def name(self) -> str:
        return "action_link_code"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        return profile_events(tracker, await identify(tracker))


LINK_RESPONSES = {
    "linked": "utter_link_done",
    "already": "utter_link_already",
    "limited": "utter_link_limited",
    "sent": "utter_link_code_sent",
    "no_address": "utter_link_no_address",
    "asked_too_often": "utter_link_asked_too_often",
}


class ActionLinkReply(Action):
    """How linking with a code went. Every refusal reads the same: a sender learns nothing
    about which users or codes exist."""

    def name(self) -> str:
        return "action_link_reply"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        outcome = next(tracker.get_latest_entity_values("link_outcome"), None)
        response = LINK_RESPONSES.get(outcome or "", "utter_link_refused")
        sender = await identify(tracker)
        if response in ("utter_link_done", "utter_link_already") and not sender.registered:
            response = "utter_link_refused"  # linked, then deactivated or unlinked at once
        name = sender.actor.user_name if sender.actor else ""
        dispatcher.utter_message(response=response, user_name=name)
        return []
