"""The channels' settings: the one place the connectors read the environment.

One precedence rule for every setting a channel has: the environment variable when it is set,
else the channel's section of ``credentials.yml``, else the default. Secrets (tokens, passwords,
signing keys) belong in the environment, never in ``credentials.yml``; what is not secret (ids,
hosts, limits) may live in either.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from functools import lru_cache
from typing import Any

SECRET_ENV = {  # field -> environment variable
    "public_url": "MISYBOT_PUBLIC_URL",  # the public base URL providers call (signed over it)
    "twilio_account_sid": "TWILIO_ACCOUNT_SID",
    "twilio_auth_token": "TWILIO_AUTH_TOKEN",
    "twilio_api_url": "MISYBOT_TWILIO_API_URL",  # default https://api.twilio.com
    "meta_app_secret": "META_APP_SECRET",
    "meta_verify_token": "META_VERIFY_TOKEN",
    "whatsapp_cloud_access_token": "WHATSAPP_CLOUD_ACCESS_TOKEN",
    "messenger_page_access_token": "MESSENGER_PAGE_ACCESS_TOKEN",
    "instagram_access_token": "INSTAGRAM_ACCESS_TOKEN",
    "graph_api_url": "MISYBOT_GRAPH_API_URL",  # default https://graph.facebook.com
    "graph_api_version": "MISYBOT_GRAPH_API_VERSION",
    "email_imap_password": "MISYBOT_EMAIL_IMAP_PASSWORD",
    "email_smtp_password": "MISYBOT_EMAIL_SMTP_PASSWORD",
    "mailgun_signing_key": "MAILGUN_SIGNING_KEY",
}
TUNING_ENV = {  # ChannelTuning field -> environment variable
    "rate_limit_per_minute": "MISYBOT_CHANNEL_RATE_LIMIT",  # per sender per window
    "rate_limit_window_s": "MISYBOT_CHANNEL_RATE_WINDOW_S",
    "max_body_bytes": "MISYBOT_CHANNEL_MAX_BODY_BYTES",
    "send_attempts": "MISYBOT_CHANNEL_SEND_ATTEMPTS",
    "send_backoff_s": "MISYBOT_CHANNEL_SEND_BACKOFF_S",
    "sends_per_second": "MISYBOT_CHANNEL_SENDS_PER_SECOND",
    "concurrent_turns": "MISYBOT_CHANNEL_CONCURRENT_TURNS",
    "turn_budget_s": "MISYBOT_CHANNEL_TURN_BUDGET_S",
    "max_attempts": "MISYBOT_CHANNEL_MAX_ATTEMPTS",
    "retry_poll_s": "MISYBOT_CHANNEL_RETRY_POLL_S",
}


@dataclass(frozen=True)
class ProviderSecrets:
    """The providers' secrets and URLs, from the environment only."""

    public_url: str | None = None
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = None
    twilio_api_url: str | None = None
    meta_app_secret: str | None = None
    meta_verify_token: str | None = None
    whatsapp_cloud_access_token: str | None = None
    messenger_page_access_token: str | None = None
    instagram_access_token: str | None = None
    graph_api_url: str | None = None
    graph_api_version: str | None = None
    email_imap_password: str | None = None
    email_smtp_password: str | None = None
    mailgun_signing_key: str | None = None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> ProviderSecrets:
        env = os.environ if environ is None else environ
        values = {
            name: (env.get(variable) or "").strip() or None for name, variable in SECRET_ENV.items()
        }
        for url in ("public_url", "twilio_api_url", "graph_api_url"):
            values[url] = values[url].rstrip("/") if values[url] else None
        return cls(**values)


@lru_cache(maxsize=1)
def provider_secrets() -> ProviderSecrets:
    """The process's provider secrets (read lazily, on first use)."""
    return ProviderSecrets.from_environ()


@dataclass(frozen=True)
class ChannelTuning:
    """What every channel has: limits, retries, concurrency and the turn's budget."""

    rate_limit_per_minute: int = 10  # messages per sender per window (the next two wait)
    rate_limit_window_s: float = 60.0
    max_body_bytes: int = 64 * 1024  # a webhook body's largest size
    send_attempts: int = 4  # tries of a send to the provider's API
    send_backoff_s: float = 0.5  # first pause between them (doubling)
    sends_per_second: float = 30.0  # API calls per second, at most
    concurrent_turns: int = 2  # inbound messages processed at once (Rasa runs on one loop)
    # A turn longer than this is stopped and apologised for: a slow action server or provider
    # never holds another sender's turn for longer.
    turn_budget_s: float = 30.0
    max_attempts: int = 3  # crashes a message may cause before it is given up
    # How often a server looks for messages nobody is processing: a replica's that died, and
    # `misybot inbox retry` requests (a replica's senders are taken over within about this).
    retry_poll_s: float = 3.0

    @classmethod
    def resolve(
        cls,
        section: Mapping[str, Any] | None = None,
        environ: Mapping[str, str] | None = None,
        **channel_defaults: Any,
    ) -> ChannelTuning:
        """Each field from the environment, else ``section`` (the channel's credentials.yml
        section), else ``channel_defaults``, else the class default."""
        env = os.environ if environ is None else environ
        section = section or {}
        values = {}
        for item in fields(cls):
            cast: Callable[[Any], Any] = int if item.type in ("int", int) else float
            raw = env.get(TUNING_ENV[item.name]) or section.get(item.name)
            if raw in (None, ""):
                raw = channel_defaults.get(item.name, item.default)
            values[item.name] = cast(raw)
        return cls(**values)


def switch_interval_ms(environ: Mapping[str, str] | None = None) -> float:
    """How long a thread of the Rasa process keeps the interpreter while another waits for it
    (Python: 5 ms). Webhook acknowledgements hop between threads several times; each hop waits
    that long behind a turn's NLU (``MISYBOT_CHANNEL_SWITCH_INTERVAL_MS``, default 1)."""
    env = os.environ if environ is None else environ
    return float(env.get("MISYBOT_CHANNEL_SWITCH_INTERVAL_MS") or 1.0)
