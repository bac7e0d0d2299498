"""setup_schedules: the django-q2 schedules, upserted by name, cron in New York time, never replayed."""

import io
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest
from django.core.management import CommandError, call_command

from django_q.conf import Conf
from django_q.models import Schedule

from dspops import schedules as command

NY = ZoneInfo("America/New_York")
EXPECTED = {
    ("dspops: VRP-ERP monitor", "dspops.tasks.vrp_erp_monitor_task", "0 9 * * 1-5"),
    ("dspops: VRP-CS monitor", "dspops.tasks.vrp_cs_monitor_task", "0 9 * * 1-5"),
    ("dspops: roll check", "dspops.tasks.roll_check_task", "45 9 * * 1-5"),
    ("dspops: DM plan", "dspops.tasks.dm_plan_task", "35 9 * * 1-5"),
    ("dspops: fill sync", "dspops.tasks.fill_sync_task", "15 16 * * 1-5"),
    ("dspops: reconciliation", "dspops.tasks.reconcile_task", "15 16 * * 1-5"),
    ("dspops: vol target", "dspops.tasks.vol_target_task", "20 16 * * 1-5"),
    ("dspops: daily digest", "dspops.tasks.daily_digest_task", "30 16 * * 1-5"),
    ("dspops: weekly review", "dspops.tasks.weekly_review_task", "0 15 * * 5"),
}


def run(*args) -> str:
    out = io.StringIO()
    call_command("setup_schedules", *args, stdout=out)
    return out.getvalue()


def rows() -> set[tuple[str, str, str]]:
    return set(Schedule.objects.values_list("name", "func", "cron"))


def at(moment: datetime, monkeypatch) -> None:
    """django-q2 computes a cron schedule's next run from django.utils.timezone.now()."""
    monkeypatch.setattr("django.utils.timezone.now", lambda: moment)


def test_setup_schedules_twice_leaves_the_same_schedules(db):
    first = run()
    before = {s.name: (s.pk, s.next_run) for s in Schedule.objects.all()}
    second = run()

    assert rows() == EXPECTED and Schedule.objects.count() == len(EXPECTED)
    assert {s.name: (s.pk, s.next_run) for s in Schedule.objects.all()} == before
    assert set(Schedule.objects.values_list("schedule_type", "repeats")) == {(Schedule.CRON, -1)}
    assert "9 created, 0 updated, 0 unchanged, 0 removed" in first
    assert "0 created, 0 updated, 9 unchanged, 0 removed" in second


def test_cron_times_are_new_york_times_on_weekdays_in_winter_and_summer(db, monkeypatch):
    at(datetime(2026, 3, 6, 12, 0, tzinfo=timezone.utc), monkeypatch)  # Friday 07:00 EST
    run()
    winter = {s.name: s.next_run for s in Schedule.objects.all()}
    assert winter["dspops: VRP-ERP monitor"] == datetime(2026, 3, 6, 9, 0, tzinfo=NY)
    assert winter["dspops: weekly review"] == datetime(2026, 3, 6, 15, 0, tzinfo=NY)

    at(datetime(2026, 3, 7, 12, 0, tzinfo=timezone.utc), monkeypatch)  # Saturday; clocks change on Sunday
    Schedule.objects.all().delete()
    run()
    summer = {s.name: s.next_run for s in Schedule.objects.all()}
    assert summer["dspops: VRP-ERP monitor"] == datetime(2026, 3, 9, 9, 0, tzinfo=NY)  # Monday, EDT
    assert summer["dspops: VRP-ERP monitor"].astimezone(timezone.utc).hour == 13
    assert summer["dspops: daily digest"] == datetime(2026, 3, 9, 16, 30, tzinfo=NY)
    assert summer["dspops: weekly review"] == datetime(2026, 3, 13, 15, 0, tzinfo=NY)


def test_a_changed_cron_gets_its_next_run_recomputed(db, monkeypatch):
    at(datetime(2026, 11, 24, 14, 0, tzinfo=timezone.utc), monkeypatch)  # Tuesday 09:00 EST
    run()
    digest = Schedule.objects.get(name="dspops: daily digest")
    assert digest.next_run == datetime(2026, 11, 24, 16, 30, tzinfo=NY)
    moved = tuple(("dspops: daily digest", func, "45 17 * * 1-5") if name == "dspops: daily digest"
                  else (name, func, cron) for name, func, cron in command.SCHEDULES)
    monkeypatch.setattr(command, "SCHEDULES", moved)

    out = run()

    digest.refresh_from_db()
    assert (digest.cron, digest.next_run) == ("45 17 * * 1-5", datetime(2026, 11, 24, 17, 45, tzinfo=NY))
    assert "updated: dspops: daily digest" in out and Schedule.objects.count() == len(EXPECTED)


