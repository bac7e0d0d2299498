"""The VRP-CS roll: pre-roll checks, the two roll tickets, the net legs and the
post-roll verification (DECISIONS.md §1 and §3; LEGACY.md §2.10 and §2.11).

Pure functions over frozen dataclasses: no Django, no I/O, no clock. The caller
reads quotes, positions, margin, the gate and the thresholds (editable settings)
and passes them in; `now` is part of the context.

Fail closed: a check that cannot be evaluated (a missing, invalid, crossed,
delayed or stale quote, an unknown margin figure, unreadable positions, a
threshold that is not set) FAILS, and its `reason` names what is missing.

The book before the roll is -q old front / +q middle; after it, -q middle /
+q new back. The roll is two 1:1 calendar combos, never one ratio bag
(LEGACY inconsistency 20):

* Ticket 1, "Close the old spread": SELL the (old front, middle) combo,
  which fills as BUY q old front + SELL q middle.
* Ticket 2, "Open the new spread": BUY the (middle, new back) combo,
  which fills as SELL q middle + BUY q new back.

Combo convention (LEGACY §2.10): a calendar combo is defined near/far with the
legs SELL near + BUY far, so BUYING it sells the near month and buys the far
one, and its price is far - near. Selling it reverses both legs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

from dspops.core.calendars import trading_date
from dspops.core.vx import parse_local_symbol

__all__ = [
    "ACCEPTED_QUOTE_SOURCES",
    "CHECK_NAMES",
    "FAIL_CLOSED_RULES",
    "TIMELINE",
    "CheckResult",
    "LegQuote",
    "Orphan",
    "RollContext",
    "RollThresholds",
    "RollTickets",
    "Ticket",
    "TicketLeg",
    "Verification",
    "net_legs",
    "pre_roll_checks",
    "roll_tickets",
    "round_to_tick",
    "trades_to_target",
    "verdict",
    "verify_after_roll",
]

CHECK_NAMES = (
    "gate",
    "vix",
    "spread",
    "old_front_width",
    "middle_width",
    "new_back_width",
    "combo_width",
    "positions",
    "margin",
    "market_data",
    "cfe_open",
)

# Quote sources that count as usable market data. Anything else (delayed, frozen,
# delayed-frozen, an empty or unknown source) fails the market-data check.
ACCEPTED_QUOTE_SOURCES = ("live", "manual", "simulated")

FAIL_CLOSED_RULES = (
    "A check that cannot be evaluated fails: a missing, invalid, crossed, delayed or stale quote, "
    "unknown margin or unreadable positions means no roll until it passes.",
    "Gate CLOSED, REDUCE or UNKNOWN: do not open a new spread.",
    "VIX at or above the limit: no new positions.",
    "Spread VX2 - VX1 at or below the minimum: do not open a new spread.",
    "A leg wider than its limit: wait 30 minutes and check again; if it stays wide, escalate.",
    "Combo market wider than the limit: wait; do not cross it.",
    "Positions not exactly -q front / +q back: reconcile them before rolling.",
    "Margin headroom below the minimum: reduce or fund the account before rolling.",
    "CFE closed (outside its regular trading hours): no roll; a GO expires at the session's close.",
    "A leg quote missing: no ticket for that combo; never price a combo from one leg.",
    "A leg unfilled after 15 minutes: cancel and re-evaluate.",
    "Orphan leg: close it immediately.",
)

TIMELINE = (
    ("09:45", "Pre-roll checks (CFE opens 09:30)"),
    ("10:00", "Execute the two combos"),
    ("10:15", "Verify positions"),
    ("10:30", "Update the position config (automatic on verification)"),
)

_ROOT = "VXM"


# --- inputs -----------------------------------------------------------------------


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
    # Is CFE in its regular trading hours at `now` (exchange_calendars XCBF)? None: not known, which fails.
    cfe_open: bool | None = None
    cfe_hours: str = ""  # what the calendar says, e.g. "XCBF open: session 2026-12-01, closes 16:15 ET"

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


# --- results ----------------------------------------------------------------------


@dataclass(frozen=True)
class CheckResult:
    """One pre-roll check, with what was seen, the limit and where the input came from."""

    name: str
    label: str
    observed: str
    threshold: str
    passed: bool
    source: str
    reason: str


@dataclass(frozen=True)
class TicketLeg:
    """One leg of a roll ticket.

    `action` is what the leg does to the position when the ticket fills (BUY/SELL).
    `combo_leg_action` is what is typed in TWS's combo leg definition, which is
    always SELL for the near month and BUY for the far month; the combo action
    (BUY/SELL) then decides the direction.
    """

    local_symbol: str
    action: str
    ratio: int
    bid: Decimal
    ask: Decimal
    width: Decimal
    contract_month: str
    combo_leg_action: str


@dataclass(frozen=True)
class Ticket:
    """A calendar-combo order for the operator to enter in TWS (the app sends nothing)."""

    title: str
    combo_action: str
    quantity: int
    legs: tuple[TicketLeg, ...]
    combo_bid: Decimal
    combo_ask: Decimal
    combo_mid: Decimal
    combo_width: Decimal
    limit_price: Decimal
    tws_fields: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class RollTickets:
    """The tickets that could be priced, and why any other could not."""

    tickets: tuple[Ticket, ...]
    problems: tuple[str, ...]


@dataclass(frozen=True)
class Orphan:
    """A VXM position that differs from the post-roll target.

    `quantity` is the number of contracts (> 0) that the order `action_to_close`
    (BUY/SELL) must trade in `local_symbol` to bring it to `expected`.
    """

    local_symbol: str
    quantity: Decimal
    action_to_close: str
    message: str
    held: Decimal
    expected: int


@dataclass(frozen=True)
class Verification:
    ok: bool
    orphans: tuple[Orphan, ...]
    message: str


# --- formatting -------------------------------------------------------------------


def _num(value: Decimal | int) -> str:
    """A quantity as the operator reads it: whole numbers without decimals."""
    if isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
        return str(int(value))
    return str(value)


def _signed(value: Decimal | int) -> str:
    text = _num(value)
    return text if value <= 0 else f"+{text}"


def _usd(value: Decimal) -> str:
    return f"${value:,.2f}"


def _seconds(value: float) -> str:
    return f"{value:.0f}" if value == int(value) else f"{value:.1f}"


def _join(reasons: list[str]) -> str:
    return "; ".join(reasons)


# --- the pre-roll checks ------------------------------------------------------------


def _roles(ctx: RollContext) -> dict[str, str]:
    return {ctx.old_front: "VX1", ctx.middle: "VX2", ctx.new_back: "new back"}


def _leg(ctx: RollContext, symbol: str) -> str:
    return f"{symbol} ({_roles(ctx)[symbol]})"


def _quote(ctx: RollContext, symbol: str) -> tuple[LegQuote | None, str | None]:
    """The quote for `symbol` and why it cannot be priced from (None if it can)."""
    quote = ctx.quotes.get(symbol)
    if quote is None:
        return None, f"no quote for {_leg(ctx, symbol)}"
    if quote.local_symbol != symbol:
        return None, f"the quote filed under {symbol} is for {quote.local_symbol}"
    problem = quote.problem
    if problem is not None:
        return None, f"{_leg(ctx, symbol)} quote {problem}"
    return quote, None


def _quote_sources(ctx: RollContext, symbols: tuple[str, ...]) -> str:
    parts = []
    for symbol in symbols:
        quote = ctx.quotes.get(symbol)
        parts.append(f"{symbol} {quote.source or 'no source'}" if quote else f"{symbol} none")
    return ", ".join(parts)


def _threshold(th: RollThresholds, name: str) -> tuple[Decimal | None, str | None]:
    value = getattr(th, name)
    if value is None:
        return None, f"threshold {name} is not set"
    if not value.is_finite():
        return None, f"threshold {name} is {value}"
    return value, None


def _result(name: str, label: str, *, observed: str, threshold: str, source: str,
            reasons: list[str]) -> CheckResult:
    return CheckResult(
        name=name,
        label=label,
        observed=observed,
        threshold=threshold,
        passed=not reasons,
        source=source,
        reason=_join(reasons),
    )


def _gate_check(ctx: RollContext) -> CheckResult:
    state = (ctx.gate_state or "").strip().upper()
    reasons = []
    if state == "":
        reasons.append("gate state unknown (not recorded)")
    elif state == "UNKNOWN":
        reasons.append("gate is UNKNOWN (an input is missing), which counts as CLOSED")
    elif state in ("CLOSED", "REDUCE"):
        reasons.append(f"gate is {state}: do not open a new spread")
    elif state != "OPEN":
        reasons.append(f"gate state {ctx.gate_state!r} is not OPEN")
    return _result(
        "gate", "Gate OPEN", observed=state or "unknown", threshold="OPEN",
        source=ctx.gate_source, reasons=reasons,
    )


def _vix_check(ctx: RollContext, th: RollThresholds) -> CheckResult:
    limit, missing = _threshold(th, "max_vix")
    reasons = [missing] if missing else []
    vix = ctx.vix
    if vix is None:
        reasons.append("VIX unknown")
    elif not vix.is_finite():
        reasons.append(f"VIX is {vix}")
    elif limit is not None and vix >= limit:
        reasons.append(f"VIX {vix} is at or above the limit {limit}: no new positions")
    source = ctx.vix_source
    if ctx.vix_as_of is not None:
        source = f"{source}, as of {ctx.vix_as_of.isoformat()}"
    return _result(
        "vix", "VIX below the limit",
        observed="unknown" if vix is None else str(vix),
        threshold=f"< {limit}" if limit is not None else "not set",
        source=source, reasons=reasons,
    )


def _spread_check(ctx: RollContext, th: RollThresholds) -> CheckResult:
    limit, missing = _threshold(th, "min_spread")
    reasons = [missing] if missing else []
    front, front_problem = _quote(ctx, ctx.old_front)
    back, back_problem = _quote(ctx, ctx.middle)
    reasons += [p for p in (front_problem, back_problem) if p]
    observed = "unknown"
    if front is not None and back is not None:
        spread = back.mid - front.mid
        observed = f"{spread} ({ctx.middle} {back.mid} - {ctx.old_front} {front.mid})"
        if limit is not None and spread <= limit:
            reasons.append(f"spread {spread} is not above {limit}: do not open a new spread")
    return _result(
        "spread", "Spread VX2 - VX1",
        observed=observed,
        threshold=f"> {limit}" if limit is not None else "not set",
        source=_quote_sources(ctx, (ctx.old_front, ctx.middle)), reasons=reasons,
    )


def _width_check(ctx: RollContext, th: RollThresholds, name: str, label: str,
                 symbol: str, limit_name: str) -> CheckResult:
    limit, missing = _threshold(th, limit_name)
    reasons = [missing] if missing else []
    quote, problem = _quote(ctx, symbol)
    if problem:
        reasons.append(problem)
    observed = "unknown"
    if quote is not None:
        observed = f"{quote.width} ({quote.bid} / {quote.ask})"
        if limit is not None and quote.width > limit:
            reasons.append(f"{_leg(ctx, symbol)} bid/ask width {quote.width} is above {limit}")
    return _result(
        name, label, observed=observed,
        threshold=f"<= {limit}" if limit is not None else "not set",
        source=_quote_sources(ctx, (symbol,)), reasons=reasons,
    )


def _combo_width_check(ctx: RollContext, th: RollThresholds) -> CheckResult:
    # A calendar combo's market is as wide as its two legs together:
    # (far.ask - near.bid) - (far.bid - near.ask) = far.width + near.width.
    limit, missing = _threshold(th, "max_combo_width")
    reasons = [missing] if missing else []
    observed = []
    for what, near, far in (("new spread", ctx.middle, ctx.new_back),
                            ("close", ctx.old_front, ctx.middle)):
        near_q, near_problem = _quote(ctx, near)
        far_q, far_problem = _quote(ctx, far)
        problems = [p for p in (near_problem, far_problem) if p]
        if problems:
            reasons += [f"{what} combo {near}/{far}: {p}" for p in problems]
            observed.append(f"{what} unknown")
            continue
        width = near_q.width + far_q.width
        observed.append(f"{what} {width}")
        if limit is not None and width > limit:
            reasons.append(
                f"{what} combo {near}/{far} market width {width} is above {limit}: "
                "wait; do not cross it"
            )
    return _result(
        "combo_width", "Combo market width",
        observed=", ".join(observed),
        threshold=f"<= {limit} (each combo)" if limit is not None else "not set",
        source=_quote_sources(ctx, (ctx.old_front, ctx.middle, ctx.new_back)), reasons=reasons,
    )


def _position_differences(
    expected: dict[str, int], positions: dict[str, Decimal]
) -> list[tuple[str, Decimal, int]]:
    """(symbol, held, expected) for every symbol whose holding is not the expected one.

    Expected symbols first, in the given order, then any other non-zero holding.
    """
    out = []
    for symbol in dict.fromkeys([*expected, *positions]):
        held = positions.get(symbol, Decimal(0))
        want = expected.get(symbol, 0)
        if held != want:
            out.append((symbol, held, want))
    return out


def _unreadable_positions(positions: dict[str, Decimal]) -> list[str]:
    return [
        symbol for symbol, held in positions.items()
        if isinstance(held, bool) or not isinstance(held, (Decimal, int))
        or (isinstance(held, Decimal) and not held.is_finite())
    ]


def _describe_positions(positions: dict[str, Decimal]) -> str:
    held = [f"{symbol} {_signed(q)}" for symbol, q in positions.items() if q != 0]
    return ", ".join(held) if held else "flat"


def _positions_check(ctx: RollContext) -> CheckResult:
    q = ctx.quantity
    expected = {ctx.old_front: -q, ctx.middle: q}
    threshold = f"{ctx.old_front} {-q}, {ctx.middle} +{q}, nothing else in VXM"
    reasons = []
    observed = "unknown"
    if ctx.positions is None:
        reasons.append("positions could not be read")
    elif bad := _unreadable_positions(ctx.positions):
        reasons.append(f"position for {', '.join(bad)} could not be read")
    else:
        observed = _describe_positions(ctx.positions)
        for symbol, held, want in _position_differences(expected, ctx.positions):
            reasons.append(f"{symbol} holds {_signed(held)}, expected {_signed(want)}")
        if reasons:
            reasons.append("reconcile the positions before rolling")
    return _result(
        "positions", "Positions", observed=observed, threshold=threshold,
        source=ctx.positions_source, reasons=reasons,
    )


def _margin_check(ctx: RollContext, th: RollThresholds) -> CheckResult:
    limit, missing = _threshold(th, "min_margin_headroom_usd")
    reasons = [missing] if missing else []
    value = ctx.excess_liquidity
    observed = "unknown"
    if value is None:
        reasons.append("excess liquidity unknown")
    elif not value.is_finite():
        reasons.append(f"excess liquidity is {value}")
    else:
        observed = _usd(value)
        if limit is not None and value < limit:
            reasons.append(
                f"excess liquidity {_usd(value)} is below {_usd(limit)}: reduce or fund first"
            )
    return _result(
        "margin", "Margin headroom (excess liquidity)", observed=observed,
        threshold=f">= {_usd(limit)}" if limit is not None else "not set",
        source=ctx.excess_liquidity_source, reasons=reasons,
    )


def _freshness(what: str, source: str, as_of: datetime | None, now: datetime,
               limit: Decimal | None) -> tuple[str, list[str]]:
    """The observed text ("VXMF7 live 3 s") and the problems of one quote's source and age."""
    reasons = []
    kind = (source or "").strip().lower()
    if "delayed" in kind or "frozen" in kind:
        reasons.append(f"{what} quote is {kind}")
    elif kind not in ACCEPTED_QUOTE_SOURCES:
        reasons.append(
            f"{what} quote source {source!r} is not live data" if kind
            else f"{what} quote has no source"
        )
    age_text = "age unknown"
    if as_of is None:
        reasons.append(f"{what} quote has no as-of time")
    elif as_of.utcoffset() is None:
        reasons.append(f"{what} quote's as-of time {as_of.isoformat()} has no time zone")
    else:
        age = (now - as_of).total_seconds()
        age_text = f"{_seconds(age)} s"
        if age < 0:
            reasons.append(
                f"quote for {what} is stamped {_seconds(-age)} s in the future (clock mismatch)"
            )
        elif limit is not None and Decimal(str(age)) >= limit:
            reasons.append(f"quote for {what} is {_seconds(age)} s old (limit {_num(limit)} s)")
    return f"{what} {kind or 'no source'} {age_text}", reasons


