"""The instruments a scenario can name, and their contracts as the simulator reports them: built-in
stocks/ETFs and indexes, the VXM months listed for the session (named absolutely, "VXMG6", or
relative to it, "front", "second", "third", through dspops.core.vx), and the instruments a
scenario declares. Each gets a deterministic conId. ContractResolver turns the names a scenario
uses into SimContracts for one session.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from dspops.core import vx

from .scenario_specs import ScenarioError

if TYPE_CHECKING:
    from .scenario import Scenario

__all__ = [
    "BUILTIN_INDEXES",
    "BUILTIN_STOCKS",
    "ContractResolver",
    "RELATIVE_FUTURES",
    "SimContract",
    "VXM_ROOT",
    "future_con_id",
    "listed_months",
    "stable_con_id",
]

RELATIVE_FUTURES = ("front", "second", "third")
VXM_ROOT = "VXM"
VXM_LOCAL_SYMBOL = re.compile(r"VXM[FGHJKMNQUVXZ]\d")

# Built-in stocks/ETFs (all on SMART) and indexes. primary exchange per symbol.
BUILTIN_STOCKS = {
    "SPY": ("ARCA", "SPDR S&P 500 ETF TRUST"),
    "QQQ": ("NASDAQ", "INVESCO QQQ TRUST SERIES 1"),
    "IWM": ("ARCA", "ISHARES RUSSELL 2000 ETF"),
    "EEM": ("ARCA", "ISHARES MSCI EMERGING MARKETS"),
    "EFA": ("ARCA", "ISHARES MSCI EAFE ETF"),
    "VEA": ("ARCA", "VANGUARD FTSE DEVELOPED ETF"),
    "VWO": ("ARCA", "VANGUARD FTSE EMERGING MARKET"),
    "GLD": ("ARCA", "SPDR GOLD SHARES"),
    "SHY": ("NASDAQ", "ISHARES 1-3 YEAR TREASURY BOND"),
    "IEF": ("NASDAQ", "ISHARES 7-10 YEAR TREASURY BO"),
    "TLT": ("NASDAQ", "ISHARES 20+ YEAR TREASURY BON"),
    "TIP": ("ARCA", "ISHARES TIPS BOND ETF"),
    "PDBC": ("NASDAQ", "INVESCO OPTIMUM YIELD DIVERSI"),
    "UUP": ("ARCA", "INVESCO DB US DOLLAR INDEX BUL"),
    "AGG": ("ARCA", "ISHARES CORE U.S. AGGREGATE"),
    "BND": ("NASDAQ", "VANGUARD TOTAL BOND MARKET"),
    "DBC": ("ARCA", "INVESCO DB COMMODITY INDEX TRA"),
    "VNQ": ("ARCA", "VANGUARD REAL ESTATE ETF"),
}
BUILTIN_INDEXES = {
    "VIX": "CBOE Volatility Index",
    "VVIX": "CBOE VIX VOLATILITY INDEX",
}


def stable_con_id(key: str) -> int:
    """A deterministic conId for a non-future instrument (same key, same id, every run)."""
    return 100_000_000 + zlib.crc32(key.encode()) % 400_000_000


def future_con_id(cm: vx.ContractMonth) -> int:
    """A deterministic conId for a VXM contract month, e.g. 700202612 for 2026-12."""
    return 700_000_000 + cm.year * 100 + cm.month


@dataclass(frozen=True)
class SimContract:
    """One instrument the simulator knows, with everything contract details report."""

    con_id: int
    symbol: str
    sec_type: str  # STK, IND, FUT
    exchange: str  # what contract details report: SMART, CBOE, CFE
    primary_exchange: str
    currency: str
    local_symbol: str
    trading_class: str
    multiplier: str  # "" for stocks and indexes, "100" for VXM
    last_trade_date: str = ""  # YYYYMMDD for futures
    contract_month: str = ""  # YYYYMM for futures
    min_tick: float = 0.01
    long_name: str = ""
    time_zone: str = "US/Eastern"

    @property
    def multiplier_value(self) -> float:
        return float(self.multiplier) if self.multiplier else 1.0

    @property
    def name(self) -> str:
        return self.local_symbol or self.symbol


def listed_months(session: date) -> list[vx.ContractMonth]:
    """VXM months the simulator lists: not yet settled, up to 9 months out."""
    start = vx.ContractMonth.from_date(session)
    out = []
    for n in range(0, 10):
        try:
            cm = start.shift(n)
        except ValueError:
            break
        if vx.settlement_date(cm) >= session:
            out.append(cm)
    return out


class ContractResolver:
    """The SimContract of each name a scenario uses, for one session; one conId per contract."""

    def __init__(self, sc: Scenario, session: date):
        self.sc = sc
        self.session = session
        self.by_con_id: dict[int, SimContract] = {}
        self.names: dict[str, int] = {}

    def _add(self, name: str, c: SimContract) -> SimContract:
        existing = self.by_con_id.get(c.con_id)
        if existing is not None and existing != c:
            raise ScenarioError(
                f"{self.sc.name}: conId {c.con_id} is used by both "
                f"{existing.name} and {c.name}"
            )
        self.by_con_id[c.con_id] = c
        self.names[name] = c.con_id
        return c

    def add_future(self, cm: vx.ContractMonth) -> SimContract:
        local = cm.local_symbol(VXM_ROOT)
        c = SimContract(
            con_id=future_con_id(cm),
            symbol=VXM_ROOT,
            sec_type="FUT",
            exchange="CFE",
            primary_exchange="",
            currency="USD",
            local_symbol=local,
            trading_class=VXM_ROOT,
            multiplier="100",
            last_trade_date=f"{vx.settlement_date(cm):%Y%m%d}",
            contract_month=f"{cm.year:04d}{cm.month:02d}",
            min_tick=0.01,
            long_name=f"Mini Cboe Volatility Index Futures {cm.label}",
            time_zone="US/Central",
        )
        return self._add(local, c)

    def resolve(self, name: str, where: str) -> SimContract:
        if name in self.names:
            return self.by_con_id[self.names[name]]
        if name in RELATIVE_FUTURES:
            months = vx.front_contracts(self.session)
            c = self.add_future(months[RELATIVE_FUTURES.index(name)])
            self.names[name] = c.con_id
            return c
        if VXM_LOCAL_SYMBOL.fullmatch(name):
            c = self.add_future(vx.parse_local_symbol(name, near=self.session))
            self.names[name] = c.con_id
            return c
        if name in self.sc.instruments:
            spec = self.sc.instruments[name]
            sec_type = spec.get("sec_type", "STK")
            c = SimContract(
                con_id=int(spec.get("con_id") or stable_con_id(f"{sec_type}:{name}")),
                symbol=str(spec.get("symbol", name)),
                sec_type=sec_type,
                exchange=spec.get("exchange", "SMART" if sec_type == "STK" else "CBOE"),
                primary_exchange=spec.get("primary_exchange", ""),
                currency=spec.get("currency", "USD"),
                local_symbol=str(spec.get("local_symbol", spec.get("symbol", name))),
                trading_class=str(spec.get("trading_class", spec.get("symbol", name))),
                multiplier=str(spec.get("multiplier", "")),
                min_tick=float(spec.get("min_tick", 0.01)),
                long_name=spec.get("long_name", name),
            )
            return self._add(name, c)
        if name in BUILTIN_STOCKS:
            primary, long_name = BUILTIN_STOCKS[name]
            return self._add(
                name,
                SimContract(
                    con_id=stable_con_id(f"STK:{name}"),
                    symbol=name,
                    sec_type="STK",
                    exchange="SMART",
                    primary_exchange=primary,
                    currency="USD",
                    local_symbol=name,
                    trading_class=name,
                    multiplier="",
                    min_tick=0.01,
                    long_name=long_name,
                ),
            )
        if name in BUILTIN_INDEXES:
            return self._add(
                name,
                SimContract(
                    con_id=stable_con_id(f"IND:{name}"),
                    symbol=name,
                    sec_type="IND",
                    exchange="CBOE",
                    primary_exchange="",
                    currency="USD",
                    local_symbol=name,
                    trading_class=name,
                    multiplier="",
                    min_tick=0.01,
                    long_name=BUILTIN_INDEXES[name],
                    time_zone="US/Central",
                ),
            )
        raise ScenarioError(
            f"{self.sc.name}: {where}: unknown contract {name!r}. Use front/second/third, "
            f"a VXM local symbol such as VXMG6, one of {sorted(BUILTIN_STOCKS)} or "
            f"{sorted(BUILTIN_INDEXES)}, or declare it under `instruments`."
        )
