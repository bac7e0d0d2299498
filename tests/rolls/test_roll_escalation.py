"""Issue 13, items 3, 6 and the roll part of 4: an escalation that diagnoses correctly, leg fills checked
as strictly as the fill form and correctable, and an abort that reverses what the roll booked.

The pure diagnosis is tested with the measured contracts (VXMZ6 / VXMF7 / VXMG7); the service and the
page against the TWS simulator over TCP, with the clock pinned to 11:00 New York on a CFE session.
"""

from __future__ import annotations

import html
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone as dj_timezone

from dspops.core import clock
from dspops.core.alerts import raise_alert
from dspops.core.models import Alert
from rolls import verification
from rolls.models import RollAttempt, RollLegFill, RollState
from rolls.roll_service import (NeedsConfirmation, RollError, abort, plan_roll, record_leg_fill, reverse_leg_fill,
                                orphan_alert_subject, run_checks, start_executing, verify)
from sleeves.models import Fill, SleeveParameter
from sleeves.selectors import net_positions_by_instrument
from tests.rolls.test_roll_pages import checklist, go_and_execute, messages_of, post_step, record_all_fills
from tests.rolls.test_roll_service import fill_all, make_book

pytestmark = pytest.mark.usefixtures("cfe_session_clock")

D = Decimal
# The measured roll: short VXMZ6 / long VXMF7 rolls to short VXMF7 / long VXMG7.
LEGS = {"old_front": "VXMZ6", "middle": "VXMF7", "new_back": "VXMG7"}
BEFORE = {"VXMZ6": D(-1), "VXMF7": D(1)}


def diagnose(positions, before=BEFORE):
    return verification.verify_after_roll(quantity=1, positions=positions, before=before, **LEGS)


# --- the pure diagnosis -----------------------------------------------------------------------------


def test_a_broker_unchanged_since_the_roll_began_says_the_fills_are_not_at_the_broker_and_advises_no_trade():
    # Measured: "3 orphan legs: BUY 1 VXMZ6, SELL 2 VXMF7, BUY 1 VXMG7", the whole roll again.
    result = diagnose({"VXMZ6": D(-1), "VXMF7": D(1)})
    assert (result.ok, result.kind, result.orphans) == (False, verification.NOT_AT_BROKER, ())
    assert ("the recorded fills are not at the broker: check TWS executions, pull fills, or reverse the recorded "
            "fills") in result.message
    for advice in ("BUY 1 VXMZ6", "SELL 2 VXMF7", "BUY 1 VXMG7", "orphan"):
        assert advice not in result.message
    assert "Do not trade the roll again" in result.message


def test_some_legs_at_the_broker_and_others_not_gives_the_exact_orders_that_close_the_orphan_legs():
    # The orphan_leg scenario: the broker holds only the short old front.
    result = diagnose({"VXMZ6": D(-1)})
    assert result.kind == verification.ORPHAN_LEGS
    assert [(o.local_symbol, o.action_to_close, o.quantity) for o in result.orphans] == [
        ("VXMZ6", "BUY", 1), ("VXMF7", "SELL", 1), ("VXMG7", "BUY", 1)]
    assert "some legs are at the broker and others are not" in result.message
    # The close ticket filled, the open ticket only on its short leg: one order, the missing long.
    result = diagnose({"VXMF7": D(-1)})
    assert result.kind == verification.ORPHAN_LEGS
    assert [o.message for o in result.orphans] == [
        "VXMG7: holding 0, expected +1: BUY 1 VXMG7 to complete the new spread"]


