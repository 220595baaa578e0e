"""Facebook Messenger and Instagram Direct: the same ``entry[].messaging[]`` webhooks and the same
Send API (``/me/messages``), with their own limits (Messenger 2000 characters, Instagram under 1000
bytes) and plain text (neither shows markdown)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from connectors.core.formatting import markdown_to_plain, numbered_options, split_text, utf8_length
from connectors.core.inbox import StoredMessage
from connectors.core.media import IMAGE, INSTAGRAM, LINK, MESSENGER, how_to_send, link_text
from connectors.core.messages import GeoLocation, InboundMessage, Media
from connectors.core.options import OFFERED
from connectors.core.sanitize import (
    MAX_NAME_CHARS,
    bounded_json,
    clean_text,
    clean_token,
    clean_url,
    finite,
    obj,
)
from connectors.meta.graph import GraphConfig, GraphInput, GraphOutput, WebhookBatch, items
from misybot.db.types import utc_now
from misybot.enums import Channel

logger = logging.getLogger(__name__)

MAX_QUICK_REPLIES, MAX_QUICK_REPLY_TITLE, MAX_QUICK_REPLY_PAYLOAD = 13, 20, 1000
MAX_URL_BUTTONS, MAX_BUTTON_TEMPLATE_TEXT = 3, 640
MAX_PSID_CHARS = 64  # page- and Instagram-scoped ids are digit strings of about 16
MAX_PAYLOAD = 1000  # a quick reply's or postback's payload (Meta's own limit)
MAX_ATTACHMENTS = 10
EVENT_KINDS = ("message", "postback", "reaction")
ATTACHMENT_TYPES = {
    "image": "image/*",
    "video": "video/*",
    "audio": "audio/*",
    "file": "application/octet-stream",
}


def parse_messaging(
    payload: dict[str, Any],
    *,
    channel: Channel,
    transport: str,
    account_id: str | None,
    max_text_chars: int = 2000,
) -> WebhookBatch:
    """Every user message, quick reply, postback and reaction in a ``page``/``instagram`` webhook.

    Echoes of our own messages, deliveries, reads, ``standby`` (handover) and other entries are
    counted as ignored, never processed; a malformed event is refused on its own.
    """
    batch = WebhookBatch()
    for entry in items(payload, "entry"):
        events = items(entry, "messaging")
        batch.ignored += len(items(entry, "standby")) + len(items(entry, "changes"))
        if account_id and clean_token(entry.get("id")) != account_id:
            batch.ignored += len(events)
            continue
        for event in events:
            message = _event(event, channel, transport, account_id, max_text_chars)
            if message is None:
                batch.ignored += 1
            elif isinstance(message, str):
                batch.refused.append(message)
            else:
                batch.messages.append(message)
    return batch


def _event(
    event: dict[str, Any],
    channel: Channel,
    transport: str,
    account_id: str | None,
    max_text_chars: int,
) -> InboundMessage | str | None:
    """The message ``event`` carries; None for events we do not process; the reason when it is
    malformed."""
    sender = clean_token(obj(event.get("sender")).get("id"), MAX_PSID_CHARS)
    if sender is None:
        return "an event needs a sender id (digits, at most 64)"
    if sender == account_id:
        return None
    timestamp = clean_token(event.get("timestamp"), 20) or ""
    text, payload, media, location = "", None, (), None
    message, postback, reaction = (obj(event.get(kind)) for kind in EVENT_KINDS)
    if message:
        if message.get("is_echo") or message.get("is_deleted") or message.get("is_unsupported"):
            return None
        provider_id = clean_token(message.get("mid"))
        text = clean_text(message.get("text"), max_text_chars)
        payload = clean_text(obj(message.get("quick_reply")).get("payload"), MAX_PAYLOAD) or None
        media, location = _attachments(items(message, "attachments"))
    elif postback:
        provider_id = clean_token(postback.get("mid") or f"postback:{sender}:{timestamp}")
        text = clean_text(postback.get("title"), max_text_chars)
        payload = clean_text(postback.get("payload"), MAX_PAYLOAD) or None
    elif reaction:
        emoji = clean_text(reaction.get("emoji"), 16)
        if reaction.get("action") != "react" or not emoji:
            return None
        mid = clean_token(reaction.get("mid")) or ""
        provider_id = clean_token(f"reaction:{mid}:{sender}:{timestamp}")
        text = emoji
    else:  # delivery, read, optin, referral, …
        return None
    if not provider_id:
        return "a message needs an id (mid) of at most 128 characters"
    if not (text or payload or media or location):
        return None
    return InboundMessage(
        channel=channel,
        transport=transport,
        sender=sender,
        address=sender,
        provider_message_id=provider_id,
        received_at=utc_now(),
        text=text,
        media=media,
        location=location,
        button_payload=payload,
        raw=bounded_json(event),
    )


def _attachments(
    attachments: list[dict[str, Any]],
) -> tuple[tuple[Media, ...], GeoLocation | None]:
    media, location = [], None
    for attachment in attachments[:MAX_ATTACHMENTS]:
        content = obj(attachment.get("payload"))
        coordinates = obj(content.get("coordinates"))
        if attachment.get("type") == "location" and coordinates:
            latitude = finite(coordinates.get("lat"), -90, 90)
            longitude = finite(coordinates.get("long"), -180, 180)
            if latitude is not None and longitude is not None:
                title = clean_text(attachment.get("title"), MAX_NAME_CHARS) or None
                location = GeoLocation(latitude, longitude, None, title)
        elif url := clean_url(content.get("url")):
            kind = attachment.get("type")
            media.append(Media(url, ATTACHMENT_TYPES.get(kind) if isinstance(kind, str) else None))
    return tuple(media), location


def quick_replies(buttons: Sequence[dict[str, Any]]) -> list[dict[str, str]] | None:
    """Rasa buttons as quick replies (≤13, titles ≤20), or None when they do not fit."""
    replies = [
        {
            "content_type": "text",
            "title": str(b.get("title") or ""),
            "payload": str(b.get("payload") or b.get("title") or ""),
        }
        for b in buttons
    ]
    fits = all(
        r["title"]
        and len(r["title"]) <= MAX_QUICK_REPLY_TITLE
        and len(r["payload"]) <= MAX_QUICK_REPLY_PAYLOAD
        for r in replies
    )
    return replies if replies and fits and len(replies) <= MAX_QUICK_REPLIES else None


def _option_title(button: dict[str, Any]) -> str:
    title = str(button.get("title") or "")
    return f"{title}: {button['url']}" if button.get("url") else title


class MessengerOutput(GraphOutput):
    """Replies through the Send API: plain text in chunks, quick replies, URL buttons, images."""

    channel = Channel.MESSENGER
    text_limit = 2000  # the Send API's; also how much of an inbound text is read
    measure: Callable[[str], int] = staticmethod(len)
    url_button_template = True
    media_limits = MESSENGER

    @classmethod
    def name(cls) -> str:
        return "messenger"

    @property
    def messages_url(self) -> str:
        return f"{self.config.base_url}/{self.config.send_node}/messages"

    def outside_window(self) -> str | None:
        return "tag" if self.config.outside_window_tag else None

    async def _envelope(self, recipient_id: str, message: dict[str, Any]) -> dict[str, Any]:
        envelope: dict[str, Any] = {
            "recipient": {"id": recipient_id},
            "messaging_type": "RESPONSE",
            "message": message,
        }
        tag = self.config.outside_window_tag
        if tag and not await self.inside_session_window(recipient_id):
            envelope.update(messaging_type="MESSAGE_TAG", tag=tag)
        return envelope

    async def acknowledge(self, recipient_id: str, message_id: str | None) -> None:
        for action in ("mark_seen", "typing_on"):
            await self.post(
                {"recipient": {"id": recipient_id}, "sender_action": action}, receipt=True
            )

    async def _send(
        self, recipient_id: str, message: dict[str, Any], body: str, media: list[str] | None = None
    ) -> None:
        await self.deliver(
            recipient_id, await self._envelope(recipient_id, message), body=body, media=media
        )

    def _chunks(self, text: str) -> list[str]:
        return split_text(markdown_to_plain(text), self.text_limit, self.measure)

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        for chunk in self._chunks(text):
            await self._send(recipient_id, {"text": chunk}, chunk)

    async def send_text_with_buttons(
        self, recipient_id: str, text: str, buttons: list[dict[str, Any]], **kwargs: Any
    ) -> None:
        """URL buttons → a button template (Messenger, ≤3); others → quick replies (≤13);
        whatever does not fit → numbered text."""
        plain = markdown_to_plain(text)
        links = [b for b in buttons if b.get("url")]
        if (
            self.url_button_template
            and links
            and len(links) == len(buttons) <= MAX_URL_BUTTONS
            and 0 < len(plain) <= MAX_BUTTON_TEMPLATE_TEXT
        ):
            await self._send_button_template(recipient_id, plain, links)
            return
        replies = None if links else quick_replies(buttons)
        if replies is None:
            options = [{"title": _option_title(b)} for b in buttons]
            await self.send_text_message(recipient_id, numbered_options(text, options))
            return
        *leading, last = self._chunks(text) or [""]
        for chunk in leading:
            await self._send(recipient_id, {"text": chunk}, chunk)
        message = {"text": last, "quick_replies": replies}
        await self._send(recipient_id, message, numbered_options(last, buttons))
        OFFERED.offer(self.name(), recipient_id, buttons)  # typed "2" works as well as a tap

    async def _send_button_template(
        self, recipient_id: str, text: str, links: list[dict[str, Any]]
    ) -> None:
        buttons = [
            {"type": "web_url", "url": b["url"], "title": str(b.get("title") or b["url"])[:20]}
            for b in links
        ]
        template = {"template_type": "button", "text": text, "buttons": buttons}
        body = "\n".join([text, *(_option_title(b) for b in links)])
        await self._send(
            recipient_id, {"attachment": {"type": "template", "payload": template}}, body
        )

    async def send_image_url(self, recipient_id: str, image: str, **kwargs: Any) -> None:
        await self.send_attachment(recipient_id, image)

    async def _send_image(self, recipient_id: str, image: str) -> None:
        await self._send(
            recipient_id,
            {"attachment": {"type": "image", "payload": {"url": image, "is_reusable": False}}},
            "",
            [image],
        )

    async def send_attachment(self, recipient_id: str, attachment: str, **kwargs: Any) -> None:
        if not attachment.startswith(("http://", "https://")):
            await self.send_text_message(recipient_id, attachment)
            return
        kind, found = await how_to_send(attachment, self.media_limits)
        if kind == IMAGE:
            await self._send_image(recipient_id, attachment)
        elif kind == LINK:
            await self.send_text_message(recipient_id, link_text(attachment, found))
        else:
            await self._send(
                recipient_id,
                {
                    "attachment": {
                        "type": "file",
                        "payload": {"url": attachment, "is_reusable": False},
                    }
                },
                "",
                [attachment],
            )

    async def send_custom_json(
        self, recipient_id: str, json_message: dict[str, Any], **kwargs: Any
    ) -> None:
        """A Send API ``message`` object (e.g. a generic template attachment) as given."""
        await self._send(recipient_id, json_message, json_message.get("text") or "custom message")


class InstagramOutput(MessengerOutput):
    """Instagram Direct: text under 1000 UTF-8 bytes, quick replies, images."""

    channel = Channel.INSTAGRAM
    text_limit = 999  # "less than 1000 bytes"
    measure = staticmethod(utf8_length)
    media_limits = INSTAGRAM
    url_button_template = False

    @classmethod
    def name(cls) -> str:
        return "instagram"


class MessengerInput(GraphInput):
    """The ``messenger`` input channel (a Facebook Page's conversations)."""

    channel_name = "messenger"
    store_channel = Channel.MESSENGER
    expected_object = "page"
    output_class: type[MessengerOutput] = MessengerOutput
    account_key = "page_id"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> MessengerInput:
        config = GraphConfig.from_credentials(
            credentials,
            token=cls.token_setting,
            account_key=cls.account_key,
            sends_per_second=250.0,  # under the Send API's 300 calls/s per Page
        )
        if missing := config.missing():
            logger.warning("%s.not_configured missing=%s", cls.channel_name, ",".join(missing))
        return cls(config)

    @staticmethod
    def token_setting(env) -> str | None:
        return env.messenger_page_access_token

    def output(self, stored: StoredMessage | None) -> MessengerOutput:
        return self.output_class(self.config, self.sender, self.inbox, stored, self.receipts)

    def parse(self, payload: dict[str, Any]) -> WebhookBatch:
        return parse_messaging(
            payload,
            channel=self.store_channel,
            transport=self.channel_name,
            account_id=self.config.account_id,
            max_text_chars=self.output_class.text_limit,
        )


class InstagramInput(MessengerInput):
    """The ``instagram`` input channel (an Instagram professional account's Direct messages)."""

    channel_name = "instagram"
    store_channel = Channel.INSTAGRAM
    expected_object = "instagram"
    output_class = InstagramOutput
    account_key = "instagram_account_id"

    @staticmethod
    def token_setting(env) -> str | None:
        return env.instagram_access_token
