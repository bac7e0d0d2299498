"""The digest's alert rules (DECISIONS.md §6), evaluated from stored data for one trading date.

Nothing here recomputes a monitor's decision: stop/TP hits, the gate, P&L and drift are read
from the stored runs and logs. The rules only compare stored values with the operator's
thresholds (BOOK and sleeve settings) and count sessions on the calendar.

Each rule reports what it found and which alert codes it could evaluate. A condition found is
raised with ``raise_alert`` (the same (code, subject) stays one row from day to day); an alert
of an evaluated code whose condition no longer holds is resolved. A rule that cannot be
evaluated (no run to read) resolves nothing: an alert is never cleared for lack of data.

Resolution happens only when the date evaluated is the current session (or later): a digest
built again for a past date can show what was true then, but cannot tell that a condition has
cleared since.

Reconciliation breaks and orphan legs are raised and resolved by their own services; they are
left alone here. ``broker_unavailable`` belongs to the live digest (digests.services).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction

from dspops.core import calendars, clock, formats, vx
from dspops.core.alerts import raise_alert, resolve_alerts
from dspops.core.calendars import CFE, NEW_YORK
from dspops.core.errors import OperatorError
from dspops.core.models import Alert, Instrument, QuoteSnapshot, SecType, Severity
from sleeves import parameters
from sleeves.inputs import CLOSE_TIME
from sleeves.models import (
    Fill,
    LogDataStatus,
    MonitorRun,
    PriceBar,
    RunKind,
    RunStatus,
    Sleeve,
    SleeveCode,
    SpreadPosition,
    VolTargetState,
    VrpCsLogEntry,
    VrpErpLogEntry,
)
from sleeves.selectors import sleeve_settings
from sleeves.strategies import GATE_STATES, GateState

__all__ = [
    "CODES",
    "Finding",
    "LatestValue",
    "NotASessionError",
    "SpreadLegs",
    "cs_legs",
    "effective_gate",
    "end_of_day",
    "evaluate_alerts",
    "latest_log",
    "latest_value",
    "position_in_force",
    "require_session",
    "watched_inputs",
]

# The registry codes (dspops.core.alerts.REGISTRY) these rules raise and resolve; the others
# belong to the services that raise them (reconciliation, the roll service, the live digest).
CODES = (
    "cs_levels_invalid",
    "cs_stop_loss",
    "cs_take_profit",
    "cs_gate",
    "monitor_run_missing",
    "monitor_data_unavailable",
    "data_stale",
    "roll_due",
    "erp_drift",
    "vol_target_stale",
    "spread_legs_expired",
    "fill_unattributed",
)

# A sleeve's short name, as the digest and alerts write it: its label before the parenthesis
# ("VRP-CS (VXM calendar spread)" -> "VRP-CS").
SLEEVE_LABELS = {code.value: code.label.partition(" (")[0] for code in SleeveCode}


class NotASessionError(OperatorError):
    """The date is not an NYSE session. The message names the previous one."""


def require_session(day: date) -> None:
    """Raise NotASessionError unless ``day`` is an NYSE session."""
    if calendars.is_session(day):
        return
    previous = calendars.previous_session(day)
    what = f"{day:%A}" if day.weekday() >= 5 else f"{day:%A}, a market holiday"
    raise NotASessionError(f"{day} is not an NYSE session ({what}); the previous session is {previous}")


# --------------------------------------------------------------------------------------------
# Reading the stored rows (also used by digests.services, so the digest and its alerts agree)
# --------------------------------------------------------------------------------------------



def end_of_day(day: date) -> datetime:
    """Midnight New York after ``day``: the exclusive upper bound of that trading date."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=NEW_YORK)


def latest_log(model, *, trading_date: date, fallback: bool = False):
    """The latest VrpCsLogEntry / VrpErpLogEntry of the date; with ``fallback``, else the latest before it."""
    rows = model.objects.select_related("run")
    entry = rows.filter(trading_date=trading_date).order_by("-logged_at", "-id").first()
    if entry is None and fallback:
        entry = rows.filter(trading_date__lt=trading_date).order_by("-trading_date", "-logged_at", "-id").first()
    return entry


