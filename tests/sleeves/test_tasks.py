"""Scheduled tasks (the registry's, dspops/tasks.py) ask the NYSE calendar first and do nothing on a closed day."""

from datetime import datetime, timezone

import pytest

from dspops import tasks
from sleeves.models import MonitorRun, VrpCsLogEntry, VrpErpLogEntry

SATURDAY = datetime(2026, 11, 28, 14, 0, tzinfo=timezone.utc)
GOOD_FRIDAY = datetime(2026, 4, 3, 14, 0, tzinfo=timezone.utc)
TUESDAY = datetime(2026, 11, 24, 14, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize("moment, day, previous", [(SATURDAY, "Saturday 2026-11-28", "2026-11-27"),
                                                   (GOOD_FRIDAY, "Friday 2026-04-03", "2026-04-02")])
@pytest.mark.parametrize("task", ["vrp_erp_monitor_task", "vrp_cs_monitor_task", "vol_target_task", "dm_plan_task",
                                  "fill_sync_task", "reconcile_task"])
def test_every_task_skips_a_closed_market_and_records_why(booted, monkeypatch, moment, day, previous, task):
    monkeypatch.setattr("dspops.core.clock.now", lambda: moment)
    result = getattr(tasks, task)()
    assert result.startswith(f"skipped: market closed ({day} is not an NYSE session; the last one was {previous})")
    [run] = MonitorRun.objects.all()
    assert (run.status, run.triggered_by, str(run.trading_date)) == ("skipped", "task", previous)
    assert VrpErpLogEntry.objects.count() == 0 and VrpCsLogEntry.objects.count() == 0


def test_on_a_session_the_erp_task_runs_live_against_the_broker(booted, broker, monkeypatch):
    broker("calm_contango")
    monkeypatch.setattr("dspops.core.clock.now", lambda: TUESDAY)
    result = tasks.vrp_erp_monitor_task()
    run = MonitorRun.objects.get()
    assert run.kind == "vrp_erp" and run.triggered_by == "task" and run.simulated is True
    assert not result.startswith("skipped")
