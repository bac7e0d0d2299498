"""Fixtures for the broker tests: the TWS simulator in-process on an ephemeral port.

No database: these tests talk TCP to the simulator through the real ib_insync client.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from ib_insync import IB

from dspops.core.broker.gateway import Gateway, GatewayConfig
from dspops.simulator import SimulatorServer, load_scenario


def free_port() -> int:
    """A TCP port that nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def sim() -> Iterator[Callable[..., SimulatorServer]]:
    """Start a simulator: sim("calm_contango", {"faults": {...}}) -> a running SimulatorServer."""
    servers: list[SimulatorServer] = []

    def start(scenario: str = "calm_contango", overrides: dict[str, Any] | None = None) -> SimulatorServer:
        server = SimulatorServer(load_scenario(scenario, overrides), host="127.0.0.1", port=0)
        server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def config_for(server: SimulatorServer, **kwargs: Any) -> GatewayConfig:
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": server.port,
        "client_id": 309,
        "connect_timeout": 5.0,
        "request_timeout": 5.0,
    }
    values.update(kwargs)
    return GatewayConfig(**values)


@pytest.fixture
def gateway(sim) -> Callable[..., Gateway]:
    """gateway(scenario, overrides, **config) -> an open Gateway (closed after the test)."""
    opened: list[Gateway] = []

    def open_(scenario: str = "calm_contango", overrides: dict[str, Any] | None = None, **config: Any) -> Gateway:
        server = sim(scenario, overrides)
        gw = Gateway(config_for(server, **config))
        gw.connect()
        gw.server = server  # type: ignore[attr-defined]
        opened.append(gw)
        return gw

    yield open_
    for gw in opened:
        gw.close()


def sim_contract(server: SimulatorServer, name: str):
    """The simulator's contract for a scenario name ("front", "SPY", "VXMG6")."""
    resolved = server.world.resolved
    return resolved.contracts[resolved.names[name]]


def book_specs(server: SimulatorServer, names: tuple[str, ...] = ("SPY", "VIX", "VVIX", "front", "second", "third")):
    """ContractSpecs for scenario names, futures by contract month as an app would ask."""
    from dspops.core.broker.types import ContractSpec

    specs = []
    for name in names:
        c = sim_contract(server, name)
        if c.sec_type == "FUT":
            specs.append(ContractSpec.future("VXM", c.contract_month))
        elif c.sec_type == "IND":
            specs.append(ContractSpec.index(c.symbol))
        else:
            specs.append(ContractSpec.stock(c.symbol))
    return specs


@pytest.fixture
def ib_client():
    """connect(server, client_id=401, readonly=False) -> a plain ib_insync IB connected to the simulator (the
    real client over TCP), on a loop of its own; every client is disconnected and the loop closed afterwards."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    clients: list[IB] = []

    def connect(server, client_id: int = 401, readonly: bool = False) -> IB:
        ib = IB()
        ib.RequestTimeout = 5
        ib.connect("127.0.0.1", server.port, clientId=client_id, timeout=5, readonly=readonly)
        clients.append(ib)
        return ib

    yield connect
    for ib in clients:
        ib.disconnect()
    loop.run_until_complete(asyncio.sleep(0))
    loop.close()
    asyncio.set_event_loop(None)
