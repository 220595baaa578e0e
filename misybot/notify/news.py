"""Whether a recurring run found something worth a message (a person asked for "only when
there is something new" unless they said every run)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

SCANS = frozenset({"inventory_monitor", "alert_generator"})


def has_news(agent_type: str, result: Mapping[str, Any]) -> bool:
    """A scan has news when it raised or cleared an alert; a report or a digest always does."""
    if agent_type in SCANS:
        return bool(result.get("raised") or result.get("cleared"))
    return True
