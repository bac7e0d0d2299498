"""The dashboard (the admin index): alerts on top, a panel per sleeve, charts, and task buttons."""

from datetime import date, datetime, timezone
from decimal import Decimal

import pytest
from django.urls import reverse

from dspops.core.alerts import raise_alert
from digests.models import Digest
from dspops.core import calendars, clock
from dspops.core.models import BrokerSnapshot
from dspops.core import vx
from sleeves.models import SpreadPosition
from dspops.core.instruments import vxm_instrument
from sleeves.models import MonitorRun, Sleeve, VrpCsLogEntry

NOW = datetime(2026, 11, 24, 15, 0, tzinfo=timezone.utc)


@pytest.fixture
def position(booted):
    return SpreadPosition.objects.create(
        sleeve=Sleeve.objects.get(code="VRP_CS"), short_leg=vxm_instrument(vx.ContractMonth(2026, 12)),
        long_leg=vxm_instrument(vx.ContractMonth(2027, 1)), quantity=1, short_entry_price=Decimal("17.45"),
        long_entry_price=Decimal("18.10"), entry_date=date(2026, 11, 2), entry_spread=Decimal("0.65"),
        stop_loss_spread=Decimal("0.32"), take_profit_spread=Decimal("1.30"), settlement_date=date(2026, 12, 16),
        roll_by=date(2026, 12, 9))


def test_the_dashboard_shows_alerts_first_then_each_sleeve_and_the_charts(operator_client, position):
    raise_alert(code="roll_due", subject="VXMZ6", severity="warning", message="Roll by 2026-12-09.", now=NOW)
    raise_alert(code="orphan_leg", subject="roll-1", severity="critical", message="BUY 1 VXMG7 now.", now=NOW)
    page = operator_client.get(reverse("admin:index")).content.decode()
    assert page.index('id="alerts-panel"') < page.index('id="panel-vrp-cs"') < page.index('id="charts"')
    assert page.index("BUY 1 VXMG7 now.") < page.index("Roll by 2026-12-09.")  # critical first
    assert "-1 VXMZ6 / +1 VXMF7" in page and 'id="roll-countdown"' in page
    assert page.count("/admin/dashboard/chart/") == 3
    # Numbers and times by the kernel's formats: prices to the tick, sessions with their weekday, New York time as ET.
    assert "0.65 on 2026-11-02 (Mon)" in page and "0.32 / 1.30" in page and "settles 2026-12-16 (Wed)" in page
    assert "2026-11-24 10:00 ET" in page and "EST" not in page


def test_the_dashboard_says_stored_monitor_outputs_in_the_kernel_formats(operator_client, position):
    # Monitor outputs are stored as JSON text ("-88.00", "0.650000"): the page reads them as numbers.
    MonitorRun.objects.create(
        kind="vrp_cs", sleeve=Sleeve.objects.get(code="VRP_CS"), trading_date=date(2026, 11, 24), started_at=NOW,
        finished_at=NOW, status="ok", triggered_by="test",
        outputs={"spread": "0.650000", "pnl_usd": "-88.00", "gate_state": "OPEN", "gate_score": "0.8500"})
    MonitorRun.objects.create(
        kind="vrp_erp", sleeve=Sleeve.objects.get(code="VRP_ERP"), trading_date=date(2026, 11, 24), started_at=NOW,
        finished_at=NOW, status="ok", triggered_by="test",
        outputs={"regime": "NORMAL", "target_shares": 13, "actual_shares": None, "drift_pct": "3.5",
                 "rebalance": False})
    page = operator_client.get(reverse("admin:index")).content.decode()
    assert "<th>Spread</th><td>0.65</td>" in page and '<th>P&amp;L</th><td id="cs-pnl">-$88.00</td>' in page
    assert "OPEN (score 0.85)" in page
    assert "13 / missing shares" in page and "3.50%" in page
    assert page.count("Last run 2026-11-24 10:00 ET") == 2


@pytest.mark.parametrize("name", ["vol", "spread", "erp"])
def test_every_chart_is_an_svg_even_with_no_data(operator_client, position, name):
    response = operator_client.get(reverse("admin:dashboard_chart", args=[name]))
    assert response.status_code == 200 and response["Content-Type"] == "image/svg+xml"
    assert b"<svg" in response.content


def test_the_spread_chart_draws_the_stop_and_take_profit(operator_client, position):
    VrpCsLogEntry.objects.create(logged_at=NOW, trading_date=date(2026, 11, 23), data_status="ok", vx1=Decimal("17.4"),
                                 vx2=Decimal("18.5"), spread=Decimal("1.10"), source="simulated")
    svg = operator_client.get(reverse("admin:dashboard_chart", args=["spread"])).content.decode()
    assert "stop 0.32" in svg and "take-profit 1.30" in svg


def test_a_viewer_sees_no_task_buttons_and_cannot_queue_one(viewer_client, position):
    page = viewer_client.get(reverse("admin:index")).content.decode()
    assert 'id="task-buttons"' not in page
    assert viewer_client.post(reverse("admin:dashboard_run_task", args=["vrp_erp"])).status_code == 403
    assert MonitorRun.objects.count() == 0


