"""The DM rebalance plan as a service: gather the inputs, run the pure ``plan()``, store the run.

``plan_dm_rebalance`` reads the DM settings (the database, or a legacy-layout yaml when one is
given), the price history (PriceBar), the NLV, the prices, the sleeve's positions from its
recorded fills and the vol-target multiplier; with ``live`` it first reads the broker. It then
stores ONE MonitorRun (kind DM_PLAN) with the inputs, their sources and the plan, and with
``store_target`` (``dm_rebalance run``) the month's DmTarget. No order is ever sent.

Fail closed (DECISIONS.md section 1): an input that is missing, stale or cannot be read makes
the run DATA UNAVAILABLE, names the input and stores no target. Problems that stop a run before
it starts (unreadable settings, a bad DSP_RISK_SCALE, a session that is not an NYSE session)
raise DmSetupError, or DmConfigError for the config file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from django.db import transaction

from dspops.core import calendars, clock, formats
from dspops.core.broker_sync import GatewayError, open_gateway, qualify, record_quotes
from dspops.core.calendars import NEW_YORK
from dspops.core.errors import OperatorError
from dspops.core.models import BrokerSnapshot, DataSource, Instrument, SecType
from sleeves import parameters
from sleeves.dm_config import DmConfigError, dm_parameter_texts, load_dm_config
from sleeves.models import DmTarget, MonitorRun, PriceBar, RunKind, RunStatus, Sleeve, VolTargetState
from sleeves.selectors import positions_by_sleeve, sleeve_settings
from sleeves.strategies import DATA_OK, round_to
from sleeves.strategies.dm import DmInputs, DmPlan, DmSettings, plan

__all__ = ["DmConfigError", "DmOutcome", "DmSetupError", "RISK_SCALE_ENV", "plan_dm_rebalance"]

RISK_SCALE_ENV = "DSP_RISK_SCALE"
MAX_HISTORY_REQUEST_DAYS = 365  # the gateway's limit for one daily-history request


class DmSetupError(OperatorError, ValueError):
    """The plan cannot start: its settings, DSP_RISK_SCALE or session are unusable.

    Nothing is stored. The message says what is wrong and what to do.
    """


@dataclass(frozen=True)
class DmOutcome:
    """One stored DM plan and what the command prints from it."""

    run: MonitorRun
    plan: DmPlan
    settings: DmSettings
    session: date
    first_session_of_month: bool
    next_rebalance: date
    simulated: bool
    reasons: tuple[str, ...]
    sources: dict[str, Any]
    target: DmTarget | None = None
    outputs: dict[str, Any] = field(default_factory=dict)

    @property
    def data_status(self) -> str:
        return self.plan.data_status

    @property
    def status(self) -> str:
        """The stored run's status: "ok" or "data_unavailable"."""
        return self.run.status

    @property
    def ok(self) -> bool:
        return self.plan.data_status == DATA_OK

    def as_json(self) -> dict[str, Any]:
        """The ``dm_rebalance --json`` object. Decimals are strings, dates ISO."""
        o = self.outputs
        return {
            "sleeve": "DM",
            "as_of": self.session.isoformat(),
            "data_status": self.data_status,
            "simulated": self.simulated,
            "first_session_of_month": self.first_session_of_month,
            "next_rebalance": self.next_rebalance.isoformat(),
            "momentum": o["momentum"],
            "selected": o["selected"],
            "weights": o["weights"],
            "target_shares": o["target_shares"],
            "tickets": o["tickets"],
            "dropped": o["dropped"],
            "nav_usd": o["nav_usd"],
            "reasons": list(self.reasons),
            "sources": self.sources,
        }


