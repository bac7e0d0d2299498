"""dspops.core.vx: the VX/VXM contract calendar (DECISIONS.md §2).

The property tests check the rule against an oracle built straight from
exchange_calendars' XCBF sessions, independent of dspops.core.calendars.
"""

from __future__ import annotations

import bisect
import calendar as stdlib_calendar
import warnings
from datetime import date, datetime, timedelta, timezone

import exchange_calendars
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dspops.core.vx import (
    MONTH_CODES,
    ContractDates,
    ContractMonth,
    contract_dates,
    front_contracts,
    local_symbol,
    month_code,
    month_from_code,
    parse_local_symbol,
    roll_by,
    roll_plan,
    settlement_date,
)

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # pandas 3.1 vs exchange_calendars
    _XCBF = exchange_calendars.get_calendar("XCBF", start="2003-01-01", end="2041-12-31")
CFE_SESSIONS: list[date] = [ts.date() for ts in _XCBF.sessions]
CFE_SET = set(CFE_SESSIONS)

contract_months = st.builds(ContractMonth, st.integers(2004, 2040), st.integers(1, 12))


def _third_friday(year: int, month: int) -> date:
    fridays = [w[stdlib_calendar.FRIDAY] for w in stdlib_calendar.monthcalendar(year, month)]
    return date(year, month, [d for d in fridays if d][2])


def _next_month(cm: ContractMonth) -> tuple[int, int]:
    return (cm.year + 1, 1) if cm.month == 12 else (cm.year, cm.month + 1)


def _latest_session_on_or_before(day: date) -> date:
    return CFE_SESSIONS[bisect.bisect_right(CFE_SESSIONS, day) - 1]


# --- month codes ----------------------------------------------------------------


def test_month_codes_run_from_f_for_january_to_z_for_december():
    assert MONTH_CODES == "FGHJKMNQUVXZ"
    assert month_code(1) == "F"
    assert month_code(2) == "G"
    assert month_code(12) == "Z"


def test_month_code_and_month_from_code_round_trip_for_every_month():
    assert [month_from_code(month_code(m)) for m in range(1, 13)] == list(range(1, 13))


def test_month_from_code_accepts_lower_case():
    assert month_from_code("z") == 12


@pytest.mark.parametrize("bad", ["A", "", "FG", "1", None, 5])
def test_month_from_code_rejects_anything_but_one_month_letter(bad):
    with pytest.raises(ValueError, match="not a futures month code"):
        month_from_code(bad)


@pytest.mark.parametrize("bad", [0, 13, -1, True, 1.0])
def test_month_code_rejects_anything_but_an_int_from_1_to_12(bad):
    with pytest.raises(ValueError, match="1 to 12"):
        month_code(bad)


# --- ContractMonth ----------------------------------------------------------------


def test_contract_month_exposes_code_label_first_day_and_str():
    cm = ContractMonth(2026, 2)
    assert cm.code == "G"
    assert cm.label == "2026-02"
    assert str(cm) == "2026-02"
    assert cm.first_day == date(2026, 2, 1)


@pytest.mark.parametrize(
    ("year", "month", "message"),
    [
        (2026, 13, "1..12"),
        (2026, 0, "1..12"),
        (2003, 12, "2003-12 is outside the supported range 2004-01 .. 2040-12"),
        (2041, 1, "2041-01 is outside the supported range"),
    ],
)
def test_contract_month_rejects_impossible_or_unsupported_months(year, month, message):
    with pytest.raises(ValueError, match=message):
        ContractMonth(year, month)


def test_contract_month_rejects_non_integer_fields():
    with pytest.raises(TypeError, match="year must be an int"):
        ContractMonth("2026", 2)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="month must be an int"):
        ContractMonth(2026, 2.0)  # type: ignore[arg-type]


def test_contract_month_is_frozen():
    with pytest.raises(AttributeError):
        ContractMonth(2026, 2).month = 3  # type: ignore[misc]


def test_shift_crosses_year_boundaries_in_both_directions():
    assert ContractMonth(2026, 11).shift(3) == ContractMonth(2027, 2)
    assert ContractMonth(2026, 2).shift(-14) == ContractMonth(2024, 12)
    assert ContractMonth(2026, 2).shift(0) == ContractMonth(2026, 2)


def test_shift_past_the_supported_range_raises():
    with pytest.raises(ValueError, match="2041-01"):
        ContractMonth(2040, 12).shift(1)
    with pytest.raises(ValueError, match="2003-12"):
        ContractMonth(2004, 1).shift(-1)


