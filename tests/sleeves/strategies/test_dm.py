"""DM: momentum selection, vol scaling, NAV, share targets and tickets, and missing data."""

import math
import statistics
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

import pytest

from sleeves.strategies.dm import (
    LEGACY_DEFAULTS,
    DmInputs,
    DmSettings,
    is_first_session_of_month,
    is_rebalance_day,
    plan,
)

D = Decimal
NAN = float("nan")
SESSION = date(2026, 2, 2)
QUIET, LIVELY = "0.0001", "0.01"  # alternating daily wiggle in the last 21 closes

# Momentum over the window, per symbol. The top three are GLD, SPY and PDBC.
MOMENTA = {"SPY": "0.15", "EFA": "0.05", "EEM": "-0.10", "IEF": "0.02", "TLT": "-0.05", "TIP": "0.01",
           "GLD": "0.25", "PDBC": "0.10", "UUP": "-0.02", "SHY": "0.03"}


def history(momentum, wiggle=QUIET, count=273):
    """``count`` closes: a ramp from 100 to 100 x (1 + momentum) over the 252-close window, then
    21 skipped closes that wiggle around the end of the ramp."""
    end = D(100) * (1 + D(momentum))
    ramp = [D(100) + (end - D(100)) * i / 251 for i in range(252)]
    tail = [end * (1 + D(wiggle) * (1 if i % 2 else -1)) for i in range(21)]
    closes = [c.quantize(D("0.0001")) for c in ramp + tail][-count:]
    return [(SESSION - timedelta(days=len(closes) - 1 - i), c) for i, c in enumerate(closes)]


FLAT = {}  # holds nothing (None would mean the positions are unknown)


def inputs(momenta=None, wiggle=QUIET, nlv="100000", shares=FLAT, prices=None, risk_scale="1", vol="1",
           **closes_overrides):
    momenta = {**MOMENTA, **(momenta or {})}
    closes = {s: history(m, wiggle) for s, m in momenta.items()}
    closes.update(closes_overrides)
    to_d = lambda v: D(v) if isinstance(v, str) else v  # noqa: E731
    return DmInputs(
        session=SESSION, closes=closes, nlv=to_d(nlv), current_shares=shares,
        prices={s: D("100") for s in momenta} if prices is None else prices,
        risk_scale=to_d(risk_scale), vol_multiplier=to_d(vol),
    )


def line(result, symbol):
    return next(line for line in result.lines if line.symbol == symbol)


def float_vol(closes, lookback=63):
    prices = [float(c) for _, c in closes][-(lookback + 1):]
    return statistics.stdev([b / a - 1 for a, b in zip(prices, prices[1:])]) * math.sqrt(252)


def test_the_top_three_by_momentum_are_held_and_a_quiet_market_is_levered_to_the_cap():
    result = plan(inputs(), LEGACY_DEFAULTS)
    assert (result.data_status, result.missing) == ("ok", ())
    assert result.selected == ("GLD", "SPY", "PDBC")
    assert result.all_cash is False
    assert result.vol_scale == D("1.5")  # capped at max_leverage
    assert [line(result, s).target_weight for s in ("GLD", "SPY", "PDBC", "SHY", "EFA")] == [
        D("0.5"), D("0.5"), D("0.5"), D("0"), D("0")]
    assert result.nav_usd == D("90000.00")
    assert [(t.symbol, t.side, t.quantity, t.notional_usd) for t in result.tickets] == [
        ("SPY", "BUY", 450, D("45000.00")), ("GLD", "BUY", 450, D("45000.00")), ("PDBC", "BUY", 450, D("45000.00"))]
    assert result.estimated_turnover_pct == D("75.00")  # 135,000 / (2 x 90,000)
    assert any("capped at max_leverage 1.5" in reason for reason in result.reasons)


@pytest.mark.parametrize(
    "changes, selected",
    [
        ({}, ("GLD", "SPY", "PDBC")),
        ({"GLD": "-0.01", "SPY": "-0.01", "PDBC": "-0.01"}, ("EFA", "IEF", "TIP")),
        ({"SPY": "0.30"}, ("SPY", "GLD", "PDBC")),
        ({"GLD": "-0.3", "SPY": "-0.3", "PDBC": "0.0", "EFA": "-0.1", "IEF": "-0.1", "TIP": "0.004"},
         ("TIP",)),  # PDBC at exactly 0 is not above 0; TIP alone is
    ],
)
def test_selection_takes_the_top_three_and_keeps_only_momentum_above_the_minimum(changes, selected):
    assert plan(inputs(momenta=changes), LEGACY_DEFAULTS).selected == selected


