""""Are you sure?" on the fill form (issue 13 item 9).

Measured: the form accepted without a word a VXM future into the DM sleeve (the DM panel then listed it as a
holding), BUY 0.5 EEM dated Saturday 2026-11-28, and EEM at 4980, 100x its last price. Each is now a warning:
refused until the operator ticks "I have checked these" (nothing is written before), then recorded with the
warnings' texts stored on the fill. A price with nothing stored to compare it with is a warning too (a check
that cannot be made fails, DECISIONS.md section 1). A clean fill shows no warning. The clock is pinned.
"""

import json
from datetime import date, datetime
from decimal import Decimal

import pytest
from django.core.exceptions import NON_FIELD_ERRORS
from django.urls import reverse

from dspops.core import calendars, vx
from dspops.core.instruments import vxm_instrument
from dspops.core.models import Instrument, QuoteSnapshot
from sleeves.admin import fill_warnings
from sleeves.models import Fill, PriceBar, Sleeve, SleeveParameter

ADD = "admin:sleeves_fill_add"
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=calendars.NEW_YORK)  # a Tuesday, NYSE and CFE open
CONFIRM = "Nothing was recorded. Tick 'I have checked these' and save again to record the fill as it is, or correct it."


@pytest.fixture
def book(booted, time_machine):
    """EEM closed at 49.80 on Friday 2026-11-27 (a stored daily bar); the clock at NOW."""
    time_machine.move_to(NOW, tick=False)
    eem = Instrument.objects.get(local_symbol="EEM")
    PriceBar.objects.create(instrument=eem, session=date(2026, 11, 27), close=Decimal("49.80"), source="stored")
    return eem


def stored_close(instrument, close, session=date(2026, 11, 27)):
    """A stored daily close near the typed price, so a rule test meets only the warning it is about."""
    PriceBar.objects.create(instrument=instrument, session=session, close=Decimal(close), source="stored")


def fill_data(instrument, sleeve="DM", **overrides):
    data = {
        "sleeve": Sleeve.objects.get(code=sleeve).pk, "instrument": instrument.pk, "side": "BUY", "quantity": "5",
        "price": "49.85", "commission": "1.00", "executed_at_0": "2026-11-27", "executed_at_1": "10:01:00",
        "exec_id": "", "order_ref": "dm-1", "note": "",
    }
    return {**data, **overrides}


def post(client, data):
    return client.post(reverse(ADD), data)


def warned(client, data) -> tuple[list[str], dict]:
    """Post without confirming: refused, nothing written, the checkbox shown; the warnings listed and the
    data to post again with the confirmation ticked."""
    before = (Fill.objects.count(), Fill.history.count())
    response = post(client, data)
    assert response.status_code == 200, response.get("Location")
    assert (Fill.objects.count(), Fill.history.count()) == before
    form = response.context["adminform"].form
    messages = list(form.errors[NON_FIELD_ERRORS])
    assert messages[-1] == CONFIRM
    assert list(form.errors) == [NON_FIELD_ERRORS]
    page = response.content.decode()
    assert 'type="checkbox" name="confirm_warnings"' in page and "I have checked these" in page
    shown = form["warnings_shown"].value()
    assert json.loads(shown) == messages[:-1]
    return messages[:-1], {**data, "warnings_shown": shown, "confirm_warnings": "on"}


