"""Scenario files: validation, contract resolution and what each shipped scenario shows."""

from __future__ import annotations

from datetime import date

import pytest

from dspops.simulator import Scenario, ScenarioError, available_scenarios, load_scenario
from dspops.core import vx

SHIPPED = {"calm_contango", "legacy_2026_01_12", "vix_spike", "wide_markets", "orphan_leg", "delayed_only", "disconnect"}


def resolved(name, **overrides):
    sc = load_scenario(name, overrides or None)
    r = sc.resolve()
    return sc, r, {n: r.quotes.get(r.names[n]) for n in r.names if r.names[n] in r.quotes}


def test_all_scenarios_ship_and_load():
    assert SHIPPED <= set(available_scenarios())
    for name in available_scenarios():
        sc = load_scenario(name)
        assert sc.account.startswith("SIM")


def test_relative_contracts_follow_the_vx_calendar():
    sc = load_scenario("calm_contango", {"as_of": "2026-11-24"})
    r = sc.resolve()
    names = {n: r.contracts[r.names[n]].local_symbol for n in ("front", "second", "third")}
    assert names == {"front": "VXMZ6", "second": "VXMF7", "third": "VXMG7"}
    front = r.contracts[r.names["front"]]
    assert front.last_trade_date == "20261216" == f"{vx.settlement_date(vx.ContractMonth(2026, 12)):%Y%m%d}"
    assert (front.multiplier, front.exchange, front.trading_class, front.con_id) == ("100", "CFE", "VXM", 700202612)


def test_legacy_replay():
    sc, r, q = resolved("legacy_2026_01_12")
    assert r.session == date(2026, 1, 12)
    assert {r.contracts[c].local_symbol: p[0] for c, p in r.positions.items() if r.contracts[c].sec_type == "FUT"} == {
        "VXMF6": -1, "VXMG6": 1,
    }
    assert (q["VIX"].last, q["VXMF6"].last, q["VXMG6"].last) == (15.57, 16.57, 18.22)
    assert r.contracts[r.names["VXMG6"]].last_trade_date == "20260218"


def test_calm_contango_is_calm_and_in_contango():
    sc, r, q = resolved("calm_contango")
    mids = [(q[n].bid + q[n].ask) / 2 for n in ("front", "second", "third")]
    assert mids == sorted(mids) and 17 < mids[0] < 18 and 18 < mids[1] < 19
    assert all(q[n].ask - q[n].bid <= 0.05 + 1e-9 for n in ("front", "second", "third", "SPY"))
    assert 15 < q["VIX"].last < 17 and 85 < q["VVIX"].last < 100
    assert sc.account_values["NetLiquidation"] == 105000 and sc.account_values["ExcessLiquidity"] == 60000
    held = {r.contracts[c].symbol if r.contracts[c].sec_type == "STK" else n: p[0]
            for n, c in r.names.items() for cc, p in r.positions.items() if cc == c}
    assert held["front"] == -1 and held["second"] == 1 and held["SPY"] == 13


def test_vix_spike_is_backwardated():
    sc, r, q = resolved("vix_spike")
    assert q["VIX"].last > 30 and q["VVIX"].last > 140
    assert q["front"].last > q["second"].last > q["third"].last


def test_wide_markets_are_wide():
    sc, r, q = resolved("wide_markets")
    assert all(q[n].ask - q[n].bid >= 0.30 for n in ("front", "second"))


def test_delayed_only_and_orphan_and_disconnect():
    sc, r, q = resolved("delayed_only")
    assert {spec.market_data_type for spec in q.values()} == {3}
    sc, r, q = resolved("orphan_leg")
    assert sc.orders.fill == "legs" and r.unfilled_legs == {r.names["second"]}
    assert r.positions[r.names["front"]][0] == -1 and r.names["second"] not in r.positions
    assert load_scenario("disconnect").faults.disconnect_mid_snapshot


@pytest.mark.parametrize(
    "change, message",
    [
        ({"acount": "SIM1"}, "unknown key"),
        ({"account": "U1234567"}, "must be a string starting with 'SIM'"),
        ({"quotes": {"front": {"bid": "x"}}}, "quotes.front.bid must be a number"),
        ({"quotes": {"front": {"market_data_type": 5}}}, "market_data_type must be 1-4"),
        ({"quotes": {"XYZ": {"last": 1.0}}}, "unknown contract 'XYZ'"),
        ({"positions": [{"contract": "front", "quantity": 1}, {"contract": "front", "quantity": 2}]}, "listed twice"),
        ({"executions": [{"contract": "SPY", "side": "BOT", "quantity": 1, "price": 1, "time": "-1h"}]}, "BUY or SELL"),
        ({"executions": [{"contract": "SPY", "side": "BUY", "quantity": 1, "price": 1, "time": "yesterday"}]}, "neither relative"),
        ({"executions": [{"contract": "SPY", "side": "BUY", "quantity": 1, "price": 1, "time": "2026-01-12T10:00:00"}]}, "no time zone"),
        ({"orders": {"fill": "legs"}}, "needs orders.unfilled_legs"),
        ({"orders": {"fill": "some"}}, "orders.fill must be one of"),
        ({"faults": {"latency": 100}}, "unknown key"),
        ({"as_of": "12/01/2026"}, "as_of must be a date"),
    ],
)
def test_bad_scenarios_are_refused_with_a_message(change, message):
    base = dict(load_scenario("calm_contango").raw)
    base.update(change)
    with pytest.raises(ScenarioError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Scenario.from_dict(base)


def test_unknown_scenario_name_lists_the_shipped_ones():
    with pytest.raises(ScenarioError, match="calm_contango"):
        load_scenario("no_such_scenario")


def test_a_scenario_file_by_path(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("account: SIM9\nquotes:\n  VXMG6: {bid: 18.2, ask: 18.24}\nas_of: 2026-01-12\n")
    sc = load_scenario(str(path))
    r = sc.resolve()
    assert sc.name == "mine" and r.contracts[r.names["VXMG6"]].contract_month == "202602"
