"""Each simulator fault gives a clear GatewayError or an invalid Quote with the right reason.

Never a number that looks valid: an invalid quote has no mid, no width and no price.
"""

from __future__ import annotations

import time
from decimal import Decimal

import pytest

from dspops.core.broker.gateway import Gateway, GatewayConfig, GatewayError
from dspops.simulator import SimulatorServer, load_scenario
from dspops.core.broker.types import ContractSpec, Quote

from .conftest import book_specs, config_for, free_port


def assert_unusable(q: Quote, reason: str) -> None:
    assert not q.valid, f"{q.local_symbol} should be invalid ({reason})"
    assert reason in q.invalid_reason, q.invalid_reason
    assert q.mid is None and q.width is None and q.price is None


def test_connection_refused_on_a_closed_port():
    port = free_port()
    started = time.monotonic()
    with pytest.raises(GatewayError) as info:
        Gateway(GatewayConfig("127.0.0.1", port, 309, connect_timeout=3)).connect()
    message = str(info.value)
    assert f"Cannot reach TWS at 127.0.0.1:{port} (connection refused)" in message
    assert "API enabled" in message
    assert time.monotonic() - started < 2


def test_disconnect_mid_snapshot_raises_and_uses_nothing(gateway):
    gw = gateway("disconnect")
    contracts = gw.qualify(book_specs(gw.server, ("SPY", "VIX", "front", "second")))
    with pytest.raises(GatewayError, match="Lost the connection to TWS") as info:
        gw.quotes(contracts, timeout=3)
    assert "nothing from the interrupted request was used" in str(info.value)
    assert not gw.connected
    with pytest.raises(GatewayError, match="Lost the connection"):
        gw.positions()


def test_disconnect_after_n_messages_while_connecting(sim):
    server = sim("calm_contango", {"faults": {"disconnect_after_messages": 4}})
    with pytest.raises(GatewayError, match="closed the connection|Lost the connection"):
        Gateway(config_for(server, connect_timeout=3)).connect()


@pytest.mark.parametrize(
    "code, reason",
    [
        (354, "no market data subscription (error 354)"),
        (10089, "additional API subscription (error 10089)"),
    ],
)
def test_market_data_error_for_one_instrument_while_others_are_fine(gateway, code, reason):
    gw = gateway(overrides={"faults": {"market_data_errors": {"second": code}}})
    quotes = gw.quotes(gw.qualify(book_specs(gw.server)), timeout=3)
    spy, vix, vvix, vx1, vx2, vx3 = quotes
    assert_unusable(vx2, reason)
    assert vx2.error_code == code
    assert vx2.bid is None and vx2.ask is None and vx2.last is None
    assert all(q.valid for q in (spy, vix, vvix, vx1, vx3))


def test_delayed_only_is_never_live(gateway):
    gw = gateway("delayed_only")
    contracts = gw.qualify(book_specs(gw.server))
    quotes = gw.quotes(contracts, timeout=3)
    for q in quotes:
        assert_unusable(q, "delayed data (type 3)")
        assert q.source == "delayed" and q.market_data_type == 3
    # The values still arrived (delayed tick ids 66-75) and are kept for display.
    assert quotes[0].bid == Decimal("664.10")


def test_delayed_data_when_allowed_is_valid_but_says_delayed(gateway):
    gw = gateway("delayed_only")
    quotes = gw.quotes(gw.qualify(book_specs(gw.server)), timeout=3, allow_delayed=True)
    assert all(q.valid and q.source == "delayed" for q in quotes), [q.invalid_reason for q in quotes]
    assert quotes[3].mid == Decimal("17.475")


def test_frozen_data_is_invalid(gateway):
    gw = gateway(overrides={"quotes": {"front": {"market_data_type": 2}}})
    (q,) = gw.quotes(gw.qualify(book_specs(gw.server, ("front",))), timeout=3)
    assert_unusable(q, "frozen data (type 2)")
    assert q.source == "frozen"


def test_nan_minus_one_crossed_and_stale_in_one_snapshot(gateway):
    gw = gateway(overrides={"quotes": {
        "front": {"bid": None},              # tick never sent: NaN
        "second": {"ask": -1},               # TWS "no price"
        "third": {"bid": 19.40, "ask": 19.30},  # crossed
        "VIX": {"age_s": 300},               # last timestamp 5 minutes old
        "VVIX": {"last": None},              # index without a last price
    }})
    spy, vix, vvix, vx1, vx2, vx3 = gw.quotes(gw.qualify(book_specs(gw.server)), timeout=3)
    assert spy.valid
    assert_unusable(vx1, "no quote (NaN)")
    assert vx1.bid is None and vx1.ask == Decimal("17.50")
    assert_unusable(vx2, "no price (-1)")
    assert vx2.ask is None and vx2.bid == Decimal("18.55")
    assert_unusable(vx3, "crossed market (bid > ask)")
    assert_unusable(vix, "stale (age ")
    assert "> limit 60s" in vix.invalid_reason
    assert_unusable(vvix, "no quote (NaN)")
    assert vvix.close == Decimal("91.8")  # the close still arrived; it is not a price to use


