"""The real ib_insync client, through dspops' Gateway, against the simulator over TCP."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from dspops.core.broker.gateway import Gateway, GatewayConfig, GatewayError, is_simulated_account
from dspops.core.broker.types import ContractSpec

from .conftest import book_specs, config_for, sim_contract

UTC = timezone.utc


def test_connect_reports_the_sim_account_and_simulated(gateway):
    gw = gateway()
    assert gw.connected
    assert gw.accounts == ["SIM0100001"]
    assert gw.simulated is True


def test_simulated_is_decided_from_account_ids_only():
    assert is_simulated_account(["SIM0100001"])
    assert is_simulated_account(["SIM1", "SIM2"])
    assert not is_simulated_account(["SIM1", "U1234567"])
    assert not is_simulated_account(["DU123456"])
    assert not is_simulated_account([])


def test_positions_are_keyed_by_con_id_with_decimal_quantities(gateway):
    gw = gateway()
    positions = gw.positions()
    by_con_id = {p.con_id: p for p in positions}
    assert len(by_con_id) == len(positions) == 7
    front = by_con_id[sim_contract(gw.server, "front").con_id]
    second = by_con_id[sim_contract(gw.server, "second").con_id]
    assert (front.quantity, second.quantity) == (Decimal(-1), Decimal(1))
    assert front.sec_type == "FUT" and front.multiplier == Decimal(100)
    assert front.local_symbol == sim_contract(gw.server, "front").local_symbol
    assert front.avg_cost == Decimal("1745")
    spy = next(p for p in positions if p.symbol == "SPY")
    assert spy.quantity == Decimal(13) and spy.multiplier == Decimal(1)
    assert {p.symbol: p.quantity for p in positions if p.sec_type == "STK"} == {
        "SPY": 13, "EEM": 220, "EFA": 127, "GLD": 30, "SHY": 540,
    }
    assert all(p.account == "SIM0100001" and p.simulated and p.as_of.tzinfo for p in positions)


def test_account_values(gateway):
    values = gateway().account_values()
    assert values.account == "SIM0100001"
    assert values.net_liquidation == Decimal("105000")
    assert values.excess_liquidity == Decimal("60000")
    assert values.maint_margin_req == Decimal("45000")
    assert values.available_funds == Decimal("53000")
    assert values.total_cash_value == Decimal("20150")
    assert values.currency == "USD" and values.simulated
    assert abs((datetime.now(UTC) - values.as_of).total_seconds()) < 5


def test_account_value_the_broker_does_not_send_is_none_not_zero(sim):
    server = sim("calm_contango")
    # Rebuild the scenario without ExcessLiquidity: replace the whole mapping.
    raw = dict(server.scenario.raw)
    raw["account_values"] = {k: v for k, v in raw["account_values"].items() if k != "ExcessLiquidity"}
    from dspops.simulator import Scenario, SimulatorServer

    other = SimulatorServer(Scenario.from_dict(raw), port=0)
    other.start()
    try:
        with Gateway(config_for(other)) as gw:
            values = gw.account_values()
        assert values.excess_liquidity is None
        assert values.net_liquidation == Decimal("105000")
    finally:
        other.stop()


def test_qualify_spy_indexes_and_vxm_by_month(gateway):
    gw = gateway()
    front = sim_contract(gw.server, "front")
    qualified = gw.qualify(book_specs(gw.server))
    spy, vix, vvix, vx1, vx2, vx3 = qualified
    assert (spy.sec_type, spy.exchange, spy.currency, spy.primary_exchange) == ("STK", "SMART", "USD", "ARCA")
    assert (vix.sec_type, vix.exchange, vvix.symbol) == ("IND", "CBOE", "VVIX")
    assert vx1.local_symbol == front.local_symbol and vx1.con_id == front.con_id
    for fut in (vx1, vx2, vx3):
        assert (fut.sec_type, fut.exchange, fut.multiplier, fut.trading_class) == ("FUT", "CFE", Decimal(100), "VXM")
        assert fut.min_tick == Decimal("0.01")
        assert isinstance(fut.last_trade_date, date)
    assert vx1.last_trade_date < vx2.last_trade_date < vx3.last_trade_date
    assert len({q.con_id for q in qualified}) == 6


def test_qualify_by_local_symbol_gives_the_same_contract(gateway):
    gw = gateway()
    front = sim_contract(gw.server, "front")
    (by_symbol,) = gw.qualify([ContractSpec.future("VXM", local_symbol=front.local_symbol)])
    (by_month,) = gw.qualify([ContractSpec.future("VXM", front.contract_month)])
    assert by_symbol == by_month


def test_snapshot_of_several_instruments_in_one_call(gateway):
    gw = gateway()
    contracts = gw.qualify(book_specs(gw.server))
    quotes = gw.quotes(contracts)
    assert [q.con_id for q in quotes] == [c.con_id for c in contracts]
    assert all(q.valid and q.invalid_reason == "" for q in quotes), [q.invalid_reason for q in quotes]
    spy, vix, vvix, vx1, vx2, vx3 = quotes
    assert (spy.bid, spy.ask, spy.mid) == (Decimal("664.18"), Decimal("664.20"), Decimal("664.19"))
    assert spy.bid_size == Decimal(400)
    assert vix.last == Decimal("16.12") and vix.bid is None and vix.price == Decimal("16.12")
    assert vvix.last == Decimal("92.4")
    assert vx1.mid < vx2.mid < vx3.mid  # contango
    assert all(q.width <= Decimal("0.05") for q in (spy, vx1, vx2, vx3))
    assert all(q.source == "live" and q.market_data_type == 1 and q.simulated for q in quotes)
    assert all(abs((datetime.now(UTC) - q.as_of).total_seconds()) < 5 for q in quotes)


def test_snapshot_requests_all_instruments_concurrently(gateway):
    # 300 ms per request: six instruments one after another would take at least 1.8 s.
    gw = gateway(overrides={"faults": {"latency_ms": 300}})
    contracts = gw.qualify(book_specs(gw.server))
    started = time.monotonic()
    quotes = gw.quotes(contracts, timeout=5)
    elapsed = time.monotonic() - started
    assert all(q.valid for q in quotes)
    assert elapsed < 0.9, f"6 instruments took {elapsed:.2f}s: not requested concurrently"


def test_executions_with_commissions_since_a_time(gateway):
    gw = gateway()
    now = datetime.now(UTC)
    recent = gw.executions(now - timedelta(hours=4))
    assert [e.exec_id for e in recent] == [
        "0001f4e8.6570a1c3.01.01", "0001f4e8.6570a1c4.01.01", "0001f4e8.6570a1d5.01.01",
    ]
    sell, buy, shy = recent
    assert (sell.side, sell.quantity, sell.price, sell.commission) == ("SELL", 1, Decimal("17.45"), Decimal("1.07"))
    assert sell.local_symbol == sim_contract(gw.server, "front").local_symbol
    assert (buy.side, buy.price, buy.order_ref) == ("BUY", Decimal("18.1"), "vrp-cs open")
    assert (shy.symbol, shy.quantity, shy.commission, shy.commission_currency) == ("SHY", 40, Decimal("1"), "USD")
    assert all(e.executed_at >= now - timedelta(hours=4) and e.executed_at.tzinfo for e in recent)
    assert all(e.account == "SIM0100001" and e.simulated for e in recent)
    # Only the last one is within the hour; everything is within two days.
    assert [e.symbol for e in gw.executions(now - timedelta(hours=1))] == ["SHY"]
    assert len(gw.executions(now - timedelta(days=2))) == 4


def test_executions_needs_an_aware_time(gateway):
    with pytest.raises(ValueError):
        gateway().executions(datetime(2026, 1, 1))


def test_execution_without_commission_report_has_none(gateway):
    gw = gateway("legacy_2026_01_12", {"executions": [
        {"contract": "VXMF6", "side": "SELL", "quantity": 1, "price": 16.2, "time": "-1h"},
    ]})
    (e,) = gw.executions(datetime(2026, 1, 1, tzinfo=UTC))
    assert e.commission is None and e.commission_currency == ""


def test_legacy_replay_resolves_contracts_from_as_of(gateway):
    gw = gateway("legacy_2026_01_12")
    positions = {p.local_symbol: p.quantity for p in gw.positions() if p.sec_type == "FUT"}
    assert positions == {"VXMF6": Decimal(-1), "VXMG6": Decimal(1)}
    vix, vx1, vx2 = gw.quotes(gw.qualify([
        ContractSpec.index("VIX"), ContractSpec.future("VXM", "202601"), ContractSpec.future("VXM", "202602"),
    ]))
    assert (vix.last, vx1.last, vx2.last) == (Decimal("15.57"), Decimal("16.57"), Decimal("18.22"))
    assert vx1.local_symbol == "VXMF6"


def test_gateway_works_from_a_worker_thread_without_a_loop(sim):
    server = sim()
    results: list[object] = []

    def work() -> None:
        try:
            with Gateway(config_for(server, client_id=311)) as gw:
                loop = asyncio.get_event_loop_policy().get_event_loop()
                results.append(gw.quotes(gw.qualify([ContractSpec.stock("SPY")]))[0].mid)
            results.append(loop.is_closed())
            try:
                asyncio.get_event_loop_policy().get_event_loop()
            except RuntimeError:
                results.append("no loop left behind")
        except Exception as exc:  # noqa: BLE001 - reported below
            results.append(exc)

    t = threading.Thread(target=work)
    t.start()
    t.join(20)
    assert results == [Decimal("664.19"), True, "no loop left behind"]


def test_two_threads_with_their_own_gateways(sim):
    server = sim()
    results: dict[int, object] = {}

    def work(client_id: int) -> None:
        try:
            with Gateway(config_for(server, client_id=client_id)) as gw:
                results[client_id] = gw.account_values().net_liquidation
        except Exception as exc:  # noqa: BLE001
            results[client_id] = exc

    threads = [threading.Thread(target=work, args=(cid,)) for cid in (321, 322)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert results == {321: Decimal("105000"), 322: Decimal("105000")}


def test_a_gateway_belongs_to_its_thread(gateway):
    gw = gateway()
    errors: list[Exception] = []

    def other() -> None:
        try:
            gw.positions()
        except GatewayError as exc:
            errors.append(exc)

    t = threading.Thread(target=other)
    t.start()
    t.join(10)
    assert len(errors) == 1 and "thread" in str(errors[0])


def test_gateway_refuses_to_run_inside_an_event_loop(sim):
    server = sim()

    async def inside() -> None:
        Gateway(config_for(server)).connect()

    with pytest.raises(GatewayError, match="running asyncio event loop"):
        asyncio.run(inside())


def test_using_a_closed_gateway_raises(gateway):
    gw = gateway()
    gw.close()
    with pytest.raises(GatewayError, match="not connected"):
        gw.positions()


def test_config_from_settings_uses_the_role_offset(settings):
    settings.IB_HOST = "127.0.0.1"
    settings.IB_PORT = 7499
    settings.IB_CLIENT_ID = 300
    settings.IB_CLIENT_ID_OFFSETS = {"web": 0, "worker": 1, "shell": 2, "test": 9}
    settings.IB_READONLY = True
    settings.IB_CONNECT_TIMEOUT = 3.5
    settings.IB_REQUEST_TIMEOUT = 4.5
    cfg = GatewayConfig.from_settings("worker")
    assert cfg == GatewayConfig("127.0.0.1", 7499, 301, True, 3.5, 4.5)
    assert GatewayConfig.from_settings("test").client_id == 309
    with pytest.raises(ValueError, match="unknown gateway role"):
        GatewayConfig.from_settings("trader")


def test_historical_daily_closes(gateway):
    gw = gateway(overrides={"history": {"VIX": {"closes": [15.1, 15.4, 16.0, 15.87]}}})
    spy, vix = gw.qualify([ContractSpec.stock("SPY"), ContractSpec.index("VIX")])
    closes = gw.historical_daily_closes(spy, days=20)
    assert len(closes) == 20
    days = [c.day for c in closes]
    assert days == sorted(days) and len(set(days)) == 20
    assert all(d.weekday() < 5 for d in days) and days[-1] < gw.server.world.resolved.session
    assert closes[-1].close == Decimal("661.4")  # the walk ends at the scenario's close
    assert all(c.close > 0 and c.simulated for c in closes)
    assert [c.close for c in gw.historical_daily_closes(vix, days=3)] == [
        Decimal("15.4"), Decimal("16"), Decimal("15.87"),
    ]


def test_historical_daily_closes_without_data_is_an_error(gateway):
    gw = gateway(overrides={"quotes": {"third": {"close": None, "last": None}}})
    (third,) = gw.qualify(book_specs(gw.server, ("third",)))
    with pytest.raises(GatewayError, match="error 162"):
        gw.historical_daily_closes(third, days=5)


def test_the_gateway_can_first_be_imported_from_a_thread_without_an_event_loop():
    """A web thread may be the first to need the broker (ib_insync then loads lazily)."""
    import subprocess
    import sys

    code = (
        "import threading, sys\n"
        "errors = []\n"
        "def load():\n"
        "    try:\n"
        "        import dspops.core.broker.gateway\n"
        "    except Exception as exc:\n"
        "        errors.append(repr(exc))\n"
        "t = threading.Thread(target=load); t.start(); t.join()\n"
        "print(errors or 'ok')\n"
        "sys.exit(1 if errors else 0)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "ok"
