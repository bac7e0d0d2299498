"""Scenario files for the TWS simulator: loading, validation, contract resolution.

A scenario is a YAML mapping (format in docs/simulator.md). Loading checks every
key and value and raises ScenarioError naming the file and the offending entry,
so a typo never silently turns into "no quote".

Contracts are named absolutely ("SPY", "VIX", "VVIX", "VXMG6") or relative to
the scenario's session ("front", "second", "third"), resolved with
rolls.vx.front_contracts(). The session is the scenario's `as_of` date if it has
one, else today's New York trading date.

No Django imports: the simulator runs in tests, in benchmarks and under the
tws_sim management command alike.
"""

from __future__ import annotations

import copy
import re
import zlib
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from dspops import calendars
from rolls import vx

__all__ = [
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
NEW_YORK = ZoneInfo("America/New_York")
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
class Faults:
    latency_ms: float = 0.0
    market_data_errors: dict[str, int] = field(default_factory=dict)
    no_snapshot_end: tuple[str, ...] = ()
    disconnect_after_messages: int = 0
    disconnect_mid_snapshot: bool = False
    reject_client_ids: tuple[int, ...] = ()
    connectivity_lost: bool = False


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
            executions.append(
                {
                    "con_id": c.con_id,
                    "side": e.side,
                    "quantity": e.quantity,
                    "price": e.price,
                    "time": _parse_time(e.time, reference, f"{sc.name}: executions[{i}].time"),
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
_EXEC_KEYS = {f for f in ExecutionSpec.__dataclass_fields__}
_POSITION_KEYS = {"contract", "quantity", "avg_cost"}
_ORDER_KEYS = {f for f in FillPolicy.__dataclass_fields__}
_FAULT_KEYS = {f for f in Faults.__dataclass_fields__}
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
_RELATIVE_TIME = re.compile(r"-\s*(\d+(?:\.\d+)?)\s*([smhd])")


def _deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = _deep_merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base


def _check_keys(d: Any, allowed: set[str], where: str) -> dict[str, Any]:
    if d is None:
        return {}
    if not isinstance(d, dict):
        raise ScenarioError(f"{where} must be a mapping, got {type(d).__name__}")
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
    return float(value)


def _parse_time(text: Any, reference: datetime, where: str) -> datetime:
    if isinstance(text, datetime):
        moment = text
    else:
        s = str(text).strip()
        m = _RELATIVE_TIME.fullmatch(s)
        if m:
            amount, unit = float(m.group(1)), m.group(2)
            seconds = amount * {"s": 1, "m": 60, "h": 3600, "d": 86400}[unit]
            return reference - timedelta(seconds=seconds)
        try:
            moment = datetime.fromisoformat(s.replace("Z", "+00:00"))
        except ValueError:
            raise ScenarioError(
                f"{where}: {text!r} is neither relative (-90s, -30m, -2h, -1d) nor "
                "ISO 8601 with a zone (2026-01-12T15:30:00-05:00)"
            ) from None
    if moment.tzinfo is None:
        raise ScenarioError(f"{where}: {text!r} has no time zone; add one (Z or -05:00)")
    return moment.astimezone(UTC)


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

    values = {}
    for tag, v in (_check_keys(top.get("account_values"), set(ACCOUNT_TAGS), f"{w}: account_values")).items():
        values[tag] = _number(v, f"{w}: account_values.{tag}")

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
                quantity=_number(p["quantity"], f"{w}: positions[{i}].quantity"),  # type: ignore[arg-type]
                avg_cost=_number(p.get("avg_cost", 0.0), f"{w}: positions[{i}].avg_cost"),  # type: ignore[arg-type]
            )
        )

    quotes = {}
    for cname, q in (top.get("quotes") or {}).items():
        q = _check_keys(q, _QUOTE_KEYS, f"{w}: quotes.{cname}")
        kwargs: dict[str, Any] = {}
        for k, v in q.items():
            if k == "market_data_type":
                if v not in (1, 2, 3, 4):
                    raise ScenarioError(f"{w}: quotes.{cname}.market_data_type must be 1-4, got {v!r}")
                kwargs[k] = v
            else:
                kwargs[k] = _number(v, f"{w}: quotes.{cname}.{k}", allow_none=True)
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
                quantity=_number(e["quantity"], f"{w}: executions[{i}].quantity"),  # type: ignore[arg-type]
                price=_number(e["price"], f"{w}: executions[{i}].price"),  # type: ignore[arg-type]
                time=e["time"] if isinstance(e["time"], datetime) else str(e["time"]),
                exec_id=str(e.get("exec_id", "")),
                order_ref=str(e.get("order_ref", "")),
                commission=_number(e.get("commission"), f"{w}: executions[{i}].commission", allow_none=True),
                commission_currency=str(e.get("commission_currency", "USD")),
                order_id=int(e.get("order_id", 0)),
                perm_id=int(e.get("perm_id", 0)),
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
        commission_per_contract=_number(o.get("commission_per_contract", 1.07), f"{w}: orders.commission_per_contract"),  # type: ignore[arg-type]
        commission_per_share=_number(o.get("commission_per_share", 0.005), f"{w}: orders.commission_per_share"),  # type: ignore[arg-type]
    )
    if fill == "legs" and not orders.unfilled_legs:
        raise ScenarioError(f"{w}: orders.fill 'legs' needs orders.unfilled_legs")

    f = _check_keys(top.get("faults"), _FAULT_KEYS, f"{w}: faults")
    errors = f.get("market_data_errors") or {}
    if not isinstance(errors, dict) or not all(
        isinstance(v, int) and not isinstance(v, bool) for v in errors.values()
    ):
        raise ScenarioError(f"{w}: faults.market_data_errors maps a contract name to an IB error code")
    after = f.get("disconnect_after_messages", 0) or 0
    if not isinstance(after, int) or after < 0:
        raise ScenarioError(f"{w}: faults.disconnect_after_messages must be an int >= 0")
    reject = f.get("reject_client_ids") or []
    faults = Faults(
        latency_ms=_number(f.get("latency_ms", 0), f"{w}: faults.latency_ms"),  # type: ignore[arg-type]
        market_data_errors={str(k): v for k, v in errors.items()},
        no_snapshot_end=_names(f.get("no_snapshot_end"), f"{w}: faults.no_snapshot_end"),
        disconnect_after_messages=after,
        disconnect_mid_snapshot=bool(f.get("disconnect_mid_snapshot", False)),
        reject_client_ids=tuple(int(x) for x in reject),
        connectivity_lost=bool(f.get("connectivity_lost", False)),
    )
    if faults.latency_ms < 0:
        raise ScenarioError(f"{w}: faults.latency_ms must be >= 0")

    instruments = {}
    for iname, spec in (top.get("instruments") or {}).items():
        spec = _check_keys(spec, _INSTRUMENT_KEYS, f"{w}: instruments.{iname}")
        if spec.get("sec_type", "STK") not in ("STK", "IND"):
            raise ScenarioError(
                f"{w}: instruments.{iname}.sec_type must be STK or IND (VXM futures are built in)"
            )
        instruments[str(iname)] = dict(spec)

    history = {}
    for hname, spec in (top.get("history") or {}).items():
        spec = _check_keys(spec, {"closes", "annual_vol"}, f"{w}: history.{hname}")
        closes = spec.get("closes") or []
        if not isinstance(closes, list):
            raise ScenarioError(f"{w}: history.{hname}.closes must be a list of prices, oldest first")
        values_ = tuple(_number(c, f"{w}: history.{hname}.closes[{i}]") for i, c in enumerate(closes))
        vol = _number(spec.get("annual_vol", 0.15), f"{w}: history.{hname}.annual_vol")
        if not 0 <= vol < 5:  # type: ignore[operator]
            raise ScenarioError(f"{w}: history.{hname}.annual_vol must be between 0 and 5")
        history[str(hname)] = HistorySpec(closes=values_, annual_vol=vol)  # type: ignore[arg-type]

    sc = Scenario(
        name=name,
        account=account,
        description=str(top.get("description", "")),
        currency=str(top.get("currency", "USD")),
        as_of=as_of,
        account_values=values,
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


def available_scenarios() -> list[str]:
    """Names of the scenarios shipped in dspops/broker/simulator/scenarios/."""
    return sorted(p.stem for p in SCENARIO_DIR.glob("*.yaml"))


def load_scenario(name_or_path: str | Path, overrides: dict[str, Any] | None = None) -> Scenario:
    """Load a shipped scenario by name (``calm_contango``) or any YAML file by path."""
    text = str(name_or_path)
    path = Path(text)
    if not (text.endswith((".yaml", ".yml")) or path.is_file()):
        path = SCENARIO_DIR / f"{text}.yaml"
        if not path.is_file():
            raise ScenarioError(
                f"no scenario named {text!r}; shipped scenarios: {', '.join(available_scenarios())} "
                "(or give the path of a YAML file)"
            )
    if not path.is_file():
        raise ScenarioError(f"scenario file {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ScenarioError(f"scenario file {path} is not valid YAML: {exc}") from None
    if isinstance(data, dict) and "name" not in data:
        data["name"] = path.stem
    sc = _parse(data, str(path))
    if overrides:
        sc = sc.with_overrides(overrides)
    return sc