def test_orphan_legs_name_the_recorded_fills_the_broker_does_not_show():
    """Review finding: the close ticket filled at the broker (now flat), the open ticket did not, but all four
    legs were typed in. The orders to complete the new spread are right against the broker, yet the two typed
    open-ticket fills that never happened stayed booked: after trading the orders the book would hold -2/+2.
    The diagnosis names them and says to reverse them before trading."""
    all_four = {"VXMZ6": D(1), "VXMF7": D(-2), "VXMG7": D(1)}
    result = verification.verify_after_roll(quantity=1, positions={}, before=BEFORE, recorded=all_four, **LEGS)
    assert result.kind == verification.ORPHAN_LEGS
    assert [o.message for o in result.orphans] == [
        "VXMF7: holding 0, expected -1: SELL 1 VXMF7 to complete the new spread",
        "VXMG7: holding 0, expected +1: BUY 1 VXMG7 to complete the new spread"]
    assert result.unmatched == (
        "VXMF7: the roll's recorded fills move it -2, the broker moved it -1",
        "VXMG7: the roll's recorded fills move it +1, the broker moved it 0")
    assert "Reverse the recorded fills the broker does not show" in result.message
    assert result.as_dict()["unmatched_fills"] == list(result.unmatched)
    # Only what really happened recorded: nothing unmatched, the same orders.
    close_only = {"VXMZ6": D(1), "VXMF7": D(-1)}
    clean = verification.verify_after_roll(quantity=1, positions={}, before=BEFORE, recorded=close_only, **LEGS)
    assert (clean.unmatched, clean.orphans) == ((), result.orphans)
    assert "Reverse" not in clean.message


@pytest.mark.parametrize("positions, symbol", [
    ({"VXMZ6": D(-1), "VXMF7": D(1), "VXMH7": D(1)}, "VXMH7"),  # a contract outside the roll
    ({"VXMZ6": D(-1), "VXMF7": D(1), "VXMG7": D(-1)}, "VXMG7"),  # a leg the wrong way
    ({"VXMF7": D(-3), "VXMG7": D(1)}, "VXMF7"),  # a leg further than the roll goes
])
def test_positions_nobody_planned_are_a_break_with_no_order_advised(positions, symbol):
    result = diagnose(positions)
    assert (result.ok, result.kind, result.orphans) == (False, verification.BREAK, ())
    assert [u.local_symbol for u in result.unplanned] == [symbol]
    assert result.message.startswith("Break: the broker holds positions nobody planned")
    assert "advises no order" in result.message
    assert result.as_dict()["breaks"] == [u.message for u in result.unplanned]


def test_without_the_positions_before_the_roll_the_orphan_orders_are_given_as_before():
    result = diagnose({"VXMZ6": D(-1), "VXMF7": D(1)}, before=None)
    assert result.kind == verification.ORPHAN_LEGS and len(result.orphans) == 3


# --- the service, against the simulator ---------------------------------------------------------------


@pytest.fixture
def book(booted, operator_user, today_book):
    return make_book(today_book)


def executing_roll(user, *, rehearsal=False):
    attempt = plan_roll(user=user, rehearsal=rehearsal)
    check = run_checks(attempt=attempt, user=user, role="test")
    assert check.verdict == "GO", [(r.label, r.reason) for r in check.results.all() if not r.passed]
    attempt.refresh_from_db()
    start_executing(attempt=attempt, user=user)
    attempt.refresh_from_db()
    return attempt


def open_alerts(code):
    return list(Alert.objects.filter(code=code, resolved_at__isnull=True))


def test_a_real_roll_whose_fills_never_reached_the_broker_is_diagnosed_and_aborting_reverses_them(
        book, broker, operator_user, today_book):
    broker("calm_contango")
    attempt = executing_roll(operator_user)
    front, second, _ = today_book.symbols
    assert {k: D(v) for k, v in attempt.positions_before.items()} == {front: -1, second: 1}
    fill_all(attempt, operator_user)
    assert Fill.objects.filter(sleeve__code="VRP_CS").count() == 4
    # The broker still holds exactly the pre-roll spread.
    attempt.refresh_from_db()
    result = verify(attempt=attempt, user=operator_user, role="test")
    attempt.refresh_from_db()
    assert attempt.state == RollState.ESCALATED and result.kind == verification.NOT_AT_BROKER
    assert attempt.diagnosis["kind"] == "not_at_broker" and attempt.diagnosis["orders"] == []
    alert = Alert.objects.get(code="roll_fills_not_at_broker", resolved_at__isnull=True)
    assert alert.severity == "critical" and "the recorded fills are not at the broker" in alert.message
    assert "SELL 2" not in alert.message
    assert open_alerts("orphan_leg") == []

    # Abort, reversing the four fills in one action: the sleeve holds what it held before, the alert is resolved.
    abort(attempt=attempt, user=operator_user, why="TWS shows no executions", reverse_fills=True)
    attempt.refresh_from_db()
    assert attempt.state == RollState.ABORTED
    reversals = Fill.objects.filter(reverses__isnull=False)
    assert reversals.count() == 4
    assert all("Roll #%d aborted: TWS shows no executions" % attempt.pk in f.note for f in reversals)
    assert all(leg.is_reversed for leg in attempt.leg_fills.all())
    legs = {attempt.old_front_id, attempt.middle_id, attempt.new_back_id}
    assert {pk: q for pk, q in net_positions_by_instrument().items() if pk in legs and q} == {}
    assert open_alerts("roll_fills_not_at_broker") == [] and open_alerts("roll_leg_unfilled") == []
    assert "4 recorded fill(s) reversed" in attempt.transitions.get(to_state="aborted").why


