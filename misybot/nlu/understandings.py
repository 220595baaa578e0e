"""What the assistant understood of each message, read from a conversation's new events as
they are stored (``misybot.conversations.store``): the intent and its confidence, the
runner-up and the margin to it, the entities as the actions received them (normalised), and
the first action that answered. Messages the runtime or the worker sent (``EXTERNAL_…``) are
not understandings.

Why not Rasa's event broker: every event is already written once, in order, to
``conversation_events`` by the tracker store; a broker would write each event a second time
on the hot path. This projection rides in the same transaction, and the (conversation,
message id) key makes a redelivered message or a turn run again after a crash add nothing."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from misybot.db.types import utc_now

EXTERNAL = "EXTERNAL_"
LISTEN = "action_listen"
MAX_TEXT = 4096
ENTITY_KEYS = ("entity", "value", "start", "end", "role", "group", "extractor")


def understood(conversation_id: str, events: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row (``understandings``' columns) per message a person sent among ``events``."""
    rows: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    for event in events:
        kind = event.get("event")
        if kind == "user":
            current = _row(conversation_id, event)
            if current is not None:
                rows.append(current)
        elif kind == "action" and current is not None and current["action"] is None:
            name = event.get("name")
            if name and name != LISTEN:
                current["action"] = str(name)[:64]
    return rows


def _row(conversation_id: str, event: dict[str, Any]) -> dict[str, Any] | None:
    parse = event.get("parse_data") or {}
    intent = parse.get("intent") or {}
    name = intent.get("name")
    metadata = event.get("metadata") or {}
    message_id = event.get("message_id") or parse.get("message_id")
    if not name or name.startswith(EXTERNAL) or metadata.get("is_external") or not message_id:
        return None
    confidence = _number(intent.get("confidence"))
    others = [r for r in parse.get("intent_ranking") or [] if r.get("name") != name]
    runner_up = others[0] if others else {}
    runner_up_confidence = _number(runner_up.get("confidence"))
    margin = (
        confidence - runner_up_confidence
        if confidence is not None and runner_up_confidence is not None
        else None
    )
    entities = [
        {key: entity[key] for key in ENTITY_KEYS if entity.get(key) is not None}
        for entity in parse.get("entities") or []
        if isinstance(entity, dict)
    ]
    return {
        "conversation_id": conversation_id,
        "message_id": str(message_id)[:128],
        "company_id": _integer(metadata.get("company_id")),
        "user_id": _integer(metadata.get("user_id")),
        "channel": (str(metadata.get("transport") or event.get("input_channel") or "") or None),
        "text": str(event.get("text") or "")[:MAX_TEXT],
        "intent": str(name)[:64],
        "confidence": confidence,
        "runner_up": str(runner_up["name"])[:64] if runner_up.get("name") else None,
        "runner_up_confidence": runner_up_confidence,
        "margin": margin,
        "entities": entities,
        "action": None,
        "created_at": utc_now(),
    }


def _number(value: Any) -> float | None:
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _integer(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
