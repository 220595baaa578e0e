"""Push a finished execution back into the user's conversation through Rasa's HTTP API.

``POST /conversations/{sender}/trigger_intent?output_channel=…`` with the
``EXTERNAL_agent_result`` intent: Rasa runs ``action_deliver_agent_result``, which renders the
result, and sends it on the channel the user last wrote from (``latest``), or on their preferred
channel when the last one's 24-hour window has closed (``misybot.people.reach``).
"""

from __future__ import annotations

import logging
from urllib.parse import quote

import aiohttp

logger = logging.getLogger(__name__)

RESULT_INTENT = "EXTERNAL_agent_result"
NOTIFICATION_INTENT = "EXTERNAL_notification"  # misybot.notify: told without being asked


class DeliveryError(Exception):
    """Rasa did not accept the result (unreachable, or an error status); retried later."""


def conversation_path(sender_id: str) -> str:
    """``sender_id`` as a path segment of Rasa's HTTP API. Sanic does not decode path
    parameters, so only what a path segment cannot hold is encoded: ``whatsapp:+351…`` and
    e-mail addresses stay as they are, and name the same conversation the channel wrote to."""
    return quote(sender_id, safe="!$&'()*+,;=:@~")


async def push_result(
    http: aiohttp.ClientSession,
    rasa_url: str,
    sender_id: str,
    execution_id: int,
    token: str | None = None,
    timeout_s: float = 30.0,
    output_channel: str = "latest",
) -> dict:
    """Trigger the result intent in ``sender_id``'s conversation, sent on ``output_channel``
    (an input channel's name, or the channel of the conversation's latest message); returns
    Rasa's JSON answer."""
    entities = {"execution_id": str(execution_id)}
    return await trigger(
        http, rasa_url, sender_id, RESULT_INTENT, entities, token, timeout_s, output_channel
    )


async def trigger(
    http: aiohttp.ClientSession,
    rasa_url: str,
    sender_id: str,
    intent: str,
    entities: dict[str, str],
    token: str | None = None,
    timeout_s: float = 30.0,
    output_channel: str = "latest",
) -> dict:
    """``POST /conversations/{sender_id}/trigger_intent`` with ``intent`` and ``entities``."""
    url = f"{rasa_url.rstrip('/')}/conversations/{conversation_path(sender_id)}/trigger_intent"
    params = {"output_channel": output_channel}
    if token:
        params["token"] = token
    body = {"name": intent, "entities": entities}
    try:
        async with http.post(
            url, params=params, json=body, timeout=aiohttp.ClientTimeout(total=timeout_s)
        ) as response:
            if response.status != 200:
                reason = (await response.text())[:300]
                raise DeliveryError(f"rasa answered {response.status}: {reason}")
            answer = await response.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError, ValueError) as error:
        raise DeliveryError(f"rasa unreachable: {error!r}") from error
    if not replied(answer):
        # Rasa answers 200 even when the action failed ("the action's events are lost").
        raise DeliveryError("nothing was said (the action failed: see the action server's log)")
    return answer


def replied(answer: object) -> bool:
    """Whether Rasa's answer to ``trigger_intent`` shows a reply to the intent: a bot event after
    the last user event of the returned tracker."""
    tracker = answer.get("tracker") if isinstance(answer, dict) else None
    events = tracker.get("events") if isinstance(tracker, dict) else None
    for event in reversed(events or []):
        kind = event.get("event") if isinstance(event, dict) else None
        if kind == "bot":
            return True
        if kind == "user":
            return False
    return False