def orphan_roll(broker, user, today_book):
    """A real roll whose fills are recorded and whose verification found orphan legs (the broker holds only
    the short old front)."""
    broker("calm_contango")
    attempt = executing_roll(user)
    fill_all(attempt, user)
    broker("orphan_leg")
    attempt.refresh_from_db()
    assert verify(attempt=attempt, user=user, role="test").kind == verification.ORPHAN_LEGS
    attempt.refresh_from_db()
    return attempt


def test_orphan_legs_refuse_reversing_every_fill_and_aborting_hands_them_to_naked_leg_alerts(
        book, broker, operator_user, today_book):
    # Measured: "reverse every fill" was offered and resolved orphan_leg although the orphan leg was at the broker.
    attempt = orphan_roll(broker, operator_user, today_book)
    front = today_book.symbols[0]
    assert {k: D(v) for k, v in attempt.diagnosis["broker_positions"].items()} == {front: D(-1)}
    with pytest.raises(RollError, match="Reverse only the fills the broker does not show"):
        abort(attempt=attempt, user=operator_user, why="flatten later", reverse_fills=True)
    attempt.refresh_from_db()
    assert attempt.state == RollState.ESCALATED and Fill.objects.filter(reverses__isnull=False).count() == 0
    abort(attempt=attempt, user=operator_user, why="flatten in TWS")
    attempt.refresh_from_db()
    assert attempt.state == RollState.ABORTED
    assert open_alerts("orphan_leg") == []
    naked = {a.subject: a for a in open_alerts("naked_leg")}
    assert f"{front} (broker)" in naked and naked[f"{front} (broker)"].severity == "critical"
    assert "naked_leg" in attempt.transitions.get(to_state="aborted").why


def test_an_orphan_leg_diagnosis_without_broker_positions_keeps_the_orphan_leg_alert_open(
        book, broker, operator_user, today_book):
    attempt = orphan_roll(broker, operator_user, today_book)
    del attempt.diagnosis["broker_positions"]
    attempt.save(update_fields=["diagnosis"])
    abort(attempt=attempt, user=operator_user, why="flatten in TWS")
    assert len(open_alerts("orphan_leg")) == 1 and open_alerts("naked_leg") == []


def test_the_page_does_not_offer_reversing_every_fill_for_orphan_legs(book, broker, operator_client, operator_user,
                                                                     today_book):
    attempt = orphan_roll(broker, operator_user, today_book)
    page = operator_client.get(checklist(attempt)).content.decode()
    assert 'id="abort-orphan-legs"' in page and 'name="reverse_fills"' not in page


def test_fills_reversed_from_the_fills_page_after_an_abort_resolve_the_roll_s_alerts(book, broker, operator_user,
                                                                                      operator_client):
    from rolls.roll_service import scheduled_roll_check
    from sleeves.services import reverse_fill
    broker("calm_contango")
    attempt = executing_roll(operator_user)
    fill_all(attempt, operator_user)
    attempt.refresh_from_db()
    verify(attempt=attempt, user=operator_user, role="test")
    attempt.refresh_from_db()
    abort(attempt=attempt, user=operator_user, why="will reverse from the Fills page")
    assert len(open_alerts("roll_fills_not_at_broker")) == 1
    legs = list(attempt.leg_fills.all())
    for leg in legs[:-1]:
        reverse_fill(fill=leg.fill, user=operator_user, reason="never executed")
    assert len(open_alerts("roll_fills_not_at_broker")) == 1  # one recorded fill still booked
    reverse_fill(fill=legs[-1].fill, user=operator_user, reason="never executed")
    assert open_alerts("roll_fills_not_at_broker") == []  # at once (sleeves.services.AFTER_REVERSAL)
    scheduled_roll_check(role="test")
    assert open_alerts("roll_fills_not_at_broker") == []


