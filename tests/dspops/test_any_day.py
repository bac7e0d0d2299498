"""One meaning of "today" on every kind of day (DECISIONS.md section 8).

Each test moves the clock (time-machine) to a named day: a session, a Saturday, a Sunday, NYSE holidays
(Good Friday 2027-03-26, Juneteenth 2027-06-18), the session before a roll-by, and the days around a VX
settlement. Expectations come from the calendar, never from the day the suite happens to run.
"""

from __future__ import annotations

import io
from datetime import date, datetime, timedelta

import pytest
from django.core.management import call_command
from django.urls import reverse

from digests.models import Digest
from dspops.core import calendars, clock
from dspops.core import vx
from rolls.models import RollCheck
from rolls.roll_selectors import go_valid_until
from rolls.roll_service import RollError, plan_roll, run_checks, start_executing
from dspops import tasks
from sleeves.models import MonitorRun, RunStatus
from tests.rolls.test_roll_pages import make_book

NY = calendars.NEW_YORK
DEC_2026 = vx.contract_dates(vx.ContractMonth(2026, 12), sessions_before=5)


def at(day: date, hour: int = 11, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=NY)


# (id, the moment, is it an NYSE session, is CFE trading then)
DAYS = [
    pytest.param(at(date(2026, 12, 2)), True, True, id="weekday"),
    pytest.param(at(date(2026, 12, 5)), False, False, id="Saturday"),
    pytest.param(at(date(2026, 12, 6)), False, False, id="Sunday"),
    pytest.param(at(date(2027, 3, 26)), False, False, id="Good Friday"),
    pytest.param(at(date(2027, 6, 18)), False, False, id="Juneteenth"),
    pytest.param(at(calendars.previous_session(DEC_2026.roll_by, exchange="XCBF")), True, True,
                 id="session before a roll-by"),
    pytest.param(at(DEC_2026.roll_by), True, True, id="roll-by"),
    pytest.param(at(calendars.previous_session(DEC_2026.settlement_date, exchange="XCBF")), True, True,
                 id="day before a VX settlement"),
    pytest.param(at(DEC_2026.settlement_date), True, True, id="VX settlement day"),
    pytest.param(at(calendars.next_session(DEC_2026.settlement_date, exchange="XCBF")), True, True,
                 id="day after a VX settlement"),
    pytest.param(at(date(2026, 12, 2), 20, 0), True, False, id="weekday evening"),
]


def test_the_named_days_are_what_their_names_say():
    assert (DEC_2026.settlement_date, DEC_2026.roll_by) == (date(2026, 12, 16), date(2026, 12, 9))
    assert not calendars.is_session(date(2027, 3, 26)) and not calendars.is_session(date(2027, 6, 18))


@pytest.mark.parametrize("moment, nyse_session, cfe_open", DAYS)
def test_scheduled_tasks_skip_a_closed_day_and_a_person_acts_on_the_last_session(booted, time_machine, moment,
                                                                                 nyse_session, cfe_open):
    time_machine.move_to(moment, tick=False)
    acting = clock.acting_session()
    assert acting.session == calendars.session_on_or_before(moment.date())
    skipped = tasks.market_closed("vrp_erp", sleeve_code="VRP_ERP")
    if nyse_session:
        assert skipped is None and acting.note == "" and acting.label() == f"{moment:%a %Y-%m-%d}"
        assert not MonitorRun.objects.exists()
    else:
        assert skipped.startswith(f"skipped: market closed ({moment:%A %Y-%m-%d} is not an NYSE session")
        run = MonitorRun.objects.get()
        assert run.status == RunStatus.SKIPPED and run.trading_date == acting.session
        assert acting.label() == f"{acting.session:%a %Y-%m-%d} (the market is closed today)"
    # A person's action is never skipped.
    assert tasks.market_closed("vrp_erp", sleeve_code="VRP_ERP", by_person=True) is None


