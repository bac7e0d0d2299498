"""The simulator as a TWS, seen by the plain ib_insync client (orders, streaming, combos)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from ib_insync import ComboLeg, Contract, ExecutionFilter, LimitOrder, MarketOrder

from dspops.simulator import SERVER_VERSION

from .conftest import sim_contract

UTC = timezone.utc


def fut(server, name: str) -> Contract:
    c = sim_contract(server, name)
    return Contract(conId=c.con_id, exchange="CFE")


def test_handshake_speaks_server_version_176(sim, ib_client):
    ib = ib_client(sim())
    assert ib.client.serverVersion() == SERVER_VERSION == 176
    assert ib.managedAccounts() == ["SIM0100001"]
    # connect() synchronised positions, account updates and executions without timing out.
    assert len(ib.positions()) == 7
    assert {v.tag for v in ib.accountValues()} >= {"NetLiquidation", "ExcessLiquidity"}
    assert len(ib.fills()) == 4


def test_contract_details_fields(sim, ib_client):
    server = sim()
    ib = ib_client(server)
    front = sim_contract(server, "front")
    (cd,) = ib.reqContractDetails(Contract(secType="FUT", symbol="VXM", exchange="CFE",
                                           lastTradeDateOrContractMonth=front.contract_month))
    c = cd.contract
    assert (c.conId, c.localSymbol, c.multiplier, c.tradingClass) == (front.con_id, front.local_symbol, "100", "VXM")
    assert c.lastTradeDateOrContractMonth == front.last_trade_date
    assert cd.minTick == 0.01 and cd.contractMonth == front.contract_month
    # Without a month every listed VXM matches: ambiguous for qualifyContracts.
    assert len(ib.reqContractDetails(Contract(secType="FUT", symbol="VXM", exchange="CFE"))) >= 3


def test_streaming_market_data_and_cancel(sim, ib_client):
    server = sim()
    ib = ib_client(server)
    contract = fut(server, "front")
    ticker = ib.reqMktData(contract)
    ib.sleep(0.3)
    assert (ticker.bid, ticker.ask) == (17.45, 17.50)
    ib.cancelMktData(contract)
    ib.sleep(0.1)
    assert ib.isConnected()


def test_combo_market_data_is_computed_from_the_legs(sim, ib_client):
    server = sim()
    ib = ib_client(server)
    bag = Contract(secType="BAG", symbol="VXM", exchange="CFE", currency="USD", comboLegs=[
        ComboLeg(conId=sim_contract(server, "front").con_id, ratio=1, action="SELL", exchange="CFE"),
        ComboLeg(conId=sim_contract(server, "second").con_id, ratio=1, action="BUY", exchange="CFE"),
    ])
    (ticker,) = ib.reqTickers(bag)
    # Buy the calendar: pay second's ask, receive front's bid (and the other way round).
    assert round(ticker.bid, 2) == round(18.55 - 17.50, 2)
    assert round(ticker.ask, 2) == round(18.60 - 17.45, 2)


def test_limit_order_fills_with_commission_and_moves_the_position(sim, ib_client):
    server = sim()
    ib = ib_client(server)
    spy = Contract(conId=sim_contract(server, "SPY").con_id, exchange="SMART")
    trade = ib.placeOrder(spy, LimitOrder("BUY", 5, 664.20, orderRef="test buy"))
    ib.sleep(0.3)
    assert trade.orderStatus.status == "Filled" and trade.orderStatus.filled == 5
    (fill,) = trade.fills
    assert fill.execution.side == "BOT" and fill.execution.price == 664.20
    assert fill.commissionReport.commission == 1.0
    positions = {p.contract.symbol: p.position for p in ib.reqPositions()}
    assert positions["SPY"] == 18
    # The fill is an execution from now on, for any client.
    fills = ib.reqExecutions(ExecutionFilter(time=(datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y%m%d-%H:%M:%S")))
    assert [f.execution.orderRef for f in fills] == ["test buy"]


def test_fill_none_keeps_the_order_working_until_cancelled(sim, ib_client):
    server = sim("calm_contango", {"orders": {"fill": "none"}})
    ib = ib_client(server)
    trade = ib.placeOrder(fut(server, "front"), LimitOrder("BUY", 1, 17.40))
    ib.sleep(0.3)
    assert trade.orderStatus.status == "Submitted" and not trade.fills
    assert [t.order.orderId for t in ib.reqOpenOrders()] == [trade.order.orderId]
    ib.cancelOrder(trade.order)
    ib.sleep(0.3)
    assert trade.orderStatus.status == "Cancelled"


def test_partial_fill(sim, ib_client):
    server = sim("calm_contango", {"orders": {"fill": "partial", "partial_fraction": 0.5}})
    ib = ib_client(server)
    trade = ib.placeOrder(fut(server, "third"), LimitOrder("BUY", 4, 19.30))
    ib.sleep(0.3)
    assert (trade.orderStatus.status, trade.orderStatus.filled, trade.orderStatus.remaining) == ("Submitted", 2, 2)


def test_orphan_leg_combo_fills_only_some_legs(sim, ib_client):
    server = sim("orphan_leg")
    ib = ib_client(server)
    front, second = sim_contract(server, "front"), sim_contract(server, "second")
    positions = {p.contract.conId: p.position for p in ib.positions()}
    assert positions[front.con_id] == -1 and second.con_id not in positions  # the orphan
    bag = Contract(secType="BAG", symbol="VXM", exchange="CFE", currency="USD", comboLegs=[
        ComboLeg(conId=front.con_id, ratio=1, action="SELL", exchange="CFE"),
        ComboLeg(conId=second.con_id, ratio=1, action="BUY", exchange="CFE"),
    ])
    trade = ib.placeOrder(bag, LimitOrder("BUY", 1, 1.10, orderRef="retry open"))
    ib.sleep(0.3)
    assert trade.orderStatus.status == "Submitted"
    assert [f.contract.conId for f in trade.fills] == [front.con_id]
    positions = {p.contract.conId: p.position for p in ib.reqPositions()}
    assert positions[front.con_id] == -2 and second.con_id not in positions


def test_unsupported_order_type_is_rejected(sim, ib_client):
    server = sim()
    ib = ib_client(server)
    order = MarketOrder("BUY", 1)
    order.orderType = "STP"
    order.auxPrice = 17.0
    trade = ib.placeOrder(fut(server, "front"), order)
    ib.sleep(0.3)
    assert trade.orderStatus.status == "Cancelled"
    assert trade.log[-1].errorCode == 387


def test_execution_filter_by_time_and_symbol(sim, ib_client):
    server = sim()
    ib = ib_client(server)
    since = (datetime.now(UTC) - timedelta(hours=4)).strftime("%Y%m%d-%H:%M:%S")
    assert len(ib.reqExecutions(ExecutionFilter(time=since))) == 3
    assert [f.contract.symbol for f in ib.reqExecutions(ExecutionFilter(symbol="SPY"))] == ["SPY"]
    assert ib.reqExecutions(ExecutionFilter(time=since, symbol="SPY")) == []


def test_market_data_for_an_unknown_contract_is_error_200(sim, ib_client):
    server = sim()
    ib = ib_client(server)
    errors = []
    ib.errorEvent += lambda req_id, code, msg, contract: errors.append(code)
    ib.reqMktData(Contract(conId=123, exchange="SMART"), snapshot=True)
    ib.sleep(0.3)
    assert 200 in errors
