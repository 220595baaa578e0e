"""The one place that reads environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from misybot.secrets import load_secrets

DEFAULT_DATABASE_URL = "sqlite:///var/misybot.db"
DEFAULT_REPORTS_DIR = "var/reports"
DEFAULT_RASA_URL = "http://127.0.0.1:5005"
DEFAULT_SECRETS_FILE = "var/secrets.json"
# The design's priority rule: the streamliner persona first, then alerting, then monitoring.
DEFAULT_PRIORITIES = "persona:streamliner=10,alert_generator=9,inventory_monitor=8,default=5"


def _priorities(spec: str) -> dict[str, int]:
    """``"a=1,b=2"`` as ``{"a": 1, "b": 2}`` (a malformed entry is a configuration error)."""
    rules: dict[str, int] = {}
    for entry in filter(None, (part.strip() for part in spec.split(","))):
        key, _, value = entry.partition("=")
        rules[key.strip()] = int(value)
    rules.setdefault("default", 5)
    return rules


def _flag(value: str | None, default: bool) -> bool:
    """An on/off setting: 1/true/yes/on or 0/false/no/off (anything else is an error)."""
    if value is None or not value.strip():
        return default
    word = value.strip().lower()
    if word in {"1", "true", "yes", "on"}:
        return True
    if word in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"not an on/off value: {value!r}")


def _positive(value: str | None, name: str) -> int | None:
    """A whole number of at least 1, or None when unset ("0" and "off" also mean unset)."""
    if value is None or value.strip().lower() in {"", "0", "off"}:
        return None
    number = int(value)
    if number < 1:
        raise ValueError(f"{name} must be a positive number of days, not {value!r}")
    return number


@dataclass(frozen=True)
class Settings:
    """Runtime configuration, read once from the environment."""

    timezone: ZoneInfo
    database_url: str = DEFAULT_DATABASE_URL
    reports_dir: Path = Path(DEFAULT_REPORTS_DIR)
    # The orchestrator (queue, workers, delivery back to Rasa).
    worker_concurrency: int = 5
    inline_deadline_s: float = 2.0
    lease_s: float = 30.0
    agent_timeout_s: float = 120.0
    max_attempts: int = 3
    retry_base_s: float = 1.0
    retry_max_s: float = 60.0
    priorities: dict = field(default_factory=lambda: _priorities(DEFAULT_PRIORITIES))
    rasa_url: str = DEFAULT_RASA_URL
    rasa_token: str | None = None  # None: the generated one in ``secrets_file``
    delivery_attempts: int = 20
    # Local conversations (the REST channel, ``make shell``) name a user by e-mail or phone
    # (see connectors.local); off: every local sender is unregistered.
    local_identities: bool = True
    # Opens local identities to REST callers that are not on this machine (Bearer token).
    rest_token: str | None = None
    identity_key: str | None = None  # None: the generated one in ``secrets_file``
    secrets_file: Path = Path(DEFAULT_SECRETS_FILE)
    recurring_interval_s: int = 900  # run_agent: every 15 minutes unless told
    worker_heartbeat_s: float = 5.0  # how often a worker records that it is alive
    # The health check (misybot.health): workers count as alive when they beat this recently
    # (three beats), and the inbox as backed up when this many messages have waited this long.
    health_worker_max_age_s: float = 15.0
    health_backlog_age_s: float = 60.0
    health_backlog_limit: int = 100
    health_timeout_s: float = 2.0  # the database must answer the check within this
    # People (misybot.people): the country code a national phone number is read in ("351"),
    # how long an invitation code is valid, and how many days message bodies are kept
    # (None: for as long as the data is; the worker erases older bodies, counters stay).
    default_country_code: str | None = None
    invitation_hours: float = 24.0
    retention_days: int | None = None
    # Report links (misybot.links): the base URL phones reach this server at (the Rasa server's
    # own address when not set: links work on this machine only) and how long a link works.
    public_url: str = DEFAULT_RASA_URL
    link_hours: float = 24.0

    @classmethod
    def from_environ(cls, environ: dict[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        return cls(
            timezone=ZoneInfo(env.get("MISYBOT_TIMEZONE", "UTC")),
            database_url=env.get("MISYBOT_DATABASE_URL") or DEFAULT_DATABASE_URL,
            reports_dir=Path(env.get("MISYBOT_REPORTS_DIR") or DEFAULT_REPORTS_DIR),
            worker_concurrency=int(env.get("MISYBOT_WORKER_CONCURRENCY") or 5),
            inline_deadline_s=float(env.get("MISYBOT_INLINE_DEADLINE_S") or 2.0),
            lease_s=float(env.get("MISYBOT_LEASE_S") or 30.0),
            agent_timeout_s=float(env.get("MISYBOT_AGENT_TIMEOUT_S") or 120.0),
            max_attempts=int(env.get("MISYBOT_MAX_ATTEMPTS") or 3),
            retry_base_s=float(env.get("MISYBOT_RETRY_BASE_S") or 1.0),
            retry_max_s=float(env.get("MISYBOT_RETRY_MAX_S") or 60.0),
            priorities=_priorities(env.get("MISYBOT_PRIORITIES") or DEFAULT_PRIORITIES),
            rasa_url=(env.get("MISYBOT_RASA_URL") or DEFAULT_RASA_URL).rstrip("/"),
            rasa_token=env.get("MISYBOT_RASA_TOKEN") or None,
            delivery_attempts=int(env.get("MISYBOT_DELIVERY_ATTEMPTS") or 20),
            local_identities=_flag(env.get("MISYBOT_LOCAL_IDENTITIES"), default=True),
            rest_token=env.get("MISYBOT_REST_TOKEN") or None,
            identity_key=env.get("MISYBOT_IDENTITY_KEY") or None,
            secrets_file=Path(env.get("MISYBOT_SECRETS_FILE") or DEFAULT_SECRETS_FILE),
            recurring_interval_s=int(env.get("MISYBOT_RECURRING_INTERVAL_S") or 900),
            worker_heartbeat_s=float(env.get("MISYBOT_WORKER_HEARTBEAT_S") or 5.0),
            health_worker_max_age_s=float(env.get("MISYBOT_HEALTH_WORKER_MAX_AGE_S") or 15.0),
            health_backlog_age_s=float(env.get("MISYBOT_HEALTH_BACKLOG_AGE_S") or 60.0),
            health_backlog_limit=int(env.get("MISYBOT_HEALTH_BACKLOG_LIMIT") or 100),
            health_timeout_s=float(env.get("MISYBOT_HEALTH_TIMEOUT_S") or 2.0),
            default_country_code=(env.get("MISYBOT_DEFAULT_COUNTRY_CODE") or "").lstrip("+")
            or None,
            invitation_hours=float(env.get("MISYBOT_INVITATION_HOURS") or 24.0),
            retention_days=_positive(env.get("MISYBOT_RETENTION_DAYS"), "MISYBOT_RETENTION_DAYS"),
            public_url=(
                env.get("MISYBOT_PUBLIC_URL") or env.get("MISYBOT_RASA_URL") or DEFAULT_RASA_URL
            ).rstrip("/"),
            link_hours=float(env.get("MISYBOT_LINK_HOURS") or 24.0),
        )

    @property
    def api_token(self) -> str:
        """The Rasa HTTP API's token: ``MISYBOT_RASA_TOKEN``, else the installation's own."""
        return self.rasa_token or load_secrets(self.secrets_file.resolve())["rasa_api_token"]

    @property
    def signing_key(self) -> bytes:
        """The key verified senders are signed with: ``MISYBOT_IDENTITY_KEY``, else generated."""
        key = self.identity_key or load_secrets(self.secrets_file.resolve())["identity_key"]
        return key.encode()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (read lazily, on first use)."""
    return Settings.from_environ()
