"""The two VRP-CS roll tickets and the roll's net legs (DECISIONS.md §3; LEGACY.md §2.10).

The roll is two 1:1 calendar combos, never one ratio bag (LEGACY inconsistency 20):

* Ticket 1, "Close the old spread": SELL the (old front, middle) combo,
  which fills as BUY q old front + SELL q middle.
* Ticket 2, "Open the new spread": BUY the (middle, new back) combo,
  which fills as SELL q middle + BUY q new back.

Combo convention (LEGACY §2.10): a calendar combo is defined near/far with the
legs SELL near + BUY far, so BUYING it sells the near month and buys the far
one, and its price is far - near. Selling it reverses both legs.

Pure functions over the frozen inputs of rolls.roll_inputs: no Django, no I/O, no clock. A leg
quote that cannot be priced from gets no ticket, for the reason the pre-roll checks give.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from dspops.core.calendars import trading_date
from dspops.core.vx import parse_local_symbol
from rolls.roll_inputs import LegQuote, RollContext, RollThresholds, threshold_value, usable_quote
from dspops.core import formats

__all__ = [
    "RollTickets",
    "Ticket",
    "TicketLeg",
    "net_legs",
    "roll_tickets",
    "round_to_tick",
    "trades_to_target",
]

_ROOT = "VXM"


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
        ("Limit price", formats.price(limit)),
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
    buffer, buffer_missing = threshold_value(th, "limit_buffer")
    tick, tick_missing = threshold_value(th, "tick")
    if tick is not None and tick <= 0:
        tick, tick_missing = None, f"threshold tick is {tick}, not a positive price step"
    if buffer is not None and buffer < 0:
        buffer, buffer_missing = None, f"threshold limit_buffer is {buffer}, below zero"
    pricing = [p for p in (buffer_missing, tick_missing) if p]
    if pricing:
        return RollTickets((), ("No tickets: " + "; ".join(pricing),))

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
        near_q, near_problem = usable_quote(ctx, near)
        far_q, far_problem = usable_quote(ctx, far)
        candidates = (near_problem, far_problem, month_problems.get(near), month_problems.get(far))
        blocking = [p for p in candidates if p]
        if blocking:
            problems.append(f"No '{title}' ticket: " + "; ".join(blocking))
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

