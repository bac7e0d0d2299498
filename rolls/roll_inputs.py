"""What the roll's pure modules read: the leg quotes, the thresholds and the context of one check.

The caller (the roll service) reads quotes, positions, margin, the gate and the thresholds (the
operator's editable settings) and passes them in, frozen; `now` is part of the context. The pre-roll
checks (rolls.checks) and the tickets (rolls.tickets) read the same context, through the helpers at
the end, so a quote that fails a check is also the quote that gets no ticket.

Pure: no Django, no I/O, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

__all__ = [
    "LegQuote",
    "RollContext",
    "RollThresholds",
    "leg_name",
    "threshold_value",
    "usable_quote",
]


def _check_price_type(owner: str, name: str, value: object) -> None:
    # Floats would carry binary rounding into limit prices; only Decimal is accepted.
    if value is not None and not isinstance(value, Decimal):
        raise TypeError(
            f"{owner}.{name} must be a Decimal or None, got {type(value).__name__} {value!r}"
        )


@dataclass(frozen=True)
class LegQuote:
    """One leg's quote as read from the broker (or typed in by the operator).

    `source` is "live", "delayed", "frozen", "manual", "simulated", ... as reported.
    `mid` and `width` are None unless the quote is usable (see `problem`).

    Raises TypeError if bid, ask or last is neither a Decimal nor None.
    """

    local_symbol: str
    bid: Decimal | None
    ask: Decimal | None
    last: Decimal | None
    valid: bool
    invalid_reason: str
    as_of: datetime | None
    source: str

    def __post_init__(self) -> None:
        for name in ("bid", "ask", "last"):
            _check_price_type("LegQuote", name, getattr(self, name))

    @property
    def problem(self) -> str | None:
        """Why this quote cannot be priced from, or None if it can.

        Unusable: flagged invalid, a side missing or NaN, a side <= 0 (IBKR's -1),
        or a crossed market (bid above ask). A locked market (bid == ask) is usable.
        """
        if not self.valid:
            return f"is invalid ({self.invalid_reason})" if self.invalid_reason else "is invalid"
        for side in ("bid", "ask"):
            value = getattr(self, side)
            if value is None:
                return f"has no {side}"
            if not value.is_finite():
                return f"has a {side} of {value}"
            if value <= 0:
                return f"has a {side} of {value}, which is not a price"
        if self.bid > self.ask:
            return f"is crossed (bid {self.bid} above ask {self.ask})"
        return None

    @property
    def mid(self) -> Decimal | None:
        """(bid + ask) / 2 when the quote is usable, else None."""
        if self.problem is not None:
            return None
        return (self.bid + self.ask) / 2

    @property
    def width(self) -> Decimal | None:
        """ask - bid when the quote is usable, else None."""
        if self.problem is not None:
            return None
        return self.ask - self.bid


_THRESHOLD_NAMES = (
    "max_vix",
    "min_spread",
    "max_leg_width",
    "max_new_back_width",
    "max_combo_width",
    "min_margin_headroom_usd",
    "max_quote_age_seconds",
    "limit_buffer",
    "tick",
)


@dataclass(frozen=True)
class RollThresholds:
    """The pre-roll limits and ticket pricing, from the operator's editable settings.

    There are no defaults here on purpose. A threshold that is None (not set)
    fails the checks that need it, and blocks the tickets if it is the buffer or
    the tick.

    Raises TypeError for a value that is not a Decimal, an int or None (floats
    and bools are refused).
    """

    max_vix: Decimal | None
    min_spread: Decimal | None
    max_leg_width: Decimal | None
    max_new_back_width: Decimal | None
    max_combo_width: Decimal | None
    min_margin_headroom_usd: Decimal | None
    max_quote_age_seconds: Decimal | int | None
    limit_buffer: Decimal | None
    tick: Decimal | None

    def __post_init__(self) -> None:
        for name in _THRESHOLD_NAMES:
            value = getattr(self, name)
            if value is None or isinstance(value, Decimal):
                continue
            if isinstance(value, int) and not isinstance(value, bool):
                object.__setattr__(self, name, Decimal(value))
                continue
            raise TypeError(
                f"RollThresholds.{name} must be a Decimal, an int or None, "
                f"got {type(value).__name__} {value!r}"
            )


@dataclass(frozen=True)
class RollContext:
    """Everything the roll checks look at, read at `now`.

    The book is -quantity `old_front` / +quantity `middle` and will become
    -quantity `middle` / +quantity `new_back` (IBKR local symbols, e.g. "VXMF7").
    `quotes` is keyed by local symbol. `positions` holds every VXM position by
    local symbol, or is None when they could not be read. `positions_source`
    (optional) says where they came from, for the record.

    Raises ValueError for a naive `now`, a quantity that is not an int >= 1, or
    leg symbols that are empty or not three different contracts.
    """

    now: datetime
    gate_state: str
    gate_source: str
    vix: Decimal | None
    vix_source: str
    vix_as_of: datetime | None
    quantity: int
    old_front: str
    middle: str
    new_back: str
    quotes: dict[str, LegQuote]
    positions: dict[str, Decimal] | None
    excess_liquidity: Decimal | None
    excess_liquidity_source: str
    positions_source: str = ""
    # Is CFE in its regular trading hours at `now` (its exchange calendar)? None: not known, which fails.
    cfe_open: bool | None = None
    cfe_hours: str = ""  # what the calendar says: calendars.market_hours(now, exchange=CFE).describe()

    def __post_init__(self) -> None:
        if not isinstance(self.now, datetime) or self.now.utcoffset() is None:
            raise ValueError(f"RollContext.now must be an aware datetime (UTC), got {self.now!r}")
        quantity = self.quantity
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
            raise ValueError(f"RollContext.quantity must be an int >= 1, got {self.quantity!r}")
        legs = (self.old_front, self.middle, self.new_back)
        if not all(isinstance(s, str) and s.strip() for s in legs):
            raise ValueError(f"RollContext needs three local symbols, got {legs!r}")
        if len(set(legs)) != 3:
            raise ValueError(
                f"old front, middle and new back must be three different contracts, got {legs!r}"
            )
        _check_price_type("RollContext", "vix", self.vix)
        _check_price_type("RollContext", "excess_liquidity", self.excess_liquidity)


# --- reading the context ------------------------------------------------------------


def _roles(ctx: RollContext) -> dict[str, str]:
    return {ctx.old_front: "VX1", ctx.middle: "VX2", ctx.new_back: "new back"}


def leg_name(ctx: RollContext, symbol: str) -> str:
    """A leg as the operator reads it: "VXMF7 (VX1)"."""
    return f"{symbol} ({_roles(ctx)[symbol]})"


def usable_quote(ctx: RollContext, symbol: str) -> tuple[LegQuote | None, str | None]:
    """The quote for `symbol` and why it cannot be priced from (None if it can)."""
    quote = ctx.quotes.get(symbol)
    if quote is None:
        return None, f"no quote for {leg_name(ctx, symbol)}"
    if quote.local_symbol != symbol:
        return None, f"the quote filed under {symbol} is for {quote.local_symbol}"
    problem = quote.problem
    if problem is not None:
        return None, f"{leg_name(ctx, symbol)} quote {problem}"
    return quote, None


def threshold_value(th: RollThresholds, name: str) -> tuple[Decimal | None, str | None]:
    """The threshold `name` and why it cannot be used (not set, not finite), or None if it can."""
    value = getattr(th, name)
    if value is None:
        return None, f"threshold {name} is not set"
    if not value.is_finite():
        return None, f"threshold {name} is {value}"
    return value, None
