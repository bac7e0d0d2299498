"""The sleeves' tasks: each fetches its inputs and calls one service, and says what it did in one line.

The task registry (dspops/tasks.py) schedules them and puts them on the dashboard; its runner
asks the market calendar first, so these never run on a closed day unless a person pressed the
button (``by_person``): then they act on the last session and say so (DECISIONS.md section 8).
The return value is the summary django-q2 shows in the admin (Successful tasks).
"""

from __future__ import annotations

from datetime import datetime, time

from dspops.core import calendars, clock
from sleeves.dm_service import plan_dm_rebalance
from sleeves.fill_import import sync_fills
from sleeves.models import RunStatus
from sleeves.monitors import MonitorOutcome, run_vol_target, run_vrp_cs_monitor, run_vrp_erp_monitor
from sleeves.reconcile import reconcile


def summary(outcome: MonitorOutcome) -> str:
    """One line for a monitor run: its status, the session it acted on, its first reasons."""
    status = outcome.payload.get("data_status")
    status = RunStatus(status).label if status in RunStatus.values else status  # "POSITION MISMATCH", not "mismatch"
    reasons = "; ".join(outcome.payload.get("reasons", [])[:3])
    session = clock.acting_session()
    return f"{status} for {session.label()}" + (f": {reasons}" if reasons else "")


def trigger(by_person: bool) -> str:
    return "dashboard" if by_person else "task"


def vrp_erp_monitor_task(*, by_person: bool = False) -> str:
    return summary(run_vrp_erp_monitor(live=True, triggered_by=trigger(by_person), role="worker"))


def vrp_cs_monitor_task(*, by_person: bool = False) -> str:
    return summary(run_vrp_cs_monitor(live=True, triggered_by=trigger(by_person), role="worker"))


def vol_target_task(*, by_person: bool = False) -> str:
    return summary(run_vol_target(live=True, triggered_by=trigger(by_person), role="worker"))


def dm_plan_task(*, by_person: bool = False) -> str:
    """Scheduled daily at 09:35; plans only on the first NYSE session of the month."""
    acting = clock.acting_session()
    session = acting.session
    if not calendars.is_first_session_of_month(session):
        return f"not a rebalance day: {session} is not the first NYSE session of the month{acting.note}"
    outcome = plan_dm_rebalance(session=session, live=True, triggered_by=trigger(by_person), role="worker")
    return f"DM plan for {acting.label()}: {outcome.status}"


def fill_sync_task(*, by_person: bool = False) -> str:
    since = datetime.combine(calendars.previous_session(clock.trading_date()), time(0, 0),
                             tzinfo=clock.now().tzinfo)
    report = sync_fills(since=since, role="worker", triggered_by=trigger(by_person))
    return (f"{report.created} fill(s) imported, {report.skipped} already known, {len(report.unattributed)} "
            f"unattributed, since {since.date()}{clock.acting_session().note}")


def reconcile_task(*, by_person: bool = False) -> str:
    report = reconcile(role="worker", triggered_by=trigger(by_person))
    return f"{len(report.breaks)} reconciliation break(s), session {clock.acting_session().label()}"
