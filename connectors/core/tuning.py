"""Limits every provider channel reads the same way: credentials.yml first, then settings."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from misybot.settings import ChannelSettings


def channel_tuning(
    credentials: Mapping[str, Any], env: ChannelSettings, sends_per_second: float
) -> dict[str, Any]:
    """Rate limits, body size, send retries and concurrency as config keyword arguments."""
    return {
        "rate_limit_per_minute": int(
            credentials.get("rate_limit_per_minute") or env.rate_limit_per_minute
        ),
        "rate_limit_window_s": float(
            credentials.get("rate_limit_window_s") or env.rate_limit_window_s
        ),
        "max_body_bytes": env.max_body_bytes,
        "send_attempts": int(credentials.get("send_attempts") or env.send_attempts),
        "send_backoff_s": float(credentials.get("send_backoff_s") or env.send_backoff_s),
        "sends_per_second": float(credentials.get("sends_per_second") or sends_per_second),
        "concurrent_turns": int(credentials.get("concurrent_turns") or env.concurrent_turns),
    }
