"""Monitor services: VRP-ERP, VRP-CS and the vol-target overlay.

Each one gathers its inputs (the broker when live, stored data otherwise, explicit values when
given), runs the pure strategy, and stores a MonitorRun with the inputs, their sources and
as-of times, and the outputs, together with the sleeve's log row and its persisted state, in
one transaction. A missing input makes the run DATA UNAVAILABLE, with the reason.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Mapping

from django.db import transaction
from django.utils import timezone

from dspops.core import calendars, clock, formats
from dspops.core.broker_sync import GatewayError, open_gateway, qualify, record_quotes
from dspops.core.models import DataSource, Instrument, QuoteSnapshot, SecType
from sleeves import inputs, naked_legs
from sleeves.inputs import Observation
from sleeves.models import (
    LogDataStatus,
    MonitorRun,
    PriceBar,
    SpreadPosition,
    RunKind,
    RunStatus,
    SignalState,
    Sleeve,
    VolTargetState,
    VrpCsLogEntry,
    VrpErpLogEntry,
)
from sleeves.selectors import positions_by_sleeve, sleeve_settings
from sleeves.strategies import DATA_OK
from sleeves.strategies import vol_target as vt
from sleeves.strategies import vrp_cs as cs
from sleeves.strategies import vrp_erp as erp

if TYPE_CHECKING:  # ib_insync loads only when a connection is made, not at start-up
    from dspops.core.broker.gateway import Gateway

log = logging.getLogger("dspops.monitors")


# Exit codes of the monitor commands (MonitorOutcome.exit_code); 2 is argparse's usage error.
EXIT_OK, EXIT_DATA_UNAVAILABLE, EXIT_POSITION_MISMATCH = 0, 3, 4


@dataclass
class MonitorOutcome:
    """What a monitor run produced: the stored run (None with --no-log) and the printable payload."""

    status: str
    payload: dict[str, Any]
    run: MonitorRun | None

    @property
    def exit_code(self) -> int:
        """0: OK; 4: POSITION MISMATCH (VRP-CS holds a naked leg); 3: anything else (data unavailable)."""
        if self.status == RunStatus.OK:
            return EXIT_OK
        return EXIT_POSITION_MISMATCH if self.status == RunStatus.POSITION_MISMATCH else EXIT_DATA_UNAVAILABLE


@dataclass
class _Broker:
    """What one live connection returned."""

    quotes: dict[int, Any]
    positions: list | None
    simulated: bool
    error: str = ""


def _read_broker(instruments: list[Instrument], *, role: str, with_positions: bool, max_age_s: float,
                 gateway: Gateway | None = None, quotes: Mapping[int, QuoteSnapshot] | None = None) -> _Broker:
    """Quote ``instruments`` (and read positions) on ``gateway``, or on a connection of its own.

    ``quotes`` (by Instrument pk): what the caller's session already recorded; those are not asked again.
    """
    if gateway is None:
        try:
            with open_gateway(role) as connected:
                return _read_broker(instruments, role=role, with_positions=with_positions, max_age_s=max_age_s,
                                    gateway=connected, quotes=quotes)
        except GatewayError as exc:
            return _Broker(quotes={}, positions=None, simulated=False, error=str(exc))
    try:
        known = {i.pk: quotes[i.pk] for i in instruments if quotes and i.pk in quotes}
        wanted = [i for i in instruments if i.pk not in known]
        fetched = record_quotes(gateway, wanted, max_age_s=max_age_s) if wanted else {}
        positions = gateway.positions() if with_positions else None
        return _Broker(quotes=known | fetched, positions=positions, simulated=gateway.simulated)
    except GatewayError as exc:
        return _Broker(quotes={}, positions=None, simulated=False, error=str(exc))


def _strategy_settings(cls, scope: str, **overrides):
    values = sleeve_settings(scope)
    fields = {f.name for f in dataclasses.fields(cls)}
    return cls(**{**{k: v for k, v in values.items() if k in fields}, **overrides})


def _instrument(symbol: str, sec_type: str) -> Instrument:
    return Instrument.objects.get(symbol=symbol, sec_type=sec_type)


def _json(value: Any) -> Any:
    if isinstance(value, Decimal):
        return _decimal_text(value)
    if isinstance(value, datetime):
        return timezone.localtime(value).isoformat() if timezone.is_aware(value) else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [_json(v) for v in value]
    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items()}
    if hasattr(value, "value") and isinstance(getattr(value, "value"), str):  # enums
        return value.value
    return value


def _decimal_text(value: Decimal) -> str:
    """Decimals as the operator reads them: 1.630000 (a stored field) prints as 1.63, -88.00 stays -88.00."""
    cents = value.quantize(Decimal("0.01")) if value.is_finite() else value
    if value.is_finite() and cents == value:
        return str(cents) if -value.as_tuple().exponent >= 2 else str(value)
    return f"{value.normalize():f}"


def _reason(missing_observations: list[Observation], result_reasons) -> str:
    lines = [o.reason for o in missing_observations if o.missing and o.reason]
    lines += [r for r in result_reasons if r.startswith("DATA UNAVAILABLE")]
    return "; ".join(dict.fromkeys(lines)) or "an input was missing"


def _price_observation(name: str, instrument: Instrument, *, session, live: _Broker | None,
                       prefer: tuple[str, ...], stored_close_ok: bool) -> Observation:
    """An instrument's price from the live snapshot, or else from what is stored for this session."""
    if live is not None:
        if live.error:
            return inputs.missing(name, f"{name}: broker unavailable ({live.error})", DataSource.LIVE)
        return inputs.from_quote(name, live.quotes.get(instrument.pk), prefer=prefer)
    candidates = [inputs.from_quote(name, inputs.latest_quote(instrument, session=session), prefer=prefer)]
    if stored_close_ok:
        candidates.append(inputs.stored_close(name, instrument, session=session))
    return inputs.combine(*candidates)


