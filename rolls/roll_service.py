"""The VRP-CS roll: plan it, check it, execute it (the operator trades in TWS), verify it.

Every state change goes through ``transition``, which moves the row only if nobody else moved
it first (a conditional UPDATE on state and version), so two operators confirming the same step
at once cannot both succeed. Everything a check saw is stored with it.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import F

from dspops.core import bounds, calendars, clock, formats, vx
from dspops.core.alerts import raise_alert, resolve_alerts
from dspops.core.broker_sync import GatewayError, open_gateway, record_quotes
from dspops.core.errors import OperatorError
from dspops.core.instruments import vxm_instrument
from dspops.core.models import Alert, BrokerSnapshot, DataSource, Instrument, QuoteSnapshot, SecType
from rolls import checks, roll_inputs, roll_states, tickets, verification
from rolls.models import CheckResult, RollAttempt, RollCheck, RollLegFill, RollTransition
from rolls.roll_states import OPEN_ROLL_STATES, RollState
from sleeves import naked_legs, parameters
from sleeves.fill_import import FillImportError, sync_fills
from sleeves.models import (
    Fill, FillSource, SignalState, SpreadPosition, default_levels, positions_batch, validate_spread_levels,
)
from sleeves.selectors import sleeve_settings
from sleeves.services import reverse_fills
from sleeves.strategies import GateState

log = logging.getLogger("dspops.rolls")


class RollError(OperatorError):
    """The roll cannot do what was asked. The message says why and what to do."""


class ConcurrentChange(RollError):
    """Someone else moved the roll first."""


# --- transitions ---------------------------------------------------------------------------------


def transition(*, attempt: RollAttempt, to_state: str, user, why: str, now: datetime | None = None,
               **fields) -> RollAttempt:
    """Move ``attempt`` to ``to_state`` if it is still where the caller saw it; record who, when, why."""
    try:
        roll_states.check_transition(attempt.state, to_state)
    except roll_states.TransitionNotAllowed as exc:
        raise RollError(str(exc)) from None
    now = now or clock.now()
    with transaction.atomic():
        moved = RollAttempt.objects.filter(pk=attempt.pk, state=attempt.state, version=attempt.version).update(
            state=to_state, version=F("version") + 1, **fields)
        if moved != 1:
            current = RollAttempt.objects.get(pk=attempt.pk)
            raise ConcurrentChange(
                f"This roll was changed by someone else meanwhile: it is now {current.get_state_display()}. "
                "Reload the page and look again before acting."
            )
        RollTransition.objects.create(attempt=attempt, from_state=attempt.state, to_state=to_state, at=now,
                                      by=user if getattr(user, "pk", None) else None, why=why)
    attempt.refresh_from_db()
    return attempt


# --- planning ------------------------------------------------------------------------------------


def active_position() -> SpreadPosition | None:
    return (SpreadPosition.objects.filter(sleeve__code="VRP_CS", is_active=True)
            .select_related("short_leg", "long_leg").first())


def roll_legs(position: SpreadPosition) -> tuple[Instrument, Instrument, Instrument]:
    middle_month = vx.ContractMonth.from_label(position.long_leg.contract_month)
    return position.short_leg, position.long_leg, vxm_instrument(middle_month.shift(1))


def plan_roll(*, user, rehearsal: bool = False, now: datetime | None = None) -> RollAttempt:
    now = now or clock.now()
    position = active_position()
    if position is None:
        raise RollError("There is no active VRP-CS position config to roll. Enter the current position first.")
    _refuse_expired(position, now)
    old_front, middle, new_back = roll_legs(position)
    try:
        with transaction.atomic():
            attempt = RollAttempt.objects.create(
                sleeve=position.sleeve, position=position, rehearsal=rehearsal, quantity=position.quantity,
                old_front=old_front, middle=middle, new_back=new_back, created_at=now,
                created_by=user if getattr(user, "pk", None) else None,
            )
            RollTransition.objects.create(attempt=attempt, from_state=RollState.PLANNED, to_state=RollState.PLANNED,
                                          at=now, by=attempt.created_by,
                                          why=("Rehearsal planned" if rehearsal else "Roll planned")
                                          + f" from the position config #{position.pk}")
    except IntegrityError:
        existing = RollAttempt.objects.filter(sleeve=position.sleeve, rehearsal=rehearsal,
                                              state__in=OPEN_ROLL_STATES).first()
        raise RollError(f"{existing} is still open; finish or abort it first.") from None
    return attempt


def _refuse_expired(position: SpreadPosition, now: datetime) -> None:
    """A config whose short leg has settled is not a live position: raise a critical alert and refuse."""
    expiry = position.legs_expired_on
    if position.legs_settled_by(clock.trading_date(now)):
        subject, message = position.settled_legs_alert
        raise_alert(code="spread_legs_expired", subject=subject, sleeve=position.sleeve, message=message)
        raise RollError(f"The position config's short leg {position.short_leg} settled on {expiry}: it is not a live "
                        "position and cannot be rolled. Reconcile with the broker and enter the current position.")


# --- checks --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ManualQuote:
    bid: Decimal | None
    ask: Decimal | None


def thresholds(tick: Decimal | None = None) -> roll_inputs.RollThresholds:
    cs = sleeve_settings("VRP_CS")
    return roll_inputs.RollThresholds(
        max_vix=cs["max_vix"], min_spread=cs["min_spread"], max_leg_width=cs["max_leg_width"],
        max_new_back_width=cs["max_new_back_width"], max_combo_width=cs["max_combo_width"],
        min_margin_headroom_usd=cs["min_margin_headroom_usd"], max_quote_age_seconds=cs["max_quote_age_seconds"],
        limit_buffer=cs["limit_buffer"], tick=tick or Decimal("0.01"),
    )


def run_checks(*, attempt: RollAttempt | None = None, user=None, live: bool = True,
               manual_quotes: dict[str, ManualQuote] | None = None, manual_vix: Decimal | None = None,
               role: str = "web", now: datetime | None = None) -> RollCheck:
    """Run the pre-roll checks and store them; move the attempt (if any) to GO or DO NOT ROLL."""
    fixed_now = now
    now = now or clock.now()
    if attempt is not None:
        legs = (attempt.old_front, attempt.middle, attempt.new_back)
        quantity = attempt.quantity
    else:
        position = active_position()
        if position is None:
            raise RollError("There is no active VRP-CS position config to check a roll for.")
        _refuse_expired(position, now)
        legs, quantity = roll_legs(position), position.quantity
    old_front, middle, new_back = legs
    vix_instrument = Instrument.objects.get(symbol="VIX", sec_type=SecType.INDEX)
    inputs: dict = {"legs": [str(i) for i in legs], "quantity": quantity}
    problems: list[str] = []
    simulated = False
    quotes: dict[str, QuoteSnapshot] = {}
    positions: dict[str, Decimal] | None = None
    positions_source = excess_source = ""
    excess = None

    if manual_quotes is not None:
        quotes, vix_quote = _manual_quote_rows(legs, vix_instrument, manual_quotes, manual_vix, now)
        if vix_quote is not None:
            quotes["VIX"] = vix_quote
    if live:
        try:
            with open_gateway(role) as gateway:
                wanted = [vix_instrument, *legs] if manual_quotes is None else []
                if wanted:
                    stored = record_quotes(gateway, wanted, max_age_s=thresholds().max_quote_age_seconds)
                    quotes = {str(i.local_symbol): stored[i.pk] for i in wanted}
                broker_positions = gateway.positions()
                account = gateway.account_values()
                simulated = gateway.simulated
                kind = "simulated" if simulated else "live"
                positions = {p.local_symbol: p.quantity for p in broker_positions
                             if p.sec_type == "FUT" and p.symbol == "VXM"}
                positions_source = f"broker ({kind}) {account.account}"
                excess, excess_source = account.excess_liquidity, f"broker ({kind}) ExcessLiquidity"
        except GatewayError as exc:
            problems.append(f"broker unavailable: {exc}")
    # Judge quote ages at the moment the data is in hand, not when the request started.
    now = fixed_now or clock.now()
    if positions is None:
        positions, positions_source, excess, excess_source = _stored_broker_state(now, excess_source)
    vix_row = quotes.pop("VIX", None)
    vix_value = None
    if vix_row is not None and vix_row.valid:
        vix_value = vix_row.last if vix_row.last is not None else None
    gate_state, gate_source = _gate(now)
    leg_quotes = {str(i.local_symbol): _leg_quote(i, quotes.get(str(i.local_symbol))) for i in legs}
    cfe = calendars.market_hours(now, exchange=calendars.CFE)
    ctx = roll_inputs.RollContext(
        now=now, gate_state=gate_state, gate_source=gate_source,
        vix=vix_value, vix_source=_vix_source(vix_row), vix_as_of=vix_row.as_of if vix_row else None,
        quantity=quantity, old_front=str(old_front), middle=str(middle), new_back=str(new_back),
        quotes=leg_quotes, positions=positions, excess_liquidity=excess, excess_liquidity_source=excess_source or "missing",
        positions_source=positions_source, cfe_open=cfe.is_open, cfe_hours=cfe.describe(),
    )
    th = thresholds(middle.min_tick)
    results = checks.pre_roll_checks(ctx, th)
    verdict = checks.verdict(results)
    priced = tickets.roll_tickets(ctx, th)
    data_complete = not problems and vix_value is not None and positions is not None and excess is not None \
        and all(q.valid for q in leg_quotes.values())
    inputs.update({
        "gate": {"state": gate_state, "source": gate_source},
        "vix": {"value": _s(vix_value), "source": ctx.vix_source, "as_of": _t(ctx.vix_as_of),
                "reason": vix_row.invalid_reason if vix_row else "no VIX quote"},
        "quotes": {sym: {"bid": _s(q.bid), "ask": _s(q.ask), "valid": q.valid, "reason": q.invalid_reason,
                         "source": q.source, "as_of": _t(q.as_of)} for sym, q in leg_quotes.items()},
        "positions": {k: str(v) for k, v in positions.items()} if positions is not None else None,
        "positions_source": positions_source,
        "excess_liquidity": _s(excess), "excess_liquidity_source": excess_source,
        "problems": problems,
        "cfe": {"open": cfe.is_open, "hours": cfe.describe(), "session": _t(cfe.session),
                "closes_at": _t(cfe.closes_at)},
    })
    with transaction.atomic():
        record = RollCheck.objects.create(
            attempt=attempt, checked_at=now, checked_by=getattr(user, "username", "") or "", verdict=verdict,
            data_complete=data_complete, simulated=simulated, manual_quotes=manual_quotes is not None,
            inputs=inputs, tickets=[_ticket_json(t) for t in priced.tickets], ticket_problems=list(priced.problems),
            net_legs={k: v for k, v in tickets.net_legs(ctx).items()},
        )
        CheckResult.objects.bulk_create(
            CheckResult(check_run=record, position=i, name=r.name, label=r.label, observed=r.observed[:300],
                        threshold=r.threshold[:120], passed=r.passed, source=r.source[:120],
                        reason=r.reason or ("" if r.passed else "failed"))
            for i, r in enumerate(results)
        )
        if attempt is not None:
            failing = [r.label for r in results if not r.passed]
            why = "All pre-roll checks passed" if verdict == "GO" else "Failing: " + ", ".join(failing)
            if manual_quotes is not None:
                why += " (quotes typed by the operator)"
            transition(attempt=attempt, to_state=RollState.CHECKED_GO if verdict == "GO" else RollState.CHECKED_NO_GO,
                       user=user, why=why, now=now)
    return record


def _vix_source(row: QuoteSnapshot | None) -> str:
    """The VIX row's source, with the reason the quote was unusable so the failing check says why."""
    if row is None:
        return "missing: no VIX quote"
    return row.source if row.valid else f"{row.source}: {row.invalid_reason}"


