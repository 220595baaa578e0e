"""One normalised shape for a message from any provider channel."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from typing import Any

from misybot.enums import Channel


@dataclass(frozen=True)
class Media:
    """An attachment the provider hosts (``url``) with its MIME type when given."""

    url: str
    content_type: str | None = None


@dataclass(frozen=True)
class GeoLocation:
    """A shared location pin."""

    latitude: float
    longitude: float
    address: str | None = None
    label: str | None = None


@dataclass(frozen=True)
class InboundMessage:
    """A user's message as every channel delivers it to the inbox."""

    channel: Channel  # the store's channel (WhatsApp, whichever provider carried it)
    transport: str  # the Rasa input channel that received it, e.g. ``whatsapp_twilio``
    sender: str  # the address replies go to, as the provider spells it (``whatsapp:+351…``)
    address: str  # the address identities are keyed on (``+351…``)
    provider_message_id: str
    received_at: datetime
    text: str = ""
    media: tuple[Media, ...] = ()
    location: GeoLocation | None = None
    button_payload: str | None = None
    profile_name: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def user_text(self) -> str:
        """What the assistant should read: a button's payload wins over its visible text."""
        return self.button_payload or self.text

    def payload(self) -> dict[str, Any]:
        """The JSON stored with the message (everything needed to process it after a restart)."""
        # Shallow: ``asdict`` deep-copies ``raw`` while the provider waits for its 200.
        data = {item.name: getattr(self, item.name) for item in fields(self)}
        data["channel"] = self.channel.value
        data["received_at"] = self.received_at.isoformat()
        data["media"] = [asdict(item) for item in self.media]
        data["location"] = asdict(self.location) if self.location else None
        return data

    @classmethod
    def from_payload(cls, data: dict[str, Any]) -> InboundMessage:
        location = data.get("location")
        return cls(
            channel=Channel(data["channel"]),
            transport=data["transport"],
            sender=data["sender"],
            address=data["address"],
            provider_message_id=data["provider_message_id"],
            received_at=datetime.fromisoformat(data["received_at"]),
            text=data.get("text") or "",
            media=tuple(Media(**item) for item in data.get("media") or ()),
            location=GeoLocation(**location) if location else None,
            button_payload=data.get("button_payload"),
            profile_name=data.get("profile_name"),
            raw=data.get("raw") or {},
        )
