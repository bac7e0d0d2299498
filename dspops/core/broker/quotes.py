"""A quote's verdict: evaluate_quote turns the raw values of one market data snapshot (NaN
allowed) into a Quote that says whether it can be used and, if not, why: an IB error, no data in
time, delayed or frozen data, an absurd price or size, a missing, -1 or crossed price, or a stale
quote (indexes are dated by TWS's LAST_TIMESTAMP tick). Plain Python: no ib_insync.
"""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from typing import Iterable

from dspops.core import bounds

from .tws_values import finite_decimal, finite_number, plausible_kind
from .types import QualifiedContract, Quote, market_data_source

__all__ = [
    "DELAYED_WARNING",
    "MARKET_DATA_ERRORS",
    "TICK_LAST_TIMESTAMP",
    "evaluate_quote",
    "tick_timestamp",
]

UTC = timezone.utc

# IB error codes that end a market data request, and how a Quote explains them.
MARKET_DATA_ERRORS = {
    354: "no market data subscription (error 354)",
    10089: "market data needs an additional API subscription (error 10089)",
    10090: "market data not subscribed (error 10090)",
    10167: "delayed data only (warning 10167)",
    10168: "delayed market data not enabled (error 10168)",
    10197: "no market data during competing live session (error 10197)",
    200: "no such contract at the broker (error 200)",
    300: "market data request rejected (error 300)",
    321: "market data request rejected (error 321)",
}
DELAYED_WARNING = 10167
TICK_LAST_TIMESTAMP = 45


def _absurd(values: dict[str, float | None], kind: str, digits: tuple[int, int]) -> list[str]:
    """Set every absurd value in `values` to None; return why each was dropped.

    A negative value that fits the column is left alone: -1 is TWS's "no price", and any other
    negative price is already "no price" (never stored as a price).
    """
    problems = []
    for name, value in values.items():
        if value is None:
            continue
        try:
            if value < 0:
                bounds.fits_column(bounds.to_decimal(value, name), name, digits)
            else:
                bounds.check_plausible(value, name, kind, digits=digits)
        except bounds.OutOfBounds as exc:
            values[name] = None
            problems.append(str(exc))
    return problems


def _absurd_reason(problems: list[str]) -> str:
    """One reason for every absurd value of a quote, e.g. "absurd value from the broker, not used: last
    1e+300 is outside the plausible range 0 to 1000" (it must fit the stored reason, 200 characters)."""
    if not problems:
        return ""
    return f"absurd value{'s' if len(problems) > 1 else ''} from the broker, not used: " + "; ".join(problems)


def _price_problem(x: float | None) -> str:
    """'' for a usable price, else why not."""
    if x is None:
        return "no quote (NaN)"
    if x == -1:
        return "no price (-1)"
    if x <= 0:
        return f"no price ({x:g})"
    return ""


def evaluate_quote(
    contract: QualifiedContract,
    *,
    bid: float | None,
    ask: float | None,
    last: float | None,
    close: float | None,
    bid_size: float | None = None,
    ask_size: float | None = None,
    market_data_type: int = 1,
    received_at: datetime | None,
    now: datetime,
    last_timestamp: datetime | None = None,
    error_code: int | None = None,
    warning_codes: Iterable[int] = (),
    completed: bool = True,
    timeout: float | None = None,
    max_age_s: float = 60.0,
    allow_delayed: bool = False,
    simulated: bool = False,
    problems: Iterable[str] = (),
) -> Quote:
    """Turn raw snapshot values (NaN allowed) into a Quote with its verdict.

    Two-sided instruments (stocks, futures) need a bid and an ask: both present,
    not -1, positive and not crossed. Indexes (VIX, VVIX) are priced by `last`.
    The quote is dated by its arrival; a last-priced quote is dated by the
    feed's last timestamp (TWS tick 45) when one is sent, so a stalled index
    shows as stale. The first failing rule gives the reason.

    A price outside its plausible range (bounds.PLAUSIBLE for the contract's kind) or too large
    for the price column, and a size outside the plausible quantity, is dropped (None) like NaN,
    and the quote is invalid with a reason naming the value. `problems` are other reasons the
    gateway found (an unreadable timestamp); any of them makes the quote invalid.
    """
    values = {k: finite_number(v) for k, v in (("bid", bid), ("ask", ask), ("last", last), ("close", close))}
    sizes = {k: finite_number(v) for k, v in (("bid_size", bid_size), ("ask_size", ask_size))}
    absurd = [_absurd_reason(_absurd(values, plausible_kind(contract.sec_type), bounds.PRICE_DIGITS)
                             + _absurd(sizes, "quantity", bounds.QUANTITY_DIGITS))]
    absurd = [p for p in (*problems, *absurd) if p]
    two_sided = contract.sec_type not in ("IND",)
    if market_data_type not in (1, 2, 3, 4):
        market_data_type = 1
    as_of = received_at or now
    if not two_sided and last_timestamp is not None and values["last"] is not None:
        as_of = min(as_of, last_timestamp)
    warnings = set(warning_codes)
    received_anything = any(v is not None for v in values.values())

    reason = ""
    if error_code is not None:
        reason = MARKET_DATA_ERRORS.get(error_code, f"market data error {error_code}")
    elif not completed:
        if received_anything:
            reason = f"snapshot not complete within {timeout:g}s"
        else:
            reason = f"no data within {timeout:g}s"
    elif market_data_type in (3, 4) and not allow_delayed:
        reason = f"delayed data (type {market_data_type})"
    elif market_data_type in (2, 4):
        reason = f"frozen data (type {market_data_type})"
    elif DELAYED_WARNING in warnings and not allow_delayed:
        reason = f"delayed data (warning {DELAYED_WARNING})"
    elif absurd:
        reason = "; ".join(absurd)
    elif two_sided:
        reason = _price_problem(values["bid"]) or _price_problem(values["ask"])
        if not reason and values["bid"] > values["ask"]:  # type: ignore[operator]
            reason = "crossed market (bid > ask)"
    else:
        reason = _price_problem(values["last"])
    if not reason:
        age = (now - as_of).total_seconds()
        if age > max_age_s:
            reason = f"stale (age {age:.0f}s > limit {max_age_s:g}s)"

    def clean(name: str) -> Decimal | None:
        v = values[name]
        return None if v is None or v == -1 else Decimal(repr(v))

    return Quote(
        con_id=contract.con_id,
        symbol=contract.symbol,
        local_symbol=contract.local_symbol,
        sec_type=contract.sec_type,
        bid=clean("bid"),
        ask=clean("ask"),
        last=clean("last"),
        close=clean("close"),
        bid_size=finite_decimal(sizes["bid_size"]) if clean("bid") is not None else None,
        ask_size=finite_decimal(sizes["ask_size"]) if clean("ask") is not None else None,
        market_data_type=market_data_type,
        as_of=as_of.astimezone(UTC),
        source=market_data_source(market_data_type),
        simulated=simulated,
        valid=not reason,
        invalid_reason=reason,
        error_code=error_code,
    )


def tick_timestamp(value: str) -> datetime | None:
    """TWS's LAST_TIMESTAMP tick (epoch seconds) as an aware UTC time within the date bounds, else None."""
    try:
        stamp = datetime.fromtimestamp(int(value), UTC)
        bounds.check_date(stamp, "last timestamp")
    except (ValueError, OverflowError, OSError):  # OutOfBounds is a ValueError
        return None
    return stamp