def _manual_quote_rows(legs, vix_instrument, manual_quotes, manual_vix, now):
    rows = {}
    with transaction.atomic():
        for instrument in legs:
            typed = manual_quotes.get(str(instrument))
            if typed is None:
                continue
            reason = _manual_problem(typed)
            rows[str(instrument)] = QuoteSnapshot.objects.create(
                instrument=instrument, bid=_storable(typed.bid), ask=_storable(typed.ask), source=DataSource.MANUAL,
                as_of=now, valid=not reason, invalid_reason=reason)
        vix_row = None
        if manual_vix is not None:
            vix_row = QuoteSnapshot.objects.create(
                instrument=vix_instrument, last=_storable(manual_vix), source=DataSource.MANUAL, as_of=now,
                valid=manual_vix > 0, invalid_reason="" if manual_vix > 0 else f"VIX must be above 0 (typed {manual_vix})")
    return rows, vix_row


def _storable(value: Decimal | None) -> Decimal | None:
    # A quote row never holds a negative price (a database constraint); the reason keeps what was typed.
    return value if value is not None and value >= 0 else None


def _manual_problem(typed: ManualQuote) -> str:
    if typed.bid is None or typed.ask is None:
        return "typed quote is missing its bid or ask"
    if typed.bid <= 0 or typed.ask <= 0:
        return f"typed prices must be above 0 (bid {typed.bid}, ask {typed.ask})"
    if typed.bid > typed.ask:
        return "crossed market (bid > ask)"
    return ""