def test_a_page_post_resolves_an_aborted_roll_s_alerts_and_a_leg_reversed_from_the_fills_page_is_marked_reversed(
        book, broker, operator_user, operator_client):
    from sleeves.services import reverse_fill
    broker("calm_contango")
    attempt = executing_roll(operator_user)
    fill_all(attempt, operator_user)
    attempt.refresh_from_db()
    verify(attempt=attempt, user=operator_user, role="test")
    attempt.refresh_from_db()
    assert len(open_alerts("roll_fills_not_at_broker")) == 1
    # While escalated: one book Fill reversed from the Fills page, then the roll page's Reverse on that leg.
    first = attempt.leg_fills.order_by("pk").first()
    reverse_fill(fill=first.fill, user=operator_user, reason="typed twice")
    leg = reverse_leg_fill(leg=first, user=operator_user, reason="reversed on the Fills page")
    assert leg.is_reversed and Fill.objects.filter(reverses=first.fill).count() == 1
    attempt.refresh_from_db()
    abort(attempt=attempt, user=operator_user, why="will reverse from the Fills page")
    for other in attempt.leg_fills.filter(reversed_at__isnull=True):
        reverse_fill(fill=other.fill, user=operator_user, reason="never executed")
    assert open_alerts("roll_fills_not_at_broker") == []  # resolved by the last reversal (AFTER_REVERSAL)
    # An alert left open from before (raised again by hand here) is resolved by the next POST to the roll's page.
    raise_alert(code="roll_fills_not_at_broker", subject=orphan_alert_subject(attempt), message="left open")
    post_step(operator_client, attempt, "close")
    assert open_alerts("roll_fills_not_at_broker") == []


def test_aborting_an_orphan_rehearsal_reversing_its_fills_resolves_the_orphan_leg_alert(book, broker, operator_user):
    broker("calm_contango")
    attempt = executing_roll(operator_user, rehearsal=True)
    # A rehearsal's positions are the pre-roll ones plus its fills: one leg recorded leaves orphan legs.
    record_leg_fill(attempt=attempt, ticket="close", instrument=attempt.old_front, side="BUY", quantity=1,
                    price=D("17.50"), executed_at=clock.now(), user=operator_user)
    attempt.refresh_from_db()
    attempt.state = RollState.LEGS_FILLED
    attempt.save(update_fields=["state"])
    result = verify(attempt=attempt, user=operator_user, role="test")
    assert result.kind == verification.ORPHAN_LEGS
    assert len(open_alerts("orphan_leg")) == 1
    attempt.refresh_from_db()
    abort(attempt=attempt, user=operator_user, why="rehearsal over", reverse_fills=True)
    assert open_alerts("orphan_leg") == [] and open_alerts("naked_leg") == []


def test_aborting_without_reversing_leaves_the_fills_booked_and_the_alert_open(book, broker, operator_user):
    broker("calm_contango")
    attempt = executing_roll(operator_user)
    fill_all(attempt, operator_user)
    attempt.refresh_from_db()
    verify(attempt=attempt, user=operator_user, role="test")
    attempt.refresh_from_db()
    abort(attempt=attempt, user=operator_user, why="will reconcile later")
    assert Fill.objects.filter(reverses__isnull=False).count() == 0
    assert len(open_alerts("roll_fills_not_at_broker")) == 1


