"""Times of day as people write them, and what they mean in a company's zone."""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from misybot.notify.times import local_instant, minutes_in, next_local, quiet_span, quiet_until

LISBON = ZoneInfo("Europe/Lisbon")
TOKYO = ZoneInfo("Asia/Tokyo")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("send me the daily digest at 7", [420]),
        ("digest at 7am", [420]),
        ("digest at 6:30", [390]),
        ("daily recap at 18:00", [1080]),
        ("at 5pm", [1020]),
        ("at 12am", [0]),
        ("at noon", [720]),
        ("at 19h", [1140]),
        ("at 7.45", [465]),
        ("quiet hours 22:00 to 07:00", [1320, 420]),
        ("don't message me between 10pm and 6am", [1320, 360]),
        ("set do not disturb 22-7", [1320, 420]),
        ("received 5 units of WID-220", []),  # a bare number is not a time
        ("at 25:00", []),
        ("at 13pm", []),
    ],
)
def test_times_of_day_are_read_as_people_write_them(text, expected):
    assert minutes_in(text) == expected


def test_quiet_hours_need_two_different_times():
    assert quiet_span("quiet hours 22:00 to 07:00") == (1320, 420)
    assert quiet_span("quiet hours please") is None
    assert quiet_span("quiet from 7 to 7") is None


def test_the_next_local_time_is_in_the_companys_zone():
    now = datetime(2026, 12, 2, 20, 0, tzinfo=timezone.utc)  # 05:00 on the 3rd in Tokyo
    assert next_local(420, TOKYO, now) == datetime(2026, 12, 2, 22, 0, tzinfo=timezone.utc)
    assert next_local(420, LISBON, now) == datetime(2026, 12, 3, 7, 0, tzinfo=timezone.utc)


def test_seven_stays_seven_across_a_dst_change():
    # Lisbon goes from UTC+1 to UTC+0 on 2026-10-25.
    before = datetime(2026, 10, 24, 8, 0, tzinfo=timezone.utc)
    first = next_local(420, LISBON, before)
    second = next_local(420, LISBON, first)
    assert first == datetime(2026, 10, 25, 7, 0, tzinfo=timezone.utc)
    assert second == datetime(2026, 10, 26, 7, 0, tzinfo=timezone.utc)
    # A wall time the spring change skips (01:30 on 2026-03-29) is taken an hour later.
    skipped = local_instant(datetime(2026, 3, 29).date(), 90, LISBON)
    assert skipped.astimezone(LISBON).hour == 2


def test_quiet_hours_over_midnight_end_the_next_morning():
    late = datetime(2026, 12, 2, 23, 30, tzinfo=timezone.utc)  # 23:30 in Lisbon
    assert quiet_until(1320, 420, LISBON, late) == datetime(2026, 12, 3, 7, 0, tzinfo=timezone.utc)
    noon = datetime(2026, 12, 2, 12, 0, tzinfo=timezone.utc)
    assert quiet_until(1320, 420, LISBON, noon) is None
    assert quiet_until(None, None, LISBON, late) is None
    assert quiet_until(540, 1020, LISBON, noon) == datetime(2026, 12, 2, 17, 0, tzinfo=timezone.utc)
