"""The daily digest and the Friday weekly review as markdown (DECISIONS.md §1, §3 and §6).

Pure: frozen snapshots in (digests.snapshot), text out. No Django, no I/O, no clock. A service
fills a `DigestSnapshot` (or a `WeeklyReviewSnapshot`) and calls `render_digest` (or
`render_weekly_review`). The renderer never recomputes a decision: P&L, gate, stop/TP hits,
drift and the rebalance signal are shown as the monitors recorded them. It only does the
arithmetic a reader would do in their head: distances to the stop and take-profit, calendar
days to a date, and whether the stored levels sit on the right sides of the entry.

The layout follows the legacy digest (LEGACY.md §3): a title, a blank line, a ``Generated:``
line, then H2 sections of bullets with values in backticks. Every number and time is written by
dspops.core.formats; this module adds only the markdown around them.

Fail closed, in the wording: a value that is absent (``None``) or not a number (a NaN
``Decimal``) prints as `missing`, never as a default. A check that cannot be evaluated says
"not evaluated" and why, never "not hit" or "matches". An overlay whose age is unknown is
stale. Times are shown in New York time with their offset.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

from dspops.core import formats
from dspops.core.formats import MISSING, is_missing
from digests.snapshot import (
    ALERT_SEVERITIES,
    CALENDAR_EVENT_KINDS,
    AlertLine,
    CalendarSpreadSleeve,
    DigestSnapshot,
    DualMomentumSleeve,
    IndexLevel,
    PositionLine,
    PositionsReport,
    Reconciliation,
    SleeveLogCoverage,
    VixGatedSpySleeve,
    VolTargetOverlay,
    WeekAhead,
    WeeklyReviewSnapshot,
)

__all__ = ["render_digest", "render_weekly_review"]

SIMULATED_BANNER = "**SIMULATED BROKER** — made from the TWS simulator, not a real account."

# How each severity is marked; ALERT_SEVERITIES gives the order (critical first: act on it now).
SEVERITY_MARKERS = {
    "critical": "🔴 CRITICAL",
    "warning": "🟠 WARNING",
    "info": "🔵 INFO",
}

CALENDAR_EVENT_LABELS = {
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

DATA_STATUS_LABELS = {"ok": "OK", "data_unavailable": "DATA UNAVAILABLE", "mismatch": "POSITION MISMATCH"}


# --------------------------------------------------------------------------------------------
# Markdown around the formatted values
# --------------------------------------------------------------------------------------------


def _code(text: str) -> str:
    return f"`{text}`"


def _day(value: date | None) -> str:
    """A session with its weekday, the date in backticks: `2026-01-14` (Wed)."""
    if value is None:
        return _code(MISSING)
    return f"{_code(value.isoformat())} ({formats.WEEKDAYS[value.weekday()]})"


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
        f"- As of: {_code(formats.iso_moment(as_of))} ({_source(source)}) | "
        f"Data: {_data_status(status, reason)}"
    )


def _header(title: str, generated_at: datetime, simulated: bool) -> list[str]:
    lines = [f"# {title}", "", f"Generated: {_code(formats.iso_moment(generated_at))}"]
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
    line = f"- As of session: {_day(overlay.as_of_session)}, {_source(overlay.source)}"
    if overlay.is_stale:
        if overlay.sessions_old is None:
            age = "age unknown"
        else:
            age = f"{formats.plural(overlay.sessions_old, 'session')} old"
        line += f" (stale: {age})"
    return [
        f"- Multiplier: {_code(formats.decimal(overlay.multiplier))} | "
        f"Realised vol: {_code(formats.percent(overlay.realized_vol, fraction=True))}",
        line,
    ]


def _index_line(name: str, level: IndexLevel | None) -> str:
    if level is None or is_missing(level.value):
        return f"- {name}: {_code(MISSING)}"
    as_of = level.as_of.isoformat() if level.as_of else MISSING
    value = _code(formats.decimal(level.value))
    used = f", {level.used_by}" if level.used_by else ""
    return f"- {name}: {value} (as of {as_of}, {_source(level.source)}{used})"


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
        absent = [name for name, value in levels if is_missing(value)]
        return f"- Exit check: {_code('not evaluated')} ({', '.join(absent)} missing)"
    if not valid:
        return (
            f"- Exit check: {_code('levels invalid: not evaluated')} (the stop must sit below "
            f"the entry spread {formats.decimal(cs.entry_spread)} and the take-profit above it; "
            "correct the position config)"
        )
    if is_missing(cs.current_spread):
        return f"- Exit check: {_code('not evaluated')} (current spread missing)"

    def hit(flag: bool | None) -> str:
        return _code("not evaluated") if flag is None else _code("HIT" if flag else "not hit")

    return f"- Exit check: stop {hit(cs.stop_loss_hit)} | take-profit {hit(cs.take_profit_hit)}"


def _calendar_spread_lines(cs: CalendarSpreadSleeve | None, trading_date: date) -> list[str]:
    if cs is None:
        return [f"- State: {_code(MISSING)} (no VRP-CS monitor run)"]
    spread = cs.current_spread
    stop, tp = cs.stop_loss_level, cs.take_profit_level
    stop_distance = None if is_missing(spread) or is_missing(stop) else spread - stop
    tp_distance = None if is_missing(spread) or is_missing(tp) else tp - spread
    score = cs.gate_score
    gate_score = "" if is_missing(score) else f" (score {_code(formats.decimal(score))})"
    pnl = _code(formats.usd(cs.pnl_usd, with_sign=True))
    roll_by = cs.roll_by
    countdown = formats.countdown(cs.sessions_to_roll, _days_between(trading_date, roll_by))
    return [
        f"- Legs: {_code(_legs(cs))} | Quantity: {_code(formats.quantity(cs.quantity))}",
        f"- Entry spread: {_code(formats.decimal(cs.entry_spread))} | "
        f"Current spread: {_code(formats.decimal(spread))} | {cs.pnl_label}: {pnl}",
        f"- Gate: {_code(cs.gate_state or MISSING)}{gate_score}",
        f"- Stop-loss: {_code(formats.decimal(stop))} | "
        f"distance (spread - stop): {_code(formats.signed(stop_distance))}",
        f"- Take-profit: {_code(formats.decimal(tp))} | "
        f"distance (TP - spread): {_code(formats.signed(tp_distance))}",
        _exit_check(cs),
        f"- Roll-by: {_day(roll_by)} | {_code(countdown) if roll_by else _code(MISSING)}",
        f"- Settlement: {_day(cs.settlement_date)}",
        _run_line(cs.as_of, cs.source, cs.data_status, cs.data_status_reason),
    ]


def _vix_gated_lines(erp: VixGatedSpySleeve | None) -> list[str]:
    if erp is None:
        return [f"- State: {_code(MISSING)} (no VRP-ERP monitor run)"]
    actual = f"{_code(formats.quantity(erp.actual_shares))}"
    if erp.actual_shares is not None:
        actual += f" (from {_source(erp.actual_source)})"
    if erp.rebalance is None:
        rebalance = _code(MISSING)
    else:
        rebalance = _code("yes" if erp.rebalance else "no")
        if erp.rebalance_reasons:
            rebalance += f" ({'; '.join(erp.rebalance_reasons)})"
    return [
        f"- VIX: {_code(formats.decimal(erp.vix))} | Regime: {_code(erp.regime or MISSING)}",
        f"- Target: {_code(formats.quantity(erp.target_shares))} shares | Actual: {actual}",
        f"- Drift: {_code(formats.percent(erp.drift_pct))} | Rebalance: {rebalance}",
        _run_line(erp.as_of, erp.source, erp.data_status, erp.data_status_reason),
    ]


def _dual_momentum_lines(dm: DualMomentumSleeve | None) -> list[str]:
    if dm is None:
        return [f"- State: {_code(MISSING)} (no DM state)"]
    lines = [f"- Next rebalance: {_day(dm.next_rebalance)}"]
    if dm.last_plan_date is None:
        lines.append(f"- Last plan: {_code('no plan yet')}")
    else:
        status = _code(dm.last_plan_status or MISSING)
        lines.append(f"- Last plan: {_day(dm.last_plan_date)} | Status: {status}")
        if dm.selected:
            weights = ", ".join(
                f"{_code(etf.symbol)} {_code(formats.percent(etf.weight, fraction=True))}"
                for etf in dm.selected
            )
            lines.append(f"- Selected: {weights}")
        else:
            lines.append(f"- Selected: {_code('none')} (the plan holds no ETF)")
    lines.append(f"- Vol multiplier: {_code(formats.decimal(dm.vol_multiplier))}")
    return lines


def _positions_lines(report: PositionsReport | None) -> list[str]:
    if report is None:
        return [
            f"- Positions: {_code(MISSING)} (not read)",
            f"- Reconciliation: {_code('not checked')} (no positions)",
        ]
    lines = [f"- As of: {_code(formats.iso_moment(report.as_of))} ({_source(report.source)})"]
    if not report.positions:
        lines.append(f"- Positions: {_code('none held')}")
    by_sleeve: dict[str | None, list[PositionLine]] = {}
    for line in report.positions:
        by_sleeve.setdefault(line.sleeve, []).append(line)
    for sleeve, held in by_sleeve.items():
        lines.append(f"- {sleeve or 'Not attributed to a sleeve'}:")
        lines += [_position_line(p) for p in held]
    lines += _reconciliation_lines(report.reconciliation)
    return lines


def _position_line(p: PositionLine) -> str:
    """One holding: quantity, average cost, mark, market value and P&L (missing when there is no mark)."""
    mark = _code(formats.price(p.mark))
    if p.mark is not None:  # with its basis, source and age, as every input the digest shows
        said = [p.mark_basis, _source(p.mark_source)] + ([formats.moment(p.mark_as_of)] if p.mark_as_of else [])
        mark += f" ({', '.join(said)})"
    commissions = _code(formats.usd(p.commissions_usd))
    if p.commissions_missing:
        commissions += f" (+ {formats.plural(p.commissions_missing, 'fill')} without a commission)"
    return (f"  - {_code(p.symbol)}: qty {_code(formats.quantity(p.quantity))} @ "
            f"{_code(formats.price(p.avg_cost_per_unit))} per unit | mark {mark} | "
            f"value {_code(formats.usd(p.market_value_usd))} | "
            f"unrealised {_code(formats.usd(p.unrealized_pnl_usd, with_sign=True))} | "
            f"realised {_code(formats.usd(p.realized_pnl_usd, with_sign=True))} | commissions {commissions}")


def _reconciliation_lines(recon: Reconciliation | None) -> list[str]:
    if recon is None:
        return [f"- Reconciliation: {_code('not checked')} (no reconciliation run)"]
    if not recon.checked:
        reason = recon.not_checked_reason or "reason not recorded"
        return [f"- Reconciliation: {_code('not checked')} ({reason})"]
    where = f"as of {formats.iso_moment(recon.as_of)}, {_source(recon.source)}"
    if not recon.breaks:
        return [f"- Reconciliation: {_code('matches the broker')} ({where})"]
    lines = [f"- Reconciliation: {_code(formats.plural(len(recon.breaks), 'break'))} ({where})"]
    lines += [
        f"  - {_code(b.symbol)}: broker {_code(formats.quantity(b.broker_quantity))}, "
        f"fills {_code(formats.quantity(b.fills_quantity))}"
        for b in recon.breaks
    ]
    return lines


def _calendar_lines(week: WeekAhead | None) -> list[str]:
    if week is None:
        return [f"- Calendar: {_code(MISSING)}"]
    sessions = ", ".join(_day(s) for s in week.sessions) if week.sessions else _code(MISSING)
    lines = [f"- Sessions: {sessions}"]
    events = sorted(week.events, key=lambda e: (e.on, CALENDAR_EVENT_KINDS.index(e.kind)))
    lines += [
        f"- {_day(e.on)} {CALENDAR_EVENT_LABELS[e.kind]}: {e.description}" for e in events
    ]
    if not events:
        lines.append("- No roll-by, settlement, DM rebalance or market closure in this window")
    return lines


def _sorted_alerts(alerts: Iterable[AlertLine]) -> list[AlertLine]:
    # Unacknowledged first, most severe first; stable within a severity.
    return sorted(alerts, key=lambda a: (a.acknowledged, ALERT_SEVERITIES.index(a.severity)))


def _alert_lines(alerts: Iterable[AlertLine], *, with_dates: bool = False) -> list[str]:
    ordered = _sorted_alerts(alerts)
    if not ordered:
        return ["- None"]
    lines = []
    for alert in ordered:
        if alert.acknowledged:  # seen by the operator: no longer marked in its severity's colour
            line = f"- ACKNOWLEDGED {alert.severity} {_code(alert.code)}: {alert.message}"
        else:
            line = f"- {SEVERITY_MARKERS[alert.severity]} {_code(alert.code)}: {alert.message}"
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
        f"- {_day(session)}: digest" if session in have
        else f"- {_day(session)}: {_code(MISSING)} (no digest for this session)"
        for session in sorted(review.sessions)
    ]
    extra = sorted(have - set(review.sessions))
    lines += [f"- {_day(d)}: digest (not an NYSE session of this week)" for d in extra]
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
            days = ", ".join(_day(d) for d in sorted(log.missing_sessions))
            lines.append(f"- {log.sleeve}: missing {days}")
        else:
            lines.append(f"- {log.sleeve}: {_code('complete')}")
    return lines


def _drift_lines(review: WeeklyReviewSnapshot) -> list[str]:
    threshold = review.drift_threshold_pct
    flagged = [
        r for r in review.drift_readings if is_missing(r.drift_pct) or r.drift_pct > threshold
    ]
    if not review.drift_readings:
        return [f"- Drift: {_code(MISSING)} (no drift readings this week)"]
    if not flagged:
        return [f"- None above {formats.quantity(threshold)}%"]
    return [
        f"- {_day(r.session)} {r.sleeve}: {_code(formats.percent(r.drift_pct))}"
        + (" (drift not recorded)" if is_missing(r.drift_pct) else "")
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
        f"- {_day(r.roll_by)} {r.description}: "
        f"{_code(formats.countdown(r.sessions_to_roll, (r.roll_by - review.week_ending).days))} | "
        f"settlement {_day(r.settlement_date)}"
        for r in due
    ]


def render_weekly_review(review: WeeklyReviewSnapshot) -> str:
    """The Friday review as markdown: the week's digests, alerts and what needs attention next."""
    title = f"DSP-100K Weekly Review — week ending {review.week_ending.isoformat()}"
    lines = _header(title, review.generated_at, review.simulated)
    threshold = f"{formats.quantity(review.drift_threshold_pct)}%"
    lines += _section("Digests", _weekly_digest_lines(review))
    lines += _section("Alerts this week", _alert_lines(review.alerts, with_dates=True))
    lines += _section("Vol-Target Overlay freshness", _weekly_overlay_lines(review.overlay))
    lines += _section("Sleeve logs missing a session", _sleeve_log_lines(review.sleeve_logs))
    lines += _section(f"Drift above {threshold}", _drift_lines(review))
    lines += _section(f"Rolls due in the next {review.roll_window_days} days", _roll_lines(review))
    return "\n".join(lines) + "\n"
