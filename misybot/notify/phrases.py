"""What a subscription command says beyond its intent: which feeds ("stop the digest"),
whether every run is wanted ("tell me every run"), a severity, quiet hours off."""

from __future__ import annotations

import re

from misybot.enums import AlertSeverity

_DIGEST = re.compile(r"\b(digest|summary|summaries|briefing|recap)\b", re.IGNORECASE)
_ALERTS = re.compile(r"\b(alert|alerts|alerting|warnings?|notifications?|pings?)\b", re.I)
_EVERY_RUN = re.compile(
    r"\b(every (single )?(run|time|scan)|each (run|time|scan)|even (if|when) (there'?s )?nothing|"
    r"always tell|no matter what)\b",
    re.IGNORECASE,
)
_OFF = re.compile(r"\b(off|no quiet|remove|clear|cancel|disable|delete|stop)\b", re.IGNORECASE)
_MAX_TEXT = 300


def feeds_named(text: str) -> tuple[str, ...]:
    """The subscriptions "stop …" names: the digest, the alerts, or (naming neither) both."""
    text = (text or "")[:_MAX_TEXT]
    named = tuple(
        kind for kind, pattern in (("alerts", _ALERTS), ("digest", _DIGEST)) if pattern.search(text)
    )
    return named or ("alerts", "digest")


def every_run(text: str) -> bool:
    """Whether a recurring run's every result is wanted, not only those with news."""
    return bool(_EVERY_RUN.search((text or "")[:_MAX_TEXT]))


def turning_off(text: str) -> bool:
    return bool(_OFF.search((text or "")[:_MAX_TEXT]))


def severity_in(text: str, entity: str | None = None) -> AlertSeverity | None:
    """The severity an entity or the text names, if any."""
    values = {severity.value for severity in AlertSeverity}
    words = re.findall(r"[a-z]+", (text or "")[:_MAX_TEXT].lower())
    for candidate in (str(entity or "").lower(), *words):
        if candidate in values:
            return AlertSeverity(candidate)
    return None
