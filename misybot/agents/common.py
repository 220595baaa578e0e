"""Small pieces shared by the agents."""

from __future__ import annotations

import time
from datetime import date

from misybot import clock
from misybot.errors import InvalidInput

MAX_QUANTITY = 1_000_000  # larger numbers are almost always a mis-parsed message


def as_of_or_today(as_of: date | None) -> date:
    """``as_of``, or today in the configured zone."""
    return as_of if as_of is not None else clock.today()


def elapsed_ms(started: float) -> float:
    """Milliseconds since ``time.perf_counter()`` returned ``started``."""
    return round((time.perf_counter() - started) * 1000, 2)


def whole_quantity(value: int | float | str, field: str = "quantity", minimum: int = 1) -> int:
    """``value`` as a whole number of units between ``minimum`` and ``MAX_QUANTITY``."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidInput(field, f"{value!r} is not a number") from None
    if number != int(number):
        raise InvalidInput(field, f"{value} is not a whole number of units")
    number = int(number)
    if number < minimum:
        raise InvalidInput(field, f"must be at least {minimum}")
    if number > MAX_QUANTITY:
        raise InvalidInput(field, f"{number} is more than {MAX_QUANTITY:,}; check the number")
    return number


def check_range(start: date, end: date) -> None:
    """Refuse a date range that ends before it starts."""
    if end < start:
        raise InvalidInput("date_range", f"ends ({end}) before it starts ({start})")
