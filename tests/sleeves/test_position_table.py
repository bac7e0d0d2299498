"""The positions table (issue 14 item 1): kept by every fill and reversal in the same transaction, read by the
positions selector at a constant cost, checked and repaired by ``rebuild_positions``.

tests/conftest.py also compares the table with a replay of the fills after every test that used the database,
so every fill-writing path the suite exercises (the fill form, Flex and API imports, roll leg fills, reversals,
attribution, the demo, legacy imports) is checked to keep it.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from dspops.core import clock
from dspops.core.models import Instrument
from sleeves.models import Fill, FillSource, Side, Sleeve, SleevePosition
from sleeves.position_book import PositionBook
from sleeves.selectors import positions_by_sleeve
from sleeves.services import positions_table_differences, reverse_fill

D = Decimal


def fill(sleeve, symbol, side, quantity, price, *, minutes_ago, commission="1.00"):
    return Fill.objects.create(
        sleeve=Sleeve.objects.get(code=sleeve) if sleeve else None,
        instrument=Instrument.objects.get(local_symbol=symbol, sec_type="STK"), side=side, quantity=D(quantity),
        price=D(price), commission=None if commission is None else D(commission),
        executed_at=clock.now() - timedelta(minutes=minutes_ago), source=FillSource.MANUAL,
    )


def row(sleeve, symbol):
    return SleevePosition.objects.get(sleeve__code=sleeve, instrument__local_symbol=symbol, instrument__sec_type="STK")


def check_output() -> str:
    from io import StringIO

    out = StringIO()
    call_command("rebuild_positions", "--check", stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_each_fill_moves_its_row_in_the_same_transaction(booted):
    fill("VRP_ERP", "SPY", Side.BUY, "10", "600.00", minutes_ago=30)
    fill("VRP_ERP", "SPY", Side.BUY, "5", "630.00", minutes_ago=20, commission=None)
    fill("VRP_ERP", "SPY", Side.SELL, "3", "640.00", minutes_ago=10)
    spy = row("VRP_ERP", "SPY")
    assert (spy.quantity, spy.average_cost, spy.realized_pnl_points) == (D(12), D("610.00"), D("90.00"))
    assert (spy.fill_count, spy.commissions_usd, spy.commissions_missing) == (3, D("2.00"), 1)
    assert "positions: no difference (3 fills replayed)" in check_output()

    # A failing write leaves neither the fill nor the row moved.
    with pytest.raises(RuntimeError), transaction.atomic():
        fill("VRP_ERP", "SPY", Side.BUY, "100", "600.00", minutes_ago=5)
        raise RuntimeError("the caller's transaction fails after the fill")
    assert row("VRP_ERP", "SPY").quantity == D(12)


@pytest.mark.django_db
def test_a_fill_dated_before_the_last_one_replays_its_book(booted):
    """Average cost depends on the order: a late-reported earlier fill must not be added at the end."""
    fill("DM", "EEM", Side.BUY, "100", "40.00", minutes_ago=30)
    fill("DM", "EEM", Side.SELL, "100", "44.00", minutes_ago=10)  # flat, realised 400
    fill("DM", "EEM", Side.BUY, "100", "42.00", minutes_ago=20)  # reported late: held 200 @ 41 before the sale
    eem = row("DM", "EEM")
    assert (eem.quantity, eem.average_cost, eem.realized_pnl_points) == (D(100), D("41.00"), D("300.00"))
    assert positions_table_differences()[0] == []


@pytest.mark.django_db
def test_a_reversal_takes_the_pair_off_the_row(booted, operator_user):
    fill("DM", "EFA", Side.BUY, "10", "84.20", minutes_ago=30)
    wrong = fill("DM", "EFA", Side.SELL, "15", "86.00", minutes_ago=20)
    assert row("DM", "EFA").quantity == D(-5)
    reverse_fill(fill=wrong, user=operator_user, reason="wrong account")
    efa = row("DM", "EFA")
    assert (efa.quantity, efa.average_cost, efa.realized_pnl_points, efa.fill_count) == (D(10), D("84.20"), 0, 1)
    only = fill("DM", "SHY", Side.BUY, "1", "82.00", minutes_ago=10)
    reverse_fill(fill=only, user=operator_user, reason="typo")
    shy = SleevePosition.objects.get(instrument__local_symbol="SHY")  # nothing counts: the row stays, empty
    assert (shy.quantity, shy.fill_count, shy.last_fill_id) == (0, 0, None)
    assert "SHY" not in {p.instrument.local_symbol for p in positions_by_sleeve(include_flat=True)}


@pytest.mark.django_db
def test_attributing_a_fill_moves_it_between_rows(booted):
    stray = fill(None, "GLD", Side.BUY, "7", "190.00", minutes_ago=20)
    assert SleevePosition.objects.get(sleeve__isnull=True, instrument=stray.instrument).quantity == D(7)
    Fill.objects.filter(pk=stray.pk).update(sleeve=Sleeve.objects.get(code="DM"))
    assert SleevePosition.objects.get(sleeve__isnull=True).fill_count == 0
    assert row("DM", "GLD").quantity == D(7)


@pytest.mark.django_db
def test_bulk_created_fills_are_booked(booted):
    spy = Instrument.objects.get(local_symbol="SPY", sec_type="STK")
    erp = Sleeve.objects.get(code="VRP_ERP")
    Fill.objects.bulk_create([
        Fill(sleeve=erp, instrument=spy, side=Side.BUY, quantity=D(1), price=D(600 + i), commission=D("0.35"),
             executed_at=clock.now() - timedelta(minutes=100 - i), source=FillSource.FLEX, exec_id=f"BULK-{i}")
        for i in range(20)
    ])
    assert row("VRP_ERP", "SPY").quantity == D(20)
    assert row("VRP_ERP", "SPY").average_cost == D("609.50")


@pytest.mark.django_db
@pytest.mark.positions_unchecked
def test_check_reports_each_difference_and_rebuild_repairs_it(booted):
    fill("VRP_ERP", "SPY", Side.BUY, "10", "600.00", minutes_ago=30)
    fill("DM", "EEM", Side.BUY, "100", "40.00", minutes_ago=20)
    SleevePosition.objects.filter(instrument__local_symbol="SPY").update(quantity=D(11))
    SleevePosition.objects.filter(instrument__local_symbol="EEM").delete()
    SleevePosition.objects.create(sleeve=Sleeve.objects.get(code="DM"), fill_count=1, quantity=D(3),
                                  instrument=Instrument.objects.get(local_symbol="GLD", sec_type="STK"))

    with pytest.raises(CommandError) as refused:
        check_output()
    assert refused.value.returncode == 4
    assert "positions: 3 positions (15 figures) differ from the fills (2 fills replayed)" in str(refused.value)
    differences, replayed = positions_table_differences()
    said = [str(d) for d in differences]
    assert replayed == 2
    assert "VRP_ERP SPY: quantity stored 11.0000, fills give 10.0000" in said
    assert any(s.startswith("DM EEM: quantity stored no row, fills give 100") for s in said)
    assert any(s.startswith("DM GLD: quantity stored 3") and s.endswith("fills give no position") for s in said)

    from io import StringIO

    out = StringIO()
    call_command("rebuild_positions", stdout=out)
    assert "positions: repaired; 3 positions (15 figures) differ from the fills (2 fills replayed) before" in out.getvalue()
    assert positions_table_differences()[0] == []
    assert "no difference" in check_output()
    assert SleevePosition.objects.get(instrument__local_symbol="GLD").fill_count == 0  # emptied, not deleted


@pytest.mark.django_db
def test_current_positions_read_the_table_not_the_fills(booted):
    """Constant cost: now the selector reads the table's few rows, never the fills; at an earlier moment it also
    looks up which positions have a fill dated after it (an indexed range) and replays only those."""
    for i in range(30):
        fill("VRP_ERP", "SPY", Side.BUY if i % 3 else Side.SELL, "2", str(600 + i), minutes_ago=100 - i)
    fill("DM", "EEM", Side.BUY, "100", "40.00", minutes_ago=50)

    def fill_reads(**kwargs):
        with CaptureQueriesContext(connection) as captured:
            positions = positions_by_sleeve(**kwargs)
        reads = [q["sql"] for q in captured.captured_queries if '"sleeves_fill"' in q["sql"]]
        return positions, reads

    now_positions, reads = fill_reads()
    assert reads == []
    after_positions, reads = fill_reads(as_of=clock.now())
    assert len(reads) == 1 and "DISTINCT" in reads[0].upper()  # which positions have later fills: none
    earlier, reads = fill_reads(as_of=clock.now() - timedelta(minutes=85))
    assert len(reads) == 3 and all("ORDER BY" in sql for sql in reads[1:])  # SPY and EEM replayed, nothing else

    def figures(positions):
        return [(p.sleeve_code, p.instrument.local_symbol, p.quantity, p.average_cost, p.realized_pnl_points,
                 p.fill_count) for p in positions]

    assert figures(now_positions) == figures(after_positions)
    assert {p.instrument.local_symbol for p in earlier} == {"SPY"}  # EEM was bought 50 minutes ago
    assert [p.quantity for p in earlier if p.instrument.local_symbol == "SPY"] != [row("VRP_ERP", "SPY").quantity]


def test_the_book_rounds_to_what_the_table_stores():
    """The replay and the table go on from the same figures: a book that went through the table's precision
    continues exactly as one that did not (thirds never end)."""
    straight, stored = PositionBook(), PositionBook()
    for signed, price in ((D(3), D("10.00")), (D(3), D("10.01")), (D(3), D("10.03")), (D(-4), D("10.50")),
                          (D(7), D("9.99")), (D(-12), D("10.20"))):
        straight.add(signed, price, D("1.00"))
        stored.add(signed, price, D("1.00"))
        stored = PositionBook(held=stored.held.quantize(D("0.0001")), average=stored.average.quantize(D("1e-8")),
                              realised=stored.realised.quantize(D("1e-6")), count=stored.count,
                              commissions=stored.commissions, commissions_missing=stored.commissions_missing)
        assert stored == straight


@pytest.mark.django_db
def test_a_backfilled_batch_replays_each_book_once(booted, monkeypatch):
    """An import of earlier executions (a Flex month after the API synced today) replays each book once at the end
    of the batch, in its transaction, not once per fill."""
    from sleeves import models

    replayed = []
    real = models.replay_book
    monkeypatch.setattr(models, "replay_book", lambda *a, **k: replayed.append(a) or real(*a, **k))
    fill("VRP_ERP", "SPY", Side.BUY, "10", "600.00", minutes_ago=10)
    with models.positions_batch():
        for i in range(12):
            fill("VRP_ERP", "SPY", Side.BUY if i % 2 == 0 else Side.SELL, "1", str(590 + i), minutes_ago=200 - i)
            fill("DM", "EEM", Side.BUY, "1", str(40 + i), minutes_ago=200 - i)
        assert replayed == []
    spy = row("VRP_ERP", "SPY")
    assert replayed == [(spy.sleeve_id, spy.instrument_id)]  # SPY only: EEM's fills came in order, each moved its row
    assert (spy.quantity, spy.fill_count) == (D(10), 13)
    assert row("DM", "EEM").quantity == D(12)
    assert positions_table_differences()[0] == []


@pytest.mark.django_db
def test_a_fill_that_would_overflow_its_position_is_refused_with_the_figures(booted, operator_user):
    """A price typed a thousand times too large must not leave a position the table cannot keep exactly (SQLite
    keeps 15 digits): the fill is refused, by the form's check and by the save, and nothing is written."""
    from django.core.exceptions import ValidationError

    fill("VRP_ERP", "SPY", Side.BUY, "10000", "600000", minutes_ago=30)
    spy = Instrument.objects.get(local_symbol="SPY", sec_type="STK")
    sale = Fill(sleeve=Sleeve.objects.get(code="VRP_ERP"), instrument=spy, side=Side.SELL, quantity=D(10000),
                price=D("600"), commission=D("1.00"), executed_at=clock.now() - timedelta(minutes=20),
                source=FillSource.MANUAL)
    with pytest.raises(ValidationError) as by_clean:
        sale.full_clean()
    assert "VRP_ERP SPY position's realised P&L (points) -5994000000.000000 (the limit is ±999999999.999999)" in str(
        by_clean.value)
    with pytest.raises(ValidationError), transaction.atomic():
        sale.save()
    assert Fill.objects.count() == 1 and row("VRP_ERP", "SPY").quantity == D(10000)
    assert [p.quantity for p in positions_by_sleeve()] == [D(10000)]  # still readable


