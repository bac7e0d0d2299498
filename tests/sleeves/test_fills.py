"""Fills: the database refuses bad rows, and a fill is never edited in place."""

from datetime import datetime, timezone
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from dspops.core.models import Instrument
from sleeves.models import Fill, FillSource, Side, Sleeve
from sleeves.selectors import net_positions_by_instrument, positions_by_sleeve
from sleeves.services import reverse_fill

T0 = datetime(2026, 11, 2, 15, 0, tzinfo=timezone.utc)


def make_fill(symbol="SPY", sleeve="VRP_ERP", side=Side.BUY, quantity="10", price="680.00", minutes=0, **extra):
    return Fill.objects.create(
        sleeve=Sleeve.objects.get(code=sleeve) if sleeve else None,
        instrument=Instrument.objects.get(local_symbol=symbol, sec_type="STK"),
        side=side, quantity=Decimal(quantity), price=Decimal(price),
        executed_at=T0.replace(minute=minutes), source=FillSource.MANUAL, **extra,
    )


@pytest.mark.parametrize(
    "field, value, constraint",
    [("quantity", "0", "fill_quantity_positive"), ("quantity", "-5", "fill_quantity_positive"),
     ("price", "0", "fill_price_positive"), ("commission", "-1", "fill_commission_not_negative")],
)
def test_the_database_refuses_a_fill_with(booted, field, value, constraint):
    with pytest.raises(IntegrityError, match=constraint), transaction.atomic():
        make_fill(**{field: value}) if field != "commission" else make_fill(commission=Decimal(value))
    assert Fill.objects.count() == 0


def test_an_exec_id_can_be_recorded_only_once(booted):
    make_fill(exec_id="0001f4e8.6759a3b1.01.01")
    with pytest.raises(IntegrityError), transaction.atomic():
        make_fill(exec_id="0001f4e8.6759a3b1.01.01", minutes=5)
    assert Fill.objects.count() == 1


def test_manual_fills_without_exec_id_do_not_collide(booted):
    make_fill(exec_id="")
    make_fill(exec_id="", minutes=1)
    assert list(Fill.objects.values_list("exec_id", flat=True)) == [None, None]


def test_a_fill_cannot_be_edited_in_place(booted):
    fill = make_fill()
    fill.price = Decimal("1.00")
    with pytest.raises(ValidationError, match="never edited in place"):
        fill.save()
    with pytest.raises(ValidationError, match="never edited in place"):
        Fill.objects.filter(pk=fill.pk).update(price=Decimal("1.00"))
    with pytest.raises(ValidationError, match="never deleted"):
        fill.delete()
    assert Fill.objects.get(pk=fill.pk).price == Decimal("680.00")


def test_a_correction_is_a_reversal_plus_a_new_fill(booted, operator_user):
    wrong = make_fill(quantity="10", price="680.00")
    reversal = reverse_fill(fill=wrong, user=operator_user, reason="typed 10 instead of 11")
    make_fill(quantity="11", price="680.00", minutes=1)
    assert reversal.side == Side.SELL and reversal.quantity == Decimal("10") and reversal.reverses == wrong
    [position] = positions_by_sleeve()
    assert position.quantity == Decimal("11")
    with pytest.raises(ValidationError, match="already been reversed"):
        reverse_fill(fill=wrong, user=operator_user, reason="again")
    with pytest.raises(ValidationError, match="itself a reversal"):
        reverse_fill(fill=reversal, user=operator_user, reason="undo")


def test_positions_carry_the_average_cost_of_what_is_still_held(booted):
    make_fill(quantity="10", price="600.00", minutes=0)
    make_fill(quantity="10", price="700.00", minutes=1)
    make_fill(side=Side.SELL, quantity="5", price="720.00", minutes=2)
    make_fill(symbol="EFA", sleeve="DM", quantity="127", price="98.14", minutes=3)
    by_symbol = {p.instrument.local_symbol: p for p in positions_by_sleeve()}
    spy = by_symbol["SPY"]
    assert (spy.sleeve_code, spy.quantity, spy.average_cost) == ("VRP_ERP", Decimal("15"), Decimal("650.000000"))
    assert spy.realized_pnl_points == Decimal("350.00")  # 5 x (720 - 650)
    assert by_symbol["EFA"].sleeve_code == "DM"


def test_a_position_that_flips_side_restarts_its_average_at_the_crossing_price(booted):
    make_fill(quantity="2", price="100.00", minutes=0)
    make_fill(side=Side.SELL, quantity="5", price="110.00", minutes=1)
    [position] = positions_by_sleeve()
    assert position.quantity == Decimal("-3")
    assert position.average_cost == Decimal("110.000000")


def test_positions_as_of_a_time_ignore_later_fills(booted):
    make_fill(quantity="10", minutes=0)
    make_fill(quantity="3", minutes=30)
    [position] = positions_by_sleeve(as_of=T0.replace(minute=10))
    assert position.quantity == Decimal("10")


def test_unattributed_fills_count_towards_the_broker_total(booted):
    make_fill(quantity="10", minutes=0)
    make_fill(sleeve=None, quantity="3", minutes=1)
    spy = Instrument.objects.get(local_symbol="SPY")
    assert net_positions_by_instrument() == {spy.pk: Decimal("13")}
    assert {p.sleeve_code for p in positions_by_sleeve()} == {"VRP_ERP", None}
