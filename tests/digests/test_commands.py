"""The daily_digest command and the digest / weekly-review tasks (closed days skip)."""

import io
from datetime import datetime, timezone

import pytest
from django.core.management import CommandError, call_command

from dspops import tasks
from dspops.core.models import Alert
from digests.models import Digest
from sleeves.models import MonitorRun

TUESDAY_EVENING = datetime(2026, 11, 24, 21, 30, tzinfo=timezone.utc)
FRIDAY_AFTERNOON = datetime(2026, 11, 20, 20, 0, tzinfo=timezone.utc)
SATURDAY = datetime(2026, 11, 28, 21, 30, tzinfo=timezone.utc)
GOOD_FRIDAY = datetime(2026, 4, 3, 20, 0, tzinfo=timezone.utc)


@pytest.fixture
def digest_dir(settings, tmp_path):
    settings.DIGEST_DIR = tmp_path / "daily_digest"
    return settings.DIGEST_DIR


@pytest.fixture
def tuesday(monkeypatch):
    monkeypatch.setattr("dspops.core.clock.now", lambda: TUESDAY_EVENING)


@pytest.fixture
def broker_down(settings):
    settings.IB_HOST, settings.IB_PORT, settings.IB_CONNECT_TIMEOUT = "127.0.0.1", 9, 2.0  # nothing listens


def digest_command(*args) -> tuple[int, str]:
    out = io.StringIO()
    try:
        call_command("daily_digest", *args, stdout=out)
    except CommandError as exc:
        return exc.returncode, str(exc)
    return 0, out.getvalue()


def test_daily_digest_prints_the_path_and_the_alert_count(booted, digest_dir, tuesday):
    code, out = digest_command("--date", "2026-11-24")

    path = digest_dir / "digest_2026-11-24.md"
    assert code == 0 and path.is_file()
    lines = out.splitlines()
    assert lines[0] == f"Digest 2026-11-24: {path}"
    total = Alert.objects.filter(resolved_at__isnull=True).count()
    warnings = Alert.objects.filter(resolved_at__isnull=True, severity="warning").count()
    assert total > 0 and lines[-1] == f"Alerts: {total} ({warnings} warning)"


def test_daily_digest_on_a_saturday_exits_2_naming_the_previous_session(booted, digest_dir):
    code, message = digest_command("--date", "2026-01-10")

    assert (code, message) == (2, "2026-01-10 is not an NYSE session (Saturday); the previous session is 2026-01-09")
    assert not Digest.objects.exists() and not digest_dir.exists()


def test_daily_digest_refuses_a_malformed_date(booted):
    code, message = digest_command("--date", "12/01/2026")
    assert code == 2 and "use YYYY-MM-DD" in message


def test_daily_digest_no_write_stores_the_digest_without_a_file(booted, digest_dir, tuesday):
    code, out = digest_command("--no-write")

    assert code == 0 and "stored in the database (no file: --no-write)" in out
    assert Digest.objects.get().file_path == "" and not digest_dir.exists()


def test_daily_digest_live_with_the_broker_down_still_succeeds_and_says_so(booted, digest_dir, tuesday, broker_down):
    code, out = digest_command("--live")

    assert code == 0 and "broker unavailable" in out
    assert Alert.objects.get(code="broker_unavailable").severity == "critical"
    assert "1 critical" in out.splitlines()[-1]


def test_daily_digest_live_for_a_past_date_is_refused(booted, tuesday):
    code, message = digest_command("--live", "--date", "2026-11-23")
    assert code == 2 and "drop --live" in message  # a usage error, like every command


# --- tasks -------------------------------------------------------------------------------------


@pytest.mark.parametrize("moment, day, previous", [(SATURDAY, "Saturday 2026-11-28", "2026-11-27"),
                                                   (GOOD_FRIDAY, "Friday 2026-04-03", "2026-04-02")])
@pytest.mark.parametrize("task, kind", [("daily_digest_task", "digest"), ("weekly_review_task", "weekly_review")])
def test_the_digest_tasks_skip_a_closed_market_and_record_why(booted, digest_dir, monkeypatch, moment, day, previous,
                                                              task, kind):
    monkeypatch.setattr("dspops.core.clock.now", lambda: moment)

    result = getattr(tasks, task)()

    assert result == f"skipped: market closed ({day} is not an NYSE session; the last one was {previous})"
    [run] = MonitorRun.objects.all()
    assert (run.kind, run.status, str(run.trading_date)) == (kind, "skipped", previous)
    assert not Digest.objects.exists() and not digest_dir.exists()


def test_the_digest_task_runs_live_as_the_worker_and_degrades_when_the_broker_is_down(booted, digest_dir, tuesday,
                                                                                      broker_down):
    result = tasks.daily_digest_task()

    run = MonitorRun.objects.get(kind="digest")
    assert (run.triggered_by, run.inputs["role"], run.inputs["live"]) == ("task", "worker", True)
    assert result.startswith(f"digest for Tue 2026-11-24: {digest_dir / 'digest_2026-11-24.md'}; ")
    assert Alert.objects.filter(code="broker_unavailable", resolved_at__isnull=True).exists()


def test_the_weekly_review_task_stores_the_review_on_a_friday(booted, monkeypatch):
    monkeypatch.setattr("dspops.core.clock.now", lambda: FRIDAY_AFTERNOON)

    result = tasks.weekly_review_task()

    run = MonitorRun.objects.get(kind="weekly_review")
    assert result == "weekly review for the week ending 2026-11-20 stored"
    assert run.outputs["markdown"].startswith("# DSP-100K Weekly Review — week ending 2026-11-20")
    assert run.outputs["digests_missing"] == 5
