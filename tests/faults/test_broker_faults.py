"""Broker faults, end to end: the simulator over TCP -> the monitors and the pre-roll checks.

Each fault gives a failed check or a DATA UNAVAILABLE run that names what is missing. Never a
GO, and never a number where the broker sent none (DECISIONS.md section 1). The first test is
the control: on the calm book everything passes, so each fault below is the only cause of its
failure.
"""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest

from dspops.core.models import Alert
from dspops.core import clock
from dspops.core.models import QuoteSnapshot
from rolls.models import RollState
from rolls.roll_service import (RollError, leg_status, plan_roll, record_leg_fill, run_checks, start_executing,
                                verify)
from sleeves.models import RunStatus, VrpCsLogEntry, VrpErpLogEntry
from sleeves.monitors import run_vrp_cs_monitor, run_vrp_erp_monitor

from .conftest import closed_port, scenario_without

# Pre-roll checks need CFE open: pin 11:00 New York on the latest CFE session, so the suite holds on any day.
pytestmark = pytest.mark.usefixtures("cfe_session_clock")

D = Decimal
ALL_CHECKS = {"gate", "vix", "spread", "old_front_width", "middle_width", "new_back_width", "combo_width",
              "positions", "margin", "market_data"}
NOT_GO = "The latest pre-roll check is not GO: do not trade."


def checked_rehearsal(user):
    """Plan a rehearsal, run the live pre-roll checks; (the stored check, {failing name: reason}, attempt)."""
    attempt = plan_roll(user=user, rehearsal=True)
    check = run_checks(attempt=attempt, user=user, role="test")
    attempt.refresh_from_db()
    return check, {r.name: r.reason for r in check.results.all() if not r.passed}, attempt


def assert_never_go(check, attempt, user) -> None:
    assert check.verdict == "NO_GO"
    assert attempt.state == RollState.CHECKED_NO_GO
    with pytest.raises(RollError) as refused:
        start_executing(attempt=attempt, user=user)
    assert str(refused.value) == NOT_GO


def assert_no_cs_numbers(entry: VrpCsLogEntry) -> None:
    """The legacy placeholders (15.0 / 16.25 / 17.83) or any other stand-in never appear."""
    assert (entry.data_status, entry.spread, entry.pnl_usd, entry.contango_pct) == (
        "data_unavailable", None, None, None)


# --- the control --------------------------------------------------------------------------------


def test_the_calm_book_is_ok_for_both_monitors_and_go_for_the_roll(book, broker, operator_user):
    broker("calm_contango")
    erp, cs = run_vrp_erp_monitor(live=True, role="test"), run_vrp_cs_monitor(live=True, role="test")
    check, failing, _ = checked_rehearsal(operator_user)
    assert (erp.status, cs.status) == (RunStatus.OK, RunStatus.OK)
    assert (cs.payload["vx1"], cs.payload["vx2"], cs.payload["spread"]) == ("17.475", "18.575", "1.10")
    assert (check.verdict, failing, check.data_complete, check.inputs["problems"]) == ("GO", {}, True, [])


# --- the connection -------------------------------------------------------------------------------


def test_a_refused_connection_makes_every_monitor_input_unavailable_and_fails_every_broker_check(
        book, settings, operator_user):
    port = closed_port()
    settings.IB_HOST, settings.IB_PORT, settings.IB_CONNECT_TIMEOUT = "127.0.0.1", port, 3.0
    refused = (f"Cannot reach TWS at 127.0.0.1:{port} (connection refused). Is TWS/IB Gateway running with the "
               "API enabled on that port (Configure > API > Settings)?")

    erp = run_vrp_erp_monitor(live=True, role="test")
    check, failing, attempt = checked_rehearsal(operator_user)

    assert erp.status == RunStatus.DATA_UNAVAILABLE
    assert erp.run.reason == (
        f"vix: broker unavailable ({refused}); spy_price: broker unavailable ({refused}); "
        f"actual shares: broker unavailable ({refused}); DATA UNAVAILABLE: missing vix, spy_price, actual_shares")
    entry = VrpErpLogEntry.objects.get(run=erp.run)
    assert (entry.vix, entry.spy_price, entry.target_shares, entry.actual_shares) == (None, None, None, None)
    assert set(failing) == ALL_CHECKS - {"gate"}
    assert (failing["positions"], failing["margin"], failing["vix"]) == (
        "positions could not be read", "excess liquidity unknown", "VIX unknown")
    assert check.inputs["problems"] == [f"broker unavailable: {refused}"]
    assert (check.data_complete, check.tickets) == (False, [])
    assert_never_go(check, attempt, operator_user)


