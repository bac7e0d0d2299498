"""DECISIONS.md section 11 at the broker boundary and in scenario files.

The gateway is where broker numbers enter dspops: an absurd one (VIX 1e300, a VXM at 1e18, a
NetLiquidation of 1e30) is an invalid quote or a missing figure with a reason, never data. The
simulator sends those values only when a scenario asks for them under ``faults.absurd``; every
other date and number of a scenario file is bounded, and a bad one is a ScenarioError naming the
file and the field. Real ib_insync over TCP against the simulator; nothing is mocked.
"""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest

from dspops.core.broker.gateway import GatewayError
from dspops.simulator import load_scenario
from dspops.simulator.scenario import SCENARIO_DIR, ScenarioError
from dspops.core.broker.types import ContractSpec

from .conftest import book_specs, sim_contract

D = Decimal
NOT_USED = "absurd value from the broker, not used: "


def absurd(**sections):
    return {"faults": {"absurd": sections}}


# --- the gateway -------------------------------------------------------------------------------


def test_absurd_prices_make_invalid_quotes_with_the_value_in_the_reason_and_no_price(gateway):
    gw = gateway("calm_contango", absurd(quotes={"VIX": {"last": 1e300}, "front": {"bid": 1e18, "ask": 1e18},
                                                 "SPY": {"close": 5e6}, "second": {"bid_size": 1e12}}))
    vix, spy, front, second = gw.quotes(gw.qualify(book_specs(gw.server, ("VIX", "SPY", "front", "second"))))

    assert (vix.valid, vix.last, vix.close, vix.price) == (False, None, D("15.87"), None)
    assert vix.invalid_reason == NOT_USED + "last 1e+300 is outside the plausible range 0 to 1000"
    assert (front.valid, front.bid, front.ask, front.last, front.mid) == (False, None, None, D("17.48"), None)
    assert front.invalid_reason == ("absurd values from the broker, not used: bid 1e+18 is outside the plausible "
                                    "range 0 to 1000; ask 1e+18 is outside the plausible range 0 to 1000")
    # Even the close alone makes the quote unusable: the feed is sending nonsense.
    assert (spy.valid, spy.close, spy.bid) == (False, None, D("664.18"))
    assert spy.invalid_reason == NOT_USED + "close 5000000.0 is outside the plausible range 0 to 1000000"
    assert (second.valid, second.bid_size) == (False, None)
    assert second.invalid_reason == NOT_USED + "bid_size 1000000000000.0 is outside the plausible range -100000000 to 100000000"


def test_a_price_too_large_for_the_column_is_absurd_even_where_the_range_would_allow_it(gateway):
    gw = gateway("calm_contango", absurd(quotes={"SPY": {"bid": 99999999999.0, "ask": 99999999999.5}}))
    spy, = gw.quotes(gw.qualify([ContractSpec.stock("SPY")]))
    assert (spy.valid, spy.bid, spy.ask) == (False, None, None)
    assert spy.invalid_reason.startswith("absurd values from the broker, not used: bid 99999999999.0 is outside "
                                         "the plausible range")


def test_a_last_timestamp_the_broker_cannot_have_meant_makes_the_index_quote_invalid(gateway):
    # age_s -1e11 puts TWS's LAST_TIMESTAMP about 3,000 years ahead; 1e10 before 1970 (a negative epoch).
    for age in (-1e11, 1e10):
        gw = gateway("calm_contango", absurd(quotes={"VIX": {"age_s": age}}))
        vix, = gw.quotes(gw.qualify([ContractSpec.index("VIX")]))
        assert vix.valid is False and vix.last == D("16.12")
        assert re.fullmatch(r"unreadable last timestamp '-?\d+' from the broker", vix.invalid_reason), vix.invalid_reason


def test_an_absurd_account_figure_is_none_and_says_why(gateway):
    values = gateway("calm_contango", absurd(account_values={"NetLiquidation": 1e30, "ExcessLiquidity": -5e12})
                     ).account_values()
    assert (values.net_liquidation, values.excess_liquidity, values.maint_margin_req) == (None, None, D("45000.00"))
    assert values.problems == (
        NOT_USED + "NetLiquidation 1e+30 is outside the plausible range -1000000000000 to 1000000000000",
        NOT_USED + "ExcessLiquidity -5000000000000 is outside the plausible range -1000000000000 to 1000000000000",
    )


def test_an_absurd_position_means_the_positions_cannot_be_read(gateway):
    gw = gateway("calm_contango", absurd(positions={"SPY": {"quantity": 1e300}}))
    with pytest.raises(GatewayError) as refused:
        gw.positions()
    assert str(refused.value) == (
        "TWS sent an unreadable position for SPY (position 1e+300, avg cost 612.35: position 1e+300 is outside "
        "the plausible range -100000000 to 100000000); positions cannot be read")


