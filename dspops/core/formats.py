"""One way to say a number or a time, for every page, digest, alert and command the operator reads.

Pure: no Django, no I/O. Money is USD to the cent with the sign before the symbol (``-$88.00``);
prices and spreads to the tick (at least two decimals, more only when significant); shares and
contracts as integers; percentages with ``%``; spreads with ``pts``; sessions counted in words;
times in New York, labelled ``ET``. A value that is missing (None, NaN, infinite) is shown as
``MISSING``, never as a number.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

from dspops.core.calendars import NEW_YORK

MISSING = "missing"
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")  # not strftime: locale-independent
CENT = Decimal("0.01")


def is_missing(value) -> bool:
    return value is None or (isinstance(value, (Decimal, float)) and not Decimal(value).is_finite())


def decimal(value: Decimal | int | float | None, places: int = 2) -> str:
    """At least `places` decimals, more only when they are significant: 1.5 -> 1.50, 16.2353."""
    if is_missing(value):
        return MISSING
    value = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    if value == 0:
        value = abs(value)  # no "-0.00"
    exponent = value.normalize().as_tuple().exponent
    if isinstance(exponent, int) and -exponent > places:
        return format(value.normalize(), "f")
    return format(value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP), "f")


def price(value: Decimal | int | float | None) -> str:
    """A price to the tick: 18.55, 664.19, 16.2353 (a computed mid keeps its digits)."""
    return decimal(value, 2)


def signed(value: Decimal | int | float | None, places: int = 2) -> str:
    """A difference with its sign: +0.28, -0.40, 0.00."""
    if is_missing(value):
        return MISSING
    text = decimal(value, places)
    return text if text.startswith("-") or Decimal(text) == 0 else f"+{text}"


def points(value: Decimal | int | float | None, *, with_sign: bool = False) -> str:
    """A VX price or spread in index points: 1.25 pts, +0.40 pts."""
    if is_missing(value):
        return MISSING
    return f"{signed(value) if with_sign else price(value)} pts"


def usd(value: Decimal | int | float | None, *, with_sign: bool = False) -> str:
    """Dollars to the cent with thousands separators: $1,051,830.48; -$88.00; with_sign: +$1.50."""
    if is_missing(value):
        return MISSING
    cents = Decimal(str(value) if isinstance(value, float) else value).quantize(CENT, rounding=ROUND_HALF_UP)
    body = f"${abs(cents):,.2f}"
    if cents < 0:
        return f"-{body}"
    return f"+{body}" if with_sign and cents > 0 else body


def percent(value: Decimal | int | float | None, *, fraction: bool = False, places: int = 2) -> str:
    """A percentage to `places` decimals; `fraction=True` reads 0.092 as 9.20%."""
    if is_missing(value):
        return MISSING
    value = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    value = value * 100 if fraction else value
    if value == 0:
        value = abs(value)
    return f"{value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)}%"


def quantity(value: Decimal | int | float | None, *, with_sign: bool = False) -> str:
    """Shares or contracts: 220, -1 (a fractional quantity keeps its digits: 0.5)."""
    if is_missing(value):
        return MISSING
    value = (Decimal(str(value)) if isinstance(value, float) else Decimal(value)).normalize()
    text = format(abs(value) if value == 0 else value, "f")
    return f"+{text}" if with_sign and value > 0 else text


def plural(count: int, word: str) -> str:
    """`1 session`, `3 sessions`."""
    return f"{count} {word}" if abs(count) == 1 else f"{count} {word}s"


def sessions(count: int | None, exchange_label: str = "") -> str:
    """A count of trading sessions: "1 session", "5 CFE sessions"."""
    if count is None:
        return f"{MISSING} sessions"
    word = f"{exchange_label} session" if exchange_label else "session"
    return plural(count, word)


def day(value: date | None) -> str:
    """A session with its weekday: 2026-01-14 (Wed)."""
    if value is None:
        return MISSING
    return f"{value.isoformat()} ({WEEKDAYS[value.weekday()]})"


def _new_york(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(
            f"Cannot show the naive time {value.isoformat()} in New York time; pass a timezone-aware datetime."
        )
    return value.astimezone(NEW_YORK)


def moment(value: datetime | None, *, seconds: bool = False) -> str:
    """An aware time in New York, labelled: 2026-01-12 16:22 ET (with seconds: 16:22:15 ET)."""
    if value is None:
        return MISSING
    local = _new_york(value)
    return f"{local:%Y-%m-%d %H:%M:%S} ET" if seconds else f"{local:%Y-%m-%d %H:%M} ET"


def clock_time(value: datetime | None) -> str:
    """Just the New York time of day: 16:22 ET."""
    if value is None:
        return MISSING
    return f"{_new_york(value):%H:%M} ET"


def iso_moment(value: datetime | None) -> str:
    """A machine-readable New York time with its offset, for files and JSON: 2026-01-12T16:22:15-05:00."""
    if value is None:
        return MISSING
    return _new_york(value).isoformat(timespec="seconds")


def countdown(sessions_left: int | None, calendar_days: int | None) -> str:
    """"3 sessions (5 calendar days)", "due today", "overdue by 1 session (3 calendar days)"."""
    if sessions_left == 0:
        return "due today"
    session_text = f"{MISSING} sessions" if sessions_left is None else plural(abs(sessions_left), "session")
    days_text = MISSING if calendar_days is None else plural(abs(calendar_days), "calendar day")
    left = sessions_left if sessions_left is not None else calendar_days
    prefix = "overdue by " if left is not None and left < 0 else ""
    return f"{prefix}{session_text} ({days_text})"