def _vol_multiplier(*, session: date, enabled: bool) -> Observation:
    if not enabled:
        return Observation("vol_multiplier", Decimal("1"), "disabled", None, detail="overlay switched off")
    stale_after = sleeve_settings("BOOK")["vol_state_stale_sessions"]
    state = VolTargetState.objects.filter(as_of_session__lte=session).order_by("-as_of_session").first()
    if state is None:
        return inputs.missing("vol_multiplier", "no vol-target state: run `python manage.py vol_target` first")
    age = calendars.sessions_until(state.as_of_session, session)
    as_of = datetime.combine(state.as_of_session, inputs.CLOSE_TIME, tzinfo=calendars.NEW_YORK)
    if age > stale_after:
        return Observation("vol_multiplier", None, state.source, as_of,
                           reason=f"the vol-target state is from {state.as_of_session}, {age} sessions old "
                                  f"(stale after {stale_after})")
    return Observation("vol_multiplier", state.multiplier, state.source, as_of)


def _sessions(exchange: str):
    return lambda start, end: calendars.sessions_until(start, end, exchange=exchange)


def _signal_state(sleeve: Sleeve, name: str) -> SignalState | None:
    return SignalState.objects.filter(sleeve=sleeve, name=name).first()


# --- VRP-ERP ---------------------------------------------------------------------------------


