"""The django-q2 schedules of the book, made from the task registry (dspops/tasks.py); upserted by name.

Cron strings are read in America/New_York: django-q2 1.11 evaluates a CRON schedule with
``croniter(cron, localtime())``, where ``localtime`` converts to ``Conf.TIME_ZONE``, which is
``Q_CLUSTER["time_zone"]`` or else ``settings.TIME_ZONE`` ("America/New_York"). So 09:00 is
09:00 New York in summer and in winter.

A CRON schedule's next run is always computed from now, so a cluster that was down never
replays the runs it missed (``catch_up`` False says the same for the other schedule types).
A failed task is acknowledged (``ack_failures``) and tried once (``max_attempts`` 1); ``retry``
(900 s) exceeds ``timeout`` (600 s) so a slow task is never started twice. The registry's
runner skips a day the task's exchange (NYSE, or CFE for the roll check) does not trade.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django_q.conf import croniter
from django_q.models import Schedule

from dspops.tasks import PREFIX, REGISTRY
from dspops.core.errors import OperatorError

# (name, dotted task, cron in New York time), one per registered task. The names are the ones the
# schedules have always had, so setup_schedules updates the existing rows (their func moved to
# dspops.tasks) instead of adding new ones.
SCHEDULES: tuple[tuple[str, str, str], ...] = tuple(
    (task.schedule_name, task.func, task.cron) for task in REGISTRY.values()
)


class ScheduleError(OperatorError):
    """The schedules cannot be set up; the message says why and what to do."""


@dataclass
class ScheduleReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


def cluster_problems() -> list[str]:
    """What in Q_CLUSTER would replay, retry or double-run a task; empty when all is as intended."""
    q = settings.Q_CLUSTER
    problems = []
    if q.get("catch_up", True):
        problems.append("catch_up must be False: a cluster that was down must not replay missed runs")
    if not q.get("ack_failures", False):
        problems.append("ack_failures must be True: a failed task is acknowledged, not retried forever")
    if q.get("max_attempts", 0) != 1:
        problems.append("max_attempts must be 1: a failed monitor run is not repeated")
    if not q.get("retry", 60) > q.get("timeout", 0):
        problems.append("retry must exceed timeout, or a slow task is started twice")
    return problems


@transaction.atomic
def setup_schedules() -> ScheduleReport:
    """Create or update the schedules by name; remove ours (PREFIX) that are no longer listed.

    Raises ScheduleError when croniter (needed by django-q2 for cron schedules) is missing.
    """
    if croniter is None:
        raise ScheduleError("django-q2 needs the croniter package for cron schedules; install the locked "
                           "requirements (make install) and run setup_schedules again.")
    report = ScheduleReport()
    names = [name for name, _, _ in SCHEDULES]
    for name, func, cron in SCHEDULES:
        rows = list(Schedule.objects.filter(name=name).order_by("id"))
        for duplicate in rows[1:]:
            duplicate.delete()
        if not rows:
            Schedule.objects.create(name=name, func=func, schedule_type=Schedule.CRON, cron=cron, repeats=-1)
            report.created.append(name)
            continue
        schedule = rows[0]
        wanted = {"func": func, "schedule_type": Schedule.CRON, "cron": cron, "repeats": -1, "args": None,
                  "kwargs": None, "hook": None, "cluster": None}
        changed = [key for key, value in wanted.items() if getattr(schedule, key) != value]
        if not changed and schedule.next_run is not None and len(rows) == 1:
            report.unchanged.append(name)
            continue
        for key, value in wanted.items():
            setattr(schedule, key, value)
        # Schedule.save() computes next_run only for a new row: a changed cron needs it recomputed here.
        schedule.next_run = schedule.calculate_next_run()
        schedule.save(update_fields=[*wanted, "next_run"])
        report.updated.append(name)
    stale = Schedule.objects.filter(name__startswith=PREFIX).exclude(name__in=names)
    report.removed = sorted(stale.values_list("name", flat=True))
    stale.delete()
    return report