def plan_dm_rebalance(
    *,
    session: date | None = None,
    live: bool = False,
    config_path: Path | None = None,
    strict: bool = False,
    store_target: bool = False,
    triggered_by: str = "command",
    role: str = "shell",
) -> DmOutcome:
    """Plan the DM rebalance for ``session`` (default: the current NYSE session) and store it.

    Raises DmConfigError when ``config_path`` cannot be used (with ``strict``, one line per
    unknown key), DmSetupError for unreadable settings, a bad DSP_RISK_SCALE or a session that
    cannot be planned. A missing or stale input is not an exception: the run is stored as
    DATA UNAVAILABLE with the reason.
    """
    started_at = clock.now()
    current = clock.current_session()
    session = _check_session(session, current=current, live=live)
    settings, risk_scale, settings_notes, settings_sources = _settings(config_path, strict)
    stale_after = _vol_state_stale_sessions()

    sleeve = Sleeve.objects.filter(code="DM").first()
    if sleeve is None:
        raise DmSetupError("There is no DM sleeve in the database; run bootstrap first.")
    previous = calendars.previous_session(session)
    first_session = calendars.is_first_session_of_month(session)
    next_rebalance = _next_first_session(session)
    end_of_session = datetime.combine(session + timedelta(days=1), time(0), NEW_YORK)

    gathered = _Gathered()
    gathered.reasons.extend(settings_notes)
    gathered.notes.update(settings_notes)
    gathered.sources.update(settings_sources)
    gathered.sources["risk_scale"] = risk_scale.source

    held = _current_shares(gathered, sleeve=sleeve, until=end_of_session)
    symbols = (*settings.risky_universe, settings.cash_symbol)
    priced = (*symbols, *(s for s in sorted(held or {}) if s not in symbols))
    instruments = _instruments(gathered, priced)

    broker = None
    if live:
        broker = _read_broker(gathered, instruments, needed=settings.closes_needed, role=role)

    closes = _closes(gathered, instruments, symbols, session=session, previous=previous,
                     needed=settings.closes_needed, broker=broker)
    prices = _prices(gathered, instruments, priced, session=session, previous=previous, broker=broker)
    # The current session's plan reads the latest snapshot, also one read after its close (on a closed day the
    # plan is for the last session, and the account read this morning is its NLV); a past session's plan only
    # reads what was known by its end.
    nlv = _nlv(gathered, previous=previous, session=session,
               read_by=started_at if session == current else end_of_session, broker=broker)
    vol_multiplier = _vol_multiplier(gathered, session=session, stale_after=stale_after)

    result = plan(
        DmInputs(session=session, closes=closes, nlv=nlv, current_shares=held, prices=prices,
                 risk_scale=risk_scale.value, vol_multiplier=vol_multiplier),
        settings,
    )
    reasons = tuple(gathered.reasons) + tuple(
        r for r in result.reasons if not any(r.startswith(f"{s}: ") for s in gathered.explained)
    )
    simulated = broker.simulated if broker is not None and broker.error is None else gathered.simulated
    outputs = _outputs(result, settings, first_session=first_session, next_rebalance=next_rebalance,
                       reasons=reasons)
    inputs = {
        "session": session.isoformat(),
        "live": live,
        "settings": {**{k: _text(v) for k, v in _settings_values(settings).items()},
                     "risk_scale": _text(risk_scale.value)},
        "nlv": _text(nlv),
        "risk_scale": _text(risk_scale.value),
        "vol_multiplier": _text(vol_multiplier),
        "prices": {s: _text(prices.get(s)) for s in priced},
        "current_shares": None if held is None else dict(sorted(held.items())),
        "closes": {s: [[d.isoformat(), _text(c)] for d, c in series] for s, series in closes.items()},
    }
    status = RunStatus.OK if result.data_status == DATA_OK else RunStatus.DATA_UNAVAILABLE
    reason = "" if status == RunStatus.OK else "\n".join(_unavailable_reasons(gathered, result, reasons))

    target = None
    with transaction.atomic():
        run = MonitorRun.objects.create(
            kind=RunKind.DM_PLAN, sleeve=sleeve, trading_date=session, started_at=started_at,
            finished_at=clock.now(), status=status, reason=reason, simulated=simulated,
            triggered_by=triggered_by, inputs=inputs, sources=gathered.sources, outputs=outputs,
        )
        if store_target and status == RunStatus.OK:
            target, _ = DmTarget.objects.update_or_create(
                month=f"{session:%Y-%m}",
                defaults={
                    "session": session, "run": run, "nav_usd": result.nav_usd,
                    "weights": outputs["weights"], "target_shares": outputs["target_shares"],
                    "tickets": outputs["tickets"], "dropped": outputs["dropped"],
                    "created_at": run.finished_at, "created_by": triggered_by,
                },
            )
    return DmOutcome(
        run=run, plan=result, settings=settings, session=session, first_session_of_month=first_session,
        next_rebalance=next_rebalance, simulated=simulated, reasons=reasons, sources=gathered.sources,
        target=target, outputs=outputs,
    )


