"""An operator rolls the VRP-CS spread in a real browser, against the TWS simulator.

A rehearsal on calm_contango walks to Verified and Closed by clicking; a new rehearsal on
wide_markets says DO NOT ROLL and names the widths; a real roll whose broker positions turn out
to be an orphan leg is Escalated with the orders that close it. Screenshots of the three
outcomes are kept in test-artifacts/.
"""

import pytest
from playwright.sync_api import expect

from sleeves.models import SpreadPosition
from rolls.models import RollAttempt, RollState
from tests.e2e.conftest import ARTIFACTS, login
from tests.rolls.test_roll_pages import roll_symbols

# Pre-roll checks need CFE open: the server's clock stands at 11:00 New York on the latest CFE session.
pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("cfe_session_clock")]

# The four legs in the page's order: (ticket, side, which contract, price).
FILLS = (("close", "BUY", 0, "17.50"), ("close", "SELL", 1, "18.55"), ("open", "SELL", 1, "18.55"),
         ("open", "BUY", 2, "19.30"))


def screenshot(page, name: str):
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def plan(page, live_server, button: str):
    page.goto(f"{live_server.url}/admin/rolls/rollattempt/")
    page.click(button)
    expect(page.locator("#state-title")).to_have_text("Planned")


def run_checks_and_see(page, verdict: str):
    page.click("#run-checks")
    expect(page.locator("#verdict")).to_have_text(verdict)


def execute_and_record_fills(page):
    page.click("#start-executing")
    expect(page.locator("#state-title")).to_have_text("Executing")
    expect(page.locator("#fill-forms form")).to_have_count(4)
    symbols = roll_symbols()
    for leg, (ticket, side, contract, price) in enumerate(FILLS):
        form = page.locator(f"#fill-{leg}")
        expect(form).to_contain_text(f"{ticket} ticket: {side} {symbols[contract]}")
        form.locator(f"input[name=leg{leg}-price]").fill(price)
        form.locator("button[type=submit]").click()
        expect(page.locator(".messagelist")).to_contain_text(
            f"Recorded {side} 1 {symbols[contract]} @ {price} ({ticket} ticket)")
    expect(page.locator("#state-title")).to_have_text("Legs filled")


def test_a_rehearsal_rolls_to_verified_by_clicking_then_wide_markets_say_do_not_roll(page, live_server, roll_book, broker):
    old_front, middle, new_back = roll_symbols()
    broker("calm_contango")
    login(page, live_server, "olivia")

    plan(page, live_server, "#plan-rehearsal")
    expect(page.locator("#rehearsal-mark")).to_have_text("REHEARSAL")
    run_checks_and_see(page, "GO")
    expect(page.locator("#verdict")).to_have_class("verdict-go")
    expect(page.locator("#check-results .fail")).to_have_count(0)
    expect(page.locator("#tws-fields-1")).to_contain_text("Combo action")
    expect(page.locator("#net-legs")).to_contain_text(f"{middle}")
    execute_and_record_fills(page)
    expect(page.locator("#verify")).to_contain_text("the position config will not change")
    page.click("#verify-positions")
    expect(page.locator("#state-title")).to_have_text("Verified")
    expect(page.locator(".messagelist")).to_contain_text("Verified: Positions match the target")
    screenshot(page, "roll_verified.png")
    page.click("#close-roll")
    expect(page.locator("#state-title")).to_have_text("Closed")
    roll_book.refresh_from_db()
    assert str(roll_book.short_leg) == old_front  # a rehearsal never changes the config

    broker("wide_markets")
    plan(page, live_server, "#plan-rehearsal")
    run_checks_and_see(page, "DO NOT ROLL")
    expect(page.locator("#verdict")).to_have_class("verdict-nogo")
    expect(page.locator("#check-old_front_width")).to_contain_text("bid/ask width 0.35 is above 0.15")
    expect(page.locator("#check-middle_width")).to_contain_text("bid/ask width 0.35 is above 0.15")
    expect(page.locator("#check-new_back_width")).to_contain_text("bid/ask width 0.50 is above 0.20")
    expect(page.locator("#check-combo_width")).to_contain_text("is above 0.30")
    expect(page.locator("#no-tickets")).to_be_visible()
    expect(page.locator("#start-executing")).to_have_count(0)
    screenshot(page, "roll_nogo.png")
    page.fill("#abort-form textarea[name=why]", "Markets too wide; try again at 09:30")
    page.click("#abort-roll")
    expect(page.locator("#state-title")).to_have_text("Aborted")
    assert list(RollAttempt.objects.order_by("id").values_list("state", flat=True)) == [RollState.CLOSED,
                                                                                        RollState.ABORTED]


def test_a_real_roll_left_with_an_orphan_leg_is_escalated_with_the_orders_to_close_it(page, live_server, roll_book, broker):
    old_front, middle, new_back = roll_symbols()
    broker("calm_contango")
    login(page, live_server, "olivia")

    plan(page, live_server, "#plan-roll")
    expect(page.locator("#rehearsal-mark")).to_have_count(0)
    run_checks_and_see(page, "GO")
    execute_and_record_fills(page)
    # Entry 19.30 - 18.55 from the open ticket's fills; defaults 0.5x / 2x, editable.
    expect(page.locator("#entry-spread")).to_have_text("0.75")  # to the tick (formats.price), no longer the raw Decimal
    expect(page.locator("input[name=stop_loss_spread]")).to_have_value("0.38")
    expect(page.locator("input[name=take_profit_spread]")).to_have_value("1.50")

    broker("orphan_leg")  # the broker now holds only a short old front
    page.click("#verify-positions")
    expect(page.locator("#state-title")).to_have_text("Escalated")
    orphans = page.locator("#orphans")
    expect(orphans).to_contain_text(f"BUY 1 {old_front} to close the old front")
    expect(orphans).to_contain_text(f"SELL 1 {middle}")
    expect(orphans).to_contain_text(f"BUY 1 {new_back}")
    screenshot(page, "roll_escalated.png")
    position = SpreadPosition.objects.get(is_active=True)
    assert str(position.short_leg) == old_front  # an escalated roll leaves the config alone

    # The printable runbook of this roll: its tickets and net legs, without the admin chrome on paper.
    page.click("#runbook-link")
    expect(page.locator("#runbook-roll")).to_contain_text(f"Roll #{position.roll_attempts.get().pk}")
    expect(page.locator("#tws-fields-2")).to_contain_text("Limit price")
    page.emulate_media(media="print")
    expect(page.locator("#header")).to_be_hidden()
    expect(page.locator("#nav-sidebar")).to_be_hidden()
    expect(page.locator("#runbook-checks")).to_be_visible()
    screenshot(page, "roll_runbook_print.png")
