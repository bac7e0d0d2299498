"""The one module in dspops that talks to Interactive Brokers (through ib_insync).

Everything else sees the plain dataclasses of dspops.core.broker.types. Usage:

    with Gateway(GatewayConfig.from_settings("worker")) as gw:
        contracts = gw.qualify([ContractSpec.index("VIX"), ContractSpec.future("VXM", "202612")])
        quotes = gw.quotes(contracts)          # one snapshot, all instruments at once
        positions = gw.positions()

Rules (DECISIONS.md section 1, fail closed):
- Every failure (refused connection, handshake timeout, a lost connection, an IB
  error code, a request that is not answered in time) raises ONE GatewayError
  whose message says what to do. No method ever returns a default value.
- A quote that cannot be trusted is still returned, but as an invalid Quote with
  its reason; its prices are None where TWS sent NaN or -1.
- `simulated` is decided from the account ids alone (every id starts with "SIM").
- Every number and date is bounded here, where it enters dspops (DECISIONS.md section 11, with
  the limits of dspops.core.bounds). An absurd price (VIX 1e300, VXM 1e18: outside bounds.PLAUSIBLE
  for its kind, or too large for its column) is treated like NaN or -1: the price is None and
  the quote is invalid with a reason that names the value. An absurd account figure is None,
  with the reason in AccountValues.problems. A position, execution or daily bar with an absurd
  number or date cannot be read at all: GatewayError.

Threads: ib_insync's synchronous style needs an asyncio event loop in the calling
thread. A Gateway creates a fresh loop when it connects, sets it as the thread's
loop, runs every request on it and closes it when it disconnects (restoring
whatever loop the thread had before). A Gateway belongs to the thread that
opened it. It cannot be used from inside a running event loop.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any, Awaitable, Iterable, TypeVar

def _ensure_event_loop_for_import() -> None:
    """eventkit (under ib_insync) asks for the thread's event loop when it is imported. The first
    import may happen in a web or worker thread, which has none: give it one."""
    try:
        asyncio.get_event_loop_policy().get_event_loop()
    except RuntimeError:
        asyncio.set_event_loop(asyncio.new_event_loop())


_ensure_event_loop_for_import()

from ib_insync import IB, Contract, ExecutionFilter  # noqa: E402
from ib_insync.wrapper import RequestError  # noqa: E402

from dspops.core import bounds  # noqa: E402

from .errors import GatewayError  # noqa: F401 (defined there so catching it never imports ib_insync)
from .types import (
    AccountValues,
    BrokerPosition,
    ContractSpec,
    DailyClose,
    Execution,
    QualifiedContract,
    Quote,
    market_data_source,
)

__all__ = [
    "Gateway",
    "GatewayConfig",
    "GatewayError",
    "ROLES",
    "evaluate_quote",
    "is_simulated_account",
]

log = logging.getLogger("dspops.core.broker.gateway")

UTC = timezone.utc
ROLES = ("web", "worker", "shell", "test")
_T = TypeVar("_T")

# IB error codes that end a market data request, and how a Quote explains them.
MARKET_DATA_ERRORS = {
    354: "no market data subscription (error 354)",
    10089: "market data needs an additional API subscription (error 10089)",
    10090: "market data not subscribed (error 10090)",
    10167: "delayed data only (warning 10167)",
    10168: "delayed market data not enabled (error 10168)",
    10197: "no market data during competing live session (error 10197)",
    200: "no such contract at the broker (error 200)",
    300: "market data request rejected (error 300)",
    321: "market data request rejected (error 321)",
}
DELAYED_WARNING = 10167
TICK_LAST_TIMESTAMP = 45
UNSET_DOUBLE = 1.7976931348623157e308


@dataclass(frozen=True)
class GatewayConfig:
    host: str
    port: int
    client_id: int
    readonly: bool = True
    connect_timeout: float = 10.0
    request_timeout: float = 10.0

    def __post_init__(self) -> None:
        if self.connect_timeout <= 0 or self.request_timeout <= 0:
            raise ValueError("GatewayConfig timeouts must be positive seconds")

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @classmethod
    def from_settings(cls, role: str) -> GatewayConfig:
        """Build from django.conf.settings (IB_HOST, IB_PORT, IB_CLIENT_ID + offset for `role`)."""
        from django.conf import settings  # lazy: the gateway itself does not need Django

        offsets = settings.IB_CLIENT_ID_OFFSETS
        if role not in offsets:
            raise ValueError(
                f"unknown gateway role {role!r}; IB_CLIENT_ID_OFFSETS defines {sorted(offsets)}"
            )
        return cls(
            host=settings.IB_HOST,
            port=int(settings.IB_PORT),
            client_id=int(settings.IB_CLIENT_ID) + int(offsets[role]),
            readonly=bool(settings.IB_READONLY),
            connect_timeout=float(settings.IB_CONNECT_TIMEOUT),
            request_timeout=float(settings.IB_REQUEST_TIMEOUT),
        )


def is_simulated_account(accounts: Iterable[str]) -> bool:
    """True iff there is at least one account and every id starts with "SIM"."""
    accounts = list(accounts)
    return bool(accounts) and all(a.startswith("SIM") for a in accounts)


# --- pure conversions ---------------------------------------------------------------------------


def _number(x: Any) -> float | None:
    """A finite float, or None for NaN / inf / unset / missing."""
    if x is None:
        return None
    try:
        f = float(x)
    except (TypeError, ValueError):
        return None
    if math.isnan(f) or math.isinf(f) or f >= UNSET_DOUBLE:
        return None
    return f


def _decimal(x: Any) -> Decimal | None:
    f = _number(x)
    return None if f is None else Decimal(repr(f))


def plausible_kind(sec_type: str) -> str:
    """The bounds.PLAUSIBLE range a price of this security type must lie in (an index like VIX)."""
    return bounds.price_kind(sec_type)


def _bounded(value: Any, what: str, kind: str, digits: tuple[int, int]) -> Decimal:
    """A number from TWS within its plausible range and column; OutOfBounds otherwise."""
    f = _number(value)
    if f is None:
        raise bounds.OutOfBounds(f"{what} {value!r} is not a number TWS sends for a real value")
    return bounds.check_plausible(f, what, kind, digits=digits)


def _absurd(values: dict[str, float | None], kind: str, digits: tuple[int, int]) -> list[str]:
    """Set every absurd value in `values` to None; return why each was dropped.

    A negative value that fits the column is left alone: -1 is TWS's "no price", and any other
    negative price is already "no price" (never stored as a price).
    """
    problems = []
    for name, value in values.items():
        if value is None:
            continue
        try:
            if value < 0:
                bounds.fits_column(bounds.to_decimal(value, name), name, digits)
            else:
                bounds.check_plausible(value, name, kind, digits=digits)
        except bounds.OutOfBounds as exc:
            values[name] = None
            problems.append(str(exc))
    return problems


def _absurd_reason(problems: list[str]) -> str:
    """One reason for every absurd value of a quote, e.g. "absurd value from the broker, not used: last
    1e+300 is outside the plausible range 0 to 1000" (it must fit the stored reason, 200 characters)."""
    if not problems:
        return ""
    return f"absurd value{'s' if len(problems) > 1 else ''} from the broker, not used: " + "; ".join(problems)