def test_positions_nobody_planned_are_shown_as_a_break(book, broker, operator_user, today_book):
    broker("calm_contango")
    attempt = executing_roll(operator_user)
    fill_all(attempt, operator_user)
    front, second, third = today_book.symbols
    # The broker shows the new spread, and a second long in the new back nobody planned.
    broker("calm_contango", {"positions": [{"contract": "second", "quantity": -1, "avg_cost": 1855.0},
                                           {"contract": "third", "quantity": 2, "avg_cost": 1930.0}]})
    attempt.refresh_from_db()
    result = verify(attempt=attempt, user=operator_user, role="test")
    assert result.kind == verification.BREAK and [u.local_symbol for u in result.unplanned] == [third]
    # Measured: the subject was the bare contract, reconciliation's own subject, so each overwrote the other's.
    alert = Alert.objects.get(code="reconciliation_break", subject=f"roll-{attempt.pk} {third}",
                              resolved_at__isnull=True)
    assert alert.severity == "critical" and "Nobody planned this position" in alert.message
    assert open_alerts("orphan_leg") == [] and open_alerts("roll_fills_not_at_broker") == []
    assert not Alert.objects.filter(code="reconciliation_break", subject=third).exists()
    reconciliation = raise_alert(code="reconciliation_break", subject=third, severity="critical",
                                 message=f"reconciliation: {third} differs")
    attempt.refresh_from_db()
    abort(attempt=attempt, user=operator_user, why="reconcile with TWS")
    assert [a.subject for a in open_alerts("reconciliation_break")] == [third]
    reconciliation.refresh_from_db()
    assert reconciliation.resolved_at is None


def test_the_page_diagnoses_not_at_the_broker_and_aborts_with_the_fills_reversed(book, broker, operator_client,
                                                                                 operator_user):
    broker("calm_contango")
    attempt = plan_roll(user=operator_user)
    go_and_execute(operator_client, attempt)
    record_all_fills(operator_client, attempt)
    attempt.refresh_from_db()
    response = post_step(operator_client, attempt, "verify")
    page = response.content.decode()
    assert 'id="not-at-broker"' in page and 'id="orphans"' not in page
    [escalated] = [m for m in messages_of(response) if m.startswith("ESCALATED")]
    assert "Find the fills or reverse them" in escalated and "Close the orphan leg" not in escalated
    assert "the recorded fills are not at the broker: check TWS executions" in page
    assert 'id="abort-booked-fills"' in page and "This roll recorded 4 fills, booked to the sleeve" in page
    attempt.refresh_from_db()
    response = post_step(operator_client, attempt, "abort", {"why": "never executed", "reverse_fills": "on",
                                                             "version": str(attempt.version)})
    assert any("4 recorded fill(s) reversed" in m for m in messages_of(response))
    attempt.refresh_from_db()
    assert attempt.state == RollState.ABORTED
    assert Fill.objects.filter(reverses__isnull=False).count() == 4
    assert Alert.objects.filter(resolved_at__isnull=True, code__in=["roll_fills_not_at_broker", "orphan_leg",
                                                                    "roll_leg_unfilled"]).count() == 0


# --- leg fills: as strict as the fill form, and correctable -------------------------------------------


def test_a_leg_fill_in_the_future_is_refused_in_a_rehearsal_and_a_real_roll(book, broker, operator_user):
    broker("calm_contango")
    for rehearsal in (True, False):
        attempt = executing_roll(operator_user, rehearsal=rehearsal)
        with pytest.raises(RollError, match="is in the future"):
            record_leg_fill(attempt=attempt, ticket="close", instrument=attempt.old_front, side="BUY", quantity=1,
                            price=D("17.50"), executed_at=clock.now() + timedelta(hours=2), user=operator_user)
        assert attempt.leg_fills.count() == 0
        abort(attempt=attempt, user=operator_user, why="test")