@dataclass(frozen=True)
class SpreadLegs:
    """The legs a VRP-CS log row describes. ``inferred``: the row does not name them."""

    short_leg: str | None
    long_leg: str | None
    settlement_date: date | None
    inferred: bool = False

    @property
    def subject(self) -> str:
        if self.short_leg and self.long_leg:
            return f"{self.short_leg}/{self.long_leg}"
        return "VRP-CS"


def cs_legs(entry: VrpCsLogEntry) -> SpreadLegs:
    """The legs of a VRP-CS log row: as its run recorded them, else from its roll-by.

    The legacy log names no contract; its roll-by does: the contract rolled by that date is the
    front month (short) and the next month is the long leg.
    """
    outputs = entry.run.outputs if entry.run_id else {}
    if outputs.get("short_leg") and outputs.get("long_leg"):
        settlement = outputs.get("settlement_date")
        return SpreadLegs(outputs["short_leg"], outputs["long_leg"],
                          date.fromisoformat(settlement) if settlement else None)
    if entry.roll_by is None:
        return SpreadLegs(None, None, None)
    month = vx.ContractMonth.from_date(entry.roll_by)
    if vx.settlement_date(month) < entry.roll_by:
        month = month.shift(1)
    root = sleeve_settings("VRP_CS")["contract_root"]
    return SpreadLegs(month.local_symbol(root), month.shift(1).local_symbol(root), vx.settlement_date(month),
                      inferred=True)


def effective_gate(entry: VrpCsLogEntry) -> GateState:
    """The stored gate, except that a gate logged without inputs is UNKNOWN (it counts as CLOSED).

    The legacy monitor logged OPEN on rows whose quotes were nan; DECISIONS §3 reads that as UNKNOWN.
    """
    state = (entry.gate_state or "").upper()
    if state not in GATE_STATES:
        return GateState.UNKNOWN
    if entry.gate_score is None and entry.data_status != LogDataStatus.OK:
        return GateState.UNKNOWN
    return GateState(state)


@dataclass(frozen=True)
class LatestValue:
    """The one value of a daily input that a digest shows and checks: a close, a live quote, or the value a
    monitor run of the session used, whichever is newest. ``used_by`` names the run, when it is a run's."""

    symbol: str
    value: Decimal | None
    as_of: date | None
    source: str | None
    at: datetime | None = None
    used_by: str = ""

    def age(self, trading_date: date) -> int | None:
        return None if self.as_of is None else calendars.sessions_until(self.as_of, trading_date)


def watched_inputs() -> tuple[tuple[str, str], ...]:
    """(symbol, sec_type) of the daily inputs whose freshness the digest checks."""
    return (("VIX", SecType.INDEX), ("VVIX", SecType.INDEX), (sleeve_settings("VRP_ERP")["symbol"], SecType.STOCK))


# The monitors whose stored inputs are daily inputs too, most recent run first.
_INPUT_RUNS = ((RunKind.VRP_ERP, "VRP-ERP"), (RunKind.VRP_CS, "VRP-CS"))
_RUNS_SEARCHED = 6


def _input_name(symbol: str, sec_type: str) -> str:
    """What a monitor run calls the input in its inputs and sources: vix, vvix, spy_price."""
    if sec_type == SecType.STOCK and symbol == sleeve_settings("VRP_ERP")["symbol"]:
        return "spy_price"
    return symbol.lower()


def _run_value(run: MonitorRun, name: str) -> tuple[datetime, Decimal, str | None] | None:
    """(when it was observed, value, source) of input ``name`` as the run stored it, or None when it had none."""
    raw = (run.inputs or {}).get(name)
    if raw is None or raw == "":
        return None
    try:
        value = Decimal(str(raw))
    except (InvalidOperation, ValueError):
        return None
    if not value.is_finite():
        return None
    described = (run.sources or {}).get(name) or {}
    at = run.started_at
    if described.get("as_of"):
        try:
            stamped = datetime.fromisoformat(described["as_of"])
        except (TypeError, ValueError):
            stamped = None
        if stamped is not None and stamped.tzinfo is not None:
            at = stamped
    return at, value, described.get("source")


