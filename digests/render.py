"""The daily digest and the Friday weekly review as markdown (DECISIONS.md §1, §3 and §6).

Pure: frozen dataclasses in, text out. No Django, no I/O, no clock. A service reads the stored
monitor runs, logs, positions and alerts, fills a `DigestSnapshot` (or a
`WeeklyReviewSnapshot`) and calls `render_digest` (or `render_weekly_review`). The renderer
never recomputes a decision: P&L, gate, stop/TP hits, drift and the rebalance signal are shown
as the monitors recorded them. It only does the arithmetic a reader would do in their head:
distances to the stop and take-profit, calendar days to a date, and whether the stored levels
sit on the right sides of the entry.

The layout follows the legacy digest (LEGACY.md §3): a title, a blank line, a ``Generated:``
line, then H2 sections of bullets with values in backticks.

Fail closed, in the wording: a value that is absent (``None``) or not a number (a NaN
``Decimal``) prints as `missing`, never as a default. A check that cannot be evaluated says
"not evaluated" and why, never "not hit" or "matches". An overlay whose age is unknown is
stale.

Units: prices, spreads, multipliers and money are ``Decimal``. ``drift_pct`` is in percent
(``Decimal("5")`` is 5%); ``realized_vol`` and ETF weights are fractions (``0.092`` is 9.2%).
Times are timezone-aware datetimes, shown in New York time with their offset; sessions are
``date`` objects (New York trading dates).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

from dspops.core.calendars import NEW_YORK

__all__ = [
    "ALERT_SEVERITIES",
    "CALENDAR_EVENT_KINDS",
    "MISSING",
    "NEW_YORK",
    "AlertLine",
    "CalendarEvent",
    "CalendarSpreadSleeve",
    "DigestSnapshot",
    "DriftReading",
    "DualMomentumSleeve",
    "EtfWeight",
    "IndexLevel",
    "PositionLine",
    "PositionsReport",
    "Reconciliation",
    "ReconciliationBreak",
    "SleeveLogCoverage",
    "UpcomingRoll",
    "VixGatedSpySleeve",
    "VolTargetOverlay",
    "WeekAhead",
    "WeeklyReviewSnapshot",
    "format_countdown",
    "format_day",
    "format_decimal",
    "format_percent",
    "format_signed_decimal",
    "format_time",
    "format_usd",
    "render_digest",
    "render_weekly_review",
]

MISSING = "missing"
SIMULATED_BANNER = "**SIMULATED BROKER** — made from the TWS simulator, not a real account."

# Severity -> (order, marker). Critical first: it is what the operator must act on now.
ALERT_SEVERITIES = {
    "critical": (0, "🔴 CRITICAL"),
    "warning": (1, "🟠 WARNING"),
    "info": (2, "🔵 INFO"),
}

CALENDAR_EVENT_KINDS = {
    "roll_by": "Roll-by",
    "settlement": "Settlement",
    "dm_rebalance": "DM rebalance",
    "holiday": "Market closed",
}

# How each source (dspops.core.models.DataSource, plus where an actual position came from) reads in
# the digest. An unknown source is printed as given rather than hidden.
SOURCE_LABELS = {
    "live": "live",
    "frozen": "frozen",
    "delayed": "delayed",
    "delayed-frozen": "delayed frozen",
    "simulated": "simulated broker",
    "manual": "manual",
    "stored": "stored history",
    "legacy": "legacy log",
    "broker": "broker",
    "fills": "fills",
}

DATA_STATUS_LABELS = {"ok": "OK", "data_unavailable": "DATA UNAVAILABLE"}

_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")  # not strftime: locale-independent
_CENT = Decimal("0.01")


# --------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------


def _check_aware(instance) -> None:
    """Refuse naive datetimes: a digest time without an offset cannot be shown in New York time."""
    for f in fields(instance):
        value = getattr(instance, f.name)
        if isinstance(value, datetime) and (value.tzinfo is None or value.utcoffset() is None):
            raise ValueError(
                f"{type(instance).__name__}.{f.name} is a naive datetime ({value.isoformat()}); "
                "pass a timezone-aware datetime (stored times are UTC)."
            )


@dataclass(frozen=True, kw_only=True)
class IndexLevel:
    """A vol index value (VIX, VVIX): the close of `as_of`, and where it came from."""

    value: Decimal | None
    as_of: date | None
    source: str | None


@dataclass(frozen=True, kw_only=True)
class VolTargetOverlay:
    """The stored vol-target multiplier and how old it is.

    `sessions_old` is the number of NYSE sessions from `as_of_session` to the digest's trading
    date (the service counts them on the calendar). It is stale above `stale_after_sessions`,
    and also when its age is unknown.
    """

    multiplier: Decimal | None
    realized_vol: Decimal | None  # annualised, a fraction: 0.092 is 9.2%
    as_of_session: date | None
    source: str | None
    sessions_old: int | None
    stale_after_sessions: int = 3

    @property
    def is_stale(self) -> bool:
        return self.sessions_old is None or self.sessions_old > self.stale_after_sessions


@dataclass(frozen=True, kw_only=True)
class CalendarSpreadSleeve:
    """VRP-CS as its latest monitor run recorded it: -quantity short_leg / +quantity long_leg.

    `pnl_usd`, `gate_*` and the `*_hit` flags are the run's own values. `sessions_to_roll`
    is counted on the CFE calendar by the service; calendar days are derived here.
    """

    as_of: datetime | None
    source: str | None
    data_status: str | None  # "ok" or "data_unavailable"
    data_status_reason: str = ""
    short_leg: str | None  # IBKR local symbol of the front month, e.g. "VXMF6"
    long_leg: str | None
    quantity: int | None
    entry_spread: Decimal | None
    current_spread: Decimal | None
    pnl_usd: Decimal | None
    gate_state: str | None  # OPEN, REDUCE, CLOSED or UNKNOWN
    gate_score: Decimal | None
    stop_loss_level: Decimal | None
    take_profit_level: Decimal | None
    stop_loss_hit: bool | None
    take_profit_hit: bool | None
    roll_by: date | None
    sessions_to_roll: int | None
    settlement_date: date | None

    def __post_init__(self):
        _check_aware(self)

    @property
    def levels_valid(self) -> bool | None:
        """Stop below entry and take-profit above it; None when one of the three is missing."""
        entry, stop, tp = self.entry_spread, self.stop_loss_level, self.take_profit_level
        if _missing(entry) or _missing(stop) or _missing(tp):
            return None
        return stop < entry < tp


@dataclass(frozen=True, kw_only=True)
class VixGatedSpySleeve:
    """VRP-ERP as its latest monitor run recorded it."""

    as_of: datetime | None
    source: str | None
    data_status: str | None
    data_status_reason: str = ""
    vix: Decimal | None
    regime: str | None
    target_shares: int | None
    actual_shares: int | None
    actual_source: str | None  # "broker", "fills" or "manual"
    drift_pct: Decimal | None  # percent: 5 is 5%
    rebalance: bool | None
    rebalance_reasons: tuple[str, ...] = ()

    def __post_init__(self):
        _check_aware(self)


@dataclass(frozen=True, kw_only=True)
class EtfWeight:
    symbol: str
    weight: Decimal | None  # a fraction of the sleeve: 0.5 is 50%


@dataclass(frozen=True, kw_only=True)
class DualMomentumSleeve:
    """DM: the next rebalance session and the last plan (None when no plan exists yet)."""

    next_rebalance: date | None
    last_plan_date: date | None
    last_plan_status: str | None
    selected: tuple[EtfWeight, ...]
    vol_multiplier: Decimal | None


@dataclass(frozen=True, kw_only=True)
class PositionLine:
    """One held contract, attributed to a sleeve (None: attributed to no sleeve).

    `avg_cost_per_unit` is a price per share or per index point: IBKR's avgCost divided by the
    contract multiplier (avgCost 1623.53 on VXM is 16.2353).
    """

    sleeve: str | None
    symbol: str
    quantity: Decimal | None
    avg_cost_per_unit: Decimal | None


@dataclass(frozen=True, kw_only=True)
class ReconciliationBreak:
    """A contract whose broker total differs from the sum over the sleeves' recorded fills."""

    symbol: str
    broker_quantity: Decimal | None
    fills_quantity: Decimal | None


