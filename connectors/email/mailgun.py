"""Mailgun-style signed inbound webhooks: signature, age and token checks, and the form as a mail.

Mailgun signs every POST with ``signature = hex(HMAC-SHA256(signing_key, timestamp + token))``.
A request older than the allowed age, or whose token was already used, is a replay.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import time
from collections.abc import Mapping
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

from connectors.core.sanitize import clean_token

# Headers that describe the original MIME structure, not the text Mailgun hands us decoded.
_STRUCTURAL = {"content-type", "content-transfer-encoding", "mime-version", "content-length"}


class WebhookRefused(ValueError):
    """Why a webhook request is refused (``status`` is the HTTP answer)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def mailgun_signature(signing_key: str, timestamp: str, token: str) -> str:
    """The signature Mailgun sends for ``timestamp`` and ``token`` (tests, bench)."""
    return hmac.new(signing_key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()


def verify_mailgun(
    signing_key: str,
    fields: Mapping[str, str],
    *,
    max_age_s: float,
    now: float | None = None,
) -> tuple[str, str]:
    """``(timestamp, token)`` of a correctly signed, fresh request; ``WebhookRefused`` if not."""
    timestamp = (fields.get("timestamp") or "").strip()
    token = (fields.get("token") or "").strip()
    signature = (fields.get("signature") or "").strip().lower()
    if not (timestamp and token and signature):
        raise WebhookRefused(401, "timestamp, token and signature are required")
    if clean_token(token) is None or len(timestamp) > 32:
        raise WebhookRefused(400, "token or timestamp malformed (at most 128 / 32 characters)")
    expected = mailgun_signature(signing_key, timestamp, token)
    if not hmac.compare_digest(expected, signature):
        raise WebhookRefused(403, "invalid signature")
    try:
        age = (time.time() if now is None else now) - float(timestamp)
    except (ValueError, OverflowError) as error:
        raise WebhookRefused(400, "timestamp is not a number") from error
    if not math.isfinite(age):
        raise WebhookRefused(400, "timestamp is not a number")
    if abs(age) > max_age_s:
        raise WebhookRefused(403, f"stale timestamp ({age:.0f} s old)")
    return timestamp, token


def form_to_message(fields: Mapping[str, str]) -> EmailMessage:
    """The mail a Mailgun route forwarded: ``body-mime`` (raw MIME routes) as is, otherwise
    rebuilt from ``message-headers`` and the ``body-plain`` / ``body-html`` fields."""
    raw = fields.get("body-mime")
    if raw:
        return BytesParser(policy=policy.default).parsebytes(raw.encode("utf-8", "surrogateescape"))
    message = EmailMessage(policy=policy.default)
    headers = fields.get("message-headers")
    if headers:
        try:
            pairs = json.loads(headers)
        except ValueError as error:
            raise WebhookRefused(400, "message-headers is not JSON") from error
        if not isinstance(pairs, list):
            raise WebhookRefused(400, "message-headers must be a list of [name, value]")
        for pair in pairs:
            if not (isinstance(pair, list) and len(pair) == 2):
                raise WebhookRefused(400, "message-headers must be a list of [name, value]")
            name, value = str(pair[0]), str(pair[1])
            if name.lower() not in _STRUCTURAL:
                message[name] = value.replace("\r", " ").replace("\n", " ")
    for name, field in (("From", "from"), ("Subject", "subject"), ("Message-ID", "Message-Id")):
        if message.get(name) is None and fields.get(field):
            message[name] = fields[field]
    if message.get("From") is None and fields.get("sender"):
        message["From"] = fields["sender"]
    if message.get("From") is None:
        raise WebhookRefused(400, "no sender (from / message-headers)")
    plain, html = fields.get("body-plain") or "", fields.get("body-html") or ""
    if plain or not html:
        message.set_content(plain)
        if html:
            message.add_alternative(html, subtype="html")
    else:
        message.set_content(html, subtype="html")
    return message