def test_the_minimum_momentum_comes_from_the_settings():
    stricter = replace(LEGACY_DEFAULTS, min_momentum=D("0.12"))
    assert plan(inputs(), stricter).selected == ("GLD", "SPY")


def test_when_every_momentum_is_negative_the_sleeve_is_all_in_shy():
    negative = {s: "-0.05" for s in LEGACY_DEFAULTS.risky_universe}
    prices = {**{s: D("100") for s in MOMENTA}, "SHY": D("82.50")}
    result = plan(inputs(momenta=negative, prices=prices, shares={"GLD": 300}), LEGACY_DEFAULTS)
    assert (result.data_status, result.selected, result.all_cash) == ("ok", (), True)
    assert (result.portfolio_vol, result.vol_scale) == (None, None)
    assert line(result, "SHY").target_weight == D("1") and line(result, "SHY").target_shares == 1090
    assert [(t.symbol, t.side, t.quantity) for t in result.tickets] == [("GLD", "SELL", 300), ("SHY", "BUY", 1090)]
    assert "no ETF in the top 3 has momentum above 0: 100% SHY" in result.reasons


def test_a_lively_market_is_scaled_down_to_the_vol_target_and_shy_takes_the_rest():
    data = inputs(wiggle=LIVELY)
    result = plan(data, LEGACY_DEFAULTS)
    vols = {s: float_vol(data.closes[s]) for s in ("GLD", "SPY", "PDBC")}
    expected_scale = 0.08 / (sum(vols.values()) / 3)
    assert expected_scale < 1.5
    for symbol, vol in vols.items():
        assert math.isclose(float(line(result, symbol).asset_vol), vol, abs_tol=1e-6)
        assert math.isclose(float(line(result, symbol).target_weight), expected_scale / 3, abs_tol=1e-5)
    assert math.isclose(float(result.vol_scale), expected_scale, abs_tol=1e-5)
    assert line(result, "SHY").target_weight == 1 - 3 * line(result, "GLD").target_weight
    assert line(result, "SHY").target_weight > 0


def test_the_leverage_cap_comes_from_the_settings():
    result = plan(inputs(), replace(LEGACY_DEFAULTS, max_leverage=D("1.2")))
    assert result.vol_scale == D("1.2")
    assert line(result, "GLD").target_weight == D("0.4")


@pytest.mark.parametrize(
    "nlv, risk_scale, vol, nav",
    [
        ("100000", "1", "1", D("90000.00")),
        ("100000", "0.095", "1", D("8550.00")),  # the manual's DSP_RISK_SCALE
        ("100000", "0.095", "1.087", D("9293.85")),
        ("250000", "0.05", "0.25", D("2812.50")),
    ],
)
def test_nav_is_nlv_times_nav_fraction_times_risk_scale_times_the_overlay(nlv, risk_scale, vol, nav):
    assert plan(inputs(nlv=nlv, risk_scale=risk_scale, vol=vol), LEGACY_DEFAULTS).nav_usd == nav


def test_target_shares_are_truncated_and_deltas_are_against_current_shares():
    prices = {**{s: D("100") for s in MOMENTA}, "GLD": D("333.33"), "SPY": D("689.51")}
    result = plan(inputs(prices=prices, shares={"SPY": 70, "GLD": 100}), LEGACY_DEFAULTS)
    # 45,000 / 333.33 = 135.0 -> 135; 45,000 / 689.51 = 65.26 -> 65
    got = [(line(result, s).target_shares, line(result, s).delta_shares) for s in ("GLD", "SPY")]
    assert got == [(135, 35), (65, -5)]