def latest_value(symbol: str, sec_type: str, *, trading_date: date) -> LatestValue:
    """The one value of ``symbol`` for the digest of ``trading_date``, with its source and age.

    The newest of: the stored daily close, the latest valid quote snapshot, and the value the latest
    VRP-ERP / VRP-CS monitor runs on or before the date used (a run given VIX by hand, or that quoted it
    live without storing a snapshot, still used a value). On a tie the run's value wins: it is the one a
    decision was made from. Every section of the digest and the data_stale rule read this, so a digest
    never says an input is missing while a sleeve used it.
    """
    instrument = Instrument.objects.filter(symbol=symbol, sec_type=sec_type).first()
    candidates: list[tuple[datetime, int, Decimal, str | None, str]] = []
    if instrument is not None:
        bar = PriceBar.objects.filter(instrument=instrument, session__lte=trading_date).order_by("-session").first()
        if bar is not None:
            candidates.append((datetime.combine(bar.session, CLOSE_TIME, tzinfo=NEW_YORK), 0, bar.close, bar.source, ""))
        quote = (QuoteSnapshot.objects.filter(instrument=instrument, valid=True, as_of__lt=end_of_day(trading_date))
                 .order_by("-as_of", "-id").first())
        if quote is not None:
            price = quote.last if quote.last is not None else quote.mid
            if price is not None:
                candidates.append((quote.as_of, 1, price, quote.source, ""))
    name = _input_name(symbol, sec_type)
    for kind, label in _INPUT_RUNS:
        runs = (MonitorRun.objects.filter(kind=kind, trading_date__lte=trading_date)
                .exclude(status=RunStatus.SKIPPED).order_by("-trading_date", "-started_at", "-id")[:_RUNS_SEARCHED])
        for run in runs:
            used = _run_value(run, name)
            if used is not None and used[0] < end_of_day(trading_date):
                at, value, source = used
                candidates.append((at, 2, value, source,
                                   f"used by the {label} monitor run of {formats.moment(run.started_at)}"))
                break
    if not candidates:
        return LatestValue(symbol, None, None, None)
    at, _, value, source, used_by = max(candidates, key=lambda c: (c[0], c[1]))
    return LatestValue(symbol, value, calendars.trading_date(at), source, at=at, used_by=used_by)


def position_in_force(trading_date: date) -> SpreadPosition | None:
    """The active VRP-CS position config, if it was entered by ``trading_date`` and its short leg had not settled."""
    return (SpreadPosition.objects.filter(is_active=True, entry_date__lte=trading_date,
                                          short_leg__settlement_date__gt=trading_date)
            .select_related("short_leg", "long_leg", "sleeve").first())


# --------------------------------------------------------------------------------------------
# The rules
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    code: str
    severity: str
    subject: str
    message: str
    sleeve_code: str | None = None
    about: Any = None  # the stored object the alert is about (its page is the alert's link), if known


@dataclass
class RuleResult:
    findings: list[Finding] = field(default_factory=list)
    evaluated: set[str] = field(default_factory=set)  # codes whose other open alerts may be resolved

    def add(self, code: str, severity: str, subject: str, message: str, sleeve_code: str | None = None, *,
            about: Any = None) -> None:
        if code not in CODES:  # a programming error: declare the code, and register it in the kernel
            raise ValueError(f"Alert code {code!r} is not one of the digest rules' CODES.")
        self.findings.append(Finding(code, severity, subject, message, sleeve_code, about))


@dataclass(frozen=True)
class _Context:
    trading_date: date
    now: datetime


def _cfe_sessions(count: int) -> str:
    return formats.sessions(count, "CFE")