def _price_problem(x: float | None) -> str:
    """'' for a usable price, else why not."""
    if x is None:
        return "no quote (NaN)"
    if x == -1:
        return "no price (-1)"
    if x <= 0:
        return f"no price ({x:g})"
    return ""


def evaluate_quote(
    contract: QualifiedContract,
    *,
    bid: float | None,
    ask: float | None,
    last: float | None,
    close: float | None,
    bid_size: float | None = None,
    ask_size: float | None = None,
    market_data_type: int = 1,
    received_at: datetime | None,
    now: datetime,
    last_timestamp: datetime | None = None,
    error_code: int | None = None,
    warning_codes: Iterable[int] = (),
    completed: bool = True,
    timeout: float | None = None,
    max_age_s: float = 60.0,
    allow_delayed: bool = False,
    simulated: bool = False,
    problems: Iterable[str] = (),
) -> Quote:
    """Turn raw snapshot values (NaN allowed) into a Quote with its verdict.

    Two-sided instruments (stocks, futures) need a bid and an ask: both present,
    not -1, positive and not crossed. Indexes (VIX, VVIX) are priced by `last`.
    The quote is dated by its arrival; a last-priced quote is dated by the
    feed's last timestamp (TWS tick 45) when one is sent, so a stalled index
    shows as stale. The first failing rule gives the reason.

    A price outside its plausible range (bounds.PLAUSIBLE for the contract's kind) or too large
    for the price column, and a size outside the plausible quantity, is dropped (None) like NaN,
    and the quote is invalid with a reason naming the value. `problems` are other reasons the
    gateway found (an unreadable timestamp); any of them makes the quote invalid.
    """
    values = {k: _number(v) for k, v in (("bid", bid), ("ask", ask), ("last", last), ("close", close))}
    sizes = {k: _number(v) for k, v in (("bid_size", bid_size), ("ask_size", ask_size))}
    absurd = [_absurd_reason(_absurd(values, plausible_kind(contract.sec_type), bounds.PRICE_DIGITS)
                             + _absurd(sizes, "quantity", bounds.QUANTITY_DIGITS))]
    absurd = [p for p in (*problems, *absurd) if p]
    two_sided = contract.sec_type not in ("IND",)
    if market_data_type not in (1, 2, 3, 4):
        market_data_type = 1
    as_of = received_at or now
    if not two_sided and last_timestamp is not None and values["last"] is not None:
        as_of = min(as_of, last_timestamp)
    warnings = set(warning_codes)
    received_anything = any(v is not None for v in values.values())

    reason = ""
    if error_code is not None:
        reason = MARKET_DATA_ERRORS.get(error_code, f"market data error {error_code}")
    elif not completed:
        if received_anything:
            reason = f"snapshot not complete within {timeout:g}s"
        else:
            reason = f"no data within {timeout:g}s"
    elif market_data_type in (3, 4) and not allow_delayed:
        reason = f"delayed data (type {market_data_type})"
    elif market_data_type in (2, 4):
        reason = f"frozen data (type {market_data_type})"
    elif DELAYED_WARNING in warnings and not allow_delayed:
        reason = f"delayed data (warning {DELAYED_WARNING})"
    elif absurd:
        reason = "; ".join(absurd)
    elif two_sided:
        reason = _price_problem(values["bid"]) or _price_problem(values["ask"])
        if not reason and values["bid"] > values["ask"]:  # type: ignore[operator]
            reason = "crossed market (bid > ask)"
    else:
        reason = _price_problem(values["last"])
    if not reason:
        age = (now - as_of).total_seconds()
        if age > max_age_s:
            reason = f"stale (age {age:.0f}s > limit {max_age_s:g}s)"

    def clean(name: str) -> Decimal | None:
        v = values[name]
        return None if v is None or v == -1 else Decimal(repr(v))

    return Quote(
        con_id=contract.con_id,
        symbol=contract.symbol,
        local_symbol=contract.local_symbol,
        sec_type=contract.sec_type,
        bid=clean("bid"),
        ask=clean("ask"),
        last=clean("last"),
        close=clean("close"),
        bid_size=_decimal(sizes["bid_size"]) if clean("bid") is not None else None,
        ask_size=_decimal(sizes["ask_size"]) if clean("ask") is not None else None,
        market_data_type=market_data_type,
        as_of=as_of.astimezone(UTC),
        source=market_data_source(market_data_type),
        simulated=simulated,
        valid=not reason,
        invalid_reason=reason,
        error_code=error_code,
    )