# --- settings and session ------------------------------------------------------------------------


@dataclass(frozen=True)
class _RiskScale:
    value: Decimal
    source: dict[str, Any]


def _check_session(session: date | None, *, current: date, live: bool) -> date:
    if session is None:
        return current
    try:
        is_session = calendars.is_session(session)
    except calendars.CalendarRangeError as exc:
        raise DmSetupError(f"{exc} Give a date inside it.") from None
    if not is_session:
        before = calendars.session_on_or_before(session)
        raise DmSetupError(
            f"{session.isoformat()} ({session:%A}) is not an NYSE session; the session before it is "
            f"{before.isoformat()}. Give an NYSE session."
        )
    if session > current:
        raise DmSetupError(
            f"{session.isoformat()} is after the current NYSE session {current.isoformat()}: "
            "there is no data to plan it from yet."
        )
    if live and session != current:
        raise DmSetupError(
            f"--live reads the broker now, so it plans the current session {current.isoformat()}, "
            f"not {session.isoformat()}. Leave out --as-of, or plan {session.isoformat()} offline."
        )
    return session


def _settings(config_path: Path | None, strict: bool):
    """(DmSettings, _RiskScale, notes, sources) from the database or the config file."""
    notes: list[str] = []
    if config_path is None:
        try:
            values = sleeve_settings("DM")
        except parameters.ParameterError as exc:
            raise DmSetupError(
                f"The DM settings in the database cannot be read:\n{exc}\n"
                "Fix them under Settings in the admin (or run bootstrap)."
            ) from None
        origin = {"source": "database"}
    else:
        config = load_dm_config(config_path, strict=strict)  # DmConfigError names file, line, key
        values = parameters.parse_settings("DM", dm_parameter_texts(config))
        origin = {"source": "file", "path": str(config_path)}
        notes.append(f"settings from {config_path} override the stored DM settings")
        notes.extend(config.warnings)
    risk_scale = _RiskScale(values.pop("risk_scale"), {**origin, "setting": "risk_scale"})
    risk_scale = _risk_scale_override(risk_scale, notes)
    try:
        settings = DmSettings(**values)
    except (TypeError, ValueError) as exc:
        raise DmSetupError(str(exc)) from None
    return settings, risk_scale, notes, {"settings": origin}


def _risk_scale_override(stored: _RiskScale, notes: list[str]) -> _RiskScale:
    raw = os.environ.get(RISK_SCALE_ENV)
    if raw is None:
        return stored
    try:
        value = Decimal(raw.strip())
    except InvalidOperation:
        value = None
    if value is None or not value.is_finite() or not Decimal(0) <= value <= Decimal(1):
        raise DmSetupError(
            f"{RISK_SCALE_ENV}={raw!r} is not a number from 0 to 1. Set it to a fraction such as 0.095, "
            "or unset it to use the stored risk_scale."
        )
    notes.append(f"{RISK_SCALE_ENV}={raw.strip()} overrides the risk_scale setting {_text(stored.value)}")
    return _RiskScale(value, {"source": f"env:{RISK_SCALE_ENV}", "value": str(value)})