def run_vrp_erp_monitor(
    *, live: bool = False, base: Decimal | None = None, vix: Decimal | None = None, spy: Decimal | None = None,
    shares: int | None = None, use_vol_target: bool = True, log_run: bool = True, triggered_by: str = "command",
    role: str = "shell", now: datetime | None = None, gateway: Gateway | None = None,
    quotes: Mapping[int, QuoteSnapshot] | None = None,
) -> MonitorOutcome:
    now = now or clock.now()
    session = clock.current_session(now)
    sleeve = Sleeve.objects.get(code="VRP_ERP")
    overrides = {"base_capital_usd": base} if base is not None else {}
    settings = _strategy_settings(erp.ErpSettings, "VRP_ERP", **overrides)
    symbol = sleeve_settings("VRP_ERP")["symbol"]
    vix_instrument, spy_instrument = _instrument("VIX", SecType.INDEX), _instrument(symbol, SecType.STOCK)

    broker = None
    wanted = [i for i, given in ((vix_instrument, vix), (spy_instrument, spy)) if given is None]
    if live and (wanted or shares is None):
        broker = _read_broker(wanted, role=role, with_positions=shares is None, max_age_s=_quote_age(),
                              gateway=gateway, quotes=quotes)
    vix_obs = inputs.manual("vix", vix) if vix is not None else _price_observation(
        "vix", vix_instrument, session=session, live=broker, prefer=("last",), stored_close_ok=True)
    spy_obs = inputs.manual("spy_price", spy) if spy is not None else _price_observation(
        "spy_price", spy_instrument, session=session, live=broker, prefer=("mid", "last", "close"),
        stored_close_ok=True)
    shares_obs = _erp_shares(shares, spy_instrument, broker, now)
    vol_obs = _vol_multiplier(session=session, enabled=use_vol_target)
    state = _signal_state(sleeve, "regime")
    memory = erp.RegimeMemory(
        state=state.state, since_session=state.since_session, pending_state=state.pending_state or None,
        pending_since=state.pending_since, last_session=state.last_session,
    ) if state else None
    if memory is not None and memory.last_session and memory.last_session > session:
        memory = dataclasses.replace(memory, last_session=session)
    result = erp.evaluate(
        erp.ErpInputs(session=session, vix=vix_obs.value, spy_price=spy_obs.value,
                      actual_shares=int(shares_obs.value) if shares_obs.value is not None else None,
                      vol_multiplier=vol_obs.value, memory=memory),
        settings, _sessions(calendars.NYSE),
    )
    observations = [vix_obs, spy_obs, shares_obs, vol_obs]
    simulated = bool(broker and broker.simulated)
    status = RunStatus.OK if result.data_status == DATA_OK else RunStatus.DATA_UNAVAILABLE
    payload = {
        "sleeve": "VRP_ERP", "as_of": _json(now), "session": session.isoformat(), "data_status": status,
        "simulated": simulated, "regime": _json(result.regime), "observed_regime": _json(result.observed_regime),
        "vix": _json(result.vix), "spy_price": _json(result.spy_price), "base_capital_usd": _json(settings.base_capital_usd),
        "regime_multiplier": _json(result.regime_multiplier), "vol_multiplier": _json(result.vol_multiplier),
        "target_shares": result.target_shares, "actual_shares": result.actual_shares,
        "delta_shares": result.delta_shares, "drift_pct": _json(result.drift_pct), "rebalance": result.rebalance,
        "reasons": list(result.reasons) + [o.reason for o in observations if o.missing],
        "sources": {o.name: o.describe() for o in observations},
    }
    if not log_run:
        return MonitorOutcome(status, payload, None)
    with transaction.atomic():
        run = MonitorRun.objects.create(
            kind=RunKind.VRP_ERP, sleeve=sleeve, trading_date=session, started_at=now, finished_at=clock.now(),
            status=status, reason="" if status == RunStatus.OK else _reason(observations, result.reasons),
            simulated=simulated, triggered_by=triggered_by,
            inputs={o.name: _json(o.value) for o in observations} | {"base_capital_usd": _json(settings.base_capital_usd)},
            sources=payload["sources"], outputs={k: payload[k] for k in (
                "regime", "observed_regime", "regime_multiplier", "target_shares", "actual_shares", "delta_shares",
                "drift_pct", "rebalance", "reasons")},
        )
        VrpErpLogEntry.objects.create(
            run=run, logged_at=now, trading_date=session,
            data_status=LogDataStatus.OK if status == RunStatus.OK else LogDataStatus.DATA_UNAVAILABLE,
            vix=result.vix, spy_price=result.spy_price, regime=_json(result.regime) or "",
            target_shares=result.target_shares, actual_shares=result.actual_shares,
            actual_exposure_usd=result.actual_exposure_usd, drift_pct=result.drift_pct,
            rebalance_signal=result.rebalance, notes="; ".join(result.reasons)[:2000],
            source=DataSource.SIMULATED if simulated else _log_source(observations),
        )
        if result.memory is not None:
            _save_state(sleeve, "regime", state=_json(result.memory.state), since=result.memory.since_session,
                        pending=_json(result.memory.pending_state) or "", pending_since=result.memory.pending_since,
                        last=result.memory.last_session, score=None,
                        source=DataSource.SIMULATED if simulated else _log_source(observations))
    return MonitorOutcome(status, payload, run)


