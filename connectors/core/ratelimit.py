"""Per-sender message limits: over the limit a message waits for the next window, never lost.

A sender may have ``limit`` messages processed per ``window_s``. The messages after those wait,
in order, for the windows that follow: at most ``backlog_windows`` of them, so a flood neither
grows a queue without end nor keeps the sender's answers coming for hours. Only what does not fit
there is refused (stored as ``rate_limited``, never processed). The sender is told once per
schedule which of the two happens, truthfully.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from misybot.db.models import SenderRateSchedule

DELAYED, REFUSED = 1, 2  # what a sender was told about, as bits


@dataclass(frozen=True)
class Admission:
    """Whether to process a message and when; whether to tell the sender they are limited."""

    allowed: bool
    # Allowed: how long to wait before processing it. Refused: how long until a message is
    # taken again (the next window begins).
    delay_s: float = 0.0
    notify: bool = False  # the first delayed (or refused) message of a schedule


Schedule = tuple[float, int, int]  # when it began, messages admitted since, told bits


@dataclass(frozen=True)
class Limits:
    """``limit`` messages per ``window_s`` per sender, ``backlog_windows`` more windows queued."""

    limit: int
    window_s: float
    backlog_windows: int = 2

    def decide(self, schedule: Schedule | None, now: float) -> tuple[Admission, Schedule]:
        """The admission of a message at ``now``, and the sender's schedule after it."""
        limit, backlog = max(1, self.limit), max(0, self.backlog_windows)
        start, admitted, told = schedule or (now, 0, 0)
        if self.over((start, admitted, told), now):
            start, admitted, told = now, 0, 0
        current = math.floor((now - start) / self.window_s) if self.window_s > 0 else 0
        window = max(admitted // limit, current)
        if window > current + backlog:
            reopens = max(0.0, start + (current + 1) * self.window_s - now)
            refused = Admission(allowed=False, delay_s=reopens, notify=not told & REFUSED)
            return refused, (start, admitted, told | REFUSED)
        delay = max(0.0, start + window * self.window_s - now)
        admission = Admission(allowed=True, delay_s=delay, notify=delay > 0 and not told & DELAYED)
        return admission, (start, admitted + 1, told | (DELAYED if window > current else 0))

    def over(self, schedule: Schedule, now: float) -> bool:
        """Every window the schedule's admitted messages were given has ended."""
        start, admitted, _ = schedule
        windows = math.ceil(admitted / max(1, self.limit))
        return now - start >= windows * self.window_s


class SenderRateLimiter:
    """``Limits`` kept in this process's memory (one process; see ``StoredRateLimiter``)."""

    def __init__(self, limit: int, window_s: float, backlog_windows: int = 2) -> None:
        self.limits = Limits(limit, window_s, backlog_windows)
        self._schedules: dict[tuple[str, str], Schedule] = {}

    def admit(self, channel: str, sender: str, now: float) -> Admission:
        if len(self._schedules) > 10_000:  # forget senders whose schedule is over
            self._schedules = {
                other: schedule
                for other, schedule in self._schedules.items()
                if not self.limits.over(schedule, now)
            }
        admission, self._schedules[channel, sender] = self.limits.decide(
            self._schedules.get((channel, sender)), now
        )
        return admission


class StoredRateLimiter:
    """``Limits`` kept in the database (``sender_rate_schedules``), so that every replica counts
    a sender's messages together; ``now`` is epoch seconds, every replica's clock."""

    def __init__(self, engine: Engine, limits: Limits) -> None:
        # SQLite: the write lock up front (read-then-write); PostgreSQL: the row's lock.
        self.engine = engine.execution_options(sqlite_begin="BEGIN IMMEDIATE")
        self.limits = limits
        self.postgres = engine.dialect.name == "postgresql"

    def admit_many(
        self, requests: Sequence[tuple[str, str, float]], connection: Connection | None = None
    ) -> list[Admission]:
        """``(transport, sender, now)`` each, in order, in one transaction (``connection``'s,
        when given: it must hold the write lock, ``begin()`` on this limiter's ``engine``)."""
        if connection is None:
            with self.engine.begin() as own:
                return self.admit_many(requests, own)
        return [self._admit(connection, *request) for request in requests]

    def _admit(self, connection: Connection, transport: str, sender: str, now: float) -> Admission:
        table = SenderRateSchedule.__table__
        ours = (table.c.transport == transport) & (table.c.sender == sender)
        query = select(table.c.started_at, table.c.admitted, table.c.told).where(ours)
        if self.postgres:
            query = query.with_for_update()
        row = connection.execute(query).one_or_none()
        if row is None:  # a first message: a row to lock (another replica's may win the race)
            insert = (postgresql.insert if self.postgres else sqlite.insert)(table)
            connection.execute(
                insert.values(
                    transport=transport, sender=sender, started_at=now, admitted=0, told=0
                ).on_conflict_do_nothing()
            )
            row = connection.execute(query).one()
        admission, (start, admitted, told) = self.limits.decide(tuple(row), now)
        connection.execute(
            update(table).where(ours).values(started_at=start, admitted=admitted, told=told)
        )
        return admission

    def forget_finished(self, now: float, older_than_s: float = 86_400.0) -> int:
        """Delete schedules that ended long ago (a sender's next message starts a new one)."""
        table = SenderRateSchedule.__table__
        with self.engine.begin() as connection:
            return connection.execute(
                delete(table).where(table.c.started_at < now - older_than_s)
            ).rowcount
