"""The ``whatsapp_twilio`` input channel and its output: webhooks in, the Messages API out."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from rasa.core.channels.channel import InputChannel, OutputChannel
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from connectors.core.formatting import markdown_to_whatsapp, split_text
from connectors.core.inbox import Inbox, OutboundRecord, StoredMessage, is_outage
from connectors.core.media import LINK, TWILIO_WHATSAPP, how_to_send, link_text
from connectors.core.output import InboxOutput
from connectors.core.runtime import ChannelRuntime
from connectors.core.sanitize import (
    clean_token,
)
from connectors.core.sending import HttpSender
from connectors.core.signatures import public_url, valid_twilio_signature
from connectors.twilio.config import TwilioConfig
from connectors.twilio.payload import (
    CHANNEL_NAME,
    FormParams,
    PayloadError,
    parse_form,
    parse_inbound,
)
from misybot.db.types import utc_now
from misybot.enums import Channel, DeliveryStatus
from misybot.people.reach import SESSION_WINDOW  # the providers' 24-hour window

logger = logging.getLogger(__name__)


MAX_BODY_CHARS = 1600  # Twilio error 21617 above this


EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


def _whatsapp_address(recipient: str) -> str:
    """Twilio's spelling of a WhatsApp recipient (``whatsapp:+351…``)."""
    return recipient if recipient.startswith("whatsapp:") else f"whatsapp:{recipient}"


class TwilioWhatsAppOutput(InboxOutput):
    """Replies through the Twilio Messages API: WhatsApp formatting, ≤1600 chars, media; buttons
    as numbered options (native quick replies need a pre-approved Content API template per set)."""

    identity_channel = Channel.WHATSAPP

    @classmethod
    def name(cls) -> str:
        return CHANNEL_NAME

    def __init__(
        self,
        config: TwilioConfig,
        sender: HttpSender,
        inbox: Inbox,
        stored: StoredMessage | None = None,
    ) -> None:
        super().__init__(inbox, stored)
        self.config = config
        self.http = sender

    def outside_window(self) -> str | None:
        return "template" if self.config.template_content_sid else None

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        for chunk in split_text(markdown_to_whatsapp(text), MAX_BODY_CHARS):
            await self._send(recipient_id, body=chunk)

    async def send_image_url(self, recipient_id: str, image: str, **kwargs: Any) -> None:
        await self.send_attachment(recipient_id, image)

    async def send_attachment(self, recipient_id: str, attachment: str, **kwargs: Any) -> None:
        if not attachment.startswith(("http://", "https://")):
            await self.send_text_message(recipient_id, attachment)
            return
        kind, found = await how_to_send(attachment, TWILIO_WHATSAPP)
        if kind == LINK or await self._outside_session_window(_whatsapp_address(recipient_id)):
            # Outside the 24-hour window only a template goes: the link rides in its text.
            await self.send_text_message(recipient_id, link_text(attachment, found))
        else:
            await self._send(recipient_id, body="", media=[attachment])

    async def send_custom_json(
        self, recipient_id: str, json_message: dict[str, Any], **kwargs: Any
    ) -> None:
        """``{"content_sid": "HX…", "content_variables": {...}}`` sends an approved template."""
        if json_message.get("content_sid"):
            await self._send(
                recipient_id,
                body="",
                content_sid=json_message["content_sid"],
                content_variables=json_message.get("content_variables") or {},
            )
        else:
            await self.send_text_message(recipient_id, json.dumps(json_message))

    async def _outside_session_window(self, recipient: str) -> bool:
        if self.stored is not None or not self.config.template_content_sid:
            return False  # answering a message just received: the window is open
        address = recipient.removeprefix("whatsapp:")
        last = await asyncio.to_thread(self.inbox.last_inbound_at, Channel.WHATSAPP, address)
        return last is None or utc_now() - last > SESSION_WINDOW

    async def _send(
        self,
        recipient_id: str,
        *,
        body: str,
        media: list[str] | None = None,
        content_sid: str | None = None,
        content_variables: dict[str, Any] | None = None,
    ) -> None:
        to = _whatsapp_address(recipient_id)
        fields: list[tuple[str, str]] = [("To", to)]
        if self.config.messaging_service_sid:
            fields.append(("MessagingServiceSid", self.config.messaging_service_sid))
        else:
            fields.append(("From", _whatsapp_address(self.config.whatsapp_number or "")))
        if content_sid is None and body and await self._outside_session_window(to):
            # Free-form text outside the 24-hour window fails (63016): use the approved template.
            content_sid = self.config.template_content_sid
            content_variables = {"1": body[:1024]}
        if content_sid:
            fields.append(("ContentSid", content_sid))
            fields.append(("ContentVariables", json.dumps(content_variables or {})))
        else:
            if body:
                fields.append(("Body", body))
            fields += [("MediaUrl", url) for url in media or ()]
        if callback := self.config.status_callback_url():
            fields.append(("StatusCallback", callback))
        result = await self.http.post(
            self.config.messages_url,
            data=fields,
            auth=(self.config.account_sid, self.config.auth_token),
        )
        sid, error_code, error_message, status = None, None, None, DeliveryStatus.FAILED
        try:
            answer = json.loads(result.body) if result.body else {}
        except ValueError:
            answer = {}
        if result.ok:
            sid = answer.get("sid")
            status = DeliveryStatus.QUEUED
            self.sent_texts.append(body or " ".join(media or ()))
        else:
            error_code = str(answer.get("code") or result.status)
            error_message = answer.get("message") or result.body[:500]
        await self.record(
            OutboundRecord(
                channel=Channel.WHATSAPP,
                recipient=to.removeprefix("whatsapp:"),
                body=body or (f"template {content_sid}" if content_sid else ""),
                status=status,
                attempts=result.attempts,
                provider_message_id=sid,
                media=list(media or ()) or None,
                error_code=error_code,
                error_message=error_message,
            )
        )