def test_a_schedule_edited_by_hand_is_put_back(db):
    run()
    Schedule.objects.filter(name="dspops: VRP-CS monitor").update(func="sleeves.tasks.vrp_erp_monitor_task",
                                                                  repeats=3, next_run=None)
    Schedule.objects.create(name="dspops: VRP-CS monitor", func="x.y", schedule_type=Schedule.ONCE)

    run()

    assert rows() == EXPECTED and Schedule.objects.count() == len(EXPECTED)
    cs = Schedule.objects.get(name="dspops: VRP-CS monitor")
    assert cs.repeats == -1 and cs.next_run is not None


def test_schedules_no_longer_listed_are_removed_and_others_are_left_alone(db):
    Schedule.objects.create(name="dspops: old report", func="digests.tasks.old_report", schedule_type=Schedule.DAILY)
    Schedule.objects.create(name="someone else's", func="other.task", schedule_type=Schedule.DAILY)

    out = run()

    assert "removed: dspops: old report" in out
    assert not Schedule.objects.filter(name="dspops: old report").exists()
    assert Schedule.objects.filter(name="someone else's").exists()


def test_the_cluster_never_replays_retries_or_double_runs_a_task(db):
    assert (Conf.CATCH_UP, Conf.ACK_FAILURES, Conf.MAX_ATTEMPTS) == (False, True, 1)
    assert Conf.RETRY > Conf.TIMEOUT and Conf.TIME_ZONE == "America/New_York"
    assert command.cluster_problems() == []


def test_a_cluster_that_would_catch_up_is_refused(db, settings):
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "catch_up": True, "retry": 600}

    with pytest.raises(CommandError, match="catch_up must be False.*retry must exceed timeout"):
        run()
    assert not Schedule.objects.exists()


def test_a_schedule_missed_for_days_runs_once_and_moves_to_the_next_weekday(db, monkeypatch):
    from django_q.scheduler import scheduler

    at(datetime(2026, 11, 20, 13, 0, tzinfo=timezone.utc), monkeypatch)  # Friday 08:00: set up
    run()
    at(datetime(2026, 11, 24, 15, 0, tzinfo=timezone.utc), monkeypatch)  # Tuesday 10:00: the cluster was down

    class Recorder:
        list_key = "test"

        def __init__(self):
            self.queued = []

        def enqueue(self, task):
            self.queued.append(task)
            return len(self.queued)

    broker = Recorder()
    monkeypatch.setattr("django_q.scheduler.close_old_django_connections", lambda: None)  # the test's transaction
    scheduler(broker=broker)

    assert len(broker.queued) == len(EXPECTED)  # each schedule once: the missed days are not replayed
    next_runs = {s.name: s.next_run for s in Schedule.objects.all()}
    assert next_runs["dspops: VRP-ERP monitor"] == datetime(2026, 11, 25, 9, 0, tzinfo=NY)
    assert next_runs["dspops: daily digest"] == datetime(2026, 11, 24, 16, 30, tzinfo=NY)
    assert next_runs["dspops: weekly review"] == datetime(2026, 11, 27, 15, 0, tzinfo=NY)


def test_the_roll_check_is_scheduled_inside_cfe_trading_hours_on_every_session_of_a_year():
    # Found in review: at 09:00 New York CFE is not open yet (09:30), so the scheduled check always said
    # DO NOT ROLL ("CFE open now" failed). Its cron time must fall inside every CFE session's hours.
    from croniter import croniter

    from dspops.core import calendars

    (cron,) = [cron for name, func, cron in command.SCHEDULES if func == "dspops.tasks.roll_check_task"]
    start = datetime(2026, 1, 1, tzinfo=NY)
    runs = croniter(cron, start)
    checked = 0
    while (moment := runs.get_next(datetime)) < datetime(2027, 1, 1, tzinfo=NY):
        day = moment.date()
        if calendars.is_session(day, exchange="XCBF"):
            assert calendars.market_hours(moment, exchange="XCBF").is_open, moment
            checked += 1
    assert checked > 240


def test_schedules_made_before_the_task_registry_are_moved_to_it_in_place(db):
    # Before the registry (dspops/tasks.py) the schedules called each app's tasks module; the names stay,
    # so setup_schedules updates those rows (same ids) instead of adding new ones.
    old_funcs = {"dspops: VRP-ERP monitor": "sleeves.tasks.vrp_erp_monitor_task",
                 "dspops: roll check": "rolls.tasks.roll_check_task",
                 "dspops: daily digest": "digests.tasks.daily_digest_task"}
    run()
    ids = dict(Schedule.objects.values_list("name", "pk"))
    for name, func in old_funcs.items():
        Schedule.objects.filter(name=name).update(func=func)

    out = run()

    assert rows() == EXPECTED and dict(Schedule.objects.values_list("name", "pk")) == ids
    assert "0 created, 3 updated, 6 unchanged, 0 removed" in out