def _cs_rules(ctx: _Context) -> RuleResult:
    """Stop/TP levels, hits and near-hits, and the gate, from the latest VRP-CS log row of the date."""
    result = RuleResult()
    entry = latest_log(VrpCsLogEntry, trading_date=ctx.trading_date)
    if entry is None:
        return result  # monitor_run_missing says so; nothing here can be evaluated
    legs = cs_legs(entry)
    subject = legs.subject
    name = f"VRP-CS {subject}"
    position_id = (entry.run.inputs or {}).get("position_id") if entry.run_id else None
    position = SpreadPosition.objects.filter(pk=position_id).first() if isinstance(position_id, int) else None
    logged = formats.moment(entry.logged_at)
    entry_spread, stop, tp, spread = entry.entry_spread, entry.stop_loss_level, entry.take_profit_level, entry.spread

    levels_valid = None
    if entry_spread is not None and stop is not None and tp is not None:
        result.evaluated.add("cs_levels_invalid")
        levels_valid = stop < entry_spread < tp
        if not levels_valid:
            wrong = []
            if stop >= entry_spread:
                wrong.append(f"the stop-loss {formats.decimal(stop)} is at or above the entry (the profit side)")
            if tp <= entry_spread:
                wrong.append(f"the take-profit {formats.decimal(tp)} is at or below the entry (the loss side)")
            result.add(
                "cs_levels_invalid", Severity.CRITICAL, subject,
                f"{name}: stop-loss {formats.decimal(stop)} / take-profit {formats.decimal(tp)} around the entry "
                f"spread {formats.decimal(entry_spread)} (log of {logged}): {' and '.join(wrong)}. The stop must "
                "sit below the entry spread and the take-profit above it, so neither level is reported as hit. "
                f"Fix the position config (stop below {formats.decimal(entry_spread)}, take-profit above it) in "
                "the admin, then run the VRP-CS monitor again.",
                "VRP_CS", about=position,
            )

    if levels_valid and entry.data_status == LogDataStatus.OK and spread is not None:
        outputs = entry.run.outputs if entry.run_id else {}
        near_points = sleeve_settings("VRP_CS")["near_level_points"]
        pnl = formats.usd(entry.pnl_usd, with_sign=True)
        checks = (
            ("cs_stop_loss", entry.stop_loss_hit, "near_stop_loss", spread - stop,
             f"{name}: the spread {formats.decimal(spread)} is at or below the stop-loss {formats.decimal(stop)} "
             f"(entry {formats.decimal(entry_spread)}, P&L {pnl}; log of {logged}). Close the spread in TWS (buy back "
             f"{legs.short_leg or 'the short leg'}, sell {legs.long_leg or 'the long leg'}), record the fills, then "
             "deactivate or replace the position config.",
             f"{name}: the spread {formats.decimal(spread)} is {formats.signed(spread - stop)} from the "
             f"stop-loss {formats.decimal(stop)} (entry {formats.decimal(entry_spread)}; log of {logged}). Watch it "
             "intraday and have the closing ticket ready."),
            ("cs_take_profit", entry.take_profit_hit, "near_take_profit", tp - spread,
             f"{name}: the spread {formats.decimal(spread)} is at or above the take-profit {formats.decimal(tp)} "
             f"(entry {formats.decimal(entry_spread)}, P&L {pnl}; log of {logged}). Take the profit: close the "
             "spread in TWS, record the fills, then deactivate or replace the position config.",
             f"{name}: the spread {formats.decimal(spread)} is {formats.signed(tp - spread)} from the "
             f"take-profit {formats.decimal(tp)} (entry {formats.decimal(entry_spread)}; log of {logged}). Have the "
             "closing ticket ready."),
        )
        for code, hit, near_key, distance, hit_message, near_message in checks:
            if hit is None:
                continue  # not evaluated by the monitor: leave any open alert as it is
            result.evaluated.add(code)
            near = outputs.get(near_key) if near_key in outputs else (not hit and distance <= near_points)
            if hit:
                result.add(code, Severity.CRITICAL, subject, hit_message, "VRP_CS", about=position)
            elif near:
                result.add(code, Severity.WARNING, subject, near_message, "VRP_CS", about=position)

    gate = effective_gate(entry)
    result.evaluated.add("cs_gate")
    score = "" if entry.gate_score is None else f" (score {formats.decimal(entry.gate_score)})"
    if gate == GateState.REDUCE:
        result.add("cs_gate", Severity.WARNING, "VRP-CS",
                   f"VRP-CS gate is REDUCE{score} (log of {logged}): reduce or close only. Do not add to the "
                   "spread or open a new one; watch the spread closely.", "VRP_CS", about=entry.run)
    elif gate == GateState.CLOSED:
        result.add("cs_gate", Severity.CRITICAL, "VRP-CS",
                   f"VRP-CS gate is CLOSED{score} (log of {logged}): close only. Plan to close the spread; do not "
                   "open or roll it while the gate is closed.", "VRP_CS", about=entry.run)
    elif gate == GateState.UNKNOWN:
        why = entry.run.reason if entry.run_id and entry.run.reason else "its inputs were missing"
        result.add("cs_gate", Severity.CRITICAL, "VRP-CS",
                   f"VRP-CS gate is UNKNOWN (log of {logged}: {why}). It counts as CLOSED. Get VIX, VVIX and VX "
                   "quotes (run `python manage.py vrp_cs_monitor --live`) before any VRP-CS action.", "VRP_CS",
                   about=entry.run)
    return result