def _stored_broker_state(now: datetime, excess_source: str):
    """Positions and excess liquidity from a broker snapshot taken today, or nothing."""
    today_start = datetime.combine(clock.trading_date(now), datetime.min.time(), tzinfo=now.tzinfo)
    snapshot = BrokerSnapshot.objects.filter(as_of__gte=today_start - timedelta(hours=12), as_of__lte=now).first()
    if snapshot is None or clock.trading_date(snapshot.as_of) != clock.trading_date(now):
        return None, "no broker reading today", None, excess_source or "no broker reading today"
    positions = {p["local_symbol"]: Decimal(p["quantity"]) for p in snapshot.positions
                 if p["sec_type"] == "FUT" and p["local_symbol"].startswith("VXM")}
    label = f"broker snapshot {snapshot.account} at {clock.trading_date(snapshot.as_of)} {snapshot.as_of:%H:%M} UTC"
    return positions, label, snapshot.excess_liquidity, label


def _gate(now: datetime) -> tuple[str, str]:
    state = SignalState.objects.filter(sleeve__code="VRP_CS", name="gate").first()
    session = clock.current_session(now)
    if state is None:
        return GateState.UNKNOWN.value, "no gate state recorded: run the VRP-CS monitor first"
    if state.last_session < session:
        return GateState.UNKNOWN.value, f"gate last evaluated {state.last_session}; run the VRP-CS monitor today"
    return state.state, f"VRP-CS monitor, session {state.last_session}"


def _leg_quote(instrument: Instrument, row: QuoteSnapshot | None) -> roll_inputs.LegQuote:
    if row is None:
        return roll_inputs.LegQuote(local_symbol=str(instrument), bid=None, ask=None, last=None, valid=False,
                                    invalid_reason="no quote", as_of=None, source="missing")
    source = "delayed" if row.source in (DataSource.DELAYED, DataSource.DELAYED_FROZEN) else (
        "frozen" if row.source == DataSource.FROZEN else row.source)
    return roll_inputs.LegQuote(local_symbol=str(instrument), bid=row.bid, ask=row.ask, last=row.last,
                                valid=row.valid, invalid_reason=row.invalid_reason, as_of=row.as_of, source=source)


def _ticket_json(ticket: tickets.Ticket) -> dict:
    return {
        "title": ticket.title, "combo_action": ticket.combo_action, "quantity": ticket.quantity,
        "legs": [{"local_symbol": leg.local_symbol, "action": leg.action, "ratio": leg.ratio, "bid": _s(leg.bid),
                  "ask": _s(leg.ask), "width": _s(leg.width), "contract_month": leg.contract_month,
                  "combo_leg_action": leg.combo_leg_action} for leg in ticket.legs],
        "combo_bid": _s(ticket.combo_bid), "combo_ask": _s(ticket.combo_ask), "combo_mid": _s(ticket.combo_mid),
        "combo_width": _s(ticket.combo_width), "limit_price": _s(ticket.limit_price),
        "tws_fields": [list(pair) for pair in ticket.tws_fields],
    }


def _s(value) -> str | None:
    return None if value is None else str(value)


def _t(value) -> str | None:
    return None if value is None else value.isoformat()


# --- execution -----------------------------------------------------------------------------------


def go_expires_at(checked_at: datetime) -> datetime:
    """When a GO given at ``checked_at`` stops allowing execution: ``go_valid_minutes`` later, and never
    past the close of the CFE session it was given in (a GO outside CFE hours expires at once)."""
    window = checked_at + timedelta(minutes=sleeve_settings("VRP_CS")["go_valid_minutes"])
    cfe = calendars.market_hours(checked_at, exchange=calendars.CFE)
    return min(window, cfe.closes_at) if cfe.is_open else checked_at


def start_executing(*, attempt: RollAttempt, user, now: datetime | None = None) -> RollAttempt:
    now = now or clock.now()
    latest = attempt.checks.order_by("-checked_at", "-id").first()
    if latest is None or latest.verdict != "GO":
        raise RollError("The latest pre-roll check is not GO: do not trade.")
    expires = go_expires_at(latest.checked_at)
    if now > expires:
        raise RollError(f"The GO verdict from {formats.moment(latest.checked_at, seconds=True)} expired at "
                        f"{formats.moment(expires, seconds=True)} (its time limit or the CFE close): "
                        "re-run the checks before trading.")
    positions = latest.inputs.get("positions")
    return transition(attempt=attempt, to_state=RollState.EXECUTING, user=user, now=now, executing_since=now,
                      positions_before=positions, positions_before_source=(
                          f"the GO check of {formats.moment(latest.checked_at, seconds=True)}: "
                          f"{latest.inputs.get('positions_source') or 'source not recorded'}")[:200],
                      why="Operator is placing the two combos in TWS" + (" (rehearsal)" if attempt.rehearsal else ""))


@dataclass(frozen=True)
class LegStatus:
    ticket: str
    instrument: Instrument
    side: str
    required: int
    filled: int
    average_price: Decimal | None
    warning: str

    @property
    def done(self) -> bool:
        return self.filled >= self.required


def required_legs(attempt: RollAttempt) -> list[tuple[str, Instrument, str]]:
    return [("close", attempt.old_front, "BUY"), ("close", attempt.middle, "SELL"),
            ("open", attempt.middle, "SELL"), ("open", attempt.new_back, "BUY")]


def leg_status(attempt: RollAttempt, *, now: datetime | None = None) -> list[LegStatus]:
    now = now or clock.now()
    minutes = sleeve_settings("VRP_CS")["fill_warning_minutes"]
    fills = defaultdict(list)
    for fill in counted_leg_fills(attempt):
        fills[(fill.ticket, fill.instrument_id, fill.side)].append(fill)
    rows = []
    for ticket, instrument, side in required_legs(attempt):
        mine = fills[(ticket, instrument.pk, side)]
        filled = sum(f.quantity for f in mine)
        average = (sum(f.price * f.quantity for f in mine) / filled).quantize(Decimal("0.0001")) if filled else None
        warning = ""
        if filled < attempt.quantity and attempt.executing_since and attempt.state == RollState.EXECUTING:
            waited = now - attempt.executing_since
            if waited > timedelta(minutes=minutes):
                warning = (f"{side} {attempt.quantity - filled} {instrument} still unfilled after "
                           f"{int(waited.total_seconds() // 60)} minutes: cancel and re-evaluate.")
        rows.append(LegStatus(ticket, instrument, side, attempt.quantity, filled, average, warning))
    return rows


def raise_fill_warnings(attempt: RollAttempt, *, now: datetime | None = None) -> list[str]:
    """Raise (or refresh) the warning alert for the legs of an executing roll still unfilled after
    ``fill_warning_minutes``; return the warnings. The roll page only shows them (a GET never
    writes): the fill actions (record, pull) and the scheduled roll check raise them."""
    warnings = [row.warning for row in leg_status(attempt, now=now) if row.warning]
    for text in warnings:
        raise_alert(code="roll_leg_unfilled", subject=f"roll-{attempt.pk}", severity="warning", sleeve=attempt.sleeve,
                    about=attempt, message=("Rehearsal: " if attempt.rehearsal else "") + text, now=now)
    return warnings


