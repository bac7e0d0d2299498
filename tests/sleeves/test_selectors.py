"""positions_by_sleeve, the one positions selector: a reversal cancels its fill (DECISIONS.md section 9), and
each position carries its commissions and a mark from the latest stored quote."""

from datetime import timedelta
from decimal import Decimal

import pytest

from dspops.core import clock
from dspops.core.models import Instrument, QuoteSnapshot
from dspops.demo import load_demo
from sleeves.models import Fill, FillSource, Side, Sleeve
from sleeves.selectors import positions_by_sleeve
from sleeves.services import reverse_fill

D = Decimal


def book_fill(sleeve: str, symbol: str, side: str, quantity: str, price: str, *, minutes_ago: int = 60,
              commission: str | None = "1.00") -> Fill:
    return Fill.objects.create(
        sleeve=Sleeve.objects.get(code=sleeve), instrument=Instrument.objects.get(local_symbol=symbol, sec_type="STK"),
        side=side, quantity=D(quantity), price=D(price), executed_at=clock.now() - timedelta(minutes=minutes_ago),
        commission=None if commission is None else D(commission), source=FillSource.MANUAL,
    )


@pytest.fixture
def demo_book(booted):
    """The demo book (dspops/demo.py) with calm_contango's SPY execution synced: SPY 13 @ 619.70, EEM 220 @ 47.10."""
    load_demo()
    book_fill("VRP_ERP", "SPY", Side.BUY, "2", "660.12", minutes_ago=24 * 60)
    return booted


def held(sleeve: str, symbol: str):
    [position] = [p for p in positions_by_sleeve(include_flat=True)
                  if p.sleeve_code == sleeve and p.instrument.local_symbol == symbol]
    return position


def test_the_demo_book_holds_what_the_simulator_holds(demo_book):
    spy, eem = held("VRP_ERP", "SPY"), held("DM", "EEM")
    assert (spy.quantity, round(spy.average_cost, 2)) == (D(13), D("619.70"))  # (11 x 612.35 + 2 x 660.12) / 13
    assert (eem.quantity, eem.average_cost) == (D(220), D("47.100000"))


def test_a_reversed_typo_buy_leaves_the_average_cost_where_it_was(demo_book, operator_user):
    # Measured: DM EEM BUY 5 @ 4980 then reversed showed EEM 220 @ 156.4776 (47.10 before).
    before = held("DM", "EEM")
    typo = book_fill("DM", "EEM", Side.BUY, "5", "4980", minutes_ago=30)
    reverse_fill(fill=typo, user=operator_user, reason="typed 4980 for 49.80")
    after = held("DM", "EEM")
    assert (after.quantity, after.average_cost, after.realized_pnl_points) == (
        before.quantity, before.average_cost, before.realized_pnl_points) == (D(220), D("47.100000"), D(0))
    assert (after.commissions_usd, after.commissions_missing) == (before.commissions_usd, 0)


def test_a_reversed_partial_close_leaves_the_average_and_the_realised_pnl_where_they_were(demo_book, operator_user):
    # Measured: reversing a VRP-ERP SPY SELL 6 @ 664.19 moved SPY from 619.70 to 643.63.
    before = held("VRP_ERP", "SPY")
    sale = book_fill("VRP_ERP", "SPY", Side.SELL, "6", "664.19", minutes_ago=30)
    sold = held("VRP_ERP", "SPY")
    assert (sold.quantity, sold.average_cost) == (D(7), before.average_cost)
    assert round(sold.realized_pnl_points, 2) == D("266.94")  # 6 x (664.19 - 619.70)
    reverse_fill(fill=sale, user=operator_user, reason="sold in the wrong account")
    after = held("VRP_ERP", "SPY")
    assert (after.quantity, after.average_cost, after.realized_pnl_points) == (
        before.quantity, before.average_cost, before.realized_pnl_points)
    assert (after.quantity, round(after.average_cost, 2), after.realized_pnl_points) == (D(13), D("619.70"), D(0))


