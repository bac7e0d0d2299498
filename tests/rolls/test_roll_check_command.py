"""`manage.py roll_check` and the roll_check_task, against the simulator over TCP."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError

from dspops.core import calendars, clock
from dspops.core import vx
from sleeves.models import SpreadPosition
from dspops.core.models import Alert
from rolls.models import RollAttempt, RollCheck, RollState
from rolls.roll_service import plan_roll
from dspops.core.instruments import vxm_instrument
from dspops.tasks import roll_check_task
from sleeves.models import MonitorRun, RunStatus, Sleeve
from tests.rolls.test_roll_pages import make_book, roll_symbols

# Pre-roll checks need CFE open: pin 11:00 New York on the latest CFE session, so the suite holds on any day.
pytestmark = pytest.mark.usefixtures("cfe_session_clock")

D = Decimal


@pytest.fixture
def book(booted):
    return make_book()


@pytest.fixture
def market_open(cfe_session_clock):
    """These tests are about the roll-by window, not the calendar guard (tested on a Saturday below):
    the clock stands at 11:00 New York on the latest CFE session, whatever day the suite runs on."""
    return cfe_session_clock


def roll_check(*args) -> tuple[int, str, str]:
    """Run the command in-process: (exit code, stdout, the error message)."""
    out = io.StringIO()
    try:
        call_command("roll_check", *args, stdout=out)
    except CommandError as exc:
        return exc.returncode, out.getvalue(), str(exc)
    return 0, out.getvalue(), ""


def test_calm_contango_is_go_with_the_net_legs_of_the_roll(book, broker):
    broker("calm_contango")
    code, out, _ = roll_check("--live", "--json")
    result = json.loads(out)
    old_front, middle, new_back = roll_symbols()
    assert code == 0 and result["verdict"] == "GO" and result["simulated"] is True
    assert result["net_legs"] == {old_front: 1, middle: -2, new_back: 1}
    if clock.trading_date() == date(2026, 11, 24):
        assert result["net_legs"] == {"VXMZ6": 1, "VXMF7": -2, "VXMG7": 1}
    assert [c["name"] for c in result["checks"]][:3] == ["gate", "vix", "spread"]
    assert all(c["passed"] and set(c) >= {"name", "observed", "threshold", "passed", "source", "reason"}
               for c in result["checks"])
    assert [t["combo_action"] for t in result["tickets"]] == ["SELL", "BUY"]
    assert ["Combo action", "SELL"] in result["tickets"][0]["tws_fields"]
    check = RollCheck.objects.get()
    assert check.attempt is None and check.verdict == "GO"


def test_the_text_report_says_go_and_shows_the_tickets(book, broker):
    broker("calm_contango")
    code, out, _ = roll_check("--live")
    assert code == 0
    assert out.splitlines()[0].endswith(": GO — SIMULATED BROKER")
    assert "  PASS VIX below the limit: 16.12 (threshold < 30.00;" in out
    assert "ticket Close the old spread: SELL 1" in out and "net per contract:" in out


def test_wide_markets_exit_5_naming_the_failing_widths(book, broker):
    broker("wide_markets")
    code, out, message = roll_check("--live", "--json")
    result = json.loads(out)
    assert code == 5 and result["verdict"] == "NO_GO" and result["checks"]
    failing = {c["name"] for c in result["checks"] if not c["passed"]}
    assert failing == {"old_front_width", "middle_width", "new_back_width", "combo_width"}
    assert message.startswith("DO NOT ROLL: ")
    assert "VX1 bid/ask width" in message and "is above 0.15" in message and "New back-month width" in message


def test_broker_down_exits_3_data_unavailable(book, settings):
    settings.IB_HOST, settings.IB_PORT, settings.IB_CONNECT_TIMEOUT = "127.0.0.1", 9, 1.0  # nothing listens
    code, out, message = roll_check("--live", "--json")
    assert code == 3 and json.loads(out)["data_complete"] is False
    assert message.startswith("DATA UNAVAILABLE: broker unavailable")


def test_without_live_the_stored_state_has_no_quotes_and_exits_3(book):
    code, out, message = roll_check()
    assert code == 3 and message.startswith("DATA UNAVAILABLE: an input could not be read from the stored data "
                                            "(run with --live to read the broker). Failing: VIX below the limit, ")
    assert "no quote" in out
    assert "DO NOT ROLL" in out.splitlines()[0]


def test_no_position_exits_3_with_the_reason(booted):
    code, out, message = roll_check("--live", "--json")
    assert code == 3 and message == "There is no active VRP-CS position config to check a roll for."
    assert json.loads(out) == {"error": message}


def test_a_usage_error_exits_2():
    manage = Path(settings.BASE_DIR) / "manage.py"
    done = subprocess.run([sys.executable, str(manage), "roll_check", "--bogus"], capture_output=True, text=True,
                          env={**os.environ, "DEBUG": "True"}, timeout=120)
    assert done.returncode == 2 and "unrecognized arguments: --bogus" in done.stderr


# --- the task --------------------------------------------------------------------------------------


def test_the_task_skips_when_no_roll_by_is_near(book, broker, market_open):
    broker("calm_contango")
    # Three sessions out: just beyond the 2-session horizon on any day (also the session before a roll-by).
    roll_by = calendars.session_offset(clock.trading_date(), 3, exchange=calendars.CFE)
    SpreadPosition.objects.filter(pk=book.pk).update(roll_by=roll_by)
    assert roll_check_task() == (f"no roll due within 2 sessions: roll-by {roll_by} is 3 CFE sessions "
                                 f"after {clock.trading_date()}")
    assert not RollCheck.objects.exists()


def test_the_task_checks_the_roll_when_roll_by_is_two_sessions_away(book, broker, market_open):
    broker("calm_contango")
    roll_by = calendars.session_offset(calendars.session_on_or_before(clock.trading_date(), exchange=calendars.CFE), 2, exchange=calendars.CFE)
    SpreadPosition.objects.filter(pk=book.pk).update(roll_by=roll_by)
    assert roll_check_task() == f"Roll check GO for roll-by {roll_by} (2 CFE sessions) (simulated broker)"
    assert RollCheck.objects.get().verdict == "GO"


def test_the_task_reports_do_not_roll_with_the_failing_checks(book, broker, market_open):
    broker("wide_markets")
    SpreadPosition.objects.filter(pk=book.pk).update(
        roll_by=calendars.session_offset(calendars.session_on_or_before(clock.trading_date(), exchange=calendars.CFE), 1,
                                         exchange=calendars.CFE))
    summary = roll_check_task()
    assert summary.startswith("Roll check DO NOT ROLL for roll-by") and "VX1 bid/ask width" in summary


def test_the_task_skips_a_saturday(book, monkeypatch):
    saturday = datetime(2026, 11, 28, 15, 0, tzinfo=timezone.utc)
    monkeypatch.setattr("dspops.core.clock.now", lambda: saturday)
    summary = roll_check_task()
    assert summary.startswith("skipped: market closed (Saturday 2026-11-28 is not a CFE session")
    run = MonitorRun.objects.get(kind="roll_check")
    assert run.status == RunStatus.SKIPPED and not RollCheck.objects.exists()


def test_the_task_without_a_position_says_so(booted, monkeypatch):
    tuesday = datetime(2026, 11, 24, 14, 0, tzinfo=timezone.utc)
    monkeypatch.setattr("dspops.core.clock.now", lambda: tuesday)
    assert roll_check_task() == "no active VRP-CS position config: nothing to roll"


def _expired_config():
    return SpreadPosition.objects.create(
        sleeve=Sleeve.objects.get(code="VRP_CS"), short_leg=vxm_instrument(vx.ContractMonth(2026, 2)),
        long_leg=vxm_instrument(vx.ContractMonth(2026, 3)), quantity=1, short_entry_price=D("19.12"),
        long_entry_price=D("19.77"), entry_date=date(2026, 1, 14), entry_spread=D("0.65"),
        stop_loss_spread=D("0.32"), take_profit_spread=D("1.30"), settlement_date=date(2026, 2, 19),
        roll_by=date(2026, 2, 12))


def test_an_expired_config_exits_3(booted, broker):
    broker("calm_contango")
    _expired_config()
    code, out, message = roll_check("--live")
    assert code == 3, out


def test_an_expired_config_is_refused_with_the_services_reason(booted, broker):
    broker("calm_contango")
    _expired_config()
    code, out, message = roll_check("--live")
    assert code == 3 and "settled on" in message and not RollCheck.objects.exists()



def test_the_task_warns_of_a_roll_left_executing_with_a_leg_unfilled(book, broker, market_open):
    """The checklist page only shows a late leg (a GET never writes); the scheduled task raises its alert."""
    broker("calm_contango")
    attempt = plan_roll(user=None, rehearsal=True)
    RollAttempt.objects.filter(pk=attempt.pk).update(state=RollState.EXECUTING,
                                                     executing_since=clock.now() - timedelta(hours=2))
    assert not Alert.objects.filter(code="roll_leg_unfilled").exists()
    roll_check_task()
    alert = Alert.objects.get(code="roll_leg_unfilled", resolved_at__isnull=True)
    assert alert.subject == f"roll-{attempt.pk}"
