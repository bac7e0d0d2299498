"""django-q2 tasks: one-line wrappers around the services, each guarded by the NYSE calendar.

Every task first asks the XNYS calendar whether today is a session. If not, it records a
"skipped: market closed" run and does nothing else. The return value is the summary django-q2
shows in the admin (Successful tasks).
"""

from __future__ import annotations

from datetime import datetime

from dspops import calendars, clock
from sleeves.models import MonitorRun, RunStatus, Sleeve


def market_closed(kind: str, *, sleeve_code: str | None = None, now: datetime | None = None) -> str | None:
    """Record and return a skip message when today is not an NYSE session; None when it is."""
    now = now or clock.now()
    today = clock.trading_date(now)
    if calendars.is_session(today):
        return None
    previous = calendars.previous_session(today)
    message = f"skipped: market closed ({today:%A %Y-%m-%d} is not an NYSE session; the last one was {previous})"
    MonitorRun.objects.create(
        kind=kind, sleeve=Sleeve.objects.filter(code=sleeve_code).first() if sleeve_code else None,
        trading_date=previous, started_at=now, finished_at=now, status=RunStatus.SKIPPED, reason=message,
        triggered_by="task",
    )
    return message


def _summary(outcome) -> str:
    status = outcome.payload.get("data_status")
    reasons = "; ".join(outcome.payload.get("reasons", [])[:3])
    return f"{status}: {reasons}" if reasons else str(status)


def vrp_erp_monitor_task() -> str:
    from sleeves.monitors import run_vrp_erp_monitor

    return market_closed("vrp_erp", sleeve_code="VRP_ERP") or _summary(
        run_vrp_erp_monitor(live=True, triggered_by="task", role="worker"))


def vrp_cs_monitor_task() -> str:
    from sleeves.monitors import run_vrp_cs_monitor

    return market_closed("vrp_cs", sleeve_code="VRP_CS") or _summary(
        run_vrp_cs_monitor(live=True, triggered_by="task", role="worker"))


def vol_target_task() -> str:
    from sleeves.monitors import run_vol_target

    return market_closed("vol_target") or _summary(run_vol_target(live=True, triggered_by="task", role="worker"))


def dm_plan_task() -> str:
    """Scheduled daily at 09:35; plans only on the first NYSE session of the month."""
    skipped = market_closed("dm_plan", sleeve_code="DM")
    if skipped:
        return skipped
    from sleeves.dm_service import plan_dm_rebalance

    session = clock.current_session()
    if not calendars.is_first_session_of_month(session):
        return f"not a rebalance day: {session} is not the first NYSE session of the month"
    outcome = plan_dm_rebalance(session=session, live=True, triggered_by="task", role="worker")
    return f"DM plan for {session}: {outcome.status}"


def fill_sync_task() -> str:
    skipped = market_closed("fill_sync")
    if skipped:
        return skipped
    from datetime import time as dtime

    from sleeves.fill_import import sync_fills

    since = datetime.combine(calendars.previous_session(clock.trading_date()), dtime(0, 0),
                             tzinfo=clock.now().tzinfo)
    report = sync_fills(since=since, role="worker")
    return f"{report.created} fill(s) imported, {report.skipped} already known, {len(report.unattributed)} unattributed"


def reconcile_task() -> str:
    skipped = market_closed("reconcile")
    if skipped:
        return skipped
    from sleeves.reconcile import reconcile

    report = reconcile(role="worker", triggered_by="task")
    return f"{len(report.breaks)} reconciliation break(s)"
