"""What a digest is made of: the frozen snapshots a service fills and the renderer reads.

Pure: no Django, no I/O, no clock. A service (digests.services) reads the stored monitor runs,
logs, positions and alerts into a `DigestSnapshot` (or a `WeeklyReviewSnapshot`); digests.render
turns it into markdown. The snapshot holds the monitors' values as they were recorded: nothing
here recomputes a decision.

Fail closed: a value that is absent is ``None`` (or a NaN ``Decimal``), never a default; a
section whose input is None is shown as missing.

Units: prices, spreads, multipliers and money are ``Decimal``. ``drift_pct`` is in percent
(``Decimal("5")`` is 5%); ``realized_vol`` and ETF weights are fractions (``0.092`` is 9.2%).
Times are timezone-aware datetimes (stored times are UTC); sessions are ``date`` objects (New
York trading dates).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date, datetime
from decimal import Decimal

from dspops.core.formats import is_missing

__all__ = [
    "ALERT_SEVERITIES",
    "CALENDAR_EVENT_KINDS",
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
]

# The severities an alert line may have, most urgent first (the digest lists them in this order).
ALERT_SEVERITIES = ("critical", "warning", "info")

# What a calendar event may be, in the order the digest lists events that fall on the same day.
CALENDAR_EVENT_KINDS = ("roll_by", "settlement", "dm_rebalance", "holiday")


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
    """A vol index value (VIX, VVIX): the one value of the digest, the session it is from, and where it came
    from. `used_by` names the monitor run whose value it is, when it is a run's (e.g. a VIX given by hand)."""

    value: Decimal | None
    as_of: date | None
    source: str | None
    used_by: str = ""


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
    data_status: str | None  # "ok", "data_unavailable" or "mismatch" (the holding is not the configured spread)
    data_status_reason: str = ""
    pnl_label: str = "P&L"  # sleeves.naked_legs.pnl_label: "P&L", or over what is held (a naked leg)
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
        if is_missing(entry) or is_missing(stop) or is_missing(tp):
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
    # From the one positions selector (sleeves.selectors.positions_by_sleeve); None is shown as missing.
    mark: Decimal | None = None  # per unit: the latest stored quote's mid, else last, else close
    mark_basis: str = ""  # "mid", "last" or "close"
    mark_source: str | None = None
    mark_as_of: datetime | None = None
    market_value_usd: Decimal | None = None  # quantity x mark x multiplier
    unrealized_pnl_usd: Decimal | None = None  # (mark - average cost) x quantity x multiplier
    realized_pnl_usd: Decimal | None = None
    commissions_usd: Decimal | None = None  # the known commissions of the fills that count
    commissions_missing: int = 0  # fills without a reported commission

    def __post_init__(self):
        _check_aware(self)


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
    kind: str  # one of CALENDAR_EVENT_KINDS
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
    first_seen_on: date | None = None  # sessions the alert was raised for
    last_seen_on: date | None = None
    resolved_on: date | None = None
    acknowledged: bool = False  # open and acknowledged: listed, marked, counted apart

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