@dataclass(frozen=True, kw_only=True)
class Reconciliation:
    """The latest reconciliation. `checked` False means it could not run (say why)."""

    checked: bool
    as_of: datetime | None
    source: str | None
    breaks: tuple[ReconciliationBreak, ...] = ()
    not_checked_reason: str = ""

    def __post_init__(self):
        _check_aware(self)


@dataclass(frozen=True, kw_only=True)
class PositionsReport:
    as_of: datetime | None
    source: str | None  # "fills" or "broker"
    positions: tuple[PositionLine, ...]
    reconciliation: Reconciliation | None

    def __post_init__(self):
        _check_aware(self)


@dataclass(frozen=True, kw_only=True)
class CalendarEvent:
    on: date
    kind: str  # a key of CALENDAR_EVENT_KINDS
    description: str

    def __post_init__(self):
        if self.kind not in CALENDAR_EVENT_KINDS:
            raise ValueError(
                f"Unknown calendar event kind {self.kind!r}; "
                f"use one of {', '.join(CALENDAR_EVENT_KINDS)}."
            )


@dataclass(frozen=True, kw_only=True)
class WeekAhead:
    """The next NYSE sessions after the digest's date and what falls on or between them."""

    sessions: tuple[date, ...]
    events: tuple[CalendarEvent, ...]