@pytest.mark.parametrize("fields, why", [
    ({"price": 1e300}, "price 1e+300 is outside the plausible range 0 to 1000000"),
    ({"commission": 1e9}, "commission 1000000000.0 is outside the plausible range -1000000 to 1000000"),
    ({"time": "2099-01-01T00:00:00Z"}, "execution time 2099-01-01T00:00:00+00:00 is in the future"),
    ({"time": "1999-12-31T12:00:00Z"}, "execution time 1999-12-31 is outside 2000-01-01 to 2100-12-31"),
])
def test_an_absurd_execution_is_refused_naming_it_and_nothing_is_read(gateway, fields, why):
    gw = gateway("calm_contango", absurd(executions={0: fields}))
    with pytest.raises(GatewayError) as refused:
        gw.executions(since=gw.server.world.resolved.reference_time - timedelta(days=30000))
    assert str(refused.value).startswith(
        f"TWS sent execution 0001f4e8.6570a1b2.01.01 (SPY) with an absurd value: {why}")


def test_an_absurd_daily_close_makes_the_history_unusable(gateway):
    gw = gateway("calm_contango", absurd(history={"VIX": [15.1, 1e300, 16.0]}))
    vix, = gw.qualify([ContractSpec.index("VIX")])
    with pytest.raises(GatewayError, match=r"unusable daily bar for VIX .*close 1e\+300 is outside the plausible "
                                           r"range 0 to 1000\); the history cannot be used"):
        gw.historical_daily_closes(vix, days=3)


def test_values_within_bounds_are_untouched(gateway):
    """The control: the calm book reads exactly as before."""
    gw = gateway()
    quotes = gw.quotes(gw.qualify(book_specs(gw.server)))
    assert all(q.valid for q in quotes)
    assert gw.account_values().problems == ()
    assert len(gw.positions()) == 7


# --- scenario files ------------------------------------------------------------------------------


@pytest.mark.parametrize("change, message", [
    ({"as_of": "1900-01-01"}, "as_of 1900-01-01 is outside 2000-01-01 to 2100-12-31"),
    ({"as_of": "2101-01-01"}, "as_of 2101-01-01 is outside 2000-01-01 to 2100-12-31"),
    ({"quotes": {"VIX": {"last": 1e400}}}, "quotes.VIX.last inf is not a finite number"),
    ({"quotes": {"VIX": {"last": 1e300}}}, "quotes.VIX.last 1e+300 is outside the plausible range 0 to 1000"),
    ({"quotes": {"front": {"bid": 5000}}}, "quotes.front.bid 5000.0 is outside the plausible range 0 to 1000"),
    ({"quotes": {"SPY": {"ask": -3}}}, "quotes.SPY.ask -3 is negative; write -1 for TWS's \"no price\" or null"),
    ({"quotes": {"SPY": {"bid_size": -5}}}, "quotes.SPY.bid_size -5 must be 0 or more"),
    ({"quotes": {"VIX": {"age_s": 1e300}}}, "quotes.VIX.age_s must be from 0 to 315360000 seconds"),
    ({"account_values": {"NetLiquidation": 1e30}},
     "account_values.NetLiquidation 1e+30 is outside the plausible range -1000000000000 to 1000000000000"),
    ({"account_values": {"NetLiquidation": 10 ** 400}}, "account_values.NetLiquidation: 10000000000000000000"),
    ({"positions": [{"contract": "SPY", "quantity": 1e12}]},
     "positions[0].quantity 1000000000000.0 is outside the plausible range -100000000 to 100000000"),
    ({"positions": [{"contract": "SPY", "quantity": 1, "avg_cost": -5}]}, "positions[0].avg_cost -5 must be 0 or more"),
    ({"executions": [{"contract": "SPY", "side": "BUY", "quantity": -1, "price": 600, "time": "-1h"}]},
     "executions[0].quantity -1 must be above 0"),
    ({"executions": [{"contract": "SPY", "side": "BUY", "quantity": 1, "price": 0, "time": "-1h"}]},
     "executions[0].price 0 must be above 0"),
    ({"executions": [{"contract": "VIX", "side": "BUY", "quantity": 1, "price": 16, "time": "-1h",
                      "commission": 1e7}]},
     "executions[0].commission 10000000.0 is outside the plausible range -1000000 to 1000000"),
    ({"executions": [{"contract": "SPY", "side": "BUY", "quantity": 1, "price": 600, "time": "1900-01-01T10:00:00Z"}]},
     "executions[0].time: time 1900-01-01 is outside 2000-01-01 to 2100-12-31"),
    ({"executions": [{"contract": "SPY", "side": "BUY", "quantity": 1, "price": 600, "time": "2099-01-01T10:00:00Z"}]},
     "executions[0].time: execution time 2099-01-01T10:00:00+00:00 is in the future"),
    ({"executions": [{"contract": "SPY", "side": "BUY", "quantity": 1, "price": 600, "time": "-1000000000d"}]},
     "executions[0].time: '-1000000000d' reaches before year 1"),
    ({"executions": [{"contract": "SPY", "side": "BUY", "quantity": 1, "price": 600, "time": "-1h", "order_id": "x"}]},
     "executions[0].order_id must be a whole number, got 'x'"),
    ({"orders": {"commission_per_contract": -1}}, "orders.commission_per_contract -1 must be 0 or more"),
    ({"faults": {"latency_ms": 1e300}}, "faults.latency_ms must be from 0 to 60000"),
    ({"faults": {"reject_client_ids": ["x"]}}, "faults.reject_client_ids[0] must be a whole number"),
    ({"faults": {"market_data_errors": {"front": 10 ** 30}}}, "faults.market_data_errors maps a contract name"),
    ({"instruments": {"XLE": {"con_id": 10 ** 30}}}, "instruments.XLE.con_id must be from 1 to 2147483647"),
    ({"history": {"VIX": {"closes": [15.0, 1e300]}}},
     "history.VIX.closes[1] 1e+300 is outside the plausible range 0 to 1000"),
    ({"faults": {"absurd": {"quotes": {"VIX": {"last": "abc"}}}}}, "faults.absurd.quotes.VIX.last must be a number"),
    ({"faults": {"absurd": {"executions": {9: {"price": 1}}}}},
     "faults.absurd.executions: 9 is not the index of one of the 4 execution(s)"),
])
def test_a_scenario_value_outside_the_bounds_is_refused_naming_the_file_and_the_field(change, message):
    with pytest.raises(ScenarioError) as refused:
        load_scenario("calm_contango", change)
    text = str(refused.value)
    assert str(SCENARIO_DIR / "calm_contango.yaml") in text
    assert message in text


