"""Per-sender message limits: a fixed window per (channel, sender), one notice per window."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Admission:
    """Whether to process a message, and whether the sender should be told they are limited."""

    allowed: bool
    notify: bool = False


class SenderRateLimiter:
    """``limit`` messages per ``window_s`` per key; the first refused message asks for a notice."""

    def __init__(self, limit: int, window_s: float) -> None:
        self.limit = limit
        self.window_s = window_s
        self._windows: dict[tuple[str, str], tuple[float, int, bool]] = {}

    def admit(self, channel: str, sender: str, now: float) -> Admission:
        key = (channel, sender)
        if len(self._windows) > 10_000:  # forget senders whose window is over
            self._windows = {k: v for k, v in self._windows.items() if now - v[0] < self.window_s}
        start, count, notified = self._windows.get(key, (now, 0, False))
        if now - start >= self.window_s:
            start, count, notified = now, 0, False
        count += 1
        if count <= self.limit:
            self._windows[key] = (start, count, notified)
            return Admission(allowed=True)
        self._windows[key] = (start, count, True)
        return Admission(allowed=False, notify=not notified)
