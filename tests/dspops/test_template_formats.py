"""The template filters over the kernel's formats (dspops.core.templatetags.dspops_formats).

Every filter takes whatever a view may hand a template and never raises: absent or non-finite values
read ``missing``; present values it cannot read are shown as the text they are; the output is plain
text, escaped by the template engine.
"""

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from django.template import engines
from django.utils.safestring import SafeData, mark_safe

from dspops.core.formats import MISSING
from dspops.core.templatetags import dspops_formats as f

AWARE = datetime(2026, 1, 12, 21, 22, 15, tzinfo=timezone.utc)  # 16:22:15 in New York (EST)
SUMMER = datetime(2026, 7, 1, 13, 5, tzinfo=timezone.utc)  # 09:05 in New York (EDT): labelled ET all the same
NAIVE = datetime(2026, 1, 12, 16, 22, 15)

NUMBER_FILTERS = [f.price, f.decimal, f.signed, f.points, f.points_signed, f.usd, f.usd_signed, f.quantity,
                  f.quantity_signed, f.percent, f.percent_of_fraction]
TIME_FILTERS = [f.moment, f.moment_seconds, f.clock_time, f.day]
ALL_FILTERS = NUMBER_FILTERS + TIME_FILTERS + [f.sessions]
HOSTILE = ["1e999", "-1e999", "abc", "<script>alert(1)</script>", "1,000", "١٢", "0x10", "1e-999", "2026-13-45",
           Decimal("1e999"), Decimal("-1e-999"), float("inf"), float("nan"), Decimal("NaN"), Decimal("sNaN"),
           "NaN", "Infinity", True, [1, 2], {"a": 1}, object(), datetime(1, 1, 1, tzinfo=timezone.utc),
           datetime(9999, 12, 31, 23, 59, tzinfo=timezone.utc), date.max, timedelta(days=1)]


def render(template: str, **context) -> str:
    return engines["django"].from_string("{% load dspops_formats %}" + template).render(context)


# --- numbers ---

@pytest.mark.parametrize("value", [Decimal("105000.00"), "105000.00", 105000, 105000.0, " 105000 "])
def test_money_reads_a_decimal_an_int_a_float_and_a_string_from_json_alike(value):
    assert f.usd(value) == "$105,000.00"
    assert f.usd_signed(value) == "+$105,000.00"


def test_money_puts_the_sign_before_the_dollar():
    assert f.usd(Decimal("-88")) == f.usd("-88.00") == f.usd_signed("-88.00") == "-$88.00"
    assert f.usd("0.005") == "$0.01" and f.usd("-0.00") == "$0.00"


def test_prices_to_the_tick_keep_only_significant_digits():
    assert f.price("0.650000") == f.price(Decimal("0.650000")) == "0.65"
    assert f.price(Decimal("16.2353")) == "16.2353" and f.price(18) == "18.00" and f.price(0.1) == "0.10"
    assert f.decimal("0.8500") == "0.85" and f.signed("0.28") == "+0.28" and f.signed("-0.4") == "-0.40"
    assert f.points("1.25") == "1.25 pts" and f.points_signed(Decimal("0.4")) == "+0.40 pts"


def test_shares_and_contracts_are_integers():
    assert f.quantity(Decimal("220.0000")) == f.quantity("220.0000") == f.quantity(220) == "220"
    assert f.quantity(Decimal("-1")) == "-1" and f.quantity_signed("13") == "+13" and f.quantity_signed(-2) == "-2"
    assert f.quantity("0.5") == "0.5"  # a fractional quantity keeps its digits rather than being rounded away


def test_percentages_carry_the_sign_and_the_places_asked_for():
    assert f.percent("3.5") == "3.50%" and f.percent(Decimal("-1.234"), 1) == "-1.2%"
    assert f.percent_of_fraction("0.092") == "9.20%" and f.percent_of_fraction(Decimal("0.5"), "0") == "50%"
    assert f.percent("3.5", "not a number") == "3.50%"  # a bad argument falls back to two places


@pytest.mark.parametrize("filter_", NUMBER_FILTERS + TIME_FILTERS)
@pytest.mark.parametrize("value", [None, "", "   "])
def test_an_absent_value_reads_missing(filter_, value):
    assert filter_(value) == MISSING
    assert f.sessions(value) == f"{MISSING} sessions"  # the kernel's wording for an unknown count


@pytest.mark.parametrize("filter_", NUMBER_FILTERS)
@pytest.mark.parametrize("value", [float("nan"), float("inf"), Decimal("NaN"), Decimal("-Infinity"), "NaN", "inf"])
def test_a_number_that_is_not_finite_reads_missing(filter_, value):
    assert filter_(value) == MISSING