def raise_unfilled_leg_alerts(*, now: datetime | None = None) -> list[str]:
    """The unfilled-leg warnings of every executing roll (and rehearsal), raised as alerts."""
    executing = RollAttempt.objects.filter(state=RollState.EXECUTING).select_related(
        "sleeve", "old_front", "middle", "new_back")
    return [text for attempt in executing for text in raise_fill_warnings(attempt, now=now)]


class NeedsConfirmation(RollError):
    """A leg fill that looks wrong: recorded only when the operator confirms the warnings it lists."""

    def __init__(self, warnings: list[str]):
        self.warnings = list(warnings)
        super().__init__("Nothing was recorded: " + " ".join(self.warnings)
                         + " If the fill is right, tick the confirmation and record it again.")


def _go_check(attempt: RollAttempt) -> RollCheck | None:
    """The GO check that allowed trading (the latest GO of the attempt)."""
    return attempt.checks.filter(verdict="GO").order_by("-checked_at", "-id").first()


def _combo_legs(attempt: RollAttempt, ticket: str) -> tuple[Instrument, Instrument]:
    """(near, far) of a ticket's calendar combo; its price is far - near."""
    return (attempt.old_front, attempt.middle) if ticket == "close" else (attempt.middle, attempt.new_back)


def leg_fill_warnings(*, attempt: RollAttempt, ticket: str, instrument: Instrument, side: str, quantity: int,
                      price: Decimal) -> list[str]:
    """What is odd about a leg fill, in the operator's words: a price further than the VRP-CS setting
    ``leg_price_tolerance_points`` outside the leg's bid/ask, or a combo price (from the ticket's leg
    fills, this one included) further than ``combo_price_tolerance_points`` from the ticket's limit.
    A quote or limit that was not stored is a warning too: the price cannot be compared (fail closed)."""
    cs = sleeve_settings("VRP_CS")
    leg_tolerance, combo_tolerance = cs["leg_price_tolerance_points"], cs["combo_price_tolerance_points"]
    check = _go_check(attempt)
    symbol = str(instrument)
    warnings = []
    quote = (check.inputs.get("quotes") or {}).get(symbol) if check else None
    bid = Decimal(quote["bid"]) if quote and quote.get("bid") else None
    ask = Decimal(quote["ask"]) if quote and quote.get("ask") else None
    if bid is None or ask is None:
        warnings.append(f"There is no stored quote for {symbol}, so {formats.price(price)} cannot be compared with "
                        "the market.")
    else:
        off = bid - price if price < bid else price - ask if price > ask else Decimal(0)
        if off > leg_tolerance:
            warnings.append(f"{side} {quantity} {symbol} @ {formats.price(price)} is {formats.price(off)} points "
                            f"outside its market {formats.price(bid)} / {formats.price(ask)} (the tolerance is "
                            f"{formats.price(leg_tolerance)}).")
    near, far = _combo_legs(attempt, ticket)
    legs = {(row.instrument.pk, row.side): row for row in leg_status(attempt) if row.ticket == ticket}
    averages = {}
    for leg in (near, far):
        row = next(r for (pk, _), r in legs.items() if pk == leg.pk)
        total = row.filled * (row.average_price or 0)
        count = row.filled
        if leg.pk == instrument.pk:
            total, count = total + price * quantity, count + quantity
        averages[leg.pk] = (total / count) if count else None
    if averages[near.pk] is not None and averages[far.pk] is not None:
        combo = (averages[far.pk] - averages[near.pk]).quantize(Decimal("0.0001"))
        limit = None
        for stored in (check.tickets if check else []):
            if [leg["local_symbol"] for leg in stored.get("legs", [])] == [str(near), str(far)]:
                limit = Decimal(stored["limit_price"]) if stored.get("limit_price") else None
        title = "close (old spread)" if ticket == "close" else "open (new spread)"
        if limit is None:
            warnings.append(f"The {title} ticket has no stored limit, so its combo price {formats.price(combo)} "
                            "cannot be compared with it.")
        elif abs(combo - limit) > combo_tolerance:
            warnings.append(f"With this fill the {title} combo fills at {formats.price(combo)} ({far} − {near}), "
                            f"{formats.price(abs(combo - limit))} points from the ticket's limit "
                            f"{formats.price(limit)} (the tolerance is {formats.price(combo_tolerance)}).")
    return warnings