@pytest.mark.parametrize(
    "price, current, kept, dropped",
    [
        ("100", 449, [("PDBC", "BUY", 1, D("100.00"))], []),  # exactly $100 is kept
        ("99.99", 449, [], [("PDBC", "BUY", 1, D("99.99"))]),  # 45,000 / 99.99 = 450.04 -> 450
        ("99.99", 451, [], [("PDBC", "SELL", 1, D("99.99"))]),
        ("30", 1497, [], [("PDBC", "BUY", 3, D("90.00"))]),
        ("30", 1496, [("PDBC", "BUY", 4, D("120.00"))], []),
        ("100", 450, [], []),  # no change: neither a ticket nor a dropped order
    ],
)
def test_orders_below_the_minimum_notional_are_dropped_and_reported(price, current, kept, dropped):
    prices = {**{s: D("100") for s in MOMENTA}, "PDBC": D(price)}
    result = plan(inputs(prices=prices, shares={"GLD": 450, "SPY": 450, "PDBC": current}), LEGACY_DEFAULTS)
    assert [(t.symbol, t.side, t.quantity, t.notional_usd) for t in result.tickets] == kept
    assert [(d.symbol, d.side, d.quantity, d.notional_usd) for d in result.dropped] == dropped
    for order in result.dropped:
        assert order.reason == (
            f"{order.side} {order.quantity} PDBC is ${order.notional_usd}, below the $100.00 minimum order")


def test_sells_come_before_buys_and_turnover_counts_the_tickets():
    result = plan(inputs(shares={"TLT": 200, "EEM": 100}), LEGACY_DEFAULTS)
    assert [(t.side, t.symbol) for t in result.tickets] == [
        ("SELL", "EEM"), ("SELL", "TLT"), ("BUY", "SPY"), ("BUY", "GLD"), ("BUY", "PDBC")]
    assert result.estimated_turnover_pct == D("91.67")  # (30,000 + 135,000) / 180,000


def test_a_symbol_held_outside_the_universe_is_sold():
    prices = {**{s: D("100") for s in MOMENTA}, "QQQ": D("500")}
    result = plan(inputs(shares={"QQQ": 10}, prices=prices), LEGACY_DEFAULTS)
    assert ("QQQ", "SELL", 10) in [(t.symbol, t.side, t.quantity) for t in result.tickets]
    assert "QQQ is held by DM but is not in its universe: target 0" in result.reasons


@pytest.mark.parametrize("count, status", [(272, "data_unavailable"), (273, "ok"), (400, "ok")])
def test_momentum_needs_the_window_plus_the_skip_in_closes(count, status):
    result = plan(inputs(EFA=history("0.05", count=count)), LEGACY_DEFAULTS)
    assert result.data_status == status
    if status != "ok":
        assert result.missing == ("closes:EFA",)
        assert "EFA: has 272 of the 273 closes needed" in result.reasons


def test_momentum_skips_the_last_21_closes():
    closes = history("0.05")
    spiked = closes[:-21] + [(day, close * 3) for day, close in closes[-21:]]
    result = plan(inputs(EFA=spiked), LEGACY_DEFAULTS)
    assert line(result, "EFA").momentum == D("0.05")


MISSING_CASES = {
    "a short universe history": (dict(EFA=history("0.05", count=200)), ("closes:EFA",)),
    "no cash history": (dict(SHY=[]), ("closes:SHY",)),
    "a NaN close inside the window": (dict(TLT=history("-0.05")[:-5] + [(SESSION - timedelta(days=4), D("NaN"))]
                                           + history("-0.05")[-4:]), ("closes:TLT",)),
    "two histories": (dict(GLD=history("0.25", count=10), UUP=None), ("closes:GLD", "closes:UUP")),
    "NLV": (dict(nlv=NAN), ("nlv",)),
    "the risk scale": (dict(risk_scale=None), ("risk_scale",)),
    "the vol overlay": (dict(vol=D("NaN")), ("vol_multiplier",)),
    "the positions": (dict(shares=None), ("current_shares",)),
    "one position": (dict(shares={"TLT": NAN}), ("current_shares:TLT",)),
    "a selected symbol's price": (dict(prices={**{s: D("100") for s in MOMENTA}, "GLD": None}), ("price:GLD",)),
    "a held symbol's price": (dict(shares={"EEM": 5}, prices={**{s: D("100") for s in MOMENTA}, "EEM": D("-1")}),
                              ("price:EEM",)),
    "everything at once": (dict(EFA=[], nlv=None, risk_scale=NAN, vol=None),
                           ("closes:EFA", "nlv", "risk_scale", "vol_multiplier")),
}


