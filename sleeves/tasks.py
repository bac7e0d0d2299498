"""django-q2 tasks: one-line wrappers around the services, each guarded by the NYSE calendar.

A scheduled task first asks its exchange's calendar (XNYS for the book) whether today is a
session. If not, it records a "skipped: market closed" run and does nothing else. A person's
action (a dashboard button: ``by_person=True``) on a closed day acts on the last session instead
and says so (DECISIONS.md section 8). The return value is the summary django-q2 shows in the
admin (Successful tasks).
"""

from __future__ import annotations

from datetime import datetime

from dspops.core import calendars, clock
from sleeves.models import MonitorRun, RunStatus, Sleeve


def market_closed(kind: str, *, sleeve_code: str | None = None, now: datetime | None = None,
                  by_person: bool = False, exchange: str = "XNYS") -> str | None:
    """Record and return a skip message when a scheduled task finds today closed; None otherwise.

    A person's action (``by_person``) is never skipped: it acts on the last session (see ``note``).
    """
    now = now or clock.now()
    today = clock.trading_date(now)
    if by_person or calendars.is_session(today, exchange=exchange):
        return None
    previous = calendars.previous_session(today, exchange=exchange)
    name = {"XNYS": "an NYSE", "XCBF": "a CFE"}.get(exchange, f"an {exchange}")
    message = f"skipped: market closed ({today:%A %Y-%m-%d} is not {name} session; the last one was {previous})"
    MonitorRun.objects.create(
        kind=kind, sleeve=Sleeve.objects.filter(code=sleeve_code).first() if sleeve_code else None,
        trading_date=previous, started_at=now, finished_at=now, status=RunStatus.SKIPPED, reason=message,
        triggered_by="task",
    )
    return message


def _summary(outcome) -> str:
    status = outcome.payload.get("data_status")
    reasons = "; ".join(outcome.payload.get("reasons", [])[:3])
    session = clock.acting_session()
    return f"{status} for {session.label()}" + (f": {reasons}" if reasons else "")


def _trigger(by_person: bool) -> str:
    return "dashboard" if by_person else "task"


def vrp_erp_monitor_task(by_person: bool = False) -> str:
    from sleeves.monitors import run_vrp_erp_monitor

    return market_closed("vrp_erp", sleeve_code="VRP_ERP", by_person=by_person) or _summary(
        run_vrp_erp_monitor(live=True, triggered_by=_trigger(by_person), role="worker"))


def vrp_cs_monitor_task(by_person: bool = False) -> str:
    from sleeves.monitors import run_vrp_cs_monitor

    return market_closed("vrp_cs", sleeve_code="VRP_CS", by_person=by_person) or _summary(
        run_vrp_cs_monitor(live=True, triggered_by=_trigger(by_person), role="worker"))


def vol_target_task(by_person: bool = False) -> str:
    from sleeves.monitors import run_vol_target

    return market_closed("vol_target", by_person=by_person) or _summary(
        run_vol_target(live=True, triggered_by=_trigger(by_person), role="worker"))


def dm_plan_task(by_person: bool = False) -> str:
    """Scheduled daily at 09:35; plans only on the first NYSE session of the month."""
    skipped = market_closed("dm_plan", sleeve_code="DM", by_person=by_person)
    if skipped:
        return skipped
    from sleeves.dm_service import plan_dm_rebalance

    acting = clock.acting_session()
    session = acting.session
    if not calendars.is_first_session_of_month(session):
        return f"not a rebalance day: {session} is not the first NYSE session of the month{acting.note}"
    outcome = plan_dm_rebalance(session=session, live=True, triggered_by=_trigger(by_person), role="worker")
    return f"DM plan for {acting.label()}: {outcome.status}"


def fill_sync_task(by_person: bool = False) -> str:
    skipped = market_closed("fill_sync", by_person=by_person)
    if skipped:
        return skipped
    from datetime import time as dtime

    from sleeves.fill_import import sync_fills

    since = datetime.combine(calendars.previous_session(clock.trading_date()), dtime(0, 0),
                             tzinfo=clock.now().tzinfo)
    report = sync_fills(since=since, role="worker")
    return (f"{report.created} fill(s) imported, {report.skipped} already known, {len(report.unattributed)} "
            f"unattributed, since {since.date()}{clock.acting_session().note}")


def reconcile_task(by_person: bool = False) -> str:
    skipped = market_closed("reconcile", by_person=by_person)
    if skipped:
        return skipped
    from sleeves.reconcile import reconcile

    report = reconcile(role="worker", triggered_by=_trigger(by_person))
    return f"{len(report.breaks)} reconciliation break(s), session {clock.acting_session().label()}"
