"""The VRP-CS position config cannot be put in the wrong place (issue 13 item 8).

Measured: the config could be moved to the DM sleeve (the dashboard then said "No active position config");
roll-by could lie before the entry date; a second active config showed the raw
`Constraint "one_active_spread_per_sleeve" is violated.`; reversed legs showed two messages twice each.
Each case is tried through the admin (the Django test client) and on the model.
"""

from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.urls import reverse

from dspops.core import vx
from dspops.core.instruments import vxm_instrument
from dspops.core.models import Instrument
from sleeves.models import SleeveParameter, Sleeve, SpreadPosition

ADD = "admin:sleeves_spreadposition_add"
D = Decimal


@pytest.fixture
def legs(booted):
    """VXMZ6 (settles 2026-12-16, roll-by 2026-12-09) and VXMF7, as the running spread."""
    return vxm_instrument(vx.ContractMonth(2026, 12)), vxm_instrument(vx.ContractMonth(2027, 1))


def form_data(short_leg, long_leg, **overrides):
    data = {
        "is_active": "on", "short_leg": short_leg.pk, "long_leg": long_leg.pk, "quantity": "1",
        "entry_date": "2026-11-20", "short_entry_price": "17.45", "long_entry_price": "18.10", "entry_spread": "",
        "stop_loss_spread": "", "take_profit_spread": "", "settlement_date": "", "roll_by": "", "note": "",
    }
    return {**data, **overrides}


def refused(client, url, data) -> dict[str, list[str]]:
    """Post the form; it must come back with errors and store nothing (no config, no history row)."""
    before = (SpreadPosition.objects.count(), SpreadPosition.history.count())
    response = client.post(url, data)
    assert response.status_code == 200, response.get("Location")
    assert (SpreadPosition.objects.count(), SpreadPosition.history.count()) == before
    return {field: list(messages) for field, messages in response.context["adminform"].form.errors.items()}


def all_messages(errors: dict[str, list[str]]) -> list[str]:
    return [message for messages in errors.values() for message in messages]


def position(short_leg, long_leg, **overrides) -> SpreadPosition:
    values = dict(
        sleeve=Sleeve.objects.get(code="VRP_CS"), short_leg=short_leg, long_leg=long_leg, quantity=1,
        short_entry_price=D("17.45"), long_entry_price=D("18.10"), entry_date=date(2026, 11, 20),
        entry_spread=D("0.65"), stop_loss_spread=D("0.32"), take_profit_spread=D("1.30"),
        settlement_date=date(2026, 12, 16), roll_by=date(2026, 12, 9))
    return SpreadPosition(**{**values, **overrides})


def model_errors(instance) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as caught:
        instance.full_clean()
    return caught.value.message_dict


# --- the sleeve ----------------------------------------------------------------------------------------


def test_the_sleeve_is_not_a_choice_in_the_form_and_a_new_config_is_vrp_cs(operator_client, legs):
    page = operator_client.get(reverse(ADD))
    assert "sleeve" not in page.context["adminform"].form.fields
    assert "VRP-CS (VXM calendar spread)" in page.content.decode()
    response = operator_client.post(reverse(ADD), form_data(*legs))
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert SpreadPosition.objects.get().sleeve.code == "VRP_CS"


def test_a_config_cannot_be_moved_to_the_dm_sleeve_from_its_change_form(operator_client, legs):
    """Measured: sleeve=DM was accepted and saved; the dashboard then said "No active position config"."""
    config = position(*legs)
    config.save()
    data = form_data(*legs, sleeve=Sleeve.objects.get(code="DM").pk, entry_spread="0.65", stop_loss_spread="0.32",
                     take_profit_spread="1.30", settlement_date="2026-12-16", roll_by="2026-12-09", note="moved?")
    response = operator_client.post(reverse("admin:sleeves_spreadposition_change", args=[config.pk]), data)
    assert response.status_code == 302  # the note is saved; the posted sleeve is not a field of the form
    config.refresh_from_db()
    assert (config.sleeve.code, config.note) == ("VRP_CS", "moved?")


def test_the_model_refuses_a_config_in_another_sleeve(legs):
    errors = model_errors(position(*legs, sleeve=Sleeve.objects.get(code="DM")))
    assert errors == {NON_FIELD_ERRORS: [
        "The position config belongs to the VRP-CS sleeve, not DM (ETF dual momentum): the VRP-CS monitor and the "
        "rolls read only VRP-CS's config."]}


# --- a second active config ------------------------------------------------------------------------------


def test_a_second_active_config_is_refused_naming_the_active_one_and_the_way_out(operator_client, legs):
    active = position(*legs)
    active.save()
    errors = refused(operator_client, reverse(ADD), form_data(*legs))
    expected = (f"Another position config is already active: config #{active.pk}, -1 VXMZ6 / +1 VXMF7 at an entry "
                f"spread of 0.65 "
                f"(entered 2026-11-20). Only one is active at a time: deactivate config #{active.pk} first (open it "
                "and untick 'is active'), or edit it instead of adding a new one.")
    assert errors == {"is_active": [expected]}
    assert not any("Constraint" in message for message in all_messages(errors))


def test_a_second_config_can_be_added_inactive_and_the_model_names_the_active_one(operator_client, legs):
    active = position(*legs)
    active.save()
    response = operator_client.post(reverse(ADD), form_data(*legs, is_active=""))
    assert response.status_code == 302
    errors = model_errors(position(*legs))
    assert list(errors) == ["is_active"] and f"config #{active.pk}" in errors["is_active"][0]
    active.full_clean()  # the active config itself is not "another"


# --- the legs --------------------------------------------------------------------------------------------


