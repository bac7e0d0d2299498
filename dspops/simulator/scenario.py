"""Scenario files for the TWS simulator: loading, validation, contract resolution.

A scenario is a YAML mapping (format in docs/simulator.md). Loading checks every
key and value and raises ScenarioError naming the file and the offending entry,
so a typo never silently turns into "no quote". Dates and numbers are bounded
with dspops.core.bounds (DECISIONS.md section 11): dates between 2000-01-01 and
2100-12-31, execution times not in the future, numbers within bounds.PLAUSIBLE
for their kind and fitting their column.

To test dspops's own bounds, a scenario can still make the simulator send an
absurd value on purpose, but only by saying so: `faults.absurd` holds values
that are sent exactly as written and never checked (VIX 1e300, NetLiquidation
1e30, an execution dated 9999-12-31).

Contracts are named absolutely ("SPY", "VIX", "VVIX", "VXMG6") or relative to
the scenario's session ("front", "second", "third"), resolved with
dspops.core.vx.front_contracts(). The session is the scenario's `as_of` date if it has
one, else today's New York trading date.

No Django imports: the simulator runs in tests, in benchmarks and under the
tws_sim management command alike.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import re
import zlib
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any

import yaml

from dspops.core import bounds, calendars
from dspops.core.calendars import NEW_YORK
from dspops.core import vx

__all__ = [
    "AbsurdValues",
    "FillPolicy",
    "Faults",
    "HistorySpec",
    "QuoteSpec",
    "ResolvedScenario",
    "SCENARIO_DIR",
    "Scenario",
    "ScenarioError",
    "SimContract",
    "available_scenarios",
    "load_scenario",
]

SCENARIO_DIR = Path(__file__).resolve().parent / "scenarios"
UTC = timezone.utc

RELATIVE_FUTURES = ("front", "second", "third")
VXM_ROOT = "VXM"
_VXM_RE = re.compile(r"VXM[FGHJKMNQUVXZ]\d")

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


class ScenarioError(ValueError):
    """A scenario file is missing, malformed or names something unknown."""


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
    time: str  # "-30m", "-2h", "-1d", "-90s" or ISO 8601 with zone
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


@dataclass(frozen=True)
class Scenario:
    """A validated scenario, still with contract names unresolved."""

    name: str
    account: str
    description: str = ""
    currency: str = "USD"
    as_of: date | None = None
    account_values: dict[str, float] = field(default_factory=dict)
    positions: tuple[PositionSpec, ...] = ()
    quotes: dict[str, QuoteSpec] = field(default_factory=dict)
    executions: tuple[ExecutionSpec, ...] = ()
    orders: FillPolicy = field(default_factory=FillPolicy)
    faults: Faults = field(default_factory=Faults)
    instruments: dict[str, dict[str, Any]] = field(default_factory=dict)
    history: dict[str, HistorySpec] = field(default_factory=dict)
    source_path: str = ""
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_dict(cls, data: Any, *, origin: str = "<dict>") -> Scenario:
        return _parse(data, origin)

    def with_overrides(self, overrides: dict[str, Any]) -> Scenario:
        """A copy with `overrides` deep-merged into the raw mapping (mappings merge, rest replaces)."""
        merged = _deep_merge(copy.deepcopy(self.raw), overrides)
        return _parse(merged, f"{self.source_path or self.name} (+overrides)")

    def session(self, now: datetime | None = None) -> date:
        """The trading day the scenario plays: `as_of`, else today in New York."""
        if self.as_of is not None:
            return self.as_of
        return calendars.trading_date(now or datetime.now(UTC))

    def resolve(self, now: datetime | None = None) -> ResolvedScenario:
        return ResolvedScenario.build(self, now or datetime.now(UTC))


@dataclass
class ResolvedScenario:
    """A scenario with every contract name turned into a SimContract for one session."""

    scenario: Scenario
    session: date
    reference_time: datetime  # what relative times ("-30m") count back from
    contracts: dict[int, SimContract]  # conId -> contract (everything qualify can find)
    names: dict[str, int]  # scenario name ("front", "SPY", "VXMZ6") -> conId
    quotes: dict[int, QuoteSpec]
    positions: dict[int, tuple[float, float]]  # conId -> (quantity, avg cost)
    executions: list[dict[str, Any]]
    market_data_errors: dict[int, int]
    no_snapshot_end: set[int]
    unfilled_legs: set[int]
    history: dict[int, HistorySpec] = field(default_factory=dict)

    @classmethod
    def build(cls, sc: Scenario, now: datetime) -> ResolvedScenario:
        session = sc.session(now)
        if sc.as_of is not None:
            # Replaying a past day: relative times count back from 15:30 New York.
            reference = datetime.combine(session, time(15, 30), NEW_YORK).astimezone(UTC)
        else:
            reference = now.astimezone(UTC)
        resolver = _Resolver(sc, session)
        # Everything qualify can find: builtins, declared instruments, listed VXM months.
        for name in list(BUILTIN_STOCKS) + list(BUILTIN_INDEXES) + list(sc.instruments):
            resolver.resolve(name, "instruments")
        for cm in _listed_months(session):
            resolver.add_future(cm)

        def cid(name: str, where: str) -> int:
            return resolver.resolve(name, where).con_id

        quotes = {cid(n, f"quotes.{n}"): q for n, q in sc.quotes.items()}
        positions: dict[int, tuple[float, float]] = {}
        for i, p in enumerate(sc.positions):
            con_id = cid(p.contract, f"positions[{i}]")
            if con_id in positions:
                raise ScenarioError(
                    f"{sc.name}: positions[{i}]: {p.contract} is listed twice"
                )
            positions[con_id] = (p.quantity, p.avg_cost)
        executions = []
        for i, e in enumerate(sc.executions):
            c = resolver.resolve(e.contract, f"executions[{i}]")
            where = f"scenario {sc.name} ({sc.source_path or 'no file'}): executions[{i}].time"
            moment = _parse_time(e.time, reference, where, checked=not e.unchecked)
            if not e.unchecked:
                try:
                    bounds.check_execution_time(moment, now, "execution time")
                except bounds.OutOfBounds as exc:
                    raise ScenarioError(f"{where}: {exc}; to send one on purpose, use faults.absurd") from None
            executions.append(
                {
                    "con_id": c.con_id,
                    "side": e.side,
                    "quantity": e.quantity,
                    "price": e.price,
                    "time": moment,
                    "exec_id": e.exec_id or f"0000e{i + 1:03d}.{session:%Y%m%d}.01.01",
                    "order_ref": e.order_ref,
                    "commission": e.commission,
                    "commission_currency": e.commission_currency,
                    "order_id": e.order_id,
                    "perm_id": e.perm_id or 900_000_000 + i + 1,
                    "exchange": e.exchange or _exec_exchange(c),
                    "client_id": 0,
                }
            )
        errors = {
            cid(n, f"faults.market_data_errors.{n}"): code
            for n, code in sc.faults.market_data_errors.items()
        }
        no_end = {cid(n, "faults.no_snapshot_end") for n in sc.faults.no_snapshot_end}
        unfilled = {cid(n, "orders.unfilled_legs") for n in sc.orders.unfilled_legs}
        history = {cid(n, f"history.{n}"): h for n, h in sc.history.items()}
        return cls(
            scenario=sc,
            session=session,
            reference_time=reference,
            contracts=dict(resolver.by_con_id),
            names=dict(resolver.names),
            quotes=quotes,
            positions=positions,
            executions=executions,
            market_data_errors=errors,
            no_snapshot_end=no_end,
            unfilled_legs=unfilled,
            history=history,
        )


def _exec_exchange(c: SimContract) -> str:
    return c.primary_exchange if c.sec_type == "STK" else c.exchange


def _listed_months(session: date) -> list[vx.ContractMonth]:
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


class _Resolver:
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
        if _VXM_RE.fullmatch(name):
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


# --- parsing ---------------------------------------------------------------------------------

_TOP_KEYS = {
    "name",
    "description",
    "account",
    "currency",
    "as_of",
    "account_values",
    "positions",
    "quotes",
    "executions",
    "orders",
    "faults",
    "instruments",
    "history",
}
_QUOTE_KEYS = {f for f in QuoteSpec.__dataclass_fields__}
_EXEC_KEYS = {f for f in ExecutionSpec.__dataclass_fields__} - {"unchecked"}
_POSITION_KEYS = {"contract", "quantity", "avg_cost"}
_ORDER_KEYS = {f for f in FillPolicy.__dataclass_fields__}
_FAULT_KEYS = {f for f in Faults.__dataclass_fields__}
_ABSURD_KEYS = {f for f in AbsurdValues.__dataclass_fields__}
_INSTRUMENT_KEYS = {
    "symbol",
    "sec_type",
    "exchange",
    "primary_exchange",
    "currency",
    "local_symbol",
    "trading_class",
    "multiplier",
    "min_tick",
    "long_name",
    "con_id",
}
# Limits of the simulator's own settings (the numbers a scenario states are bounded by dspops.core.bounds).
INT32_MAX = 2**31 - 1  # TWS order ids, perm ids, client ids and conIds are 32-bit
MAX_AGE_S = 10 * 365 * 86400  # a quote's LAST_TIMESTAMP at most ten years old
MAX_LATENCY_MS = 60_000
MAX_MESSAGES = 1_000_000
MAX_ERROR_CODE = 99_999
MAX_HISTORY = 5_000
_RELATIVE_TIME = re.compile(r"-\s*(\d+(?:\.\d+)?)\s*([smhd])")


def _deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = _deep_merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base


def _check_keys(d: Any, allowed: set[str] | None, where: str) -> dict[str, Any]:
    """`d` as a mapping whose keys are all in `allowed` (any keys when None); {} for None."""
    if d is None:
        return {}
    if not isinstance(d, dict):
        raise ScenarioError(f"{where} must be a mapping, got {type(d).__name__}")
    if allowed is None:
        return d
    unknown = set(map(str, d)) - allowed
    if unknown:
        raise ScenarioError(
            f"{where}: unknown key(s) {sorted(unknown)}; allowed: {sorted(allowed)}"
        )
    return d


def _number(value: Any, where: str, *, allow_none: bool = False) -> float | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ScenarioError(f"{where} must be a number, got {value!r}")
    if value != value:
        raise ScenarioError(f"{where}: write null (tick never sent) instead of NaN")
    try:
        return float(value)
    except OverflowError:  # an integer with hundreds of digits
        raise ScenarioError(f"{where}: {str(value)[:20]}... is too large to be a number dspops accepts") from None


def _parse_time(text: Any, reference: datetime, where: str, *, checked: bool = True) -> datetime:
    """A relative ("-30m") or ISO 8601 time with a zone, as UTC; within the date bounds if `checked`."""
    if isinstance(text, datetime):
        moment = text
    else:
        s = str(text).strip()
        m = _RELATIVE_TIME.fullmatch(s)
        if m:
            amount, unit = float(m.group(1)), m.group(2)
            seconds = amount * {"s": 1, "m": 60, "h": 3600, "d": 86400}[unit]
            try:
                moment = reference - timedelta(seconds=seconds)
            except (OverflowError, ValueError):
                raise ScenarioError(f"{where}: {text!r} reaches before year 1") from None
            return _bounded_time(moment, where) if checked else moment
        try:
            moment = datetime.fromisoformat(s.replace("Z", "+00:00"))
        except ValueError:
            raise ScenarioError(
                f"{where}: {text!r} is neither relative (-90s, -30m, -2h, -1d) nor "
                "ISO 8601 with a zone (2026-01-12T15:30:00-05:00)"
            ) from None
    if moment.tzinfo is None:
        raise ScenarioError(f"{where}: {text!r} has no time zone; add one (Z or -05:00)")
    try:
        moment = moment.astimezone(UTC)
    except OverflowError:
        raise ScenarioError(f"{where}: {text!r} is not a time dspops can use") from None
    return _bounded_time(moment, where) if checked else moment


def _bounded_time(moment: datetime, where: str) -> datetime:
    try:
        return bounds.check_date(moment, "time")
    except bounds.OutOfBounds as exc:
        raise ScenarioError(f"{where}: {exc}") from None


def _bounded(value: Any, where: str, field_: str, kind: str, digits: tuple[int, int] = bounds.PRICE_DIGITS, *,
             sign: str = "", allow_none: bool = False) -> float | None:
    """A number (see _number) within bounds.PLAUSIBLE[kind] that fits its column.

    sign "positive": above 0; "not negative": 0 or more.
    """
    number = _number(value, f"{where}: {field_}", allow_none=allow_none)
    if number is None:
        return None
    try:
        bounds.check_plausible(number, field_, kind, digits=digits)
    except bounds.OutOfBounds as exc:
        raise ScenarioError(f"{where}: {exc}") from None
    if (sign == "positive" and number <= 0) or (sign == "not negative" and number < 0):
        raise ScenarioError(f"{where}: {field_} {number:g} must be {'above 0' if sign == 'positive' else '0 or more'}")
    return number


def _integer(value: Any, where: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ScenarioError(f"{where} must be a whole number, got {value!r}")
    if not low <= value <= high:
        raise ScenarioError(f"{where} must be from {low} to {high}, got {value}")
    return value


def _price_kind(name: str, instruments: dict[str, Any]) -> str:
    """The bounds.PLAUSIBLE kind of a contract's prices: a vol index, a VX future or a stock/ETF."""
    if name in instruments:
        return bounds.price_kind(instruments[name].get("sec_type", "STK"))
    if name in BUILTIN_INDEXES:
        return "vix"
    if name in RELATIVE_FUTURES or _VXM_RE.fullmatch(name):
        return "vx_future"
    return "stock_price"


