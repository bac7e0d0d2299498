"""dspops.core.calendars: bisect-based session lookups over exchange_calendars.

Property tests compare every lookup with an oracle built straight from
exchange_calendars, so a bug in the bisect arithmetic cannot hide behind
hand-picked examples.
"""

from __future__ import annotations

import bisect
import warnings
from datetime import date, datetime, timedelta, timezone

import exchange_calendars
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dspops.core import calendars
from dspops.core.calendars import (
    CalendarRangeError,
    holidays_between,
    is_first_session_of_month,
    is_session,
    next_session,
    previous_session,
    session_offset,
    session_on_or_after,
    session_on_or_before,
    sessions_in_range,
    sessions_until,
    trading_date,
)


def _oracle_sessions(exchange: str) -> list[date]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # pandas 3.1 vs exchange_calendars
        cal = exchange_calendars.get_calendar(exchange, start="2003-01-01", end="2041-12-31")
    return [ts.date() for ts in cal.sessions]


ORACLE = {ex: _oracle_sessions(ex) for ex in ("XNYS", "XCBF")}
ORACLE_SETS = {ex: set(s) for ex, s in ORACLE.items()}

# Strictly inside the window so that previous/next answers exist.
inner_days = st.dates(min_value=date(2003, 1, 3), max_value=date(2041, 12, 30))
exchanges = st.sampled_from(["XNYS", "XCBF"])


# --- examples ---------------------------------------------------------------


def test_juneteenth_2026_is_not_an_nyse_session():
    assert is_session(date(2026, 6, 19)) is False
    assert is_session(date(2026, 6, 18)) is True


def test_good_friday_2026_is_not_an_nyse_session():
    assert is_session(date(2026, 4, 3)) is False
    assert is_session(date(2026, 4, 2)) is True


def test_juneteenth_and_good_friday_2026_are_not_cfe_sessions_either():
    assert is_session(date(2026, 6, 19), exchange="XCBF") is False
    assert is_session(date(2026, 4, 3), exchange="XCBF") is False


def test_previous_session_of_saturday_2026_01_10_is_friday_2026_01_09():
    assert previous_session(date(2026, 1, 10)) == date(2026, 1, 9)


def test_previous_session_of_a_session_is_the_session_before_it():
    assert previous_session(date(2026, 1, 9)) == date(2026, 1, 8)


def test_next_session_skips_the_weekend_and_martin_luther_king_day():
    assert next_session(date(2026, 1, 16)) == date(2026, 1, 20)


def test_session_on_or_before_returns_a_session_itself_and_steps_back_over_a_holiday():
    assert session_on_or_before(date(2026, 6, 18)) == date(2026, 6, 18)
    assert session_on_or_before(date(2026, 6, 21)) == date(2026, 6, 18)


def test_session_on_or_after_returns_a_session_itself_and_steps_forward_over_a_holiday():
    assert session_on_or_after(date(2026, 6, 22)) == date(2026, 6, 22)
    assert session_on_or_after(date(2026, 6, 19)) == date(2026, 6, 22)


def test_sessions_in_range_is_inclusive_and_skips_holidays():
    assert sessions_in_range(date(2026, 1, 16), date(2026, 1, 20)) == [
        date(2026, 1, 16),
        date(2026, 1, 20),
    ]


def test_sessions_in_range_is_empty_when_end_precedes_start():
    assert sessions_in_range(date(2026, 1, 20), date(2026, 1, 16)) == []


def test_session_offset_counts_back_over_martin_luther_king_day():
    # The Jan 2026 VX settles on 01-21; five sessions earlier skips MLK Day (01-19).
    assert session_offset(date(2026, 1, 21), -5) == date(2026, 1, 13)


def test_session_offset_counts_forward_and_zero_returns_the_day():
    assert session_offset(date(2026, 1, 16), 1) == date(2026, 1, 20)
    assert session_offset(date(2026, 1, 16), 0) == date(2026, 1, 16)


def test_session_offset_refuses_a_day_that_is_not_a_session():
    with pytest.raises(ValueError, match="2026-01-10 .*Saturday.* is not a XNYS session"):
        session_offset(date(2026, 1, 10), -1)


def test_sessions_until_friday_to_monday_is_one():
    assert sessions_until(date(2026, 1, 9), date(2026, 1, 12)) == 1


