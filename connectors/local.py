"""Local conversations: Rasa's REST channel (``/webhooks/rest/webhook``), safe to leave running.

Rasa's own REST channel takes the conversation id, the input channel and the metadata from the
caller: anyone who can reach it can write in any conversation, a WhatsApp user's included, as
any channel. This one keeps its callers apart and says itself who they are:

- Every REST conversation lives in its own namespace: sender ``ana@example.com`` writes in the
  conversation ``rest:ana@example.com``, never in a provider's (``whatsapp:+351…``, an e-mail
  address). The caller's ``input_channel`` and ``metadata`` are ignored.
- A caller names a user by e-mail address or phone number (``~tag`` after it keeps several
  conversations of one user apart) only when it is this machine talking to itself — a loopback
  peer, with no ``Forwarded``/``X-Forwarded-For``/``X-Real-IP`` header (a proxy or tunnel in
  front of Rasa), no ``Origin`` header (a web page in a browser) and no ``MISYBOT_PUBLIC_URL``
  (the server is published) — or when it presents ``MISYBOT_REST_TOKEN``
  (``Authorization: Bearer …`` or ``?token=``). ``MISYBOT_LOCAL_IDENTITIES=false`` turns local
  identities off altogether. Anyone else is an unregistered sender, answered without NLU.
- Bounded: a body of 64 KB, a sender id of 254 characters, a text of 4096 characters, and the
  channels' turn budget.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import json
import logging
from asyncio import Queue
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, OutputChannel, UserMessage
from rasa.core.channels.rest import RestInput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from connectors.core.runtime import UNREGISTERED_COMMAND, OnNewMessage
from connectors.core.sanitize import MAX_ADDRESS_CHARS, clean_text, clean_token
from connectors.core.settings import ChannelTuning, provider_secrets
from misybot.identity import LOCAL, METADATA_KEY, VerifiedSender
from misybot.settings import get_settings

logger = logging.getLogger(__name__)

CHANNEL_NAME = "rest"
NAMESPACE = "rest:"
MAX_BODY_BYTES = 64 * 1024
MAX_TEXT_CHARS = 4096
PROXY_HEADERS = ("forwarded", "x-forwarded-for", "x-real-ip")


def conversation_id(sender: str) -> str:
    """The conversation a REST sender writes in: its own namespace, never a provider's."""
    return f"{NAMESPACE}{sender}"


def local_address(sender: str) -> str:
    """The e-mail address or phone number a local sender id names (``~tag`` dropped)."""
    address = sender.split("~", 1)[0].strip()
    return address.lower() if "@" in address else address


def local_message(sender: str, text: str, output: OutputChannel, named: bool = True) -> UserMessage:
    """The message Rasa gets from local sender ``sender``: in the REST namespace, saying who it
    is (``named``: allowed to name a user) or, if not, carrying no text for the NLU. In-process
    tools (the transcript, benches, tests) hand ``agent.handle_message`` the same."""
    conversation = conversation_id(sender)
    metadata: dict[str, Any] = {"transport": CHANNEL_NAME, "address": local_address(sender)}
    if named:
        verified = VerifiedSender(conversation, LOCAL, local_address(sender))
        metadata[METADATA_KEY] = verified.signed(get_settings().signing_key)
    else:
        text = UNREGISTERED_COMMAND  # no user can be behind it: no NLU either
    return UserMessage(text, output, conversation, input_channel=CHANNEL_NAME, metadata=metadata)


def _loopback(ip: str) -> bool:
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return (mapped or address).is_loopback