@pytest.mark.parametrize("filter_", NUMBER_FILTERS)
@pytest.mark.parametrize("value", ["abc", "1,000", "١٢", "0x10", "1e999", Decimal("1e999"), "1e-999", True])
def test_a_number_that_cannot_be_read_is_shown_as_the_text_it_is(filter_, value):
    assert filter_(value) == str(value)


@pytest.mark.parametrize("filter_", NUMBER_FILTERS)
def test_a_number_filter_shows_a_time_as_its_text(filter_):
    assert filter_(AWARE) == str(AWARE)


# --- times ---

def test_times_are_in_new_york_labelled_et_summer_and_winter():
    assert f.moment(AWARE) == "2026-01-12 16:22 ET" and f.moment(SUMMER) == "2026-07-01 09:05 ET"
    assert f.moment_seconds(AWARE) == "2026-01-12 16:22:15 ET"
    assert f.clock_time(AWARE) == "16:22 ET" and f.clock_time(SUMMER) == "09:05 ET"
    assert f.day(AWARE) == "2026-01-12 (Mon)" and f.day(date(2026, 1, 14)) == "2026-01-14 (Wed)"


def test_a_session_is_its_new_york_date_not_the_utc_one():
    late = datetime(2026, 1, 13, 2, 0, tzinfo=timezone.utc)  # 21:00 on Monday in New York
    assert f.day(late) == "2026-01-12 (Mon)" and f.moment(late) == "2026-01-12 21:00 ET"


def test_times_stored_as_iso_text_in_json_are_read():
    assert f.moment("2026-01-12T16:22:15-05:00") == "2026-01-12 16:22 ET"
    assert f.moment_seconds("2026-01-12T21:22:15+00:00") == "2026-01-12 16:22:15 ET"
    assert f.day("2026-01-14") == "2026-01-14 (Wed)" and f.day("2026-01-12T23:00:00-05:00") == "2026-01-12 (Mon)"


@pytest.mark.parametrize("filter_", TIME_FILTERS)
def test_a_naive_time_is_shown_as_its_text_never_guessed_into_new_york(filter_):
    assert filter_(NAIVE) == "2026-01-12 16:22:15" and "ET" not in filter_(NAIVE)
    assert filter_("2026-01-12T16:22:15") == "2026-01-12T16:22:15"


@pytest.mark.parametrize("filter_", [f.moment, f.moment_seconds, f.clock_time])
@pytest.mark.parametrize("value", ["abc", "2026-13-45", Decimal("1.5"), 42, date(2026, 1, 14)])
def test_a_time_filter_shows_what_is_not_a_time_as_its_text(filter_, value):
    assert filter_(value) == str(value)


# --- counts ---

def test_sessions_and_the_roll_countdown_are_counted_in_words():
    assert f.sessions(1) == "1 session" and f.sessions("5", "CFE") == "5 CFE sessions"
    assert f.countdown(3, 5) == "3 sessions (5 calendar days)" and f.countdown(0, 0) == "due today"
    assert f.countdown(-1, -3) == "overdue by 1 session (3 calendar days)"
    assert f.countdown(None, 4) == "missing sessions (4 calendar days)"
    assert f.sessions("abc") == "abc" and f.countdown(Decimal("1.5"), 2) == "1.5" and f.sessions(True) == "True"


# --- never raises, never trusted as HTML ---

@pytest.mark.parametrize("filter_", ALL_FILTERS + [lambda value: f.countdown(value, value)])
@pytest.mark.parametrize("value", HOSTILE, ids=[f"{i}-{type(v).__name__}" for i, v in enumerate(HOSTILE)])
def test_no_filter_raises_on_hostile_input_and_each_returns_plain_text(filter_, value):
    text = filter_(value)
    assert type(text) is str and not isinstance(text, SafeData)
    assert len(text) < 200


@pytest.mark.parametrize("name", ["price", "decimal", "signed", "points", "points_signed", "usd", "usd_signed",
                                  "quantity", "quantity_signed", "percent", "percent_of_fraction", "moment",
                                  "moment_seconds", "clock_time", "day", "sessions"])
def test_the_template_engine_escapes_what_a_filter_shows(name):
    for value in ["<script>alert(1)</script>", mark_safe("<b>bold</b>")]:
        page = render(f"{{{{ value|{name} }}}}", value=value)
        assert "<script>" not in page and "<b>" not in page and "&lt;" in page


def test_filters_in_a_page():
    page = render("{{ cash|usd }} {{ bid|price }} {{ qty|quantity }} {{ at|moment }} {{ missing|price }}",
                  cash="105000.00", bid=Decimal("0.650000"), qty=Decimal("13.0000"), at=AWARE, missing=None)
    assert page == "$105,000.00 0.65 13 2026-01-12 16:22 ET missing"
