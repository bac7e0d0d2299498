"""The daily digest and the weekly review: read what is stored, render it, keep it.

``build_snapshot`` reads the stored rows (monitor runs and their logs, positions from fills,
the latest reconciliation run and broker snapshot, alerts, the roll calendar, the vol-target
state) into a frozen ``DigestSnapshot``; it never recomputes a monitor's result. The renderer
(digests.render) turns it into markdown.

It never reads the broker and never runs a monitor. A live digest is a job of the site
(dspops/jobs.py): one gateway session stores the broker snapshot and the VRP-ERP and VRP-CS
monitor runs, then this module builds the digest from those stored rows, told what the job read
(``LiveRefresh``). A broker that could not be reached degrades the digest to stored data with a
critical ``broker_unavailable`` alert; it never aborts it.

One digest per trading date (DECISIONS §6). Generating it again replaces the stored one,
whatever its source: a legacy digest imported for that date is replaced too, and its markdown
is kept in the outputs of the digest run that replaced it (the Digest row's note says which
run). The legacy import, for its part, never overwrites a generated digest.
"""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from digests.alert_rules import (
    SLEEVE_LABELS,
    NotASessionError,
    cs_legs,
    effective_gate,
    end_of_day,
    evaluate_alerts,
    latest_log,
    latest_value,
    require_session,
)
from dspops.core.alerts import raise_alert, resolve_alerts, session_of
from dspops.core.calendars import CFE
from dspops.core.models import Alert, Severity
from digests.models import Digest, DigestSource
from digests.snapshot import (
    AlertLine,
    CalendarEvent,
    CalendarSpreadSleeve,
    DigestSnapshot,
    DriftReading,
    DualMomentumSleeve,
    EtfWeight,
    IndexLevel,
    PositionLine,
    PositionsReport,
    Reconciliation,
    ReconciliationBreak,
    SleeveLogCoverage,
    UpcomingRoll,
    VixGatedSpySleeve,
    VolTargetOverlay,
    WeekAhead,
    WeeklyReviewSnapshot,
)
from digests.render import render_digest, render_weekly_review
from dspops.core import calendars, clock, formats
from dspops.core.models import BrokerSnapshot, DataSource, SecType
from dspops.core import vx
from rolls.models import RollCycle
from sleeves import naked_legs, parameters
from sleeves.models import (
    MonitorRun,
    RunKind,
    RunStatus,
    VolTargetState,
    VrpCsLogEntry,
    VrpErpLogEntry,
)
from sleeves.selectors import positions_by_sleeve, sleeve_settings
from dspops.core.errors import OperatorError

__all__ = [
    "BROKER_UNAVAILABLE",
    "DigestError",
    "LiveRefresh",
    "NotASessionError",
    "build_snapshot",
    "build_weekly_review",
    "digest_path",
    "generate_digest",
    "generate_weekly_review",
    "live_session",
]

log = logging.getLogger("dspops.digests")

BROKER_UNAVAILABLE = "broker_unavailable"
WEEK_AHEAD_SESSIONS = 5
ROLL_WINDOW_DAYS = 14
LEGACY_NOTE = "Replaces the imported legacy digest"


class DigestError(OperatorError):
    """The digest cannot be made as asked (the message says why and what to do)."""


# --------------------------------------------------------------------------------------------
# What the live job read
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LiveRefresh:
    """What the live job (dspops/jobs.py) read before the digest: the broker snapshot it stored, or why
    the broker was unavailable. The digest itself never reads the broker nor runs a monitor."""

    snapshot: BrokerSnapshot | None
    error: str = ""

    @property
    def degraded(self) -> bool:
        return self.snapshot is None


def live_session(*, trading_date: date | None = None, now: datetime | None = None) -> date:
    """The session a live digest is for: the current one (today's, or on a closed day the last one: what
    the broker holds now is what it held at its close). Asked before the broker is read.

    Raises NotASessionError for a date that is not an NYSE session, DigestError for any other date than
    the current session (a past digest can only be built from stored data).
    """
    current = clock.current_session(now or clock.now())
    day = trading_date or current
    require_session(day)
    if day != current:
        raise DigestError(
            f"Live mode reads the broker now, for the current session {current}; the digest of {day} "
            "can only be built from stored data: drop --live."
        )
    return day


