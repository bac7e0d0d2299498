"""The dashboard in a real browser: alerts, charts, a digest made from a button, and a Viewer's view."""

from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from dspops.core.alerts import raise_alert
from digests.models import Digest
from dspops.core import clock
from dspops.bootstrap import bootstrap
from dspops.core import vx
from sleeves.models import SpreadPosition
from dspops.core.instruments import vxm_instrument
from sleeves.models import Sleeve
from tests.e2e.conftest import ARTIFACTS, login

pytestmark = pytest.mark.e2e


@pytest.fixture
def book(transactional_db, broker, settings, today_book):
    broker("calm_contango")
    settings.DSPOPS_TASKS_SYNC = True  # the button's task runs inside the request; no worker in tests
    bootstrap(create_operator=False)
    for name, group in (("olivia", "Operator"), ("victor", "Viewer")):
        user = get_user_model().objects.create_user(username=name, password="pw-for-tests", is_staff=True)
        user.groups.add(Group.objects.get(name=group))
    front, second, _ = today_book.months
    dates = vx.contract_dates(front)
    SpreadPosition.objects.create(
        sleeve=Sleeve.objects.get(code="VRP_CS"), short_leg=vxm_instrument(front), long_leg=vxm_instrument(second),
        quantity=1, short_entry_price=Decimal("17.45"), long_entry_price=Decimal("18.10"),
        entry_date=today_book.session, entry_spread=Decimal("0.65"), stop_loss_spread=Decimal("0.32"),
        take_profit_spread=Decimal("1.30"), settlement_date=dates.settlement_date, roll_by=dates.roll_by)
    raise_alert(code="roll_due", subject=today_book.symbols[0], severity="warning",
                message=f"Roll {today_book.symbols[0]} by {dates.roll_by}.")
    today_book.roll_by = dates.roll_by
    return today_book


def test_the_dashboard_renders_alerts_and_charts_and_a_button_makes_a_digest(page, live_server, book):
    login(page, live_server, "olivia")
    page.goto(f"{live_server.url}/admin/")
    front, second, _ = book.symbols
    assert f"Roll {front} by {book.roll_by}." in page.locator("#alerts-panel").inner_text()
    assert f"-1 {front} / +1 {second}" in page.locator("#panel-vrp-cs").inner_text()
    page.wait_for_function("() => [...document.querySelectorAll('#charts img')].every(i => i.complete && i.naturalWidth > 0)")
    assert page.locator("#charts img").count() == 3
    assert "No digest yet." in page.locator("#latest-digest").inner_text()
    page.click("button[value=digest]")
    page.wait_for_selector("#task-status")
    status = page.locator("#task-status").inner_text()
    assert "Task succeeded" in status, status
    # A person's button acts on the current session: today's, or on a closed day the last one, and says so.
    acting = clock.acting_session()
    assert f"digest for {acting.label()}" in status, status
    assert Digest.objects.get().trading_date == acting.session
    digest_panel = page.locator("#latest-digest").inner_text()
    assert "DSP-100K Daily Digest" in digest_panel and "SIMULATED BROKER" in digest_panel
    page.wait_for_function("() => [...document.querySelectorAll('#charts img')].every(i => i.complete && i.naturalWidth > 0)")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)


def test_a_viewer_sees_the_dashboard_without_any_action_button(page, live_server, book):
    login(page, live_server, "victor")
    page.goto(f"{live_server.url}/admin/")
    assert page.locator("#alerts-panel").count() == 1
    assert page.locator("#task-buttons").count() == 0
    assert page.locator("form[action*='/dashboard/run/']").count() == 0