def test_sessions_until_the_same_day_is_zero():
    assert sessions_until(date(2026, 1, 12), date(2026, 1, 12)) == 0


def test_sessions_until_over_a_long_weekend_counts_only_sessions():
    assert sessions_until(date(2026, 1, 16), date(2026, 1, 20)) == 1


def test_sessions_until_a_past_day_is_negative():
    assert sessions_until(date(2026, 1, 12), date(2026, 1, 9)) == -1
    assert sessions_until(date(2026, 1, 20), date(2026, 1, 13)) == -4


def test_sessions_until_from_a_saturday_to_monday_is_one():
    assert sessions_until(date(2026, 1, 10), date(2026, 1, 12)) == 1


def test_first_session_of_february_2026_is_monday_the_2nd():
    assert is_first_session_of_month(date(2026, 2, 2)) is True
    assert is_first_session_of_month(date(2026, 2, 3)) is False
    assert is_first_session_of_month(date(2026, 2, 1)) is False


def test_first_session_of_january_2026_is_the_2nd_because_new_year_is_a_holiday():
    assert is_first_session_of_month(date(2026, 1, 1)) is False
    assert is_first_session_of_month(date(2026, 1, 2)) is True


def test_holidays_between_lists_the_2026_nyse_weekday_holidays():
    assert holidays_between(date(2026, 1, 1), date(2026, 12, 31)) == [
        date(2026, 1, 1),
        date(2026, 1, 19),
        date(2026, 2, 16),
        date(2026, 4, 3),
        date(2026, 5, 25),
        date(2026, 6, 19),
        date(2026, 7, 3),
        date(2026, 9, 7),
        date(2026, 11, 26),
        date(2026, 12, 25),
    ]


def test_holidays_between_includes_ad_hoc_closures():
    assert holidays_between(date(2025, 1, 6), date(2025, 1, 10)) == [date(2025, 1, 9)]


def test_trading_date_is_the_new_york_date_of_a_utc_moment():
    # 03:00 UTC on the 10th is still the evening of the 9th in New York (EST, -5).
    assert trading_date(datetime(2026, 1, 10, 3, 0, tzinfo=timezone.utc)) == date(2026, 1, 9)


def test_trading_date_follows_daylight_saving_time():
    # EDT is -4: 03:59 UTC is 23:59 the previous day, 04:00 UTC is midnight.
    assert trading_date(datetime(2026, 7, 1, 3, 59, tzinfo=timezone.utc)) == date(2026, 6, 30)
    assert trading_date(datetime(2026, 7, 1, 4, 0, tzinfo=timezone.utc)) == date(2026, 7, 1)


def test_trading_date_refuses_a_naive_datetime():
    with pytest.raises(ValueError, match="aware"):
        trading_date(datetime(2026, 1, 10, 3, 0))


def test_trading_date_refuses_a_plain_date():
    with pytest.raises(TypeError):
        trading_date(date(2026, 1, 10))  # type: ignore[arg-type]


# --- errors -----------------------------------------------------------------


@pytest.mark.parametrize("day", [date(2002, 12, 31), date(2042, 1, 2), date(1990, 6, 1)])
def test_dates_outside_the_loaded_window_raise_calendar_range_error(day):
    with pytest.raises(CalendarRangeError, match="outside the loaded exchange calendar"):
        is_session(day)


def test_calendar_range_error_is_a_value_error():
    assert issubclass(CalendarRangeError, ValueError)


def test_lookups_that_would_leave_the_window_raise_calendar_range_error():
    with pytest.raises(CalendarRangeError):
        previous_session(date(2003, 1, 2))
    with pytest.raises(CalendarRangeError):
        next_session(date(2041, 12, 31))
    with pytest.raises(CalendarRangeError):
        session_offset(date(2041, 12, 31), 1)
    with pytest.raises(CalendarRangeError):
        session_offset(date(2003, 1, 2), -1)


def test_range_functions_check_both_bounds():
    with pytest.raises(CalendarRangeError, match="end 2042-01-01"):
        sessions_in_range(date(2041, 12, 1), date(2042, 1, 1))
    with pytest.raises(CalendarRangeError, match="start 2002-12-01"):
        sessions_until(date(2002, 12, 1), date(2003, 2, 1))
    with pytest.raises(CalendarRangeError):
        holidays_between(date(2041, 12, 1), date(2042, 1, 31))