def record_leg_fill(*, attempt: RollAttempt, ticket: str, instrument: Instrument, side: str, quantity: int,
                    price: Decimal, executed_at: datetime, user, exec_id: str | None = None,
                    source: str = "manual", fill: Fill | None = None, confirm: bool = False,
                    shown: list[str] | None = None) -> RollLegFill:
    """Record one fill of one leg. Exactly one of two operators recording the same leg at once wins: the
    over-fill check runs inside the transaction, with the roll's row locked, and the roll's version moves.

    A typed fill (source "manual") is refused with a future time, and with a price far from the leg's
    quote or a combo price far from the ticket's limit unless ``confirm`` (NeedsConfirmation lists the
    warnings; confirmed, they are stored with the fill). ``shown``: the warnings the page showed the operator;
    a confirmation then covers only those (a warning not shown asks again); the page always passes it.
    IBKR's executions are what happened: not judged.
    """
    if attempt.state != RollState.EXECUTING:
        raise RollError(f"Fills are recorded while the roll is Executing; it is {attempt.get_state_display()}.")
    wanted = [(t, i.pk, s) for t, i, s in required_legs(attempt)]
    if (ticket, instrument.pk, side) not in wanted:
        legs = "; ".join(f"{t}: {s} {i}" for t, i, s in required_legs(attempt))
        raise RollError(f"{side} {instrument} is not a leg of the {ticket} ticket. The legs are: {legs}.")
    if quantity <= 0 or price <= 0:
        raise RollError("The quantity and the price must both be above 0.")
    try:
        bounds.check_execution_time(executed_at, clock.now(), "The fill's time")
    except bounds.OutOfBounds as exc:
        raise RollError(f"{side} {quantity} {instrument}: {exc}. Enter the time TWS shows for the fill.") from None
    key = (ticket, instrument.pk, side)
    status = {(r.ticket, r.instrument.pk, r.side): r for r in leg_status(attempt)}[key]
    if status.filled + quantity > status.required:
        raise RollError(f"{side} {quantity} {instrument} would over-fill the {ticket} ticket: "
                        f"{status.filled} of {status.required} already recorded.")
    warnings = [] if source == "ibkr" else leg_fill_warnings(
        attempt=attempt, ticket=ticket, instrument=instrument, side=side, quantity=quantity, price=price)
    if warnings and not (confirm and (shown is None or set(warnings) <= set(shown))):
        raise NeedsConfirmation(warnings)
    with transaction.atomic():
        locked = RollAttempt.objects.select_for_update().get(pk=attempt.pk)
        if locked.state != RollState.EXECUTING:
            raise ConcurrentChange(f"Nothing was recorded: this roll was changed by someone else meanwhile: it is now "
                                   f"{locked.get_state_display()}. Reload the page and look again before acting.")
        now_filled = {(r.ticket, r.instrument.pk, r.side): r for r in leg_status(locked)}[key].filled
        if now_filled + quantity > status.required:
            raise ConcurrentChange(
                f"Nothing was recorded: someone else recorded {side} {instrument} ({ticket} ticket) meanwhile; "
                f"{now_filled} of {status.required} is now recorded. Reload the page and look again before acting.")
        RollAttempt.objects.filter(pk=attempt.pk).update(version=F("version") + 1)
        if not attempt.rehearsal and fill is None:
            fill = Fill(sleeve=attempt.sleeve, instrument=instrument, side=side, quantity=Decimal(quantity),
                        price=price, executed_at=executed_at, exec_id=exec_id,
                        order_ref=f"vrp-cs roll #{attempt.pk} {ticket}", source=FillSource.MANUAL,
                        note=f"Roll #{attempt.pk}, {ticket} ticket", confirmed_warnings=warnings,
                        entered_by=user if getattr(user, "pk", None) else None)
            fill.full_clean()
            fill.save()
        leg = RollLegFill.objects.create(attempt=attempt, ticket=ticket, instrument=instrument, side=side,
                                         quantity=quantity, price=price, executed_at=executed_at, source=source,
                                         exec_id=exec_id if attempt.rehearsal else None, fill=fill,
                                         confirmed_warnings=warnings,
                                         entered_by=user if getattr(user, "pk", None) else None)
        attempt.refresh_from_db()
        if all(row.done for row in leg_status(attempt)):
            transition(attempt=attempt, to_state=RollState.LEGS_FILLED, user=user,
                       why="All four legs have fills for the full quantity")
            resolve_alerts(code="roll_leg_unfilled", keep_subjects=_open_subjects("roll_leg_unfilled",
                                                                                  but=f"roll-{attempt.pk}"))
        else:
            raise_fill_warnings(attempt)
    return leg


def reverse_leg_fill(*, leg: RollLegFill, user, reason: str, now: datetime | None = None) -> RollLegFill:
    """Take back one recorded leg fill (typed wrong) until the roll is verified: the leg counts it no more,
    a real roll's book Fill is reversed, and a roll whose legs were all filled goes back to Executing so
    the leg can be recorded again."""
    now = now or clock.now()
    if not reason.strip():
        raise RollError("Say why the leg fill is reversed.")
    with transaction.atomic():
        attempt = RollAttempt.objects.select_for_update().get(pk=leg.attempt_id)
        if attempt.state not in (RollState.EXECUTING, RollState.LEGS_FILLED, RollState.ESCALATED):
            raise RollError(f"A leg fill can be reversed until the roll is verified; this roll is "
                            f"{attempt.get_state_display()}.")
        leg = RollLegFill.objects.select_for_update().get(pk=leg.pk)
        if leg.reversed_at is not None:
            raise ConcurrentChange(f"The leg fill {leg} was already reversed. Reload the page.")
        text = f"Roll #{attempt.pk}: leg fill reversed: {reason.strip()}"
        # A book Fill already reversed from the Fills page is not reversed twice: the leg is marked reversed.
        if leg.fill_id is not None and not Fill.objects.filter(reverses_id=leg.fill_id).exists():
            reverse_fills(fills=[leg.fill], user=user if getattr(user, "pk", None) else None, reason=text)
        leg.reversed_at, leg.reversal_reason = now, reason.strip()
        leg.reversed_by = user if getattr(user, "pk", None) else None
        leg.save(update_fields=["reversed_at", "reversal_reason", "reversed_by"])
        RollAttempt.objects.filter(pk=attempt.pk).update(version=F("version") + 1)
        attempt.refresh_from_db()
        if attempt.state != RollState.EXECUTING:
            transition(attempt=attempt, to_state=RollState.EXECUTING, user=user, now=now,
                       why=f"Leg fill {leg} reversed ({reason.strip()}): record the leg again")
        resolve_roll_alerts(attempt, now=now)
    return leg


def _open_subjects(code: str, *, but: str) -> list[str]:
    return [s for s in Alert.objects.filter(code=code, resolved_at__isnull=True).values_list("subject", flat=True)
            if s != but]


def counted_leg_fills(attempt: RollAttempt):
    """The roll's leg fills still counted: not reversed on the roll page, and (real rolls) whose book Fill
    has not been reversed from the Fills page either."""
    return attempt.leg_fills.filter(reversed_at__isnull=True).exclude(fill__reversed_by__isnull=False)


def booked_leg_fills(attempt: RollAttempt) -> list[RollLegFill]:
    """The roll's leg fills still counted (counted_leg_fills), with their book Fill (real rolls)."""
    return list(counted_leg_fills(attempt).select_related("instrument", "fill"))


def has_orphan_legs(attempt: RollAttempt) -> bool:
    """A real roll whose latest diagnosis is orphan legs: some of its legs really are at the broker."""
    return not attempt.rehearsal and (attempt.diagnosis or {}).get("kind") == verification.ORPHAN_LEGS


def roll_break_subject(attempt: RollAttempt, symbol: str) -> str:
    """The identity of a reconciliation_break the roll raised (kept apart from reconciliation's, by contract)."""
    return f"roll-{attempt.pk} {symbol}"


def _roll_break_subjects(attempt: RollAttempt) -> list[str]:
    prefix = roll_break_subject(attempt, "")
    return [s for s in Alert.objects.filter(code="reconciliation_break", resolved_at__isnull=True,
                                            subject__startswith=prefix).values_list("subject", flat=True)]