def test_a_connection_dropped_mid_snapshot_stores_no_quote_and_fails_every_broker_check(
        book, broker, operator_user):
    server = broker("calm_contango", {"faults": {"disconnect_mid_snapshot": True}})
    lost = (f"Lost the connection to TWS at 127.0.0.1:{server.port} while requesting quotes for 4 instrument(s). "
            "Check that TWS/IB Gateway is still running and logged in, then retry; nothing from the interrupted "
            "request was used.")

    cs = run_vrp_cs_monitor(live=True, role="test")
    check, failing, attempt = checked_rehearsal(operator_user)

    assert cs.status == RunStatus.DATA_UNAVAILABLE
    unavailable = [f"{name}: broker unavailable ({lost})" for name in ("vix", "vvix", "vx1", "vx2")]
    assert cs.run.reason == "; ".join(unavailable) + "; DATA UNAVAILABLE: missing vix, vvix, vx1, vx2"
    assert_no_cs_numbers(VrpCsLogEntry.objects.get(run=cs.run))
    assert QuoteSnapshot.objects.count() == 0  # not one quote of an interrupted snapshot is kept
    assert set(failing) == ALL_CHECKS - {"gate"}
    assert check.inputs["problems"] == [f"broker unavailable: {lost}"]
    assert_never_go(check, attempt, operator_user)


# --- one instrument's market data ---------------------------------------------------------------------


def test_error_354_on_the_front_month_fails_only_the_checks_that_need_it(book, broker, operator_user):
    broker("calm_contango", {"faults": {"market_data_errors": {"front": 354}}})
    front = book.front.local_symbol
    why = f"{front} (VX1) quote is invalid (no market data subscription (error 354))"

    erp = run_vrp_erp_monitor(live=True, role="test")
    cs = run_vrp_cs_monitor(live=True, role="test")
    check, failing, attempt = checked_rehearsal(operator_user)

    assert erp.status == RunStatus.OK  # VIX and SPY are unaffected
    assert cs.status == RunStatus.DATA_UNAVAILABLE
    assert cs.run.reason == "vx1: no market data subscription (error 354); DATA UNAVAILABLE: missing vx1"
    assert (cs.payload["vix"], cs.payload["vvix"], cs.payload["vx2"]) == ("16.12", "92.4", "18.575")
    assert_no_cs_numbers(VrpCsLogEntry.objects.get(run=cs.run))
    stored = QuoteSnapshot.objects.filter(instrument=book.front)  # one from the monitor, one from the checks
    assert set(stored.values_list("valid", "bid", "ask", "last", "invalid_reason")) == {
        (False, None, None, None, "no market data subscription (error 354)")}
    assert set(failing) == {"spread", "old_front_width", "combo_width", "market_data"}
    assert failing["old_front_width"] == why
    assert check.ticket_problems == [f"No 'Close the old spread' ticket: {why}"]
    assert [t["title"] for t in check.tickets] == ["Open the new spread"]
    assert_never_go(check, attempt, operator_user)


def test_delayed_data_only_is_never_used_as_live(book, broker, operator_user):
    broker("delayed_only")

    erp = run_vrp_erp_monitor(live=True, role="test")
    check, failing, attempt = checked_rehearsal(operator_user)

    assert erp.status == RunStatus.DATA_UNAVAILABLE
    assert erp.run.reason == ("vix: delayed data (type 3); spy_price: delayed data (type 3); "
                              "DATA UNAVAILABLE: missing vix, spy_price")
    entry = VrpErpLogEntry.objects.get(run=erp.run)
    assert (entry.vix, entry.spy_price, entry.target_shares) == (None, None, None)
    assert set(failing) == ALL_CHECKS - {"gate", "positions", "margin"}
    assert failing["old_front_width"] == f"{book.front.local_symbol} (VX1) quote is invalid (delayed data (type 3))"
    assert set(QuoteSnapshot.objects.values_list("market_data_type", "valid")) == {(3, False)}
    assert check.tickets == []
    assert_never_go(check, attempt, operator_user)