def _parse_ib_date(text: str) -> date | None:
    """A YYYYMMDD date within the bounds, else None (not a date, or not one dspops accepts)."""
    text = (text or "").split(" ")[0].split("-")[0]
    if len(text) == 8 and text.isdigit():
        try:
            return bounds.check_date(date(int(text[:4]), int(text[4:6]), int(text[6:])), "date")
        except ValueError:  # OutOfBounds, or no such day (20261399)
            return None
    return None


def _multiplier(text: str, what: str) -> Decimal:
    """A contract multiplier (1 when TWS sends none); GatewayError when it is not a plausible one."""
    if not text:
        return Decimal(1)
    try:
        value = bounds.check_plausible(text, f"{what} multiplier", "multiplier")
        if value <= 0:
            raise bounds.OutOfBounds(f"{what} multiplier {value} is not a positive multiplier")
    except bounds.OutOfBounds as exc:
        raise GatewayError(f"TWS sent an unusable contract: {exc}") from None
    return value


def _timestamp(value: str) -> datetime | None:
    """TWS's LAST_TIMESTAMP tick (epoch seconds) as an aware UTC time within the date bounds, else None."""
    try:
        stamp = datetime.fromtimestamp(int(value), UTC)
        bounds.check_date(stamp, "last timestamp")
    except (ValueError, OverflowError, OSError):  # OutOfBounds is a ValueError
        return None
    return stamp


# --- the gateway -------------------------------------------------------------------------------


