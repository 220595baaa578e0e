"""Calendar days in the configured time zone and their UTC bounds."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone, tzinfo

from misybot.settings import get_settings


def local_zone() -> tzinfo:
    """The zone in which "today" and report dates are meant (``MISYBOT_TIMEZONE``)."""
    return get_settings().timezone


def today(zone: tzinfo | None = None) -> date:
    """Today's date in ``zone`` (default: the configured zone)."""
    return datetime.now(zone or local_zone()).date()


def day_start(day: date, zone: tzinfo | None = None) -> datetime:
    """The UTC instant at which ``day`` begins in ``zone``."""
    return datetime.combine(day, time.min, tzinfo=zone or local_zone()).astimezone(timezone.utc)


def days_bounds(start: date, end: date, zone: tzinfo | None = None) -> tuple[datetime, datetime]:
    """UTC ``[from, to)`` covering the local days ``start`` … ``end`` inclusive."""
    return day_start(start, zone), day_start(end + timedelta(days=1), zone)


def local_date(moment: datetime, zone: tzinfo | None = None) -> date:
    """The local calendar day of a UTC instant."""
    return moment.astimezone(zone or local_zone()).date()
