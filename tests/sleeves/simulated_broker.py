"""The real TWS simulator, in-process on an ephemeral port, for the fill import and reconcile tests.

No mocks of IB: the Gateway talks TCP to the simulator through the real ib_insync client.
"""

from __future__ import annotations

import socket
from typing import Any

from dspops.core.broker.gateway import Gateway, GatewayConfig
from dspops.simulator import Scenario, SimulatorServer, load_scenario

SIM_ACCOUNT = "SIM0100001"


def free_port() -> int:
    """A TCP port that nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SimulatedBroker:
    """Starts simulators and opens gateways to them; `close()` stops everything it started."""

    def __init__(self) -> None:
        self.servers: list[SimulatorServer] = []
        self.gateways: list[Gateway] = []

    def start(self, scenario: str | dict[str, Any] = "calm_contango") -> SimulatorServer:
        """A running simulator: a shipped scenario's name, or a scenario mapping (account defaults to SIM)."""
        if isinstance(scenario, dict):
            loaded = Scenario.from_dict({"name": "test", "account": SIM_ACCOUNT, **scenario}, origin="test")
        else:
            loaded = load_scenario(scenario)
        server = SimulatorServer(loaded, host="127.0.0.1", port=0)
        server.start()
        self.servers.append(server)
        return server

    def gateway(self, scenario: str | dict[str, Any] = "calm_contango") -> Gateway:
        """An open Gateway to a new simulator playing `scenario`."""
        server = self.start(scenario)
        gw = Gateway(config_for(server.port))
        gw.connect()
        gw.server = server  # type: ignore[attr-defined]
        self.gateways.append(gw)
        return gw

    def con_id(self, server: SimulatorServer, name: str) -> int:
        """The simulator's conId for a scenario name ("front", "SPY", "XYZ")."""
        return server.world.resolved.names[name]

    def close(self) -> None:
        for gw in self.gateways:
            gw.close()
        for server in self.servers:
            server.stop()


def config_for(port: int, client_id: int = 311) -> GatewayConfig:
    return GatewayConfig(host="127.0.0.1", port=port, client_id=client_id, connect_timeout=5.0, request_timeout=5.0)


def point_settings_at(settings, port: int) -> None:
    """Make GatewayConfig.from_settings (the commands' "shell" role) reach this port."""
    settings.IB_HOST = "127.0.0.1"
    settings.IB_PORT = port
    settings.IB_CONNECT_TIMEOUT = 5.0
    settings.IB_REQUEST_TIMEOUT = 5.0