class Gateway:
    """A connection to TWS / IB Gateway (or the simulator). Use as a context manager."""

    def __init__(self, config: GatewayConfig):
        self.config = config
        self._ib: IB | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._previous_loop: asyncio.AbstractEventLoop | None = None
        self._thread: int | None = None
        self._accounts: list[str] = []
        self._link_lost = False  # TWS reported error 1100 (its own link to IB is down)

    # --- lifecycle ---------------------------------------------------------------------------

    def __enter__(self) -> Gateway:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def connected(self) -> bool:
        return self._ib is not None and self._ib.isConnected()

    def connect(self) -> None:
        """Connect (bounded by config.connect_timeout); raise GatewayError on any failure."""
        if self._ib is not None:
            raise GatewayError("this Gateway is already connected; use one Gateway per `with` block")
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            raise GatewayError(
                "Gateway is synchronous and cannot run inside a running asyncio event loop; "
                "call it from a plain thread (e.g. asyncio.to_thread)."
            )
        self._thread = threading.get_ident()
        policy = asyncio.get_event_loop_policy()
        local = getattr(policy, "_local", None)
        self._previous_loop = getattr(local, "_loop", None)
        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        self._ib = IB()
        self._ib.RaiseRequestErrors = True
        self._link_lost = False
        self._ib.errorEvent += self._on_session_error
        try:
            self._loop.run_until_complete(self._connect())
        except BaseException:
            self.close()
            raise
        self._accounts = list(self._ib.managedAccounts())
        log.info(
            "connected to TWS at %s as client %d; accounts %s%s",
            self.config.address, self.config.client_id, ",".join(self._accounts),
            " (simulated)" if self.simulated else "",
        )

    async def _connect(self) -> None:
        ib = self._ib
        assert ib is not None
        cfg = self.config
        errors: list[tuple[int, str]] = []
        api_failed = asyncio.Event()

        def on_error(req_id: int, code: int, message: str, _contract: Any = None) -> None:
            if req_id == -1 and not 2100 <= code < 2200:
                errors.append((code, message))
                if code == 326:
                    api_failed.set()

        def on_api_error(_msg: str) -> None:
            api_failed.set()

        ib.errorEvent += on_error
        ib.client.apiError += on_api_error
        connect = asyncio.ensure_future(
            ib.connectAsync(cfg.host, cfg.port, cfg.client_id, timeout=cfg.connect_timeout, readonly=cfg.readonly)
        )
        failed = asyncio.ensure_future(api_failed.wait())
        try:
            done, _ = await asyncio.wait(
                {connect, failed}, timeout=cfg.connect_timeout, return_when=asyncio.FIRST_COMPLETED
            )
            if connect in done:
                exc = connect.exception()
                if exc is None:
                    if not ib.isConnected():
                        raise GatewayError(self._closed_message("connecting"))
                    return
                raise self._connect_error(exc, errors) from exc
            connect.cancel()
            await asyncio.gather(connect, return_exceptions=True)
            if failed in done:
                raise self._connect_error(ConnectionError("closed during the handshake"), errors)
            raise self._connect_error(asyncio.TimeoutError(), errors)
        finally:
            failed.cancel()
            ib.errorEvent -= on_error
            ib.client.apiError -= on_api_error

    def _on_session_error(self, req_id: int, code: int, message: str, _contract: Any = None) -> None:
        if code == 1100:
            log.warning("TWS reports its connection to IB is lost (1100): %s", message)
            self._link_lost = True
        elif code in (1101, 1102):
            log.info("TWS reports its connection to IB is restored (%d)", code)
            self._link_lost = False

    def _link_lost_error(self) -> GatewayError:
        return GatewayError(
            f"TWS at {self.config.address} reports that its own connection to Interactive "
            "Brokers is lost (error 1100): its data would be stale. Wait until TWS shows it "
            "is reconnected (error 1102), then retry.",
            code=1100,
        )

    def _closed_message(self, doing: str) -> str:
        return (
            f"Lost the connection to TWS at {self.config.address} while {doing}. "
            "Check that TWS/IB Gateway is still running and logged in, then retry; "
            "nothing from the interrupted request was used."
        )

    def _connect_error(self, exc: BaseException, errors: list[tuple[int, str]]) -> GatewayError:
        cfg = self.config
        codes = [code for code, _ in errors]
        if 326 in codes:
            return GatewayError(
                f"TWS at {cfg.address} refused client id {cfg.client_id}: it is already in use "
                "(error 326). Another dspops process or API client is connected with that id; "
                "stop it, or give each role its own IB_CLIENT_ID offset.",
                code=326,
            )
        if isinstance(exc, ConnectionRefusedError):
            return GatewayError(
                f"Cannot reach TWS at {cfg.address} (connection refused). Is TWS/IB Gateway "
                "running with the API enabled on that port (Configure > API > Settings)?"
            )
        if isinstance(exc, asyncio.TimeoutError):
            return GatewayError(
                f"TWS at {cfg.address} did not complete the API handshake within "
                f"{cfg.connect_timeout:g}s. Check that the API is enabled, that this host is a "
                "trusted IP, and that no TWS dialog is waiting for an answer."
            )
        if isinstance(exc, ConnectionError) or (isinstance(exc, OSError) and exc.errno is None):
            detail = f" ({errors[-1][0]}: {errors[-1][1]})" if errors else ""
            return GatewayError(
                f"TWS at {cfg.address} closed the connection while dspops was connecting{detail}. "
                f"Check that client id {cfg.client_id} is not already in use and that TWS accepts "
                "API connections, then retry.",
                code=errors[-1][0] if errors else None,
            )
        if isinstance(exc, OSError):
            return GatewayError(
                f"Cannot reach TWS at {cfg.address} ({exc.strerror or exc}). Check IB_HOST and "
                "IB_PORT, and that TWS/IB Gateway is running."
            )
        if isinstance(exc, RequestError):
            return GatewayError(
                f"TWS at {cfg.address} rejected a request while connecting: {exc}", code=exc.code
            )
        if isinstance(exc, GatewayError):
            return exc
        return GatewayError(f"Connecting to TWS at {cfg.address} failed: {exc!r}")

    def close(self) -> None:
        """Disconnect and close this thread's loop. Safe to call twice."""
        ib, loop = self._ib, self._loop
        self._ib = None
        self._loop = None
        if ib is not None:
            try:
                ib.disconnect()
            except Exception:  # noqa: BLE001 - closing must not mask the original error
                log.debug("error while disconnecting", exc_info=True)
        if loop is not None and not loop.is_closed():
            try:
                pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
                for task in pending:
                    task.cancel()
                if pending:
                    loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
                loop.run_until_complete(asyncio.sleep(0))
            finally:
                loop.close()
                if self._thread == threading.get_ident():
                    prev = self._previous_loop
                    asyncio.set_event_loop(prev if prev is not None and not prev.is_closed() else None)
        self._previous_loop = None

    # --- helpers -----------------------------------------------------------------------------

    def _check(self) -> IB:
        if self._ib is None or self._loop is None:
            raise GatewayError("Gateway is not connected; use it as `with Gateway(config) as gw:`")
        if threading.get_ident() != self._thread:
            raise GatewayError(
                "a Gateway can only be used from the thread that opened it; open one per thread"
            )
        if not self._ib.isConnected():
            raise GatewayError(self._closed_message("idle (before this request)"))
        if self._link_lost:
            raise self._link_lost_error()
        return self._ib

    def _run(self, awaitable: Awaitable[_T], doing: str, timeout: float | None = None) -> _T:
        self._check()
        assert self._loop is not None
        limit = self.config.request_timeout if timeout is None else timeout
        try:
            result = self._loop.run_until_complete(asyncio.wait_for(awaitable, limit))
        except asyncio.TimeoutError:
            if not self.connected:
                raise GatewayError(self._closed_message(doing)) from None
            raise GatewayError(
                f"TWS at {self.config.address} did not answer within {limit:g}s while {doing}. "
                "TWS may be busy or stuck on a dialog; retry, and check TWS if it persists."
            ) from None
        except ConnectionError as exc:
            raise GatewayError(self._closed_message(doing)) from exc
        except RequestError as exc:
            raise GatewayError(
                f"TWS rejected the request while {doing}: error {exc.code}: {exc.message}",
                code=exc.code,
            ) from exc
        if self._link_lost:
            raise self._link_lost_error()
        return result

    # --- accounts ----------------------------------------------------------------------------

    @property
    def accounts(self) -> list[str]:
        self._check()
        return list(self._accounts)

    @property
    def simulated(self) -> bool:
        """True iff every managed account id starts with "SIM" (never from a setting)."""
        return is_simulated_account(self._accounts)

    def _account(self, account: str | None) -> str:
        accounts = self.accounts
        if account:
            if account not in accounts:
                raise GatewayError(
                    f"account {account} is not managed by this TWS login (accounts: {', '.join(accounts)})"
                )
            return account
        if len(accounts) != 1:
            raise GatewayError(
                f"TWS manages {len(accounts)} accounts ({', '.join(accounts)}); say which one to use"
            )
        return accounts[0]

    # --- contracts ---------------------------------------------------------------------------

    @staticmethod
    def _spec_contract(spec: ContractSpec) -> Contract:
        if spec.kind == "stock":
            return Contract(secType="STK", symbol=spec.symbol, exchange=spec.exchange or "SMART",
                            currency=spec.currency)
        if spec.kind == "index":
            return Contract(secType="IND", symbol=spec.symbol, exchange=spec.exchange or "CBOE",
                            currency=spec.currency)
        return Contract(
            secType="FUT", symbol=spec.symbol, exchange=spec.exchange or "CFE", currency=spec.currency,
            lastTradeDateOrContractMonth=spec.contract_month, localSymbol=spec.local_symbol,
            tradingClass=spec.trading_class,
        )

    def qualify(self, specs: list[ContractSpec]) -> list[QualifiedContract]:
        """Resolve each spec to exactly one broker contract, in order; else one GatewayError."""
        ib = self._check()
        specs = list(specs)
        if not specs:
            return []
        contracts = [self._spec_contract(s) for s in specs]

        async def details() -> list[Any]:
            return await asyncio.gather(
                *(ib.reqContractDetailsAsync(c) for c in contracts), return_exceptions=True
            )

        results = self._run(details(), f"qualifying {len(specs)} contract(s)")
        qualified: list[QualifiedContract] = []
        problems: list[str] = []
        code: int | None = None
        for spec, result in zip(specs, results):
            if isinstance(result, ConnectionError):
                raise GatewayError(self._closed_message("qualifying contracts")) from result
            if isinstance(result, RequestError):
                code = code or result.code
                if result.code == 200:
                    problems.append(f"{spec.description}: TWS has no such contract (error 200)")
                else:
                    problems.append(f"{spec.description}: error {result.code}: {result.message}")
                continue
            if isinstance(result, BaseException):
                raise result
            if not result:
                problems.append(f"{spec.description}: TWS has no such contract")
                continue
            if len(result) > 1:
                names = ", ".join(
                    f"{d.contract.localSymbol or d.contract.symbol} (conId {d.contract.conId})"
                    for d in result[:6]
                )
                problems.append(
                    f"{spec.description} is ambiguous: {len(result)} contracts match ({names}); "
                    "give the contract month or local symbol"
                )
                continue
            cd = result[0]
            c = cd.contract
            if not c.conId:
                problems.append(f"{spec.description}: TWS returned a contract without a conId")
                continue
            qualified.append(
                QualifiedContract(
                    con_id=int(c.conId),
                    symbol=c.symbol,
                    sec_type=c.secType,
                    exchange=spec.exchange or c.exchange,
                    currency=c.currency,
                    local_symbol=c.localSymbol,
                    multiplier=_multiplier(c.multiplier, c.localSymbol or c.symbol),
                    last_trade_date=_parse_ib_date(c.lastTradeDateOrContractMonth),
                    min_tick=_decimal(cd.minTick) if (_number(cd.minTick) or 0) > 0 else None,
                    trading_class=c.tradingClass,
                    primary_exchange=c.primaryExchange,
                    long_name=cd.longName,
                )
            )
        if problems:
            raise GatewayError("Cannot qualify contract(s): " + "; ".join(problems) + ".", code=code)
        return qualified

    @staticmethod
    def _ib_contract(qc: QualifiedContract) -> Contract:
        return Contract(
            conId=qc.con_id, symbol=qc.symbol, secType=qc.sec_type, exchange=qc.exchange,
            currency=qc.currency, localSymbol=qc.local_symbol, tradingClass=qc.trading_class,
            primaryExchange=qc.primary_exchange,
        )

    # --- quotes ------------------------------------------------------------------------------

    def quotes(
        self,
        contracts: list[QualifiedContract],
        *,
        timeout: float | None = None,
        max_age_s: float = 60,
        allow_delayed: bool = False,
    ) -> list[Quote]:
        """One snapshot of every contract, requested all at once; one Quote per input, in order.

        Instruments that fail individually (IB error, no data within `timeout`)
        come back as invalid Quotes with the reason. A lost connection raises
        GatewayError: no quote of an interrupted snapshot is returned.
        """
        ib = self._check()
        contracts = list(contracts)
        if not contracts:
            return []
        limit = self.config.request_timeout if timeout is None else float(timeout)
        if limit <= 0:
            raise ValueError("quotes timeout must be positive seconds")
        ib_contracts = [self._ib_contract(qc) for qc in contracts]
        by_contract = {id(c): i for i, c in enumerate(ib_contracts)}
        warnings: dict[int, set[int]] = defaultdict(set)
        stamps: dict[int, datetime] = {}
        bad_stamps: dict[int, str] = {}
        wrapper = ib.wrapper
        original_tick_string = wrapper.tickString

        def on_error(req_id: int, code: int, _msg: str, contract: Any = None) -> None:
            if contract is not None and id(contract) in by_contract:
                warnings[by_contract[id(contract)]].add(code)

        def tick_string(req_id: int, tick_type: int, value: str) -> None:
            # ib_insync ignores TWS's LAST_TIMESTAMP tick; keep it to date last-priced quotes.
            if tick_type == TICK_LAST_TIMESTAMP:
                ticker = wrapper.reqId2Ticker.get(req_id)
                if ticker is not None and id(ticker.contract) in by_contract:
                    index = by_contract[id(ticker.contract)]
                    stamp = _timestamp(value) if value.isdigit() else None
                    if stamp is None:
                        bad_stamps[index] = value[:40]
                    else:
                        stamps[index] = stamp
            original_tick_string(req_id, tick_type, value)

        async def snapshot() -> list[Any]:
            ib.reqMarketDataType(3 if allow_delayed else 1)
            tasks = [asyncio.ensure_future(ib.reqTickersAsync(c)) for c in ib_contracts]
            done, pending = await asyncio.wait(tasks, timeout=limit)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            return [
                task.exception() if task in done and task.exception() else (task in done)
                for task in tasks
            ]

        ib.errorEvent += on_error
        wrapper.tickString = tick_string  # type: ignore[method-assign]
        try:
            outcomes = self._run(snapshot(), f"requesting quotes for {len(contracts)} instrument(s)",
                                 timeout=limit + 5)
        finally:
            wrapper.tickString = original_tick_string  # type: ignore[method-assign]
            ib.errorEvent -= on_error
        doing = f"requesting quotes for {len(contracts)} instrument(s)"
        if any(isinstance(o, ConnectionError) for o in outcomes) or not ib.isConnected():
            raise GatewayError(self._closed_message(doing))
        now = datetime.now(UTC)
        simulated = self.simulated
        result = []
        for i, (qc, c, outcome) in enumerate(zip(contracts, ib_contracts, outcomes)):
            if isinstance(outcome, BaseException) and not isinstance(outcome, RequestError):
                raise GatewayError(f"Quote request for {qc.local_symbol} failed: {outcome!r}") from outcome
            ticker = ib.ticker(c)
            error_code = outcome.code if isinstance(outcome, RequestError) else None
            received = ticker.time if ticker is not None and ticker.time else None
            result.append(
                evaluate_quote(
                    qc,
                    bid=ticker.bid if ticker else None,
                    ask=ticker.ask if ticker else None,
                    last=ticker.last if ticker else None,
                    close=ticker.close if ticker else None,
                    bid_size=ticker.bidSize if ticker else None,
                    ask_size=ticker.askSize if ticker else None,
                    market_data_type=ticker.marketDataType if ticker else (3 if allow_delayed else 1),
                    received_at=received,
                    now=now,
                    last_timestamp=stamps.get(i),
                    error_code=error_code,
                    warning_codes=warnings.get(i, ()),
                    completed=outcome is True or error_code is not None,
                    timeout=limit,
                    max_age_s=max_age_s,
                    allow_delayed=allow_delayed,
                    simulated=simulated,
                    problems=[f"unreadable last timestamp {bad_stamps[i]!r} from the broker"]
                    if i in bad_stamps else (),
                )
            )
        return result

    # --- positions, account, executions --------------------------------------------------------

    def positions(self) -> list[BrokerPosition]:
        """Every position of every managed account, sorted by (account, conId)."""
        ib = self._check()
        raw = self._run(ib.reqPositionsAsync(), "reading positions")
        now = datetime.now(UTC)
        simulated = self.simulated
        out = []
        for p in raw:
            c = p.contract
            try:
                quantity = _bounded(p.position, "position", "quantity", bounds.QUANTITY_DIGITS)
                # TWS's avg cost is per unit x multiplier: bounded like an account figure, in the price column.
                avg_cost = _bounded(p.avgCost, "avg cost", "account_value", bounds.PRICE_DIGITS)
            except bounds.OutOfBounds as exc:
                raise GatewayError(
                    f"TWS sent an unreadable position for {c.localSymbol or c.symbol} "
                    f"(position {p.position!r}, avg cost {p.avgCost!r}: {exc}); positions cannot be read"
                ) from None
            if quantity == 0:
                continue
            out.append(
                BrokerPosition(
                    account=p.account,
                    con_id=int(c.conId),
                    symbol=c.symbol,
                    sec_type=c.secType,
                    local_symbol=c.localSymbol,
                    quantity=quantity,
                    avg_cost=avg_cost,
                    multiplier=_multiplier(c.multiplier, c.localSymbol or c.symbol),
                    as_of=now,
                    source="broker",
                    simulated=simulated,
                    exchange=c.exchange,
                    currency=c.currency,
                    last_trade_date=c.lastTradeDateOrContractMonth,
                )
            )
        return sorted(out, key=lambda p: (p.account, p.con_id))

    ACCOUNT_TAGS = {
        "NetLiquidation": "net_liquidation",
        "ExcessLiquidity": "excess_liquidity",
        "MaintMarginReq": "maint_margin_req",
        "AvailableFunds": "available_funds",
        "TotalCashValue": "total_cash_value",
    }

    def account_values(self, account: str | None = None) -> AccountValues:
        """A fresh account summary. A figure TWS does not send is None, never 0.

        A figure that is not a number, lies outside bounds.PLAUSIBLE["account_value"] or does not
        fit the money column is None too, and `problems` says which and why.
        """
        ib = self._check()
        acct = self._account(account)

        async def summary() -> list[Any]:
            # As ib.reqAccountSummaryAsync does, but with our tags and a cancel afterwards:
            # TWS allows only two open account summary subscriptions.
            req_id = ib.client.getReqId()
            future = ib.wrapper.startReq(req_id)
            ib.client.reqAccountSummary(req_id, "All", ",".join(self.ACCOUNT_TAGS))
            try:
                await future
            finally:
                if ib.isConnected():
                    ib.client.cancelAccountSummary(req_id)
            return await ib.accountSummaryAsync(acct)

        rows = self._run(summary(), f"reading the account summary of {acct}")
        values: dict[str, Decimal | None] = {}
        currencies: dict[str, str] = {}
        problems: dict[str, str] = {}
        for row in rows:
            if row.tag in self.ACCOUNT_TAGS and row.currency != "BASE":
                try:
                    value = bounds.check_plausible(row.value, row.tag, "account_value", digits=bounds.MONEY_DIGITS)
                except bounds.OutOfBounds as exc:
                    value = None
                    problems[row.tag] = f"absurd value from the broker, not used: {exc}"[:300]
                else:
                    problems.pop(row.tag, None)
                values[self.ACCOUNT_TAGS[row.tag]] = value
                currencies[row.tag] = row.currency
        for tag, problem in problems.items():
            log.warning("account %s: %s", acct, problem)
        return AccountValues(
            account=acct,
            net_liquidation=values.get("net_liquidation"),
            excess_liquidity=values.get("excess_liquidity"),
            maint_margin_req=values.get("maint_margin_req"),
            available_funds=values.get("available_funds"),
            total_cash_value=values.get("total_cash_value"),
            currency=currencies.get("NetLiquidation") or next(iter(currencies.values()), ""),
            as_of=datetime.now(UTC),
            source="broker",
            simulated=self.simulated,
            problems=tuple(problems.values()),
        )

    def executions(self, since: datetime) -> list[Execution]:
        """Fills at or after `since` (aware), with their commission (None if not reported).

        Combo-level reports (secType BAG) are left out; their legs are reported.
        """
        ib = self._check()
        if since.tzinfo is None or since.utcoffset() is None:
            raise ValueError("executions(since=...) needs a timezone-aware datetime")
        since_utc = since.astimezone(UTC)
        flt = ExecutionFilter(time=since_utc.strftime("%Y%m%d-%H:%M:%S"))
        fills = self._run(ib.reqExecutionsAsync(flt), "reading executions")
        # Commission reports update the first Fill ib_insync saw for an execId.
        known = {f.execution.execId: f for f in ib.fills()}
        simulated = self.simulated
        now = datetime.now(UTC)
        out = []
        for fill in fills:
            ex, c = fill.execution, fill.contract
            if c.secType == "BAG":
                continue
            executed_at = ex.time if ex.time.tzinfo else ex.time.replace(tzinfo=UTC)
            executed_at = executed_at.astimezone(UTC)
            if executed_at < since_utc:
                continue
            side = {"BOT": "BUY", "SLD": "SELL", "BUY": "BUY", "SELL": "SELL"}.get(ex.side)
            if side is None:
                raise GatewayError(f"TWS sent execution {ex.execId} with an unknown side {ex.side!r}")
            report = known.get(ex.execId, fill).commissionReport
            has_report = report.execId == ex.execId and _number(report.commission) is not None
            quantity, price = _decimal(ex.shares), _decimal(ex.price)
            if quantity is None or price is None:
                raise GatewayError(f"TWS sent execution {ex.execId} without a readable quantity/price")
            try:
                quantity = _bounded(ex.shares, "quantity", "quantity", bounds.QUANTITY_DIGITS)
                price = _bounded(ex.price, "price", plausible_kind(c.secType), bounds.PRICE_DIGITS)
                commission = (_bounded(report.commission, "commission", "commission", bounds.PRICE_DIGITS)
                              if has_report else None)
                bounds.check_execution_time(executed_at, now, "execution time")
            except bounds.OutOfBounds as exc:
                raise GatewayError(
                    f"TWS sent execution {ex.execId} ({c.localSymbol or c.symbol}) with an absurd value: {exc}. "
                    "No execution was read; check the execution in TWS."
                ) from None
            out.append(
                Execution(
                    exec_id=ex.execId,
                    con_id=int(c.conId),
                    symbol=c.symbol,
                    sec_type=c.secType,
                    local_symbol=c.localSymbol,
                    side=side,
                    quantity=quantity,
                    price=price,
                    executed_at=executed_at,
                    order_ref=ex.orderRef,
                    account=ex.acctNumber,
                    commission=commission,
                    commission_currency=report.currency if has_report else "",
                    perm_id=int(ex.permId),
                    order_id=int(ex.orderId),
                    source="broker",
                    simulated=simulated,
                    exchange=ex.exchange,
                    multiplier=_multiplier(c.multiplier, c.localSymbol or c.symbol) if c.multiplier else None,
                )
            )
        return sorted(out, key=lambda e: (e.executed_at, e.exec_id))

    # --- history -------------------------------------------------------------------------------

    def historical_daily_closes(self, contract: QualifiedContract, *, days: int) -> list[DailyClose]:
        """The last `days` daily closes (TRADES, regular hours), oldest first.

        While a session is open TWS includes today's bar, whose close is the latest
        price so far. No bars, or a bar without a usable close, raises GatewayError.
        """
        ib = self._check()
        if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 365:
            raise ValueError(f"days must be an int from 1 to 365, got {days!r}")
        c = self._ib_contract(contract)
        doing = f"reading {days} daily closes of {contract.local_symbol}"
        bars = self._run(
            ib.reqHistoricalDataAsync(
                c, endDateTime="", durationStr=f"{days} D", barSizeSetting="1 day",
                whatToShow="TRADES", useRTH=True, formatDate=1, timeout=0,
            ),
            doing,
        )
        if not bars:
            raise GatewayError(f"TWS returned no daily history for {contract.local_symbol} ({days} days)")
        simulated = self.simulated
        out = []
        kind = plausible_kind(contract.sec_type)
        for bar in bars:
            close = _decimal(bar.close)
            day = bar.date.date() if isinstance(bar.date, datetime) else bar.date
            problem = ""
            if close is not None and close > 0 and isinstance(day, date):
                try:
                    close = bounds.check_plausible(close, "close", kind, digits=bounds.PRICE_DIGITS)
                    bounds.check_date(day, "bar date")
                except bounds.OutOfBounds as exc:
                    problem = f": {exc}"
            if problem or close is None or close <= 0 or not isinstance(day, date):
                raise GatewayError(
                    f"TWS sent an unusable daily bar for {contract.local_symbol} "
                    f"({bar.date!r}, close {bar.close!r}{problem}); the history cannot be used"
                )
            out.append(DailyClose(contract.con_id, contract.local_symbol, day, close, "broker", simulated))
        return out[-days:]