def _quote_price(value: Any, where: str, field_: str, kind: str) -> float | None:
    """A quoted price: null (never sent), -1 (TWS's "no price") or a plausible price."""
    number = _number(value, f"{where}: {field_}", allow_none=True)
    if number is None or number == -1:
        return number
    if number < 0:
        raise ScenarioError(f"{where}: {field_} {number:g} is negative; write -1 for TWS's \"no price\" or null")
    return _bounded(number, where, field_, kind)


def _names(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ScenarioError(f"{where} must be a list of contract names")
    return tuple(value)


def _parse(data: Any, origin: str) -> Scenario:
    top = _check_keys(data, _TOP_KEYS, origin)
    name = str(top.get("name") or Path(origin).stem)
    w = f"scenario {name} ({origin})"
    account = top.get("account")
    if not isinstance(account, str) or not account.startswith("SIM"):
        raise ScenarioError(
            f"{w}: account must be a string starting with 'SIM' (got {account!r}); "
            "dspops recognises simulated data by the account id"
        )
    as_of = top.get("as_of")
    if as_of is not None and not isinstance(as_of, date):
        try:
            as_of = date.fromisoformat(str(as_of))
        except ValueError:
            raise ScenarioError(f"{w}: as_of must be a date YYYY-MM-DD, got {as_of!r}") from None
    if isinstance(as_of, datetime):
        as_of = as_of.date()
    if as_of is not None:
        try:
            bounds.check_date(as_of, "as_of")
        except bounds.OutOfBounds as exc:
            raise ScenarioError(f"{w}: {exc}") from None
    instruments_raw = top.get("instruments") or {}
    if not isinstance(instruments_raw, dict):
        raise ScenarioError(f"{w}: instruments must be a mapping")

    def kind_of(contract: Any) -> str:
        return _price_kind(str(contract), instruments_raw)

    values = {}
    for tag, v in (_check_keys(top.get("account_values"), set(ACCOUNT_TAGS), f"{w}: account_values")).items():
        values[tag] = _bounded(v, w, f"account_values.{tag}", "account_value", bounds.MONEY_DIGITS)

    positions = []
    raw_positions = top.get("positions") or []
    if not isinstance(raw_positions, list):
        raise ScenarioError(f"{w}: positions must be a list")
    for i, p in enumerate(raw_positions):
        p = _check_keys(p, _POSITION_KEYS, f"{w}: positions[{i}]")
        if "contract" not in p or "quantity" not in p:
            raise ScenarioError(f"{w}: positions[{i}] needs contract and quantity")
        positions.append(
            PositionSpec(
                contract=str(p["contract"]),
                quantity=_bounded(p["quantity"], w, f"positions[{i}].quantity", "quantity",  # type: ignore[arg-type]
                                  bounds.QUANTITY_DIGITS),
                # TWS's avg cost: price x multiplier, never negative.
                avg_cost=_bounded(p.get("avg_cost", 0.0), w, f"positions[{i}].avg_cost",  # type: ignore[arg-type]
                                  "account_value", sign="not negative"),
            )
        )

    quotes = {}
    raw_quotes = top.get("quotes") or {}
    if not isinstance(raw_quotes, dict):
        raise ScenarioError(f"{w}: quotes must be a mapping of contract name to quote")
    for cname, q in raw_quotes.items():
        q = _check_keys(q, _QUOTE_KEYS, f"{w}: quotes.{cname}")
        kwargs: dict[str, Any] = {}
        for k, v in q.items():
            where = f"quotes.{cname}.{k}"
            if k == "market_data_type":
                if v not in (1, 2, 3, 4) or isinstance(v, bool):
                    raise ScenarioError(f"{w}: quotes.{cname}.market_data_type must be 1-4, got {v!r}")
                kwargs[k] = v
            elif k in ("bid", "ask", "last", "close"):
                kwargs[k] = _quote_price(v, w, where, kind_of(cname))
            elif k == "age_s":
                kwargs[k] = _number(v, f"{w}: {where}", allow_none=True)
                if kwargs[k] is not None and not 0 <= kwargs[k] <= MAX_AGE_S:
                    raise ScenarioError(f"{w}: {where} must be from 0 to {MAX_AGE_S} seconds, got {v!r}")
            else:  # sizes
                kwargs[k] = _bounded(v, w, where, "quantity", bounds.QUANTITY_DIGITS, sign="not negative", allow_none=True)
        quotes[str(cname)] = QuoteSpec(**kwargs)

    executions = []
    raw_execs = top.get("executions") or []
    if not isinstance(raw_execs, list):
        raise ScenarioError(f"{w}: executions must be a list")
    for i, e in enumerate(raw_execs):
        e = _check_keys(e, _EXEC_KEYS, f"{w}: executions[{i}]")
        for k in ("contract", "side", "quantity", "price", "time"):
            if k not in e:
                raise ScenarioError(f"{w}: executions[{i}] needs {k}")
        side = str(e["side"]).upper()
        if side not in ("BUY", "SELL"):
            raise ScenarioError(f"{w}: executions[{i}].side must be BUY or SELL, got {e['side']!r}")
        _parse_time(e["time"], datetime.now(UTC), f"{w}: executions[{i}].time")
        executions.append(
            ExecutionSpec(
                contract=str(e["contract"]),
                side=side,
                # The side gives the direction: a quantity is positive, and so is a price.
                quantity=_bounded(e["quantity"], w, f"executions[{i}].quantity", "quantity",  # type: ignore[arg-type]
                                  bounds.QUANTITY_DIGITS, sign="positive"),
                price=_bounded(e["price"], w, f"executions[{i}].price", kind_of(e["contract"]),  # type: ignore[arg-type]
                               sign="positive"),
                time=e["time"] if isinstance(e["time"], datetime) else str(e["time"]),
                exec_id=str(e.get("exec_id", "")),
                order_ref=str(e.get("order_ref", "")),
                commission=_bounded(e.get("commission"), w, f"executions[{i}].commission", "commission",
                                    allow_none=True),
                commission_currency=str(e.get("commission_currency", "USD")),
                order_id=_integer(e.get("order_id", 0), f"{w}: executions[{i}].order_id", 0, INT32_MAX),
                perm_id=_integer(e.get("perm_id", 0), f"{w}: executions[{i}].perm_id", 0, INT32_MAX),
                exchange=str(e.get("exchange", "")),
            )
        )

    o = _check_keys(top.get("orders"), _ORDER_KEYS, f"{w}: orders")
    fill = o.get("fill", "all")
    if fill not in FILL_MODES:
        raise ScenarioError(f"{w}: orders.fill must be one of {FILL_MODES}, got {fill!r}")
    fraction = _number(o.get("partial_fraction", 0.5), f"{w}: orders.partial_fraction")
    if not 0 < fraction < 1:  # type: ignore[operator]
        raise ScenarioError(f"{w}: orders.partial_fraction must be between 0 and 1")
    orders = FillPolicy(
        fill=fill,
        partial_fraction=fraction,  # type: ignore[arg-type]
        unfilled_legs=_names(o.get("unfilled_legs"), f"{w}: orders.unfilled_legs"),
        commission_per_contract=_bounded(o.get("commission_per_contract", 1.07), w,  # type: ignore[arg-type]
                                         "orders.commission_per_contract", "commission", sign="not negative"),
        commission_per_share=_bounded(o.get("commission_per_share", 0.005), w,  # type: ignore[arg-type]
                                      "orders.commission_per_share", "commission", sign="not negative"),
    )
    if fill == "legs" and not orders.unfilled_legs:
        raise ScenarioError(f"{w}: orders.fill 'legs' needs orders.unfilled_legs")

    f = _check_keys(top.get("faults"), _FAULT_KEYS, f"{w}: faults")
    errors = f.get("market_data_errors") or {}
    if not isinstance(errors, dict) or not all(
        isinstance(v, int) and not isinstance(v, bool) and 0 < v <= MAX_ERROR_CODE for v in errors.values()
    ):
        raise ScenarioError(
            f"{w}: faults.market_data_errors maps a contract name to an IB error code (1 to {MAX_ERROR_CODE})")
    after = _integer(f.get("disconnect_after_messages", 0) or 0, f"{w}: faults.disconnect_after_messages",
                     0, MAX_MESSAGES)
    reject = f.get("reject_client_ids") or []
    if not isinstance(reject, list):
        raise ScenarioError(f"{w}: faults.reject_client_ids must be a list of client ids")
    latency = _number(f.get("latency_ms", 0), f"{w}: faults.latency_ms")
    if not 0 <= latency <= MAX_LATENCY_MS:  # type: ignore[operator]
        raise ScenarioError(f"{w}: faults.latency_ms must be from 0 to {MAX_LATENCY_MS}, got {latency:g}")
    faults = Faults(
        latency_ms=latency,  # type: ignore[arg-type]
        market_data_errors={str(k): v for k, v in errors.items()},
        no_snapshot_end=_names(f.get("no_snapshot_end"), f"{w}: faults.no_snapshot_end"),
        disconnect_after_messages=after,
        disconnect_mid_snapshot=bool(f.get("disconnect_mid_snapshot", False)),
        reject_client_ids=tuple(_integer(x, f"{w}: faults.reject_client_ids[{i}]", 0, INT32_MAX)
                                for i, x in enumerate(reject)),
        connectivity_lost=bool(f.get("connectivity_lost", False)),
        absurd=_parse_absurd(f.get("absurd"), f"{w}: faults.absurd", len(executions)),
    )

    instruments = {}
    for iname, spec in instruments_raw.items():
        where = f"{w}: instruments.{iname}"
        spec = _check_keys(spec, _INSTRUMENT_KEYS, where)
        if spec.get("sec_type", "STK") not in ("STK", "IND"):
            raise ScenarioError(
                f"{w}: instruments.{iname}.sec_type must be STK or IND (VXM futures are built in)"
            )
        if spec.get("con_id") is not None:
            _integer(spec["con_id"], f"{where}.con_id", 1, INT32_MAX)
        if spec.get("multiplier") not in (None, ""):
            multiplier = _number(spec["multiplier"], f"{where}.multiplier")
            if not 0 < multiplier <= 1_000_000:  # type: ignore[operator]
                raise ScenarioError(f"{where}.multiplier must be above 0 and at most 1,000,000")
        if "min_tick" in spec:
            tick = _number(spec["min_tick"], f"{where}.min_tick")
            if not 0 < tick <= 1000:  # type: ignore[operator]
                raise ScenarioError(f"{where}.min_tick must be above 0 and at most 1000")
        instruments[str(iname)] = dict(spec)

    history = {}
    for hname, spec in _check_keys(top.get("history"), None, f"{w}: history").items():
        spec = _check_keys(spec, {"closes", "annual_vol"}, f"{w}: history.{hname}")
        closes = spec.get("closes") or []
        if not isinstance(closes, list):
            raise ScenarioError(f"{w}: history.{hname}.closes must be a list of prices, oldest first")
        if len(closes) > MAX_HISTORY:
            raise ScenarioError(f"{w}: history.{hname}.closes has {len(closes)} prices; at most {MAX_HISTORY}")
        values_ = tuple(_bounded(c, w, f"history.{hname}.closes[{i}]", kind_of(hname), sign="positive")
                        for i, c in enumerate(closes))
        vol = _number(spec.get("annual_vol", 0.15), f"{w}: history.{hname}.annual_vol")
        if not 0 <= vol < 5:  # type: ignore[operator]
            raise ScenarioError(f"{w}: history.{hname}.annual_vol must be between 0 and 5")
        history[str(hname)] = HistorySpec(closes=values_, annual_vol=vol)  # type: ignore[arg-type]

    # faults.absurd: sent as written, after everything above was checked.
    absurd = faults.absurd
    values.update(absurd.account_values)
    for cname, fields_ in absurd.quotes.items():
        quotes[cname] = dataclasses.replace(quotes.get(cname, QuoteSpec()), **fields_)
    for cname, fields_ in absurd.positions.items():
        index = next((i for i, p in enumerate(positions) if p.contract == cname), None)
        if index is None:
            positions.append(PositionSpec(contract=cname, quantity=fields_.get("quantity", 0.0),
                                          avg_cost=fields_.get("avg_cost", 0.0)))
        else:
            positions[index] = dataclasses.replace(positions[index], **fields_)
    for index, fields_ in absurd.executions.items():
        executions[index] = dataclasses.replace(executions[index], **fields_,
                                                unchecked=executions[index].unchecked or "time" in fields_)
    for hname, closes_ in absurd.history.items():
        history[hname] = dataclasses.replace(history.get(hname, HistorySpec()), closes=closes_)

    sc = Scenario(
        name=name,
        account=account,
        description=str(top.get("description", "")),
        currency=str(top.get("currency", "USD")),
        as_of=as_of,
        account_values=values,  # type: ignore[arg-type]
        positions=tuple(positions),
        quotes=quotes,
        executions=tuple(executions),
        orders=orders,
        faults=faults,
        instruments=instruments,
        history=history,
        source_path=origin,
        raw=copy.deepcopy(dict(top)),
    )
    # Resolve once now so an unknown contract name fails at load time, not mid-session.
    sc.resolve()
    return sc


def _absurd_number(value: Any, where: str) -> float:
    """A finite number, or numeric text ("1e300": YAML reads that as text), never bounded."""
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise ScenarioError(f"{where} must be a number, got {value!r}") from None
    number = _number(value, where)
    if not math.isfinite(number):  # type: ignore[arg-type]
        raise ScenarioError(f"{where} must be a finite number (TWS sends no infinity), got {value!r}")
    return number  # type: ignore[return-value]


def _parse_absurd(data: Any, where: str, execution_count: int) -> AbsurdValues:
    """faults.absurd: shaped like the rest of the scenario, with every value left unbounded."""
    d = _check_keys(data, _ABSURD_KEYS, where)
    quotes: dict[str, dict[str, float]] = {}
    for cname, q in _check_keys(d.get("quotes"), None, f"{where}.quotes").items():
        q = _check_keys(q, _QUOTE_KEYS - {"market_data_type"}, f"{where}.quotes.{cname}")
        quotes[str(cname)] = {k: _absurd_number(v, f"{where}.quotes.{cname}.{k}") for k, v in q.items()}
    account_values = {
        tag: _absurd_number(v, f"{where}.account_values.{tag}")
        for tag, v in _check_keys(d.get("account_values"), set(ACCOUNT_TAGS), f"{where}.account_values").items()
    }
    positions: dict[str, dict[str, float]] = {}
    for cname, p in _check_keys(d.get("positions"), None, f"{where}.positions").items():
        p = _check_keys(p, {"quantity", "avg_cost"}, f"{where}.positions.{cname}")
        positions[str(cname)] = {k: _absurd_number(v, f"{where}.positions.{cname}.{k}") for k, v in p.items()}
    executions: dict[int, dict[str, Any]] = {}
    for index, e in _check_keys(d.get("executions"), None, f"{where}.executions").items():
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < execution_count:
            raise ScenarioError(f"{where}.executions: {index!r} is not the index of one of the "
                                f"{execution_count} execution(s) under `executions`")
        e = _check_keys(e, {"quantity", "price", "commission", "time"}, f"{where}.executions.{index}")
        executions[index] = {k: (str(v) if k == "time" else _absurd_number(v, f"{where}.executions.{index}.{k}"))
                             for k, v in e.items()}
        if "time" in e:
            _parse_time(executions[index]["time"], datetime.now(UTC), f"{where}.executions.{index}.time",
                        checked=False)
    history: dict[str, tuple[float, ...]] = {}
    for hname, closes in _check_keys(d.get("history"), None, f"{where}.history").items():
        if not isinstance(closes, list):
            raise ScenarioError(f"{where}.history.{hname} must be a list of closes, oldest first")
        history[str(hname)] = tuple(_absurd_number(c, f"{where}.history.{hname}[{i}]") for i, c in enumerate(closes))
    return AbsurdValues(quotes=quotes, account_values=account_values, positions=positions, executions=executions,
                        history=history)


def available_scenarios() -> list[str]:
    """Names of the scenarios shipped in dspops/simulator/scenarios/."""
    return sorted(p.stem for p in SCENARIO_DIR.glob("*.yaml"))


MAX_SCENARIO_BYTES = 5_000_000


def load_scenario(name_or_path: str | Path, overrides: dict[str, Any] | None = None) -> Scenario:
    """Load a shipped scenario by name (``calm_contango``) or any YAML (or JSON) file by path."""
    text = str(name_or_path)
    path = Path(text)
    if not (text.endswith((".yaml", ".yml", ".json")) or path.is_file()):
        path = SCENARIO_DIR / f"{text}.yaml"
        if not path.is_file():
            raise ScenarioError(
                f"no scenario named {text!r}; shipped scenarios: {', '.join(available_scenarios())} "
                "(or give the path of a YAML file)"
            )
    if not path.is_file():
        raise ScenarioError(f"scenario file {path} does not exist")
    size = path.stat().st_size
    if size > MAX_SCENARIO_BYTES:
        raise ScenarioError(f"scenario file {path} is {size:,} bytes; a scenario is at most {MAX_SCENARIO_BYTES:,}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ScenarioError(f"scenario file {path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except yaml.YAMLError as exc:
        raise ScenarioError(f"scenario file {path} is not valid YAML: {exc}") from None
    if isinstance(data, dict) and "name" not in data:
        data["name"] = path.stem
    sc = _parse(data, str(path))
    if overrides:
        sc = sc.with_overrides(overrides)
    return sc
