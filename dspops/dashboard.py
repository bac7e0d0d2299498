"""What the dashboard shows: read-only selectors over the stored runs, positions and alerts.

Nothing here recomputes a monitor's answer; it shows the latest stored run of each kind. Its task
buttons come from the task registry (dspops/tasks.py), which the site's admin adds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.db.models import Case, Count, IntegerField, Value, When

from dspops.core import alerts
from dspops.core.alerts import SEVERITY_RANK
from dspops.core.models import Alert

from digests.models import Digest
from dspops.core import calendars, clock
from dspops.core.models import BrokerSnapshot
from dspops.core.sanitize import markdown_to_safe_html
from rolls.flags import spread_position_flags
from sleeves.models import SpreadPosition
from rolls.models import RollAttempt
from sleeves.models import DmTarget, MonitorRun, VolTargetState
from sleeves import naked_legs
from sleeves.selectors import positions_by_sleeve, sleeve_settings
from django_q.models import Task
from rolls.roll_states import OPEN_ROLL_STATES

SEVERITY_ORDER = Case(*(When(severity=severity, then=Value(rank)) for severity, rank in SEVERITY_RANK.items()),
                      default=Value(len(SEVERITY_RANK)), output_field=IntegerField())


@dataclass(frozen=True)
class RollCountdown:
    roll_by: date
    sessions: int | None  # None: the roll-by lies outside the exchange calendar (see problem)
    days: int
    colour: str  # red / orange / green
    problem: str = ""


def latest_run(kind: str) -> MonitorRun | None:
    return MonitorRun.objects.filter(kind=kind).exclude(status="skipped").select_related("sleeve").first()


def roll_countdown(position: SpreadPosition, *, today: date) -> RollCountdown:
    days = (position.roll_by - today).days
    try:
        sessions = calendars.sessions_until(today, position.roll_by, exchange=calendars.CFE)
    except calendars.CalendarRangeError:
        # A config stored before dates were bounded (roll-by 1900-01-01): say so, never a server error.
        return RollCountdown(position.roll_by, None, days, "red",
                             f"roll-by {position.roll_by} is outside the exchange calendar "
                             f"({calendars.CALENDAR_START} to {calendars.CALENDAR_END}): correct the position config")
    warn = sleeve_settings("BOOK")["roll_alert_sessions"]
    colour = "red" if sessions <= 0 else "orange" if sessions <= warn else "green"
    return RollCountdown(position.roll_by, sessions, days, colour)


def next_rebalance(today: date) -> date:
    day = calendars.session_on_or_after(today)
    while not calendars.is_first_session_of_month(day):
        day = calendars.next_session(day)
    return day


ALERTS_SHOWN = 25


def open_alerts(*, today: date) -> tuple[list[alerts.AlertView], dict[str, int]]:
    """The open alerts to list (unacknowledged first, most severe first, then the acknowledged ones) and the
    counts: critical / warning / info over the unacknowledged open alerts, and "acknowledged" apart.

    Counted in the database over every open alert, not over the rows listed.
    """
    rows = Alert.objects.filter(resolved_at__isnull=True)
    counts = {severity: 0 for severity in ("critical", "warning", "info")}
    counts.update(rows.filter(acknowledged_at__isnull=True).order_by().values("severity").annotate(n=Count("id"))
                  .values_list("severity", "n"))
    counts["acknowledged"] = rows.filter(acknowledged_at__isnull=False).count()
    listed = (rows.select_related("sleeve", "acknowledged_by")
              .annotate(rank=SEVERITY_ORDER, acked=Case(When(acknowledged_at__isnull=True, then=Value(0)),
                                                        default=Value(1), output_field=IntegerField()))
              .order_by("acked", "rank", "-last_seen_at", "-id")[:ALERTS_SHOWN])
    return [alerts.describe(alert, today=today) for alert in listed], counts


def dashboard_context(request) -> dict:
    today = clock.trading_date()
    alert_rows, alert_counts = open_alerts(today=today)
    position = (SpreadPosition.objects.filter(sleeve__code="VRP_CS", is_active=True)
                .select_related("short_leg", "long_leg").first())
    cs_run, erp_run = latest_run("vrp_cs"), latest_run("vrp_erp")
    digest = Digest.objects.first()
    vol = VolTargetState.objects.first()
    held = positions_by_sleeve()
    task_id = request.GET.get("task", "")
    return {
        "today": today,
        "alerts": alert_rows,
        "alert_counts": alert_counts,
        "can_acknowledge": request.user.has_perm("dspops.change_alert"),
        "cs": {
            "position": position,
            "flags": spread_position_flags(position, today=today) if position else [],
            "countdown": roll_countdown(position, today=today) if position else None,
            "run": cs_run,
            "out": cs_run.outputs if cs_run else {},
            "pnl_label": naked_legs.pnl_label(cs_run.outputs if cs_run else None),
            "open_roll": RollAttempt.objects.filter(state__in=OPEN_ROLL_STATES).first(),
        },
        "erp": {"run": erp_run, "out": erp_run.outputs if erp_run else {}},
        "dm": {
            "next_rebalance": next_rebalance(today),
            "vol": vol,
            "vol_sessions_old": calendars.sessions_until(vol.as_of_session, today) if vol else None,
            "target": DmTarget.objects.first(),
            "run": latest_run("dm_plan"),
            "positions": [p for p in held if p.sleeve_code == "DM"],
        },
        "positions": held,
        "broker": BrokerSnapshot.objects.first(),
        "digest": digest,
        "digest_html": digest_html(digest),
        "can_run_tasks": request.user.has_perm("sleeves.run_tasks"),
        "task": task_status(task_id) if task_id else None,
    }


def digest_html(digest: Digest | None):
    """The digest's markdown as sanitized HTML (dspops.core.sanitize): its alerts carry text from files and the broker."""
    return markdown_to_safe_html(digest.markdown) if digest else ""


@dataclass(frozen=True)
class TaskStatus:
    id: str
    name: str
    state: str  # queued / succeeded / failed
    result: str


def task_status(task_id: str) -> TaskStatus:
    task = Task.objects.filter(id=task_id).first()
    if task is None:
        return TaskStatus(task_id, "", "queued", "Waiting for the worker to pick it up (this page refreshes).")
    result = str(task.result) if task.result is not None else ""
    if not task.success:
        lines = [line for line in result.strip().splitlines() if line.strip()]
        result = lines[-1] if lines else "failed without a message"
    return TaskStatus(task_id, task.name, "succeeded" if task.success else "failed", result)