class TwilioWhatsAppInput(InputChannel):
    """The ``whatsapp_twilio`` input channel: verify, parse, store, acknowledge; process after."""

    @classmethod
    def name(cls) -> str:
        return CHANNEL_NAME

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        return cls(TwilioConfig.from_credentials(credentials))

    def __init__(self, config: TwilioConfig, inbox: Inbox | None = None) -> None:
        self.config = config
        self.inbox = inbox or Inbox()
        self.sender = HttpSender(
            attempts=config.tuning.send_attempts,
            backoff_s=config.tuning.send_backoff_s,
            per_second=config.tuning.sends_per_second,
        )
        self.runtime = ChannelRuntime(CHANNEL_NAME, self.inbox, self._output, config.tuning)

    def _output(self, stored: StoredMessage | None) -> TwilioWhatsAppOutput:
        return TwilioWhatsAppOutput(self.config, self.sender, self.inbox, stored)

    def get_output_channel(self) -> OutputChannel:
        """For ``trigger_intent?output_channel=whatsapp_twilio``: sends to the conversation id."""
        return self._output(None)

    def _signed_url(self, request: Request) -> str:
        if self.config.public_url:
            return public_url(self.config.public_url, request.path, request.query_string)
        return request.url  # only right when nothing rewrites the URL in front of Rasa

    def _verify(self, request: Request) -> tuple[FormParams | None, HTTPResponse | None]:
        """The signed form, or the 4xx answer to give instead (logged; nothing is stored)."""
        if self.config.missing():
            return None, response.text(f"{CHANNEL_NAME} is not configured", status=503)
        if len(request.body or b"") > self.config.tuning.max_body_bytes:
            logger.warning("twilio.webhook.too_large bytes=%d", len(request.body))
            return None, response.text("request body too large", status=413)
        content_type = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
        if content_type != "application/x-www-form-urlencoded":
            logger.warning("twilio.webhook.bad_content_type type=%s", content_type)
            return None, response.text("expected a form-encoded body", status=415)
        signature = request.headers.get("x-twilio-signature")
        if not signature:
            logger.warning("twilio.webhook.unsigned ip=%s", request.ip)
            return None, response.text("missing X-Twilio-Signature", status=401)
        try:
            params = parse_form(request.body)
        except PayloadError as error:
            logger.warning("twilio.webhook.malformed reason=%s", error)
            return None, response.text(str(error), status=400)
        url = self._signed_url(request)
        if not valid_twilio_signature(self.config.auth_token, url, params, signature):
            logger.warning("twilio.webhook.bad_signature ip=%s url=%s", request.ip, url)
            return None, response.text("invalid X-Twilio-Signature", status=403)
        account = params.first("AccountSid")
        if account and account != self.config.account_sid:
            logger.warning("twilio.webhook.wrong_account account=%s", account)
            return None, response.text("unknown AccountSid", status=403)
        return params, None

    def blueprint(self, on_new_message) -> Blueprint:
        webhook = Blueprint(f"{CHANNEL_NAME}_webhook", __name__)

        @webhook.listener("after_server_start")
        async def start_processing(app, loop) -> None:
            await self.runtime.start(on_new_message)

        @webhook.listener("before_server_stop")
        async def stop_sending(app, loop) -> None:
            self.runtime.stop()
            await self.sender.close()

        @webhook.route("/", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            with self.runtime.acknowledging():
                return await self._receive(request)

        @webhook.route("/status", methods=["POST"])
        async def delivery_status(request: Request) -> HTTPResponse:
            params, refusal = self._verify(request)
            if refusal is not None:
                return refusal
            sid = clean_token(params.first("MessageSid") or params.first("SmsSid"))
            status = clean_token(params.first("MessageStatus") or params.first("SmsStatus"), 32)
            if not sid or not status:
                return response.text("MessageSid and MessageStatus are required", status=400)
            known = await self.runtime.record_delivery(
                Channel.WHATSAPP, sid, status, clean_token(params.first("ErrorCode"), 32)
            )
            logger.info("twilio.status sid=%s status=%s applied=%s", sid, status, known)
            return response.text("", status=204)

        return webhook

    async def _receive(self, request: Request) -> HTTPResponse:
        """Verify, parse and store one inbound message; its 200 means it is stored."""
        params, refusal = self._verify(request)
        if refusal is not None:
            return refusal
        try:
            message = parse_inbound(params)
        except PayloadError as error:
            logger.warning("twilio.webhook.malformed reason=%s", error)
            return response.text(str(error), status=400)
        try:
            await self.runtime.accept(message)
        except Exception as error:
            logger.exception("twilio.webhook.store_failed sid=%s", message.provider_message_id)
            if is_outage(error):  # not stored: make Twilio retry rather than lose the message
                return response.text("temporarily unavailable", status=503)
            return response.text("the message could not be stored as sent", status=400)
        return response.text(EMPTY_TWIML, content_type="text/xml")
