"""What a scenario file states, as frozen values: quotes, daily history, positions, executions,
the fill policy for orders placed in the session, and the faults (latency, IB errors per
instrument, a missing tickSnapshotEnd, dropped connections, and `faults.absurd`, values sent
exactly as written). Contracts are still named here, not resolved. Also ScenarioError, which
every part of the simulator raises for a bad scenario, and the account tags a scenario may set.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from dspops.core.errors import OperatorError

__all__ = [
    "ACCOUNT_TAGS",
    "AbsurdValues",
    "ExecutionSpec",
    "FILL_MODES",
    "Faults",
    "FillPolicy",
    "HistorySpec",
    "PositionSpec",
    "QuoteSpec",
    "ScenarioError",
]

ACCOUNT_TAGS = (
    "NetLiquidation",
    "ExcessLiquidity",
    "MaintMarginReq",
    "InitMarginReq",
    "AvailableFunds",
    "TotalCashValue",
    "BuyingPower",
    "EquityWithLoanValue",
    "GrossPositionValue",
    "FullExcessLiquidity",
    "FullMaintMarginReq",
    "Cushion",
)

FILL_MODES = ("all", "none", "partial", "legs")


class ScenarioError(OperatorError, ValueError):
    """A scenario file is missing, malformed or names something unknown."""


@dataclass(frozen=True)
class QuoteSpec:
    """A quote as the scenario states it. None = the tick is never sent (client sees NaN)."""

    bid: float | None = None
    ask: float | None = None
    last: float | None = None
    close: float | None = None
    bid_size: float | None = None
    ask_size: float | None = None
    last_size: float | None = None
    market_data_type: int = 1
    age_s: float | None = None  # stale: send a LAST_TIMESTAMP this many seconds old


@dataclass(frozen=True)
class HistorySpec:
    """Daily closes for reqHistoricalData: explicit `closes` (oldest first), else a
    deterministic random walk with `annual_vol` that ends at the quote's close."""

    closes: tuple[float, ...] = ()
    annual_vol: float = 0.15


@dataclass(frozen=True)
class FillPolicy:
    """What happens to orders placed in the session."""

    fill: str = "all"  # all | none | partial | legs
    partial_fraction: float = 0.5
    unfilled_legs: tuple[str, ...] = ()
    commission_per_contract: float = 1.07  # futures and combos, per contract
    commission_per_share: float = 0.005  # stocks, minimum 1.00 per fill


@dataclass(frozen=True)
class AbsurdValues:
    """`faults.absurd`: values sent exactly as written, never bounded (to test dspops's bounds).

    quotes: contract -> {bid, ask, last, close, bid_size, ask_size, last_size, age_s: number}
    account_values: TWS tag -> number
    positions: contract -> {quantity, avg_cost: number} (replaces or adds a position)
    executions: index in `executions` -> {quantity, price, commission: number; time: ISO text}
    history: contract -> closes (oldest first)
    """

    quotes: dict[str, dict[str, float]] = field(default_factory=dict)
    account_values: dict[str, float] = field(default_factory=dict)
    positions: dict[str, dict[str, float]] = field(default_factory=dict)
    executions: dict[int, dict[str, Any]] = field(default_factory=dict)
    history: dict[str, tuple[float, ...]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return any((self.quotes, self.account_values, self.positions, self.executions, self.history))


@dataclass(frozen=True)
class Faults:
    latency_ms: float = 0.0
    market_data_errors: dict[str, int] = field(default_factory=dict)
    no_snapshot_end: tuple[str, ...] = ()
    disconnect_after_messages: int = 0
    disconnect_mid_snapshot: bool = False
    reject_client_ids: tuple[int, ...] = ()
    connectivity_lost: bool = False
    absurd: AbsurdValues = field(default_factory=AbsurdValues)


@dataclass(frozen=True)
class ExecutionSpec:
    contract: str
    side: str  # BUY / SELL
    quantity: float
    price: float
    time: str  # "-30m", "-2h", "-1d", "-90s" (counted over NYSE session days only) or ISO 8601 with zone
    exec_id: str = ""
    order_ref: str = ""
    commission: float | None = None
    commission_currency: str = "USD"
    order_id: int = 0
    perm_id: int = 0
    exchange: str = ""
    unchecked: bool = False  # set by faults.absurd: its time is sent as written, never bounded


@dataclass(frozen=True)
class PositionSpec:
    contract: str
    quantity: float
    avg_cost: float