def test_contract_months_sort_chronologically():
    months = [ContractMonth(2027, 1), ContractMonth(2026, 12), ContractMonth(2026, 2)]
    assert sorted(months) == [ContractMonth(2026, 2), ContractMonth(2026, 12), ContractMonth(2027, 1)]


def test_from_label_parses_year_dash_month():
    assert ContractMonth.from_label("2026-02") == ContractMonth(2026, 2)


@pytest.mark.parametrize("bad", ["2026-2", "26-02", "2026/02", "2026-02-01", " 2026-02", "", None])
def test_from_label_rejects_anything_but_yyyy_mm(bad):
    with pytest.raises(ValueError, match="YYYY-MM"):
        ContractMonth.from_label(bad)


def test_from_label_rejects_month_13_through_validation():
    with pytest.raises(ValueError, match="1..12"):
        ContractMonth.from_label("2026-13")


def test_from_date_gives_the_month_containing_the_day():
    assert ContractMonth.from_date(date(2026, 11, 24)) == ContractMonth(2026, 11)


def test_local_symbol_is_root_plus_code_plus_last_year_digit():
    assert ContractMonth(2026, 2).local_symbol() == "VXMG6"
    assert local_symbol(ContractMonth(2026, 2)) == "VXMG6"
    assert local_symbol(ContractMonth(2030, 12), root="VX") == "VXZ0"


# --- settlement -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("year", "month", "expected"),
    [
        # DECISIONS.md §2 and the project brief.
        (2026, 1, date(2026, 1, 21)),
        (2026, 2, date(2026, 2, 18)),
        (2026, 5, date(2026, 5, 19)),
        (2026, 7, date(2026, 7, 22)),
        (2027, 5, date(2027, 5, 18)),
        (2027, 12, date(2027, 12, 22)),
        (2022, 3, date(2022, 3, 15)),
        (2025, 3, date(2025, 3, 18)),
        (2024, 6, date(2024, 6, 18)),
        # Published historical expirations (Good Friday on the SPX expiry in 2008 and 2014).
        (2008, 2, date(2008, 2, 19)),
        (2014, 3, date(2014, 3, 18)),
        (2013, 1, date(2013, 1, 16)),
        (2016, 12, date(2016, 12, 21)),
        (2021, 1, date(2021, 1, 20)),
    ],
)
def test_settlement_matches_known_expiration_dates(year, month, expected):
    assert settlement_date(ContractMonth(year, month)) == expected


def test_settlement_of_february_2026_is_the_18th_not_the_19th():
    assert settlement_date(ContractMonth(2026, 2)) == date(2026, 2, 18)


def test_settlement_moves_to_tuesday_when_juneteenth_falls_on_friday():
    settles = settlement_date(ContractMonth(2026, 5))
    assert settles == date(2026, 5, 19)
    assert settles.weekday() == 1


def test_settlement_moves_to_tuesday_when_observed_juneteenth_falls_on_the_third_friday():
    # Juneteenth 2027 is a Saturday, observed on Friday 2027-06-18, the June SPX expiry.
    assert settlement_date(ContractMonth(2027, 5)) == date(2027, 5, 18)


@pytest.mark.parametrize(("year", "expected"), [(2022, date(2022, 3, 15)), (2025, date(2025, 3, 18))])
def test_settlement_moves_to_tuesday_when_good_friday_is_the_third_friday(year, expected):
    assert settlement_date(ContractMonth(year, 3)) == expected


def test_settlement_moves_back_a_day_when_the_wednesday_itself_is_juneteenth():
    assert settlement_date(ContractMonth(2024, 6)) == date(2024, 6, 18)


@pytest.mark.parametrize(
    "holiday",
    [date(2026, 6, 19), date(2027, 6, 18), date(2024, 6, 19), date(2022, 4, 15), date(2025, 4, 18)],
)
def test_cfe_calendar_closes_on_the_holidays_the_rule_depends_on(holiday):
    assert holiday not in CFE_SET


def test_settlement_needs_a_contract_month():
    with pytest.raises(TypeError, match="ContractMonth"):
        settlement_date("2026-02")  # type: ignore[arg-type]


def test_the_last_supported_contract_settles_without_leaving_the_calendar():
    # Its third Friday is in January 2041, past ContractMonth's range.
    assert settlement_date(ContractMonth(2040, 12)) == date(2040, 12, 19)


# --- roll-by ------------------------------------------------------------------------