def _erp_shares(shares: int | None, spy: Instrument, broker: _Broker | None, now: datetime) -> Observation:
    """The sleeve's SPY shares: given, or the broker total less other sleeves' SPY, or from fills."""
    if shares is not None:
        return inputs.manual("actual_shares", Decimal(shares))
    held = positions_by_sleeve()
    erp_fills = sum((p.quantity for p in held if p.instrument.pk == spy.pk and p.sleeve_code == "VRP_ERP"), Decimal(0))
    if broker is None:
        return Observation("actual_shares", erp_fills, "fills", now, detail="VRP-ERP sleeve from recorded fills")
    if broker.error or broker.positions is None:
        return inputs.missing("actual_shares", f"actual shares: broker unavailable ({broker.error})", DataSource.LIVE)
    broker_total = sum((p.quantity for p in broker.positions if p.sec_type == "STK" and p.symbol == spy.symbol),
                       Decimal(0))
    others = sum((p.quantity for p in held if p.instrument.pk == spy.pk and p.sleeve_code != "VRP_ERP"), Decimal(0))
    source = DataSource.SIMULATED if broker.simulated else DataSource.LIVE
    return Observation("actual_shares", broker_total - others, source, now,
                       detail=f"broker {broker_total} less other sleeves {others}")


def _log_source(observations: list[Observation]) -> str:
    sources = {o.source for o in observations if not o.missing}
    for candidate in (DataSource.LIVE, DataSource.MANUAL, DataSource.STORED):
        if candidate in sources:
            return candidate
    return DataSource.STORED


def _quote_age() -> int:
    return sleeve_settings("VRP_CS")["max_quote_age_seconds"]


def _save_state(sleeve, name, *, state, since, pending, pending_since, last, score, source):
    SignalState.objects.update_or_create(
        sleeve=sleeve, name=name,
        defaults={"state": state, "since_session": since, "pending_state": pending or "",
                  "pending_since": pending_since if pending else None, "last_session": last, "score": score,
                  "source": source},
    )


# --- VRP-CS ----------------------------------------------------------------------------------


