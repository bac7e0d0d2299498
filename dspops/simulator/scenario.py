"""Scenario files for the TWS simulator: the Scenario, and loading and validating its file.

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

The parts live beside this module: what a scenario states (scenario_specs.py), the
checks each value passes (scenario_checks.py), the instruments it can name
(instruments.py) and the scenario resolved for one session (resolution.py). Their
public names stay importable from here.

No Django imports: the simulator runs in tests, in benchmarks and under the
tws_sim management command alike.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import yaml

from dspops.core import bounds, calendars

from .instruments import (
    BUILTIN_INDEXES,
    BUILTIN_STOCKS,
    RELATIVE_FUTURES,
    VXM_ROOT,
    SimContract,
    future_con_id,
    stable_con_id,
)
from .resolution import ResolvedScenario
from .scenario_checks import (
    check_keys,
    parse_time,
    price_kind,
    read_absurd_number,
    read_bounded,
    read_integer,
    read_names,
    read_number,
    read_quote_price,
)
from .scenario_specs import (
    ACCOUNT_TAGS,
    FILL_MODES,
    AbsurdValues,
    ExecutionSpec,
    Faults,
    FillPolicy,
    HistorySpec,
    PositionSpec,
    QuoteSpec,
    ScenarioError,
)

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
    # Importable from here as before the split (they live in instruments.py).
    "BUILTIN_INDEXES",
    "BUILTIN_STOCKS",
    "RELATIVE_FUTURES",
    "VXM_ROOT",
    "future_con_id",
    "stable_con_id",
]

SCENARIO_DIR = Path(__file__).resolve().parent / "scenarios"
UTC = timezone.utc


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


def _deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = _deep_merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base


def _parse(data: Any, origin: str) -> Scenario:
    top = check_keys(data, _TOP_KEYS, origin)
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
        return price_kind(str(contract), instruments_raw)

    values = {}
    for tag, v in (check_keys(top.get("account_values"), set(ACCOUNT_TAGS), f"{w}: account_values")).items():
        values[tag] = read_bounded(v, w, f"account_values.{tag}", "account_value", bounds.MONEY_DIGITS)

    positions = []
    raw_positions = top.get("positions") or []
    if not isinstance(raw_positions, list):
        raise ScenarioError(f"{w}: positions must be a list")
    for i, p in enumerate(raw_positions):
        p = check_keys(p, _POSITION_KEYS, f"{w}: positions[{i}]")
        if "contract" not in p or "quantity" not in p:
            raise ScenarioError(f"{w}: positions[{i}] needs contract and quantity")
        positions.append(
            PositionSpec(
                contract=str(p["contract"]),
                quantity=read_bounded(p["quantity"], w, f"positions[{i}].quantity", "quantity",  # type: ignore[arg-type]
                                  bounds.QUANTITY_DIGITS),
                # TWS's avg cost: price x multiplier, never negative.
                avg_cost=read_bounded(p.get("avg_cost", 0.0), w, f"positions[{i}].avg_cost",  # type: ignore[arg-type]
                                  "account_value", sign="not negative"),
            )
        )

    quotes = {}
    raw_quotes = top.get("quotes") or {}
    if not isinstance(raw_quotes, dict):
        raise ScenarioError(f"{w}: quotes must be a mapping of contract name to quote")
    for cname, q in raw_quotes.items():
        q = check_keys(q, _QUOTE_KEYS, f"{w}: quotes.{cname}")
        kwargs: dict[str, Any] = {}
        for k, v in q.items():
            where = f"quotes.{cname}.{k}"
            if k == "market_data_type":
                if v not in (1, 2, 3, 4) or isinstance(v, bool):
                    raise ScenarioError(f"{w}: quotes.{cname}.market_data_type must be 1-4, got {v!r}")
                kwargs[k] = v
            elif k in ("bid", "ask", "last", "close"):
                kwargs[k] = read_quote_price(v, w, where, kind_of(cname))
            elif k == "age_s":
                kwargs[k] = read_number(v, f"{w}: {where}", allow_none=True)
                if kwargs[k] is not None and not 0 <= kwargs[k] <= MAX_AGE_S:
                    raise ScenarioError(f"{w}: {where} must be from 0 to {MAX_AGE_S} seconds, got {v!r}")
            else:  # sizes
                kwargs[k] = read_bounded(v, w, where, "quantity", bounds.QUANTITY_DIGITS, sign="not negative", allow_none=True)
        quotes[str(cname)] = QuoteSpec(**kwargs)

    executions = []
    raw_execs = top.get("executions") or []
    if not isinstance(raw_execs, list):
        raise ScenarioError(f"{w}: executions must be a list")
    for i, e in enumerate(raw_execs):
        e = check_keys(e, _EXEC_KEYS, f"{w}: executions[{i}]")
        for k in ("contract", "side", "quantity", "price", "time"):
            if k not in e:
                raise ScenarioError(f"{w}: executions[{i}] needs {k}")
        side = str(e["side"]).upper()
        if side not in ("BUY", "SELL"):
            raise ScenarioError(f"{w}: executions[{i}].side must be BUY or SELL, got {e['side']!r}")
        parse_time(e["time"], datetime.now(UTC), f"{w}: executions[{i}].time")
        executions.append(
            ExecutionSpec(
                contract=str(e["contract"]),
                side=side,
                # The side gives the direction: a quantity is positive, and so is a price.
                quantity=read_bounded(e["quantity"], w, f"executions[{i}].quantity", "quantity",  # type: ignore[arg-type]
                                  bounds.QUANTITY_DIGITS, sign="positive"),
                price=read_bounded(e["price"], w, f"executions[{i}].price", kind_of(e["contract"]),  # type: ignore[arg-type]
                               sign="positive"),
                time=e["time"] if isinstance(e["time"], datetime) else str(e["time"]),
                exec_id=str(e.get("exec_id", "")),
                order_ref=str(e.get("order_ref", "")),
                commission=read_bounded(e.get("commission"), w, f"executions[{i}].commission", "commission",
                                    allow_none=True),
                commission_currency=str(e.get("commission_currency", "USD")),
                order_id=read_integer(e.get("order_id", 0), f"{w}: executions[{i}].order_id", 0, INT32_MAX),
                perm_id=read_integer(e.get("perm_id", 0), f"{w}: executions[{i}].perm_id", 0, INT32_MAX),
                exchange=str(e.get("exchange", "")),
            )
        )

    o = check_keys(top.get("orders"), _ORDER_KEYS, f"{w}: orders")
    fill = o.get("fill", "all")
    if fill not in FILL_MODES:
        raise ScenarioError(f"{w}: orders.fill must be one of {FILL_MODES}, got {fill!r}")
    fraction = read_number(o.get("partial_fraction", 0.5), f"{w}: orders.partial_fraction")
    if not 0 < fraction < 1:  # type: ignore[operator]
        raise ScenarioError(f"{w}: orders.partial_fraction must be between 0 and 1")
    orders = FillPolicy(
        fill=fill,
        partial_fraction=fraction,  # type: ignore[arg-type]
        unfilled_legs=read_names(o.get("unfilled_legs"), f"{w}: orders.unfilled_legs"),
        commission_per_contract=read_bounded(o.get("commission_per_contract", 1.07), w,  # type: ignore[arg-type]
                                         "orders.commission_per_contract", "commission", sign="not negative"),
        commission_per_share=read_bounded(o.get("commission_per_share", 0.005), w,  # type: ignore[arg-type]
                                      "orders.commission_per_share", "commission", sign="not negative"),
    )
    if fill == "legs" and not orders.unfilled_legs:
        raise ScenarioError(f"{w}: orders.fill 'legs' needs orders.unfilled_legs")

    f = check_keys(top.get("faults"), _FAULT_KEYS, f"{w}: faults")
    errors = f.get("market_data_errors") or {}
    if not isinstance(errors, dict) or not all(
        isinstance(v, int) and not isinstance(v, bool) and 0 < v <= MAX_ERROR_CODE for v in errors.values()
    ):
        raise ScenarioError(
            f"{w}: faults.market_data_errors maps a contract name to an IB error code (1 to {MAX_ERROR_CODE})")
    after = read_integer(f.get("disconnect_after_messages", 0) or 0, f"{w}: faults.disconnect_after_messages",
                     0, MAX_MESSAGES)
    reject = f.get("reject_client_ids") or []
    if not isinstance(reject, list):
        raise ScenarioError(f"{w}: faults.reject_client_ids must be a list of client ids")
    latency = read_number(f.get("latency_ms", 0), f"{w}: faults.latency_ms")
    if not 0 <= latency <= MAX_LATENCY_MS:  # type: ignore[operator]
        raise ScenarioError(f"{w}: faults.latency_ms must be from 0 to {MAX_LATENCY_MS}, got {latency:g}")
    faults = Faults(
        latency_ms=latency,  # type: ignore[arg-type]
        market_data_errors={str(k): v for k, v in errors.items()},
        no_snapshot_end=read_names(f.get("no_snapshot_end"), f"{w}: faults.no_snapshot_end"),
        disconnect_after_messages=after,
        disconnect_mid_snapshot=bool(f.get("disconnect_mid_snapshot", False)),
        reject_client_ids=tuple(read_integer(x, f"{w}: faults.reject_client_ids[{i}]", 0, INT32_MAX)
                                for i, x in enumerate(reject)),
        connectivity_lost=bool(f.get("connectivity_lost", False)),
        absurd=_parse_absurd(f.get("absurd"), f"{w}: faults.absurd", len(executions)),
    )

    instruments = {}
    for iname, spec in instruments_raw.items():
        where = f"{w}: instruments.{iname}"
        spec = check_keys(spec, _INSTRUMENT_KEYS, where)
        if spec.get("sec_type", "STK") not in ("STK", "IND"):
            raise ScenarioError(
                f"{w}: instruments.{iname}.sec_type must be STK or IND (VXM futures are built in)"
            )
        if spec.get("con_id") is not None:
            read_integer(spec["con_id"], f"{where}.con_id", 1, INT32_MAX)
        if spec.get("multiplier") not in (None, ""):
            multiplier = read_number(spec["multiplier"], f"{where}.multiplier")
            if not 0 < multiplier <= 1_000_000:  # type: ignore[operator]
                raise ScenarioError(f"{where}.multiplier must be above 0 and at most 1,000,000")
        if "min_tick" in spec:
            tick = read_number(spec["min_tick"], f"{where}.min_tick")
            if not 0 < tick <= 1000:  # type: ignore[operator]
                raise ScenarioError(f"{where}.min_tick must be above 0 and at most 1000")
        instruments[str(iname)] = dict(spec)

    history = {}
    for hname, spec in check_keys(top.get("history"), None, f"{w}: history").items():
        spec = check_keys(spec, {"closes", "annual_vol"}, f"{w}: history.{hname}")
        closes = spec.get("closes") or []
        if not isinstance(closes, list):
            raise ScenarioError(f"{w}: history.{hname}.closes must be a list of prices, oldest first")
        if len(closes) > MAX_HISTORY:
            raise ScenarioError(f"{w}: history.{hname}.closes has {len(closes)} prices; at most {MAX_HISTORY}")
        values_ = tuple(read_bounded(c, w, f"history.{hname}.closes[{i}]", kind_of(hname), sign="positive")
                        for i, c in enumerate(closes))
        vol = read_number(spec.get("annual_vol", 0.15), f"{w}: history.{hname}.annual_vol")
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


def _parse_absurd(data: Any, where: str, execution_count: int) -> AbsurdValues:
    """faults.absurd: shaped like the rest of the scenario, with every value left unbounded."""
    d = check_keys(data, _ABSURD_KEYS, where)
    quotes: dict[str, dict[str, float]] = {}
    for cname, q in check_keys(d.get("quotes"), None, f"{where}.quotes").items():
        q = check_keys(q, _QUOTE_KEYS - {"market_data_type"}, f"{where}.quotes.{cname}")
        quotes[str(cname)] = {k: read_absurd_number(v, f"{where}.quotes.{cname}.{k}") for k, v in q.items()}
    account_values = {
        tag: read_absurd_number(v, f"{where}.account_values.{tag}")
        for tag, v in check_keys(d.get("account_values"), set(ACCOUNT_TAGS), f"{where}.account_values").items()
    }
    positions: dict[str, dict[str, float]] = {}
    for cname, p in check_keys(d.get("positions"), None, f"{where}.positions").items():
        p = check_keys(p, {"quantity", "avg_cost"}, f"{where}.positions.{cname}")
        positions[str(cname)] = {k: read_absurd_number(v, f"{where}.positions.{cname}.{k}") for k, v in p.items()}
    executions: dict[int, dict[str, Any]] = {}
    for index, e in check_keys(d.get("executions"), None, f"{where}.executions").items():
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < execution_count:
            raise ScenarioError(f"{where}.executions: {index!r} is not the index of one of the "
                                f"{execution_count} execution(s) under `executions`")
        e = check_keys(e, {"quantity", "price", "commission", "time"}, f"{where}.executions.{index}")
        executions[index] = {k: (str(v) if k == "time" else read_absurd_number(v, f"{where}.executions.{index}.{k}"))
                             for k, v in e.items()}
        if "time" in e:
            parse_time(executions[index]["time"], datetime.now(UTC), f"{where}.executions.{index}.time",
                        checked=False)
    history: dict[str, tuple[float, ...]] = {}
    for hname, closes in check_keys(d.get("history"), None, f"{where}.history").items():
        if not isinstance(closes, list):
            raise ScenarioError(f"{where}.history.{hname} must be a list of closes, oldest first")
        history[str(hname)] = tuple(read_absurd_number(c, f"{where}.history.{hname}[{i}]") for i, c in enumerate(closes))
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