class LocalInput(RestInput):
    """The ``rest`` input channel, namespaced and bounded (see the module's notes)."""

    @classmethod
    def name(cls) -> str:
        return CHANNEL_NAME

    def __init__(self, section: dict[str, Any] | None = None) -> None:
        self.section = dict(section or {})  # its credentials.yml section (a turn_budget_s)

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> LocalInput:
        return cls(credentials)

    def may_name_a_user(self, request: Request) -> bool:
        """Whether this request may speak as the user its sender id names."""
        settings = get_settings()
        if not settings.local_identities:
            return False
        token = settings.rest_token
        if token:
            offered = request.args.get("token") or ""
            bearer = request.headers.get("authorization") or ""
            if bearer.lower().startswith("bearer "):
                offered = bearer[7:].strip()
            if offered and hmac.compare_digest(offered.encode(), token.encode()):
                return True
        return (
            _loopback(request.ip)
            and not any(request.headers.get(header) for header in PROXY_HEADERS)
            and not request.headers.get("origin")
            and not provider_secrets().public_url
        )

    def parse(self, request: Request) -> tuple[str, str] | HTTPResponse:
        """``(sender, text)`` of a request, or the 4xx to answer with."""
        if len(request.body or b"") > MAX_BODY_BYTES:
            return _refuse(413, f"request body over {MAX_BODY_BYTES} bytes")
        try:
            body = json.loads(request.body or b"")
        except (UnicodeDecodeError, ValueError, RecursionError):
            return _refuse(400, "the body must be a JSON object")
        if not isinstance(body, dict):
            return _refuse(400, "the body must be a JSON object")
        sender = clean_token(body.get("sender"), MAX_ADDRESS_CHARS)
        if sender is None:
            return _refuse(
                400, f"sender must be a string without spaces, at most {MAX_ADDRESS_CHARS} long"
            )
        text = body.get("message")
        if not isinstance(text, str):
            return _refuse(400, "message must be a string")
        if len(text) > MAX_TEXT_CHARS:
            return _refuse(413, f"message over {MAX_TEXT_CHARS} characters")
        return sender, clean_text(text, MAX_TEXT_CHARS)

    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        webhook = Blueprint("local_rest_webhook", __name__)
        budget = ChannelTuning.resolve(self.section).turn_budget_s

        async def bounded_turn(message: UserMessage) -> None:
            try:
                await asyncio.wait_for(on_new_message(message), budget)
            except asyncio.TimeoutError:
                logger.error("rest.turn.timeout sender=%s", message.sender_id)
                raise

        @webhook.route("/", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request):
            parsed = self.parse(request)
            if isinstance(parsed, HTTPResponse):
                return parsed
            sender, text = parsed
            if request.args.get("stream", "").lower() == "true":  # Rasa's console asks for it
                return response.stream(
                    self._stream(bounded_turn, request, sender, text),
                    content_type="text/event-stream",
                )
            collector = CollectingOutputChannel()
            try:
                await bounded_turn(
                    local_message(sender, text, collector, self.may_name_a_user(request))
                )
            except asyncio.TimeoutError:
                return _refuse(504, f"the answer took longer than {budget:g} s")
            return response.json(collector.messages)

        return webhook

    def _stream(self, turn: OnNewMessage, request: Request, sender: str, text: str):
        async def stream(out: Any) -> None:
            queue: Queue = Queue()
            named = self.may_name_a_user(request)
            message = local_message(sender, text, _QueueOutput(queue), named)
            task = asyncio.ensure_future(turn(message))
            task.add_done_callback(lambda _: queue.put_nowait(None))
            while (item := await queue.get()) is not None:
                await out.write(json.dumps(item) + "\n")
            if not task.cancelled() and task.exception() is not None:
                logger.warning("rest.stream.failed error=%r", task.exception())

        return stream


class _QueueOutput(CollectingOutputChannel):
    """Each message into a queue as soon as it is sent (the streamed answer)."""

    def __init__(self, queue: Queue) -> None:
        super().__init__()
        self.queue = queue

    async def _persist_message(self, message: dict[str, Any]) -> None:
        self.queue.put_nowait(message)


def _refuse(status: int, reason: str) -> HTTPResponse:
    return response.json({"error": reason}, status=status)


async def local_turn(agent: Any, sender: str, text: str) -> list[dict[str, Any]]:
    """One turn of ``sender``'s local conversation with an in-process ``rasa.core.agent.Agent``,
    as this channel hands it over for a caller on this machine; returns the replies."""
    return await agent.handle_message(local_message(sender, text, CollectingOutputChannel()))