def test_an_unsupported_exchange_is_refused_with_the_supported_list():
    with pytest.raises(ValueError, match="Unsupported exchange 'XLON'.*XNYS, XCBF"):
        is_session(date(2026, 1, 9), exchange="XLON")


def test_a_datetime_is_refused_where_a_date_is_expected():
    with pytest.raises(TypeError, match="trading_date"):
        is_session(datetime(2026, 1, 9, 12, tzinfo=timezone.utc))  # type: ignore[arg-type]


def test_the_window_edges_are_loaded():
    assert is_session(date(2003, 1, 2)) is True
    assert is_session(date(2041, 12, 31)) is True
    assert is_first_session_of_month(date(2003, 1, 2)) is True


# --- properties against exchange_calendars ------------------------------------


@settings(max_examples=300, deadline=None)
@given(day=inner_days, exchange=exchanges)
def test_is_session_agrees_with_exchange_calendars(day, exchange):
    assert is_session(day, exchange=exchange) == (day in ORACLE_SETS[exchange])


@settings(max_examples=300, deadline=None)
@given(day=inner_days, exchange=exchanges)
def test_neighbouring_sessions_agree_with_exchange_calendars(day, exchange):
    sessions = ORACLE[exchange]
    before = [s for s in sessions[max(0, bisect.bisect_left(sessions, day) - 5) :] if s < day]
    after = [s for s in sessions[bisect.bisect_left(sessions, day) :][:5] if s > day]
    assert previous_session(day, exchange=exchange) == before[-1]
    assert next_session(day, exchange=exchange) == after[0]
    on_or_before = day if day in ORACLE_SETS[exchange] else before[-1]
    on_or_after = day if day in ORACLE_SETS[exchange] else after[0]
    assert session_on_or_before(day, exchange=exchange) == on_or_before
    assert session_on_or_after(day, exchange=exchange) == on_or_after


@settings(max_examples=200, deadline=None)
@given(start=inner_days, span=st.integers(-60, 60), exchange=exchanges)
def test_sessions_until_counts_sessions_in_the_half_open_interval(start, span, exchange):
    end = min(max(start + timedelta(days=span), calendars.CALENDAR_START), calendars.CALENDAR_END)
    if end >= start:
        expected = sum(1 for s in ORACLE[exchange] if start < s <= end)
    else:
        expected = -sum(1 for s in ORACLE[exchange] if end < s <= start)
    assert sessions_until(start, end, exchange=exchange) == expected


@settings(max_examples=200, deadline=None)
@given(start=inner_days, span=st.integers(0, 40), exchange=exchanges)
def test_sessions_in_range_and_holidays_partition_the_weekdays(start, span, exchange):
    end = min(start + timedelta(days=span), calendars.CALENDAR_END)
    sessions = sessions_in_range(start, end, exchange=exchange)
    holidays = holidays_between(start, end, exchange=exchange)
    weekdays = [
        start + timedelta(days=i)
        for i in range((end - start).days + 1)
        if (start + timedelta(days=i)).weekday() < 5
    ]
    assert sessions == [s for s in ORACLE[exchange] if start <= s <= end]
    assert sorted(sessions + holidays) == weekdays


@settings(max_examples=200, deadline=None)
@given(day=inner_days, n=st.integers(-30, 30), exchange=exchanges)
def test_session_offset_moves_exactly_n_sessions(day, n, exchange):
    sessions = ORACLE[exchange]
    i = min(bisect.bisect_left(sessions, day), len(sessions) - 1)
    session = sessions[i]
    if not 0 <= i + n < len(sessions):
        with pytest.raises(CalendarRangeError):
            session_offset(session, n, exchange=exchange)
        return
    target = session_offset(session, n, exchange=exchange)
    assert target == sessions[i + n]
    assert sessions_until(session, target, exchange=exchange) == n


@settings(max_examples=200, deadline=None)
@given(day=inner_days)
def test_first_session_of_month_is_the_earliest_session_in_its_month(day):
    in_month = [s for s in ORACLE["XNYS"] if (s.year, s.month) == (day.year, day.month)]
    assert is_first_session_of_month(day) == (day == in_month[0])
