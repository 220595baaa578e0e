"""Numbered options: on channels without native buttons a reply lists "1. Inventory", "2. Sales"…
and the sender answers "2". The options last shown to each sender are kept here so the runtime
can turn that answer back into the option's payload before Rasa sees it."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from connectors.core.formatting import choose_option

OFFER_TTL_S = 3600.0


class OfferedOptions:
    """The numbered options last offered to each sender of each transport (thread-safe: turns
    and pushed results send from different event loops)."""

    def __init__(self, ttl_s: float = OFFER_TTL_S) -> None:
        self.ttl_s = ttl_s
        self._lock = threading.Lock()
        self._offers: dict[tuple[str, str], tuple[float, list[dict]]] = {}

    def offer(self, transport: str, sender: str, buttons: Sequence[dict]) -> None:
        choices = [dict(button) for button in buttons if button.get("payload")]
        with self._lock:
            if choices:
                self._offers[(transport, sender)] = (time.monotonic(), choices)
            else:
                self._offers.pop((transport, sender), None)

    def take(self, transport: str, sender: str, text: str) -> str | None:
        """The payload ``text`` picks ("2", or an option's title) from the options last offered
        to ``sender``; the offer ends with any answer, picked or not."""
        with self._lock:
            offered = self._offers.pop((transport, sender), None)
        if offered is None or time.monotonic() - offered[0] > self.ttl_s:
            return None
        return choose_option(text, offered[1])


OFFERED = OfferedOptions()