def confirmed(client, data, warnings) -> Fill:
    response = post(client, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    fill = Fill.objects.get()
    assert fill.confirmed_warnings == warnings
    assert fill.history.get().confirmed_warnings == warnings
    return fill


# --- the measured cases ----------------------------------------------------------------------------------


def test_a_vxm_future_into_the_dm_sleeve_warns_and_is_recorded_only_when_confirmed(operator_client, book):
    future = vxm_instrument(vx.ContractMonth(2026, 12))
    QuoteSnapshot.objects.create(instrument=future, last=Decimal("17.45"), source="live", valid=True,
                                 as_of=datetime(2026, 11, 27, 15, 0, tzinfo=calendars.NEW_YORK))
    warnings, again = warned(operator_client, fill_data(future, quantity="1", price="17.50"))
    assert warnings == [
        "VXMZ6 (Future) is not in the DM universe (SPY, EFA, EEM, IEF, TLT, TIP, GLD, PDBC, UUP, SHY: the "
        "risky_universe and cash_symbol settings): recorded in DM, it counts as a DM holding. Check the sleeve and "
        "the instrument."]
    fill = confirmed(operator_client, again, warnings)
    assert (fill.sleeve.code, fill.instrument, fill.quantity) == ("DM", future, Decimal("1"))


def test_half_a_share_on_a_saturday_gives_two_warnings_confirmed_together(operator_client, book):
    warnings, again = warned(operator_client, fill_data(book, quantity="0.5", executed_at_0="2026-11-28"))
    assert warnings == [
        "2026-11-28 (Sat) is not a NYSE session (the exchange was closed): check the date TWS shows for the execution.",
        "0.5 shares of EEM is a fraction: IBKR fills these in whole shares. Check the quantity.",
    ]
    fill = confirmed(operator_client, again, warnings)
    assert fill.quantity == Decimal("0.5")
    page = operator_client.get(reverse("admin:sleeves_fill_change", args=[fill.pk])).content.decode()
    assert "Warnings confirmed when entered" in page
    assert "<li>0.5 shares of EEM is a fraction: IBKR fills these in whole shares. Check the quantity.</li>" in page


def test_a_price_100_times_the_last_close_warns_naming_both_prices_and_the_setting(operator_client, book):
    warnings, again = warned(operator_client, fill_data(book, price="4980"))
    assert warnings == [
        "EEM at 4980.00 is 9900.00% above its last stored price 49.80 (daily close of 2026-11-27 (Fri)), more than "
        "the 10% the fill_price_warning_pct setting allows. Check the price: per share or per point, not the total."]
    confirmed(operator_client, again, warnings)


# --- the confirmation ------------------------------------------------------------------------------------


def test_a_clean_fill_shows_no_warning_and_stores_none(operator_client, book):
    page = operator_client.get(reverse(ADD)).content.decode()
    assert 'name="confirm_warnings"' in page and 'type="checkbox" name="confirm_warnings"' not in page
    response = post(operator_client, fill_data(book))
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert Fill.objects.get().confirmed_warnings == []
    assert not [m for m in operator_client.get(reverse("admin:sleeves_fill_changelist")).context["messages"]
                if "warning" in str(m).lower() or "No stored" in str(m)]


def test_ticking_the_box_without_having_seen_the_warnings_records_nothing(operator_client, book):
    data = {**fill_data(book, price="4980"), "confirm_warnings": "on"}
    warnings, _ = warned(operator_client, data)
    assert len(warnings) == 1


def test_a_confirmation_covers_only_the_warnings_shown(operator_client, book):
    """Confirmed for the price, then the date changed to a Saturday: asked again, with both warnings."""
    _, again = warned(operator_client, fill_data(book, price="4980"))
    warnings, again = warned(operator_client, {**again, "executed_at_0": "2026-11-28"})
    assert len(warnings) == 2 and warnings[0].startswith("2026-11-28 (Sat) is not a NYSE session")
    confirmed(operator_client, again, warnings)


def test_a_fixed_fill_is_recorded_without_warnings(operator_client, book):
    _, again = warned(operator_client, fill_data(book, price="4980"))
    response = post(operator_client, {**again, "price": "49.81"})
    assert response.status_code == 302
    assert Fill.objects.get().confirmed_warnings == []


def test_hard_errors_stay_errors_and_come_before_any_warning(operator_client, book):
    response = post(operator_client, {**fill_data(book, quantity="-0.5", price="0", executed_at_0="2026-11-28"),
                                      "confirm_warnings": "on"})
    errors = response.context["adminform"].form.errors
    assert errors == {
        "quantity": ["The quantity must be positive; the side (BUY or SELL) gives the direction."],
        "price": ["The price must be above 0: a fill at 0 is not a real execution."]}
    response = post(operator_client, fill_data(book, executed_at_0="2026-12-02"))
    assert list(response.context["adminform"].form.errors) == ["executed_at"]
    assert Fill.objects.count() == 0


def test_no_stored_price_to_compare_warns_and_is_recorded_only_when_confirmed(operator_client, book):
    """Review finding: with nothing stored for SHY the price was not compared, and the fill was recorded with
    only a note after saving. A check that cannot be made fails: it is a warning like the others."""
    shy = Instrument.objects.get(local_symbol="SHY")
    warnings, again = warned(operator_client, fill_data(shy, price="82.50"))
    assert warnings == [
        "No stored quote or daily close for SHY: the price 82.50 cannot be compared with the market. Check it "
        "against TWS: per share or per point, not the total."]
    response = post(operator_client, again)
    assert response.status_code == 302, response.context["adminform"].form.errors
    fill = Fill.objects.get()
    assert (fill.instrument, fill.price, fill.confirmed_warnings) == (shy, Decimal("82.50"), warnings)
    assert fill.history.get().confirmed_warnings == warnings
    messages = [str(m) for m in operator_client.get(response["Location"]).context["messages"]]
    assert f"Fill #{fill.pk} was recorded with 1 warning you confirmed, stored with the fill." in messages


# --- the rules, on the function ---------------------------------------------------------------------------


def check(sleeve, instrument, quantity="1", price="17.50", when=NOW):
    return fill_warnings(sleeve=Sleeve.objects.get(code=sleeve) if sleeve else None, instrument=instrument,
                         quantity=Decimal(quantity), price=Decimal(price), executed_at=when)


def test_each_sleeve_has_its_universe(book):
    spy, future = Instrument.objects.get(local_symbol="SPY"), vxm_instrument(vx.ContractMonth(2026, 12))
    stored_close(spy, "680.00")
    stored_close(future, "17.45")
    assert check("VRP_ERP", spy, price="680") == []
    assert check("DM", spy, price="680") == []
    assert check("VRP_ERP", book, price="49.80")[0].startswith(
        "EEM (Stock / ETF) is not in VRP-ERP's instrument (SPY, the symbol setting)")
    assert check("VRP_CS", future) == []
    assert check("VRP_CS", spy, price="680")[0].startswith(
        "SPY (Stock / ETF) is not in VRP-CS's VXM futures (the contract_root setting)")
    assert check(None, future) == []  # unattributed: no sleeve, no universe (an alert asks for one)


def test_a_price_with_nothing_stored_to_compare_is_a_warning_never_a_silent_pass(book):
    future = vxm_instrument(vx.ContractMonth(2026, 12))
    assert check("VRP_CS", future) == [
        "No stored quote or daily close for VXMZ6: the price 17.50 cannot be compared with the market. Check it "
        "against TWS: per share or per point, not the total."]
    stored_close(future, "17.45")
    assert check("VRP_CS", future) == []


def test_a_vx_future_is_checked_against_the_cfe_calendar_and_a_fractional_contract_warns(book):
    future = vxm_instrument(vx.ContractMonth(2026, 12))
    stored_close(future, "17.45", session=date(2026, 11, 25))
    thanksgiving = datetime(2026, 11, 26, 10, 0, tzinfo=calendars.NEW_YORK)
    warnings = check("VRP_CS", future, quantity="1.5", when=thanksgiving)
    assert warnings == [
        "2026-11-26 (Thu) is not a CFE session (the exchange was closed): check the date TWS shows for the execution.",
        "1.5 contracts of VXMZ6 is a fraction: IBKR fills these in whole contracts. Check the quantity.",
    ]


def test_the_newest_stored_price_is_the_reference_and_the_percentage_is_a_setting(book):
    QuoteSnapshot.objects.create(instrument=book, bid=Decimal("54.00"), ask=Decimal("54.20"), source="live",
                                 valid=True, as_of=datetime(2026, 11, 30, 15, 0, tzinfo=calendars.NEW_YORK))
    QuoteSnapshot.objects.create(instrument=book, last=Decimal("1.00"), source="live", valid=False,
                                 invalid_reason="test: an invalid quote is never the reference",
                                 as_of=datetime(2026, 11, 30, 15, 5, tzinfo=calendars.NEW_YORK))
    assert check("DM", book, price="54.10") == []
    warning = check("DM", book, price="45.00")[0]
    assert warning.startswith("EEM at 45.00 is 16.82% below its last stored price 54.10 (quote bid/ask mid, "
                              "2026-11-30 15:00 ET), more than the 10% ")
    SleeveParameter.objects.filter(sleeve__isnull=True, key="fill_price_warning_pct").update(value="20")
    assert check("DM", book, price="45.00") == []


def test_an_unreadable_setting_is_a_warning_never_a_silent_pass(book):
    SleeveParameter.objects.filter(sleeve__isnull=True, key="fill_price_warning_pct").delete()
    SleeveParameter.objects.filter(sleeve__code="DM", key="risky_universe").update(value="")
    warnings = check("DM", book, price="49.80")
    assert warnings[0].startswith("Whether EEM belongs to DM cannot be checked")
    assert warnings[1].startswith("The price 49.80 cannot be compared with the last stored price of EEM (49.80")