def _market_data_check(ctx: RollContext, th: RollThresholds) -> CheckResult:
    limit, missing = _threshold(th, "max_quote_age_seconds")
    reasons = [missing] if missing else []
    observed = []
    for symbol in (ctx.old_front, ctx.middle, ctx.new_back):
        quote = ctx.quotes.get(symbol)
        if quote is None:
            reasons.append(f"no quote for {_leg(ctx, symbol)}")
            observed.append(f"{symbol} none")
            continue
        _, problem = _quote(ctx, symbol)
        if problem:
            reasons.append(problem)
        text, problems = _freshness(_leg(ctx, symbol), quote.source, quote.as_of, ctx.now, limit)
        observed.append(text)
        reasons += problems
    # VIX drives the VIX check, so it must be as live as the leg quotes.
    if ctx.vix is None:
        reasons.append("no VIX quote")
        observed.append("VIX none")
    else:
        text, problems = _freshness("VIX", ctx.vix_source, ctx.vix_as_of, ctx.now, limit)
        observed.append(text)
        reasons += problems
    legs = _quote_sources(ctx, (ctx.old_front, ctx.middle, ctx.new_back))
    return _result(
        "market_data", "Live market data",
        observed=", ".join(observed),
        threshold=(
            f"live (or manual), younger than {_num(limit)} s" if limit is not None else "not set"
        ),
        source=f"{legs}, VIX {ctx.vix_source or 'no source'}",
        reasons=reasons,
    )