def resolve_roll_alerts(attempt: RollAttempt, *, now: datetime | None = None) -> None:
    """The rules that resolve a roll's alerts, applied now.

    roll_leg_unfilled: the roll is no longer executing. orphan_leg and roll_fills_not_at_broker: the roll
    is verified, or none of its recorded fills is still booked (reversed on the roll page or from the
    Fills page). An aborted roll with orphan legs: orphan_leg once its legs were handed to naked_leg
    alerts from the broker positions the diagnosis stored (abort does it); kept open when none were
    stored. The roll's reconciliation_break alerts: the roll is verified or aborted.
    """
    attempt.refresh_from_db()
    subject = orphan_alert_subject(attempt)
    if attempt.state != RollState.EXECUTING:
        resolve_alerts(code="roll_leg_unfilled", keep_subjects=_open_subjects("roll_leg_unfilled",
                                                                              but=f"roll-{attempt.pk}"), now=now)
    settled = attempt.state in (RollState.VERIFIED, RollState.CLOSED) or not booked_leg_fills(attempt)
    if settled:
        resolve_alerts(code="roll_fills_not_at_broker",
                       keep_subjects=_open_subjects("roll_fills_not_at_broker", but=subject), now=now)
    if attempt.state == RollState.ABORTED and has_orphan_legs(attempt):
        settled = attempt.diagnosis.get("broker_positions") is not None
    if settled:
        resolve_alerts(code="orphan_leg", keep_subjects=_open_subjects("orphan_leg", but=subject), now=now)
    if attempt.state in (RollState.VERIFIED, RollState.ABORTED):
        breaks = set(_roll_break_subjects(attempt))
        if breaks:
            resolve_alerts(code="reconciliation_break",
                           keep_subjects=[s for s in _open_subjects("reconciliation_break", but="") if s not in breaks],
                           now=now)


def after_fill_reversed(fill: Fill) -> None:
    """A book Fill was reversed (sleeves.services.AFTER_REVERSAL): if it is a leg of an aborted or closed roll,
    that roll's alerts are resolved by their rules at once, not at the next roll check."""
    leg = RollLegFill.objects.filter(fill=fill).select_related("attempt").first()
    if leg is not None and leg.attempt.state in (RollState.ABORTED, RollState.CLOSED):
        resolve_roll_alerts(leg.attempt)


def resolve_finished_roll_alerts(*, now: datetime | None = None) -> None:
    """resolve_roll_alerts for every aborted or closed roll whose alerts are still open (a fill reversed
    from the Fills page after the abort resolves them here: the scheduled roll check and the roll page
    call it)."""
    open_subjects = set(Alert.objects.filter(code__in=("orphan_leg", "roll_fills_not_at_broker", "roll_leg_unfilled",
                                                        "reconciliation_break"),
                                             resolved_at__isnull=True).values_list("subject", flat=True))
    if not open_subjects:
        return
    for attempt in RollAttempt.objects.filter(state__in=(RollState.ABORTED, RollState.CLOSED)):
        mine = {orphan_alert_subject(attempt), f"roll-{attempt.pk}"}
        if mine & open_subjects or any(s.startswith(roll_break_subject(attempt, "")) for s in open_subjects):
            resolve_roll_alerts(attempt, now=now)


def _hand_orphan_legs_to_naked_leg_alerts(attempt: RollAttempt) -> bool:
    """Raise naked_leg alerts (source broker) from the broker positions the orphan-leg diagnosis stored, so
    the legs left at the broker stay watched after the roll is aborted. False when none were stored."""
    stored = (attempt.diagnosis or {}).get("broker_positions")
    if stored is None:
        return False
    near = clock.trading_date()
    holdings: dict[Instrument, Decimal] = {}
    for symbol, quantity in stored.items():
        instrument = Instrument.objects.filter(local_symbol=symbol, sec_type=SecType.FUTURE).first()
        if instrument is None:
            instrument = vxm_instrument(vx.parse_local_symbol(symbol, near=near))
        holdings[instrument] = holdings.get(instrument, Decimal(0)) + Decimal(quantity)
    naked_legs.raise_naked_leg_alerts(naked_legs.find_naked_legs(holdings, naked_legs.active_config()),
                                      source="broker")
    return True


def pull_leg_fills(*, attempt: RollAttempt, user, role: str = "web") -> list[RollLegFill]:
    """Take the roll's fills from IBKR executions since execution began.

    A real roll imports them as the sleeve's Fills first (sync_fills); a rehearsal only reads them.
    """
    if attempt.state != RollState.EXECUTING or attempt.executing_since is None:
        raise RollError("Fills are pulled while the roll is Executing.")
    legs = {attempt.old_front.pk, attempt.middle.pk, attempt.new_back.pk}
    executions = []
    if attempt.rehearsal:
        try:
            with open_gateway(role) as gateway:
                for e in gateway.executions(attempt.executing_since):
                    instrument = Instrument.objects.filter(con_id=e.con_id).first() or Instrument.objects.filter(
                        local_symbol=e.local_symbol, sec_type=SecType.FUTURE).first()
                    if instrument and instrument.pk in legs and e.executed_at >= attempt.executing_since:
                        executions.append((e.exec_id, instrument, e.side, int(e.quantity), e.price, e.executed_at, None))
        except GatewayError as exc:
            raise RollError(f"The executions could not be read: {exc}") from None
    else:
        try:
            sync_fills(since=attempt.executing_since, role=role)
        except FillImportError as exc:
            raise RollError(f"The executions could not be imported: {exc}") from None
        for f in Fill.objects.filter(sleeve=attempt.sleeve, instrument_id__in=legs, roll_leg__isnull=True,
                                     executed_at__gte=attempt.executing_since, reverses__isnull=True).order_by("executed_at"):
            executions.append((f.exec_id, f.instrument, f.side, int(f.quantity), f.price, f.executed_at, f))
    known = set(attempt.leg_fills.exclude(exec_id=None).values_list("exec_id", flat=True))
    recorded = []
    for exec_id, instrument, side, quantity, price, executed_at, fill in executions:
        if exec_id in known or attempt.state != RollState.EXECUTING:
            continue
        ticket = _ticket_for(attempt, instrument, side)
        if ticket is None:
            continue
        recorded.append(record_leg_fill(attempt=attempt, ticket=ticket, instrument=instrument, side=side,
                                        quantity=quantity, price=price, executed_at=executed_at, user=user,
                                        exec_id=exec_id, source="ibkr", fill=fill))
        attempt.refresh_from_db()
    if attempt.state == RollState.EXECUTING:
        raise_fill_warnings(attempt)
    return recorded


def _ticket_for(attempt: RollAttempt, instrument: Instrument, side: str) -> str | None:
    status = leg_status(attempt)
    for row in status:
        if row.instrument.pk == instrument.pk and row.side == side and not row.done:
            return row.ticket
    return None


@dataclass(frozen=True)
class ProposedLevels:
    """The entry spread a verified real roll records, and the stop and take-profit it writes when the
    operator leaves them blank (None when the entry is not positive: then the operator enters both)."""

    entry_spread: Decimal
    stop_loss_spread: Decimal | None
    take_profit_spread: Decimal | None
    stop_multiple: Decimal
    take_profit_multiple: Decimal


