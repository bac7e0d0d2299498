"""The aborted-roll story in a real browser, against the TWS simulator (issue 13, "Done when").

An operator plans a real roll, records the four legs, but the broker never saw them (it still holds
the pre-roll spread). Verifying says the recorded fills are not at the broker (never "trade the roll
again"); aborting with the fills reversed in one action books the four reversals, and the dashboard
is back to zero open alerts.
"""

import re

import pytest
from playwright.sync_api import expect

from dspops.core.models import Alert
from rolls.models import RollAttempt, RollState
from sleeves.models import Fill
from tests.e2e.conftest import ARTIFACTS, login
from tests.e2e.test_roll_e2e import execute_and_record_fills, plan, run_checks_and_see
from tests.rolls.test_roll_pages import roll_symbols

# Pre-roll checks need CFE open: the server's clock stands at 11:00 New York on the latest CFE session.
pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("cfe_session_clock")]


def test_legs_the_broker_never_saw_are_diagnosed_and_the_abort_reverses_them_leaving_no_open_alert(
        page, live_server, roll_book, broker):
    old_front, middle, new_back = roll_symbols()
    broker("calm_contango")  # holds -1 old front / +1 middle, before and after: the legs never reach it
    login(page, live_server, "olivia")

    plan(page, live_server, "#plan-roll")
    run_checks_and_see(page, "GO")
    execute_and_record_fills(page)
    assert Fill.objects.filter(sleeve__code="VRP_CS").count() == 4

    page.click("#verify-positions")
    expect(page.locator("#state-title")).to_have_text("Escalated")
    diagnosis = page.locator("#not-at-broker")
    expect(diagnosis).to_contain_text("the recorded fills are not at the broker: check TWS executions, pull fills, "
                                      "or reverse the recorded fills")
    expect(diagnosis).to_contain_text("Do not trade the roll again")
    for order in (f"BUY 1 {old_front}", f"SELL 2 {middle}", f"BUY 1 {new_back}"):  # never the whole roll again
        expect(diagnosis).not_to_contain_text(order)
        expect(page.locator("#history")).not_to_contain_text(order)
    expect(page.locator("#orphans")).to_have_count(0)
    expect(page.locator("#abort-booked-fills li")).to_have_count(4)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "roll_not_at_broker.png"), full_page=True)

    page.fill("#abort-form textarea[name=why]", "TWS shows no executions for the roll")
    page.check("#abort-form input[name=reverse_fills]")
    page.click("#abort-roll")
    expect(page.locator("#state-title")).to_have_text("Aborted")
    expect(page.locator(".messagelist")).to_contain_text("4 recorded fill(s) reversed")
    attempt = RollAttempt.objects.get()
    assert attempt.state == RollState.ABORTED
    assert Fill.objects.filter(reverses__isnull=False).count() == 4
    assert Alert.objects.filter(resolved_at__isnull=True).count() == 0

    # The dashboard is back to zero open alerts: no alert row, and every count in the heading is 0.
    page.goto(f"{live_server.url}/admin/")
    panel = page.locator("#alerts-panel")
    expect(panel).to_contain_text("No open alerts.")
    expect(panel.locator(".alert-row")).to_have_count(0)
    counts = page.locator("#alert-counts").inner_text()
    assert re.findall(r"\d+", counts) and set(re.findall(r"\d+", counts)) == {"0"}, counts
    page.screenshot(path=str(ARTIFACTS / "dashboard_after_aborted_roll.png"), full_page=True)
