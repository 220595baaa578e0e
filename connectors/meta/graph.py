"""What Meta's three channels share: configuration, the signed webhook, and Graph API sends.

A webhook is verified (``X-Hub-Signature-256`` over the raw body), parsed into every message and
status of its batch, stored through the channel runtime, then answered 200; replies go out later
through the Graph API with a bearer token.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from connectors.core.inbox import Inbox, OutboundRecord, StoredMessage, is_outage
from connectors.core.messages import InboundMessage
from connectors.core.output import InboxOutput
from connectors.core.runtime import ChannelRuntime
from connectors.core.sending import HttpSender, SendResult
from connectors.core.settings import ChannelTuning, ProviderSecrets, provider_secrets
from connectors.core.signatures import hub_challenge, valid_hub_signature
from misybot.db.types import utc_now
from misybot.enums import Channel, DeliveryStatus
from misybot.people.reach import SESSION_WINDOW  # the providers' 24-hour window

logger = logging.getLogger(__name__)

GRAPH_API_URL = "https://graph.facebook.com"
GRAPH_API_VERSION = "v23.0"
# Meta batches many events into one delivery; refusing a big one would have it retried for days.
MIN_MAX_BODY_BYTES = 1024 * 1024


class PayloadError(ValueError):
    """The webhook body is not a Graph webhook event."""


@dataclass(frozen=True)
class StatusUpdate:
    """A provider's delivery report on one of our outbound messages."""

    provider_message_id: str
    status: str
    error_code: str | None = None


@dataclass
class WebhookBatch:
    """Everything one webhook delivery carried: messages to process, statuses, ignored events."""

    messages: list[InboundMessage] = field(default_factory=list)
    statuses: list[StatusUpdate] = field(default_factory=list)
    ignored: int = 0
    refused: list[str] = field(default_factory=list)  # why each malformed item was not taken


def load_event(raw_body: bytes, expected_object: str) -> dict[str, Any] | None:
    """The webhook JSON; None when it is about another ``object`` (ignored); ``PayloadError``."""
    try:
        payload = json.loads(raw_body)
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise PayloadError(f"malformed JSON: {error}") from error
    if not isinstance(payload, dict) or not isinstance(payload.get("entry", []), list):
        raise PayloadError("expected an object with an entry list")
    if payload.get("object") != expected_object:
        return None
    return payload


def items(container: Any, key: str) -> list[dict[str, Any]]:
    """The dict items of ``container[key]`` (absent, null or malformed lists are empty)."""
    value = container.get(key) if isinstance(container, dict) else None
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _meta_tuning(credentials: Mapping[str, Any], sends_per_second: float) -> ChannelTuning:
    """The channel's tuning; its bodies may be 1 MB (Meta batches many events into one)."""
    tuning = ChannelTuning.resolve(credentials, sends_per_second=sends_per_second)
    return replace(tuning, max_body_bytes=max(tuning.max_body_bytes, MIN_MAX_BODY_BYTES))