MONITORS = (
    (RunKind.VRP_ERP, SLEEVE_LABELS[SleeveCode.VRP_ERP], SleeveCode.VRP_ERP, "vrp_erp_monitor"),
    (RunKind.VRP_CS, SLEEVE_LABELS[SleeveCode.VRP_CS], SleeveCode.VRP_CS, "vrp_cs_monitor"),
)


def _monitor_run_rules(ctx: _Context) -> RuleResult:
    """A monitor that did not run today, or whose latest run of today lacked an input."""
    result = RuleResult(evaluated={"monitor_run_missing", "monitor_data_unavailable"})
    for kind, label, sleeve_code, command in MONITORS:
        run = (MonitorRun.objects.filter(kind=kind, trading_date=ctx.trading_date).exclude(status=RunStatus.SKIPPED)
               .order_by("-started_at", "-id").first())
        if run is None:
            result.add("monitor_run_missing", Severity.WARNING, label,
                       f"No {label} monitor run for {ctx.trading_date}. Run it (`python manage.py {command} --live`) "
                       "and check that the django-q cluster is running (Admin › Tasks: the 09:00 schedule).",
                       sleeve_code)
        elif run.status not in (RunStatus.OK, RunStatus.POSITION_MISMATCH):  # a mismatch is a naked_leg alert
            result.add("monitor_data_unavailable", Severity.WARNING, label,
                       f"The latest {label} run of {ctx.trading_date} ({formats.moment(run.started_at)}) is "
                       f"{run.get_status_display()}: {run.reason.rstrip('. ')}. Its decision was not made: fix "
                       f"that input, then run `python manage.py {command} --live` again.", sleeve_code, about=run)
    return result


def _stale_input_rules(ctx: _Context) -> RuleResult:
    """Each daily input: missing, or older than the previous session."""
    result = RuleResult(evaluated={"data_stale"})
    for symbol, sec_type in watched_inputs():
        latest = latest_value(symbol, sec_type, trading_date=ctx.trading_date)
        instrument = Instrument.objects.filter(symbol=symbol, sec_type=sec_type).first()
        fix = (f"Import its closes (`python manage.py import_prices FILE`) or run the monitors live; until then "
               f"every decision that needs {symbol} is DATA UNAVAILABLE.")
        if latest.value is None:
            result.add("data_stale", Severity.WARNING, symbol,
                       f"{symbol}: no value stored on or before {ctx.trading_date}. {fix}", about=instrument)
            continue
        age = latest.age(ctx.trading_date)
        # Current means this session or the one before: today's close does not exist before the close.
        if age > sleeve_settings("BOOK")["input_max_age_sessions"]:
            result.add("data_stale", Severity.WARNING, symbol,
                       f"{symbol}: latest value {latest.as_of}, {formats.sessions(age)} old "
                       f"({formats.decimal(latest.value)}, {latest.source}). {fix}", about=instrument)
    return result