@pytest.mark.parametrize("moment, nyse_session, cfe_open", DAYS)
def test_the_daily_digest_command_builds_the_last_session_and_says_so(booted, settings, tmp_path, time_machine,
                                                                      moment, nyse_session, cfe_open):
    settings.DIGEST_DIR = tmp_path
    time_machine.move_to(moment, tick=False)
    out = io.StringIO()
    call_command("daily_digest", stdout=out)
    session = calendars.session_on_or_before(moment.date())
    assert Digest.objects.get().trading_date == session
    assert (tmp_path / f"digest_{session}.md").exists()
    text = out.getvalue()
    assert (f"Digest for {session:%a %Y-%m-%d} (the market is closed today)." in text) is not nyse_session


@pytest.mark.parametrize("moment, nyse_session, cfe_open", DAYS)
def test_the_pre_roll_check_fails_outside_cfe_hours_and_a_go_ends_by_the_close(booted, operator_user, broker,
                                                                              time_machine, moment, nyse_session,
                                                                              cfe_open):
    # Measured: "Run checks (live quotes)" on a Sunday returned GO, valid until 12:24 EST.
    time_machine.move_to(moment, tick=True)
    broker("calm_contango")
    make_book()
    attempt = plan_roll(user=operator_user, rehearsal=True)
    check = run_checks(attempt=attempt, live=True, user=operator_user)
    cfe = check.results.get(name="cfe_open")
    assert cfe.passed is cfe_open
    if cfe_open:
        assert check.verdict == "GO", [(r.name, r.reason) for r in check.results.all() if not r.passed]
        _, close = calendars.session_hours(clock.trading_date(), exchange="XCBF")
        assert go_valid_until(check) <= close
    else:
        assert check.verdict == "NO_GO" and go_valid_until(check) is None
        assert cfe.reason.startswith("CFE closed (XCBF closed at ") and "roll only while CFE trades" in cfe.reason
        with pytest.raises(RollError, match="not GO"):
            start_executing(attempt=attempt, user=operator_user)


def test_a_go_given_near_the_close_expires_at_the_close_not_after_its_window(booted, operator_user, broker,
                                                                            time_machine):
    session = date(2026, 12, 2)
    _, close = calendars.session_hours(session, exchange="XCBF")
    time_machine.move_to(close - timedelta(minutes=3), tick=True)
    broker("calm_contango")
    make_book()
    attempt = plan_roll(user=operator_user, rehearsal=True)
    check = run_checks(attempt=attempt, live=True, user=operator_user)
    assert check.verdict == "GO"
    assert go_valid_until(check) == close  # its window (go_valid_minutes, 5) would have run past the close
    time_machine.move_to(close + timedelta(seconds=1), tick=False)
    with pytest.raises(RollError, match="expired at"):
        start_executing(attempt=attempt, user=operator_user)
    assert RollCheck.objects.count() == 1


@pytest.mark.parametrize("moment, nyse_session, cfe_open", DAYS)
def test_the_dashboard_and_the_roll_pages_answer_on_every_day(operator_client, operator_user, time_machine, moment,
                                                              nyse_session, cfe_open):
    time_machine.move_to(moment, tick=False)
    operator_client.force_login(operator_user)
    make_book()
    page = operator_client.get(reverse("admin:index"))
    assert page.status_code == 200
    assert 'id="roll-countdown"' in page.content.decode()
    assert operator_client.get(reverse("admin:rolls_rollattempt_changelist")).status_code == 200


@pytest.mark.parametrize("moment, nyse_session, cfe_open", [DAYS[2], DAYS[0]])
def test_warm_up_says_which_session_it_acts_on(booted, broker, time_machine, moment, nyse_session, cfe_open):
    time_machine.move_to(moment, tick=True)
    broker("calm_contango")
    out = io.StringIO()
    call_command("warm_up", stdout=out, stderr=io.StringIO())
    session = calendars.session_on_or_before(moment.date())
    note = "" if nyse_session else " (the market is closed today)"
    assert f"warm-up: session {session:%a %Y-%m-%d}{note}\n" in out.getvalue()