def _cfe_open_check(ctx: RollContext) -> CheckResult:
    if ctx.cfe_open is None:
        reasons = ["CFE trading hours unknown: the exchange calendar was not consulted"]
    elif not ctx.cfe_open:
        reasons = [f"CFE closed ({ctx.cfe_hours or 'outside its trading hours'}): roll only while CFE trades"]
    else:
        reasons = []
    observed = ctx.cfe_hours or ("open" if ctx.cfe_open else "closed" if ctx.cfe_open is False else "unknown")
    return _result(
        "cfe_open", "CFE open now", observed=observed, threshold="inside the session's trading hours",
        source="exchange calendar XCBF", reasons=reasons,
    )


def pre_roll_checks(ctx: RollContext, th: RollThresholds) -> tuple[CheckResult, ...]:
    """The VRP-CS pre-roll checks, one row per name in CHECK_NAMES, in that order.

    Every row carries what was observed, the threshold and the source; a failing
    row's `reason` says what was wrong or missing.
    """
    return (
        _gate_check(ctx),
        _vix_check(ctx, th),
        _spread_check(ctx, th),
        _width_check(ctx, th, "old_front_width", "VX1 bid/ask width", ctx.old_front,
                     "max_leg_width"),
        _width_check(ctx, th, "middle_width", "VX2 bid/ask width", ctx.middle,
                     "max_leg_width"),
        _width_check(ctx, th, "new_back_width", "New back-month width", ctx.new_back,
                     "max_new_back_width"),
        _combo_width_check(ctx, th),
        _positions_check(ctx),
        _margin_check(ctx, th),
        _market_data_check(ctx, th),
        _cfe_open_check(ctx),
    )