def _roll_rules(ctx: _Context) -> RuleResult:
    """Roll-by within ``roll_alert_sessions`` CFE sessions (warning), due or overdue (critical)."""
    result = RuleResult()
    position = position_in_force(ctx.trading_date)
    if position is not None:
        short_leg, roll_by, settlement = str(position.short_leg), position.roll_by, position.settlement_date
    else:
        entry = latest_log(VrpCsLogEntry, trading_date=ctx.trading_date)
        if entry is None or entry.roll_by is None:
            return result  # no position known for this date: nothing to count down
        legs = cs_legs(entry)
        short_leg, roll_by, settlement = legs.short_leg, entry.roll_by, legs.settlement_date
    result.evaluated.add("roll_due")
    if not calendars.in_window(roll_by):
        # A config stored before dates were bounded: no countdown can be computed, and that is critical.
        result.add("roll_due", Severity.CRITICAL, short_leg,
                   f"VRP-CS {short_leg}: the roll-by {roll_by} is outside the exchange calendar "
                   f"({calendars.CALENDAR_START} to {calendars.CALENDAR_END}), so the roll countdown cannot be "
                   "computed. Correct the position config.", "VRP_CS", about=position)
        return result
    sessions = calendars.sessions_until(ctx.trading_date, roll_by, exchange=CFE)
    days = (roll_by - ctx.trading_date).days
    horizon = sleeve_settings(parameters.BOOK)["roll_alert_sessions"]
    settles = f"; {short_leg} settles on {formats.day(settlement)}" if settlement else ""
    if sessions < 0:
        result.add("roll_due", Severity.CRITICAL, short_leg,
                   f"VRP-CS {short_leg}: the roll-by {formats.day(roll_by)} passed {_cfe_sessions(-sessions)} "
                   f"ago{settles}. Roll now (run the pre-roll checks, then trade the two calendar-spread tickets) or close the "
                   "spread before settlement.", "VRP_CS", about=position)
    elif sessions == 0:
        result.add("roll_due", Severity.CRITICAL, short_leg,
                   f"VRP-CS {short_leg}: the roll-by is today, {formats.day(roll_by)}{settles}. Roll today: run the "
                   "pre-roll checks, then trade the two calendar-spread tickets.", "VRP_CS", about=position)
    elif sessions <= horizon:
        result.add("roll_due", Severity.WARNING, short_leg,
                   f"VRP-CS {short_leg}: roll-by {formats.day(roll_by)} is {_cfe_sessions(sessions)} away "
                   f"({formats.plural(days, 'calendar day')}){settles}. Prepare the roll: rehearse the runbook and have the "
                   "two calendar-spread tickets ready.", "VRP_CS", about=position)
    return result


def _erp_drift_rules(ctx: _Context) -> RuleResult:
    result = RuleResult()
    entry = latest_log(VrpErpLogEntry, trading_date=ctx.trading_date)
    if entry is None or entry.drift_pct is None:
        return result
    result.evaluated.add("erp_drift")
    settings = sleeve_settings("VRP_ERP")
    threshold, symbol = settings["drift_rebalance_pct"], settings["symbol"]
    if entry.drift_pct >= threshold:
        target, actual = formats.quantity(entry.target_shares), formats.quantity(entry.actual_shares)
        result.add("erp_drift", Severity.WARNING, symbol,
                   f"VRP-ERP {symbol}: drift {formats.percent(entry.drift_pct)} (target {target} shares, actual "
                   f"{actual}; log of {formats.moment(entry.logged_at)}) is at or above {formats.percent(threshold)}. "
                   f"Rebalance to {target} shares at mid, record the fill, then run the VRP-ERP monitor again.",
                   "VRP_ERP", about=entry.run)
    return result


