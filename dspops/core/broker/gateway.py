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
- Every number and date is bounded where it enters dspops (DECISIONS.md section 11, with
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

gateway.py is the only module that imports ib_insync. It holds TwsConnection (connecting,
the thread's event loop, running one request with its timeout, the errors of a lost or refused
connection, closing) and Gateway (what dspops asks: contracts, quotes, positions, the account
summary, executions, daily history). What TWS answers is read into plain types by the modules
beside it, which never import ib_insync: config.py (GatewayConfig), tws_values.py (numbers and
dates bounded where they enter), quotes.py (a quote's verdict), contracts.py, account.py,
executions.py and history.py.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from collections import defaultdict
from datetime import datetime, timezone
from typing import Any, Awaitable, Self, TypeVar

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

from .account import ACCOUNT_TAGS, account_values_from_summary, broker_positions  # noqa: E402
from .config import ROLES, GatewayConfig, is_simulated_account  # noqa: E402
from .contracts import qualified_contract  # noqa: E402
from .errors import GatewayError  # noqa: F401 (defined there so catching it never imports ib_insync)
from .executions import executions_from_fills  # noqa: E402
from .history import daily_closes_from_bars  # noqa: E402
from .quotes import TICK_LAST_TIMESTAMP, evaluate_quote, tick_timestamp  # noqa: E402
from .types import (  # noqa: E402
    AccountValues,
    BrokerPosition,
    ContractSpec,
    DailyClose,
    Execution,
    QualifiedContract,
    Quote,
)

__all__ = [
    "Gateway",
    "wait_for_tws",
    "GatewayConfig",
    "GatewayError",
    "ROLES",
    "evaluate_quote",
    "is_simulated_account",
]

log = logging.getLogger("dspops.core.broker.gateway")

UTC = timezone.utc
_T = TypeVar("_T")


# --- before connecting ---------------------------------------------------------------------------


class _QuietFailedConnect(logging.Filter):
    """ib_insync logs every failed connect attempt as an ERROR ("API connection failed: ...", "Make sure
    API port on TWS/IBG is open"). A TwsConnection turns that same failure into one GatewayError whose
    message says what to do, so the library's lines only repeat it, once per attempt, and say "failed" on a
    normal start that merely came early. The filter drops them for the threads inside TwsConnection.connect
    and for no one else."""

    _PREFIXES = ("API connection failed", "Make sure API port")

    def __init__(self) -> None:
        super().__init__()
        self.connecting: set[int] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.thread in self.connecting and str(record.msg).startswith(self._PREFIXES))


_quiet_connect = _QuietFailedConnect()
logging.getLogger("ib_insync.client").addFilter(_quiet_connect)


def tws_listening(host: str, port: int, timeout: float = 1.0) -> bool:
    """True when something accepts a plain TCP connection at host:port. Opens no API session (so no client
    id is taken and nothing is logged): a probe for a TWS or simulator that is still starting."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_for_tws(config: GatewayConfig, wait: float, *, say=None) -> bool:
    """Probe config's port quietly until it listens or ``wait`` seconds have passed; True if it listens.

    ``say`` (a callable taking one line) is told once, on the first probe that finds nothing there, so
    a start next to a simulator that is still coming up prints one progress line and no failures.
    """
    deadline = time.monotonic() + max(wait, 0)
    told = False
    while True:
        if tws_listening(config.host, config.port, timeout=min(1.0, config.connect_timeout)):
            return True
        if time.monotonic() >= deadline:
            return False
        if say is not None and not told:
            say(f"waiting for TWS at {config.address}… (up to {wait:g}s)")
            told = True
        time.sleep(min(0.25, max(deadline - time.monotonic(), 0)))


# --- the connection ------------------------------------------------------------------------------


class TwsConnection:
    """A connection to TWS / IB Gateway (or the simulator): connect, run requests, close.

    Use as a context manager. It runs every request on its own event loop, in the thread that
    opened it, and turns every failure into one GatewayError that says what to do.
    """

    def __init__(self, config: GatewayConfig):
        self.config = config
        self._ib: IB | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._previous_loop: asyncio.AbstractEventLoop | None = None
        self._thread: int | None = None
        self._accounts: list[str] = []
        self._link_lost = False  # TWS reported error 1100 (its own link to IB is down)

    # --- lifecycle ---------------------------------------------------------------------------

    def __enter__(self) -> Self:
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
        _quiet_connect.connecting.add(self._thread)
        try:
            self._loop.run_until_complete(self._connect())
        except BaseException:
            self.close()
            raise
        finally:
            _quiet_connect.connecting.discard(self._thread)
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


# --- the gateway -------------------------------------------------------------------------------


class Gateway(TwsConnection):
    """A connection to TWS / IB Gateway (or the simulator). Use as a context manager.

    Each request asks ib_insync and hands the answer to the module that reads it into plain types.
    """

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
            qualified.append(qualified_contract(spec, cd))
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
                    stamp = tick_timestamp(value) if value.isdigit() else None
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
        return broker_positions(raw, now=datetime.now(UTC), simulated=self.simulated)

    ACCOUNT_TAGS = ACCOUNT_TAGS  # the summary tags asked for (account.py)

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
        values = account_values_from_summary(rows, account=acct, simulated=self.simulated)
        for problem in values.problems:
            log.warning("account %s: %s", acct, problem)
        return values

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
        return executions_from_fills(fills, known=known, since_utc=since_utc, now=datetime.now(UTC),
                                     simulated=self.simulated)

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
        return daily_closes_from_bars(contract, bars, days=days, simulated=self.simulated)