def test_a_leg_price_far_from_its_quote_and_its_combo_far_from_the_limit_need_a_confirmation_stored_with_it(
        book, broker, operator_user, today_book):
    # Measured: SELL 1 VXMF7 @ 175.0 against 18.55 / 18.60, a combo of 157.50 against a limit of 1.05, accepted.
    broker("calm_contango")
    attempt = executing_roll(operator_user)
    now = clock.now()
    record_leg_fill(attempt=attempt, ticket="close", instrument=attempt.old_front, side="BUY", quantity=1,
                    price=D("17.50"), executed_at=now, user=operator_user)
    middle = today_book.symbols[1]
    with pytest.raises(NeedsConfirmation) as refused:
        record_leg_fill(attempt=attempt, ticket="close", instrument=attempt.middle, side="SELL", quantity=1,
                        price=D("175.0"), executed_at=now, user=operator_user)
    leg_warning, combo_warning = refused.value.warnings
    assert f"SELL 1 {middle} @ 175.00 is 156.40 points outside its market 18.55 / 18.60" in leg_warning
    assert "combo fills at 157.50" in combo_warning and "the ticket's limit 1.05" in combo_warning
    assert attempt.leg_fills.count() == 1 and Fill.objects.count() == 1
    leg = record_leg_fill(attempt=attempt, ticket="close", instrument=attempt.middle, side="SELL", quantity=1,
                          price=D("175.0"), executed_at=now, user=operator_user, confirm=True)
    assert leg.confirmed_warnings == [leg_warning, combo_warning]
    assert leg.fill.confirmed_warnings == [leg_warning, combo_warning]
    # Prices at the market pass without a word.
    ok = record_leg_fill(attempt=attempt, ticket="open", instrument=attempt.middle, side="SELL", quantity=1,
                         price=D("18.55"), executed_at=now, user=operator_user)
    assert ok.confirmed_warnings == []


def test_the_tolerances_are_settings(book, broker, operator_user):
    broker("calm_contango")
    attempt = executing_roll(operator_user, rehearsal=True)
    for key in ("leg_price_tolerance_points", "combo_price_tolerance_points"):
        row = SleeveParameter.objects.get(sleeve__code="VRP_CS", key=key)
        row.value = "0.00"
        row.save()
    with pytest.raises(NeedsConfirmation, match="0.01 points outside its market"):
        record_leg_fill(attempt=attempt, ticket="close", instrument=attempt.old_front, side="BUY", quantity=1,
                        price=D("17.51"), executed_at=clock.now(), user=operator_user)


def test_the_page_asks_for_the_confirmation_and_stores_it(book, broker, operator_client, operator_user):
    broker("calm_contango")
    attempt = plan_roll(user=operator_user, rehearsal=True)
    go_and_execute(operator_client, attempt)
    now_ny = dj_timezone.localtime(clock.now()).strftime("%Y-%m-%d %H:%M:%S")
    typed = {"leg": "1", "leg1-quantity": "1", "leg1-price": "175.0", "leg1-executed_at": now_ny}
    response = post_step(operator_client, attempt, "record-fill", typed)
    assert any(m.startswith("Nothing was recorded:") and "tick the confirmation" in m for m in messages_of(response))
    page = response.content.decode()
    assert 'name="leg1-confirm"' in page
    assert attempt.leg_fills.count() == 0
    shown = re.search(r'name="leg1-warnings_shown" value="([^"]*)"', page).group(1)
    response = post_step(operator_client, attempt, "record-fill",
                         {**typed, "leg1-confirm": "on", "leg1-warnings_shown": html.unescape(shown)})
    leg = attempt.leg_fills.get()
    assert leg.confirmed_warnings and "outside its market" in leg.confirmed_warnings[0]
    assert "outside its market" in response.content.decode()  # shown in the recorded fills table


def test_the_page_shows_the_confirmation_only_after_a_warning_and_it_covers_only_the_warnings_shown(
        book, broker, operator_client, operator_user):
    # Measured: the box was always rendered, so it could be ticked before any warning was shown.
    broker("calm_contango")
    attempt = plan_roll(user=operator_user, rehearsal=True)
    go_and_execute(operator_client, attempt)
    page = operator_client.get(checklist(attempt)).content.decode()
    assert 'name="leg1-confirm"' not in page
    now_ny = dj_timezone.localtime(clock.now()).strftime("%Y-%m-%d %H:%M:%S")
    typed = {"leg": "1", "leg1-quantity": "1", "leg1-price": "175.0", "leg1-executed_at": now_ny}
    # Ticked without the warnings having been shown: asked again, nothing recorded.
    response = post_step(operator_client, attempt, "record-fill", {**typed, "leg1-confirm": "on"})
    assert any("tick the confirmation" in m for m in messages_of(response))
    assert attempt.leg_fills.count() == 0
    # Only one of the two warnings shown: asked again.
    record_leg_fill(attempt=attempt, ticket="close", instrument=attempt.old_front, side="BUY", quantity=1,
                    price=D("17.50"), executed_at=clock.now(), user=operator_user)
    with pytest.raises(NeedsConfirmation) as refused:
        record_leg_fill(attempt=attempt, ticket="close", instrument=attempt.middle, side="SELL", quantity=1,
                        price=D("175.0"), executed_at=clock.now(), user=operator_user, confirm=True,
                        shown=[refused_first_warning(attempt, operator_user)])
    assert len(refused.value.warnings) == 2 and attempt.leg_fills.count() == 1