def verdict(checks: tuple[CheckResult, ...] | list[CheckResult]) -> str:
    """"GO" only if there is at least one check and every check passed, else "NO_GO"."""
    checks = tuple(checks)
    return "GO" if checks and all(c.passed for c in checks) else "NO_GO"


# --- tickets ------------------------------------------------------------------------


def round_to_tick(price: Decimal, tick: Decimal) -> Decimal:
    """`price` rounded to the nearest multiple of `tick`, ties away from zero.

    Nearest (not always down for a BUY): the buffer already decides how far the
    limit leans; rounding only makes it a price the exchange accepts.
    Raises ValueError if `tick` is not a positive finite Decimal.
    """
    if not isinstance(tick, Decimal) or not tick.is_finite() or tick <= 0:
        raise ValueError(f"tick must be a positive Decimal, got {tick!r}")
    return (price / tick).quantize(Decimal(1), rounding=ROUND_HALF_UP) * tick


def _contract_month(symbol: str, near: date) -> tuple[str | None, str | None]:
    try:
        cm = parse_local_symbol(symbol, near=near, root=_ROOT)
    except ValueError as exc:
        return None, f"cannot read the contract month of {symbol}: {exc}"
    return f"{cm.year:04d}{cm.month:02d}", None


def _ticket(ctx: RollContext, *, title: str, combo_action: str, near: str, far: str,
            near_q: LegQuote, far_q: LegQuote, months: dict[str, str],
            buffer: Decimal, tick: Decimal) -> Ticket:
    q = ctx.quantity
    combo_bid = far_q.bid - near_q.ask
    combo_ask = far_q.ask - near_q.bid
    combo_mid = (combo_bid + combo_ask) / 2
    # A BUY pays up to the buffer above mid, a SELL accepts down to the buffer below.
    leaning = combo_mid + buffer if combo_action == "BUY" else combo_mid - buffer
    limit = round_to_tick(leaning, tick)
    buying = combo_action == "BUY"
    legs = (
        TicketLeg(near, "SELL" if buying else "BUY", 1, near_q.bid, near_q.ask, near_q.width,
                  months[near], "SELL"),
        TicketLeg(far, "BUY" if buying else "SELL", 1, far_q.bid, far_q.ask, far_q.width,
                  months[far], "BUY"),
    )
    fields: list[tuple[str, str]] = [("Symbol", _ROOT), ("Exchange", "CFE"), ("Currency", "USD")]
    for n, leg in enumerate(legs, start=1):
        fields += [
            (f"Leg {n} action", leg.combo_leg_action),
            (f"Leg {n} contract month", leg.contract_month),
            (f"Leg {n} local symbol", leg.local_symbol),
            (f"Leg {n} ratio", str(leg.ratio)),
        ]
    fields += [
        ("Combo action", combo_action),
        ("Quantity", str(q)),
        ("Order type", "LMT"),
        ("Limit price", str(limit)),
        ("Time in force", "DAY"),
        ("Outside RTH", "No"),
        ("Fills as", ", ".join(f"{leg.action} {q} {leg.local_symbol}" for leg in legs)),
    ]
    return Ticket(
        title=title,
        combo_action=combo_action,
        quantity=q,
        legs=legs,
        combo_bid=combo_bid,
        combo_ask=combo_ask,
        combo_mid=combo_mid,
        combo_width=combo_ask - combo_bid,
        limit_price=limit,
        tws_fields=tuple(fields),
    )