def proposed_levels(attempt: RollAttempt) -> ProposedLevels | None:
    """Entry = the open ticket's new back average minus its middle average; levels = entry x the default
    multiples. None until both legs of the open ticket have fills."""
    rows = {(r.ticket, r.instrument.pk, r.side): r for r in leg_status(attempt)}
    short = rows[("open", attempt.middle_id, "SELL")].average_price
    long = rows[("open", attempt.new_back_id, "BUY")].average_price
    if short is None or long is None:
        return None
    entry = (long - short).quantize(Decimal("0.0001"))
    cs = sleeve_settings("VRP_CS")
    levels = default_levels(entry, stop_multiple=cs["default_stop_multiple"],
                            take_profit_multiple=cs["default_take_profit_multiple"])
    return ProposedLevels(entry, *(levels or (None, None)), cs["default_stop_multiple"],
                          cs["default_take_profit_multiple"])


def orphan_alert_subject(attempt: RollAttempt) -> str:
    """The identity of a roll's orphan-leg alert (one per roll, rehearsals kept apart)."""
    return f"{'rehearsal-' if attempt.rehearsal else ''}roll-{attempt.pk}"


# --- verification --------------------------------------------------------------------------------


def verify(*, attempt: RollAttempt, user, stop_loss_spread: Decimal | None = None,
           take_profit_spread: Decimal | None = None, role: str = "web", now: datetime | None = None):
    """Compare the positions with the new spread; update the config (real rolls) or escalate.

    An escalation says which case it is (DECISIONS.md §3): the recorded fills are not at the broker
    (critical roll_fills_not_at_broker; never "trade the roll again"), orphan legs (critical
    orphan_leg with the orders that close them), or positions nobody planned (a reconciliation_break
    per contract, shown as a break on the roll page).
    """
    now = now or clock.now()
    if attempt.state not in (RollState.LEGS_FILLED, RollState.ESCALATED):
        raise RollError(f"A roll is verified once its legs are filled; it is {attempt.get_state_display()}.")
    before, before_source = positions_before(attempt)
    positions, source = _positions_after(attempt, role=role, before=before)
    recorded: dict[str, Decimal] = {}
    for leg in counted_leg_fills(attempt).select_related("instrument"):
        signed = Decimal(leg.quantity) if leg.side == "BUY" else -Decimal(leg.quantity)
        recorded[str(leg.instrument)] = recorded.get(str(leg.instrument), Decimal(0)) + signed
    result = verification.verify_after_roll(quantity=attempt.quantity, old_front=str(attempt.old_front),
                                            middle=str(attempt.middle), new_back=str(attempt.new_back),
                                            positions=positions, before=before, recorded=recorded)
    if positions is None:
        raise RollError(f"Cannot verify: {result.message}")
    subject = orphan_alert_subject(attempt)
    prefix = "Rehearsal: " if attempt.rehearsal else ""
    diagnosis = {**result.as_dict(), "source": source, "before_source": before_source, "at": now.isoformat()}
    if not attempt.rehearsal:  # the broker's VXM positions it saw (a rehearsal's are projected, not the broker's)
        diagnosis["broker_positions"] = {k: str(v) for k, v in positions.items()}
    if not result.ok:
        with transaction.atomic():
            if result.kind == verification.NOT_AT_BROKER:
                raise_alert(code="roll_fills_not_at_broker", subject=subject, severity="critical",
                            sleeve=attempt.sleeve, now=now, about=attempt,
                            message=f"{prefix}{attempt}: {result.message} ({source}).")
                resolve_alerts(code="orphan_leg", keep_subjects=_open_subjects("orphan_leg", but=subject), now=now)
                why = f"The recorded fills are not at the broker ({source})"
            elif result.kind == verification.BREAK:
                for u in result.unplanned:
                    raise_alert(code="reconciliation_break", subject=roll_break_subject(attempt, u.local_symbol),
                                severity="critical",
                                sleeve=attempt.sleeve, now=now,
                                message=f"{prefix}{u.message} (verifying {attempt}, {source}). Nobody planned this "
                                        "position: compare with TWS, then record or pull the fills that explain it, "
                                        "or close it; until then no order is advised.")
                for code in ("orphan_leg", "roll_fills_not_at_broker"):
                    resolve_alerts(code=code, keep_subjects=_open_subjects(code, but=subject), now=now)
                why = f"Break: positions nobody planned ({source}): " + "; ".join(u.message for u in result.unplanned)
            else:
                orders = "; ".join(o.message for o in result.orphans)
                raise_alert(code="orphan_leg", subject=subject, severity="critical", sleeve=attempt.sleeve, now=now,
                            about=attempt,
                            message=f"{prefix}The roll left an orphan leg ({source}). {orders}. Close it now, then "
                                    "verify the roll again.")
                resolve_alerts(code="roll_fills_not_at_broker",
                               keep_subjects=_open_subjects("roll_fills_not_at_broker", but=subject), now=now)
                why = f"Positions are not the new spread ({source}): {orders}"
            transition(attempt=attempt, to_state=RollState.ESCALATED, user=user, now=now, why=why,
                       diagnosis=diagnosis)
        return result
    with transaction.atomic():
        if not attempt.rehearsal:
            _update_position(attempt, stop_loss_spread, take_profit_spread, user, now)
        transition(attempt=attempt, to_state=RollState.VERIFIED, user=user, now=now, verified_at=now,
                   diagnosis=diagnosis,
                   why=f"Positions are exactly the new spread ({source})"
                       + ("; rehearsal: the position config is unchanged" if attempt.rehearsal else
                          "; the position config now holds the new legs"))
        resolve_roll_alerts(attempt, now=now)
    return result


def positions_before(attempt: RollAttempt) -> tuple[dict[str, Decimal] | None, str]:
    """The VXM positions the broker held when trading began (stored when execution started; for a roll
    started before they were stored, the latest GO check's), and where they come from."""
    stored, source = attempt.positions_before, attempt.positions_before_source
    if stored is None:
        check = _go_check(attempt)
        stored = check.inputs.get("positions") if check else None
        source = f"the GO check of {formats.moment(check.checked_at, seconds=True)}" if check else ""
    if stored is None:
        return None, "no pre-roll positions recorded"
    return {k: Decimal(v) for k, v in stored.items()}, source


def _positions_after(attempt: RollAttempt, *, role: str,
                     before: dict[str, Decimal] | None) -> tuple[dict[str, Decimal] | None, str]:
    if attempt.rehearsal:
        if before is None:
            return None, "no pre-roll positions recorded"
        projected = defaultdict(Decimal, before)
        for fill in attempt.leg_fills.filter(reversed_at__isnull=True).select_related("instrument"):
            projected[str(fill.instrument)] += fill.quantity if fill.side == "BUY" else -fill.quantity
        return dict(projected), "rehearsal: the pre-roll broker positions plus the recorded fills"
    try:
        with open_gateway(role) as gateway:
            positions = {p.local_symbol: p.quantity for p in gateway.positions()
                         if p.sec_type == "FUT" and p.symbol == "VXM"}
            return positions, f"broker {'(simulated) ' if gateway.simulated else ''}positions"
    except GatewayError as exc:
        return None, f"broker unavailable: {exc}"


