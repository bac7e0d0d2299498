"""Numbers, dates and multipliers as TWS sends them, read where they enter dspops: NaN, infinity
and TWS's unset double become None, and a value is bounded with dspops.core.bounds (within
bounds.PLAUSIBLE for its kind and fitting its column) before dspops uses it. Plain Python: no
ib_insync.
"""

from __future__ import annotations

import math
from datetime import date
from decimal import Decimal
from typing import Any

from dspops.core import bounds

from .errors import GatewayError

__all__ = [
    "UNSET_DOUBLE",
    "bounded",
    "contract_multiplier",
    "finite_decimal",
    "finite_number",
    "parse_ib_date",
    "plausible_kind",
]

UNSET_DOUBLE = 1.7976931348623157e308


def finite_number(x: Any) -> float | None:
    """A finite float, or None for NaN / inf / unset / missing."""
    if x is None:
        return None
    try:
        f = float(x)
    except (TypeError, ValueError):
        return None
    if math.isnan(f) or math.isinf(f) or f >= UNSET_DOUBLE:
        return None
    return f


def finite_decimal(x: Any) -> Decimal | None:
    f = finite_number(x)
    return None if f is None else Decimal(repr(f))


def plausible_kind(sec_type: str) -> str:
    """The bounds.PLAUSIBLE range a price of this security type must lie in (an index like VIX)."""
    return bounds.price_kind(sec_type)


def bounded(value: Any, what: str, kind: str, digits: tuple[int, int]) -> Decimal:
    """A number from TWS within its plausible range and column; OutOfBounds otherwise."""
    f = finite_number(value)
    if f is None:
        raise bounds.OutOfBounds(f"{what} {value!r} is not a number TWS sends for a real value")
    return bounds.check_plausible(f, what, kind, digits=digits)


def parse_ib_date(text: str) -> date | None:
    """A YYYYMMDD date within the bounds, else None (not a date, or not one dspops accepts)."""
    text = (text or "").split(" ")[0].split("-")[0]
    if len(text) == 8 and text.isdigit():
        try:
            return bounds.check_date(date(int(text[:4]), int(text[4:6]), int(text[6:])), "date")
        except ValueError:  # OutOfBounds, or no such day (20261399)
            return None
    return None


def contract_multiplier(text: str, what: str) -> Decimal:
    """A contract multiplier (1 when TWS sends none); GatewayError when it is not a plausible one."""
    if not text:
        return Decimal(1)
    try:
        value = bounds.check_plausible(text, f"{what} multiplier", "multiplier")
        if value <= 0:
            raise bounds.OutOfBounds(f"{what} multiplier {value} is not a positive multiplier")
    except bounds.OutOfBounds as exc:
        raise GatewayError(f"TWS sent an unusable contract: {exc}") from None
    return value