@dataclass
class GraphConfig:
    """One Meta channel's settings: secrets from the environment, the rest from credentials."""

    app_secret: str
    verify_token: str
    access_token: str
    account_id: str | None = None  # phone number id / page id / Instagram account id
    graph_url: str = GRAPH_API_URL
    api_version: str = GRAPH_API_VERSION
    allow_sha1: bool = False  # accept the legacy X-Hub-Signature (SHA-1) when there is no -256
    send_node: str = "me"  # Messenger/Instagram send through /<send_node>/messages
    templates: dict[str, dict[str, str]] = field(default_factory=dict)  # WhatsApp, per response
    outside_window_tag: str | None = "HUMAN_AGENT"  # Messenger/Instagram after 24 h
    tuning: ChannelTuning = field(default_factory=ChannelTuning)

    @classmethod
    def from_credentials(
        cls,
        credentials: Mapping[str, Any] | None,
        *,
        token: Callable[[ProviderSecrets], str | None],
        account_key: str,
        sends_per_second: float,
    ) -> GraphConfig:
        credentials = dict(credentials or {})
        env = provider_secrets()
        tag = credentials.get("outside_window_tag", "HUMAN_AGENT")
        return cls(
            app_secret=env.meta_app_secret or credentials.get("app_secret") or "",
            verify_token=env.meta_verify_token or credentials.get("verify_token") or "",
            access_token=token(env) or credentials.get("access_token") or "",
            account_id=str(credentials.get(account_key) or "") or None,
            graph_url=(env.graph_api_url or credentials.get("api_url") or GRAPH_API_URL).rstrip(
                "/"
            ),
            api_version=env.graph_api_version
            or str(credentials.get("api_version") or GRAPH_API_VERSION),
            allow_sha1=bool(credentials.get("allow_sha1_signature", False)),
            send_node=str(credentials.get("send_node") or "me"),
            templates=dict(credentials.get("templates") or {}),
            outside_window_tag=tag or None,
            tuning=_meta_tuning(credentials, sends_per_second),
        )

    def missing(self, *, account_required: bool = False) -> list[str]:
        """The settings still needed before the channel can verify and answer anything."""
        needed = {
            "app_secret (META_APP_SECRET)": self.app_secret,
            "verify_token (META_VERIFY_TOKEN)": self.verify_token,
            "access_token": self.access_token,
        }
        if account_required:
            needed["phone_number_id"] = self.account_id
        return [name for name, value in needed.items() if not value]

    @property
    def base_url(self) -> str:
        return f"{self.graph_url}/{self.api_version}"


class GraphOutput(InboxOutput):
    """Sends through ``POST <graph>/<version>/<node>/messages`` and records every message."""

    channel: Channel

    def __init__(
        self,
        config: GraphConfig,
        sender: HttpSender,
        inbox: Inbox,
        stored: StoredMessage | None = None,
        receipts: HttpSender | None = None,
    ) -> None:
        super().__init__(inbox, stored)
        self.config = config
        self.http = sender
        self.receipts = receipts or sender
        self._window_open: dict[str, bool] = {}

    @property
    def messages_url(self) -> str:
        raise NotImplementedError

    async def acknowledge(self, recipient_id: str, message_id: str | None) -> None:
        """Show the user their message was seen and an answer is coming."""
        raise NotImplementedError

    @property
    def identity_channel(self) -> Channel:
        return self.channel

    def address(self, recipient_id: str) -> str:
        """The user's address as the store spells it (identities and the 24-hour window)."""
        return recipient_id

    async def inside_session_window(self, recipient_id: str) -> bool:
        """Whether free-form messages may still be sent (the user wrote within 24 hours)."""
        if self.stored is not None:
            return True  # answering a message just received
        if recipient_id not in self._window_open:
            last: datetime | None = await asyncio.to_thread(
                self.inbox.last_inbound_at, self.channel, self.address(recipient_id)
            )
            self._window_open[recipient_id] = (
                last is not None and utc_now() - last <= SESSION_WINDOW
            )
        return self._window_open[recipient_id]

    async def post(self, payload: dict[str, Any], *, receipt: bool = False) -> SendResult:
        sender = self.receipts if receipt else self.http
        return await sender.post(
            self.messages_url,
            data=json.dumps(payload, ensure_ascii=False).encode(),
            headers={
                "Authorization": f"Bearer {self.config.access_token}",
                "Content-Type": "application/json",
            },
        )

    async def deliver(
        self,
        recipient_id: str,
        payload: dict[str, Any],
        *,
        body: str,
        media: list[str] | None = None,
        accepted: DeliveryStatus = DeliveryStatus.SENT,
    ) -> bool:
        """POST one message and record it (sent or failed); True when the Graph API took it."""
        result = await self.post(payload)
        answer = _json(result.body)
        provider_id, error_code, error_message = None, None, None
        if result.ok:
            provider_id = _message_id(answer)
            self.sent_texts.append(body or " ".join(media or ()))
        else:
            error = answer.get("error") if isinstance(answer.get("error"), dict) else {}
            error_code = str(error.get("code") or result.status)
            error_message = error.get("message") or result.body[:500]
        await self.record(
            OutboundRecord(
                channel=self.channel,
                recipient=self.address(recipient_id),
                body=body,
                status=accepted if result.ok else DeliveryStatus.FAILED,
                attempts=result.attempts,
                provider_message_id=provider_id,
                media=media or None,
                error_code=error_code,
                error_message=error_message,
            )
        )
        return result.ok