def _vol_state_stale_sessions() -> int:
    try:
        return sleeve_settings(parameters.BOOK)["vol_state_stale_sessions"]
    except parameters.ParameterError as exc:
        raise DmSetupError(
            f"The book-wide settings cannot be read:\n{exc}\nFix them under Settings in the admin."
        ) from None


def _settings_values(settings: DmSettings) -> dict[str, Any]:
    return {name: getattr(settings, name) for name in DmSettings.__dataclass_fields__}


def _next_first_session(session: date) -> date:
    year, month = (session.year + 1, 1) if session.month == 12 else (session.year, session.month + 1)
    return calendars.session_on_or_after(date(year, month, 1))


# --- inputs --------------------------------------------------------------------------------------


@dataclass
class _Gathered:
    reasons: list[str] = field(default_factory=list)  # shown to the operator, in order
    problems: list[str] = field(default_factory=list)  # why an input is missing
    notes: set[str] = field(default_factory=set)  # where the settings came from
    explained: set[str] = field(default_factory=set)  # symbols whose closes this service explained
    sources: dict[str, Any] = field(default_factory=dict)
    simulated: bool = False

    def problem(self, text: str) -> None:
        self.problems.append(text)
        self.reasons.append(text)


@dataclass
class _Broker:
    simulated: bool = False
    error: str | None = None
    history_errors: dict[str, str] = field(default_factory=dict)
    quotes: dict[str, Any] = field(default_factory=dict)  # symbol -> QuoteSnapshot
    nlv: Decimal | None = None
    nlv_as_of: datetime | None = None
    account: str = ""


def _instruments(gathered: _Gathered, symbols) -> dict[str, Instrument]:
    found: dict[str, Instrument] = {}
    for symbol in symbols:
        candidates = list(Instrument.objects.filter(symbol=symbol).exclude(sec_type=SecType.FUTURE))
        if len(candidates) == 1:
            found[symbol] = candidates[0]
        else:
            what = "no instrument" if not candidates else f"{len(candidates)} instruments"
            gathered.problem(f"{symbol}: {what} with this symbol; add it under Instruments in the admin")
            gathered.explained.add(symbol)
    return found


def _current_shares(gathered: _Gathered, *, sleeve: Sleeve, until: datetime) -> dict[str, int | None]:
    held: dict[str, Decimal] = {}
    for position in positions_by_sleeve(as_of=until - timedelta(microseconds=1), sleeve=sleeve):
        symbol = position.instrument.symbol
        held[symbol] = held.get(symbol, Decimal(0)) + position.quantity
    shares: dict[str, int | None] = {}
    for symbol, quantity in held.items():
        if quantity != quantity.to_integral_value():
            gathered.problem(f"{symbol}: DM's recorded fills add up to {quantity.normalize():f} shares, "
                             "not a whole number; correct the fills")
            shares[symbol] = None
        elif quantity:
            shares[symbol] = int(quantity)
    gathered.sources["current_shares"] = {"source": "fills", "before": formats.iso_moment(until)}
    return shares