def test_reversed_legs_give_one_clear_message_once(operator_client, legs):
    """Measured: two messages, each shown twice. Now one, once."""
    short_leg, long_leg = legs
    errors = refused(operator_client, reverse(ADD), form_data(long_leg, short_leg))
    message = ("The legs are reversed: the long leg (VXMZ6, 2026-12) must settle after the short leg (VXMF7, "
               "2027-01). The spread is short the front month and long the next: swap them (short leg VXMZ6, "
               "long leg VXMF7).")
    assert errors == {NON_FIELD_ERRORS: [message]}
    page = operator_client.post(reverse(ADD), form_data(long_leg, short_leg)).content.decode()
    assert page.count("The legs are reversed") == 1


def test_reversed_legs_with_typed_levels_and_dates_still_give_one_message(operator_client, legs):
    short_leg, long_leg = legs
    errors = refused(operator_client, reverse(ADD), form_data(
        long_leg, short_leg, entry_spread="0.65", stop_loss_spread="0.32", take_profit_spread="1.30",
        settlement_date="2027-01-20", roll_by="2027-01-12"))
    assert len(all_messages(errors)) == 1 and all_messages(errors)[0].startswith("The legs are reversed")
    assert list(model_errors(position(long_leg, short_leg))) == [NON_FIELD_ERRORS]


def test_the_long_leg_must_be_the_next_listed_month(operator_client, legs):
    short_leg, _ = legs
    february = vxm_instrument(vx.ContractMonth(2027, 2))
    errors = refused(operator_client, reverse(ADD), form_data(short_leg, february))
    assert errors == {"long_leg": [
        "The long leg must be the month right after the short leg: VXMZ6 is 2026-12, so the long leg is VXMF7 "
        "(2027-01), not VXMG7 (2027-02)."]}


def test_both_legs_the_same_month_is_said_in_words(legs):
    short_leg, _ = legs
    errors = model_errors(position(short_leg, short_leg))
    assert errors == {"long_leg": ["Both legs are 2026-12 (VXMZ6, VXMZ6): the long leg is the next month, VXMF7 "
                                   "(2027-01)."]}


def test_legs_must_be_futures_of_the_contract_root(operator_client, legs):
    short_leg, long_leg = legs
    spy = Instrument.objects.get(local_symbol="SPY")
    errors = refused(operator_client, reverse(ADD), form_data(short_leg, spy))
    assert errors["long_leg"] == ["SPY is a SPY stock / etf, not a VXM future: both legs of the VRP-CS spread are "
                                  "VXM futures (the contract_root setting)."]
    big_vx = Instrument.objects.create(symbol="VX", sec_type="FUT", exchange="CFE", local_symbol="VXF7",
                                       contract_month="2027-01", settlement_date=date(2027, 1, 20), multiplier=1000)
    errors = model_errors(position(short_leg, big_vx))
    assert errors == {"long_leg": ["VXF7 is a VX future, not a VXM future: both legs of the VRP-CS spread are VXM "
                                   "futures (the contract_root setting)."]}


def test_an_unreadable_contract_root_setting_fails_closed(legs):
    SleeveParameter.objects.filter(sleeve__code="VRP_CS", key="contract_root").update(value="")
    errors = model_errors(position(*legs))
    assert errors[NON_FIELD_ERRORS][0].startswith(
        "The legs cannot be checked: the VRP_CS contract_root setting cannot be read")


# --- the dates -------------------------------------------------------------------------------------------


def test_roll_by_before_the_entry_date_is_refused(operator_client, legs):
    """Measured: roll-by 2026-11-10 with entry 2026-11-20 was saved."""
    errors = refused(operator_client, reverse(ADD), form_data(*legs, roll_by="2026-11-10"))
    assert errors == {"roll_by": [
        "Roll-by 2026-11-10 is before the entry date 2026-11-20: a spread is rolled after it was entered. Check both "
        "dates (leave roll-by blank to take it from the calendar)."]}
    assert list(model_errors(position(*legs, roll_by=date(2026, 11, 10)))) == ["roll_by"]


def test_roll_by_on_the_entry_date_is_allowed(operator_client, legs):
    response = operator_client.post(reverse(ADD), form_data(*legs, entry_date="2026-12-09"))
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert SpreadPosition.objects.get().roll_by == date(2026, 12, 9)


def test_roll_by_must_come_before_the_short_leg_settles_once(operator_client, legs):
    """Settlement is the short leg's: a hand-typed later settlement does not move it; one message, in words."""
    errors = refused(operator_client, reverse(ADD), form_data(*legs, settlement_date="2026-12-20",
                                                                roll_by="2026-12-16"))
    assert errors == {"roll_by": ["Roll-by 2026-12-16 must come before the short leg VXMZ6 settles on 2026-12-16: "
                                  "the spread is rolled while its front month still trades."]}
    errors = model_errors(position(*legs, roll_by=date(2026, 12, 16)))
    assert errors == {"roll_by": ["Roll-by 2026-12-16 must come before the short leg VXMZ6 settles on 2026-12-16: "
                                  "the spread is rolled while its front month still trades."]}


def test_every_model_error_is_in_words_never_a_raw_constraint(legs):
    short_leg, long_leg = legs
    bad = position(short_leg, short_leg, quantity=0, short_entry_price=D("0"), entry_spread=D("18.10"),
                   stop_loss_spread=D("20"), take_profit_spread=D("1"), roll_by=date(2026, 12, 20))
    messages = [m for ms in model_errors(bad).values() for m in ms]
    assert messages and not any("Constraint" in m or "violated" in m for m in messages)
    assert "The quantity must be at least 1 spread (-1 front / +1 next month)." in messages
    assert "The short entry price must be above 0: a VXM future never trades at 0." in messages
