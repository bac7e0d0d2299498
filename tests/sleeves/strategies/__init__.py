"""Tests of the pure strategy modules, and a small stand-in trading calendar for them.

The strategies never import a calendar: they take ``sessions_between``. These tests use a
weekday calendar with an explicit holiday list, so every count below can be checked by hand.
"""

from datetime import date, timedelta

# Two real NYSE holidays that fall inside the test weeks.
HOLIDAYS = frozenset({date(2026, 1, 19), date(2026, 2, 16)})  # MLK Day, Presidents' Day


def is_session(day: date) -> bool:
    return day.weekday() < 5 and day not in HOLIDAYS


def sessions_between(start: date, end: date) -> int:
    """Sessions s with start < s <= end (0 when end <= start)."""
    count, day = 0, start + timedelta(days=1)
    while day <= end:
        count += is_session(day)
        day += timedelta(days=1)
    return count


def sessions_from(start: date, count: int) -> list[date]:
    """``count`` consecutive sessions, the first on or after ``start``."""
    days, day = [], start
    while len(days) < count:
        if is_session(day):
            days.append(day)
        day += timedelta(days=1)
    return days
