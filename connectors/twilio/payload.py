"""What Twilio posts: the form of an inbound WhatsApp message, checked and bounded."""

from __future__ import annotations

from urllib.parse import parse_qsl

from connectors.core.messages import GeoLocation, InboundMessage, Media
from connectors.core.sanitize import (
    MAX_ADDRESS_CHARS,
    MAX_ID_CHARS,
    MAX_NAME_CHARS,
    bounded_json,
    clean_text,
    clean_token,
    clean_url,
    finite,
)
from misybot.db.types import utc_now
from misybot.enums import Channel

CHANNEL_NAME = "whatsapp_twilio"


MAX_INBOUND_CHARS = 4096  # WhatsApp's longest text message: what NLU could ever be sent


MAX_PAYLOAD_CHARS = 1024  # a button's payload (ours are commands of a few dozen characters)


MAX_MEDIA = 10


class PayloadError(ValueError):
    """The webhook's form is not a Twilio inbound message."""


class FormParams(dict):
    """Form fields as lists of values, blank ones kept (Twilio signs those too)."""

    def getall(self, name: str) -> list[str]:  # the interface twilio's RequestValidator reads
        return self[name]

    def first(self, name: str) -> str | None:
        values = self.get(name)
        return values[0] if values else None


def parse_form(body: bytes) -> FormParams:
    """``application/x-www-form-urlencoded`` bytes as ``FormParams``; ``PayloadError`` if not."""
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body))
    except (UnicodeDecodeError, ValueError) as error:
        raise PayloadError(f"malformed form body: {error}") from error
    params = FormParams()
    for name, value in pairs:
        params.setdefault(name, []).append(value)
    return params


def parse_inbound(params: FormParams, received_at=None) -> InboundMessage:
    """A Twilio WhatsApp inbound webhook as an ``InboundMessage`` (``PayloadError`` if it is not
    one: ids and addresses are bounded tokens, the text is cut to WhatsApp's own maximum)."""
    sid = clean_token(params.first("MessageSid") or params.first("SmsMessageSid"))
    sender = clean_token(params.first("From"), MAX_ADDRESS_CHARS)
    if not sid or not sender:
        raise PayloadError(
            "MessageSid and From are required, without spaces, at most "
            f"{MAX_ID_CHARS} and {MAX_ADDRESS_CHARS} characters"
        )
    try:
        count = int(params.first("NumMedia") or 0)
    except ValueError as error:
        raise PayloadError("NumMedia is not a number") from error
    if not 0 <= count <= MAX_MEDIA:
        raise PayloadError("NumMedia out of range")
    media = tuple(
        Media(url, clean_text(params.first(f"MediaContentType{index}"), 128) or None)
        for index in range(count)
        if (url := clean_url(params.first(f"MediaUrl{index}")))
    )
    location = None
    if params.first("Latitude") or params.first("Longitude"):
        latitude = finite(params.first("Latitude"), -90, 90)
        longitude = finite(params.first("Longitude"), -180, 180)
        if latitude is None or longitude is None:
            raise PayloadError("Latitude/Longitude must be numbers within ±90/±180")
        location = GeoLocation(
            latitude,
            longitude,
            clean_text(params.first("Address"), 500) or None,
            clean_text(params.first("Label"), MAX_NAME_CHARS) or None,
        )
    return InboundMessage(
        channel=Channel.WHATSAPP,
        transport=CHANNEL_NAME,
        sender=sender,
        address=sender.removeprefix("whatsapp:"),
        provider_message_id=sid,
        received_at=received_at or utc_now(),
        text=clean_text(params.first("Body"), MAX_INBOUND_CHARS),
        media=media,
        location=location,
        button_payload=clean_text(params.first("ButtonPayload"), MAX_PAYLOAD_CHARS) or None,
        profile_name=clean_text(params.first("ProfileName"), MAX_NAME_CHARS) or None,
        raw=bounded_json(
            {name: values[0] if len(values) == 1 else values for name, values in params.items()}
        ),
    )