def run_vrp_cs_monitor(
    *, live: bool = False, vix: Decimal | None = None, vvix: Decimal | None = None, vx1: Decimal | None = None,
    vx2: Decimal | None = None, log_run: bool = True, triggered_by: str = "command", role: str = "shell",
    now: datetime | None = None, gateway: Gateway | None = None, quotes: Mapping[int, QuoteSnapshot] | None = None,
) -> MonitorOutcome:
    """The VRP-CS monitor: spread, P&L, gate, stop/take-profit and the roll countdown of the active config.

    It also compares what is held with the config (DECISIONS.md section 3): live, every VXM position
    at the broker; offline, the VRP-CS fills. A holding other than exactly -q short leg / +q long leg
    raises a critical ``naked_leg`` alert per contract (sleeves.naked_legs) and makes the run POSITION
    MISMATCH, whose P&L is over what is held, never the full spread's. Positions that cannot be read
    make the run DATA UNAVAILABLE, never a match. A config that does not describe a live position
    (expired legs, dates outside the calendar) is not compared: its own problem is the run's reason.
    """
    now = now or clock.now()
    session = clock.current_session(now)
    sleeve = Sleeve.objects.get(code="VRP_CS")
    settings = _strategy_settings(cs.CsSettings, "VRP_CS")
    position = (SpreadPosition.objects.filter(sleeve=sleeve, is_active=True)
                .select_related("short_leg", "long_leg").first())
    problem = _position_problem(position, session)
    usable = position is not None and not problem
    compare = usable or position is None  # with no config at all, every VXM holding is naked
    vix_i, vvix_i = _instrument("VIX", SecType.INDEX), _instrument("VVIX", SecType.INDEX)
    legs = [] if position is None else [position.short_leg, position.long_leg]

    broker = None
    wanted = [i for i, given in ((vix_i, vix), (vvix_i, vvix)) if given is None]
    if usable:
        wanted += [leg for leg, given in zip(legs, (vx1, vx2)) if given is None]
    if live and compare:
        broker, held = _read_cs_broker(wanted, near=clock.trading_date(now), role=role, max_age_s=_quote_age(),
                                       gateway=gateway, quotes=quotes)
    elif live and wanted:
        broker = _read_broker(wanted, role=role, with_positions=False, max_age_s=_quote_age(), gateway=gateway,
                              quotes=quotes)
        held = None
    else:
        held = _held_from_fills(now) if compare else None

    def observe(name, given, instrument, prefer, stored_close_ok):
        if given is not None:
            return inputs.manual(name, given)
        if instrument is None:
            return inputs.missing(name, f"{name}: {problem or 'no active position config'}")
        return _price_observation(name, instrument, session=session, live=broker, prefer=prefer,
                                  stored_close_ok=stored_close_ok)

    observations = [
        observe("vix", vix, vix_i, ("last",), True),
        observe("vvix", vvix, vvix_i, ("last",), True),
        observe("vx1", vx1, legs[0] if usable else None, ("mid", "last"), False),
        observe("vx2", vx2, legs[1] if usable else None, ("mid", "last"), False),
    ]
    vix_obs, vvix_obs, vx1_obs, vx2_obs = observations
    findings = (naked_legs.find_naked_legs(held.quantities, position if usable else None,
                                           rolling=naked_legs.roll_in_progress())
                if held is not None and held.readable else None)
    held_legs = None
    whole_held = bool(findings) and usable and naked_legs.whole_spreads_held(held.quantities, position) > 0
    if findings:
        marks = {legs[0]: vx1_obs, legs[1]: vx2_obs} if usable else {}
        held_legs = _held_legs(held, marks, session=session, broker=broker)
    state = _signal_state(sleeve, "gate")
    memory = cs.GateMemory(state=state.state, since_session=state.since_session, last_session=state.last_session) \
        if state and state.state in cs.GATE_STATES else None
    if memory is not None and memory.last_session > session:
        memory = dataclasses.replace(memory, last_session=session)
    result = cs.evaluate(
        cs.CsInputs(
            session=session, vix=vix_obs.value, vvix=vvix_obs.value, vx1=vx1_obs.value, vx2=vx2_obs.value,
            entry_spread=position.entry_spread if usable else None, quantity=position.quantity if usable else None,
            stop_loss_spread=position.stop_loss_spread if usable else None,
            take_profit_spread=position.take_profit_spread if usable else None, gate_memory=memory,
            held_legs=held_legs,
            whole_spread_held=whole_held,
        ),
        settings, _sessions(calendars.CFE),
    )
    positions_reason = _positions_reason(held, findings, compare=compare, whole_held=whole_held)
    if findings:
        status = RunStatus.POSITION_MISMATCH
    elif result.data_status == DATA_OK and usable and held is not None and held.readable:
        status = RunStatus.OK
    else:
        status = RunStatus.DATA_UNAVAILABLE
    today = clock.trading_date(now)
    roll_by = position.roll_by if position else None
    simulated = bool(broker and broker.simulated)
    reasons = list(result.reasons) + [o.reason for o in observations if o.missing]
    if problem:
        reasons.insert(0, problem)
    if positions_reason:
        reasons.insert(0, positions_reason)
    payload = {
        "sleeve": "VRP_CS", "as_of": _json(now), "session": session.isoformat(), "data_status": status,
        "status": RunStatus(status).label, "simulated": simulated,
        "short_leg": str(position.short_leg) if position else None,
        "long_leg": str(position.long_leg) if position else None,
        "vix": _json(result.vix), "vvix": _json(result.vvix), "vx1": _json(vx1_obs.value), "vx2": _json(vx2_obs.value),
        "spread": _json(result.spread), "entry_spread": _json(result.entry_spread), "quantity": result.quantity,
        "pnl_usd": _json(result.pnl_usd), "pnl_over": "held" if findings else "spread",
        "gate_state": _json(result.gate_state), "gate_score": _json(result.gate_score),
        "contango_pct": _json(result.contango_pct), "stop_loss_spread": _json(result.stop_loss_spread),
        "take_profit_spread": _json(result.take_profit_spread), "levels_invalid": result.levels_invalid,
        "stop_loss_hit": result.stop_loss_hit, "take_profit_hit": result.take_profit_hit,
        "stop_loss_distance": _json(result.stop_loss_distance),
        "take_profit_distance": _json(result.take_profit_distance),
        "near_stop_loss": result.near_stop_loss, "near_take_profit": result.near_take_profit,
        "sessions_to_roll": (calendars.sessions_until(today, roll_by, exchange=calendars.CFE)
                             if roll_by and calendars.in_window(roll_by) else None),
        "days_to_roll": (roll_by - today).days if roll_by else None,
        "roll_by": _json(roll_by), "settlement_date": _json(position.settlement_date if position else None),
        "positions": _positions_payload(held, findings, result.held_legs, compare=compare),
        "reasons": reasons, "sources": {o.name: o.describe() for o in observations},
    }
    if not log_run:
        return MonitorOutcome(status, payload, None)
    with transaction.atomic():
        if findings is not None:
            naked_legs.raise_naked_leg_alerts(findings, source=held.source)
            if held.source == "broker":  # an alert the fills raised offline clears once the fills hold the spread
                naked_legs.resolve_cleared_fills_alerts(session=session, config=position if usable else None,
                                                        as_of=now)
        if status == RunStatus.POSITION_MISMATCH:
            reason = positions_reason + ("" if result.data_status == DATA_OK else
                                         f"; {_reason(observations, result.reasons)}")
        elif status == RunStatus.OK:
            reason = ""
        else:
            reason = problem or "; ".join(filter(None, [positions_reason if held is not None and not held.readable
                                                        else "", _reason(observations, result.reasons)]))
        run = MonitorRun.objects.create(
            kind=RunKind.VRP_CS, sleeve=sleeve, trading_date=session, started_at=now, finished_at=clock.now(),
            status=status, reason=reason, simulated=simulated, triggered_by=triggered_by,
            inputs={o.name: _json(o.value) for o in observations} | {
                "position": str(position) if position else None, "position_id": position.pk if position else None,
                "held": payload["positions"]["held"]},
            sources=payload["sources"] | ({} if held is None else {"positions": {
                "source": (DataSource.SIMULATED if simulated else DataSource.LIVE) if held.source == "broker"
                else "fills", "as_of": _json(now), **({"missing": held.error} if held.error else {})}}),
            outputs={k: v for k, v in payload.items() if k not in {"sources", "as_of", "sleeve", "simulated"}},
        )
        VrpCsLogEntry.objects.create(
            run=run, logged_at=now, trading_date=session,
            data_status=LogDataStatus.OK if status == RunStatus.OK and result.spread is not None
            else LogDataStatus.DATA_UNAVAILABLE,
            vix=result.vix, vx1=vx1_obs.value, vx2=vx2_obs.value, spread=result.spread,
            entry_spread=result.entry_spread, quantity=result.quantity, pnl_usd=result.pnl_usd,
            gate_state=_json(result.gate_state), gate_score=result.gate_score, contango_pct=result.contango_pct,
            days_to_roll=payload["days_to_roll"], sessions_to_roll=payload["sessions_to_roll"], roll_by=roll_by,
            stop_loss_level=result.stop_loss_spread, take_profit_level=result.take_profit_spread,
            stop_loss_hit=result.stop_loss_hit, take_profit_hit=result.take_profit_hit,
            notes="; ".join(reasons)[:2000], source=DataSource.SIMULATED if simulated else _log_source(observations),
        )
        if result.gate_memory is not None:
            _save_state(sleeve, "gate", state=_json(result.gate_memory.state), since=result.gate_memory.since_session,
                        pending="", pending_since=None, last=result.gate_memory.last_session,
                        score=result.gate_score, source=DataSource.SIMULATED if simulated else _log_source(observations))
    return MonitorOutcome(status, payload, run)