def test_stale_limit_is_the_callers(gateway):
    gw = gateway(overrides={"quotes": {"VIX": {"age_s": 300}}})
    contracts = gw.qualify([ContractSpec.index("VIX")])
    (strict,) = gw.quotes(contracts, timeout=3, max_age_s=60)
    (lenient,) = gw.quotes(contracts, timeout=3, max_age_s=600)
    assert not strict.valid and lenient.valid
    assert 295 <= time.time() - lenient.as_of.timestamp() <= 320  # dated by the feed's timestamp


def test_latency_larger_than_the_timeout_gives_no_data(gateway):
    gw = gateway(overrides={"faults": {"latency_ms": 700}})
    contracts = gw.qualify(book_specs(gw.server, ("SPY", "front")))
    started = time.monotonic()
    quotes = gw.quotes(contracts, timeout=0.3)
    assert time.monotonic() - started < 0.9
    for q in quotes:
        assert_unusable(q, "no data within 0.3s")
        assert q.bid is None and q.ask is None and q.last is None


def test_missing_snapshot_end_for_one_instrument(gateway):
    gw = gateway(overrides={"faults": {"no_snapshot_end": ["second"]}})
    spy, vx2 = gw.quotes(gw.qualify(book_specs(gw.server, ("SPY", "second"))), timeout=0.5)
    assert spy.valid
    assert_unusable(vx2, "snapshot not complete within 0.5s")


def test_instrument_without_any_quote_is_nan_not_a_default(gateway):
    gw = gateway(overrides={"quotes": {"third": {"bid": None, "ask": None, "last": None, "close": None}}})
    (q,) = gw.quotes(gw.qualify(book_specs(gw.server, ("third",))), timeout=3)
    assert_unusable(q, "no quote (NaN)")
    assert (q.bid, q.ask, q.last, q.close) == (None, None, None, None)


def test_unknown_contract_is_one_error_naming_each(gateway):
    gw = gateway()
    with pytest.raises(GatewayError) as info:
        gw.qualify([ContractSpec.stock("SPY"), ContractSpec.stock("NOPE"), ContractSpec.future("VXM", "202001")])
    message = str(info.value)
    assert "stock NOPE on SMART" in message and "future VXM 202001 on CFE" in message
    assert "SPY" not in message
    assert info.value.code == 200


def test_ambiguous_contract_is_an_error(gateway):
    gw = gateway(overrides={"instruments": {
        "DUP1": {"symbol": "DUP", "primary_exchange": "NYSE"},
        "DUP2": {"symbol": "DUP", "primary_exchange": "ARCA"},
    }})
    with pytest.raises(GatewayError, match=r"stock DUP on SMART is ambiguous: 2 contracts match"):
        gw.qualify([ContractSpec.stock("DUP")])


def test_client_id_in_use_is_error_326(sim):
    server = sim()
    with Gateway(config_for(server, client_id=330)):
        started = time.monotonic()
        with pytest.raises(GatewayError, match="already in use") as info:
            Gateway(config_for(server, client_id=330)).connect()
        assert info.value.code == 326
        assert time.monotonic() - started < 2
    with Gateway(config_for(server, client_id=330)) as gw:  # free again after disconnect
        assert gw.connected


def test_server_going_away_between_requests(gateway):
    gw = gateway()
    assert gw.positions()
    gw.server.drop_connections()
    time.sleep(0.2)
    with pytest.raises(GatewayError, match="Lost the connection"):
        gw.account_values()
    assert not gw.connected


def test_handshake_timeout_when_nothing_answers():
    import socket
    import threading

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    accepted = []
    threading.Thread(target=lambda: accepted.append(listener.accept()), daemon=True).start()
    try:
        with pytest.raises(GatewayError, match="did not complete the API handshake within 0.5s"):
            Gateway(GatewayConfig("127.0.0.1", port, 309, connect_timeout=0.5)).connect()
    finally:
        for conn, _ in accepted:
            conn.close()
        listener.close()


def test_non_loopback_bind_is_refused():
    scenario = load_scenario("calm_contango")
    for host in ("0.0.0.0", "192.168.1.10", "10.0.0.1", "::", "example.com", "8.8.8.8"):
        with pytest.raises(ValueError, match="loopback"):
            SimulatorServer(scenario, host=host, port=0)
    # Loopback addresses are accepted (constructing does not bind).
    for host in ("127.0.0.1", "127.0.0.2", "::1", "localhost"):
        SimulatorServer(scenario, host=host, port=0)


def test_tws_lost_its_link_to_ib_refuses_data(gateway):
    gw = gateway(overrides={"faults": {"connectivity_lost": True}})
    with pytest.raises(GatewayError, match="error 1100") as info:
        gw.quotes(gw.qualify([ContractSpec.stock("SPY")]))
    assert info.value.code == 1100
    with pytest.raises(GatewayError, match="error 1100"):
        gw.positions()


def test_account_values_can_be_read_repeatedly(gateway):
    gw = gateway()
    assert [gw.account_values().net_liquidation for _ in range(4)] == [Decimal("105000")] * 4
