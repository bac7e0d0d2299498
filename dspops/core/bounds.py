"""Where a date or a number enters dspops, it is checked here (DECISIONS.md section 11).

Pure: no Django, no I/O. Every importer, form and the broker boundary asks these functions, so the
limits are decided once. Each refusal is an ``OutOfBounds`` (a ValueError) whose message names the
value and what it was meant to be; the caller adds where it came from (file, line, form field).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from dspops.core.errors import OperatorError

EARLIEST_DATE = date(2000, 1, 1)
LATEST_DATE = date(2100, 12, 31)

# An execution stamped a little ahead of our clock is clock skew between hosts, not a typo.
CLOCK_SKEW = timedelta(minutes=2)

# Column shapes (dspops.core.fields): max_digits, decimal_places.
PRICE_DIGITS = (16, 6)
MONEY_DIGITS = (18, 2)
QUANTITY_DIGITS = (18, 6)

# Plausible ranges for what the broker and the files send. A value outside is not data.
PLAUSIBLE = {
    "vix": (Decimal("0"), Decimal("1000")),  # VIX, VVIX and other CBOE vol indexes (record: 89.53)
    "vx_future": (Decimal("0"), Decimal("1000")),  # VX / VXM futures in index points
    "stock_price": (Decimal("0"), Decimal("1000000")),  # SPY and the DM ETFs, per share
    "account_value": (Decimal("-1000000000000"), Decimal("1000000000000")),  # $1 trillion either way
    "quantity": (Decimal("-100000000"), Decimal("100000000")),  # shares or contracts in one line
    "commission": (Decimal("-1000000"), Decimal("1000000")),
    # Added for the importers (legacy files, Flex fills, price history):
    "multiplier": (Decimal("0"), Decimal("100000")),  # a contract multiplier (VXM 100, VX 1000)
    "volume": (Decimal("0"), Decimal("1000000000000")),  # shares or contracts traded in one session
    "vx_spread": (Decimal("-1000"), Decimal("1000")),  # a calendar spread of VX futures, and its levels
    "gate_score": (Decimal("-1"), Decimal("1")),  # the regime gate's score: a mean of three parts in [-1, 1]
    "percent": (Decimal("-10000"), Decimal("10000")),  # a percentage (contango, drift): within 100 times
    "days": (Decimal("-3660"), Decimal("3660")),  # days to or since a date: within ten years
}


# The PLAUSIBLE kind of a price, by IBKR security type: dspops watches CBOE vol indexes (VIX, VVIX),
# VX/VXM futures and stocks/ETFs.
PRICE_KIND_BY_SEC_TYPE = {"IND": "vix", "FUT": "vx_future", "STK": "stock_price"}


def price_kind(sec_type: str) -> str:
    """The PLAUSIBLE key for a price of this security type (a stock's range for anything unknown)."""
    return PRICE_KIND_BY_SEC_TYPE.get(sec_type, "stock_price")


class OutOfBounds(OperatorError, ValueError):
    """A date or number outside what dspops accepts; the message says which and why."""


def check_date(value: date, what: str) -> date:
    """``value`` if it lies in [2000-01-01, 2100-12-31], else OutOfBounds."""
    day = value.date() if isinstance(value, datetime) else value
    if not EARLIEST_DATE <= day <= LATEST_DATE:
        raise OutOfBounds(f"{what} {day.isoformat()} is outside {EARLIEST_DATE} to {LATEST_DATE}")
    return value


def check_execution_time(value: datetime, now: datetime, what: str = "execution time") -> datetime:
    """An aware execution time within the date bounds and not in the future (beyond clock skew)."""
    if value.utcoffset() is None:
        raise OutOfBounds(f"{what} {value.isoformat()} has no time zone")
    check_date(value, what)
    if value > now + CLOCK_SKEW:
        raise OutOfBounds(f"{what} {value.isoformat()} is in the future (now {now.isoformat()})")
    return value


def to_decimal(value: object, what: str) -> Decimal:
    """A finite Decimal from a Decimal, int, float or numeric text; OutOfBounds otherwise."""
    if isinstance(value, bool):
        raise OutOfBounds(f"{what} {value!r} is not a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise OutOfBounds(f"{what} {value!r} is not a finite number")
    try:
        if isinstance(value, Decimal):
            number = value
        else:
            number = Decimal(repr(value) if isinstance(value, float) else str(value).strip())
    except (InvalidOperation, ValueError) as exc:
        raise OutOfBounds(f"{what} {value!r} is not a number") from exc
    if not number.is_finite():
        raise OutOfBounds(f"{what} {value!r} is not a finite number")
    return number


def fits_column(value: Decimal, what: str, digits: tuple[int, int]) -> Decimal:
    """``value`` rounded to the column's places if its integer part fits the column, else OutOfBounds."""
    max_digits, places = digits
    quantum = Decimal(1).scaleb(-places)
    limit = Decimal(10) ** (max_digits - places)
    if abs(value) >= limit:
        raise OutOfBounds(f"{what} {value} is too large (at most {max_digits - places} digits before the point)")
    return value.quantize(quantum) if value.as_tuple().exponent < -places else value


def check_plausible(value: object, what: str, kind: str, *, digits: tuple[int, int] = PRICE_DIGITS) -> Decimal:
    """A Decimal within the plausible range for ``kind`` (a key of PLAUSIBLE) that fits its column."""
    number = to_decimal(value, what)
    low, high = PLAUSIBLE[kind]
    if not low <= number <= high:
        raise OutOfBounds(f"{what} {number:g} is outside the plausible range {low} to {high}")
    return fits_column(number, what, digits)


def field_errors(checks: Iterable[tuple[str, Callable[[], object]]]) -> dict[str, list[str]]:
    """Run each (field, check) and collect the refusals as field -> [sentence].

    For a form's or a model's clean(): ``field_errors([("roll_by", lambda: check_date(d, "Roll-by"))])``.
    A check that passes adds nothing; the result is empty when every value is within bounds.
    """
    errors: dict[str, list[str]] = {}
    for name, check in checks:
        try:
            check()
        except OutOfBounds as exc:
            text = str(exc)
            errors.setdefault(name, []).append(text[:1].upper() + text[1:] + ("" if text.endswith(".") else "."))
    return errors


def model_field_errors(instance, checks) -> dict[str, list[str]]:
    """Field errors for the values of `instance` outside dspops.core.bounds; (field, label, check) each, None skipped."""
    return field_errors(
        (name, (lambda check=check, value=getattr(instance, name), label=label: check(value, label)))
        for name, label, check in checks if getattr(instance, name) is not None
    )


def plausible(kind: str, digits=None):
    """A (value, label) check that `value` is a plausible `kind` (see PLAUSIBLE) that fits `digits`."""
    digits = PRICE_DIGITS if digits is None else digits
    return lambda value, label: check_plausible(value, label, kind, digits=digits)