@dataclass(frozen=True, kw_only=True)
class AlertLine:
    """An alert as the digest shows it. The seen/resolved dates are used by the weekly review."""

    severity: str  # "critical", "warning" or "info"
    code: str
    message: str
    subject: str = ""
    first_seen_on: date | None = None
    last_seen_on: date | None = None
    resolved_on: date | None = None

    def __post_init__(self):
        if self.severity not in ALERT_SEVERITIES:
            raise ValueError(
                f"Unknown alert severity {self.severity!r} on {self.code!r}; "
                f"use one of {', '.join(ALERT_SEVERITIES)}."
            )


@dataclass(frozen=True, kw_only=True)
class DigestSnapshot:
    """Everything one day's digest shows. A section whose input is None prints `missing`."""

    trading_date: date
    generated_at: datetime
    simulated: bool
    overlay: VolTargetOverlay | None
    vix: IndexLevel | None
    vvix: IndexLevel | None
    vrp_cs: CalendarSpreadSleeve | None
    vrp_erp: VixGatedSpySleeve | None
    dm: DualMomentumSleeve | None
    positions: PositionsReport | None
    calendar: WeekAhead | None
    alerts: tuple[AlertLine, ...] = ()

    def __post_init__(self):
        _check_aware(self)


@dataclass(frozen=True, kw_only=True)
class SleeveLogCoverage:
    """A sleeve log that was checked for the week; `missing_sessions` lists sessions with no row."""

    sleeve: str
    missing_sessions: tuple[date, ...]


@dataclass(frozen=True, kw_only=True)
class DriftReading:
    session: date
    sleeve: str
    drift_pct: Decimal | None  # percent


@dataclass(frozen=True, kw_only=True)
class UpcomingRoll:
    roll_by: date
    description: str  # e.g. "VRP-CS VXMG6/VXMH6 -> VXMH6/VXMJ6"
    sessions_to_roll: int | None  # CFE sessions from week_ending to roll_by
    settlement_date: date | None