def _read_broker(gathered: _Gathered, instruments: dict[str, Instrument], *, needed: int, role: str) -> _Broker:
    """Daily closes (upserted into PriceBar), quotes and NLV from the broker. Never raises GatewayError."""
    broker = _Broker()
    today = clock.trading_date()
    try:
        with open_gateway(role) as gateway:
            broker.simulated = gateway.simulated
            contracts = qualify(gateway, instruments.values())
            for symbol, instrument in instruments.items():
                try:
                    bars = gateway.historical_daily_closes(contracts[instrument.pk],
                                                           days=min(needed, MAX_HISTORY_REQUEST_DAYS))
                except GatewayError as exc:
                    broker.history_errors[symbol] = str(exc)
                    continue
                # Today's bar is the latest price so far, not a close: it is not stored.
                kept = _upsert_bars(instrument, [(b.day, b.close, b.simulated) for b in bars if b.day < today])
                if kept:
                    note = (f"{symbol}: {kept} stored close(s) differ from the simulator's and were kept "
                            "(simulated closes never replace real ones)")
                    gathered.reasons.append(note)
                    gathered.notes.add(note)
            snapshots = record_quotes(gateway, instruments.values())
            broker.quotes = {s: snapshots[i.pk] for s, i in instruments.items()}
            account = gateway.account_values()
            broker.nlv, broker.nlv_as_of, broker.account = account.net_liquidation, account.as_of, account.account
    except GatewayError as exc:
        broker.error = str(exc)
        gathered.problem(f"the broker could not be read ({exc}); no live input was used")
    return broker


def _upsert_bars(instrument: Instrument, bars: list[tuple[date, Decimal, bool]]) -> int:
    """Store the broker's closes; returns how many were not written because the simulator's
    closes never replace a real (stored, live or imported) close."""
    existing = {b.session: b for b in PriceBar.objects.filter(instrument=instrument,
                                                             session__in=[day for day, _, _ in bars])}
    new, changed, kept = [], [], 0
    for day, close, simulated in bars:
        source = DataSource.SIMULATED if simulated else DataSource.LIVE
        bar = existing.get(day)
        if bar is None:
            new.append(PriceBar(instrument=instrument, session=day, close=close, source=source))
        elif simulated and bar.source != DataSource.SIMULATED:
            kept += bar.close != close
        elif bar.close != close or bar.source != source:
            bar.close, bar.source = close, source
            changed.append(bar)
    with transaction.atomic():
        PriceBar.objects.bulk_create(new, batch_size=1000)
        PriceBar.objects.bulk_update(changed, ["close", "source"], batch_size=1000)
    return kept


def _closes(gathered, instruments, symbols, *, session, previous, needed, broker):
    """Per symbol, the last ``needed`` closes up to ``session``; a symbol with unusable history gets
    none (so the plan fails closed) and its reason names the date the history ends."""
    closes: dict[str, list[tuple[date, Decimal]]] = {}
    described: dict[str, Any] = {}
    for symbol in symbols:
        instrument = instruments.get(symbol)
        if instrument is None:
            closes[symbol] = []
            continue
        bars = list(PriceBar.objects.filter(instrument=instrument, session__lte=session)
                    .order_by("-session")[:needed].values_list("session", "close", "source"))
        bars.reverse()
        problem = None
        if broker is not None and broker.error is None and symbol in broker.history_errors:
            problem = f"{symbol}: the broker's daily history could not be read ({broker.history_errors[symbol]})"
        elif not bars:
            problem = (f"{symbol}: no price history up to {session.isoformat()}; import it with import_prices "
                       "or plan with --live")
        elif bars[-1][0] < previous:
            problem = (f"{symbol}: history ends {bars[-1][0].isoformat()}, stale for {session.isoformat()} "
                       f"(a close from {previous.isoformat()} or later is needed)")
        elif len(bars) < needed:
            problem = (f"{symbol}: history ends {bars[-1][0].isoformat()} with only {len(bars)} of the "
                       f"{needed} closes needed (it starts {bars[0][0].isoformat()})")
        else:
            gaps = sorted(set(calendars.sessions_in_range(bars[0][0], bars[-1][0])) - {d for d, _, _ in bars})
            if gaps:
                shown = ", ".join(d.isoformat() for d in gaps[:5]) + (", ..." if len(gaps) > 5 else "")
                problem = (f"{symbol}: history ending {bars[-1][0].isoformat()} lacks {len(gaps)} session(s) "
                           f"within its last {needed} closes: {shown}")
        if bars:
            origins = sorted({source for _, _, source in bars})
            described[symbol] = {
                "source": _history_source(broker), "bar_sources": origins,
                "first": bars[0][0].isoformat(), "as_of": bars[-1][0].isoformat(), "count": len(bars),
            }
            gathered.simulated |= DataSource.SIMULATED in origins
        if problem:
            gathered.problem(problem)
            gathered.explained.add(symbol)
            closes[symbol] = []
        else:
            closes[symbol] = [(day, _price(close)) for day, close, _ in bars]
    gathered.sources["closes"] = described
    return closes


