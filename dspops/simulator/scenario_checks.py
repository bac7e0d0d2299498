"""The checks every value of a scenario file passes, each raising ScenarioError that names the
file and the offending entry: mappings with only known keys, numbers (never NaN), whole numbers
within a range, numbers within bounds.PLAUSIBLE for their kind and fitting their column (with
dspops.core.bounds), quoted prices (null and -1 allowed), lists of contract names, and times
(relative, "-30m", or ISO 8601 with a zone, within the date bounds). `faults.absurd` numbers
are only checked to be finite numbers.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta, timezone
from typing import Any

from dspops.core import bounds

from .instruments import BUILTIN_INDEXES, RELATIVE_FUTURES, VXM_LOCAL_SYMBOL
from .scenario_specs import ScenarioError

__all__ = [
    "bounded_time",
    "check_keys",
    "parse_time",
    "price_kind",
    "read_absurd_number",
    "read_bounded",
    "read_integer",
    "read_names",
    "read_number",
    "read_quote_price",
]

UTC = timezone.utc
_RELATIVE_TIME = re.compile(r"-\s*(\d+(?:\.\d+)?)\s*([smhd])")


def check_keys(d: Any, allowed: set[str] | None, where: str) -> dict[str, Any]:
    """`d` as a mapping whose keys are all in `allowed` (any keys when None); {} for None."""
    if d is None:
        return {}
    if not isinstance(d, dict):
        raise ScenarioError(f"{where} must be a mapping, got {type(d).__name__}")
    if allowed is None:
        return d
    unknown = set(map(str, d)) - allowed
    if unknown:
        raise ScenarioError(
            f"{where}: unknown key(s) {sorted(unknown)}; allowed: {sorted(allowed)}"
        )
    return d


def read_number(value: Any, where: str, *, allow_none: bool = False) -> float | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ScenarioError(f"{where} must be a number, got {value!r}")
    if value != value:
        raise ScenarioError(f"{where}: write null (tick never sent) instead of NaN")
    try:
        return float(value)
    except OverflowError:  # an integer with hundreds of digits
        raise ScenarioError(f"{where}: {str(value)[:20]}... is too large to be a number dspops accepts") from None


def parse_time(text: Any, reference: datetime, where: str, *, checked: bool = True) -> datetime:
    """A relative ("-30m") or ISO 8601 time with a zone, as UTC; within the date bounds if `checked`."""
    if isinstance(text, datetime):
        moment = text
    else:
        s = str(text).strip()
        m = _RELATIVE_TIME.fullmatch(s)
        if m:
            amount, unit = float(m.group(1)), m.group(2)
            seconds = amount * {"s": 1, "m": 60, "h": 3600, "d": 86400}[unit]
            try:
                moment = reference - timedelta(seconds=seconds)
            except (OverflowError, ValueError):
                raise ScenarioError(f"{where}: {text!r} reaches before year 1") from None
            return bounded_time(moment, where) if checked else moment
        try:
            moment = datetime.fromisoformat(s.replace("Z", "+00:00"))
        except ValueError:
            raise ScenarioError(
                f"{where}: {text!r} is neither relative (-90s, -30m, -2h, -1d) nor "
                "ISO 8601 with a zone (2026-01-12T15:30:00-05:00)"
            ) from None
    if moment.tzinfo is None:
        raise ScenarioError(f"{where}: {text!r} has no time zone; add one (Z or -05:00)")
    try:
        moment = moment.astimezone(UTC)
    except OverflowError:
        raise ScenarioError(f"{where}: {text!r} is not a time dspops can use") from None
    return bounded_time(moment, where) if checked else moment


def bounded_time(moment: datetime, where: str) -> datetime:
    try:
        return bounds.check_date(moment, "time")
    except bounds.OutOfBounds as exc:
        raise ScenarioError(f"{where}: {exc}") from None


def read_bounded(value: Any, where: str, field_: str, kind: str, digits: tuple[int, int] = bounds.PRICE_DIGITS, *,
             sign: str = "", allow_none: bool = False) -> float | None:
    """A number (see read_number) within bounds.PLAUSIBLE[kind] that fits its column.

    sign "positive": above 0; "not negative": 0 or more.
    """
    number = read_number(value, f"{where}: {field_}", allow_none=allow_none)
    if number is None:
        return None
    try:
        bounds.check_plausible(number, field_, kind, digits=digits)
    except bounds.OutOfBounds as exc:
        raise ScenarioError(f"{where}: {exc}") from None
    if (sign == "positive" and number <= 0) or (sign == "not negative" and number < 0):
        raise ScenarioError(f"{where}: {field_} {number:g} must be {'above 0' if sign == 'positive' else '0 or more'}")
    return number


def read_integer(value: Any, where: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ScenarioError(f"{where} must be a whole number, got {value!r}")
    if not low <= value <= high:
        raise ScenarioError(f"{where} must be from {low} to {high}, got {value}")
    return value


def price_kind(name: str, instruments: dict[str, Any]) -> str:
    """The bounds.PLAUSIBLE kind of a contract's prices: a vol index, a VX future or a stock/ETF."""
    if name in instruments:
        return bounds.price_kind(instruments[name].get("sec_type", "STK"))
    if name in BUILTIN_INDEXES:
        return "vix"
    if name in RELATIVE_FUTURES or VXM_LOCAL_SYMBOL.fullmatch(name):
        return "vx_future"
    return "stock_price"


def read_quote_price(value: Any, where: str, field_: str, kind: str) -> float | None:
    """A quoted price: null (never sent), -1 (TWS's "no price") or a plausible price."""
    number = read_number(value, f"{where}: {field_}", allow_none=True)
    if number is None or number == -1:
        return number
    if number < 0:
        raise ScenarioError(f"{where}: {field_} {number:g} is negative; write -1 for TWS's \"no price\" or null")
    return read_bounded(number, where, field_, kind)


def read_names(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ScenarioError(f"{where} must be a list of contract names")
    return tuple(value)


def read_absurd_number(value: Any, where: str) -> float:
    """A finite number, or numeric text ("1e300": YAML reads that as text), never bounded."""
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise ScenarioError(f"{where} must be a number, got {value!r}") from None
    number = read_number(value, where)
    if not math.isfinite(number):  # type: ignore[arg-type]
        raise ScenarioError(f"{where} must be a finite number (TWS sends no infinity), got {value!r}")
    return number  # type: ignore[return-value]