@dataclass(frozen=True)
class _Held:
    """What VRP-CS holds in VXM and where that was read: signed quantities and their entry prices (points)."""

    source: str  # "broker" | "fills" (naked_legs.SOURCES)
    quantities: dict[Instrument, Decimal]
    entry_prices: dict[Instrument, Decimal]
    error: str = ""  # why the positions could not be read; then nothing above is known

    @property
    def readable(self) -> bool:
        return not self.error


def _held_legs(held: _Held, marks: dict[Instrument, Observation], *, session: date,
               broker: _Broker | None) -> tuple[cs.HeldLeg, ...]:
    """Each contract held, with its entry price and its mark: the config legs' marks are VX1 / VX2 as
    observed; any other contract is priced like them (mid, else last; live or stored for the session)."""
    rows = []
    for instrument, quantity in sorted(held.quantities.items(), key=lambda kv: kv[0].contract_month):
        mark = marks.get(instrument) or _price_observation(instrument.local_symbol, instrument, session=session,
                                                           live=broker, prefer=("mid", "last"),
                                                           stored_close_ok=False)
        rows.append(cs.HeldLeg(contract=instrument.local_symbol, quantity=quantity,
                               entry_price=held.entry_prices.get(instrument), mark=mark.value))
    return tuple(rows)