@dataclass(frozen=True, kw_only=True)
class WeeklyReviewSnapshot:
    """The Friday review of the week ending `week_ending`.

    `sessions` are the week's NYSE sessions; `digest_dates` the dates that have a stored digest.
    `sleeve_logs` holds one entry per sleeve log that was checked: an empty tuple means none
    was checked, which prints as such.
    """

    week_ending: date
    generated_at: datetime
    simulated: bool
    sessions: tuple[date, ...]
    digest_dates: tuple[date, ...]
    alerts: tuple[AlertLine, ...]
    overlay: VolTargetOverlay | None
    sleeve_logs: tuple[SleeveLogCoverage, ...]
    drift_readings: tuple[DriftReading, ...]
    upcoming_rolls: tuple[UpcomingRoll, ...]
    drift_threshold_pct: Decimal = Decimal("5")
    roll_window_days: int = 14

    def __post_init__(self):
        _check_aware(self)


# --------------------------------------------------------------------------------------------
# Formatting (deterministic: no clock, no locale)
# --------------------------------------------------------------------------------------------


def _missing(value) -> bool:
    return value is None or (isinstance(value, Decimal) and not value.is_finite())


def _code(text: str) -> str:
    return f"`{text}`"


def format_decimal(value: Decimal | int | None, places: int = 2) -> str:
    """At least `places` decimals, more only when they are significant: 1.5 -> 1.50, 16.2353."""
    if _missing(value):
        return MISSING
    value = Decimal(value)
    if value == 0:
        value = abs(value)  # no "-0.00"
    exponent = value.normalize().as_tuple().exponent
    if isinstance(exponent, int) and -exponent > places:
        return format(value.normalize(), "f")
    return format(value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP), "f")


def format_signed_decimal(value: Decimal | None, places: int = 2) -> str:
    """A difference with its sign: +0.28, -0.40, 0.00."""
    if _missing(value):
        return MISSING
    text = format_decimal(value, places)
    return text if text.startswith("-") or Decimal(text) == 0 else f"+{text}"


def format_usd(value: Decimal | None, *, signed: bool = False) -> str:
    """Dollars to the cent with thousands separators: $1,051,830.48; signed: +$1.50, -$88.00."""
    if _missing(value):
        return MISSING
    cents = Decimal(value).quantize(_CENT, rounding=ROUND_HALF_UP)
    body = f"${abs(cents):,.2f}"
    if cents < 0:
        return f"-{body}"
    return f"+{body}" if signed and cents > 0 else body


def format_percent(value: Decimal | None, *, fraction: bool = False, places: int = 2) -> str:
    """A percentage to `places` decimals; `fraction=True` reads 0.092 as 9.20%."""
    if _missing(value):
        return MISSING
    value = Decimal(value) * 100 if fraction else Decimal(value)
    if value == 0:
        value = abs(value)
    return f"{value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)}%"


def _format_quantity(value: Decimal | int | None) -> str:
    if _missing(value):
        return MISSING
    value = Decimal(value).normalize()
    return format(abs(value) if value == 0 else value, "f")


def format_day(value: date | None) -> str:
    """A session with its weekday: `2026-01-14` (Wed)."""
    if value is None:
        return _code(MISSING)
    return f"{_code(value.isoformat())} ({_WEEKDAYS[value.weekday()]})"


def format_time(value: datetime | None) -> str:
    """An aware time in New York, to the second, with its offset: 2026-01-12T16:22:15-05:00."""
    if value is None:
        return MISSING
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(
            f"Cannot show the naive time {value.isoformat()} in New York time; "
            "pass a timezone-aware datetime."
        )
    return value.astimezone(NEW_YORK).isoformat(timespec="seconds")


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if abs(count) == 1 else f"{count} {word}s"


def format_countdown(sessions: int | None, calendar_days: int | None) -> str:
    """"3 sessions (5 calendar days)", "due today", "overdue by 1 session (3 calendar days)"."""
    if sessions == 0:
        return "due today"
    session_text = f"{MISSING} sessions" if sessions is None else _plural(abs(sessions), "session")
    days_text = MISSING if calendar_days is None else _plural(abs(calendar_days), "calendar day")
    countdown = sessions if sessions is not None else calendar_days
    prefix = "overdue by " if countdown is not None and countdown < 0 else ""
    return f"{prefix}{session_text} ({days_text})"


