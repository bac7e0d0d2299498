"""The roll end to end in the service layer, against the simulator over TCP."""

import threading
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from django.db import connection

from dspops.core.models import Alert
from dspops.core import vx
from sleeves.models import SpreadPosition
from rolls.models import RollAttempt, RollCheck, RollState
from rolls.roll_service import (ConcurrentChange, RollError, abort, close, leg_status, pull_leg_fills, plan_roll,
                                raise_fill_warnings, raise_unfilled_leg_alerts, record_leg_fill, run_checks,
                                start_executing, transition, verify)
from dspops.core.instruments import vxm_instrument
from sleeves.models import Fill, SignalState, Sleeve
from sleeves.monitors import run_vrp_cs_monitor

# Pre-roll checks need CFE open: pin 11:00 New York on the latest CFE session, so the suite holds on any day.
pytestmark = pytest.mark.usefixtures("cfe_session_clock")

D = Decimal


def make_book(today_book):
    """The running book today: -1 front / +1 second (what the simulator's calm_contango holds), gate OPEN."""
    sleeve = Sleeve.objects.get(code="VRP_CS")
    front, second, _ = today_book.months
    dates = vx.contract_dates(front)
    position = SpreadPosition.objects.create(
        sleeve=sleeve, short_leg=vxm_instrument(front), long_leg=vxm_instrument(second), quantity=1,
        short_entry_price=D("17.45"), long_entry_price=D("18.10"), entry_date=today_book.session,
        entry_spread=D("0.65"), stop_loss_spread=D("0.32"), take_profit_spread=D("1.30"),
        settlement_date=dates.settlement_date, roll_by=dates.roll_by)
    SignalState.objects.create(sleeve=sleeve, name="gate", state="OPEN", since_session=today_book.nyse_session,
                               last_session=today_book.nyse_session, source="simulated")
    return position


@pytest.fixture
def book(booted, operator_user, today_book):
    return make_book(today_book)


@pytest.fixture
def legs(today_book):
    """Local symbols of the old front, the middle and the new back today."""
    return today_book.symbols


def fill_all(attempt, user, prices=None):
    prices = prices or {"close": (D("17.50"), D("18.55")), "open": (D("18.55"), D("19.30"))}
    now = datetime.now(timezone.utc)
    record_leg_fill(attempt=attempt, ticket="close", instrument=attempt.old_front, side="BUY", quantity=1,
                    price=prices["close"][0], executed_at=now, user=user)
    record_leg_fill(attempt=attempt, ticket="close", instrument=attempt.middle, side="SELL", quantity=1,
                    price=prices["close"][1], executed_at=now, user=user)
    record_leg_fill(attempt=attempt, ticket="open", instrument=attempt.middle, side="SELL", quantity=1,
                    price=prices["open"][0], executed_at=now, user=user)
    return record_leg_fill(attempt=attempt, ticket="open", instrument=attempt.new_back, side="BUY", quantity=1,
                           price=prices["open"][1], executed_at=now, user=user)


def test_a_rehearsal_on_calm_contango_walks_to_verified_without_touching_positions(book, broker, operator_user, legs):
    broker("calm_contango")
    attempt = plan_roll(user=operator_user, rehearsal=True)
    check = run_checks(attempt=attempt, user=operator_user, role="test")
    assert check.verdict == "GO", [(r.label, r.reason) for r in check.results.all() if not r.passed]
    assert check.simulated is True and check.net_legs == {legs[0]: 1, legs[1]: -2, legs[2]: 1}
    assert [t["combo_action"] for t in check.tickets] == ["SELL", "BUY"]
    attempt.refresh_from_db()
    start_executing(attempt=attempt, user=operator_user)
    fill_all(attempt, operator_user)
    attempt.refresh_from_db()
    assert attempt.state == RollState.LEGS_FILLED
    verify(attempt=attempt, user=operator_user, role="test")
    attempt.refresh_from_db()
    assert attempt.state == RollState.VERIFIED
    close(attempt=attempt, user=operator_user)
    book.refresh_from_db()
    assert (str(book.short_leg), str(book.long_leg)) == legs[:2]
    assert Fill.objects.count() == 0
    assert [t.to_state for t in attempt.transitions.all()] == ["planned", "checked_go", "executing", "legs_filled",
                                                              "verified", "closed"]


def test_wide_markets_say_do_not_roll_and_name_the_failing_widths(book, broker, operator_user):
    broker("wide_markets")
    attempt = plan_roll(user=operator_user, rehearsal=True)
    check = run_checks(attempt=attempt, user=operator_user, role="test")
    failing = {r.name for r in check.results.all() if not r.passed}
    assert check.verdict == "NO_GO"
    assert {"old_front_width", "middle_width", "new_back_width", "combo_width"} <= failing
    attempt.refresh_from_db()
    assert attempt.state == RollState.CHECKED_NO_GO
    with pytest.raises(RollError, match="not GO"):
        start_executing(attempt=attempt, user=operator_user)