def _held_from_fills(now: datetime) -> _Held:
    return _Held("fills", naked_legs.holdings_from_fills("VRP_CS", as_of=now),
                 naked_legs.average_costs_from_fills("VRP_CS", as_of=now))


def _read_cs_broker(instruments: list[Instrument], *, near: date, role: str, max_age_s: float,
                    gateway: Gateway | None = None,
                    quotes: Mapping[int, QuoteSnapshot] | None = None) -> tuple[_Broker, _Held]:
    """The broker's positions first, then quotes for ``instruments`` and every VXM contract held.

    Positions read before a later request fails are kept: they are what the broker said.
    """
    if gateway is None:
        try:
            with open_gateway(role) as connected:
                return _read_cs_broker(instruments, near=near, role=role, max_age_s=max_age_s, gateway=connected,
                                       quotes=quotes)
        except GatewayError as exc:
            return (_Broker(quotes={}, positions=None, simulated=False, error=str(exc)),
                    _Held("broker", {}, {}, error=f"positions: broker unavailable ({exc})"))
    try:
        positions = gateway.positions()
    except GatewayError as exc:
        return (_Broker(quotes={}, positions=None, simulated=False, error=str(exc)),
                _Held("broker", {}, {}, error=f"positions: broker unavailable ({exc})"))
    try:
        held = _Held("broker", naked_legs.holdings_from_broker(positions, near=near),
                     naked_legs.average_costs_from_broker(positions, near=near))
    except naked_legs.HoldingError as exc:
        held = _Held("broker", {}, {}, error=f"positions: {exc}")
    extra = [i for i in held.quantities if i not in instruments]
    broker = _read_broker(instruments + extra, role=role, with_positions=False, max_age_s=max_age_s,
                          gateway=gateway, quotes=quotes)
    return dataclasses.replace(broker, positions=positions), held


def _positions_reason(held: _Held | None, findings, *, compare: bool, whole_held: bool = False) -> str:
    if not compare:
        return ""
    if held is None or not held.readable:
        why = held.error if held is not None else "positions were not read"
        return f"DATA UNAVAILABLE: what is held cannot be compared with the config ({why})"
    if not findings:
        return ""
    where = naked_legs.SOURCES[held.source]
    legs = "; ".join(f"{f.contract} held {formats.quantity(f.held, with_sign=True)}, expected "
                     f"{formats.quantity(f.expected, with_sign=True)}"
                     + (f" ({f.order})" if f.order else "") for f in findings)
    return (f"POSITION MISMATCH: the VXM holding {where} is not the configured spread: {legs}. "
            "P&L is over what is held; the stop and take-profit are "
            + ("evaluated on the whole spread held." if whole_held else "not evaluated: no whole spread is held."))


def _positions_payload(held: _Held | None, findings, held_pnl, *, compare: bool) -> dict:
    if not compare:
        check = "not checked"
    elif held is None or not held.readable:
        check = "unavailable"
    else:
        check = "mismatch" if findings else "matches"
    return {
        "check": check,
        "source": held.source if held is not None else None,
        "error": held.error if held is not None else "",
        "held": {i.local_symbol: formats.quantity(q) for i, q in sorted(
            (held.quantities if held is not None else {}).items(), key=lambda kv: kv[0].contract_month)},
        "naked_legs": [f.as_dict() for f in findings or []],
        "held_pnl": [{"contract": r.contract, "quantity": formats.quantity(r.quantity), "entry_price": _json(r.entry_price),
                      "mark": _json(r.mark), "pnl_usd": _json(r.pnl_usd)} for r in held_pnl or ()],
    }


def _position_problem(position, session: date) -> str:
    """Why the position config cannot be monitored as current, or ""."""
    if position is None:
        return "no active VRP-CS position config: enter one in the admin"
    for label, day in (("roll-by", position.roll_by), ("settlement date", position.settlement_date)):
        if day is not None and not calendars.in_window(day):
            return (f"the position config's {label} {day} is outside the exchange calendar ({calendars.CALENDAR_START} "
                    f"to {calendars.CALENDAR_END}): correct the position config")
    expiry = position.short_leg.settlement_date
    if expiry is not None and expiry < session:
        return (f"the position config's short leg {position.short_leg} settled on {expiry}: it does not describe a "
                "live position. Reconcile with the broker and enter the current position config.")
    return ""


