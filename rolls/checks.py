"""The VRP-CS pre-roll checks and their verdict (DECISIONS.md §1 and §3; LEGACY.md §2.10).

Pure functions over the frozen inputs of rolls.roll_inputs: no Django, no I/O, no clock. The
tickets are in rolls.tickets, the post-roll verification in rolls.verification.

Fail closed: a check that cannot be evaluated (a missing, invalid, crossed, delayed or stale quote,
an unknown margin figure, unreadable positions, a threshold that is not set) FAILS, and its `reason`
names what is missing.

The book before the roll is -q old front / +q middle; after it, -q middle / +q new back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from dspops.core import formats
from dspops.core.calendars import CFE
from rolls.roll_inputs import RollContext, RollThresholds, leg_name, threshold_value, usable_quote
from rolls.verification import position_differences, unreadable_positions
from sleeves.strategies import GateState

__all__ = [
    "ACCEPTED_QUOTE_SOURCES",
    "CHECK_NAMES",
    "FAIL_CLOSED_RULES",
    "TIMELINE",
    "CheckResult",
    "pre_roll_checks",
    "verdict",
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


def _seconds(value: float) -> str:
    return f"{value:.0f}" if value == int(value) else f"{value:.1f}"


def _quote_sources(ctx: RollContext, symbols: tuple[str, ...]) -> str:
    parts = []
    for symbol in symbols:
        quote = ctx.quotes.get(symbol)
        parts.append(f"{symbol} {quote.source or 'no source'}" if quote else f"{symbol} none")
    return ", ".join(parts)


def _result(name: str, label: str, *, observed: str, threshold: str, source: str,
            reasons: list[str]) -> CheckResult:
    return CheckResult(
        name=name,
        label=label,
        observed=observed,
        threshold=threshold,
        passed=not reasons,
        source=source,
        reason="; ".join(reasons),
    )


def _gate_check(ctx: RollContext) -> CheckResult:
    state = (ctx.gate_state or "").strip().upper()
    reasons = []
    if state == "":
        reasons.append("gate state unknown (not recorded)")
    elif state == GateState.UNKNOWN:
        reasons.append(f"gate is {GateState.UNKNOWN} (an input is missing), which counts as {GateState.CLOSED}")
    elif state in (GateState.CLOSED, GateState.REDUCE):
        reasons.append(f"gate is {state}: do not open a new spread")
    elif state != GateState.OPEN:
        reasons.append(f"gate state {ctx.gate_state!r} is not {GateState.OPEN}")
    return _result(
        "gate", "Gate OPEN", observed=state or "unknown", threshold=GateState.OPEN.value,
        source=ctx.gate_source, reasons=reasons,
    )


def _vix_check(ctx: RollContext, th: RollThresholds) -> CheckResult:
    limit, missing = threshold_value(th, "max_vix")
    reasons = [missing] if missing else []
    vix = ctx.vix
    if vix is None:
        reasons.append("VIX unknown")
    elif not vix.is_finite():
        reasons.append(f"VIX is {vix}")  # not finite: said as the broker sent it
    elif limit is not None and vix >= limit:
        reasons.append(f"VIX {formats.price(vix)} is at or above the limit {formats.price(limit)}: no new positions")
    source = ctx.vix_source
    if ctx.vix_as_of is not None:
        source = f"{source}, as of {formats.moment(ctx.vix_as_of, seconds=True)}"
    return _result(
        "vix", "VIX below the limit",
        observed="unknown" if vix is None else formats.price(vix),
        threshold=f"< {formats.price(limit)}" if limit is not None else "not set",
        source=source, reasons=reasons,
    )


def _spread_check(ctx: RollContext, th: RollThresholds) -> CheckResult:
    limit, missing = threshold_value(th, "min_spread")
    reasons = [missing] if missing else []
    front, front_problem = usable_quote(ctx, ctx.old_front)
    back, back_problem = usable_quote(ctx, ctx.middle)
    reasons += [p for p in (front_problem, back_problem) if p]
    observed = "unknown"
    if front is not None and back is not None:
        spread = back.mid - front.mid
        observed = (f"{formats.price(spread)} ({ctx.middle} {formats.price(back.mid)} - {ctx.old_front} "
                    f"{formats.price(front.mid)})")
        if limit is not None and spread <= limit:
            reasons.append(f"spread {formats.price(spread)} is not above {formats.price(limit)}: do not open a new spread")
    return _result(
        "spread", "Spread VX2 - VX1",
        observed=observed,
        threshold=f"> {formats.price(limit)}" if limit is not None else "not set",
        source=_quote_sources(ctx, (ctx.old_front, ctx.middle)), reasons=reasons,
    )


def _width_check(ctx: RollContext, th: RollThresholds, name: str, label: str,
                 symbol: str, limit_name: str) -> CheckResult:
    limit, missing = threshold_value(th, limit_name)
    reasons = [missing] if missing else []
    quote, problem = usable_quote(ctx, symbol)
    if problem:
        reasons.append(problem)
    observed = "unknown"
    if quote is not None:
        observed = f"{formats.price(quote.width)} ({formats.price(quote.bid)} / {formats.price(quote.ask)})"
        if limit is not None and quote.width > limit:
            reasons.append(f"{leg_name(ctx, symbol)} bid/ask width {formats.price(quote.width)} is above {formats.price(limit)}")
    return _result(
        name, label, observed=observed,
        threshold=f"<= {formats.price(limit)}" if limit is not None else "not set",
        source=_quote_sources(ctx, (symbol,)), reasons=reasons,
    )


def _combo_width_check(ctx: RollContext, th: RollThresholds) -> CheckResult:
    # A calendar combo's market is as wide as its two legs together:
    # (far.ask - near.bid) - (far.bid - near.ask) = far.width + near.width.
    limit, missing = threshold_value(th, "max_combo_width")
    reasons = [missing] if missing else []
    observed = []
    for what, near, far in (("new spread", ctx.middle, ctx.new_back),
                            ("close", ctx.old_front, ctx.middle)):
        near_q, near_problem = usable_quote(ctx, near)
        far_q, far_problem = usable_quote(ctx, far)
        problems = [p for p in (near_problem, far_problem) if p]
        if problems:
            reasons += [f"{what} combo {near}/{far}: {p}" for p in problems]
            observed.append(f"{what} unknown")
            continue
        width = near_q.width + far_q.width
        observed.append(f"{what} {formats.price(width)}")
        if limit is not None and width > limit:
            reasons.append(
                f"{what} combo {near}/{far} market width {formats.price(width)} is above {formats.price(limit)}: "
                "wait; do not cross it"
            )
    return _result(
        "combo_width", "Combo market width",
        observed=", ".join(observed),
        threshold=f"<= {formats.price(limit)} (each combo)" if limit is not None else "not set",
        source=_quote_sources(ctx, (ctx.old_front, ctx.middle, ctx.new_back)), reasons=reasons,
    )


def _describe_positions(positions: dict[str, Decimal]) -> str:
    held = [
        f"{symbol} {formats.quantity(q, with_sign=True)}" for symbol, q in positions.items() if q != 0
    ]
    return ", ".join(held) if held else "flat"


def _positions_check(ctx: RollContext) -> CheckResult:
    q = ctx.quantity
    expected = {ctx.old_front: -q, ctx.middle: q}
    threshold = f"{ctx.old_front} {-q}, {ctx.middle} +{q}, nothing else in VXM"
    reasons = []
    observed = "unknown"
    if ctx.positions is None:
        reasons.append("positions could not be read")
    elif bad := unreadable_positions(ctx.positions):
        reasons.append(f"position for {', '.join(bad)} could not be read")
    else:
        observed = _describe_positions(ctx.positions)
        for symbol, held, want in position_differences(expected, ctx.positions):
            reasons.append(
                f"{symbol} holds {formats.quantity(held, with_sign=True)}, "
                f"expected {formats.quantity(want, with_sign=True)}"
            )
        if reasons:
            reasons.append("reconcile the positions before rolling")
    return _result(
        "positions", "Positions", observed=observed, threshold=threshold,
        source=ctx.positions_source, reasons=reasons,
    )


def _margin_check(ctx: RollContext, th: RollThresholds) -> CheckResult:
    limit, missing = threshold_value(th, "min_margin_headroom_usd")
    reasons = [missing] if missing else []
    value = ctx.excess_liquidity
    observed = "unknown"
    if value is None:
        reasons.append("excess liquidity unknown")
    elif not value.is_finite():
        reasons.append(f"excess liquidity is {value}")
    else:
        observed = formats.usd(value)
        if limit is not None and value < limit:
            reasons.append(
                f"excess liquidity {formats.usd(value)} is below {formats.usd(limit)}: "
                "reduce or fund first"
            )
    return _result(
        "margin", "Margin headroom (excess liquidity)", observed=observed,
        threshold=f">= {formats.usd(limit)}" if limit is not None else "not set",
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
        reasons.append(f"{what} quote's as-of time {as_of:%Y-%m-%d %H:%M:%S} has no time zone")
    else:
        age = (now - as_of).total_seconds()
        age_text = f"{_seconds(age)} s"
        if age < 0:
            reasons.append(
                f"quote for {what} is stamped {_seconds(-age)} s in the future (clock mismatch)"
            )
        elif limit is not None and Decimal(str(age)) >= limit:
            reasons.append(
                f"quote for {what} is {_seconds(age)} s old (limit {formats.quantity(limit)} s)"
            )
    return f"{what} {kind or 'no source'} {age_text}", reasons


def _market_data_check(ctx: RollContext, th: RollThresholds) -> CheckResult:
    limit, missing = threshold_value(th, "max_quote_age_seconds")
    reasons = [missing] if missing else []
    observed = []
    for symbol in (ctx.old_front, ctx.middle, ctx.new_back):
        quote = ctx.quotes.get(symbol)
        if quote is None:
            reasons.append(f"no quote for {leg_name(ctx, symbol)}")
            observed.append(f"{symbol} none")
            continue
        _, problem = usable_quote(ctx, symbol)
        if problem:
            reasons.append(problem)
        text, problems = _freshness(leg_name(ctx, symbol), quote.source, quote.as_of, ctx.now, limit)
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
            f"live (or manual), younger than {formats.quantity(limit)} s" if limit is not None else "not set"
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
        source=f"exchange calendar {CFE}", reasons=reasons,
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