def _update_position(attempt: RollAttempt, stop, take_profit, user, now) -> SpreadPosition:
    status = {(r.ticket, r.instrument.pk, r.side): r for r in leg_status(attempt)}
    short_price = status[("open", attempt.middle.pk, "SELL")].average_price
    long_price = status[("open", attempt.new_back.pk, "BUY")].average_price
    proposed = proposed_levels(attempt)
    entry = proposed.entry_spread
    cs = sleeve_settings("VRP_CS")
    if stop is None or take_profit is None:
        if proposed.stop_loss_spread is None:
            raise RollError(f"The new entry spread is {entry} (not positive): enter both the stop and the take-profit.")
        stop = stop if stop is not None else proposed.stop_loss_spread
        take_profit = take_profit if take_profit is not None else proposed.take_profit_spread
    errors = validate_spread_levels(entry_spread=entry, stop_loss_spread=stop, take_profit_spread=take_profit)
    if errors:
        raise RollError(" ".join(m for messages in errors.values() for m in messages))
    dates = vx.contract_dates(vx.ContractMonth.from_label(attempt.middle.contract_month),
                              sessions_before=cs["roll_sessions_before"])
    position = SpreadPosition.objects.select_for_update().get(pk=attempt.position_id)
    last_fill = attempt.leg_fills.order_by("-executed_at").first()
    position.short_leg, position.long_leg = attempt.middle, attempt.new_back
    position.short_entry_price, position.long_entry_price = short_price, long_price
    position.entry_spread = entry
    position.stop_loss_spread, position.take_profit_spread = stop, take_profit
    position.settlement_date, position.roll_by = dates.settlement_date, dates.roll_by
    position.entry_date = clock.trading_date(last_fill.executed_at if last_fill else now)
    position._change_reason = f"Roll #{attempt.pk} verified"
    if getattr(user, "pk", None):
        position._history_user = user
    position.full_clean()
    position.save()
    return position


def close(*, attempt: RollAttempt, user, now=None) -> RollAttempt:
    return transition(attempt=attempt, to_state=RollState.CLOSED, user=user, now=now, why="Roll finished")


def abort(*, attempt: RollAttempt, user, why: str, reverse_fills: bool = False, now=None) -> RollAttempt:
    """Abandon the roll. With ``reverse_fills`` every fill it recorded is reversed in the same transaction
    (a real roll's book Fills too, each with the reason), so nothing the roll booked stays in the sleeve.
    The roll's alerts are then resolved by their rules (resolve_roll_alerts)."""
    if not why.strip():
        raise RollError("Say why the roll is aborted.")
    if reverse_fills and has_orphan_legs(attempt):
        raise RollError(
            f"Nothing was done: {attempt}'s last verification found orphan legs, so some of its legs are at the "
            "broker; reversing every fill would take them off the book. Reverse only the fills the broker does "
            "not show (the Reverse button beside each in the recorded leg fills), then abort without reversing.")
    now = now or clock.now()
    with transaction.atomic(), positions_batch():  # the legs' positions are replayed once, at the end
        reversed_legs = []
        if reverse_fills:
            reason = f"Roll #{attempt.pk} aborted: {why.strip()}"
            legs = booked_leg_fills(attempt)
            for leg in legs:
                if leg.fill_id is not None and not Fill.objects.filter(reverses_id=leg.fill_id).exists():
                    _reverse_book_fill(leg.fill, user, reason)
                leg.reversed_at, leg.reversal_reason = now, reason
                leg.reversed_by = user if getattr(user, "pk", None) else None
                leg.save(update_fields=["reversed_at", "reversal_reason", "reversed_by"])
                reversed_legs.append(leg)
        text = why.strip()
        if reversed_legs:
            text += f" ({len(reversed_legs)} recorded fill(s) reversed: " + "; ".join(
                f"{leg.side} {leg.quantity} {leg.instrument} @ {formats.price(leg.price)}"
                for leg in reversed_legs) + ")"
        if has_orphan_legs(attempt) and _hand_orphan_legs_to_naked_leg_alerts(attempt):
            text += " (the orphan legs at the broker are now watched as naked_leg alerts)"
        transition(attempt=attempt, to_state=RollState.ABORTED, user=user, now=now, why=text)
        resolve_roll_alerts(attempt, now=now)
    return attempt


def _reverse_book_fill(fill: Fill, user, reason: str) -> None:
    reverse_fills(fills=[fill], user=user if getattr(user, "pk", None) else None, reason=reason)


# --- the scheduled check -------------------------------------------------------------------------


def scheduled_roll_check(*, role: str = "worker") -> str:
    """The scheduled pre-roll check: check the roll when the active position's roll-by is within BOOK roll_alert_sessions CFE sessions.

    First, a roll left executing with a leg unfilled past the fill-warning time gets its warning (the
    checklist page only shows it: a GET never writes).
    """
    late = "".join(f"{warning} " for warning in raise_unfilled_leg_alerts())
    resolve_finished_roll_alerts()
    return late + _check_if_due(role=role)


def _check_if_due(*, role: str) -> str:
    position = active_position()
    if position is None:
        return "no active VRP-CS position config: nothing to roll"
    horizon = sleeve_settings(parameters.BOOK)["roll_alert_sessions"]
    today = clock.trading_date()
    if not calendars.in_window(position.roll_by):
        return (f"roll check not run: the position config's roll-by {position.roll_by} is outside the exchange "
                f"calendar ({calendars.CALENDAR_START} to {calendars.CALENDAR_END}); correct the position config")
    sessions = calendars.sessions_until(today, position.roll_by, exchange=calendars.CFE)
    if sessions > horizon:
        return (f"no roll due within {horizon} sessions: roll-by {position.roll_by} is {sessions} CFE sessions "
                f"after {today}")
    try:
        check = run_checks(attempt=None, live=True, role=role)
    except OperatorError as exc:
        return f"roll check not run: {exc}"
    failing = [r.label for r in check.results.all() if not r.passed]
    due = f"roll-by {position.roll_by} ({sessions} CFE sessions)"
    if not check.data_complete:
        problems = "; ".join(check.inputs.get("problems", [])) or "an input could not be read"
        problems = problems if problems.endswith((".", "?", "!")) else f"{problems}."
        return f"DATA UNAVAILABLE for the roll check, {due}: {problems} Failing: " + ", ".join(failing)
    if check.verdict == "GO":
        return f"Roll check GO for {due}" + (" (simulated broker)" if check.simulated else "")
    return f"Roll check DO NOT ROLL for {due}: failing " + ", ".join(failing)