def roll_tickets(ctx: RollContext, th: RollThresholds) -> RollTickets:
    """The two roll tickets: close the old spread (SELL the old front/middle combo),
    then open the new one (BUY the middle/new back combo).

    Combo bid = far.bid - near.ask, ask = far.ask - near.bid, mid halfway. Limit =
    mid + limit_buffer for a BUY, mid - limit_buffer for a SELL, rounded to the
    nearest tick (ties away from zero). A combo whose leg quote is missing or
    unusable gets no ticket, and `problems` names the leg; so does a missing
    buffer or tick (then no ticket at all). The tickets are prepared whatever the
    pre-roll verdict; showing them only on GO is the caller's job.
    """
    problems: list[str] = []
    buffer, buffer_missing = _threshold(th, "limit_buffer")
    tick, tick_missing = _threshold(th, "tick")
    if tick is not None and tick <= 0:
        tick, tick_missing = None, f"threshold tick is {tick}, not a positive price step"
    if buffer is not None and buffer < 0:
        buffer, buffer_missing = None, f"threshold limit_buffer is {buffer}, below zero"
    pricing = [p for p in (buffer_missing, tick_missing) if p]
    if pricing:
        return RollTickets((), (f"No tickets: {_join(pricing)}",))

    near_date = trading_date(ctx.now)
    months: dict[str, str] = {}
    month_problems: dict[str, str] = {}
    for symbol in (ctx.old_front, ctx.middle, ctx.new_back):
        month, problem = _contract_month(symbol, near_date)
        if problem:
            month_problems[symbol] = problem
        else:
            months[symbol] = month

    tickets = []
    for title, combo_action, near, far in (
        ("Close the old spread", "SELL", ctx.old_front, ctx.middle),
        ("Open the new spread", "BUY", ctx.middle, ctx.new_back),
    ):
        near_q, near_problem = _quote(ctx, near)
        far_q, far_problem = _quote(ctx, far)
        candidates = (near_problem, far_problem, month_problems.get(near), month_problems.get(far))
        blocking = [p for p in candidates if p]
        if blocking:
            problems.append(f"No '{title}' ticket: {_join(blocking)}")
            continue
        tickets.append(_ticket(ctx, title=title, combo_action=combo_action, near=near, far=far,
                               near_q=near_q, far_q=far_q, months=months, buffer=buffer, tick=tick))
    return RollTickets(tuple(tickets), tuple(problems))


