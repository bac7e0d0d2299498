from django.core.management.base import CommandError

from django_q.models import Schedule

from dspops.core import formats
from dspops.core.calendars import NEW_YORK
from dspops.core.commands import OperationalCommand
from dspops.schedules import PREFIX, ScheduleError, cluster_problems, setup_schedules


class Command(OperationalCommand):
    help = (
        "Create or update the django-q2 schedules of the task registry, dspops/tasks.py (monitors 09:00, "
        "DM plan 09:35, roll check 09:45, fill sync and reconciliation 16:15, vol target 16:20, digest 16:30 on "
        "weekdays; weekly review Friday 15:00; New York time), by name. "
        "Safe to run again; removes the dspops schedules no longer listed."
    )

    def handle(self, *args, **o):
        problems = cluster_problems()
        if problems:
            raise CommandError("Q_CLUSTER: " + "; ".join(problems) + ". Fix dspops/settings.py.")
        try:
            report = setup_schedules()
        except ScheduleError as exc:
            raise CommandError(str(exc)) from None
        if o["verbosity"] < 1:
            return
        for label, names in (("created", report.created), ("updated", report.updated), ("removed", report.removed)):
            for name in names:
                self.stdout.write(f"{label}: {name}")
        self.stdout.write(f"{len(report.created)} created, {len(report.updated)} updated, "
                          f"{len(report.unchanged)} unchanged, {len(report.removed)} removed")
        for schedule in Schedule.objects.filter(name__startswith=PREFIX).order_by("next_run", "name"):
            next_run = schedule.next_run.astimezone(NEW_YORK)
            self.stdout.write(f"  {schedule.name:<26} {schedule.cron:<14} next {formats.moment(next_run)}  "
                              f"{schedule.func}")