def test_a_real_roll_updates_the_config_from_the_fills_and_keeps_the_old_one_in_history(book, broker, operator_user,
                                                                                       legs, today_book):
    broker("calm_contango")
    attempt = plan_roll(user=operator_user)
    run_checks(attempt=attempt, user=operator_user, role="test")
    attempt.refresh_from_db()
    start_executing(attempt=attempt, user=operator_user)
    fill_all(attempt, operator_user)
    assert Fill.objects.filter(sleeve__code="VRP_CS").count() == 4
    # The broker now shows the new spread.
    broker("calm_contango", {"positions": [{"contract": "second", "quantity": -1, "avg_cost": 1855.0},
                                           {"contract": "third", "quantity": 1, "avg_cost": 1930.0}]})
    attempt.refresh_from_db()
    verify(attempt=attempt, user=operator_user, role="test")
    book.refresh_from_db()
    assert (str(book.short_leg), str(book.long_leg)) == legs[1:]
    assert (book.short_entry_price, book.long_entry_price, book.entry_spread) == (D("18.55"), D("19.30"), D("0.75"))
    assert (book.stop_loss_spread, book.take_profit_spread) == (D("0.38"), D("1.50"))
    new_front = vx.contract_dates(today_book.months[1])
    assert (book.settlement_date, book.roll_by) == (new_front.settlement_date, new_front.roll_by)
    assert [str(h.short_leg) for h in book.history.order_by("history_date")] == list(legs[:2])
    outcome = run_vrp_cs_monitor(vix=D("16"), vvix=D("90"), vx1=D("18.6"), vx2=D("19.3"), log_run=False)
    assert (outcome.payload["short_leg"], outcome.payload["long_leg"]) == legs[1:]
    assert outcome.payload["entry_spread"] == "0.75"


def test_an_orphan_leg_after_the_roll_is_escalated_with_the_exact_order_to_close_it(book, broker, operator_user, legs):
    broker("calm_contango")
    attempt = plan_roll(user=operator_user)
    run_checks(attempt=attempt, user=operator_user, role="test")
    attempt.refresh_from_db()
    start_executing(attempt=attempt, user=operator_user)
    fill_all(attempt, operator_user)
    broker("orphan_leg")
    attempt.refresh_from_db()
    result = verify(attempt=attempt, user=operator_user, role="test")
    attempt.refresh_from_db()
    assert attempt.state == RollState.ESCALATED and not result.ok
    alert = Alert.objects.get(code="orphan_leg")
    assert alert.severity == "critical"
    assert legs[0] in alert.message and legs[2] in alert.message
    book.refresh_from_db()
    assert str(book.short_leg) == legs[0]


def test_legs_cannot_be_marked_filled_while_a_leg_is_unfilled_and_a_late_leg_warns(book, broker, operator_user):
    broker("calm_contango")
    attempt = plan_roll(user=operator_user, rehearsal=True)
    run_checks(attempt=attempt, user=operator_user, role="test")
    attempt.refresh_from_db()
    start_executing(attempt=attempt, user=operator_user)
    record_leg_fill(attempt=attempt, ticket="close", instrument=attempt.old_front, side="BUY", quantity=1,
                    price=D("17.50"), executed_at=datetime.now(timezone.utc), user=operator_user)
    attempt.refresh_from_db()
    with pytest.raises(RollError, match="cannot become Legs filled|verified once its legs are filled"):
        verify(attempt=attempt, user=operator_user, role="test")
    later = attempt.executing_since + timedelta(minutes=16)
    warnings = raise_fill_warnings(attempt, now=later)
    assert len(warnings) == 3 and "still unfilled after 16 minutes" in warnings[0]
    assert Alert.objects.get(code="roll_leg_unfilled").severity == "warning"


def test_the_unfilled_leg_alerts_of_every_executing_roll_are_raised_in_one_call(book, broker, operator_user):
    # The service the scheduled roll check calls: a roll left executing gets its warning without a page view.
    broker("calm_contango")
    attempt = plan_roll(user=operator_user, rehearsal=True)
    run_checks(attempt=attempt, user=operator_user, role="test")
    attempt.refresh_from_db()
    start_executing(attempt=attempt, user=operator_user)
    attempt.refresh_from_db()
    assert raise_unfilled_leg_alerts(now=attempt.executing_since + timedelta(minutes=5)) == []
    assert not Alert.objects.filter(code="roll_leg_unfilled").exists()
    warnings = raise_unfilled_leg_alerts(now=attempt.executing_since + timedelta(minutes=16))
    assert len(warnings) == 4
    alert = Alert.objects.get(code="roll_leg_unfilled", resolved_at__isnull=True)
    assert alert.subject == f"roll-{attempt.pk}" and alert.message.startswith("Rehearsal: ")


def test_a_fill_on_the_wrong_leg_or_too_large_is_refused(book, broker, operator_user):
    broker("calm_contango")
    attempt = plan_roll(user=operator_user, rehearsal=True)
    run_checks(attempt=attempt, user=operator_user, role="test")
    attempt.refresh_from_db()
    start_executing(attempt=attempt, user=operator_user)
    now = datetime.now(timezone.utc)
    with pytest.raises(RollError, match="is not a leg of the close ticket"):
        record_leg_fill(attempt=attempt, ticket="close", instrument=attempt.new_back, side="BUY", quantity=1,
                        price=D("19.3"), executed_at=now, user=operator_user)
    with pytest.raises(RollError, match="over-fill"):
        record_leg_fill(attempt=attempt, ticket="close", instrument=attempt.old_front, side="BUY", quantity=2,
                        price=D("17.5"), executed_at=now, user=operator_user)


