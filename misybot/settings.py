"""The one place that reads environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class Settings:
    """Runtime configuration, read once from the environment."""

    timezone: ZoneInfo

    @classmethod
    def from_environ(cls, environ: dict[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        return cls(timezone=ZoneInfo(env.get("MISYBOT_TIMEZONE", "UTC")))


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (read lazily, on first use)."""
    return Settings.from_environ()
