"""Actions run in-process against the session's seeded SQLite store and a real worker; their
messages are rendered by Rasa's own response generator from ``domain/``, per persona."""

from __future__ import annotations

from typing import Any

from rasa.core.nlg import TemplatedNaturalLanguageGenerator
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import SlotSet
from rasa.shared.core.trackers import DialogueStateTracker
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from connectors.local import local_address
from misybot.enums import Channel
from misybot.identity import LOCAL, METADATA_KEY, VerifiedSender
from misybot.settings import get_settings

PERSONAS = ("streamliner", "navigator", "hub", "spring", "processor")

# Demo users (misybot/demo.py), addressed as local senders: e-mail → role, persona.
ANA = "ana.ribeiro@misy-demo.example"  # admin, navigator
MARTA = "marta.costa@misy-demo.example"  # operator, streamliner
LUCIA = "lucia.gomez@misy-demo.example"  # viewer, navigator
TIAGO = "tiago.ferreira@misy-demo.example"  # operator, hub
JOAO = "joao.pereira@misy-demo.example"  # viewer, spring
PRIYA = "priya.nair@misy-demo.example"  # operator, processor


def signed_sender(sender: str, channel: str = "rest", conversation: str | None = None) -> dict:
    """The metadata a connector puts on ``sender``'s message: the local channel (``rest``) says
    who by e-mail or phone, Twilio's WhatsApp by number; signed with this run's key."""
    if channel == "rest":
        verified = VerifiedSender(conversation or sender, LOCAL, local_address(sender))
    else:
        address = sender.removeprefix("whatsapp:")
        verified = VerifiedSender(conversation or sender, Channel.WHATSAPP.value, address)
    return {METADATA_KEY: verified.signed(get_settings().signing_key)}


def tracker(
    sender: str,
    intent: str,
    slots: dict[str, Any] | None = None,
    entities: list[dict] | None = None,
    text: str = "",
    channel: str = "rest",
    earlier: list[dict] | None = None,
    metadata: dict | None = None,
) -> Tracker:
    """A conversation whose latest message is ``text`` with ``intent`` and ``entities``, from
    ``sender`` as its connector verified them (``metadata`` replaces that)."""
    message = {
        "text": text,
        "intent": {"name": intent, "confidence": 1.0},
        "entities": entities or [],
        "message_id": f"m-{sender}-{intent}",
    }
    user = {
        "event": "user",
        "text": text,
        "parse_data": message,
        "input_channel": channel,
        "metadata": signed_sender(sender, channel) if metadata is None else metadata,
    }
    events = [*(earlier or []), user]
    return Tracker(sender, dict(slots or {}), message, events, False, None, {}, "action_listen")


async def run_action(action, conversation: Tracker) -> tuple[list[dict], list[dict]]:
    """The messages and events ``action`` produces for ``conversation``."""
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, conversation, {})
    return dispatcher.messages, events


async def render(domain: Domain, message: dict, persona: str | None) -> dict:
    """``message`` as Rasa sends it to a user whose persona slot is ``persona``."""
    generator = TemplatedNaturalLanguageGenerator(domain.responses)
    state = DialogueStateTracker.from_events("u", [SlotSet("persona", persona)], slots=domain.slots)
    variables = {k: v for k, v in message.items() if k not in ("response", "buttons", "text")}
    rendered = await generator.generate(message["response"], state, "rest", **variables)
    assert rendered is not None, f"no response {message['response']}"
    if message.get("buttons"):
        rendered.setdefault("buttons", []).extend(message["buttons"])
    return rendered


async def texts(domain: Domain, messages: list[dict], persona: str | None) -> str:
    return "\n".join([(await render(domain, m, persona)).get("text") or "" for m in messages])