def test_a_stale_go_must_be_checked_again_before_trading(book, broker, operator_user):
    broker("calm_contango")
    attempt = plan_roll(user=operator_user, rehearsal=True)
    run_checks(attempt=attempt, user=operator_user, role="test")
    attempt.refresh_from_db()
    with pytest.raises(RollError, match="re-run the checks"):
        start_executing(attempt=attempt, user=operator_user, now=datetime.now(timezone.utc) + timedelta(minutes=6))


def test_offline_typed_quotes_are_marked_manual_and_missing_positions_fail(book, operator_user, settings, legs):
    from rolls.roll_service import ManualQuote

    settings.IB_HOST, settings.IB_PORT, settings.IB_CONNECT_TIMEOUT = "127.0.0.1", 9, 1.0
    attempt = plan_roll(user=operator_user, rehearsal=True)
    typed = {legs[0]: ManualQuote(D("17.45"), D("17.50")), legs[1]: ManualQuote(D("18.55"), D("18.60")),
             legs[2]: ManualQuote(D("19.25"), D("19.30"))}
    check = run_checks(attempt=attempt, user=operator_user, live=False, manual_quotes=typed, manual_vix=D("16.1"))
    results = {r.name: r for r in check.results.all()}
    assert check.manual_quotes is True and "manual" in results["market_data"].source
    assert results["old_front_width"].passed
    assert not results["positions"].passed and not results["margin"].passed
    assert check.verdict == "NO_GO" and check.data_complete is False


def test_an_expired_config_is_never_rolled_and_raises_a_critical_alert(booted, operator_user):
    SpreadPosition.objects.create(
        sleeve=Sleeve.objects.get(code="VRP_CS"), short_leg=vxm_instrument(vx.ContractMonth(2026, 2)),
        long_leg=vxm_instrument(vx.ContractMonth(2026, 3)), quantity=1, short_entry_price=D("19.12"),
        long_entry_price=D("19.77"), entry_date=date(2026, 1, 14), entry_spread=D("0.65"),
        stop_loss_spread=D("0.32"), take_profit_spread=D("1.30"), settlement_date=date(2026, 2, 19),
        roll_by=date(2026, 2, 12))
    with pytest.raises(RollError, match="settled on 2026-02-18"):
        plan_roll(user=operator_user)
    assert Alert.objects.get(code="spread_legs_expired").severity == "critical"
    assert RollAttempt.objects.count() == 0


def test_a_move_outside_the_table_is_refused(book, operator_user):
    attempt = plan_roll(user=operator_user, rehearsal=True)
    with pytest.raises(RollError, match="cannot become Verified"):
        transition(attempt=attempt, to_state="verified", user=operator_user, why="skip ahead")


def test_only_one_open_roll_per_mode(book, operator_user):
    plan_roll(user=operator_user, rehearsal=True)
    with pytest.raises(RollError, match="is still open"):
        plan_roll(user=operator_user, rehearsal=True)
    plan_roll(user=operator_user, rehearsal=False)


def test_two_operators_confirming_the_same_step_at_once_exactly_one_succeeds(book, operator_user):
    attempt = plan_roll(user=operator_user, rehearsal=True)
    first, second = RollAttempt.objects.get(pk=attempt.pk), RollAttempt.objects.get(pk=attempt.pk)
    abort(attempt=first, user=operator_user, why="operator one")
    with pytest.raises(ConcurrentChange, match="changed by someone else"):
        abort(attempt=second, user=operator_user, why="operator two")
    assert RollAttempt.objects.get(pk=attempt.pk).transitions.filter(to_state="aborted").count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_threads_racing_on_one_step_leave_exactly_one_transition(booted, operator_user, today_book):
    make_book(today_book)
    attempt = plan_roll(user=operator_user, rehearsal=True)
    outcomes, barrier = [], threading.Barrier(2)

    def confirm(name):
        mine = RollAttempt.objects.get(pk=attempt.pk)
        barrier.wait()
        try:
            abort(attempt=mine, user=operator_user, why=name)
            outcomes.append("won")
        except ConcurrentChange:
            outcomes.append("lost")
        finally:
            connection.close()

    threads = [threading.Thread(target=confirm, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["lost", "won"]
    assert RollAttempt.objects.get(pk=attempt.pk).transitions.filter(to_state="aborted").count() == 1


def test_an_unusable_vix_quote_says_why_in_the_failing_check(book, broker, operator_user):
    broker("calm_contango", {"quotes": {"VIX": {"last": 16.12, "close": 15.87, "age_s": 300}}})
    attempt = plan_roll(user=operator_user, rehearsal=True)
    check = run_checks(attempt=attempt, user=operator_user, role="test")
    vix = check.results.get(name="vix")
    assert not vix.passed and "stale" in vix.source
    assert check.verdict == "NO_GO"
