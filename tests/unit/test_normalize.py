"""The entity normaliser: dates relative to the message time, numbers, SKUs."""

from __future__ import annotations

import calendar
from datetime import date, datetime, timedelta, timezone

import pytest

from misybot.nlu.normalize import EntityNormalizer, parse_number


@pytest.fixture(scope="module")
def normalizer() -> EntityNormalizer:
    return EntityNormalizer()


# Wednesday 2026-03-11: mid-week, mid-month, first quarter — every boundary is interesting.
WEDNESDAY = date(2026, 3, 11)
MONDAY_OF_WEEK = WEDNESDAY - timedelta(days=WEDNESDAY.weekday())


def _month_end(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])


@pytest.mark.parametrize(
    ("phrase", "start", "end"),
    [
        ("today", WEDNESDAY, WEDNESDAY),
        ("Yesterday", date(2026, 3, 10), date(2026, 3, 10)),
        ("yday", date(2026, 3, 10), date(2026, 3, 10)),
        ("this week", MONDAY_OF_WEEK, WEDNESDAY),
        ("last week", MONDAY_OF_WEEK - timedelta(days=7), MONDAY_OF_WEEK - timedelta(days=1)),
        ("this month", date(2026, 3, 1), WEDNESDAY),
        ("last month", date(2026, 2, 1), _month_end(2026, 2)),
        ("prev month", date(2026, 2, 1), _month_end(2026, 2)),
        ("last 7 days", WEDNESDAY - timedelta(days=6), WEDNESDAY),
        ("past two weeks", WEDNESDAY - timedelta(days=13), WEDNESDAY),
        ("last 30 days", WEDNESDAY - timedelta(days=29), WEDNESDAY),
        ("since Monday", MONDAY_OF_WEEK, WEDNESDAY),
        ("since wed", WEDNESDAY, WEDNESDAY),
        ("since thursday", date(2026, 3, 5), WEDNESDAY),
        ("last quarter", date(2025, 10, 1), date(2025, 12, 31)),
        ("this quarter", date(2026, 1, 1), WEDNESDAY),
        ("ytd", date(2026, 1, 1), WEDNESDAY),
        ("year to date", date(2026, 1, 1), WEDNESDAY),
        ("last year", date(2025, 1, 1), date(2025, 12, 31)),
        ("q4", date(2025, 10, 1), date(2025, 12, 31)),
        ("Q1", date(2026, 1, 1), WEDNESDAY),
        ("for february", date(2026, 2, 1), _month_end(2026, 2)),
        ("october", date(2025, 10, 1), date(2025, 10, 31)),
        ("since january", date(2026, 1, 1), WEDNESDAY),
        ("past fortnight", WEDNESDAY - timedelta(days=13), WEDNESDAY),
        ("3 days ago", date(2026, 3, 8), date(2026, 3, 8)),
    ],
)
def test_date_phrases_resolve_relative_to_the_message_day(normalizer, phrase, start, end):
    resolved = normalizer.date_range(phrase, WEDNESDAY)
    assert resolved is not None, phrase
    assert (resolved.start, resolved.end) == (start, end)


def test_date_range_accepts_a_datetime_and_exposes_iso_fields(normalizer):
    resolved = normalizer.date_range(
        "last week", datetime(2026, 3, 11, 23, 59, tzinfo=timezone.utc)
    )
    assert resolved.as_entity_fields() == {"start_date": "2026-03-02", "end_date": "2026-03-08"}


def test_last_month_in_january_is_december_of_the_previous_year(normalizer):
    resolved = normalizer.date_range("last month", date(2027, 1, 15))
    assert (resolved.start, resolved.end) == (date(2026, 12, 1), date(2026, 12, 31))


@pytest.mark.parametrize("phrase", ["soon", "whenever", "the blue one", "", "last potato"])
def test_phrases_that_are_not_dates_give_none(normalizer, phrase):
    assert normalizer.date_range(phrase, WEDNESDAY) is None


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("200", 200),
        ("1.2k", 1200),
        ("2K", 2000),
        ("1,500", 1500),
        ("0.5", 0.5),
        ("a dozen", 12),
        ("half a dozen", 6),
        ("two dozen", 24),
        ("fifty", 50),
        ("twenty-five", 25),
        ("two hundred", 200),
        ("a hundred and fifty", 150),
        ("three thousand", 3000),
        ("200 units", 200),
        ("40 pcs", 40),
    ],
)
def test_quantities_become_numbers(text, number):
    assert parse_number(text) == number
    assert type(parse_number(text)) is type(number)


@pytest.mark.parametrize("text", ["lots", "some", "a few", "k", "1.2.3", "twelve bananas"])
def test_text_that_is_not_a_quantity_gives_none(text):
    assert parse_number(text) is None


@pytest.mark.parametrize(
    ("text", "sku"),
    [
        ("wid-220", "WID-220"),
        ("#WID-220", "WID-220"),
        (" ac4410 ", "AC4410"),
        ("blt_108", "BLT-108"),
        ("wid 220", "WID-220"),
    ],
)
def test_skus_are_canonical_upper_case(normalizer, text, sku):
    assert normalizer.sku(text) == sku
