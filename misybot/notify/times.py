"""Times of day as people write them ("at 7", "6:30pm", "19h", "22-7") and what they mean in a
company's time zone: the next 07:00 there, whether now falls in someone's quiet hours."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAY_MINUTES = 24 * 60

# "7", "07:30", "7.30", "7am", "7 p.m.", "19h", "19h30", "noon", "midnight"
_TIME = re.compile(
    r"(?<![\d:.])(?P<hour>[01]?\d|2[0-3])(?:(?:[:.h])(?P<minute>[0-5]\d))?\s*"
    r"(?P<suffix>a\.?m\.?|p\.?m\.?|h(?![a-z]))?(?![\d:])",
    re.IGNORECASE,
)
_LEADS_TO_TIME = re.compile(r"(\bat|\bfrom|\bto|\bbetween|\buntil|\btill|-|\band)$")
_RANGE_NEXT = re.compile(r"\s*(-|to\b|until\b|till\b)\s*\d")
_NAMED = {"noon": 12 * 60, "midday": 12 * 60, "midnight": 0}
_MAX_TEXT = 200  # a time is in the first words of a command; nothing longer is read


def zone(name: str | None) -> tzinfo:
    """The zone called ``name`` (UTC when unknown or not given)."""
    try:
        return ZoneInfo(name) if name else timezone.utc
    except (ZoneInfoNotFoundError, ValueError):
        return timezone.utc


def minutes_in(text: str) -> list[int]:
    """Every time of day in ``text``, as minutes after midnight, in order. A bare number counts
    only after "at", "from", "to", "between", "until" or "-", or before "-"/"to" and another
    number (so "5 units" is not 05:00)."""
    found: list[tuple[int, int]] = []
    text = text[:_MAX_TEXT]
    for word, minutes in _NAMED.items():
        for match in re.finditer(rf"\b{word}\b", text, re.IGNORECASE):
            found.append((match.start(), minutes))
    for match in _TIME.finditer(text):
        hour = int(match.group("hour"))
        minute = int(match.group("minute") or 0)
        suffix = (match.group("suffix") or "").lower().replace(".", "")
        before = text[: match.start()].rstrip().lower()
        marked = match.group("minute") or suffix
        ranged = _RANGE_NEXT.match(text, match.end())  # "22-7", "10 to 6"
        if not marked and not ranged and not _LEADS_TO_TIME.search(before):
            continue
        if suffix in ("am", "pm") and not 1 <= hour <= 12:
            continue
        if suffix == "pm" and hour != 12:
            hour += 12
        elif suffix == "am" and hour == 12:
            hour = 0
        found.append((match.start(), hour * 60 + minute))
    return [minutes for _, minutes in sorted(found)]


def quiet_span(text: str) -> tuple[int, int] | None:
    """``(from, until)`` of "quiet hours 22:00 to 07:00", "between 10pm and 6am" (None: no two
    times; the reply says the span back, so "10 to 6" read as 10:00 → 06:00 shows)."""
    times = minutes_in(text)
    if len(times) < 2:
        return None
    start, end = times[0], times[1]
    if start == end:
        return None
    return start, end


def clock(minutes: int) -> str:
    """``420`` as ``07:00``."""
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def local_instant(day: date, minutes: int, where: tzinfo) -> datetime:
    """The UTC instant of ``minutes`` after midnight on local ``day`` in ``where``. A time
    skipped by a DST change is taken as the same wall time after the change."""
    wall = datetime.combine(day, time(minutes // 60, minutes % 60), tzinfo=where)
    instant = wall.astimezone(timezone.utc)
    if instant.astimezone(where).replace(tzinfo=None) != wall.replace(tzinfo=None):
        instant = (wall + timedelta(hours=1)).astimezone(timezone.utc)  # in a spring-forward gap
    return instant


def next_local(minutes: int, where: tzinfo, now: datetime) -> datetime:
    """The first instant after ``now`` at which it is ``minutes`` after midnight in ``where``."""
    today = now.astimezone(where).date()
    for offset in range(3):
        candidate = local_instant(today + timedelta(days=offset), minutes, where)
        if candidate > now:
            return candidate
    raise AssertionError("unreachable: some day in three has the time")  # pragma: no cover


def quiet_until(
    quiet_from: int | None, quiet_until: int | None, where: tzinfo, now: datetime
) -> datetime | None:
    """When the quiet hours ``now`` falls in end (None: ``now`` is not in quiet hours)."""
    if quiet_from is None or quiet_until is None or quiet_from == quiet_until:
        return None
    local = now.astimezone(where)
    minute = local.hour * 60 + local.minute
    if quiet_from < quiet_until:
        inside = quiet_from <= minute < quiet_until
    else:  # over midnight: 22:00 → 07:00
        inside = minute >= quiet_from or minute < quiet_until
    if not inside:
        return None
    return next_local(quiet_until, where, now)
