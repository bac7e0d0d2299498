"""One book, five views, the same figures (issue 13 item 1; DECISIONS.md section 9).

The book has reversals (a typo buy, a partial close booked by mistake), a partial close, a cross through zero,
commissions (one missing), two sleeves and a VXM calendar spread (multiplier 100). The positions page, the
dashboard, the digest, the broker page and reconciliation (its report and its stored run, against the TWS
simulator over TCP) must all show the quantity, average cost, market value and unrealised P&L that
sleeves.selectors.positions_by_sleeve gives, said the one way dspops.core.formats says them.
"""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from digests.alert_rules import SLEEVE_LABELS
from digests.render import render_digest
from digests.services import build_snapshot
from dspops.core import clock, formats
from dspops.core.instruments import vxm_instrument
from dspops.core.models import Instrument
from sleeves.models import Fill, FillSource, MonitorRun, RunKind, Side, Sleeve
from sleeves.reconcile import reconcile
from sleeves.selectors import positions_by_sleeve
from sleeves.services import reverse_fill

D = Decimal
pytestmark = pytest.mark.usefixtures("cfe_session_clock")


def book_fill(sleeve, instrument, side, quantity, price, *, minutes_ago, commission="1.00"):
    return Fill.objects.create(
        sleeve=Sleeve.objects.get(code=sleeve), instrument=instrument, side=side, quantity=D(quantity),
        price=D(price), commission=None if commission is None else D(commission),
        executed_at=clock.now() - timedelta(minutes=minutes_ago), source=FillSource.MANUAL,
    )


@pytest.fixture
def book(operator_user, today_book, broker):
    broker("calm_contango")
    stock = {s: Instrument.objects.get(local_symbol=s, sec_type="STK") for s in ("SPY", "EEM", "EFA")}
    front, second = (vxm_instrument(m) for m in today_book.months[:2])
    # VRP-ERP: SPY 13 @ 619.70 (one commission not reported), a SELL 6 booked by mistake and reversed, then
    # a real partial close of 3.
    book_fill("VRP_ERP", stock["SPY"], Side.BUY, "11", "612.35", minutes_ago=300)
    book_fill("VRP_ERP", stock["SPY"], Side.BUY, "2", "660.12", minutes_ago=290, commission=None)
    wrong = book_fill("VRP_ERP", stock["SPY"], Side.SELL, "6", "664.19", minutes_ago=280)
    reverse_fill(fill=wrong, user=operator_user, reason="sold in the wrong account")
    book_fill("VRP_ERP", stock["SPY"], Side.SELL, "3", "663.00", minutes_ago=270)
    # DM: EEM 220 @ 47.10 and a typo BUY 5 @ 4980, reversed; EFA crosses through zero (long 10, sell 15).
    book_fill("DM", stock["EEM"], Side.BUY, "220", "47.10", minutes_ago=260)
    typo = book_fill("DM", stock["EEM"], Side.BUY, "5", "4980", minutes_ago=250)
    reverse_fill(fill=typo, user=operator_user, reason="typed 4980 for 49.80")
    book_fill("DM", stock["EFA"], Side.BUY, "10", "84.20", minutes_ago=240)
    book_fill("DM", stock["EFA"], Side.SELL, "15", "86.00", minutes_ago=230)
    # VRP-CS: short 1 front / long 1 second, the long leg built as BUY 2 then a partial close of 1.
    book_fill("VRP_CS", front, Side.SELL, "1", "17.45", minutes_ago=220, commission="1.05")
    book_fill("VRP_CS", second, Side.BUY, "2", "18.10", minutes_ago=210, commission="2.10")
    book_fill("VRP_CS", second, Side.SELL, "1", "18.40", minutes_ago=200, commission="1.05")
    return {"front": front.local_symbol, "second": second.local_symbol}


def said(p) -> dict[str, str]:
    """What every view must show for position p, in the kernel's formats."""
    return {"quantity": formats.quantity(p.quantity), "average_cost": formats.price(p.average_cost),
            "market_value": formats.usd(p.market_value_usd),
            "unrealized": formats.usd(p.unrealized_pnl_usd, with_sign=True)}


def html_rows(page: str, table_id: str) -> dict[tuple[str, str], dict[str, str]]:
    table = re.search(rf'<table[^>]*id="{table_id}".*?</table>', page, re.S).group(0)
    rows = {}
    for sleeve, symbol, cells in re.findall(r'<tr data-sleeve="([^"]*)" data-symbol="([^"]*)">(.*?)</tr>', table, re.S):
        cell = {name: re.sub(r"<[^>]+>", "", text).strip()
                for name, text in re.findall(r'<td class="num (\w+)">(.*?)</td>', cells, re.S)}
        rows[(sleeve, symbol)] = {"quantity": cell["qty"], "average_cost": cell["avg"],
                                  "market_value": cell["mv"], "unrealized": cell["upnl"]}
    return rows


