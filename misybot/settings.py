"""The one place that reads environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

DEFAULT_DATABASE_URL = "sqlite:///var/misybot.db"
DEFAULT_REPORTS_DIR = "var/reports"


@dataclass(frozen=True)
class Settings:
    """Runtime configuration, read once from the environment."""

    timezone: ZoneInfo
    database_url: str = DEFAULT_DATABASE_URL
    reports_dir: Path = Path(DEFAULT_REPORTS_DIR)

    @classmethod
    def from_environ(cls, environ: dict[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        return cls(
            timezone=ZoneInfo(env.get("MISYBOT_TIMEZONE", "UTC")),
            database_url=env.get("MISYBOT_DATABASE_URL") or DEFAULT_DATABASE_URL,
            reports_dir=Path(env.get("MISYBOT_REPORTS_DIR") or DEFAULT_REPORTS_DIR),
        )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (read lazily, on first use)."""
    return Settings.from_environ()