def test_a_queued_task_runs_and_the_dashboard_shows_its_result(operator_client, position, settings, broker):
    # A person's button runs whatever day the suite runs: on a closed day it acts on the last session.
    broker("calm_contango")
    settings.DSPOPS_TASKS_SYNC = True
    response = operator_client.post(reverse("admin:dashboard_run_task", args=["vrp_erp"]))
    assert response.status_code == 302 and "?task=" in response["Location"]
    page = operator_client.get(response["Location"]).content.decode()
    assert 'id="task-status"' in page and "Task succeeded" in page
    run = MonitorRun.objects.get(kind="vrp_erp", triggered_by="dashboard")
    assert run.simulated is True and run.trading_date == clock.current_session()


CLOSED_DAYS = [
    pytest.param(datetime(2026, 11, 29, 11, 0), date(2026, 11, 27), id="Sunday"),
    pytest.param(datetime(2026, 11, 28, 11, 0), date(2026, 11, 27), id="Saturday"),
    pytest.param(datetime(2027, 3, 26, 11, 0), date(2027, 3, 25), id="Good Friday"),
    pytest.param(datetime(2027, 6, 18, 11, 0), date(2027, 6, 17), id="Juneteenth"),
]


@pytest.mark.parametrize("moment, last_session", CLOSED_DAYS)
def test_every_button_on_a_closed_day_acts_on_the_last_session_and_says_so(
        operator_client, operator_user, settings, tmp_path, broker, time_machine, moment, last_session):
    # Measured: every "Run now" button on a Sunday recorded "skipped: market closed", so the UI could not
    # build Friday's digest, while the same commands in a shell ran for Friday.
    time_machine.move_to(moment.replace(tzinfo=calendars.NEW_YORK), tick=False)
    operator_client.force_login(operator_user)  # a session made before the move may have expired by then
    settings.DSPOPS_TASKS_SYNC = True
    settings.DIGEST_DIR = digest_dir = tmp_path / "daily_digest"
    broker("calm_contango")
    label = f"{last_session:%a %Y-%m-%d} (the market is closed today)"
    for name in ("vrp_erp", "vrp_cs", "vol_target", "fill_sync", "reconcile", "digest"):
        response = operator_client.post(reverse("admin:dashboard_run_task", args=[name]))
        page = operator_client.get(response["Location"]).content.decode()
        assert 'id="task-status"' in page and "Task succeeded" in page, (name, page)
        assert (label if name != "fill_sync" else "(the market is closed today)") in page, (name, page)
    assert not MonitorRun.objects.filter(status="skipped").exists()
    assert set(MonitorRun.objects.filter(kind__in=["vrp_erp", "vrp_cs", "digest"]).values_list(
        "trading_date", flat=True)) == {last_session}
    digest = Digest.objects.get()
    assert digest.trading_date == last_session
    assert (digest_dir / f"digest_{last_session}.md").exists()


def test_a_failed_task_shows_the_last_line_of_its_error(operator_client, position):
    from django.utils import timezone
    from django_q.models import Task

    Task.objects.create(id="f" * 32, name="dashboard: Run the VRP-ERP monitor", func="sleeves.tasks.vrp_erp_monitor_task",
                        started=timezone.now(), stopped=timezone.now(), success=False,
                        result="Traceback (most recent call last):\n  File ...\nRuntimeError: the broker exploded")
    page = operator_client.get(reverse("admin:index") + "?task=" + "f" * 32).content.decode()
    assert "Task failed" in page and "RuntimeError: the broker exploded" in page and "Traceback" not in page


def test_an_unknown_task_name_is_a_404(operator_client, booted):
    assert operator_client.post(reverse("admin:dashboard_run_task", args=["rm_rf"])).status_code == 404


def test_pages_carry_the_simulated_banner_when_the_broker_data_is_simulated(operator_client, booted):
    assert "SIMULATED BROKER" not in operator_client.get(reverse("admin:index")).content.decode()
    BrokerSnapshot.objects.create(as_of=NOW, account="SIM0100001", simulated=True)
    assert 'id="sim-banner"' in operator_client.get(reverse("admin:index")).content.decode()


def test_the_weekly_review_page_renders_and_stores_nothing(operator_client, booted):
    response = operator_client.get(reverse("admin:dashboard_weekly_review"))
    assert response.status_code == 200
    assert 'id="weekly-review"' in response.content.decode()
    assert MonitorRun.objects.count() == 0


@pytest.mark.parametrize("roll_by", [date(1900, 1, 1), date(2002, 12, 31)])
def test_a_stored_roll_by_outside_the_calendar_is_named_on_the_dashboard_not_a_server_error(operator_client, position,
                                                                                          roll_by):
    # Measured: roll_by = 1900-01-01 saved in the position config made the dashboard return 500. The form now
    # refuses it; a row stored before that is shown with what to do.
    SpreadPosition.objects.filter(pk=position.pk).update(roll_by=roll_by)
    response = operator_client.get(reverse("admin:index"))
    assert response.status_code == 200
    page = response.content.decode()
    assert f"roll-by {roll_by} is outside the exchange calendar (2003-01-01 to 2041-12-31)" in page
    assert (f"Roll-by {roll_by} is outside 2000-01-01 to 2100-12-31" in page) is (roll_by.year < 2000)
