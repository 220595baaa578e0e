"""What is kept of an inbound message's provider id once its sender is erased."""

from __future__ import annotations

import hashlib
import hmac

from misybot.enums import Channel
from misybot.settings import get_settings


def provider_id_digest(channel: Channel | str, provider_message_id: str | None) -> str | None:
    """A salted hash of a provider's message id (keyed with the installation's secret)."""
    if not provider_message_id:
        return None
    kind = channel.value if isinstance(channel, Channel) else str(channel)
    key = hmac.new(get_settings().signing_key, b"misybot erased message ids", hashlib.sha256)
    signed = f"{kind}\x00{provider_message_id}".encode("utf-8", "surrogatepass")
    return hmac.new(key.digest(), signed, hashlib.sha256).hexdigest()