def _source(source: str | None) -> str:
    if not source:
        return "source missing"
    return SOURCE_LABELS.get(source, source)


def _data_status(status: str | None, reason: str) -> str:
    if not status:
        return _code(MISSING)
    text = _code(DATA_STATUS_LABELS.get(status, status))
    return f"{text} ({reason})" if reason else text


def _run_line(as_of: datetime | None, source: str | None, status: str | None, reason: str) -> str:
    return (
        f"- As of: {_code(format_time(as_of))} ({_source(source)}) | "
        f"Data: {_data_status(status, reason)}"
    )


def _header(title: str, generated_at: datetime, simulated: bool) -> list[str]:
    lines = [f"# {title}", "", f"Generated: {_code(format_time(generated_at))}"]
    if simulated:
        lines += ["", SIMULATED_BANNER]
    return lines


def _section(title: str, body: Iterable[str]) -> list[str]:
    return ["", f"## {title}", *body]


def _days_between(start: date, end: date | None) -> int | None:
    return None if end is None else (end - start).days


# --------------------------------------------------------------------------------------------
# Daily digest sections
# --------------------------------------------------------------------------------------------


def _overlay_lines(overlay: VolTargetOverlay | None) -> list[str]:
    if overlay is None:
        return [f"- Multiplier: {_code(MISSING)} (no vol-target state)"]
    line = f"- As of session: {format_day(overlay.as_of_session)}, {_source(overlay.source)}"
    if overlay.is_stale:
        if overlay.sessions_old is None:
            age = "age unknown"
        else:
            age = f"{_plural(overlay.sessions_old, 'session')} old"
        line += f" (stale: {age})"
    return [
        f"- Multiplier: {_code(format_decimal(overlay.multiplier))} | "
        f"Realised vol: {_code(format_percent(overlay.realized_vol, fraction=True))}",
        line,
    ]


def _index_line(name: str, level: IndexLevel | None) -> str:
    if level is None or _missing(level.value):
        return f"- {name}: {_code(MISSING)}"
    as_of = level.as_of.isoformat() if level.as_of else MISSING
    value = _code(format_decimal(level.value))
    return f"- {name}: {value} (as of {as_of}, {_source(level.source)})"


def _legs(cs: CalendarSpreadSleeve) -> str:
    short_leg, long_leg = cs.short_leg or MISSING, cs.long_leg or MISSING
    if cs.quantity is None:
        return f"short {short_leg} / long {long_leg}"
    return f"-{cs.quantity} {short_leg} / +{cs.quantity} {long_leg}"


def _exit_check(cs: CalendarSpreadSleeve) -> str:
    valid = cs.levels_valid
    if valid is None:
        levels = (
            ("entry spread", cs.entry_spread),
            ("stop", cs.stop_loss_level),
            ("take-profit", cs.take_profit_level),
        )
        absent = [name for name, value in levels if _missing(value)]
        return f"- Exit check: {_code('not evaluated')} ({', '.join(absent)} missing)"
    if not valid:
        return (
            f"- Exit check: {_code('levels invalid: not evaluated')} (the stop must sit below "
            f"the entry spread {format_decimal(cs.entry_spread)} and the take-profit above it; "
            "correct the position config)"
        )
    if _missing(cs.current_spread):
        return f"- Exit check: {_code('not evaluated')} (current spread missing)"

    def hit(flag: bool | None) -> str:
        return _code("not evaluated") if flag is None else _code("HIT" if flag else "not hit")

    return f"- Exit check: stop {hit(cs.stop_loss_hit)} | take-profit {hit(cs.take_profit_hit)}"


