"""The kernel's formats (dspops.core.formats) as template filters: every page says a number or a time
the way the digests and the commands do.

``{% load dspops_formats %}`` then ``{{ fill.price|price }}``, ``{{ snapshot.net_liquidation|usd }}``,
``{{ check.checked_at|moment_seconds }}``.

A template hands a filter whatever the view put in its context: a Decimal or an int from a model, a
float, a numeric string stored in JSON ("105000.00"), an ISO time string, None, or text that is not
a number at all. A filter never raises (a page must never answer 500 for one odd value), and it reads
every value by one rule:

- absent (None, blank text) or not a finite number (NaN, infinity): ``missing`` (formats.MISSING);
- present but not readable as what the filter shows (``"abc"``, ``"1,000"``, a number too large or
  too small to be a price, a time without a time zone): the text it is, so the operator sees what is
  stored instead of a guess.

Filters return plain ``str``, never marked safe: the template engine escapes the text, so hostile
stored text (``<script>``) is shown, not run.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal

from django import template

from dspops.core import formats
from dspops.core.calendars import NEW_YORK

register = template.Library()

# What a number stored as text may look like: ASCII digits, an optional sign, point and exponent. Decimal()
# alone would also read "١٢" (Arabic-Indic digits) and "1_000", which no stored value should be.
_NUMBER_TEXT = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?", re.ASCII)
_NOT_A_NUMBER_TEXT = {"nan", "+nan", "-nan", "snan", "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity"}
# Beyond these powers of ten a value is no price, amount or quantity this book holds: shown as its text
# rather than as a thousand digits (and Decimal's quantize would refuse it anyway).
_LARGEST_EXPONENT, _SMALLEST_EXPONENT = 15, -12
_CANNOT_SAY = (ArithmeticError, ValueError, TypeError)


def _text(value) -> str:
    """The value as plain text: never a SafeString (str.__str__ copies a str subclass to a plain str),
    so the engine escapes it even when the view handed over text marked safe."""
    return str.__str__(str(value))


def _is_absent(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _say_number(value, say: Callable[[Decimal | int], str]) -> str:
    if _is_absent(value):
        return formats.MISSING
    if isinstance(value, bool):  # an int to Python, never an amount to the operator
        return _text(value)
    if isinstance(value, str):
        stripped = value.strip()
        if stripped.lower() in _NOT_A_NUMBER_TEXT:
            return formats.MISSING
        if not _NUMBER_TEXT.fullmatch(stripped):
            return _text(value)
        number = Decimal(stripped)
    elif isinstance(value, (int, float, Decimal)):
        if formats.is_missing(value):
            return formats.MISSING
        number = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    else:
        return _text(value)
    if number and not _SMALLEST_EXPONENT <= number.adjusted() <= _LARGEST_EXPONENT:
        return _text(value)
    try:
        return say(number)
    except _CANNOT_SAY:
        return _text(value)


def _aware_time(value) -> datetime | str:
    """An aware datetime, or the text to show instead (missing, or the value as it is)."""
    if _is_absent(value):
        return formats.MISSING
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            return _text(value)
    elif isinstance(value, datetime):
        parsed = value
    else:
        return _text(value)
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        return _text(value)  # no time zone: which New York time it was cannot be known
    return parsed


def _say_time(value, say: Callable[[datetime], str]) -> str:
    moment = _aware_time(value)
    if isinstance(moment, str):
        return moment
    try:
        return say(moment)
    except _CANNOT_SAY:  # OverflowError at the ends of the calendar
        return _text(value)


def _places(arg, default: int = 2) -> int:
    try:
        places = int(arg)
    except (TypeError, ValueError):
        return default
    return places if 0 <= places <= 8 else default


# --- numbers ---

@register.filter
def price(value) -> str:
    """A price or spread to the tick: 18.55, 16.2353 (a computed mid keeps its digits)."""
    return _say_number(value, formats.price)


@register.filter
def decimal(value) -> str:
    """A plain number with at least two decimals (a multiplier, a gate score): 0.85, 1.2345."""
    return _say_number(value, formats.decimal)


@register.filter
def signed(value) -> str:
    """A difference with its sign: +0.28, -0.40."""
    return _say_number(value, formats.signed)


@register.filter
def points(value) -> str:
    """A VX price or spread in index points: 1.25 pts."""
    return _say_number(value, formats.points)


@register.filter
def points_signed(value) -> str:
    """A change in index points with its sign: +0.40 pts."""
    return _say_number(value, lambda number: formats.points(number, with_sign=True))


@register.filter
def usd(value) -> str:
    """Dollars to the cent: $1,051,830.48, -$88.00."""
    return _say_number(value, formats.usd)


@register.filter
def usd_signed(value) -> str:
    """A dollar change with its sign: +$1.50, -$88.00."""
    return _say_number(value, lambda number: formats.usd(number, with_sign=True))


@register.filter
def quantity(value) -> str:
    """Shares or contracts: 220, -1."""
    return _say_number(value, formats.quantity)


@register.filter
def quantity_signed(value) -> str:
    """A change in shares or contracts with its sign: +1, -2."""
    return _say_number(value, lambda number: formats.quantity(number, with_sign=True))


@register.filter
def percent(value, places=2) -> str:
    """A value already in percent: 3.5 -> 3.50% (``|percent:1`` for one decimal)."""
    return _say_number(value, lambda number: formats.percent(number, places=_places(places)))


@register.filter
def percent_of_fraction(value, places=2) -> str:
    """A fraction as a percentage: 0.092 -> 9.20%."""
    return _say_number(value, lambda number: formats.percent(number, fraction=True, places=_places(places)))


# --- counts ---

def _count(value) -> int | None | str:
    """A whole count, None when absent, or the text to show when it is not one."""
    if _is_absent(value):
        return None
    if isinstance(value, bool):
        return _text(value)
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"[+-]?\d{1,9}", value.strip(), re.ASCII):
        return int(value)
    return _text(value)


@register.filter
def sessions(value, exchange_label="") -> str:
    """A count of trading sessions: 1 session, 5 CFE sessions."""
    count = _count(value)
    if isinstance(count, str):
        return count
    return formats.sessions(count, exchange_label if isinstance(exchange_label, str) else "")


@register.filter
def countdown(sessions_left, calendar_days) -> str:
    """``{{ sessions|countdown:days }}``: 3 sessions (5 calendar days), due today, overdue by 1 session (...)."""
    left, days = _count(sessions_left), _count(calendar_days)
    if isinstance(left, str):
        return left
    if isinstance(days, str):
        return days
    return formats.countdown(left, days)


# --- times ---

@register.filter
def moment(value) -> str:
    """A time in New York, labelled: 2026-01-12 16:22 ET."""
    return _say_time(value, formats.moment)


@register.filter
def moment_seconds(value) -> str:
    """A time in New York to the second, labelled: 2026-01-12 16:22:15 ET."""
    return _say_time(value, lambda when: formats.moment(when, seconds=True))


@register.filter
def clock_time(value) -> str:
    """Just the New York time of day: 16:22 ET."""
    return _say_time(value, formats.clock_time)


@register.filter
def day(value) -> str:
    """A session with its weekday: 2026-01-14 (Wed). An aware time is first put in New York."""
    if _is_absent(value):
        return formats.MISSING
    if isinstance(value, datetime) or (isinstance(value, str) and len(value.strip()) > 10):
        when = _aware_time(value)
        if isinstance(when, str):
            return when
        try:
            return formats.day(when.astimezone(NEW_YORK).date())
        except _CANNOT_SAY:
            return _text(value)
    if isinstance(value, date):
        return formats.day(value)
    if isinstance(value, str):
        try:
            return formats.day(date.fromisoformat(value.strip()))
        except ValueError:
            return _text(value)
    return _text(value)
