"""The sleeves' decision rules as pure functions: frozen dataclasses in, frozen dataclasses out.

No Django, no I/O, no pandas, so that importing a strategy costs nothing. Thresholds arrive as
settings dataclasses (the operator edits them elsewhere); trading sessions arrive as dates, and
counting sessions is done by a ``sessions_between`` callable that the caller builds from the
exchange calendar.

Fail closed: a missing input is ``None``, and NaN or infinity (float or Decimal) is read exactly
like a missing input. A result computed without an input says ``data_status="data_unavailable"``
and names the input in ``missing``; nothing is ever filled in with a default number.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

DATA_OK = "ok"
DATA_UNAVAILABLE = "data_unavailable"

SessionsBetween = Callable[[date, date], int]
"""``sessions_between(start, end)``: the number of trading sessions s with start < s <= end."""

CENT = Decimal("0.01")


def present_decimal(value: object) -> Decimal | None:
    """``value`` as a Decimal, or None when it is missing, NaN or infinite.

    Accepts Decimal, int and float (a float goes through its shortest repr, so 16.24 stays
    16.24). Anything else (a string, a bool) is a programming error: TypeError.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise TypeError(f"expected a number, got the bool {value!r}")
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value)) if math.isfinite(value) else None
    raise TypeError(f"expected a Decimal, int or float, got {type(value).__name__} {value!r}")


def present_positive(value: object) -> Decimal | None:
    """Like ``present_decimal``, but a price of 0 or below (IBKR sends -1 for "no data") is missing."""
    number = present_decimal(value)
    return number if number is not None and number > 0 else None


def present_whole(value: object, name: str) -> int | None:
    """A share or contract count as an int, or None when missing/NaN.

    A non-whole count (13.5 shares) is refused with ValueError naming the input, because
    rounding it would hide a data problem.
    """
    number = present_decimal(value)
    if number is None:
        return None
    if number != number.to_integral_value():
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    return int(number)


def round_to(value: Decimal, step: str) -> Decimal:
    """Round half up to ``step`` ("0.01", "0.0001")."""
    return value.quantize(Decimal(step), rounding=ROUND_HALF_UP)


def plain(value: Decimal) -> str:
    """A threshold as the operator typed it, without trailing zeros or exponent: 5, 0.2, -0.3."""
    text = format(value.normalize(), "f")
    return "0" if text in {"-0", ""} else text


# The sleeves' vocabulary, defined once in each strategy and importable from here: the VRP-CS gate
# states and the VRP-ERP regimes. Imported last: each strategy module imports the helpers above.
from sleeves.strategies.vrp_cs import GATE_STATES, GateState, gate_allows_roll  # noqa: E402
from sleeves.strategies.vrp_erp import REGIMES, Regime  # noqa: E402

__all__ = [
    "CENT", "DATA_OK", "DATA_UNAVAILABLE", "GATE_STATES", "GateState", "REGIMES", "Regime", "SessionsBetween",
    "gate_allows_roll", "plain", "present_decimal", "present_positive", "present_whole", "round_to",
]
