"""The VRP-CS position config: levels on the right sides, dates from the calendar, full history."""

from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse

from dspops.core import vx
from rolls.flags import spread_position_flags
from sleeves.models import SpreadPosition
from dspops.core.instruments import vxm_instrument
from sleeves.models import Sleeve


@pytest.fixture
def legs(booted):
    return vxm_instrument(vx.ContractMonth(2026, 12)), vxm_instrument(vx.ContractMonth(2027, 1))


def form_data(short_leg, long_leg, **overrides):
    data = {
        "sleeve": Sleeve.objects.get(code="VRP_CS").pk, "is_active": "on", "short_leg": short_leg.pk,
        "long_leg": long_leg.pk, "quantity": "1", "entry_date": "2026-11-20", "short_entry_price": "17.45",
        "long_entry_price": "18.10", "entry_spread": "", "stop_loss_spread": "", "take_profit_spread": "",
        "settlement_date": "", "roll_by": "", "note": "",
    }
    data.update(overrides)
    return data


def test_blank_dates_and_levels_come_from_the_calendar_and_the_defaults(operator_client, legs):
    response = operator_client.post(reverse("admin:sleeves_spreadposition_add"), form_data(*legs))
    assert response.status_code == 302, response.context["adminform"].form.errors
    position = SpreadPosition.objects.get()
    assert (position.entry_spread, position.stop_loss_spread, position.take_profit_spread) == (
        Decimal("0.65"), Decimal("0.32"), Decimal("1.30"))
    assert (position.settlement_date, position.roll_by) == (date(2026, 12, 16), date(2026, 12, 9))
    assert spread_position_flags(position, today=date(2026, 11, 24)) == []


def test_a_stop_on_the_profit_side_is_refused_with_the_reason(operator_client, legs):
    response = operator_client.post(reverse("admin:sleeves_spreadposition_add"),
                                    form_data(*legs, stop_loss_spread="0.81", take_profit_spread="0.32"))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "must be below the entry spread" in errors["stop_loss_spread"][0]
    assert "must be above the entry spread" in errors["take_profit_spread"][0]
    assert SpreadPosition.objects.count() == 0


def test_a_non_positive_entry_needs_both_levels_typed(operator_client, legs):
    response = operator_client.post(reverse("admin:sleeves_spreadposition_add"),
                                    form_data(*legs, short_entry_price="18.20", long_entry_price="18.10"))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "The entry spread is not positive: enter both the stop and the take-profit." in errors["stop_loss_spread"]


def test_the_database_refuses_inverted_levels_even_without_the_form(legs):
    short_leg, long_leg = legs
    with pytest.raises(IntegrityError, match="spread_stop_below_entry"), transaction.atomic():
        SpreadPosition.objects.create(
            sleeve=Sleeve.objects.get(code="VRP_CS"), short_leg=short_leg, long_leg=long_leg, quantity=1,
            short_entry_price=Decimal("16.24"), long_entry_price=Decimal("17.87"), entry_date=date(2026, 1, 2),
            entry_spread=Decimal("1.63"), stop_loss_spread=Decimal("2.04"), take_profit_spread=Decimal("3.26"),
            settlement_date=date(2026, 12, 16), roll_by=date(2026, 12, 9))


def test_hand_edited_dates_are_kept_and_flagged(operator_client, legs):
    response = operator_client.post(reverse("admin:sleeves_spreadposition_add"),
                                    form_data(*legs, settlement_date="2026-12-17", roll_by="2026-12-11"))
    assert response.status_code == 302
    position = SpreadPosition.objects.get()
    flags = spread_position_flags(position, today=date(2026, 11, 24))
    assert flags[0].startswith("Settlement 2026-12-17 was entered by hand; the calendar says 2026-12-16")
    assert flags[1].startswith("Roll-by 2026-12-11 was entered by hand; the calendar says 2026-12-09")


def test_a_config_whose_short_leg_settled_is_flagged_as_expired(legs):
    short_leg, long_leg = legs
    position = SpreadPosition(short_leg=short_leg, long_leg=long_leg, settlement_date=date(2026, 12, 16),
                              roll_by=date(2026, 12, 9))
    assert any("settled on 2026-12-16" in f for f in spread_position_flags(position, today=date(2026, 12, 17)))
    assert spread_position_flags(position, today=date(2026, 12, 15)) == []


def test_the_long_leg_must_settle_after_the_short_leg(legs):
    short_leg, long_leg = legs
    position = SpreadPosition(
        sleeve=Sleeve.objects.get(code="VRP_CS"), short_leg=long_leg, long_leg=short_leg, quantity=1,
        short_entry_price=Decimal("18"), long_entry_price=Decimal("19"), entry_date=date(2026, 11, 2),
        entry_spread=Decimal("1"), stop_loss_spread=Decimal("0.5"), take_profit_spread=Decimal("2"),
        settlement_date=date(2027, 1, 20), roll_by=date(2027, 1, 12))
    with pytest.raises(ValidationError, match="must settle after the short leg"):
        position.full_clean()


def test_every_edit_of_the_config_is_kept_in_its_history(operator_client, legs):
    operator_client.post(reverse("admin:sleeves_spreadposition_add"), form_data(*legs))
    position = SpreadPosition.objects.get()
    data = form_data(*legs, entry_spread="0.65", stop_loss_spread="0.30", take_profit_spread="1.30",
                     settlement_date="2026-12-16", roll_by="2026-12-09")
    response = operator_client.post(reverse("admin:sleeves_spreadposition_change", args=[position.pk]), data)
    assert response.status_code == 302
    versions = list(position.history.order_by("history_date").values_list("stop_loss_spread", flat=True))
    assert versions == [Decimal("0.32"), Decimal("0.30")]