def _calendar_spread_lines(cs: CalendarSpreadSleeve | None, trading_date: date) -> list[str]:
    if cs is None:
        return [f"- State: {_code(MISSING)} (no VRP-CS monitor run)"]
    spread = cs.current_spread
    stop, tp = cs.stop_loss_level, cs.take_profit_level
    stop_distance = None if _missing(spread) or _missing(stop) else spread - stop
    tp_distance = None if _missing(spread) or _missing(tp) else tp - spread
    score = cs.gate_score
    gate_score = "" if _missing(score) else f" (score {_code(format_decimal(score))})"
    pnl = _code(format_usd(cs.pnl_usd, signed=True))
    roll_by = cs.roll_by
    countdown = format_countdown(cs.sessions_to_roll, _days_between(trading_date, roll_by))
    return [
        f"- Legs: {_code(_legs(cs))} | Quantity: {_code(_format_quantity(cs.quantity))}",
        f"- Entry spread: {_code(format_decimal(cs.entry_spread))} | "
        f"Current spread: {_code(format_decimal(spread))} | P&L: {pnl}",
        f"- Gate: {_code(cs.gate_state or MISSING)}{gate_score}",
        f"- Stop-loss: {_code(format_decimal(stop))} | "
        f"distance (spread - stop): {_code(format_signed_decimal(stop_distance))}",
        f"- Take-profit: {_code(format_decimal(tp))} | "
        f"distance (TP - spread): {_code(format_signed_decimal(tp_distance))}",
        _exit_check(cs),
        f"- Roll-by: {format_day(roll_by)} | {_code(countdown) if roll_by else _code(MISSING)}",
        f"- Settlement: {format_day(cs.settlement_date)}",
        _run_line(cs.as_of, cs.source, cs.data_status, cs.data_status_reason),
    ]


def _vix_gated_lines(erp: VixGatedSpySleeve | None) -> list[str]:
    if erp is None:
        return [f"- State: {_code(MISSING)} (no VRP-ERP monitor run)"]
    actual = f"{_code(_format_quantity(erp.actual_shares))}"
    if erp.actual_shares is not None:
        actual += f" (from {_source(erp.actual_source)})"
    if erp.rebalance is None:
        rebalance = _code(MISSING)
    else:
        rebalance = _code("yes" if erp.rebalance else "no")
        if erp.rebalance_reasons:
            rebalance += f" ({'; '.join(erp.rebalance_reasons)})"
    return [
        f"- VIX: {_code(format_decimal(erp.vix))} | Regime: {_code(erp.regime or MISSING)}",
        f"- Target: {_code(_format_quantity(erp.target_shares))} shares | Actual: {actual}",
        f"- Drift: {_code(format_percent(erp.drift_pct))} | Rebalance: {rebalance}",
        _run_line(erp.as_of, erp.source, erp.data_status, erp.data_status_reason),
    ]


def _dual_momentum_lines(dm: DualMomentumSleeve | None) -> list[str]:
    if dm is None:
        return [f"- State: {_code(MISSING)} (no DM state)"]
    lines = [f"- Next rebalance: {format_day(dm.next_rebalance)}"]
    if dm.last_plan_date is None:
        lines.append(f"- Last plan: {_code('no plan yet')}")
    else:
        status = _code(dm.last_plan_status or MISSING)
        lines.append(f"- Last plan: {format_day(dm.last_plan_date)} | Status: {status}")
        if dm.selected:
            weights = ", ".join(
                f"{_code(etf.symbol)} {_code(format_percent(etf.weight, fraction=True))}"
                for etf in dm.selected
            )
            lines.append(f"- Selected: {weights}")
        else:
            lines.append(f"- Selected: {_code('none')} (the plan holds no ETF)")
    lines.append(f"- Vol multiplier: {_code(format_decimal(dm.vol_multiplier))}")
    return lines


def _positions_lines(report: PositionsReport | None) -> list[str]:
    if report is None:
        return [
            f"- Positions: {_code(MISSING)} (not read)",
            f"- Reconciliation: {_code('not checked')} (no positions)",
        ]
    lines = [f"- As of: {_code(format_time(report.as_of))} ({_source(report.source)})"]
    if not report.positions:
        lines.append(f"- Positions: {_code('none held')}")
    by_sleeve: dict[str | None, list[PositionLine]] = {}
    for line in report.positions:
        by_sleeve.setdefault(line.sleeve, []).append(line)
    for sleeve, held in by_sleeve.items():
        lines.append(f"- {sleeve or 'Not attributed to a sleeve'}:")
        lines += [
            f"  - {_code(p.symbol)}: qty {_code(_format_quantity(p.quantity))} @ "
            f"{_code(format_decimal(p.avg_cost_per_unit))} per unit"
            for p in held
        ]
    lines += _reconciliation_lines(report.reconciliation)
    return lines