def test_a_scenario_file_with_a_1900_session_or_an_absurd_price_is_refused_naming_the_file(tmp_path):
    for body, message in (
        ("account: SIM9\nas_of: 1900-01-01\n", "as_of 1900-01-01 is outside 2000-01-01 to 2100-12-31"),
        ("account: SIM9\nquotes:\n  VIX: {last: 1.0e+400}\n", "quotes.VIX.last inf is not a finite number"),
        ("account: SIM9\npositions:\n  - {contract: SPY, quantity: 1.0e+300}\n", "positions[0].quantity 1e+300"),
        ('{"account": "SIM9", "quotes": {"SPY": {"bid": 1e300}}}', "quotes.SPY.bid must be a number, got '1e300'"),
        ('{"account": "SIM9", "quotes": {"SPY": {"bid": 1.0e+300}}}', "quotes.SPY.bid 1e+300 is outside"),
    ):
        path = tmp_path / ("day.json" if body.startswith("{") else "day.yaml")
        path.write_text(body, encoding="utf-8")
        with pytest.raises(ScenarioError) as refused:
            load_scenario(str(path))
        assert f"({path})" in str(refused.value) and message in str(refused.value), str(refused.value)


def test_a_scenario_file_that_is_not_text_or_too_large_is_refused(tmp_path):
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xff\xfe\x00a\x00c\x00")
    with pytest.raises(ScenarioError, match=r"is not UTF-8 text"):
        load_scenario(str(binary))
    big = tmp_path / "big.yaml"
    big.write_bytes(b"#" * 6_000_000)
    with pytest.raises(ScenarioError, match=r"is 6,000,000 bytes; a scenario is at most 5,000,000"):
        load_scenario(str(big))


def test_every_shipped_scenario_is_within_the_bounds():
    for path in SCENARIO_DIR.glob("*.yaml"):
        load_scenario(path.stem)


def test_faults_absurd_sends_its_values_exactly_as_written_and_only_those(sim):
    server = sim("calm_contango", absurd(quotes={"VIX": {"last": "1e300"}}, account_values={"NetLiquidation": 1e30},
                                         executions={1: {"price": 1e300}}))
    resolved = server.world.resolved
    assert resolved.quotes[sim_contract(server, "VIX").con_id].last == 1e300
    assert resolved.quotes[sim_contract(server, "VIX").con_id].close == 15.87  # the rest of the quote stays
    assert server.scenario.account_values["NetLiquidation"] == 1e30
    assert [e["price"] for e in resolved.executions] == [660.12, 1e300, 18.10, 82.93]