@pytest.mark.django_db
def test_bulk_attribution_moves_the_positions_and_other_bulk_edits_are_refused(booted):
    from django.core.exceptions import ValidationError

    stray = [fill(None, "GLD", Side.BUY, "2", "190.00", minutes_ago=20 - i) for i in range(3)]
    dm = Sleeve.objects.get(code="DM")
    for f in stray:
        f.sleeve = dm
    Fill.objects.bulk_update(stray, ["sleeve"])
    assert row("DM", "GLD").quantity == D(6)
    with pytest.raises(ValidationError):
        Fill.objects.bulk_update(stray, ["price"])
    with pytest.raises(ValidationError):
        Fill.objects.bulk_create(stray, update_conflicts=True, unique_fields=["exec_id"], update_fields=["price"])


@pytest.mark.django_db
def test_an_earlier_moment_replays_only_the_positions_with_later_fills(booted, monkeypatch):
    """The digest rebuilt the next morning: one position traded since; the others come from the table."""
    from sleeves import selectors

    fill("DM", "EEM", Side.BUY, "100", "40.00", minutes_ago=300)
    fill("VRP_ERP", "SPY", Side.BUY, "10", "600.00", minutes_ago=300)
    fill("VRP_ERP", "SPY", Side.SELL, "4", "610.00", minutes_ago=10)
    replayed = []
    real = selectors.replay_book
    monkeypatch.setattr(selectors, "replay_book", lambda *a, **k: replayed.append(a) or real(*a, **k))
    then = {p.instrument.local_symbol: p.quantity for p in positions_by_sleeve(as_of=clock.now() - timedelta(hours=1))}
    assert then == {"EEM": D(100), "SPY": D(10)}
    spy = row("VRP_ERP", "SPY")
    assert replayed == [(spy.sleeve_id, spy.instrument_id)]