def test_as_of_before_the_reversal_counts_the_fill_and_after_it_cancels_it(booted, operator_user):
    fill = book_fill("VRP_ERP", "SPY", Side.BUY, "10", "600", minutes_ago=120)
    later = fill.executed_at + timedelta(minutes=30)
    reverse_fill(fill=fill, user=operator_user, reason="typo")  # dated like its fill: both in or out together
    assert [p.quantity for p in positions_by_sleeve(as_of=later)] == []
    assert [p.quantity for p in positions_by_sleeve(as_of=fill.executed_at - timedelta(seconds=1))] == []


def test_commissions_sum_the_fills_that_count_and_say_how_many_are_missing(booted, operator_user):
    book_fill("VRP_ERP", "SPY", Side.BUY, "10", "600", commission="1.25", minutes_ago=90)
    book_fill("VRP_ERP", "SPY", Side.BUY, "3", "610", commission=None, minutes_ago=80)
    wrong = book_fill("VRP_ERP", "SPY", Side.BUY, "4", "611", commission="9.99", minutes_ago=70)
    reverse_fill(fill=wrong, user=operator_user, reason="typed twice")  # its reversal has no commission
    spy = held("VRP_ERP", "SPY")
    assert (spy.quantity, spy.fill_count, spy.commissions_usd, spy.commissions_missing) == (D(13), 2, D("1.25"), 1)


def test_the_mark_is_the_latest_stored_quote_mid_else_last_else_close(booted):
    book_fill("VRP_ERP", "SPY", Side.BUY, "10", "600", minutes_ago=90)
    spy = Instrument.objects.get(local_symbol="SPY", sec_type="STK")
    assert held("VRP_ERP", "SPY").mark.price is None
    assert held("VRP_ERP", "SPY").market_value_usd is None and held("VRP_ERP", "SPY").unrealized_pnl_usd is None
    QuoteSnapshot.objects.create(instrument=spy, bid=D("650.00"), ask=D("650.20"), last=D("649"), source="live",
                                 as_of=clock.now() - timedelta(minutes=20), valid=True)
    QuoteSnapshot.objects.create(instrument=spy, last=D("651.00"), close=D("640"), source="frozen",
                                 as_of=clock.now() - timedelta(minutes=10), valid=True)
    position = held("VRP_ERP", "SPY")
    assert (position.mark.price, position.mark.basis, position.mark.source) == (D("651.00"), "last", "frozen")
    assert position.market_value_usd == D("6510.00")
    assert position.unrealized_pnl_usd == D("510.00")


def test_an_invalid_latest_quote_gives_no_mark_and_says_why(booted):
    book_fill("VRP_ERP", "SPY", Side.BUY, "10", "600", minutes_ago=90)
    spy = Instrument.objects.get(local_symbol="SPY", sec_type="STK")
    QuoteSnapshot.objects.create(instrument=spy, bid=D("651"), ask=D("650"), source="live",
                                 as_of=clock.now() - timedelta(minutes=5), valid=False, invalid_reason="crossed market")
    position = held("VRP_ERP", "SPY")
    assert position.mark.price is None and "crossed market" in position.mark.reason
    assert position.market_value_usd is None


def test_the_digest_prints_the_averages_of_the_book_without_the_reversed_pairs(cfe_session_clock, demo_book,
                                                                               operator_user):
    # cfe_session_clock first: the book's fills are dated from the pinned session, so any day works.
    # Measured: the digest printed `EEM`: qty `220` @ `156.72` after the typo was reversed.
    from digests.render import render_digest
    from digests.services import build_snapshot

    typo = book_fill("DM", "EEM", Side.BUY, "5", "4980", minutes_ago=30)
    reverse_fill(fill=typo, user=operator_user, reason="typed 4980 for 49.80")
    sale = book_fill("VRP_ERP", "SPY", Side.SELL, "6", "664.19", minutes_ago=20)
    reverse_fill(fill=sale, user=operator_user, reason="wrong account")
    markdown = render_digest(build_snapshot(trading_date=clock.current_session()))
    assert "  - `EEM`: qty `220` @ `47.10` per unit | " in markdown
    spy = held("VRP_ERP", "SPY")
    assert f"  - `SPY`: qty `13` @ `{spy.average_cost.normalize():f}` per unit | " in markdown
    assert round(spy.average_cost, 2) == D("619.70")
