"""The parsed legacy records written as dspops rows, in the caller's transaction.

Importing the same files again adds nothing: log rows and order records carry an
``import_key``; everything else is matched on its natural key. Each writer counts what it
created, updated or skipped on the file's FileReport and adds the record's flags to the report.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError

from digests.models import Digest, DigestSource
from dspops.core import calendars, vx
from dspops.core.alerts import raise_alert
from dspops.core.instruments import vxm_instrument
from dspops.core.models import DataSource, Instrument, SecType, Severity
from dspops.legacy.parsers import (
    DAILY_LOG,
    DM_CONFIG,
    ERP_LOG,
    ERP_STATE,
    NYSE,
    POSITION_CONFIG,
    TRADES,
    TRIGGERED_BY,
    FileReport,
    Flag,
    ImportReport,
    LegacyImportError,
    LogRow,
    Parsed,
)
from rolls.models import RollCycle
from rolls.roll_calendar import roll_sessions_before
from sleeves import parameters
from sleeves.dm_config import dm_parameter_texts
from sleeves.models import (
    LegacyTrade,
    LogDataStatus,
    MonitorRun,
    RunKind,
    RunStatus,
    Sleeve,
    SleeveCode,
    SleeveParameter,
    SignalState,
    SpreadPosition,
    VrpCsLogEntry,
    VrpErpLogEntry,
)


def _iso(value: Any) -> Any:
    if isinstance(value, (Decimal, date)):
        return str(value) if isinstance(value, Decimal) else value.isoformat()
    return value



def ready() -> tuple[dict[str, Sleeve], int]:
    """The sleeves by code and the VRP-CS roll rule's sessions before settlement; LegacyImportError
    when bootstrap has not made them yet."""
    sleeves = {s.code: s for s in Sleeve.objects.filter(code__in=SleeveCode.values)}
    missing = [code for code in SleeveCode.values if code not in sleeves]
    if missing:
        raise LegacyImportError(
            f"The sleeve(s) {', '.join(missing)} do not exist yet. Run `python manage.py bootstrap` first, "
            "then import again."
        )
    try:
        sessions_before = roll_sessions_before()
    except parameters.ParameterError as exc:
        raise LegacyImportError(
            f"The VRP-CS settings are incomplete ({str(exc).splitlines()[0]}). Run `python manage.py bootstrap` "
            "first, then import again."
        ) from None
    return sleeves, sessions_before


def _with_user(instance, user):
    if user is not None:
        instance._history_user = user
    return instance


def _clean(instance, file: str, line: int | None = None) -> None:
    try:
        instance.full_clean()
    except ValidationError as exc:
        messages = "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
        raise LegacyImportError(f"{file}:{line or 1}: {messages}") from None


def _vxm_instrument(month: vx.ContractMonth, report: FileReport, file: str) -> Instrument:
    existed = Instrument.objects.filter(
        sec_type=SecType.FUTURE, exchange="CFE", local_symbol=month.local_symbol("VXM"), contract_month=month.label
    ).exists()
    instrument = vxm_instrument(month)
    if not existed:
        report.rows["Instrument"] += 1
    return instrument


def _plan_roll(*, month: vx.ContractMonth, roll_by: date | None, settlement: date | None, file: str,
               line: int | None, report: ImportReport, file_report: FileReport, user, now: datetime) -> None:
    """Record a hand-typed legacy plan on the month's RollCycle; never touch the rule's dates."""
    cycle = RollCycle.objects.filter(contract_month=month.label).first()
    created = cycle is None
    if created:
        rule = vx.contract_dates(month, sessions_before=roll_sessions_before())
        cycle = RollCycle(contract_month=month.label, settlement_date=rule.settlement_date, roll_by=rule.roll_by,
                          sessions_before=roll_sessions_before(), generated_at=now)
    changed = []
    for attr, value, rule_value, label in (
        ("planned_roll_by", roll_by, cycle.roll_by, "roll-by"),
        ("planned_settlement_date", settlement, cycle.settlement_date, "settlement date"),
    ):
        if value is None or getattr(cycle, attr) == value:
            continue
        if getattr(cycle, attr) is not None:
            report.flags.append(Flag(file, line, f"roll calendar {month.label}: kept the planned {label} "
                                                 f"{getattr(cycle, attr)}; the legacy file says {value}."))
            continue
        setattr(cycle, attr, value)
        changed.append(attr)
        if value != rule_value and file == DAILY_LOG:
            report.flags.append(Flag(file, line, (
                f"roll-by {value} for the {month.label} contract differs from the rule: {cycle.sessions_before} "
                f"CFE sessions before the {cycle.settlement_date} settlement is {rule_value}. Kept as the plan."
            )))
    if not changed and not created:
        return
    if not cycle.plan_note:
        cycle.plan_note = f"Legacy plan from {file}."[:200]
    _with_user(cycle, user)
    _clean(cycle, file, line)
    cycle.save()
    file_report.rows["RollCycle"] += 1


def write_position(parsed: Parsed, report: ImportReport, *, sleeves, user, now: datetime) -> None:
    config = parsed.position
    if config is None:
        return
    fr = report.file(POSITION_CONFIG)
    sleeve = sleeves[SleeveCode.VRP_CS]
    short_leg = _vxm_instrument(config.short_month, fr, POSITION_CONFIG)
    long_leg = _vxm_instrument(config.long_month, fr, POSITION_CONFIG)
    _plan_roll(month=config.short_month, roll_by=config.planned_roll_by, settlement=config.planned_settlement_date,
               file=POSITION_CONFIG, line=None, report=report, file_report=fr, user=user, now=now)

    existing = SpreadPosition.objects.filter(
        sleeve=sleeve, short_leg=short_leg, long_leg=long_leg, entry_date=config.entry_date,
        entry_spread=config.entry_spread, quantity=config.quantity,
    ).first()
    if existing is not None:
        fr.skipped += 1
        return
    active = SpreadPosition.objects.filter(sleeve=sleeve, is_active=True).first()
    position = SpreadPosition(
        sleeve=sleeve, short_leg=short_leg, long_leg=long_leg, quantity=config.quantity,
        short_entry_price=config.short_entry_price, long_entry_price=config.long_entry_price,
        entry_date=config.entry_date, entry_spread=config.entry_spread,
        stop_loss_spread=config.stop_loss_spread, take_profit_spread=config.take_profit_spread,
        settlement_date=config.settlement_date, roll_by=config.roll_by, is_active=active is None,
        note=f"Imported from the legacy {POSITION_CONFIG}.",
    )
    _with_user(position, user)
    _clean(position, POSITION_CONFIG)
    position.save()
    fr.created += 1
    fr.rows["SpreadPosition"] += 1
    report.flags.extend(Flag(POSITION_CONFIG, line, message) for line, message in config.flags)
    if active is not None:
        report.flags.append(Flag(POSITION_CONFIG, None, f"imported as inactive: the sleeve already has an active "
                                                        f"position config ({active})."))

    current_session = calendars.session_on_or_before(calendars.trading_date(now), exchange=NYSE)
    settled_on = short_leg.settlement_date
    if position.legs_settled_by(current_session):
        subject, message = position.settled_legs_alert
        raise_alert(code="spread_legs_expired", subject=subject, message=message, sleeve=sleeve, now=now)
        report.flags.append(Flag(POSITION_CONFIG, None, f"the legs settled ({short_leg} on {settled_on}, before "
                                                        f"the current session {current_session}): critical "
                                                        "alert spread_legs_expired raised; reconcile."))


def _run_json(row: LogRow, names: tuple[str, ...]) -> dict[str, Any]:
    return {name: _iso(row.values.get(name)) for name in names}


def _write_log_rows(rows: list[LogRow], report: ImportReport, *, file: str,
                    model: type[VrpCsLogEntry | VrpErpLogEntry], kind: RunKind, sleeve: Sleeve, quotes: tuple[str, ...],
                    inputs: Callable[[LogRow], dict[str, Any]],
                    outputs: Callable[[LogRow], dict[str, Any]]) -> FileReport:
    """One monitor run and its log entry per row of a monitor log; a row imported before is skipped.

    ``quotes`` are the values the legacy monitor read from the market (their source is the legacy log);
    ``inputs`` and ``outputs`` give the run's JSON for a row (the line and the flags are added to outputs).
    """
    fr = report.file(file)
    existing = set(model.objects.filter(import_key__in=[r.import_key for r in rows])
                   .values_list("import_key", flat=True))
    for row in rows:
        if row.import_key in existing:
            fr.skipped += 1
            continue
        run = MonitorRun.objects.create(
            kind=kind, sleeve=sleeve, trading_date=row.trading_date, started_at=row.logged_at,
            finished_at=row.logged_at,
            status=RunStatus.OK if row.data_status == LogDataStatus.OK else RunStatus.DATA_UNAVAILABLE,
            reason=row.reason, triggered_by=TRIGGERED_BY, inputs=inputs(row),
            sources={name: {"source": DataSource.LEGACY, "as_of": row.logged_at.isoformat()}
                     for name in quotes if row.values[name] is not None},
            outputs={**outputs(row), "legacy_line": row.line, "flags": list(row.flags)},
        )
        entry = model(run=run, logged_at=row.logged_at, trading_date=row.trading_date,
                      data_status=row.data_status, flags=list(row.flags), source=DataSource.LEGACY,
                      import_key=row.import_key, **row.values)
        _clean(entry, file, row.line)
        entry.save()
        fr.created += 1
        fr.rows["MonitorRun"] += 1
        fr.rows[model.__name__] += 1
        report.flags.extend(Flag(file, row.line, message) for message in row.flags)
    return fr


def write_cs_log(parsed: Parsed, report: ImportReport, *, sleeves, user, now: datetime) -> None:
    rows = parsed.cs_rows
    if rows is None:
        return
    inputs = ("vix", "vx1", "vx2", "entry_spread", "stop_loss_level", "take_profit_level", "roll_by")
    outputs = ("spread", "pnl_usd", "gate_state", "gate_score", "contango_pct", "days_to_roll",
               "sessions_to_roll", "stop_loss_hit", "take_profit_hit")
    fr = _write_log_rows(
        rows, report, file=DAILY_LOG, model=VrpCsLogEntry, kind=RunKind.VRP_CS, sleeve=sleeves[SleeveCode.VRP_CS],
        quotes=("vix", "vx1", "vx2"), inputs=lambda row: _run_json(row, inputs),
        outputs=lambda row: _run_json(row, outputs),
    )

    # The roll-by dates the legacy monitor worked to, as the operator's plan per contract.
    plans: dict[vx.ContractMonth, tuple[date, int]] = {}
    for row in rows:
        roll_by = row.values.get("roll_by")
        if roll_by is None:
            continue
        month = vx.ContractMonth.from_date(roll_by)
        if vx.settlement_date(month) < roll_by:
            month = month.shift(1)
        if month in plans and plans[month][0] != roll_by:
            report.flags.append(Flag(DAILY_LOG, row.line, (
                f"roll_by {roll_by} for the {month.label} contract disagrees with {plans[month][0]} on line "
                f"{plans[month][1]}; the first one is taken as the plan.")))
        plans.setdefault(month, (roll_by, row.line))
    for month, (roll_by, line) in sorted(plans.items()):
        _plan_roll(month=month, roll_by=roll_by, settlement=None, file=DAILY_LOG, line=line, report=report,
                   file_report=fr, user=user, now=now)


def write_erp_log(parsed: Parsed, report: ImportReport, *, sleeves) -> None:
    rows = parsed.erp_rows
    if rows is None:
        return
    _write_log_rows(
        rows, report, file=ERP_LOG, model=VrpErpLogEntry, kind=RunKind.VRP_ERP, sleeve=sleeves[SleeveCode.VRP_ERP],
        quotes=("vix", "spy_price"),
        inputs=lambda row: {**_run_json(row, ("vix", "spy_price", "actual_shares", "avg_cost")), "logged": row.raw},
        outputs=lambda row: _run_json(row, ("regime", "target_shares", "drift_pct", "rebalance_signal")),
    )


def write_trades(parsed: Parsed, report: ImportReport, *, sleeves, now: datetime) -> None:
    trades = parsed.trades
    if trades is None:
        return
    fr = report.file(TRADES)
    existing = set(LegacyTrade.objects.filter(import_key__in=[t.import_key for t in trades])
                   .values_list("import_key", flat=True))
    in_burst = {key: burst for burst in parsed.bursts for key in burst.import_keys}
    created_keys = set()
    for trade in trades:
        if trade.import_key in existing:
            fr.skipped += 1
            continue
        flags = list(trade.flags)
        if trade.import_key in in_burst:
            flags.append(f"part of the unconfirmed burst of {in_burst[trade.import_key].ny_date}: reconcile "
                         "against the IBKR executions.")
        record = LegacyTrade(logged_at=trade.logged_at, action=trade.action, mode=trade.mode,
                             details=trade.details, flags=flags, import_key=trade.import_key)
        _clean(record, TRADES, trade.line)
        record.save()
        created_keys.add(trade.import_key)
        fr.created += 1
        fr.rows["LegacyTrade"] += 1
        if trade.import_key not in in_burst:
            report.flags.extend(Flag(TRADES, trade.line, message) for message in trade.flags)
    for burst in parsed.bursts:
        if not created_keys.intersection(burst.import_keys):
            continue
        report.flags.append(Flag(TRADES, burst.first_line, burst.message))
        raise_alert(code="legacy_trades_unreconciled", severity=Severity.WARNING, subject=str(burst.ny_date),
                    sleeve=sleeves[SleeveCode.VRP_CS], now=now,
                    message=f"Legacy trades.csv: {burst.message} Record what actually filled as fills, then "
                            "resolve this alert on its page (Resolve: done).")


def write_erp_state(parsed: Parsed, report: ImportReport, *, sleeves, user) -> None:
    state = parsed.erp_state
    if state is None:
        return
    fr = report.file(ERP_STATE)
    sleeve = sleeves[SleeveCode.VRP_ERP]
    if state.since_session is None:
        fr.skipped += 1
        report.flags.extend(Flag(ERP_STATE, line, message) for line, message in state.flags)
        return
    if SignalState.objects.filter(sleeve=sleeve, name="regime").exists():
        fr.skipped += 1
        return
    signal = SignalState(sleeve=sleeve, name="regime", state=state.regime, since_session=state.since_session,
                         last_session=state.since_session, source=DataSource.LEGACY, note=state.note)
    _with_user(signal, user)
    _clean(signal, ERP_STATE)
    signal.save()
    fr.created += 1
    fr.rows["SignalState"] += 1
    report.flags.extend(Flag(ERP_STATE, line, message) for line, message in state.flags)


def write_digests(parsed: Parsed, report: ImportReport) -> None:
    for digest in parsed.digests:
        fr = report.file(digest.file)
        existing = Digest.objects.filter(trading_date=digest.trading_date).first()
        if existing is not None and existing.source == DigestSource.GENERATED:
            fr.skipped += 1
            report.flags.append(Flag(digest.file, None, f"dspops already generated the digest for "
                                                        f"{digest.trading_date}; the legacy one is not imported."))
            continue
        if existing is not None and existing.markdown == digest.markdown and existing.generated_at == digest.generated_at:
            fr.skipped += 1
            continue
        if existing is None:
            record = Digest(trading_date=digest.trading_date, source=DigestSource.LEGACY)
            fr.created += 1
        else:
            record = existing
            fr.updated += 1
        record.markdown = digest.markdown
        record.generated_at = digest.generated_at
        record.note = digest.note[:300]
        _clean(record, digest.file)
        record.save()
        fr.rows["Digest"] += 1
        report.flags.extend(Flag(digest.file, line, message) for line, message in digest.flags)


def write_dm_settings(parsed: Parsed, report: ImportReport, *, sleeves, user) -> None:
    config = parsed.dm_config
    if config is None:
        return
    fr = report.file(DM_CONFIG)
    sleeve = sleeves[SleeveCode.DM]
    current = {p.key: p for p in SleeveParameter.objects.filter(sleeve=sleeve)}
    for key, text in dm_parameter_texts(config).items():
        spec = parameters.spec("DM", key)
        value = spec.parse(text)
        stored = spec.format(value)
        row = current.get(key)
        if row is None:
            row = SleeveParameter(sleeve=sleeve, key=key, value=stored)
            fr.created += 1
            fr.changes.append(f"DM.{key} = {stored} (new)")
        else:
            try:
                unchanged = spec.parse(row.value) == value
            except parameters.ParameterError:
                unchanged = False
            if unchanged:
                fr.skipped += 1
                continue
            fr.changes.append(f"DM.{key}: {row.value} -> {stored}")
            row.value = stored
            fr.updated += 1
        _with_user(row, user)
        _clean(row, DM_CONFIG)
        row.save()
        fr.rows["SleeveParameter"] += 1