# --- vol-target overlay -------------------------------------------------------------------------


def run_vol_target(*, live: bool = False, log_run: bool = True, triggered_by: str = "command", role: str = "shell",
                   now: datetime | None = None, gateway: Gateway | None = None) -> MonitorOutcome:
    now = now or clock.now()
    session = clock.current_session(now)
    settings = _strategy_settings(vt.VolTargetSettings, "BOOK")
    spy = _instrument(sleeve_settings("VRP_ERP")["symbol"], SecType.STOCK)
    simulated, problem = False, ""
    if live:
        try:
            simulated = _fetch_daily_closes(spy, days=settings.vol_lookback_returns + 15, role=role, gateway=gateway)
        except GatewayError as exc:
            problem = f"SPY history from the broker: {exc}"
    bars = list(PriceBar.objects.filter(instrument=spy, session__lte=session).order_by("-session")
                .values_list("session", "close")[: settings.vol_lookback_returns + 1])[::-1]
    result = vt.evaluate(vt.VolTargetInputs(closes=bars), settings)
    reasons = list(result.reasons)
    # Today's close may not exist yet; the previous session's close is current enough.
    if not problem and result.as_of_session is not None:
        age = calendars.sessions_until(result.as_of_session, session)
        if age > 1:
            problem = f"SPY history ends {result.as_of_session}, {age} sessions before {session}"
    if problem:
        reasons.insert(0, f"DATA UNAVAILABLE: {problem}")
    status = RunStatus.OK if result.data_status == DATA_OK and not problem else RunStatus.DATA_UNAVAILABLE
    source = DataSource.SIMULATED if simulated else (DataSource.LIVE if live else DataSource.STORED)
    payload = {
        "as_of": _json(now), "session": session.isoformat(), "data_status": status, "simulated": simulated,
        "realized_vol": _json(result.realized_vol) if status == RunStatus.OK else None,
        "multiplier": _json(result.multiplier) if status == RunStatus.OK else None,
        "clamped": result.clamped, "returns_used": result.returns_used,
        "as_of_session": _json(result.as_of_session), "reasons": reasons,
        "sources": {"spy_closes": {"source": source, "as_of": _json(bars[-1][0]) if bars else None,
                                   "count": len(bars)}},
    }
    if not log_run:
        return MonitorOutcome(status, payload, None)
    with transaction.atomic():
        run = MonitorRun.objects.create(
            kind=RunKind.VOL_TARGET, sleeve=None, trading_date=session, started_at=now, finished_at=clock.now(),
            status=status, reason="" if status == RunStatus.OK else "; ".join(r for r in reasons if "UNAVAILABLE" in r),
            simulated=simulated, triggered_by=triggered_by,
            inputs={"spy_closes": [[_json(d), _json(c)] for d, c in bars]}, sources=payload["sources"],
            outputs={k: payload[k] for k in ("realized_vol", "multiplier", "clamped", "returns_used", "as_of_session")},
        )
        if status == RunStatus.OK:
            VolTargetState.objects.update_or_create(
                as_of_session=result.as_of_session,
                defaults={"multiplier": result.multiplier, "realized_vol": result.realized_vol,
                          "returns_used": result.returns_used, "source": source, "computed_at": now, "run": run,
                          "note": f"clamped to the {result.clamped}" if result.clamped else ""},
            )
    return MonitorOutcome(status, payload, run)


def _fetch_daily_closes(instrument: Instrument, *, days: int, role: str, gateway: Gateway | None = None) -> bool:
    """Store the broker's daily closes for an instrument as PriceBars (on ``gateway``, or on a connection of
    its own); returns whether simulated."""
    if gateway is None:
        with open_gateway(role) as connected:
            return _fetch_daily_closes(instrument, days=days, role=role, gateway=connected)
    contract = qualify(gateway, [instrument])[instrument.pk]
    closes = gateway.historical_daily_closes(contract, days=days)
    source = DataSource.SIMULATED if gateway.simulated else DataSource.LIVE
    with transaction.atomic():
        for bar in closes:
            if calendars.is_session(bar.day):
                PriceBar.objects.update_or_create(instrument=instrument, session=bar.day,
                                                  defaults={"close": bar.close, "source": source})
    return gateway.simulated