def digest_rows(markdown: str) -> dict[tuple[str, str], dict[str, str]]:
    labels = {label: code for code, label in SLEEVE_LABELS.items()}
    section = markdown.split("## Positions and Reconciliation", 1)[1].split("\n## ", 1)[0]
    rows, sleeve = {}, None
    for line in section.splitlines():
        if line.startswith("- ") and line.endswith(":"):
            sleeve = labels.get(line[2:-1], "")
        match = re.match(r"  - `([^`]+)`: qty `([^`]+)` @ `([^`]+)` per unit \| mark .*? \| value `([^`]+)` \| "
                         r"unrealised `([^`]+)`", line)
        if match:
            symbol, quantity, average, value, unrealized = match.groups()
            rows[(sleeve, symbol)] = {"quantity": quantity, "average_cost": average, "market_value": value,
                                      "unrealized": unrealized}
    return rows


def test_the_five_views_show_the_same_positions(book, operator_client):
    operator_client.post(reverse("admin:dspops_brokersnapshot_refresh"))  # quotes (the marks) and the broker's book
    positions = positions_by_sleeve()
    expected = {(p.sleeve_code or "", p.instrument.local_symbol): said(p) for p in positions}

    # The selector's own answer is right: the measured cases and the multiplier.
    by_key = {(p.sleeve_code, p.instrument.local_symbol): p for p in positions}
    spy, eem, efa = by_key[("VRP_ERP", "SPY")], by_key[("DM", "EEM")], by_key[("DM", "EFA")]
    assert (spy.quantity, formats.price(round(spy.average_cost, 2))) == (D(10), "619.70")
    assert round(spy.realized_pnl_points, 2) == round(3 * (D("663.00") - spy.average_cost), 2)
    assert (spy.commissions_usd, spy.commissions_missing) == (D("2.00"), 1)
    assert (eem.quantity, eem.average_cost, eem.realized_pnl_points) == (D(220), D("47.100000"), D(0))
    assert (efa.quantity, efa.average_cost) == (D(-5), D("86.000000"))
    short, long = by_key[("VRP_CS", book["front"])], by_key[("VRP_CS", book["second"])]
    assert (short.quantity, long.quantity, long.average_cost) == (D(-1), D(1), D("18.100000"))
    for leg in (short, long):
        assert leg.mark is not None and leg.mark.price is not None, leg.mark
        assert leg.market_value_usd == leg.quantity * leg.mark.price * 100
        assert leg.unrealized_pnl_usd == (leg.mark.price - leg.average_cost) * leg.quantity * 100
    assert spy.mark.price is not None and spy.market_value_usd == 10 * spy.mark.price

    views = {}
    views["positions page"] = html_rows(operator_client.get(reverse("admin:sleeves_positions")).content.decode(),
                                        "positions")
    views["dashboard"] = html_rows(operator_client.get(reverse("admin:index")).content.decode(),
                                   "dashboard-positions")
    views["digest"] = digest_rows(render_digest(build_snapshot(trading_date=clock.current_session())))
    views["broker page"] = html_rows(
        operator_client.get(reverse("admin:dspops_brokersnapshot_changelist")).content.decode(), "book-positions")
    report = reconcile(role="test", triggered_by="test")
    views["reconciliation report"] = {(p.sleeve_code or "", p.instrument.local_symbol): said(p)
                                      for p in report.positions}
    run = MonitorRun.objects.get(pk=report.run_id, kind=RunKind.RECONCILE)
    views["reconciliation run"] = {
        (p["sleeve"] or "", p["local_symbol"]): {"quantity": p["quantity"], "average_cost": p["average_cost"],
                                                 "market_value": p["market_value_usd"],
                                                 "unrealized": p["unrealized_pnl_usd"]}
        for p in run.outputs["positions"]}

    assert len(expected) == 5  # SPY, EEM, EFA and the two VXM legs
    for name, shown in views.items():
        assert shown == expected, name
    # Reconciliation's per-contract fills quantity is the same selector's, summed over the sleeves.
    spy_break = [b for b in report.breaks if b.local_symbol == "SPY"]
    assert [b.fills_quantity for b in spy_break] == [D(10)]  # the broker holds 13