def refused_first_warning(attempt, user):
    with pytest.raises(NeedsConfirmation) as refused:
        record_leg_fill(attempt=attempt, ticket="close", instrument=attempt.middle, side="SELL", quantity=1,
                        price=D("175.0"), executed_at=clock.now(), user=user)
    return refused.value.warnings[0]


def test_a_future_time_typed_on_the_page_is_refused(book, broker, operator_client, operator_user):
    broker("calm_contango")
    attempt = plan_roll(user=operator_user, rehearsal=True)
    go_and_execute(operator_client, attempt)
    later = dj_timezone.localtime(clock.now() + timedelta(hours=3)).strftime("%Y-%m-%d %H:%M:%S")
    response = post_step(operator_client, attempt, "record-fill", {
        "leg": "0", "leg0-quantity": "1", "leg0-price": "17.50", "leg0-executed_at": later})
    assert any("in the future" in m for m in messages_of(response))
    assert attempt.leg_fills.count() == 0


def test_a_recorded_leg_fill_can_be_reversed_and_entered_again_until_the_roll_is_verified(book, broker, operator_user,
                                                                                         operator_client):
    broker("calm_contango")
    attempt = executing_roll(operator_user)
    fill_all(attempt, operator_user)
    attempt.refresh_from_db()
    assert attempt.state == RollState.LEGS_FILLED
    wrong = attempt.leg_fills.get(ticket="open", instrument=attempt.new_back)
    # From the page: the per-leg Reverse button with a reason.
    response = post_step(operator_client, attempt, "reverse-leg-fill", {
        "leg_fill": str(wrong.pk), "reason": "typed the wrong price", "version": str(attempt.version)})
    assert any("Reversed BUY 1" in m and "record the leg again" in m for m in messages_of(response))
    wrong.refresh_from_db()
    attempt.refresh_from_db()
    assert wrong.is_reversed and attempt.state == RollState.EXECUTING
    assert Fill.objects.get(reverses=wrong.fill).side == "SELL"
    record_leg_fill(attempt=attempt, ticket="open", instrument=attempt.new_back, side="BUY", quantity=1,
                    price=D("19.30"), executed_at=clock.now(), user=operator_user)
    attempt.refresh_from_db()
    assert attempt.state == RollState.LEGS_FILLED
    broker("calm_contango", {"positions": [{"contract": "second", "quantity": -1, "avg_cost": 1855.0},
                                           {"contract": "third", "quantity": 1, "avg_cost": 1930.0}]})
    verify(attempt=attempt, user=operator_user, role="test")
    attempt.refresh_from_db()
    assert attempt.state == RollState.VERIFIED
    with pytest.raises(RollError, match="until the roll is verified"):
        reverse_leg_fill(leg=attempt.leg_fills.filter(reversed_at__isnull=True).first(), user=operator_user,
                         reason="too late")


def test_a_roll_with_its_legs_filled_can_be_aborted(book, broker, operator_user):
    broker("calm_contango")
    attempt = executing_roll(operator_user, rehearsal=True)
    fill_all(attempt, operator_user)
    attempt.refresh_from_db()
    assert attempt.state == RollState.LEGS_FILLED
    abort(attempt=attempt, user=operator_user, why="changed my mind", reverse_fills=True)
    assert RollAttempt.objects.get(pk=attempt.pk).state == RollState.ABORTED
    assert RollLegFill.objects.filter(attempt=attempt, reversed_at__isnull=True).count() == 0