@pytest.mark.parametrize("changes, missing", MISSING_CASES.values(), ids=MISSING_CASES.keys())
def test_missing_data_is_named_and_no_ticket_is_prepared(changes, missing):
    result = plan(inputs(**changes), LEGACY_DEFAULTS)
    assert (result.data_status, result.missing) == ("data_unavailable", missing)
    assert (result.tickets, result.dropped, result.estimated_turnover_pct) == ((), (), None)
    assert all(line.target_shares is None for line in result.lines)
    assert result.reasons[-1] == f"DATA UNAVAILABLE: missing {', '.join(missing)}; no tickets were prepared"


def test_a_missing_price_for_a_symbol_without_target_or_position_does_not_matter():
    prices = {**{s: D("100") for s in MOMENTA}, "EEM": None, "UUP": D("NaN")}
    assert plan(inputs(prices=prices), LEGACY_DEFAULTS).data_status == "ok"


def test_a_nan_close_before_the_window_does_not_matter():
    closes = [(SESSION - timedelta(days=400), D("NaN"))] + history("0.05")
    assert plan(inputs(EFA=closes), LEGACY_DEFAULTS).data_status == "ok"


def test_a_missing_history_leaves_no_selection_but_shows_the_momenta_it_has():
    result = plan(inputs(EFA=history("0.05", count=10)), LEGACY_DEFAULTS)
    assert (result.selected, result.all_cash) == ((), None)
    assert line(result, "GLD").momentum == D("0.25") and line(result, "EFA").momentum is None
    assert line(result, "GLD").target_weight is None


def test_closes_that_never_move_cannot_be_vol_scaled():
    flat = [(day, D("100")) for day, _ in history("0")]
    ramp_then_flat = history("0.40")[:-64] + [(day, D("140")) for day, _ in history("0")[-64:]]
    result = plan(inputs(GLD=ramp_then_flat, SPY=flat), replace(LEGACY_DEFAULTS, top_k=1))
    assert result.selected == ("GLD",)
    assert (result.data_status, result.missing) == ("data_unavailable", ("vol:GLD",))


def test_a_fractional_position_is_refused():
    with pytest.raises(ValueError, match=r"current_shares\[GLD\] must be a whole number"):
        plan(inputs(shares={"GLD": D("1.5")}), LEGACY_DEFAULTS)


@pytest.mark.parametrize(
    "closes, words",
    [
        ([(date(2026, 1, 2), D("1")), (date(2026, 1, 2), D("1"))], "oldest first"),
        ([(date(2026, 1, 2), D("1")), (date(2026, 2, 3), D("1"))], "after the session"),
    ],
)
def test_closes_out_of_order_or_from_the_future_are_a_programming_error(closes, words):
    with pytest.raises(ValueError, match=words):
        plan(inputs(EFA=closes), LEGACY_DEFAULTS)


@pytest.mark.parametrize(
    "session, previous, first",
    [
        (date(2026, 2, 2), date(2026, 1, 30), True),  # Monday Feb 2, not the docs' Feb 3
        (date(2026, 2, 3), date(2026, 2, 2), False),
        (date(2026, 1, 2), date(2025, 12, 31), True),  # across a year
        (date(2026, 1, 30), date(2026, 1, 29), False),
    ],
)
def test_the_rebalance_day_is_the_first_session_of_the_month(session, previous, first):
    assert is_first_session_of_month(session, previous) is first
    assert is_rebalance_day(session, is_first_session_of_month=first) is first


@pytest.mark.parametrize(
    "changes, words",
    [
        (dict(cash_symbol="SPY"), "the cash symbol SPY is also in risky_universe"),
        (dict(risky_universe=("SPY", "SPY")), "lists a symbol twice"),
        (dict(risky_universe=()), "is empty"),
        (dict(top_k=0), "top_k must be at least 1"),
        (dict(max_leverage=D("0")), "must be above 0"),
    ],
)
def test_settings_with_impossible_values_are_refused(changes, words):
    with pytest.raises(ValueError, match=words):
        replace(LEGACY_DEFAULTS, **changes)


def test_each_symbol_needs_273_closes_with_the_legacy_settings():
    assert LEGACY_DEFAULTS.closes_needed == 273
    assert replace(LEGACY_DEFAULTS, vol_lookback_days=300).closes_needed == 301


def test_settings_have_no_defaults_so_every_threshold_is_passed_in():
    with pytest.raises(TypeError):
        DmSettings()