def test_nan_and_minus_one_prices_are_stored_as_missing_never_as_prices(book, broker, operator_user):
    broker("calm_contango", {"quotes": {"front": {"bid": None}, "second": {"ask": -1}}})
    front, second = book.front.local_symbol, book.second.local_symbol

    cs = run_vrp_cs_monitor(live=True, role="test")
    check, failing, attempt = checked_rehearsal(operator_user)

    assert cs.status == RunStatus.DATA_UNAVAILABLE
    assert cs.run.reason == "vx1: no quote (NaN); vx2: no price (-1); DATA UNAVAILABLE: missing vx1, vx2"
    assert (cs.payload["vx1"], cs.payload["vx2"], cs.payload["pnl_usd"]) == (None, None, None)
    assert_no_cs_numbers(VrpCsLogEntry.objects.get(run=cs.run))
    quotes = {q.instrument_id: (q.bid, q.ask, q.valid) for q in QuoteSnapshot.objects.filter(
        instrument__in=[book.front, book.second])}
    assert quotes[book.front.pk] == (None, D("17.500000"), False)
    assert quotes[book.second.pk] == (D("18.550000"), None, False)  # -1 is not stored as a price
    assert set(failing) == {"spread", "old_front_width", "middle_width", "combo_width", "market_data"}
    assert failing["old_front_width"] == f"{front} (VX1) quote is invalid (no quote (NaN))"
    assert failing["middle_width"] == f"{second} (VX2) quote is invalid (no price (-1))"
    assert check.tickets == []
    assert_never_go(check, attempt, operator_user)


def test_a_crossed_new_back_month_fails_its_width_and_gets_no_opening_ticket(book, broker, operator_user):
    broker("calm_contango", {"quotes": {"third": {"bid": 19.40, "ask": 19.30}}})
    why = f"{book.third.local_symbol} (new back) quote is invalid (crossed market (bid > ask))"

    check, failing, attempt = checked_rehearsal(operator_user)

    assert set(failing) == {"new_back_width", "combo_width", "market_data"}
    assert failing["new_back_width"] == why
    assert check.ticket_problems == [f"No 'Open the new spread' ticket: {why}"]
    assert [t["title"] for t in check.tickets] == ["Close the old spread"]
    assert_never_go(check, attempt, operator_user)


def test_a_stale_vix_is_unavailable_to_the_monitors_and_fails_the_vix_and_market_data_checks(
        book, broker, operator_user):
    broker("calm_contango", {"quotes": {"VIX": {"age_s": 300}}})

    erp = run_vrp_erp_monitor(live=True, role="test")
    cs = run_vrp_cs_monitor(live=True, role="test")
    check, failing, attempt = checked_rehearsal(operator_user)

    for outcome in (erp, cs):
        assert outcome.status == RunStatus.DATA_UNAVAILABLE
        assert re.fullmatch(r"vix: stale \(age 30\ds > limit 60s\); DATA UNAVAILABLE: missing vix", outcome.run.reason)
    assert cs.payload["gate_state"] == "UNKNOWN"
    assert VrpErpLogEntry.objects.get(run=erp.run).vix is None
    assert failing == {"vix": "VIX unknown", "market_data": "no VIX quote"}
    assert re.fullmatch(r"stale \(age 30\ds > limit 60s\)", check.inputs["vix"]["reason"])
    assert_never_go(check, attempt, operator_user)


# --- the account ---------------------------------------------------------------------------------


def test_account_values_without_excess_liquidity_fail_the_margin_check_as_unknown(
        book, broker, operator_user, tmp_path):
    broker(scenario_without(tmp_path, "calm_contango", account_values=("ExcessLiquidity",)))

    check, failing, attempt = checked_rehearsal(operator_user)

    assert failing == {"margin": "excess liquidity unknown"}
    margin = check.results.get(name="margin")
    assert (margin.observed, margin.threshold) == ("unknown", ">= $3,000.00")
    assert check.inputs["excess_liquidity"] is None  # never 0, never a default
    assert_never_go(check, attempt, operator_user)


def test_an_extra_vxm_position_fails_the_positions_check_naming_it(book, broker, operator_user):
    broker("calm_contango", {"positions": [
        {"contract": "front", "quantity": -1, "avg_cost": 1745.0},
        {"contract": "second", "quantity": 1, "avg_cost": 1810.0},
        {"contract": "third", "quantity": 1, "avg_cost": 1930.0},
    ]})
    third = book.third.local_symbol

    check, failing, attempt = checked_rehearsal(operator_user)

    assert failing == {"positions": f"{third} holds +1, expected 0; reconcile the positions before rolling"}
    assert check.results.get(name="positions").observed == (
        f"{book.front.local_symbol} -1, {book.second.local_symbol} +1, {third} +1")
    assert_never_go(check, attempt, operator_user)


# --- a partial combo fill -----------------------------------------------------------------------


