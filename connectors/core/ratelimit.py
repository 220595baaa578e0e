"""Per-sender message limits: over the limit a message waits for the next window, never lost.

A sender may have ``limit`` messages processed per ``window_s``. The messages after those wait,
in order, for the windows that follow: at most ``backlog_windows`` of them, so a flood neither
grows a queue without end nor keeps the sender's answers coming for hours. Only what does not fit
there is refused (stored as ``rate_limited``, never processed). The sender is told once per
schedule which of the two happens, truthfully.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

DELAYED, REFUSED = 1, 2  # what a sender was told about, as bits


@dataclass(frozen=True)
class Admission:
    """Whether to process a message and when; whether to tell the sender they are limited."""

    allowed: bool
    # Allowed: how long to wait before processing it. Refused: how long until a message is
    # taken again (the next window begins).
    delay_s: float = 0.0
    notify: bool = False  # the first delayed (or refused) message of a schedule


class SenderRateLimiter:
    """``limit`` messages per ``window_s`` per sender, ``backlog_windows`` more windows queued."""

    def __init__(self, limit: int, window_s: float, backlog_windows: int = 2) -> None:
        self.limit = max(1, limit)
        self.window_s = window_s
        self.backlog_windows = max(0, backlog_windows)
        # (channel, sender) -> (when its schedule began, messages admitted since, told bits)
        self._schedules: dict[tuple[str, str], tuple[float, int, int]] = {}

    def admit(self, channel: str, sender: str, now: float) -> Admission:
        key = (channel, sender)
        if len(self._schedules) > 10_000:  # forget senders whose schedule is over
            self._schedules = {
                other: schedule
                for other, schedule in self._schedules.items()
                if not self._over(schedule, now)
            }
        start, admitted, told = self._schedules.get(key, (now, 0, 0))
        if self._over((start, admitted, told), now):
            start, admitted, told = now, 0, 0
        current = math.floor((now - start) / self.window_s) if self.window_s > 0 else 0
        window = max(admitted // self.limit, current)
        if window > current + self.backlog_windows:
            self._schedules[key] = (start, admitted, told | REFUSED)
            reopens = max(0.0, start + (current + 1) * self.window_s - now)
            return Admission(allowed=False, delay_s=reopens, notify=not told & REFUSED)
        self._schedules[key] = (start, admitted + 1, told | (DELAYED if window > current else 0))
        delay = max(0.0, start + window * self.window_s - now)
        return Admission(allowed=True, delay_s=delay, notify=delay > 0 and not told & DELAYED)

    def _over(self, schedule: tuple[float, int, int], now: float) -> bool:
        """Every window the schedule's admitted messages were given has ended."""
        start, admitted, _ = schedule
        windows = math.ceil(admitted / self.limit)
        return now - start >= windows * self.window_s