def test_january_2026_rolls_by_the_13th_because_mlk_day_is_not_a_session():
    assert roll_by(ContractMonth(2026, 1)) == date(2026, 1, 13)


def test_february_2026_rolls_by_the_10th_because_presidents_day_is_not_a_session():
    assert roll_by(ContractMonth(2026, 2)) == date(2026, 2, 10)


def test_roll_by_honours_a_different_session_count():
    assert roll_by(ContractMonth(2026, 1), sessions_before=1) == date(2026, 1, 20)
    assert roll_by(ContractMonth(2026, 1), sessions_before=3) == date(2026, 1, 15)


@pytest.mark.parametrize("bad", [0, -1, True, 2.5])
def test_roll_by_rejects_a_session_count_below_one_or_not_an_int(bad):
    with pytest.raises(ValueError, match="sessions_before"):
        roll_by(ContractMonth(2026, 1), sessions_before=bad)


def test_contract_dates_bundles_settlement_and_roll_by():
    dates = contract_dates(ContractMonth(2026, 12))
    assert dates == ContractDates(
        contract=ContractMonth(2026, 12),
        settlement_date=date(2026, 12, 16),
        roll_by=date(2026, 12, 9),
    )


def test_contract_dates_passes_the_session_count_through():
    assert contract_dates(ContractMonth(2026, 1), sessions_before=1).roll_by == date(2026, 1, 20)


# --- local symbols ------------------------------------------------------------------


def test_parse_local_symbol_reads_a_vxm_symbol():
    assert parse_local_symbol("VXMG6", near=date(2026, 1, 5)) == ContractMonth(2026, 2)


def test_parse_local_symbol_reads_a_vx_symbol_with_root_vx():
    assert parse_local_symbol("VXG6", near=date(2026, 1, 5), root="VX") == ContractMonth(2026, 2)


def test_parse_local_symbol_ignores_case_and_surrounding_spaces():
    assert parse_local_symbol(" vxmz6 ", near=date(2026, 1, 5)) == ContractMonth(2026, 12)


def test_parse_local_symbol_accepts_a_datetime_as_near():
    near = datetime(2026, 1, 5, 15, tzinfo=timezone.utc)
    assert parse_local_symbol("VXMG6", near=near) == ContractMonth(2026, 2)


def test_parse_local_symbol_resolves_the_year_digit_to_the_nearest_decade_not_a_fixed_one():
    # Dec 2019 settles 2019-12-18, Dec 2029 settles 2029-12-19.
    assert parse_local_symbol("VXMZ9", near=date(2024, 6, 1)) == ContractMonth(2019, 12)
    assert parse_local_symbol("VXMZ9", near=date(2025, 6, 1)) == ContractMonth(2029, 12)
    assert parse_local_symbol("VXMF0", near=date(2035, 6, 1)) == ContractMonth(2040, 1)


@pytest.mark.parametrize(
    ("symbol", "root"),
    [
        ("VXMG26", "VXM"),
        ("VXMA6", "VXM"),
        ("VXM6", "VXM"),
        ("VXG6", "VXM"),
        ("VXMG6", "VX"),
        ("ESG6", "VXM"),
        ("", "VXM"),
        ("VXM G6", "VXM"),
    ],
)
def test_parse_local_symbol_rejects_malformed_symbols(symbol, root):
    with pytest.raises(ValueError, match="local symbol"):
        parse_local_symbol(symbol, near=date(2026, 1, 5), root=root)


def test_parse_local_symbol_rejects_a_non_string():
    with pytest.raises(ValueError, match="must be a string"):
        parse_local_symbol(None, near=date(2026, 1, 5))  # type: ignore[arg-type]


def test_parse_local_symbol_explains_when_no_supported_year_fits():
    with pytest.raises(ValueError, match="names no contract in 2004..2040"):
        parse_local_symbol("VXMG6", near=date(1985, 1, 1))


@settings(max_examples=300, deadline=None)
@given(cm=contract_months, offset=st.integers(-4 * 365, 4 * 365), root=st.sampled_from(["VXM", "VX"]))
def test_local_symbol_round_trips_with_near_anywhere_within_four_years(cm, offset, root):
    near = settlement_date(cm) + timedelta(days=offset)
    assert parse_local_symbol(local_symbol(cm, root=root), near=near, root=root) == cm


# --- front contracts and roll plan --------------------------------------------------------