def _record_broker_state(live: LiveRefresh, *, trading_date: date, now: datetime) -> None:
    """A broker that could not be read raises the critical ``broker_unavailable`` alert (the digest is
    built from stored data); one that answered resolves it."""
    if not live.degraded:
        resolve_alerts(code=BROKER_UNAVAILABLE, now=now)
        return
    # The critical broker_unavailable alert below carries the reason; the log only notes the fallback, once.
    log.info("digest %s: broker unavailable, using stored data", trading_date)
    raise_alert(
        code=BROKER_UNAVAILABLE, severity=Severity.CRITICAL, subject="", now=now,
        message=(
            f"The broker could not be read for the {trading_date} digest ({live.error}). The digest was built "
            f"from stored data instead. Check that TWS / IB Gateway is running and logged in "
            f"({settings.IB_HOST}:{settings.IB_PORT}), then run `python manage.py daily_digest --live` again."
        ),
    )


# --------------------------------------------------------------------------------------------
# Reading the stored rows into a snapshot
# --------------------------------------------------------------------------------------------


def _decimal(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


@dataclass
class _Assembly:
    """The snapshot's parts, and where each came from (for the digest run's sources)."""

    trading_date: date
    sources: dict[str, Any] = field(default_factory=dict)
    simulated: bool = False

    def used(self, name: str, *, source: str | None, as_of: Any, simulated: bool = False, **extra) -> None:
        if isinstance(as_of, datetime):
            as_of = timezone.localtime(as_of).isoformat()
        elif isinstance(as_of, date):
            as_of = as_of.isoformat()
        self.sources[name] = {"source": source, "as_of": as_of, **extra}
        self.simulated = self.simulated or simulated or source == DataSource.SIMULATED


def _overlay(parts: _Assembly, day: date) -> VolTargetOverlay | None:
    state = VolTargetState.objects.filter(as_of_session__lte=day).order_by("-as_of_session").first()
    if state is None:
        return None
    parts.used("vol_target", source=state.source, as_of=state.as_of_session)
    return VolTargetOverlay(
        multiplier=state.multiplier, realized_vol=state.realized_vol, as_of_session=state.as_of_session,
        source=state.source, sessions_old=calendars.sessions_until(state.as_of_session, day),
        stale_after_sessions=sleeve_settings(parameters.BOOK)["vol_state_stale_sessions"],
    )


def _index(parts: _Assembly, symbol: str, day: date) -> IndexLevel | None:
    """The digest's one value of a vol index (digests.alert_rules.latest_value: the data_stale rule reads the same)."""
    latest = latest_value(symbol, SecType.INDEX, trading_date=day)
    if latest.value is None:
        return None
    parts.used(symbol.lower(), source=latest.source, as_of=latest.at or latest.as_of, used_by=latest.used_by)
    return IndexLevel(value=latest.value, as_of=latest.as_of, source=latest.source, used_by=latest.used_by)


def _same_vix(erp: VixGatedSpySleeve | None, vix: IndexLevel | None) -> VixGatedSpySleeve | None:
    """The VRP-ERP section shows the VIX its run decided on; when that is not the digest's VIX (a later run or
    quote), it says so rather than showing two values silently."""
    if erp is None or erp.vix is None or vix is None or vix.value == erp.vix:
        return erp
    note = (f"its decision used VIX {formats.decimal(erp.vix)}; the digest's VIX is {formats.decimal(vix.value)} "
            f"(as of {vix.as_of}, {vix.source})")
    return replace(erp, data_status_reason="; ".join(r for r in (erp.data_status_reason, note) if r))


# Import flags about the stop/TP sides: the digest's exit-check line and cs_levels_invalid say it already.
_LEVEL_FLAGS = ("stop-loss level ", "take-profit level ")


def _run_notes(entry, day: date, sleeve: str) -> list[str]:
    """Why the reader should look twice: a fallback to an earlier run, a missing input, import flags."""
    notes = []
    if entry.trading_date != day:
        notes.append(f"no {sleeve} run on {day}: this is the latest, from {entry.trading_date}")
    if entry.run_id and entry.run.reason:
        notes.append(entry.run.reason)
    notes.extend(flag for flag in entry.flags or [] if not flag.startswith(_LEVEL_FLAGS))
    return [note.rstrip(". ") for note in notes]


def _calendar_spread(parts: _Assembly, day: date) -> CalendarSpreadSleeve | None:
    entry = latest_log(VrpCsLogEntry, trading_date=day, fallback=True)
    if entry is None:
        return None
    legs = cs_legs(entry)
    notes = _run_notes(entry, day, "VRP-CS")
    if legs.inferred:
        notes.insert(1 if entry.trading_date != day else 0,
                     f"legs inferred from the logged roll-by {entry.roll_by}: the log row does not name them")
    simulated = bool(entry.run_id and entry.run.simulated)
    parts.used("vrp_cs", source=entry.source, as_of=entry.logged_at, simulated=simulated, log_entry=entry.pk,
               run=entry.run_id)
    run = entry.run if entry.run_id else None
    # A naked leg: the run says POSITION MISMATCH and its P&L is over what is held (sleeves.naked_legs).
    mismatch = run is not None and run.status == RunStatus.POSITION_MISMATCH
    return CalendarSpreadSleeve(
        as_of=entry.logged_at, source=entry.source,
        data_status=RunStatus.POSITION_MISMATCH.value if mismatch else entry.data_status,
        pnl_label=naked_legs.pnl_label(run.outputs if run is not None else None),
        data_status_reason="; ".join(notes), short_leg=legs.short_leg, long_leg=legs.long_leg,
        quantity=entry.quantity, entry_spread=entry.entry_spread, current_spread=entry.spread,
        pnl_usd=entry.pnl_usd, gate_state=effective_gate(entry), gate_score=entry.gate_score,
        stop_loss_level=entry.stop_loss_level, take_profit_level=entry.take_profit_level,
        stop_loss_hit=entry.stop_loss_hit, take_profit_hit=entry.take_profit_hit, roll_by=entry.roll_by,
        sessions_to_roll=(calendars.sessions_until(day, entry.roll_by, exchange=CFE)
                          if entry.roll_by and calendars.in_window(entry.roll_by) else None),
        settlement_date=legs.settlement_date,
    )


def _vix_gated(parts: _Assembly, day: date) -> VixGatedSpySleeve | None:
    entry = latest_log(VrpErpLogEntry, trading_date=day, fallback=True)
    if entry is None:
        return None
    run = entry.run if entry.run_id else None
    actual_source = ((run.sources or {}).get("actual_shares") or {}).get("source") if run else None
    reasons = ()
    if entry.rebalance_signal and run is not None:
        reasons = tuple(r for r in run.outputs.get("reasons", []) if r.startswith(("drift", "regime")))
    parts.used("vrp_erp", source=entry.source, as_of=entry.logged_at, simulated=bool(run and run.simulated),
               log_entry=entry.pk, run=entry.run_id)
    return VixGatedSpySleeve(
        as_of=entry.logged_at, source=entry.source, data_status=entry.data_status,
        data_status_reason="; ".join(_run_notes(entry, day, "VRP-ERP")), vix=entry.vix,
        regime=entry.regime or None, target_shares=entry.target_shares, actual_shares=entry.actual_shares,
        actual_source=actual_source or entry.source, drift_pct=entry.drift_pct, rebalance=entry.rebalance_signal,
        rebalance_reasons=reasons,
    )


def _next_rebalance(day: date) -> date:
    if calendars.is_first_session_of_month(day):
        return day
    first_of_next = (day.replace(day=1) + timedelta(days=32)).replace(day=1)
    return calendars.session_on_or_after(first_of_next)


def _dual_momentum(parts: _Assembly, day: date, overlay: VolTargetOverlay | None) -> DualMomentumSleeve:
    run = (MonitorRun.objects.filter(kind=RunKind.DM_PLAN, trading_date__lte=day).exclude(status=RunStatus.SKIPPED)
           .order_by("-trading_date", "-started_at", "-id").first())
    if run is None:
        fresh = overlay is not None and not overlay.is_stale
        return DualMomentumSleeve(next_rebalance=_next_rebalance(day), last_plan_date=None, last_plan_status=None,
                                  selected=(), vol_multiplier=overlay.multiplier if fresh else None)
    parts.used("dm_plan", source="stored", as_of=run.started_at, simulated=run.simulated, run=run.pk)
    weights = {symbol: _decimal(weight) for symbol, weight in (run.outputs.get("weights") or {}).items()}
    return DualMomentumSleeve(
        next_rebalance=_next_rebalance(day), last_plan_date=run.trading_date,
        last_plan_status=run.get_status_display(),
        selected=tuple(EtfWeight(symbol=s, weight=w) for s, w in weights.items() if w),
        vol_multiplier=_decimal(run.inputs.get("vol_multiplier")),
    )


def _reconciliation(parts: _Assembly, day: date) -> Reconciliation:
    run = (MonitorRun.objects.filter(kind=RunKind.RECONCILE, trading_date__lte=day).exclude(status=RunStatus.SKIPPED)
           .order_by("-started_at", "-id").first())
    if run is None:
        snapshot = BrokerSnapshot.objects.filter(as_of__lt=end_of_day(day)).order_by("-as_of", "-id").first()
        seen = (f"; the latest broker snapshot is from {timezone.localtime(snapshot.as_of):%Y-%m-%d %H:%M}"
                if snapshot else "; no broker snapshot either")
        return Reconciliation(checked=False, as_of=None, source=None,
                              not_checked_reason=f"no reconciliation run: run `python manage.py reconcile`{seen}")
    source = ((run.sources or {}).get("positions") or {}).get("source") or (
        DataSource.SIMULATED if run.simulated else "broker")
    parts.used("reconciliation", source=source, as_of=run.started_at, simulated=run.simulated, run=run.pk)
    if run.status != RunStatus.OK:
        return Reconciliation(checked=False, as_of=run.started_at, source=source,
                              not_checked_reason=run.reason or run.get_status_display())
    breaks = tuple(
        ReconciliationBreak(symbol=b.get("local_symbol") or f"conId {b.get('con_id')}",
                            broker_quantity=_decimal(b.get("broker_quantity")),
                            fills_quantity=_decimal(b.get("fills_quantity")))
        for b in run.outputs.get("breaks", [])
    )
    return Reconciliation(checked=True, as_of=run.started_at, source=source, breaks=breaks)


def _positions(parts: _Assembly, day: date, now: datetime) -> PositionsReport:
    as_of = min(now, end_of_day(day) - timedelta(microseconds=1))
    lines = tuple(
        PositionLine(sleeve=SLEEVE_LABELS.get(p.sleeve_code, p.sleeve_code) if p.sleeve_code else None,
                     symbol=p.instrument.local_symbol, quantity=p.quantity, avg_cost_per_unit=p.average_cost,
                     mark=p.mark_price, mark_basis=p.mark.basis if p.mark else "",
                     mark_source=p.mark.source if p.mark else None, mark_as_of=p.mark.as_of if p.mark else None,
                     market_value_usd=p.market_value_usd, unrealized_pnl_usd=p.unrealized_pnl_usd,
                     realized_pnl_usd=p.realized_pnl_usd, commissions_usd=p.commissions_usd,
                     commissions_missing=p.commissions_missing)
        for p in positions_by_sleeve(as_of=as_of)
    )
    parts.used("positions", source="fills", as_of=as_of)
    return PositionsReport(as_of=as_of, source="fills", positions=lines, reconciliation=_reconciliation(parts, day))


def _week_ahead(day: date) -> WeekAhead:
    sessions: list[date] = []
    cursor = day
    for _ in range(WEEK_AHEAD_SESSIONS):
        cursor = calendars.next_session(cursor)
        sessions.append(cursor)
    end = sessions[-1]
    root = sleeve_settings("VRP_CS")["contract_root"]
    events: list[CalendarEvent] = []
    window = (day, end)
    cycles = RollCycle.objects.filter(Q(roll_by__range=window) | Q(planned_roll_by__range=window)
                                      | Q(settlement_date__range=window))
    for cycle in cycles:
        symbol = vx.ContractMonth.from_label(cycle.contract_month).local_symbol(root)
        roll_by = cycle.effective_roll_by
        if day <= roll_by <= end:
            description = f"{symbol} ({cycle.contract_month} contract)"
            if cycle.planned_roll_by and cycle.planned_roll_by != cycle.roll_by:
                description += f"; planned by hand, the rule says {cycle.roll_by}"
            events.append(CalendarEvent(on=roll_by, kind="roll_by", description=description))
        if day <= cycle.settlement_date <= end:
            events.append(CalendarEvent(on=cycle.settlement_date, kind="settlement",
                                        description=f"{symbol} final settlement"))
    for session in (day, *sessions):
        if calendars.is_first_session_of_month(session):
            events.append(CalendarEvent(on=session, kind="dm_rebalance",
                                        description=f"first NYSE session of {session:%B %Y}"))
    nyse = set(calendars.holidays_between(day, end))
    cfe = set(calendars.holidays_between(day, end, exchange=CFE))
    for holiday in sorted(nyse | cfe):
        which = "NYSE and CFE" if holiday in nyse and holiday in cfe else (
            "NYSE (CFE open)" if holiday in nyse else "CFE (NYSE open)")
        events.append(CalendarEvent(on=holiday, kind="holiday", description=which))
    return WeekAhead(sessions=tuple(sessions), events=tuple(events))


def _alert_line(alert: Alert) -> AlertLine:
    # Dated by the sessions the alert was raised for (a Friday digest built on Saturday: Friday); rows
    # stored before sessions were recorded fall back to the dates of their times.
    return AlertLine(
        severity=alert.severity, code=alert.code, message=alert.message, subject=alert.subject,
        first_seen_on=alert.first_session or clock.trading_date(alert.first_seen_at),
        last_seen_on=alert.last_session or clock.trading_date(alert.last_seen_at),
        # Dated by session like the rest (a Saturday resolution by Friday's digest is Friday's).
        resolved_on=session_of(alert.resolved_at) if alert.resolved_at else None,
        acknowledged=alert.acknowledged_at is not None and alert.resolved_at is None,
    )


def _week_alerts(monday: date, end: date):
    """The alerts of the week: raised for one of its sessions, or open during it.

    By session, not by wall clock: the alerts of Friday's digest built on Saturday belong to Friday's week.
    """
    start_at, end_at = end_of_day(monday - timedelta(days=1)), end_of_day(end)
    raised_by_then = Q(first_session__lte=end) | Q(first_session__isnull=True, first_seen_at__lt=end_at)
    during_week = (Q(last_session__gte=monday) | Q(resolved_at__isnull=True) | Q(resolved_at__gte=start_at)
                   | Q(last_session__isnull=True, last_seen_at__gte=start_at))
    return Alert.objects.filter(raised_by_then).filter(during_week).order_by("first_session", "first_seen_at",
                                                                             "code", "subject")


def _open_alerts() -> tuple[AlertLine, ...]:
    return tuple(_alert_line(a) for a in Alert.objects.filter(resolved_at__isnull=True).order_by("code", "subject"))


def _assemble(*, trading_date: date, now: datetime, live: LiveRefresh | None) -> tuple[DigestSnapshot, _Assembly]:
    parts = _Assembly(trading_date=trading_date)
    if live is not None and live.snapshot is not None:
        broker = live.snapshot
        parts.used("broker_snapshot", source=DataSource.SIMULATED if broker.simulated else DataSource.LIVE,
                   as_of=broker.as_of, simulated=broker.simulated, snapshot=broker.pk)
    elif live is not None:
        parts.used("broker_snapshot", source=None, as_of=None, missing=live.error)
    overlay = _overlay(parts, trading_date)
    vix = _index(parts, "VIX", trading_date)
    snapshot = DigestSnapshot(
        trading_date=trading_date, generated_at=now, simulated=False, overlay=overlay,
        vix=vix, vvix=_index(parts, "VVIX", trading_date),
        vrp_cs=_calendar_spread(parts, trading_date), vrp_erp=_same_vix(_vix_gated(parts, trading_date), vix),
        dm=_dual_momentum(parts, trading_date, overlay), positions=_positions(parts, trading_date, now),
        calendar=_week_ahead(trading_date), alerts=_open_alerts(),
    )
    return replace(snapshot, simulated=parts.simulated), parts


def build_snapshot(*, trading_date: date) -> DigestSnapshot:
    """The digest of ``trading_date`` as a frozen snapshot, from stored rows.

    Raises NotASessionError for a date that is not an NYSE session.
    """
    require_session(trading_date)
    snapshot, _ = _assemble(trading_date=trading_date, now=clock.now(), live=None)
    return snapshot


# --------------------------------------------------------------------------------------------
# The daily digest
# --------------------------------------------------------------------------------------------


def digest_path(trading_date: date) -> Path:
    return Path(settings.DIGEST_DIR) / f"digest_{trading_date.isoformat()}.md"


def _write_atomically(path: Path, text: str) -> None:
    """Write to a temporary file beside ``path`` and rename it over: a reader never sees half a digest."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _note(*, existing: Digest | None, run: MonitorRun, refreshed: LiveRefresh | None) -> str:
    parts = []
    if existing is not None and existing.source == DigestSource.LEGACY:
        parts.append(f"{LEGACY_NOTE} (generated {timezone.localtime(existing.generated_at):%Y-%m-%d %H:%M}); "
                     f"its markdown is kept in digest run #{run.pk}.")
    elif existing is not None and existing.note.startswith(LEGACY_NOTE):
        parts.append(existing.note.split(" | ")[0])
    if refreshed is not None and refreshed.degraded:
        parts.append(f"Live requested; broker unavailable ({refreshed.error}): built from stored data.")
    return " | ".join(parts)[:300]


def generate_digest(*, trading_date: date | None = None, live: LiveRefresh | None = None, write_file: bool = True,
                    role: str = "shell", triggered_by: str = "command") -> Digest:
    """Evaluate the alerts, build and render the digest from stored rows, store it (one per date) and write
    its file.

    ``live``: what the live job read just before (dspops/jobs.py; ``role`` is the connection it used):
    the digest names its broker snapshot, or says the broker was unavailable and raises
    ``broker_unavailable``. Raises NotASessionError for a date that is not an NYSE session (naming
    the previous one), DigestError for a live digest of a past date or a file that cannot be written
    (then nothing is stored).
    """
    started = clock.now()
    # No date: the current session (today's, or on a closed day the last one; the callers say so).
    day = trading_date or clock.current_session(started)
    require_session(day)
    refreshed = live
    if refreshed is not None:
        live_session(trading_date=day, now=started)
        _record_broker_state(refreshed, trading_date=day, now=started)
    evaluate_alerts(trading_date=day, now=clock.now())
    generated_at = clock.now()
    snapshot, parts = _assemble(trading_date=day, now=generated_at, live=refreshed)
    markdown = render_digest(snapshot)
    path = digest_path(day)
    if write_file:
        try:
            _write_atomically(path, markdown)
        except OSError as exc:
            raise DigestError(
                f"The digest of {day} could not be written to {path} ({exc.strerror or exc}); nothing was stored. "
                "Check DSPOPS_DATA_DIR and the folder's permissions, or run with --no-write."
            ) from exc
    # As the dashboard counts them: an acknowledged alert is counted apart, not in its severity.
    counts = {severity: sum(1 for a in snapshot.alerts if a.severity == severity and not a.acknowledged)
              for severity in Severity.values}
    counts["acknowledged"] = sum(1 for a in snapshot.alerts if a.acknowledged)
    degraded = refreshed is not None and refreshed.degraded
    with transaction.atomic():
        existing = Digest.objects.select_for_update().filter(trading_date=day).first()
        outputs: dict[str, Any] = {"file_path": str(path) if write_file else None, "alerts": counts,
                                   "simulated": snapshot.simulated}
        if existing is not None and existing.source == DigestSource.LEGACY:
            outputs["replaced_legacy_digest"] = {
                "markdown": existing.markdown, "generated_at": existing.generated_at.isoformat(),
                "note": existing.note,
            }
        run = MonitorRun.objects.create(
            kind=RunKind.DIGEST, trading_date=day, started_at=started, finished_at=clock.now(),
            status=RunStatus.DATA_UNAVAILABLE if degraded else RunStatus.OK,
            reason=(f"live requested but the broker was unavailable ({refreshed.error}); built from stored data"
                    if degraded else ""),
            simulated=snapshot.simulated, triggered_by=triggered_by,
            inputs={"live": refreshed is not None, "role": role, "write_file": write_file}, sources=parts.sources, outputs=outputs,
        )
        digest, _ = Digest.objects.update_or_create(
            trading_date=day,
            defaults={"markdown": markdown, "generated_at": generated_at, "source": DigestSource.GENERATED,
                      "simulated": snapshot.simulated, "file_path": str(path) if write_file else "",
                      "note": _note(existing=existing, run=run, refreshed=refreshed)},
        )
        run.outputs["digest_id"] = digest.pk
        run.save(update_fields=["outputs"])
    return digest


# --------------------------------------------------------------------------------------------
# The weekly review
# --------------------------------------------------------------------------------------------


def _week(week_ending: date) -> tuple[date, date]:
    return week_ending - timedelta(days=week_ending.weekday()), week_ending


def _missing_sessions(model, sessions: list[date]) -> tuple[date, ...]:
    logged = set(model.objects.filter(trading_date__in=sessions).values_list("trading_date", flat=True))
    return tuple(s for s in sessions if s not in logged)


def build_weekly_review(*, week_ending: date) -> WeeklyReviewSnapshot:
    """The Friday review of the week (Monday to ``week_ending``).

    From the stored digests, alerts, sleeve logs and the roll calendar.
    """
    monday, end = _week(week_ending)
    sessions = calendars.sessions_in_range(monday, end)
    digests = Digest.objects.filter(trading_date__range=(monday, end))
    alerts = _week_alerts(monday, end)
    drift = {}
    for entry in VrpErpLogEntry.objects.filter(trading_date__in=sessions).order_by("trading_date", "logged_at", "id"):
        drift[entry.trading_date] = entry.drift_pct  # the latest row of each session
    parts = _Assembly(trading_date=end)
    overlay = _overlay(parts, calendars.session_on_or_before(end))
    root = sleeve_settings("VRP_CS")["contract_root"]
    horizon = (end, end + timedelta(days=ROLL_WINDOW_DAYS))
    rolls = []
    for cycle in RollCycle.objects.filter(Q(roll_by__range=horizon) | Q(planned_roll_by__range=horizon)):
        roll_by = cycle.effective_roll_by
        if not horizon[0] <= roll_by <= horizon[1]:
            continue
        old, new_short, new_long = vx.roll_plan(vx.ContractMonth.from_label(cycle.contract_month))
        description = (f"VRP-CS {old.local_symbol(root)}/{new_short.local_symbol(root)} -> "
                       f"{new_short.local_symbol(root)}/{new_long.local_symbol(root)}")
        if cycle.planned_roll_by and cycle.planned_roll_by != cycle.roll_by:
            description += f" (planned by hand; the rule says {cycle.roll_by})"
        rolls.append(UpcomingRoll(roll_by=roll_by, description=description,
                                  sessions_to_roll=calendars.sessions_until(end, roll_by, exchange=CFE),
                                  settlement_date=cycle.settlement_date))
    return WeeklyReviewSnapshot(
        week_ending=end, generated_at=clock.now(),
        simulated=digests.filter(simulated=True).exists() or parts.simulated,
        sessions=tuple(sessions), digest_dates=tuple(digests.values_list("trading_date", flat=True)),
        alerts=tuple(_alert_line(a) for a in alerts), overlay=overlay,
        sleeve_logs=(SleeveLogCoverage(sleeve="VRP-CS", missing_sessions=_missing_sessions(VrpCsLogEntry, sessions)),
                     SleeveLogCoverage(sleeve="VRP-ERP", missing_sessions=_missing_sessions(VrpErpLogEntry, sessions))),
        drift_readings=tuple(DriftReading(session=s, sleeve="VRP-ERP", drift_pct=d) for s, d in drift.items()),
        upcoming_rolls=tuple(sorted(rolls, key=lambda r: r.roll_by)),
        drift_threshold_pct=sleeve_settings("VRP_ERP")["drift_rebalance_pct"], roll_window_days=ROLL_WINDOW_DAYS,
    )


def generate_weekly_review(*, week_ending: date | None = None, triggered_by: str = "command") -> str:
    """Render the weekly review and store it as a MonitorRun(kind="weekly_review") with the markdown in outputs."""
    started = clock.now()
    end = week_ending or clock.trading_date(started)
    review = build_weekly_review(week_ending=end)
    markdown = render_weekly_review(review)
    MonitorRun.objects.create(
        kind=RunKind.WEEKLY_REVIEW, trading_date=calendars.session_on_or_before(end), started_at=started,
        finished_at=clock.now(), status=RunStatus.OK, simulated=review.simulated, triggered_by=triggered_by,
        inputs={"week_ending": end.isoformat()},
        outputs={"week_ending": end.isoformat(), "markdown": markdown,
                 "digests_missing": len(set(review.sessions) - set(review.digest_dates)),
                 "alerts": len(review.alerts)},
    )
    return markdown