def _json(body: str) -> dict[str, Any]:
    try:
        answer = json.loads(body) if body else {}
    except ValueError:
        return {}
    return answer if isinstance(answer, dict) else {}


def _message_id(answer: dict[str, Any]) -> str | None:
    """``message_id`` (Messenger, Instagram) or ``messages[0].id`` (WhatsApp)."""
    if answer.get("message_id"):
        return str(answer["message_id"])
    sent = items(answer, "messages")
    return str(sent[0]["id"]) if sent and sent[0].get("id") else None


OnNewMessage = Callable[[UserMessage], Awaitable[Any]]


class GraphInput(InputChannel):
    """A Meta webhook: verify, parse the whole batch, store, answer 200; process afterwards."""

    channel_name: str
    store_channel: Channel
    expected_object: str
    account_required = False

    def __init__(self, config: GraphConfig, inbox: Inbox | None = None) -> None:
        self.config = config
        self.inbox = inbox or Inbox()
        tuning = config.tuning
        self.sender = HttpSender(
            attempts=tuning.send_attempts,
            backoff_s=tuning.send_backoff_s,
            per_second=tuning.sends_per_second,
        )
        # Read receipts and typing indicators are a courtesy: one try, never delaying a reply.
        self.receipts = HttpSender(attempts=1, per_second=tuning.sends_per_second)
        self.runtime = ChannelRuntime(self.channel_name, self.inbox, self.output, tuning)
        self._receipt_tasks: set[asyncio.Task] = set()

    @classmethod
    def name(cls) -> str:
        return cls.channel_name

    def output(self, stored: StoredMessage | None) -> GraphOutput:
        raise NotImplementedError

    def parse(self, payload: dict[str, Any]) -> WebhookBatch:
        raise NotImplementedError

    def get_output_channel(self) -> OutputChannel:
        """For ``trigger_intent?output_channel=<name>``: sends to the conversation id."""
        return self.output(None)

    def _verify(self, request: Request) -> HTTPResponse | None:
        """The 4xx/503 answer for a request Meta did not sign (logged; nothing is stored)."""
        if self.config.missing(account_required=self.account_required):
            return response.text(f"{self.channel_name} is not configured", status=503)
        body = request.body or b""
        if len(body) > self.config.tuning.max_body_bytes:
            logger.warning(
                "meta.webhook.too_large channel=%s bytes=%d", self.channel_name, len(body)
            )
            return response.text("request body too large", status=413)
        signature = request.headers.get("x-hub-signature-256")
        legacy = request.headers.get("x-hub-signature") if self.config.allow_sha1 else None
        if not signature and not legacy:
            logger.warning("meta.webhook.unsigned channel=%s ip=%s", self.channel_name, request.ip)
            return response.text("missing X-Hub-Signature-256", status=401)
        if signature:
            valid = valid_hub_signature(self.config.app_secret, body, signature)
        else:
            valid = valid_hub_signature(self.config.app_secret, body, legacy, "sha1")
        if not valid:
            logger.warning(
                "meta.webhook.bad_signature channel=%s ip=%s", self.channel_name, request.ip
            )
            return response.text("invalid X-Hub-Signature-256", status=403)
        return None

    async def _with_receipt(self, on_new_message: OnNewMessage, message: UserMessage) -> None:
        """Process ``message``; meanwhile tell the user it was seen (never delaying the turn)."""
        output = message.output_channel
        if isinstance(output, GraphOutput):
            task = asyncio.ensure_future(self._acknowledge(output, message))
            self._receipt_tasks.add(task)
            task.add_done_callback(self._receipt_tasks.discard)
        await on_new_message(message)

    async def _acknowledge(self, output: GraphOutput, message: UserMessage) -> None:
        try:
            # To the address that wrote (the conversation may be its person's, user:<id>).
            recipient = await output.recipient(message.sender_id)
            await output.acknowledge(recipient, message.message_id)
        except Exception:  # a courtesy: its failure must not surface anywhere else
            logger.warning("meta.receipt.failed channel=%s", self.channel_name, exc_info=True)

    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        webhook = Blueprint(f"{self.channel_name}_webhook", __name__)

        @webhook.listener("after_server_start")
        async def start_processing(app, loop) -> None:
            await self.runtime.start(lambda message: self._with_receipt(on_new_message, message))

        @webhook.listener("before_server_stop")
        async def stop_sending(app, loop) -> None:
            self.runtime.stop()
            await self.sender.close()
            await self.receipts.close()

        @webhook.route("/", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @webhook.route("/webhook", methods=["GET"])
        async def verify_subscription(request: Request) -> HTTPResponse:
            challenge = hub_challenge(request.args, self.config.verify_token)
            if challenge is None:
                logger.warning("meta.verify.refused channel=%s", self.channel_name)
                return response.text("verification failed", status=403)
            return response.text(challenge)

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            with self.runtime.acknowledging():
                return await self._receive(request)

        return webhook

    async def _receive(self, request: Request) -> HTTPResponse:
        """Verify, parse and store a batch of events; its 200 means every message is stored."""
        refusal = self._verify(request)
        if refusal is not None:
            return refusal
        try:
            payload = load_event(request.body, self.expected_object)
        except PayloadError as error:
            logger.warning("meta.webhook.malformed channel=%s reason=%s", self.channel_name, error)
            return response.text(str(error), status=400)
        if payload is None:  # authentic, but for another product: Meta must not retry it
            logger.warning("meta.webhook.other_object channel=%s", self.channel_name)
            return response.text("ignored")
        try:
            batch = self.parse(payload)
        except Exception:  # a shape the parser does not expect: the sender must fix it
            logger.exception("meta.webhook.unparsed channel=%s", self.channel_name)
            return response.text("malformed event", status=400)
        for reason in batch.refused:
            logger.warning("meta.webhook.refused channel=%s reason=%s", self.channel_name, reason)
        # Each message is stored or refused on its own; a bad one never keeps the others out.
        results = await asyncio.gather(
            *(self.runtime.accept(message) for message in batch.messages), return_exceptions=True
        )
        outage = False
        for message, result in zip(batch.messages, results, strict=True):
            if isinstance(result, Exception):
                logger.error(
                    "meta.webhook.store_failed channel=%s id=%s error=%r",
                    self.channel_name,
                    message.provider_message_id,
                    result,
                )
                outage = outage or is_outage(result)
        if outage:  # Meta delivers the batch again; what was stored is then a duplicate
            return response.text("temporarily unavailable", status=503)
        for status in batch.statuses:
            try:
                known = await self.runtime.record_delivery(
                    self.store_channel, status.provider_message_id, status.status, status.error_code
                )
            except Exception as error:  # a status is not worth a redelivery of the whole batch
                logger.error("meta.status.failed channel=%s error=%r", self.channel_name, error)
                continue
            logger.info(
                "meta.status channel=%s id=%s status=%s applied=%s",
                self.channel_name,
                status.provider_message_id,
                status.status,
                known,
            )
        return response.text("EVENT_RECEIVED")
