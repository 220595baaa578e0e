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


def valid_hub_signature(
    app_secret: str, raw_body: bytes, header: str | None, algorithm: str = "sha256"
) -> bool:
    """Meta's ``X-Hub-Signature-256: sha256=<hex>`` over the exact raw body bytes.

    ``algorithm="sha1"`` checks the legacy ``X-Hub-Signature: sha1=<hex>`` instead.
    """
    prefix = f"{algorithm}="
    if not header or not app_secret or not header.startswith(prefix):
        return False
    expected = hub_signature(app_secret, raw_body, algorithm)
    return hmac.compare_digest(expected.encode(), header.strip().lower().encode())


def hub_signature(app_secret: str, raw_body: bytes, algorithm: str = "sha256") -> str:
    """The ``X-Hub-Signature(-256)`` header value Meta sends for ``raw_body`` (tests, bench)."""
    digest = hmac.new(app_secret.encode(), raw_body, getattr(hashlib, algorithm)).hexdigest()
    return f"{algorithm}={digest}"


def hub_challenge(params: Mapping, verify_token: str) -> str | None:
    """The challenge to echo for Meta's subscription GET, or None when it must be refused."""

    def first(name: str) -> str:
        value = params.get(name)
        return (value[0] if isinstance(value, list) else value) or ""

    if not verify_token or first("hub.mode") != "subscribe":
        return None
    if not hmac.compare_digest(first("hub.verify_token").encode(), verify_token.encode()):
        return None
    return first("hub.challenge") or None