def _reconciliation_lines(recon: Reconciliation | None) -> list[str]:
    if recon is None:
        return [f"- Reconciliation: {_code('not checked')} (no reconciliation run)"]
    if not recon.checked:
        reason = recon.not_checked_reason or "reason not recorded"
        return [f"- Reconciliation: {_code('not checked')} ({reason})"]
    where = f"as of {format_time(recon.as_of)}, {_source(recon.source)}"
    if not recon.breaks:
        return [f"- Reconciliation: {_code('matches the broker')} ({where})"]
    lines = [f"- Reconciliation: {_code(_plural(len(recon.breaks), 'break'))} ({where})"]
    lines += [
        f"  - {_code(b.symbol)}: broker {_code(_format_quantity(b.broker_quantity))}, "
        f"fills {_code(_format_quantity(b.fills_quantity))}"
        for b in recon.breaks
    ]
    return lines


def _calendar_lines(week: WeekAhead | None) -> list[str]:
    if week is None:
        return [f"- Calendar: {_code(MISSING)}"]
    sessions = ", ".join(format_day(s) for s in week.sessions) if week.sessions else _code(MISSING)
    lines = [f"- Sessions: {sessions}"]
    kinds = list(CALENDAR_EVENT_KINDS)
    events = sorted(week.events, key=lambda e: (e.on, kinds.index(e.kind)))
    lines += [
        f"- {format_day(e.on)} {CALENDAR_EVENT_KINDS[e.kind]}: {e.description}" for e in events
    ]
    if not events:
        lines.append("- No roll-by, settlement, DM rebalance or market closure in this window")
    return lines


def _sorted_alerts(alerts: Iterable[AlertLine]) -> list[AlertLine]:
    return sorted(alerts, key=lambda a: ALERT_SEVERITIES[a.severity][0])  # stable within a severity


def _alert_lines(alerts: Iterable[AlertLine], *, with_dates: bool = False) -> list[str]:
    ordered = _sorted_alerts(alerts)
    if not ordered:
        return ["- None"]
    lines = []
    for alert in ordered:
        line = f"- {ALERT_SEVERITIES[alert.severity][1]} {_code(alert.code)}: {alert.message}"
        if with_dates:
            seen = [d.isoformat() for d in (alert.first_seen_on, alert.last_seen_on) if d]
            notes = [f"seen {' to '.join(dict.fromkeys(seen))}"] if seen else []
            resolved = alert.resolved_on
            notes.append(f"resolved {resolved.isoformat()}" if resolved else "open")
            line += f" ({', '.join(notes)})"
        lines.append(line)
    return lines


def render_digest(snapshot: DigestSnapshot) -> str:
    """The day's digest as markdown, in the legacy layout, ending with a newline."""
    s = snapshot
    title = f"DSP-100K Daily Digest — {s.trading_date.isoformat()}"
    lines = _header(title, s.generated_at, s.simulated)
    lines += _section("Vol-Target Overlay", _overlay_lines(s.overlay))
    lines += _section("Vol Indices", [_index_line("VIX", s.vix), _index_line("VVIX", s.vvix)])
    lines += _section(
        "Sleeve VRP-CS (Calendar Spread)", _calendar_spread_lines(s.vrp_cs, s.trading_date)
    )
    lines += _section("Sleeve VRP-ERP (VIX-gated SPY)", _vix_gated_lines(s.vrp_erp))
    lines += _section("Sleeve DM (ETF Dual Momentum)", _dual_momentum_lines(s.dm))
    lines += _section("Positions and Reconciliation", _positions_lines(s.positions))
    lines += _section("Calendar (next 5 sessions)", _calendar_lines(s.calendar))
    lines += _section("Alerts", _alert_lines(s.alerts))
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------
# Weekly review
# --------------------------------------------------------------------------------------------