# --- net legs -----------------------------------------------------------------------


def _check_lots(name: str, lots: dict[str, int]) -> None:
    for symbol, n in lots.items():
        if isinstance(n, bool) or not isinstance(n, int):
            raise TypeError(f"{name}[{symbol!r}] must be an int number of contracts, got {n!r}")


def trades_to_target(current: dict[str, int], target: dict[str, int]) -> dict[str, int]:
    """The signed trades (+ buy, - sell) that take `current` holdings to `target`.

    Symbols missing from either side count as 0; symbols needing no trade are left
    out. Order: symbols as they first appear in `current`, then in `target`.
    Raises TypeError for a holding that is not an int.
    """
    _check_lots("current", current)
    _check_lots("target", target)
    trades = {}
    for symbol in dict.fromkeys([*current, *target]):
        n = target.get(symbol, 0) - current.get(symbol, 0)
        if n:
            trades[symbol] = n
    return trades


def net_legs(ctx: RollContext) -> dict[str, int]:
    """The per-contract net of the roll, in contract order: +q old front, -2q middle, +q new back.

    Computed as the trades from the current book (-q old front / +q middle) to
    the target book (-q middle / +q new back).
    """
    q = ctx.quantity
    trades = trades_to_target(
        {ctx.old_front: -q, ctx.middle: q},
        {ctx.middle: -q, ctx.new_back: q},
    )
    return {s: trades[s] for s in (ctx.old_front, ctx.middle, ctx.new_back) if s in trades}