def _history_source(broker: _Broker | None) -> str:
    if broker is not None and broker.error is None:
        return DataSource.SIMULATED if broker.simulated else DataSource.LIVE
    return DataSource.STORED


def _prices(gathered, instruments, symbols, *, session, previous, broker) -> dict[str, Decimal | None]:
    """Live: the quote's mid. Offline: the last stored close, at most one session old."""
    prices: dict[str, Decimal | None] = {}
    described: dict[str, Any] = {}
    for symbol in symbols:
        instrument = instruments.get(symbol)
        prices[symbol] = None
        if instrument is None:
            continue
        if broker is not None:
            quote = broker.quotes.get(symbol)
            if quote is None:
                continue  # the broker error is already a reason
            described[symbol] = {"source": quote.source, "as_of": formats.iso_moment(quote.as_of), "price": "mid"}
            if quote.valid and quote.mid is not None:
                prices[symbol] = _price(round_to(quote.mid, "0.0001"))
            else:
                why = quote.invalid_reason or "no bid and ask"
                described[symbol]["missing"] = why
                gathered.problem(f"{symbol}: the broker's quote cannot be used ({why})")
            continue
        bar = PriceBar.objects.filter(instrument=instrument, session__lte=session).order_by("-session").first()
        if bar is None:
            continue  # its history reason says so; a symbol held outside the universe is named below
        described[symbol] = {"source": DataSource.STORED, "as_of": bar.session.isoformat(),
                             "price": "close", "bar_source": bar.source}
        if bar.session < previous:
            described[symbol]["missing"] = "stale"
            if symbol not in gathered.explained:
                gathered.problem(f"{symbol}: the last stored close is from {bar.session.isoformat()}, "
                                 f"stale for {session.isoformat()}")
            continue
        prices[symbol] = _price(bar.close)
    gathered.sources["prices"] = described
    return prices


def _nlv(gathered, *, previous, session, read_by, broker) -> Decimal | None:
    if broker is not None:
        if broker.error is not None:
            return None
        gathered.sources["nlv"] = {"source": DataSource.SIMULATED if broker.simulated else DataSource.LIVE,
                                   "as_of": formats.iso_moment(broker.nlv_as_of), "account": broker.account}
        if broker.nlv is None:
            gathered.problem("NLV: the broker did not send NetLiquidation")
        return broker.nlv
    snapshot = BrokerSnapshot.objects.filter(as_of__lte=read_by).order_by("-as_of", "-id").first()
    if snapshot is None:
        gathered.sources["nlv"] = {"source": DataSource.STORED, "as_of": None}
        later = BrokerSnapshot.objects.order_by("as_of", "id").first()
        if later is None:
            gathered.problem("NLV: no broker snapshot is stored; read the broker (Broker snapshots in the admin) "
                             "or plan with --live")
        else:
            gathered.problem(f"NLV: no broker snapshot read by the end of {session.isoformat()} is stored (the "
                             f"earliest is from {formats.moment(later.as_of)}); plan a later session, or the "
                             "current one")
        return None
    gathered.sources["nlv"] = {
        "source": DataSource.STORED, "as_of": formats.iso_moment(snapshot.as_of), "snapshot": snapshot.pk,
        "account": snapshot.account, "simulated": snapshot.simulated, "currency": snapshot.currency,
    }
    gathered.simulated |= snapshot.simulated
    day = calendars.trading_date(snapshot.as_of)
    if day < previous:
        gathered.problem(f"NLV: the latest broker snapshot is from {day.isoformat()}, older than one session "
                         f"(needs {previous.isoformat()} or later); read the broker again or plan with --live")
        return None
    if snapshot.net_liquidation is None:
        gathered.problem(f"NLV: the broker snapshot of {day.isoformat()} has no net liquidation value")
    return snapshot.net_liquidation