def _weekly_digest_lines(review: WeeklyReviewSnapshot) -> list[str]:
    if not review.sessions:
        return [f"- Sessions: {_code(MISSING)} (the week's sessions were not given)"]
    have = set(review.digest_dates)
    lines = [
        f"- {format_day(session)}: digest" if session in have
        else f"- {format_day(session)}: {_code(MISSING)} (no digest for this session)"
        for session in sorted(review.sessions)
    ]
    extra = sorted(have - set(review.sessions))
    lines += [f"- {format_day(d)}: digest (not an NYSE session of this week)" for d in extra]
    missing_count = len(set(review.sessions) - have)
    lines.append(
        f"- Digests missing: {_code(str(missing_count))} of {len(review.sessions)} sessions"
    )
    return lines


def _weekly_overlay_lines(overlay: VolTargetOverlay | None) -> list[str]:
    lines = _overlay_lines(overlay)
    if overlay is not None and not overlay.is_stale:
        lines[-1] += " (fresh)"
    return lines


def _sleeve_log_lines(coverage: tuple[SleeveLogCoverage, ...]) -> list[str]:
    if not coverage:
        return [f"- Sleeve logs: {_code('not checked')}"]
    lines = []
    for log in coverage:
        if log.missing_sessions:
            days = ", ".join(format_day(d) for d in sorted(log.missing_sessions))
            lines.append(f"- {log.sleeve}: missing {days}")
        else:
            lines.append(f"- {log.sleeve}: {_code('complete')}")
    return lines


def _drift_lines(review: WeeklyReviewSnapshot) -> list[str]:
    threshold = review.drift_threshold_pct
    flagged = [
        r for r in review.drift_readings if _missing(r.drift_pct) or r.drift_pct > threshold
    ]
    if not review.drift_readings:
        return [f"- Drift: {_code(MISSING)} (no drift readings this week)"]
    if not flagged:
        return [f"- None above {_format_quantity(threshold)}%"]
    return [
        f"- {format_day(r.session)} {r.sleeve}: {_code(format_percent(r.drift_pct))}"
        + (" (drift not recorded)" if _missing(r.drift_pct) else "")
        for r in sorted(flagged, key=lambda r: (r.session, r.sleeve))
    ]


def _roll_lines(review: WeeklyReviewSnapshot) -> list[str]:
    window = review.roll_window_days
    due = sorted(
        (r for r in review.upcoming_rolls if (r.roll_by - review.week_ending).days <= window),
        key=lambda r: r.roll_by,
    )
    if not due:
        return [f"- None within {review.roll_window_days} calendar days"]
    return [
        f"- {format_day(r.roll_by)} {r.description}: "
        f"{_code(format_countdown(r.sessions_to_roll, (r.roll_by - review.week_ending).days))} | "
        f"settlement {format_day(r.settlement_date)}"
        for r in due
    ]


def render_weekly_review(review: WeeklyReviewSnapshot) -> str:
    """The Friday review as markdown: the week's digests, alerts and what needs attention next."""
    title = f"DSP-100K Weekly Review — week ending {review.week_ending.isoformat()}"
    lines = _header(title, review.generated_at, review.simulated)
    threshold = f"{_format_quantity(review.drift_threshold_pct)}%"
    lines += _section("Digests", _weekly_digest_lines(review))
    lines += _section("Alerts this week", _alert_lines(review.alerts, with_dates=True))
    lines += _section("Vol-Target Overlay freshness", _weekly_overlay_lines(review.overlay))
    lines += _section("Sleeve logs missing a session", _sleeve_log_lines(review.sleeve_logs))
    lines += _section(f"Drift above {threshold}", _drift_lines(review))
    lines += _section(f"Rolls due in the next {review.roll_window_days} days", _roll_lines(review))
    return "\n".join(lines) + "\n"
