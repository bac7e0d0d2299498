"""The demo book and the simulator's scenario executions are dated on NYSE sessions, whatever day
the demo is started: a weekend or holiday fill is not something a broker reports (issue 15, item 7)."""

from __future__ import annotations

import io
from datetime import datetime, timedelta

import pytest
from django.core.management import call_command

from dspops.core import calendars
from dspops.simulator import load_scenario
from dspops.simulator.resolution import back_over_sessions
from sleeves.models import Fill

NY = calendars.NEW_YORK
DAYS = [
    datetime(2026, 11, 30, 9, 45, tzinfo=NY),  # a Monday morning: "-26h" would be Sunday
    datetime(2026, 9, 8, 10, 30, tzinfo=NY),  # the Tuesday after Labor Day
    datetime(2026, 1, 20, 0, 5, tzinfo=NY),  # just after midnight, the day after Martin Luther King Day
    datetime(2026, 11, 28, 12, 0, tzinfo=NY),  # a Saturday
]


@pytest.mark.parametrize("moment", DAYS, ids=lambda d: f"{d:%a-%Y-%m-%d}")
def test_the_scenarios_executions_fall_on_sessions(time_machine, moment):
    time_machine.move_to(moment, tick=False)
    resolved = load_scenario("calm_contango").resolve(moment)
    times = [e["time"] for e in resolved.executions]
    assert times and all(calendars.is_session(t.astimezone(NY).date()) for t in times)
    assert all(t <= moment for t in times)
    # Listed newest last in the file, they keep their order once weekends are skipped.
    spy, front, second, shy = times
    assert spy < front == second < shy


def test_relative_times_count_only_session_hours():
    monday = datetime(2026, 11, 30, 9, 45, tzinfo=NY)
    assert back_over_sessions(monday, timedelta(minutes=20)) == monday - timedelta(minutes=20)
    assert back_over_sessions(monday, timedelta(hours=26)).astimezone(NY) == datetime(2026, 11, 27, 7, 45, tzinfo=NY)
    after_holiday = datetime(2026, 9, 8, 10, 30, tzinfo=NY)
    assert back_over_sessions(after_holiday, timedelta(days=1)).astimezone(NY) == datetime(
        2026, 9, 4, 10, 30, tzinfo=NY)


@pytest.mark.django_db
@pytest.mark.parametrize("moment", DAYS, ids=lambda d: f"{d:%a-%Y-%m-%d}")
def test_the_demo_fills_fall_on_sessions_before_the_scenarios_executions(time_machine, moment):
    time_machine.move_to(moment, tick=False)
    call_command("bootstrap", "--demo", stdout=io.StringIO())
    demo = list(Fill.objects.filter(exec_id__startswith="DEMO-"))
    assert len(demo) == 5
    assert all(calendars.is_session(f.executed_at.astimezone(NY).date()) for f in demo)
    first_execution = min(e["time"] for e in load_scenario("calm_contango").resolve(moment).executions)
    assert all(f.executed_at < first_execution for f in demo)