def _vol_target_rules(ctx: _Context) -> RuleResult:
    result = RuleResult(evaluated={"vol_target_stale"})
    stale_after = sleeve_settings(parameters.BOOK)["vol_state_stale_sessions"]
    state = VolTargetState.objects.filter(as_of_session__lte=ctx.trading_date).order_by("-as_of_session").first()
    fix = "Run `python manage.py vol_target` (it needs SPY closes up to the previous session)."
    if state is None:
        result.add("vol_target_stale", Severity.WARNING, "overlay",
                   f"No vol-target state on or before {ctx.trading_date}: the overlay multiplier is unknown, so "
                   f"VRP-ERP and DM sizing is DATA UNAVAILABLE. {fix}")
        return result
    age = calendars.sessions_until(state.as_of_session, ctx.trading_date)
    if age > stale_after:
        result.add("vol_target_stale", Severity.WARNING, "overlay",
                   f"The vol-target state (x{formats.decimal(state.multiplier)}) is from {state.as_of_session}, "
                   f"{formats.sessions(age)} old (stale after {stale_after}). {fix}", about=state)
    return result


def _expired_legs_rules(ctx: _Context) -> RuleResult:
    result = RuleResult(evaluated={"spread_legs_expired"})
    active = SpreadPosition.objects.filter(is_active=True, short_leg__settlement_date__lte=ctx.trading_date)
    for position in active.select_related("short_leg", "long_leg"):
        subject, message = position.settled_legs_alert
        result.add("spread_legs_expired", Severity.CRITICAL, subject, message, "VRP_CS", about=position)
    return result


def _unattributed_fill_rules(ctx: _Context) -> RuleResult:
    result = RuleResult(evaluated={"fill_unattributed"})
    # Reversals are left out below, not in the query: "reverses IS NULL" in it leads SQLite's planner to walk
    # every fill through that column's unique index instead of the few unattributed ones through the sleeve's.
    fills = (Fill.objects.filter(sleeve__isnull=True, executed_at__lt=end_of_day(ctx.trading_date))
             .filter(reversed_by__isnull=True).select_related("instrument"))
    open_messages = dict(Alert.objects.filter(code="fill_unattributed", resolved_at__isnull=True)
                         .values_list("subject", "message"))
    for fill in fills:
        if fill.reverses_id is not None:
            continue
        # An open alert keeps the message the import gave it: only the import knows why attribution failed.
        subject, message = fill.unattributed_alert()
        message = open_messages.get(subject) or message
        result.add("fill_unattributed", Severity.WARNING, subject, message, about=fill)
    return result


RULES: tuple[Callable[[_Context], RuleResult], ...] = (
    _cs_rules,
    _monitor_run_rules,
    _stale_input_rules,
    _roll_rules,
    _erp_drift_rules,
    _vol_target_rules,
    _expired_legs_rules,
    _unattributed_fill_rules,
)


def evaluate_alerts(*, trading_date: date, now: datetime | None = None) -> list[Alert]:
    """Raise the alerts that hold on ``trading_date`` and resolve those that no longer do.

    Returns the alerts raised or refreshed, in rule order. Raises NotASessionError for a date
    that is not an NYSE session. Alerts are resolved only when ``trading_date`` is the current
    session (or later); see the module docstring.
    """
    require_session(trading_date)
    now = now or clock.now()
    context = _Context(trading_date=trading_date, now=now)
    findings: dict[tuple[str, str], Finding] = {}
    evaluated: set[str] = set()
    for rule in RULES:
        outcome = rule(context)
        evaluated |= outcome.evaluated
        for finding in outcome.findings:
            findings.setdefault((finding.code, finding.subject), finding)
    sleeves = {s.code: s for s in Sleeve.objects.all()}
    resolve = trading_date >= calendars.session_on_or_before(clock.trading_date(now))
    with transaction.atomic():
        raised = [
            raise_alert(code=f.code, severity=f.severity, message=f.message, subject=f.subject,
                        sleeve=sleeves.get(f.sleeve_code) if f.sleeve_code else None, now=now, about=f.about,
                        session=trading_date)
            for f in findings.values()
        ]
        if resolve:
            for code in sorted(evaluated):
                resolve_alerts(code=code, keep_subjects=[s for c, s in findings if c == code], now=now)
    return raised
