"""Webhook signature checks on the raw request, in constant time."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

from twilio.request_validator import RequestValidator


def public_url(base_url: str, path: str, query_string: str = "") -> str:
    """The URL the provider called: configured public base + request path (+ query)."""
    url = base_url.rstrip("/") + path
    return f"{url}?{query_string}" if query_string else url


def valid_twilio_signature(
    auth_token: str, url: str, params: Mapping, signature: str | None
) -> bool:
    """``X-Twilio-Signature`` over ``url`` + the sorted form params (twilio's own validator)."""
    if not signature or not auth_token:
        return False
    return RequestValidator(auth_token).validate(url, params, signature)


def twilio_signature(auth_token: str, url: str, params: Mapping) -> str:
    """The signature Twilio would send for ``params`` posted to ``url`` (tests, bench)."""
    return RequestValidator(auth_token).compute_signature(url, params)


def valid_hub_signature(app_secret: str, raw_body: bytes, header: str | None) -> bool:
    """Meta's ``X-Hub-Signature-256: sha256=<hex>`` over the exact raw body bytes."""
    if not header or not app_secret or not header.startswith("sha256="):
        return False
    expected = hmac.new(app_secret.encode(), raw_body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header[len("sha256=") :].strip().lower())