def _vol_multiplier(gathered, *, session, stale_after) -> Decimal | None:
    state = VolTargetState.objects.filter(as_of_session__lte=session).order_by("-as_of_session").first()
    if state is None:
        gathered.sources["vol_multiplier"] = {"source": None, "as_of": None}
        gathered.problem("vol-target multiplier: no vol-target state is stored; run vol_target first")
        return None
    gathered.sources["vol_multiplier"] = {"source": state.source, "as_of": state.as_of_session.isoformat(),
                                          "state": state.pk}
    gathered.simulated |= state.source == DataSource.SIMULATED
    age = calendars.sessions_until(state.as_of_session, session)
    if age > stale_after:
        gathered.problem(
            f"vol-target multiplier: the state is as of {state.as_of_session.isoformat()}, {age} sessions before "
            f"{session.isoformat()} (stale after {stale_after}); run vol_target"
        )
        return None
    return state.multiplier


# --- outputs -------------------------------------------------------------------------------------


def _outputs(result: DmPlan, settings: DmSettings, *, first_session, next_rebalance, reasons) -> dict[str, Any]:
    lines = {line.symbol: line for line in result.lines}
    ranked = (*settings.risky_universe, settings.cash_symbol)
    ok = result.data_status == DATA_OK  # nothing partial is shown for an incomplete plan
    return {
        "first_session_of_month": first_session,
        "next_rebalance": next_rebalance.isoformat(),
        "momentum": {s: _text(lines[s].momentum) for s in ranked},
        "asset_vol": {s: _text(lines[s].asset_vol) for s in ranked},
        "selected": list(result.selected) if ok else [],
        "all_cash": result.all_cash if ok else None,
        "portfolio_vol": _text(result.portfolio_vol),
        "vol_scale": _text(result.vol_scale),
        "weights": {line.symbol: _text(line.target_weight) for line in result.lines} if ok else {},
        "target_shares": {line.symbol: line.target_shares for line in result.lines
                          if line.target_shares is not None},
        "current_shares": {line.symbol: line.current_shares for line in result.lines},
        "tickets": [
            {"symbol": t.symbol, "side": t.side, "quantity": t.quantity, "price": _text(t.price),
             "notional_usd": _text(t.notional_usd)}
            for t in result.tickets
        ],
        "dropped": [
            {"symbol": d.symbol, "side": d.side, "quantity": d.quantity, "notional_usd": _text(d.notional_usd),
             "reason": d.reason}
            for d in result.dropped
        ],
        "nav_usd": _text(result.nav_usd),
        "turnover_pct": _text(result.estimated_turnover_pct),
        "missing": list(result.missing),
        "reasons": list(reasons),
    }


INFORMATIONAL = ("holding ", "no ETF in the top ")


def _unavailable_reasons(gathered: _Gathered, result: DmPlan, reasons) -> list[str]:
    """Why the run is DATA UNAVAILABLE: the reasons that name a missing input."""
    out = [r for r in reasons
           if r in gathered.problems
           or not (r in gathered.notes or r.startswith(INFORMATIONAL) or "is held by DM but" in r)]
    return out or [f"DATA UNAVAILABLE: missing {', '.join(result.missing)}"]


def _price(value: Decimal) -> Decimal:
    """A stored price without its padding zeros, but with at least cents: 693.450000 -> 693.45."""
    cents = value.quantize(Decimal("0.01"))
    return cents if cents == value else value.normalize()


def _text(value: Any) -> Any:
    """Decimals as exact strings for JSON; other values unchanged."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, tuple):
        return ",".join(value)
    return value
