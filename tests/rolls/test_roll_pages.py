"""The roll's admin pages: the changelist, the checklist page and its POST steps, the runbook.

Against the TWS simulator over TCP (the `broker` fixture), with the real roll service behind every
button. The book is the running one: -1 front / +1 second VXM, gate OPEN today.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.apps import apps
from django.contrib.admin.models import CHANGE, LogEntry
from django.urls import reverse
from django.utils import timezone

from dspops.core.models import Alert
from dspops.core import clock
from dspops.core import vx
from sleeves.models import SpreadPosition
from rolls.models import RollAttempt, RollLegFill, RollState
from rolls.roll_service import plan_roll, run_checks
from dspops.core.instruments import vxm_instrument
from sleeves.models import Fill, SignalState, Sleeve

# Pre-roll checks need CFE open: pin 11:00 New York on the latest CFE session, so the suite holds on any day.
pytestmark = pytest.mark.usefixtures("cfe_session_clock")

D = Decimal


def make_book(quantity: int = 1) -> SpreadPosition:
    """The running book as of today: -q front / +q second VXM, entry 0.65, gate OPEN this session."""
    front, second, _ = vx.front_contracts(clock.trading_date())
    dates = vx.contract_dates(front, sessions_before=5)
    sleeve = Sleeve.objects.get(code="VRP_CS")
    position = SpreadPosition.objects.create(
        sleeve=sleeve, short_leg=vxm_instrument(front), long_leg=vxm_instrument(second), quantity=quantity,
        short_entry_price=D("17.45"), long_entry_price=D("18.10"), entry_date=clock.trading_date() - timedelta(days=20),
        entry_spread=D("0.65"), stop_loss_spread=D("0.32"), take_profit_spread=D("1.30"),
        settlement_date=dates.settlement_date, roll_by=dates.roll_by)
    session = clock.current_session()
    SignalState.objects.create(sleeve=sleeve, name="gate", state="OPEN", since_session=session - timedelta(days=20),
                               last_session=session, source="simulated")
    return position


def roll_symbols() -> tuple[str, str, str]:
    return tuple(m.local_symbol() for m in vx.front_contracts(clock.trading_date()))


@pytest.fixture
def book(booted):
    return make_book()


def checklist(attempt) -> str:
    return reverse("admin:rolls_rollattempt_checklist", args=[attempt.pk])


def step(attempt, action: str) -> str:
    return reverse("admin:rolls_rollattempt_action", args=[attempt.pk, action])


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


def post_step(client, attempt, action, data=None):
    """POST one checklist step and follow the redirect back to the checklist."""
    response = client.post(step(attempt, action), data or {}, follow=True)
    assert response.redirect_chain[-1][0] == checklist(attempt)
    return response


# The legs in the page's order: close (BUY old front, SELL middle), open (SELL middle, BUY new back).
FILL_PRICES = {0: "17.50", 1: "18.55", 2: "18.55", 3: "19.30"}


def record_all_fills(client, attempt):
    now_ny = timezone.localtime(clock.now()).strftime("%Y-%m-%d %H:%M:%S")  # TIME_ZONE is New York
    response = None
    for leg, price in FILL_PRICES.items():
        response = post_step(client, attempt, "record-fill", {
            "leg": str(leg), f"leg{leg}-quantity": "1", f"leg{leg}-price": price, f"leg{leg}-executed_at": now_ny})
    return response


def go_and_execute(client, attempt):
    post_step(client, attempt, "run-checks")
    attempt.refresh_from_db()
    assert attempt.state == RollState.CHECKED_GO
    post_step(client, attempt, "start-executing")
    attempt.refresh_from_db()
    assert attempt.state == RollState.EXECUTING


# --- the changelist --------------------------------------------------------------------------------


def test_the_changelist_links_each_roll_to_its_checklist_and_offers_the_plan_buttons(book, operator_client,
                                                                                     operator_user):
    attempt = plan_roll(user=operator_user, rehearsal=True)
    page = operator_client.get(reverse("admin:rolls_rollattempt_changelist")).content.decode()
    assert checklist(attempt) in page
    assert 'id="plan-roll"' in page and 'id="plan-rehearsal"' in page
    assert "Planned" in page and "olivia" in page
    assert reverse("admin:rolls_rollattempt_runbook") in page


def test_planning_a_rehearsal_opens_its_checklist_with_the_state_explained(book, operator_client):
    response = operator_client.post(reverse("admin:rolls_rollattempt_plan_rehearsal"), follow=True)
    attempt = RollAttempt.objects.get()
    assert attempt.rehearsal and response.redirect_chain[-1][0] == checklist(attempt)
    page = response.content.decode()
    assert 'id="rehearsal-mark"' in page and "REHEARSAL" in page
    assert "Planned" in page and "Nothing has been checked or traded yet." in page
    assert "Run the pre-roll checks (about 09:45 New York time, once CFE is open)." in page
    assert "Not checked yet." in page and 'id="run-checks"' in page
    history = re.search(r'id="history".*?</table>', page, re.S).group(0)
    # Times in New York, labelled ET by the kernel's formats (no longer EST/EDT).
    assert "Rehearsal planned" in history and "olivia" in history
    assert re.search(r"<td>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d ET</td>", history) and "EST" not in history
    entry = LogEntry.objects.get()
    assert entry.object_id == str(attempt.pk) and "Rehearsal planned" in entry.get_change_message()


def test_the_default_change_form_leads_to_the_checklist(book, operator_client, operator_user):
    attempt = plan_roll(user=operator_user)
    response = operator_client.get(reverse("admin:rolls_rollattempt_change", args=[attempt.pk]))
    assert response.status_code == 302 and response["Location"] == checklist(attempt)


# --- checks and tickets ----------------------------------------------------------------------------


def test_a_go_check_shows_the_verdict_every_check_the_tickets_and_the_tws_fields(book, broker, operator_client,
                                                                                operator_user):
    broker("calm_contango")
    old_front, middle, new_back = roll_symbols()
    attempt = plan_roll(user=operator_user, rehearsal=True)
    response = post_step(operator_client, attempt, "run-checks")
    page = response.content.decode()
    assert any("Pre-roll checks (live quotes): GO" in m for m in messages_of(response))
    assert '<div class="verdict-go" id="verdict">GO</div>' in page
    assert "DO NOT ROLL" not in page.split('id="tickets"')[0]
    assert "Checked: GO" in page and "Data from the SIMULATED BROKER" in page
    rows = re.findall(r'<tr id="check-(\w+)">(.*?)</tr>', page, re.S)
    assert [name for name, _ in rows] == ["gate", "vix", "spread", "old_front_width", "middle_width",
                                          "new_back_width", "combo_width", "positions", "margin", "market_data", "cfe_open"]
    assert all('class="pass">PASS' in row for _, row in rows)
    vix_row = dict(rows)["vix"]
    assert "16.12" in vix_row and "&lt; 30" in vix_row
    # Two tickets, close first, with the TWS combo screen to copy.
    assert "Ticket 1: Close the old spread — SELL 1 combo" in page
    assert "Ticket 2: Open the new spread — BUY 1 combo" in page
    tws = re.search(r'id="tws-fields-2".*?</table>', page, re.S).group(0)
    assert "Combo action" in tws and "<code>BUY</code>" in tws and f"<code>{new_back}</code>" in tws
    assert "Limit price" in tws and "Time in force" in tws
    net = re.search(r'id="net-legs".*?</table>', page, re.S).group(0)
    assert re.findall(r"<td>(VXM\w+)</td><td>[^<]*</td><td>([+-]\d)</td>", net) == [
        (old_front, "+1"), (middle, "-2"), (new_back, "+1")]
    assert 'id="start-executing"' in page and "I am placing these orders in TWS" in page
    assert LogEntry.objects.filter(action_flag=CHANGE, change_message__contains="GO").exists()


def test_wide_markets_say_do_not_roll_name_the_failing_widths_and_show_no_tickets(book, broker, operator_client,
                                                                                  operator_user):
    broker("wide_markets")
    attempt = plan_roll(user=operator_user, rehearsal=True)
    response = post_step(operator_client, attempt, "run-checks")
    page = response.content.decode()
    assert '<div class="verdict-nogo" id="verdict">DO NOT ROLL</div>' in page
    rows = dict(re.findall(r'<tr id="check-(\w+)">(.*?)</tr>', page, re.S))
    for name in ("old_front_width", "middle_width", "new_back_width", "combo_width"):
        assert 'class="fail">FAIL' in rows[name], name
    assert "bid/ask width 0.35 is above 0.15" in rows["old_front_width"]
    assert "bid/ask width 0.50 is above 0.20" in rows["new_back_width"]
    assert 'class="pass">PASS' in rows["gate"]
    assert 'id="no-tickets"' in page and 'id="tws-fields-1"' not in page
    assert 'id="start-executing"' not in page
    assert any("DO NOT ROLL" in m and "VX1 bid/ask width" in m for m in messages_of(response))


def test_typed_quotes_are_marked_manual_and_unreadable_positions_fail(book, operator_client, operator_user, settings):
    settings.IB_HOST, settings.IB_PORT, settings.IB_CONNECT_TIMEOUT = "127.0.0.1", 9, 1.0  # nothing listens
    old_front, middle, new_back = roll_symbols()
    attempt = plan_roll(user=operator_user, rehearsal=True)
    response = post_step(operator_client, attempt, "manual-checks", {
        f"bid_{old_front}": "17.45", f"ask_{old_front}": "17.50", f"bid_{middle}": "18.55", f"ask_{middle}": "18.60",
        f"bid_{new_back}": "19.25", f"ask_{new_back}": "19.30", "vix": "16.1"})
    page = response.content.decode()
    assert 'id="manual-mark"' in page and "quotes typed by the operator" in page
    rows = dict(re.findall(r'<tr id="check-(\w+)">(.*?)</tr>', page, re.S))
    assert 'class="pass">PASS' in rows["old_front_width"] and 'class="manual">MANUAL' in rows["old_front_width"]
    assert 'class="fail">FAIL' in rows["positions"] and "positions could not be read" in rows["positions"]
    assert "DO NOT ROLL" in page and 'id="data-unavailable"' in page
    quotes = re.search(r'id="check-quotes".*?</table>', page, re.S).group(0)
    assert quotes.count('class="manual">MANUAL') == 4  # three legs and VIX


def test_a_typed_quote_that_is_not_a_number_is_refused_with_a_message(book, operator_client, operator_user):
    old_front = roll_symbols()[0]
    attempt = plan_roll(user=operator_user, rehearsal=True)
    response = post_step(operator_client, attempt, "manual-checks", {f"bid_{old_front}": "abc"})
    assert any("The typed quotes cannot be used" in m and f"{old_front} bid" in m for m in messages_of(response))
    attempt.refresh_from_db()
    assert attempt.state == RollState.PLANNED and not attempt.checks.exists()


def test_a_negative_typed_price_is_refused_by_the_form_never_a_500(book, operator_client, operator_user):
    old_front = roll_symbols()[0]
    attempt = plan_roll(user=operator_user, rehearsal=True)
    response = post_step(operator_client, attempt, "manual-checks", {f"bid_{old_front}": "-1", f"ask_{old_front}": "17.5",
                                                                     "vix": "-1"})
    [message] = messages_of(response)
    assert f"{old_front} bid: Ensure this value is greater than or equal to 0" in message and "VIX: Ensure" in message
    assert not attempt.checks.exists()


# --- executing, verifying, closing -----------------------------------------------------------------


def test_a_rehearsal_walks_to_closed_one_post_at_a_time(book, broker, operator_client, operator_user):
    broker("calm_contango")
    attempt = plan_roll(user=operator_user, rehearsal=True)
    go_and_execute(operator_client, attempt)
    page = operator_client.get(checklist(attempt)).content.decode()
    assert "Executing" in page and 'id="legs"' in page and 'id="pull-fills"' in page
    assert page.count('class="roll-form fill-form"') == 4 and 'id="run-checks"' not in page
    response = record_all_fills(operator_client, attempt)
    attempt.refresh_from_db()
    assert attempt.state == RollState.LEGS_FILLED
    page = response.content.decode()
    legs = re.search(r'id="legs".*?</table>', page, re.S).group(0)
    assert legs.count('class="pass">filled') == 4 and "19.3" in legs
    assert 'id="verify-positions"' in page and "the position config will not change" in page
    assert 'name="stop_loss_spread"' not in page
    response = post_step(operator_client, attempt, "verify")
    assert any(m.startswith("Verified: ") for m in messages_of(response))
    attempt.refresh_from_db()
    assert attempt.state == RollState.VERIFIED
    assert 'id="close-roll"' in response.content.decode()
    post_step(operator_client, attempt, "close")
    attempt.refresh_from_db()
    assert attempt.state == RollState.CLOSED
    assert Fill.objects.count() == 0 and RollLegFill.objects.filter(attempt=attempt).count() == 4
    book.refresh_from_db()
    assert str(book.short_leg) == roll_symbols()[0]
    logged = list(LogEntry.objects.filter(object_id=str(attempt.pk)).order_by("id").values_list("change_message",
                                                                                                flat=True))
    assert len(logged) == 8  # checks, executing, four fills, verified, closed
    page = operator_client.get(checklist(attempt)).content.decode()
    assert "Closed" in page and "<form" not in page.split('id="roll-checklist"')[1]


def _trade_the_combos_in_tws(port: int, symbols: tuple[str, str, str]):
    """Play the operator in TWS: send the two roll combos to the simulator (its own thread and loop)."""
    from ib_insync import IB, ComboLeg, Contract, LimitOrder

    def run():
        asyncio.set_event_loop(asyncio.new_event_loop())
        ib = IB()
        ib.connect("127.0.0.1", port, clientId=451, timeout=5)
        try:
            ids = {}
            for symbol in symbols:
                (details,) = ib.reqContractDetails(Contract(secType="FUT", symbol="VXM", exchange="CFE",
                                                            localSymbol=symbol))
                ids[symbol] = details.contract.conId
            combos = ((symbols[0], symbols[1], "SELL", 1.05), (symbols[1], symbols[2], "BUY", 0.75))
            for near, far, action, limit in combos:
                bag = Contract(secType="BAG", symbol="VXM", exchange="CFE", currency="USD", comboLegs=[
                    ComboLeg(conId=ids[near], ratio=1, action="SELL", exchange="CFE"),
                    ComboLeg(conId=ids[far], ratio=1, action="BUY", exchange="CFE")])
                ib.placeOrder(bag, LimitOrder(action, 1, limit, orderRef="vrp-cs roll"))
            ib.sleep(0.5)
        finally:
            ib.disconnect()
            asyncio.get_event_loop().close()

    worker = threading.Thread(target=run)
    worker.start()
    worker.join(30)


def test_pull_fills_takes_the_legs_of_the_combos_traded_in_tws(book, broker, operator_client, operator_user):
    server = broker("calm_contango")
    attempt = plan_roll(user=operator_user, rehearsal=True)
    go_and_execute(operator_client, attempt)
    response = post_step(operator_client, attempt, "pull-fills")
    assert any("no new fills" in m for m in messages_of(response))
    time.sleep(1.1)  # executions are stamped to the second; execution began within the last one
    _trade_the_combos_in_tws(server.port, roll_symbols())
    response = post_step(operator_client, attempt, "pull-fills")
    assert any(m.startswith("Pulled 4 fill(s) from IBKR") for m in messages_of(response)), messages_of(response)
    attempt.refresh_from_db()
    assert attempt.state == RollState.LEGS_FILLED
    assert set(attempt.leg_fills.values_list("source", flat=True)) == {"ibkr"}


def test_a_late_leg_is_shown_by_the_page_and_alerted_by_the_next_fill_action(book, broker, operator_client,
                                                                             operator_user, monkeypatch):
    broker("calm_contango")
    attempt = plan_roll(user=operator_user, rehearsal=True)
    go_and_execute(operator_client, attempt)
    attempt.refresh_from_db()
    later = attempt.executing_since + timedelta(minutes=16)
    monkeypatch.setattr("dspops.core.clock.now", lambda: later)
    page = operator_client.get(checklist(attempt)).content.decode()
    assert page.count('class="fail late-leg"') == 4 and "still unfilled after 16 minutes" in page
    # A GET never writes: the page shows the warning; the alert comes from a POST (or the roll check task).
    assert not Alert.objects.filter(code="roll_leg_unfilled").exists()
    post_step(operator_client, attempt, "pull-fills")
    alert = Alert.objects.get(code="roll_leg_unfilled")
    assert alert.severity == "warning" and "still unfilled after 16 minutes" in alert.message


def database_rows() -> dict[str, list]:
    """Every row of every table (the history tables and the alerts included), in key order."""
    return {model._meta.label: list(model._base_manager.order_by("pk").values_list())
            for model in apps.get_models()}


def shown_without_writing(client, url: str) -> str:
    before = database_rows()
    response = client.get(url)
    after = database_rows()
    assert response.status_code == 200, url
    changed = {table: (len(before[table]), len(after[table])) for table in before if before[table] != after[table]}
    assert not changed, f"GET {url} wrote to {changed}"
    return response.content.decode()


def test_showing_the_checklist_or_the_runbook_writes_nothing_in_any_roll_state(book, broker, operator_client,
                                                                              operator_user, monkeypatch):
    seen = set()

    def look(attempt) -> str:
        attempt.refresh_from_db()
        seen.add(attempt.state)
        shown_without_writing(operator_client, f"{reverse('admin:rolls_rollattempt_runbook')}?attempt={attempt.pk}")
        return shown_without_writing(operator_client, checklist(attempt))

    broker("wide_markets")
    rehearsal = plan_roll(user=operator_user, rehearsal=True)
    look(rehearsal)
    post_step(operator_client, rehearsal, "run-checks")
    look(rehearsal)
    post_step(operator_client, rehearsal, "abort", {"why": "markets too wide"})
    look(rehearsal)

    broker("calm_contango")
    attempt = plan_roll(user=operator_user)
    post_step(operator_client, attempt, "run-checks")
    look(attempt)
    post_step(operator_client, attempt, "start-executing")
    attempt.refresh_from_db()
    later = attempt.executing_since + timedelta(minutes=16)
    monkeypatch.setattr("dspops.core.clock.now", lambda: later)
    assert look(attempt).count('class="fail late-leg"') == 4  # shown, and (above) nothing written
    record_all_fills(operator_client, attempt)
    look(attempt)
    broker("orphan_leg")
    post_step(operator_client, attempt, "verify", {"stop_loss_spread": "0.38", "take_profit_spread": "1.50"})
    assert 'id="orphans"' in look(attempt)
    broker("calm_contango", {"positions": [{"contract": "second", "quantity": -1, "avg_cost": 1855.0},
                                           {"contract": "third", "quantity": 1, "avg_cost": 1930.0}]})
    post_step(operator_client, attempt, "verify", {"stop_loss_spread": "0.38", "take_profit_spread": "1.50"})
    look(attempt)
    post_step(operator_client, attempt, "close")
    look(attempt)
    assert seen == set(RollState), sorted(set(RollState) - seen)


def test_a_real_roll_prefills_the_default_levels_and_saves_the_edited_ones(book, broker, operator_client,
                                                                          operator_user):
    broker("calm_contango")
    _, middle, new_back = roll_symbols()
    attempt = plan_roll(user=operator_user)
    go_and_execute(operator_client, attempt)
    page = record_all_fills(operator_client, attempt).content.decode()
    # Entry 19.30 - 18.55 = 0.75 from the open ticket; defaults 0.5x and 2x.
    assert re.search(r'id="entry-spread">0\.75', page)
    assert re.search(r'name="stop_loss_spread" value="0\.38"', page)
    assert re.search(r'name="take_profit_spread" value="1\.50"', page)
    assert Fill.objects.filter(sleeve__code="VRP_CS").count() == 4
    broker("calm_contango", {"positions": [{"contract": "second", "quantity": -1, "avg_cost": 1855.0},
                                           {"contract": "third", "quantity": 1, "avg_cost": 1930.0}]})
    response = post_step(operator_client, attempt, "verify", {"stop_loss_spread": "0.40",
                                                              "take_profit_spread": "1.45"})
    assert any("The position config now holds the new legs" in m for m in messages_of(response))
    book.refresh_from_db()
    assert (str(book.short_leg), str(book.long_leg)) == (middle, new_back)
    assert (book.entry_spread, book.stop_loss_spread, book.take_profit_spread) == (D("0.75"), D("0.40"), D("1.45"))


def test_a_stop_on_the_profit_side_is_refused_with_the_services_reason(book, broker, operator_client, operator_user):
    broker("calm_contango")
    attempt = plan_roll(user=operator_user)
    go_and_execute(operator_client, attempt)
    record_all_fills(operator_client, attempt)
    broker("calm_contango", {"positions": [{"contract": "second", "quantity": -1, "avg_cost": 1855.0},
                                           {"contract": "third", "quantity": 1, "avg_cost": 1930.0}]})
    response = post_step(operator_client, attempt, "verify", {"stop_loss_spread": "0.90", "take_profit_spread": "1.50"})
    assert any("must be below the entry spread" in m for m in messages_of(response))
    attempt.refresh_from_db()
    assert attempt.state == RollState.LEGS_FILLED


def test_an_orphan_leg_escalates_and_the_page_shows_the_orders_that_close_it(book, broker, operator_client,
                                                                            operator_user):
    broker("calm_contango")
    old_front, middle, new_back = roll_symbols()
    attempt = plan_roll(user=operator_user)
    go_and_execute(operator_client, attempt)
    record_all_fills(operator_client, attempt)
    broker("orphan_leg")
    response = post_step(operator_client, attempt, "verify", {"stop_loss_spread": "0.38", "take_profit_spread": "1.50"})
    attempt.refresh_from_db()
    assert attempt.state == RollState.ESCALATED
    assert any(m.startswith("ESCALATED: Roll not complete") for m in messages_of(response))
    page = response.content.decode()
    assert "Escalated" in page
    orphans = re.search(r'id="orphans".*?</div>', page, re.S).group(0)
    assert f"BUY 1 {old_front} to close the old front" in orphans
    assert f"SELL 1 {middle}" in orphans and f"BUY 1 {new_back}" in orphans
    assert Alert.objects.get(code="orphan_leg").severity == "critical"
    assert 'id="verify-positions"' in page and 'id="abort-roll"' in page
    book.refresh_from_db()
    assert str(book.short_leg) == old_front


def test_abort_needs_a_reason_and_records_it(book, operator_client, operator_user):
    attempt = plan_roll(user=operator_user, rehearsal=True)
    response = post_step(operator_client, attempt, "abort", {"why": ""})
    assert any("why the roll is aborted" in m for m in messages_of(response))
    attempt.refresh_from_db()
    assert attempt.state == RollState.PLANNED
    post_step(operator_client, attempt, "abort", {"why": "VIX spiking; try tomorrow"})
    attempt.refresh_from_db()
    assert attempt.state == RollState.ABORTED
    assert attempt.transitions.last().why == "VIX spiking; try tomorrow"


# --- errors become messages ------------------------------------------------------------------------


def test_a_roll_error_becomes_a_message_never_a_500(book, broker, operator_client, operator_user):
    broker("wide_markets")
    attempt = plan_roll(user=operator_user, rehearsal=True)
    run_checks(attempt=attempt, user=operator_user, role="test")
    attempt.refresh_from_db()
    response = post_step(operator_client, attempt, "start-executing")
    assert response.status_code == 200
    assert any("The latest pre-roll check is not GO: do not trade." in m for m in messages_of(response))
    response = post_step(operator_client, attempt, "close")
    assert any("cannot become Closed" in m for m in messages_of(response))
    response = operator_client.post(reverse("admin:rolls_rollattempt_plan_rehearsal"), follow=True)
    assert any("is still open; finish or abort it first" in m for m in messages_of(response))


def test_planning_without_a_position_says_what_to_do(booted, operator_client):
    response = operator_client.post(reverse("admin:rolls_rollattempt_plan"), follow=True)
    assert response.status_code == 200
    assert any("There is no active VRP-CS position config to roll" in m for m in messages_of(response))
    assert not RollAttempt.objects.exists()


def test_a_stale_go_offers_no_execute_button_and_the_service_refuses_it(book, broker, operator_client, operator_user,
                                                                       monkeypatch):
    broker("calm_contango")
    attempt = plan_roll(user=operator_user, rehearsal=True)
    post_step(operator_client, attempt, "run-checks")
    later = clock.now() + timedelta(minutes=6)
    monkeypatch.setattr("dspops.core.clock.now", lambda: later)
    page = operator_client.get(checklist(attempt)).content.decode()
    assert 'id="go-stale"' in page and 'id="start-executing"' not in page
    response = post_step(operator_client, attempt, "start-executing")
    assert any("re-run the checks before trading" in m for m in messages_of(response))


def test_a_page_shown_before_someone_else_moved_the_roll_changes_nothing(book, operator_client, operator_user):
    from rolls.roll_service import abort

    attempt = plan_roll(user=operator_user, rehearsal=True)
    shown_version = attempt.version
    abort(attempt=RollAttempt.objects.get(pk=attempt.pk), user=operator_user, why="the other operator")
    response = post_step(operator_client, attempt, "abort", {"why": "me too", "version": str(shown_version)})
    assert any("changed since the page was shown" in m for m in messages_of(response))
    assert attempt.transitions.filter(to_state="aborted").count() == 1


def test_steps_are_posts_only(book, operator_client, operator_user):
    attempt = plan_roll(user=operator_user, rehearsal=True)
    before = database_rows()
    for url in [step(attempt, action) for action in STEPS] + [reverse("admin:rolls_rollattempt_plan"),
                                                              reverse("admin:rolls_rollattempt_plan_rehearsal")]:
        response = operator_client.get(url)
        assert response.status_code == 405 and response["Allow"] == "POST", url
    assert database_rows() == before
    assert operator_client.post(step(attempt, "delete-everything")).status_code == 404


# --- the viewer --------------------------------------------------------------------------------------


STEPS = ["run-checks", "manual-checks", "start-executing", "record-fill", "pull-fills", "verify", "close", "abort"]


@pytest.mark.parametrize("action", STEPS)
def test_a_viewer_is_refused_every_step(book, viewer_client, operator_user, action):
    attempt = plan_roll(user=operator_user, rehearsal=True)
    response = viewer_client.post(step(attempt, action), {"why": "viewer", "leg": "0"})
    assert response.status_code == 403
    attempt.refresh_from_db()
    assert attempt.state == RollState.PLANNED and attempt.transitions.count() == 1


def test_a_viewer_cannot_plan_and_sees_no_buttons_or_forms(book, broker, viewer_client, operator_user):
    broker("calm_contango")
    for url in ("admin:rolls_rollattempt_plan", "admin:rolls_rollattempt_plan_rehearsal"):
        assert viewer_client.post(reverse(url)).status_code == 403
    assert not RollAttempt.objects.exists()
    attempt = plan_roll(user=operator_user, rehearsal=True)
    run_checks(attempt=attempt, user=operator_user, role="test")
    changelist = viewer_client.get(reverse("admin:rolls_rollattempt_changelist")).content.decode()
    assert 'id="plan-roll"' not in changelist and checklist(attempt) in changelist
    response = viewer_client.get(checklist(attempt))
    assert response.status_code == 200
    page = response.content.decode()
    assert 'class="verdict-go" id="verdict">GO' in page and 'id="tws-fields-1"' in page
    assert "<form" not in page.split('id="roll-checklist"')[1] and "<button" not in page.split('id="roll-checklist"')[1]


# --- the runbook -----------------------------------------------------------------------------------


def test_the_runbook_prints_the_checklist_with_todays_thresholds_the_rules_timeline_and_states(book, operator_client):
    old_front, middle, _ = roll_symbols()
    page = operator_client.get(reverse("admin:rolls_rollattempt_runbook")).content.decode()
    checks_table = re.search(r'id="runbook-checks".*?</table>', page, re.S).group(0)
    requirements = re.findall(r"<tr><td>([^<]+)</td><td>([^<]+)</td>", checks_table)
    assert ("VIX below the limit", "&lt; 30.00") in requirements
    assert ("Spread VX2 - VX1", "&gt; 0.50") in requirements
    assert ("VX1 bid/ask width", "&lt;= 0.15") in requirements
    assert ("New back-month width", "&lt;= 0.20") in requirements
    assert ("Combo market width", "&lt;= 0.30 (each combo)") in requirements
    assert ("Margin headroom (excess liquidity)", "&gt;= $3,000.00") in requirements
    assert ("Positions", f"{old_front} -1, {middle} +1, nothing else in VXM") in requirements
    assert ("CFE open now", "inside the session&#x27;s trading hours") in requirements
    assert len(requirements) == 11
    assert "Orphan leg: close it immediately." in page and "A leg unfilled after 15 minutes" in page
    timeline = re.search(r'id="timeline".*?</table>', page, re.S).group(0)
    assert [t for t in ("09:45", "10:00", "10:15", "10:30") if t in timeline] == ["09:45", "10:00", "10:15", "10:30"]
    states = re.search(r'id="runbook-states".*?</table>', page, re.S).group(0)
    assert "Escalated" in states and "close the orphan leg now" in states
    assert "never trade the roll again" in states
    assert "@media print" in page and "#header" in page


def test_the_runbook_of_a_planned_roll_shows_its_tickets_and_net_legs(book, broker, operator_client, operator_user):
    from sleeves.models import SleeveParameter

    broker("calm_contango")
    old_front, middle, new_back = roll_symbols()
    SleeveParameter.objects.filter(sleeve__code="VRP_CS", key="max_vix").update(value="25")
    attempt = plan_roll(user=operator_user, rehearsal=True)
    page = operator_client.get(reverse("admin:rolls_rollattempt_runbook")).content.decode()
    assert re.search(rf'id="runbook-roll">This roll: Rehearsal #{attempt.pk}: .*? — REHEARSAL</h2>', page)
    assert "Not checked yet" in page and 'id="net-legs"' in page and "&lt; 25" in page
    run_checks(attempt=attempt, user=operator_user, role="test")
    checklist_page = operator_client.get(checklist(attempt)).content.decode()
    assert f"{reverse('admin:rolls_rollattempt_runbook')}?attempt={attempt.pk}" in checklist_page
    page = operator_client.get(reverse("admin:rolls_rollattempt_runbook"), {"attempt": attempt.pk}).content.decode()
    assert 'id="tws-fields-1"' in page and 'id="tws-fields-2"' in page
    net = re.search(r'id="net-legs".*?</table>', page, re.S).group(0)
    assert re.findall(r"<td>(VXM\w+)</td><td>[^<]*</td><td>([+-]\d)</td>", net) == [
        (old_front, "+1"), (middle, "-2"), (new_back, "+1")]


def test_the_rolls_records_are_readable_and_read_only(book, broker, viewer_client, operator_user):
    from rolls.models import RollCheck

    broker("calm_contango")
    attempt = plan_roll(user=operator_user, rehearsal=True)
    check = run_checks(attempt=attempt, user=operator_user, role="test")
    for model in ("rolltransition", "rollcheck", "checkresult", "rolllegfill"):
        page = viewer_client.get(reverse(f"admin:rolls_{model}_changelist")).content.decode()
        assert "addlink" not in page, model
    page = viewer_client.get(reverse("admin:rolls_rollcheck_change", args=[check.pk])).content.decode()
    assert "Margin headroom (excess liquidity)" in page and checklist(attempt) in page
    assert RollCheck.objects.count() == 1
