"""WhatsApp Business Cloud API: Meta's own WhatsApp webhooks and ``/<phone_number_id>/messages``.

Messages are stored as WhatsApp messages (address ``+<wa_id>``), so a user linked to a WhatsApp
number is recognised whether Twilio or the Cloud API carried the message.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any

from connectors.core.formatting import markdown_to_whatsapp, numbered_options, split_text
from connectors.core.inbox import StoredMessage
from connectors.core.media import DOCUMENT, IMAGE, WHATSAPP_CLOUD, how_to_send, link_text
from connectors.core.messages import GeoLocation, InboundMessage, Media
from connectors.core.sanitize import (
    MAX_NAME_CHARS,
    bounded_json,
    clean_text,
    clean_token,
    finite,
    obj,
)
from connectors.meta.graph import (
    GraphConfig,
    GraphInput,
    GraphOutput,
    StatusUpdate,
    WebhookBatch,
    items,
)
from misybot.db.types import utc_now
from misybot.enums import Channel, DeliveryStatus

logger = logging.getLogger(__name__)

CHANNEL_NAME = "whatsapp_cloud"
MAX_TEXT_CHARS = 4096
MAX_INBOUND_CHARS = 4096  # WhatsApp's longest text message: what NLU could ever be sent
MAX_WA_ID_CHARS = 20  # a phone number's digits (E.164: 15 at most)
MAX_INTERACTIVE_BODY = 1024
MAX_REPLY_BUTTONS, MAX_BUTTON_TITLE, MAX_BUTTON_ID = 3, 20, 256
MAX_LIST_ROWS, MAX_ROW_TITLE, MAX_ROW_ID = 10, 24, 200
MAX_TEMPLATE_PARAMETER = 1024
MEDIA_TYPES = ("image", "video", "audio", "document", "sticker")
_TEMPLATE_SPACE = re.compile(r"\s+")


def parse_whatsapp_cloud(
    payload: dict[str, Any], *, phone_number_id: str | None, media_base_url: str
) -> WebhookBatch:
    """Every message and status of a ``whatsapp_business_account`` webhook for our number.

    Each item is taken or refused on its own: one that is malformed (a missing or over-long id,
    a field of the wrong type) is counted as refused and never keeps the others from being
    stored. Media arrive as ids; ``Media.url`` is the Graph URL of the media object
    (``<media_base_url>/<id>``), fetched on demand with ``connectors.meta.media``.
    """
    batch = WebhookBatch()
    for entry in items(payload, "entry"):
        for change in items(entry, "changes"):
            value = obj(change.get("value"))
            messages, statuses = items(value, "messages"), items(value, "statuses")
            number = clean_token(obj(value.get("metadata")).get("phone_number_id")) or ""
            if change.get("field", "messages") != "messages" or (
                phone_number_id and number != phone_number_id
            ):
                batch.ignored += max(1, len(messages) + len(statuses))
                continue
            names = {
                str(contact.get("wa_id")): clean_text(
                    obj(contact.get("profile")).get("name"), MAX_NAME_CHARS
                )
                for contact in items(value, "contacts")
            }
            for item in messages:
                message = _message(item, names, media_base_url)
                if message is None:
                    batch.ignored += 1
                elif isinstance(message, str):
                    batch.refused.append(message)
                else:
                    batch.messages.append(message)
            for status in statuses:
                update = _status(status)
                if update is None:
                    batch.ignored += 1
                else:
                    batch.statuses.append(update)
    return batch


def _status(status: dict[str, Any]) -> StatusUpdate | None:
    provider_id, word = clean_token(status.get("id")), clean_token(status.get("status"), 32)
    if not provider_id or not word:
        return None
    errors = items(status, "errors")
    code = clean_token(errors[0].get("code"), 32) if errors else None
    return StatusUpdate(provider_id, word, code)


def _message(
    item: dict[str, Any], names: dict[str, str], media_base_url: str
) -> InboundMessage | str | None:
    """The message ``item`` carries; None for a kind we do not process; the reason when it is
    malformed."""
    wamid = clean_token(item.get("id"))
    wa_id = clean_token(item.get("from"), MAX_WA_ID_CHARS)
    if not wamid or not wa_id or not wa_id.isdigit():
        logger.warning("whatsapp_cloud.message.malformed id=%.40s", str(item.get("id")))
        return "a message needs an id and a digits-only from"
    kind = item.get("type")
    content = obj(item.get(kind)) if isinstance(kind, str) else {}
    text, payload, media, location = "", None, (), None
    if kind == "text":
        text = clean_text(content.get("body"), MAX_INBOUND_CHARS)
    elif kind == "interactive":
        reply = obj(content.get("button_reply")) or obj(content.get("list_reply"))
        text = clean_text(reply.get("title"), MAX_INBOUND_CHARS)
        payload = clean_text(reply.get("id"), MAX_ROW_ID + MAX_BUTTON_ID) or None
    elif kind == "button":  # a template's quick-reply button
        text = clean_text(content.get("text"), MAX_INBOUND_CHARS)
        payload = clean_text(content.get("payload"), MAX_INBOUND_CHARS) or None
    elif kind in MEDIA_TYPES and clean_token(content.get("id")):
        text = clean_text(content.get("caption"), MAX_INBOUND_CHARS)
        mime = clean_text(content.get("mime_type"), 128) or None
        media = (Media(f"{media_base_url}/{clean_token(content['id'])}", mime),)
    elif kind == "location":
        latitude = finite(content.get("latitude"), -90, 90)
        longitude = finite(content.get("longitude"), -180, 180)
        if latitude is None or longitude is None:
            return "a location needs a latitude and a longitude"
        location = GeoLocation(
            latitude,
            longitude,
            clean_text(content.get("address"), 500) or None,
            clean_text(content.get("name"), MAX_NAME_CHARS) or None,
        )
    elif kind == "reaction" and clean_text(content.get("emoji"), 16):  # empty: reaction removed
        text = clean_text(content.get("emoji"), 16)
    else:
        logger.info("whatsapp_cloud.message.ignored id=%s type=%.20s", wamid, str(kind))
        return None
    if not (text or payload or media or location):  # nothing to read (an empty text)
        return None
    return InboundMessage(
        channel=Channel.WHATSAPP,
        transport=CHANNEL_NAME,
        sender=wa_id,
        address=f"+{wa_id}",
        provider_message_id=wamid,
        received_at=utc_now(),
        text=text,
        media=media,
        location=location,
        button_payload=payload,
        profile_name=names.get(wa_id) or None,
        raw=bounded_json(item),
    )


def interactive_message(text: str, buttons: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """Reply buttons (≤3), else a list (≤10 rows), else None (numbered text instead)."""
    options = [
        (str(b.get("payload") or b.get("title") or ""), str(b.get("title") or "")) for b in buttons
    ]
    usable = options and all(option_id and title for option_id, title in options)
    if not usable or not text or len(text) > MAX_INTERACTIVE_BODY:
        return None
    if any(b.get("url") for b in buttons):  # reply widgets cannot open links
        return None

    def fits(title_max: int, id_max: int) -> bool:
        return all(len(title) <= title_max and len(i) <= id_max for i, title in options)

    if len(options) <= MAX_REPLY_BUTTONS and fits(MAX_BUTTON_TITLE, MAX_BUTTON_ID):
        return {
            "type": "button",
            "body": {"text": text},
            "action": {
                "buttons": [
                    {"type": "reply", "reply": {"id": option_id, "title": title}}
                    for option_id, title in options
                ]
            },
        }
    if len(options) <= MAX_LIST_ROWS and fits(MAX_ROW_TITLE, MAX_ROW_ID):
        return {
            "type": "list",
            "body": {"text": text},
            "action": {
                "button": "Choose",
                "sections": [
                    {"rows": [{"id": option_id, "title": title} for option_id, title in options]}
                ],
            },
        }
    return None


def template_parameter(text: str) -> str:
    """Text a template body parameter accepts: no newlines or runs of spaces, ≤1024 chars."""
    flat = _TEMPLATE_SPACE.sub(" ", text).strip()
    return flat if len(flat) <= MAX_TEMPLATE_PARAMETER else flat[: MAX_TEMPLATE_PARAMETER - 1] + "…"


class WhatsAppCloudOutput(GraphOutput):
    """Replies through ``/<phone_number_id>/messages``: WhatsApp markdown, ≤4096, widgets."""

    channel = Channel.WHATSAPP

    @classmethod
    def name(cls) -> str:
        return CHANNEL_NAME

    @property
    def messages_url(self) -> str:
        return f"{self.config.base_url}/{self.config.account_id}/messages"

    def outside_window(self) -> str | None:
        return "template" if (self.config.templates.get("default") or {}).get("name") else None

    def address(self, recipient_id: str) -> str:
        return f"+{recipient_id.removeprefix('+')}"  # stored as +E.164, like Twilio's WhatsApp

    def provider_address(self, address: str) -> str:
        return address.removeprefix("+")  # Meta's wa_id: the number's digits

    def _envelope(self, recipient_id: str, kind: str, content: dict[str, Any]) -> dict[str, Any]:
        return {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": recipient_id,
            "type": kind,
            kind: content,
        }

    async def acknowledge(self, recipient_id: str, message_id: str | None) -> None:
        if not message_id:
            return
        await self.post(
            {
                "messaging_product": "whatsapp",
                "status": "read",
                "message_id": message_id,
                "typing_indicator": {"type": "text"},
            },
            receipt=True,
        )

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        formatted = markdown_to_whatsapp(text)
        if not await self.inside_session_window(recipient_id):
            await self._send_template(recipient_id, formatted, kwargs.get("utter_action"))
            return
        for chunk in split_text(formatted, MAX_TEXT_CHARS):
            await self.deliver(
                recipient_id,
                self._envelope(recipient_id, "text", {"body": chunk, "preview_url": False}),
                body=chunk,
                accepted=DeliveryStatus.QUEUED,
            )

    async def _send_template(self, recipient_id: str, text: str, response: str | None) -> None:
        """Outside the 24-hour window only an approved template may be sent (else 131047)."""
        template = self.config.templates.get(response or "") or self.config.templates.get("default")
        if not template:
            logger.warning(
                "whatsapp_cloud.no_template recipient=%s response=%s", recipient_id, response
            )
            template = {}  # sent as text anyway: the refusal is recorded as a failed message
        if not template.get("name"):
            for chunk in split_text(text, MAX_TEXT_CHARS):
                await self.deliver(
                    recipient_id,
                    self._envelope(recipient_id, "text", {"body": chunk, "preview_url": False}),
                    body=chunk,
                )
            return
        content = {
            "name": template["name"],
            "language": {"code": template.get("language") or "en"},
            "components": [
                {"type": "body", "parameters": [{"type": "text", "text": template_parameter(text)}]}
            ],
        }
        await self.deliver(
            recipient_id,
            self._envelope(recipient_id, "template", content),
            body=text,
            accepted=DeliveryStatus.QUEUED,
        )

    async def send_text_with_buttons(
        self, recipient_id: str, text: str, buttons: list[dict[str, Any]], **kwargs: Any
    ) -> None:
        formatted = markdown_to_whatsapp(text)
        widget = interactive_message(formatted, buttons)
        if widget is None or not await self.inside_session_window(recipient_id):
            await super().send_text_with_buttons(recipient_id, text, buttons, **kwargs)
            return
        await self.deliver(
            recipient_id,
            self._envelope(recipient_id, "interactive", widget),
            body=numbered_options(formatted, buttons),
            accepted=DeliveryStatus.QUEUED,
        )

    async def send_image_url(self, recipient_id: str, image: str, **kwargs: Any) -> None:
        await self.send_attachment(recipient_id, image)

    async def send_attachment(self, recipient_id: str, attachment: str, **kwargs: Any) -> None:
        if not attachment.startswith(("http://", "https://")):
            await self.send_text_message(
                recipient_id, attachment, utter_action=kwargs.get("utter_action")
            )
            return
        kind, found = await how_to_send(attachment, WHATSAPP_CLOUD)
        if not await self.inside_session_window(recipient_id):
            # Outside the 24-hour window only a template goes: the link rides in its text.
            await self.send_text_message(
                recipient_id, link_text(attachment, found), utter_action=kwargs.get("utter_action")
            )
        elif kind == IMAGE:
            await self._send_media(recipient_id, "image", {"link": attachment}, attachment)
        elif kind == DOCUMENT:
            filename = (
                found.name
                if found is not None
                else attachment.split("?")[0].rstrip("/").rsplit("/", 1)[-1]
            )
            await self._send_media(
                recipient_id, "document", {"link": attachment, "filename": filename}, attachment
            )
        else:
            await self.send_text_message(recipient_id, link_text(attachment, found))

    async def _send_media(self, recipient_id: str, kind: str, content: dict, link: str) -> None:
        await self.deliver(
            recipient_id,
            self._envelope(recipient_id, kind, content),
            body="",
            media=[link],
            accepted=DeliveryStatus.QUEUED,
        )

    async def send_custom_json(
        self, recipient_id: str, json_message: dict[str, Any], **kwargs: Any
    ) -> None:
        """A Cloud API message object (``{"type": "template", "template": {...}}``) as given."""
        kind = json_message.get("type")
        if not kind or not isinstance(json_message.get(kind), dict):
            logger.warning("whatsapp_cloud.custom.unsupported keys=%s", sorted(json_message))
            return
        await self.deliver(
            recipient_id,
            self._envelope(recipient_id, kind, json_message[kind]),
            body=f"{kind} message",
            accepted=DeliveryStatus.QUEUED,
        )


class WhatsAppCloudInput(GraphInput):
    """The ``whatsapp_cloud`` input channel (Meta's WhatsApp Business Cloud API)."""

    channel_name = CHANNEL_NAME
    store_channel = Channel.WHATSAPP
    expected_object = "whatsapp_business_account"
    account_required = True

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> WhatsAppCloudInput:
        config = GraphConfig.from_credentials(
            credentials,
            token=lambda env: env.whatsapp_cloud_access_token,
            account_key="phone_number_id",
            sends_per_second=80.0,  # the Cloud API's default throughput per number
        )
        if missing := config.missing(account_required=True):
            logger.warning("whatsapp_cloud.not_configured missing=%s", ",".join(missing))
        return cls(config)

    def output(self, stored: StoredMessage | None) -> WhatsAppCloudOutput:
        return WhatsAppCloudOutput(self.config, self.sender, self.inbox, stored, self.receipts)

    def parse(self, payload: dict[str, Any]) -> WebhookBatch:
        return parse_whatsapp_cloud(
            payload,
            phone_number_id=self.config.account_id,
            media_base_url=self.config.base_url,
        )