def test_front_contracts_late_in_november_2026_start_with_december():
    front, second, third = front_contracts(date(2026, 11, 24))
    assert (front.local_symbol(), second.local_symbol(), third.local_symbol()) == (
        "VXMZ6",
        "VXMF7",
        "VXMG7",
    )
    assert settlement_date(front) == date(2026, 12, 16)
    assert roll_by(front) == date(2026, 12, 9)


def test_front_contract_on_the_day_before_roll_by_is_still_january_2026():
    assert front_contracts(date(2026, 1, 12)) == (
        ContractMonth(2026, 1),
        ContractMonth(2026, 2),
        ContractMonth(2026, 3),
    )


def test_front_contract_on_the_roll_by_day_is_already_the_next_contract():
    assert front_contracts(date(2026, 1, 13))[0] == ContractMonth(2026, 2)


def test_front_contracts_on_a_weekend_match_the_preceding_friday():
    assert front_contracts(date(2026, 1, 10)) == front_contracts(date(2026, 1, 9))


def test_front_contracts_use_the_given_roll_session_count():
    # With a 1-session roll the Jan 2026 contract is held until 01-20.
    assert front_contracts(date(2026, 1, 19), roll_sessions=1)[0] == ContractMonth(2026, 1)
    assert front_contracts(date(2026, 1, 19))[0] == ContractMonth(2026, 2)


def test_front_contracts_refuse_a_datetime():
    with pytest.raises(TypeError, match="trading_date"):
        front_contracts(datetime(2026, 1, 12, 15, tzinfo=timezone.utc))  # type: ignore[arg-type]


def test_front_contracts_past_the_supported_range_raise():
    with pytest.raises(ValueError, match="2040-12"):
        front_contracts(date(2040, 11, 20))
    with pytest.raises(ValueError, match="2004..2040"):
        front_contracts(date(2003, 12, 1))


def test_roll_plan_closes_the_front_and_opens_the_next_two():
    assert roll_plan(ContractMonth(2026, 12)) == (
        ContractMonth(2026, 12),
        ContractMonth(2027, 1),
        ContractMonth(2027, 2),
    )


# --- properties over 2004-2040 ----------------------------------------------------------


@settings(max_examples=444, deadline=None)
@given(cm=contract_months)
def test_settlement_is_a_cfe_session_inside_its_contract_month(cm):
    settles = settlement_date(cm)
    assert settles in CFE_SET
    assert (settles.year, settles.month) == (cm.year, cm.month)


@settings(max_examples=444, deadline=None)
@given(cm=contract_months)
def test_settlement_is_a_wednesday_or_a_tuesday_forced_by_a_holiday(cm):
    settles = settlement_date(cm)
    assert settles.weekday() in (1, 2), f"{cm} settles on a {settles:%A}"
    if settles.weekday() == 1:
        friday = _third_friday(*_next_month(cm))
        wednesday = settles + timedelta(days=1)
        assert friday not in CFE_SET or wednesday not in CFE_SET, (
            f"{cm} settles on Tuesday {settles} but neither {friday} nor {wednesday} is a holiday"
        )


@settings(max_examples=444, deadline=None)
@given(cm=contract_months)
def test_settlement_is_30_days_before_the_spx_expiry_moved_back_to_a_session(cm):
    friday = _third_friday(*_next_month(cm))
    spx_expiry = friday if friday in CFE_SET else _latest_session_on_or_before(friday - timedelta(days=1))
    target = spx_expiry - timedelta(days=30)
    settles = settlement_date(cm)
    assert settles <= target
    # Moved back only as far as the latest session on or before the target.
    assert not [s for s in CFE_SESSIONS if settles < s <= target]


@settings(max_examples=300, deadline=None)
@given(cm=contract_months, n=st.integers(1, 10))
def test_roll_by_is_exactly_n_cfe_sessions_before_settlement(cm, n):
    settles = settlement_date(cm)
    rolls = roll_by(cm, sessions_before=n)
    assert rolls in CFE_SET
    assert len([s for s in CFE_SESSIONS if rolls < s <= settles]) == n


@settings(max_examples=300, deadline=None)
@given(day=st.dates(min_value=date(2004, 1, 1), max_value=date(2040, 10, 1)), n=st.integers(1, 10))
def test_front_contract_is_the_earliest_whose_roll_by_is_after_the_day(day, n):
    front, second, third = front_contracts(day, roll_sessions=n)
    assert roll_by(front, sessions_before=n) > day
    if front != ContractMonth(2004, 1):
        assert roll_by(front.shift(-1), sessions_before=n) <= day
    assert (second, third) == (front.shift(1), front.shift(2))