# --- verification -------------------------------------------------------------------


def _orphan(symbol: str, held: Decimal, want: int, *, old_front: str, middle: str,
            new_back: str) -> Orphan:
    change = want - held
    action = "BUY" if change > 0 else "SELL"
    size = abs(Decimal(change))
    order = f"{action} {_num(size)} {symbol}"
    if symbol == old_front:
        purpose = "to close the old front"
    elif symbol in (middle, new_back):
        # Between flat and the target (same side): the new spread is only part-filled.
        partial = held == 0 or (held * want > 0 and abs(held) < abs(want))
        purpose = (
            "to complete the new spread" if partial
            else f"to bring it to {_signed(want)} for the new spread"
        )
    else:
        purpose = "to close it (not part of the spread)"
    message = f"{symbol}: holding {_signed(held)}, expected {_signed(want)}: {order} {purpose}"
    return Orphan(symbol, size, action, message, Decimal(held), want)


def verify_after_roll(
    *,
    quantity: int,
    old_front: str,
    middle: str,
    new_back: str,
    positions: dict[str, Decimal] | None,
) -> Verification:
    """Check the book after the roll: old front 0, middle -q, new back +q, nothing else in VXM.

    Every difference is an Orphan naming the leg and the order that brings it to
    target. Positions that could not be read (None, or a value that is not a
    number) give ok=False with no orphans: nothing can be said about the legs.
    Raises ValueError for a quantity that is not an int >= 1 or for leg symbols
    that are not three different contracts.
    """
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
        raise ValueError(f"quantity must be an int >= 1, got {quantity!r}")
    if len({old_front, middle, new_back}) != 3:
        legs = (old_front, middle, new_back)
        raise ValueError(f"the three legs must be different contracts, got {legs!r}")
    if positions is None:
        return Verification(
            False, (),
            "Positions could not be read, so the roll is not verified. Read them again "
            "(or check them in TWS) before doing anything else.",
        )
    if bad := _unreadable_positions(positions):
        return Verification(
            False, (),
            f"Position for {', '.join(bad)} could not be read, so the roll is not verified. "
            "Read the positions again (or check them in TWS).",
        )
    q = quantity
    expected = {old_front: 0, middle: -q, new_back: q}
    orphans = tuple(
        _orphan(symbol, held, want, old_front=old_front, middle=middle, new_back=new_back)
        for symbol, held, want in _position_differences(expected, positions)
    )
    if not orphans:
        return Verification(
            True, (),
            f"Positions match the target: {old_front} 0, {middle} {-q}, {new_back} +{q}, "
            "nothing else in VXM.",
        )
    count = f"{len(orphans)} orphan leg" + ("s" if len(orphans) > 1 else "")
    return Verification(
        False, orphans,
        f"Roll not complete, {count}: " + "; ".join(o.message for o in orphans) + ".",
    )
