"""The one task registry: every periodic task and every dashboard button, listed once.

Each entry says what the task is called (its schedule's name and its button's label), what it
runs (a thin task of an app: it fetches its inputs and calls one service), when it runs (a time
in New York on weekdays) and which market calendar decides whether it runs that day (NYSE, or
CFE for the roll check), and whether the dashboard offers it as a button. ``dspops.schedules``
makes the django-q2 schedules from it and the dashboard draws its buttons from it.

Every entry is a function of this module (the django-q2 ``func``: ``dspops.tasks.<entry>``) that
asks the calendar first. A scheduled run on a day that exchange does not trade records a
"skipped: market closed" run naming the last session and does nothing else. A person's button
press (``by_person=True``) is never skipped: the task acts on the last session and says so
(DECISIONS.md section 8). The return value is the summary django-q2 shows in the admin.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time

from digests import tasks as digest_tasks
from dspops import jobs
from dspops.core import calendars, clock
from dspops.core.models import Alert
from rolls import tasks as roll_tasks
from sleeves import tasks as sleeve_tasks
from sleeves.models import RunKind
from sleeves.services import record_skipped_run

# Every schedule this registry makes is named with this prefix; setup_schedules removes ours no longer listed.
PREFIX = "dspops: "
WEEKDAYS = "1-5"
FRIDAY = "5"


@dataclass(frozen=True)
class Task:
    """One registered task. ``name`` is its key (the button's URL); ``entry`` its function here."""

    name: str
    entry: str
    title: str  # the schedule's name, after PREFIX
    kind: str  # the MonitorRun kind a skipped run is recorded as
    at: time  # New York
    days: str = WEEKDAYS  # cron day-of-week field
    exchange: str = calendars.NYSE  # whose calendar decides whether a scheduled run runs today
    sleeve: str | None = None  # the sleeve a skipped run is recorded for
    button: str = ""  # the dashboard button's label; "" for no button

    @property
    def schedule_name(self) -> str:
        return f"{PREFIX}{self.title}"

    @property
    def func(self) -> str:
        """The dotted path django-q2 calls."""
        return f"{__name__}.{self.entry}"

    @property
    def cron(self) -> str:
        """Read in America/New_York by django-q2 (see dspops.schedules)."""
        return f"{self.at.minute} {self.at.hour} * * {self.days}"


REGISTRY: dict[str, Task] = {}


def market_closed(kind: str, *, sleeve_code: str | None = None, now: datetime | None = None,
                  by_person: bool = False, exchange: str = calendars.NYSE) -> str | None:
    """Record and return a skip message when a scheduled task finds today closed on ``exchange``; None
    otherwise. A person's action (``by_person``) is never skipped: it acts on the last session."""
    now = now or clock.now()
    acting = clock.acting_session(now, exchange=exchange)
    if by_person or acting.market_open_today:
        return None
    message = f"skipped: {acting.closed_reason()}"
    record_skipped_run(kind=kind, sleeve_code=sleeve_code, session=acting.session, now=now, reason=message)
    return message


def registered(name: str, **fields) -> Callable[[Callable[..., str]], Callable[..., str]]:
    """Register the decorated function as the task ``name`` (see Task), guarded by its exchange's calendar."""

    def register(run: Callable[..., str]) -> Callable[..., str]:
        task = Task(name=name, entry=run.__name__, **fields)
        if task.name in REGISTRY:
            raise ValueError(f"task {task.name!r} is registered twice")
        REGISTRY[task.name] = task

        @functools.wraps(run)
        def guarded(by_person: bool = False) -> str:
            skipped = market_closed(task.kind, sleeve_code=task.sleeve, by_person=by_person, exchange=task.exchange)
            return skipped or run(by_person=by_person)

        return guarded

    return register


# --- the registry, in the order of the dashboard's buttons ----------------------------------------


@registered("vrp_erp", title="VRP-ERP monitor", kind=RunKind.VRP_ERP, at=time(9, 0), sleeve="VRP_ERP",
            button="Run the VRP-ERP monitor")
def vrp_erp_monitor_task(*, by_person: bool) -> str:
    return sleeve_tasks.vrp_erp_monitor_task(by_person=by_person)


@registered("vrp_cs", title="VRP-CS monitor", kind=RunKind.VRP_CS, at=time(9, 0), sleeve="VRP_CS",
            button="Run the VRP-CS monitor")
def vrp_cs_monitor_task(*, by_person: bool) -> str:
    return sleeve_tasks.vrp_cs_monitor_task(by_person=by_person)


@registered("vol_target", title="vol target", kind=RunKind.VOL_TARGET, at=time(16, 20),
            button="Update the vol-target overlay")
def vol_target_task(*, by_person: bool) -> str:
    return sleeve_tasks.vol_target_task(by_person=by_person)


@registered("fill_sync", title="fill sync", kind=RunKind.FILL_SYNC, at=time(16, 15), button="Sync fills from IBKR")
def fill_sync_task(*, by_person: bool) -> str:
    return sleeve_tasks.fill_sync_task(by_person=by_person)


@registered("reconcile", title="reconciliation", kind=RunKind.RECONCILE, at=time(16, 15),
            button="Reconcile positions")
def reconcile_task(*, by_person: bool) -> str:
    return sleeve_tasks.reconcile_task(by_person=by_person)


@registered("digest", title="daily digest", kind=RunKind.DIGEST, at=time(16, 30), button="Run the daily digest")
def daily_digest_task(*, by_person: bool) -> str:
    """16:30 New York: the live digest (one gateway session: snapshot, monitors, digest). A broker that
    cannot be reached degrades it to stored data. From a button on a closed day it is the last
    session's digest, and says so."""
    acting = clock.acting_session()
    digest = jobs.live_digest(trading_date=acting.session, role="worker",
                              triggered_by="dashboard" if by_person else "task")
    open_alerts = Alert.objects.filter(resolved_at__isnull=True).count()
    simulated = " (SIMULATED BROKER)" if digest.simulated else ""
    return f"digest for {acting.label()}{simulated}: {digest.file_path}; {open_alerts} open alert(s)"


@registered("dm_plan", title="DM plan", kind=RunKind.DM_PLAN, at=time(9, 35), sleeve="DM")
def dm_plan_task(*, by_person: bool) -> str:
    return sleeve_tasks.dm_plan_task(by_person=by_person)


# CFE opens at 09:30 New York (exchange_calendars XCBF); a check before it fails "CFE open now".
@registered("roll_check", title="roll check", kind=RunKind.ROLL_CHECK, at=time(9, 45), exchange=calendars.CFE,
            sleeve="VRP_CS")
def roll_check_task(*, by_person: bool) -> str:
    return roll_tasks.roll_check_task(by_person=by_person)


@registered("weekly_review", title="weekly review", kind=RunKind.WEEKLY_REVIEW, at=time(15, 0), days=FRIDAY)
def weekly_review_task(*, by_person: bool) -> str:
    return digest_tasks.weekly_review_task(by_person=by_person)


def buttons() -> list[tuple[str, str]]:
    """The dashboard's buttons: (task name, label), in the registry's order."""
    return [(task.name, task.button) for task in REGISTRY.values() if task.button]


BUTTONS: dict[str, Task] = {task.name: task for task in REGISTRY.values() if task.button}
