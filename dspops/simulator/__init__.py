"""The TWS simulator: an asyncio server speaking the TWS API (server version 176).

See docs/simulator.md for the scenario format. Loopback only.
"""

from .scenario import Scenario, ScenarioError, available_scenarios, load_scenario
from .server import SERVER_VERSION, SimulatorServer, check_loopback

__all__ = [
    "SERVER_VERSION",
    "Scenario",
    "ScenarioError",
    "SimulatorServer",
    "available_scenarios",
    "check_loopback",
    "load_scenario",
]
