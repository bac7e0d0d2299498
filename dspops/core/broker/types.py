"""Plain data the rest of dspops sees from the broker.

`dspops.core.broker.gateway` is the only module that talks to ib_insync; it turns
what TWS sends into these frozen dataclasses. Nothing here imports ib_insync,
so domain code and services can build these values in tests without a broker.

Fail closed (DECISIONS.md section 1): a missing price is `None`, never NaN,
never -1 and never a default number. Neither is an absurd one (section 11): a
Quote price always fits the price column; the gateway drops anything outside
bounds.PLAUSIBLE before it builds one. A `Quote` carries its own verdict
(`valid`, `invalid_reason`), and `mid` / `width` are `None` unless the quote
is valid, so a caller cannot accidentally compute with a broken quote.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from dspops.core import bounds

__all__ = [
    "AccountValues",
    "BrokerPosition",
    "ContractSpec",
    "DailyClose",
    "Execution",
    "MARKET_DATA_SOURCES",
    "QualifiedContract",
    "Quote",
    "market_data_source",
]

# TWS market data types (reqMarketDataType / the marketDataType message).
MARKET_DATA_SOURCES = {1: "live", 2: "frozen", 3: "delayed", 4: "delayed-frozen"}


def market_data_source(market_data_type: int) -> str:
    """The `Quote.source` name of a TWS market data type (1 -> "live")."""
    try:
        return MARKET_DATA_SOURCES[market_data_type]
    except KeyError:
        raise ValueError(
            f"market data type must be 1, 2, 3 or 4, got {market_data_type!r}"
        ) from None


def _require_aware(value: datetime | None, name: str) -> None:
    if value is not None and (value.tzinfo is None or value.utcoffset() is None):
        raise ValueError(f"{name} must be a timezone-aware datetime (UTC), got {value!r}")


@dataclass(frozen=True)
class ContractSpec:
    """What to qualify at the broker.

    kind: "stock" (STK on SMART), "index" (IND, e.g. VIX/VVIX on CBOE) or
    "future" (FUT, e.g. VXM on CFE, which needs `contract_month` "YYYYMM"
    or `local_symbol` such as "VXMG6").
    """

    kind: str
    symbol: str
    exchange: str = ""
    currency: str = "USD"
    contract_month: str = ""
    local_symbol: str = ""
    trading_class: str = ""

    KINDS = ("stock", "index", "future")

    def __post_init__(self) -> None:
        if self.kind not in self.KINDS:
            raise ValueError(f"ContractSpec kind must be one of {self.KINDS}, got {self.kind!r}")
        if not self.symbol:
            raise ValueError("ContractSpec needs a symbol")
        if self.kind == "future":
            if not (self.contract_month or self.local_symbol):
                raise ValueError(
                    f"future {self.symbol}: give contract_month (YYYYMM) or local_symbol"
                )
            if self.contract_month and not (
                len(self.contract_month) == 6 and self.contract_month.isdigit()
            ):
                raise ValueError(
                    f"future {self.symbol}: contract_month must be YYYYMM, "
                    f"got {self.contract_month!r}"
                )

    @classmethod
    def stock(cls, symbol: str, exchange: str = "SMART", currency: str = "USD") -> ContractSpec:
        return cls("stock", symbol, exchange, currency)

    @classmethod
    def index(cls, symbol: str, exchange: str = "CBOE", currency: str = "USD") -> ContractSpec:
        return cls("index", symbol, exchange, currency)

    @classmethod
    def future(
        cls,
        symbol: str,
        contract_month: str = "",
        *,
        exchange: str = "CFE",
        currency: str = "USD",
        local_symbol: str = "",
        trading_class: str = "",
    ) -> ContractSpec:
        return cls("future", symbol, exchange, currency, contract_month, local_symbol, trading_class)

    @property
    def description(self) -> str:
        """A human name for messages, e.g. "future VXM 202612 on CFE"."""
        parts = [self.kind, self.symbol]
        if self.contract_month:
            parts.append(self.contract_month)
        if self.local_symbol:
            parts.append(f"({self.local_symbol})")
        if self.exchange:
            parts.append(f"on {self.exchange}")
        return " ".join(parts)


@dataclass(frozen=True)
class QualifiedContract:
    """A contract the broker confirmed, keyed by its `con_id`."""

    con_id: int
    symbol: str
    sec_type: str
    exchange: str
    currency: str
    local_symbol: str
    multiplier: Decimal
    last_trade_date: date | None = None
    min_tick: Decimal | None = None
    trading_class: str = ""
    primary_exchange: str = ""
    long_name: str = ""

    def __post_init__(self) -> None:
        if self.con_id <= 0:
            raise ValueError(f"QualifiedContract {self.local_symbol or self.symbol} needs a conId")


@dataclass(frozen=True)
class Quote:
    """One instrument's market, with its verdict.

    Prices are `None` when the broker sent nothing (NaN) or "no price" (-1).
    `valid` is False with a non-empty `invalid_reason` whenever the quote
    cannot be used: no data, an IB error, delayed or frozen data that was not
    allowed, a missing side, a crossed market, or a stale timestamp.
    `source` names the market data type ("live", "frozen", "delayed",
    "delayed-frozen"); `simulated` says whether it came from a SIM account.
    """

    con_id: int
    symbol: str
    local_symbol: str
    bid: Decimal | None
    ask: Decimal | None
    last: Decimal | None
    close: Decimal | None
    market_data_type: int
    as_of: datetime
    source: str
    simulated: bool
    valid: bool
    invalid_reason: str = ""
    bid_size: Decimal | None = None
    ask_size: Decimal | None = None
    sec_type: str = ""
    error_code: int | None = None

    def __post_init__(self) -> None:
        _require_aware(self.as_of, "Quote.as_of")
        if self.market_data_type not in MARKET_DATA_SOURCES:
            raise ValueError(f"market_data_type must be 1..4, got {self.market_data_type!r}")
        if self.valid and self.invalid_reason:
            raise ValueError("a valid Quote has no invalid_reason")
        if not self.valid and not self.invalid_reason:
            raise ValueError("an invalid Quote must say why (invalid_reason)")
        for name in ("bid", "ask", "last", "close", "bid_size", "ask_size"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, Decimal) or not value.is_finite()):
                raise ValueError(f"Quote.{name} must be a finite Decimal or None, got {value!r}")
            digits = bounds.QUANTITY_DIGITS if name.endswith("_size") else bounds.PRICE_DIGITS
            if value is not None:
                try:
                    bounds.fits_column(value, f"Quote.{name}", digits)
                except bounds.OutOfBounds as exc:
                    raise ValueError(f"{exc}: an absurd value is never a price") from None

    @property
    def two_sided(self) -> bool:
        return self.bid is not None and self.ask is not None

    @property
    def mid(self) -> Decimal | None:
        """(bid + ask) / 2, or None unless the quote is valid and has both sides."""
        if not (self.valid and self.two_sided):
            return None
        return (self.bid + self.ask) / 2  # type: ignore[operator]

    @property
    def width(self) -> Decimal | None:
        """ask - bid, or None unless the quote is valid and has both sides."""
        if not (self.valid and self.two_sided):
            return None
        return self.ask - self.bid  # type: ignore[operator]

    @property
    def price(self) -> Decimal | None:
        """The usable price: mid if two-sided, else last; None unless valid."""
        if not self.valid:
            return None
        return self.mid if self.two_sided else self.last

    def age_seconds(self, now: datetime) -> float:
        _require_aware(now, "now")
        return (now - self.as_of).total_seconds()


@dataclass(frozen=True)
class BrokerPosition:
    """One position as the broker reports it (avg_cost is TWS's: per unit x multiplier)."""

    account: str
    con_id: int
    symbol: str
    sec_type: str
    local_symbol: str
    quantity: Decimal
    avg_cost: Decimal
    multiplier: Decimal
    as_of: datetime
    source: str = "broker"
    simulated: bool = False
    exchange: str = ""
    currency: str = ""
    last_trade_date: str = ""

    def __post_init__(self) -> None:
        _require_aware(self.as_of, "BrokerPosition.as_of")


@dataclass(frozen=True)
class AccountValues:
    """Account figures; each is None when the broker did not send it, or sent an absurd value.

    `problems` says why each absurd figure was left out (e.g. "NetLiquidation 1e+30 is outside
    the plausible range ..."), so a caller can show it beside the missing figure.
    """

    account: str
    net_liquidation: Decimal | None
    excess_liquidity: Decimal | None
    maint_margin_req: Decimal | None
    available_funds: Decimal | None
    total_cash_value: Decimal | None
    currency: str
    as_of: datetime
    source: str = "broker"
    simulated: bool = False
    problems: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _require_aware(self.as_of, "AccountValues.as_of")
        for name in ("net_liquidation", "excess_liquidity", "maint_margin_req", "available_funds",
                     "total_cash_value"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, Decimal) or not value.is_finite()):
                raise ValueError(f"AccountValues.{name} must be a finite Decimal or None, got {value!r}")
            if value is not None:
                try:
                    bounds.fits_column(value, f"AccountValues.{name}", bounds.MONEY_DIGITS)
                except bounds.OutOfBounds as exc:
                    raise ValueError(f"{exc}: an absurd value is never an account figure") from None


@dataclass(frozen=True)
class Execution:
    """One fill, with its commission when the broker reported it (else None)."""

    exec_id: str
    con_id: int
    symbol: str
    sec_type: str
    local_symbol: str
    side: str
    quantity: Decimal
    price: Decimal
    executed_at: datetime
    order_ref: str
    account: str
    commission: Decimal | None
    commission_currency: str
    perm_id: int
    order_id: int
    source: str = "broker"
    simulated: bool = False
    exchange: str = ""
    multiplier: Decimal | None = None

    SIDES = ("BUY", "SELL")

    def __post_init__(self) -> None:
        _require_aware(self.executed_at, "Execution.executed_at")
        if self.side not in self.SIDES:
            raise ValueError(f"Execution side must be BUY or SELL, got {self.side!r}")


@dataclass(frozen=True)
class DailyClose:
    """One daily bar's close (TRADES, regular hours) as the broker reports it."""

    con_id: int
    local_symbol: str
    day: date
    close: Decimal
    source: str = "broker"
    simulated: bool = False

    def __post_init__(self) -> None:
        if not self.close.is_finite() or self.close <= 0:
            raise ValueError(f"DailyClose for {self.local_symbol} on {self.day} needs a positive close")
