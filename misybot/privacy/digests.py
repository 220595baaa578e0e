"""What is kept of an inbound message's provider id once its sender is erased."""

from __future__ import annotations

import hashlib
import hmac
from functools import lru_cache

from misybot.enums import Channel
from misybot.settings import get_settings


def provider_id_digest(channel: Channel | str, provider_message_id: str | None) -> str | None:
    """A salted hash of a provider's message id (keyed with the installation's secret)."""
    if not provider_message_id:
        return None
    kind = channel.value if isinstance(channel, Channel) else str(channel)
    signed = f"{kind}\x00{provider_message_id}".encode("utf-8", "surrogatepass")
    return hmac.new(_key(get_settings().signing_key), signed, hashlib.sha256).hexdigest()


@lru_cache(maxsize=4)
def _key(signing_key: bytes) -> bytes:
    """This purpose's key, derived once from the installation's (every message is hashed)."""
    return hmac.new(signing_key, b"misybot erased message ids", hashlib.sha256).digest()