def executing_roll(user):
    attempt = plan_roll(user=user)
    assert run_checks(attempt=attempt, user=user, role="test").verdict == "GO"
    attempt.refresh_from_db()
    return start_executing(attempt=attempt, user=user)


def record(attempt, user, ticket, instrument, side, price):
    record_leg_fill(attempt=attempt, ticket=ticket, instrument=instrument, side=side, quantity=1, price=D(price),
                    executed_at=clock.now(), user=user)
    attempt.refresh_from_db()


def test_a_roll_with_one_leg_unfilled_stays_executing_and_cannot_be_verified(book, broker, operator_user):
    broker("calm_contango")
    attempt = executing_roll(operator_user)
    record(attempt, operator_user, "close", book.front, "BUY", "17.50")
    record(attempt, operator_user, "close", book.second, "SELL", "18.55")
    record(attempt, operator_user, "open", book.second, "SELL", "18.55")

    unfilled = [(row.ticket, row.instrument, row.side, row.filled) for row in leg_status(attempt) if not row.done]
    assert attempt.state == RollState.EXECUTING
    assert unfilled == [("open", book.third, "BUY", 0)]
    with pytest.raises(RollError) as refused:
        verify(attempt=attempt, user=operator_user, role="test")
    assert str(refused.value) == "A roll is verified once its legs are filled; it is Executing."
    assert [t.to_state for t in attempt.transitions.all()] == ["planned", "checked_go", "executing"]
    late = leg_status(attempt, now=attempt.executing_since + timedelta(minutes=16))
    assert [row.warning for row in late if row.warning] == [
        f"BUY 1 {book.third} still unfilled after 16 minutes: cancel and re-evaluate."]


def test_a_combo_whose_leg_the_broker_never_filled_escalates_with_a_critical_alert_naming_the_leg(
        book, broker, operator_user):
    broker("calm_contango")
    attempt = executing_roll(operator_user)
    record(attempt, operator_user, "close", book.front, "BUY", "17.50")
    record(attempt, operator_user, "close", book.second, "SELL", "18.55")
    record(attempt, operator_user, "open", book.second, "SELL", "18.55")
    record(attempt, operator_user, "open", book.third, "BUY", "19.30")  # typed as filled; TWS never filled it
    assert attempt.state == RollState.LEGS_FILLED
    # The broker shows the orphan: the old spread closed, the new short filled, the new long missing.
    broker("calm_contango", {"positions": [{"contract": "second", "quantity": -1, "avg_cost": 1855.0}]})

    result = verify(attempt=attempt, user=operator_user, role="test")

    attempt.refresh_from_db()
    third = book.third.local_symbol
    orphan = f"{third}: holding 0, expected +1: BUY 1 {third} to complete the new spread"
    assert (result.ok, [o.message for o in result.orphans]) == (False, [orphan])
    assert attempt.state == RollState.ESCALATED
    alert = Alert.objects.get(code="orphan_leg", resolved_at__isnull=True)
    assert (alert.severity, alert.subject) == ("critical", f"roll-{attempt.pk}")
    assert alert.message == (f"The roll left an orphan leg (broker (simulated) positions). {orphan}. "
                             "Close it now, then verify the roll again.")
    book.position.refresh_from_db()
    assert (book.position.short_leg, book.position.long_leg) == (book.front, book.second)  # config unchanged


# --- absurd values (DECISIONS.md section 11) ------------------------------------------------------------


def test_absurd_broker_values_fail_the_checks_that_need_them_and_never_give_a_go(book, broker, operator_user):
    broker("calm_contango", {"faults": {"absurd": {"quotes": {"VIX": {"last": 1e300}, "second": {"bid": 1e18}},
                                                   "account_values": {"ExcessLiquidity": 1e30}}}})
    why = (f"{book.second.local_symbol} (VX2) quote is invalid (absurd value from the broker, not used: bid 1e+18 is "
           "outside the plausible range 0 to 1000)")

    check, failing, attempt = checked_rehearsal(operator_user)

    assert set(failing) == {"vix", "spread", "middle_width", "combo_width", "margin", "market_data"}
    assert (failing["vix"], failing["margin"], failing["middle_width"]) == (
        "VIX unknown", "excess liquidity unknown", why)
    assert check.inputs["excess_liquidity"] is None  # never 1e30, never a default
    second = QuoteSnapshot.objects.filter(instrument=book.second).latest("as_of")
    assert (second.valid, second.bid, second.ask) == (False, None, D("18.600000"))
    assert check.tickets == []
    assert_never_go(check, attempt, operator_user)
