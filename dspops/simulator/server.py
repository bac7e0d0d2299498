"""An asyncio TCP server that speaks the TWS API wire protocol as server version 176.

The real, unmodified ib_insync client connects to it. Message layouts follow
ib_insync 0.9.86 (client.py for what arrives, decoder.py for what we send) and
/work/shared/TWS_PROTOCOL.md; field counts are exact where the decoder unpacks
a fixed number of fields.

What it serves comes from a scenario (scenario.py, docs/simulator.md): one SIM
account, its values and positions, quotes, executions with commission reports,
a fill policy for orders placed during the session, and faults (latency, IB
error codes per instrument, a missing tickSnapshotEnd, dropped connections).

It listens on loopback only: any other address raises ValueError.

Use in-process (tests):   port = SimulatorServer(scenario, port=0).start(); ...; .stop()
Use in the foreground:    SimulatorServer(scenario, port=7497).serve_forever()
"""

from __future__ import annotations

import asyncio
import ipaddress
import itertools
import logging
import math
import random
import struct
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from dspops.core import calendars

from .scenario import HistorySpec, QuoteSpec, ResolvedScenario, Scenario, SimContract, load_scenario

__all__ = ["SERVER_VERSION", "SimulatorServer", "check_loopback"]

log = logging.getLogger("dspops.simulator")

SERVER_VERSION = 176
MIN_CLIENT_VERSION = 157
UTC = timezone.utc

# Incoming message ids (client -> TWS).
REQ_MKT_DATA = 1
CANCEL_MKT_DATA = 2
PLACE_ORDER = 3
CANCEL_ORDER = 4
REQ_OPEN_ORDERS = 5
REQ_ACCOUNT_UPDATES = 6
REQ_EXECUTIONS = 7
REQ_IDS = 8
REQ_CONTRACT_DETAILS = 9
REQ_HISTORICAL_DATA = 20
CANCEL_HISTORICAL_DATA = 25
REQ_AUTO_OPEN_ORDERS = 15
REQ_ALL_OPEN_ORDERS = 16
REQ_MANAGED_ACCTS = 17
REQ_CURRENT_TIME = 49
REQ_MARKET_DATA_TYPE = 59
REQ_POSITIONS = 61
REQ_ACCOUNT_SUMMARY = 62
CANCEL_ACCOUNT_SUMMARY = 63
CANCEL_POSITIONS = 64
START_API = 71
REQ_ACCOUNT_UPDATES_MULTI = 76
CANCEL_ACCOUNT_UPDATES_MULTI = 77
REQ_COMPLETED_ORDERS = 99

# Outgoing message ids (TWS -> client).
TICK_PRICE = 1
ORDER_STATUS = 3
ERR_MSG = 4
OPEN_ORDER = 5
ACCT_VALUE = 6
PORTFOLIO_VALUE = 7
ACCT_UPDATE_TIME = 8
NEXT_VALID_ID = 9
CONTRACT_DATA = 10
EXECUTION_DATA = 11
MANAGED_ACCTS = 15
HISTORICAL_DATA = 17
TICK_STRING = 46
CURRENT_TIME = 49
CONTRACT_DATA_END = 52
OPEN_ORDER_END = 53
ACCT_DOWNLOAD_END = 54
EXECUTION_DATA_END = 55
TICK_SNAPSHOT_END = 57
MARKET_DATA_TYPE = 58
COMMISSION_REPORT = 59
POSITION_DATA = 61
POSITION_END = 62
ACCOUNT_SUMMARY = 63
ACCOUNT_SUMMARY_END = 64
ACCOUNT_UPDATE_MULTI = 73
ACCOUNT_UPDATE_MULTI_END = 74
COMPLETED_ORDERS_END = 102

# Tick types: live ids, and the delayed ids TWS uses for market data type 3 / 4.
LIVE_TICKS = {"bid": 1, "ask": 2, "last": 4, "close": 9}
DELAYED_TICKS = {"bid": 66, "ask": 67, "last": 68, "close": 75}
LAST_TIMESTAMP = 45

ERROR_TEXT = {
    162: "Historical Market Data Service error message:HMDS query returned no data",
    200: "No security definition has been found for the request",
    1100: "Connectivity between IB and Trader Workstation has been lost.",
    326: "Unable to connect as the client id is already in use. Retry with a unique client id.",
    354: "Requested market data is not subscribed.",
    387: "Unsupported order type for this exchange and security type.",
    10089: (
        "Requested market data requires additional subscription for API. "
        "See link in 'Market Data Connections' dialog for more details."
    ),
    10147: "OrderId that needs to be cancelled is not found.",
    10167: "Requested market data is not subscribed. Displaying delayed market data.",
    2104: "Market data farm connection is OK:usfarm",
    2106: "HMDS data farm connection is OK:ushmds",
    2158: "Sec-def data farm connection is OK:secdefnj",
}

# Errors that end a market data request (everything except the delayed-data warning).
MARKET_DATA_WARNINGS = {10167}


def check_loopback(host: str) -> str:
    """Return the address to bind, or raise ValueError unless it is loopback."""
    if host == "localhost":
        return "127.0.0.1"
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(
            f"The TWS simulator refuses to bind {host!r}: it listens on loopback only "
            "(an address in 127.0.0.0/8, or ::1). Give a loopback IP address."
        ) from None
    if not ip.is_loopback:
        raise ValueError(
            f"The TWS simulator refuses to bind {host}: it is not a loopback address. "
            "It listens on loopback only (127.0.0.0/8 or ::1), so nothing outside this "
            "machine can connect to simulated data."
        )
    return str(ip)


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    return str(value)


def _frame(payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + payload


def _encode(fields: list[Any] | tuple[Any, ...]) -> bytes:
    return _frame("".join(_fmt(f) + "\0" for f in fields).encode())


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class _Order:
    order_id: int
    client_id: int
    perm_id: int
    contract: SimContract | None  # None for BAG
    legs: list[tuple[SimContract, int, str]]  # (contract, ratio, action) for BAG
    action: str
    quantity: float
    order_type: str
    lmt_price: float | None
    tif: str
    account: str
    order_ref: str
    status: str = "Submitted"
    filled: float = 0.0
    avg_fill_price: float = 0.0
    last_fill_price: float = 0.0

    @property
    def remaining(self) -> float:
        return max(self.quantity - self.filled, 0.0)

    @property
    def is_open(self) -> bool:
        return self.status in ("PreSubmitted", "Submitted")


@dataclass
class _World:
    """Everything the simulator serves, shared by all connections (one event loop)."""

    resolved: ResolvedScenario
    positions: dict[int, list[float]] = field(default_factory=dict)  # conId -> [qty, avg cost]
    executions: list[dict[str, Any]] = field(default_factory=list)
    orders: dict[tuple[int, int], _Order] = field(default_factory=dict)
    client_ids: set[int] = field(default_factory=set)
    next_order_id: int = 1
    perm_ids: itertools.count = field(default_factory=lambda: itertools.count(1_100_000_001))
    exec_seq: itertools.count = field(default_factory=lambda: itertools.count(1))

    @classmethod
    def build(cls, scenario: Scenario) -> _World:
        resolved = scenario.resolve()
        w = cls(resolved=resolved)
        w.positions = {cid: [q, c] for cid, (q, c) in resolved.positions.items()}
        w.executions = [dict(e) for e in resolved.executions]
        used = [e["order_id"] for e in w.executions]
        w.next_order_id = max(used + [0]) + 1
        return w

    @property
    def scenario(self) -> Scenario:
        return self.resolved.scenario

    @property
    def account(self) -> str:
        return self.resolved.scenario.account

    def contract(self, con_id: int) -> SimContract | None:
        return self.resolved.contracts.get(con_id)

    def quote(self, con_id: int) -> QuoteSpec | None:
        return self.resolved.quotes.get(con_id)

    def match(self, f: list[str]) -> list[SimContract]:
        """Contracts matching the 12 wire fields of a request's contract."""
        con_id, symbol, sec_type, expiry, _strike, _right, mult, exchange, primary, currency, local, tclass = f
        out = []
        for c in self.resolved.contracts.values():
            if con_id not in ("", "0") and str(c.con_id) != con_id:
                continue
            if symbol and symbol.upper() != c.symbol:
                continue
            if sec_type and sec_type.upper() != c.sec_type:
                continue
            if local and local.upper() != c.local_symbol:
                continue
            if expiry and not (c.last_trade_date.startswith(expiry) or c.contract_month == expiry):
                continue
            if exchange and exchange.upper() not in (c.exchange, c.primary_exchange):
                continue
            if primary and c.sec_type == "STK" and primary.upper() != c.primary_exchange:
                continue
            if currency and currency.upper() != c.currency:
                continue
            if tclass and tclass.upper() != c.trading_class:
                continue
            if mult and c.multiplier and float(mult) != float(c.multiplier):
                continue
            out.append(c)
        return out

    def mark_price(self, con_id: int) -> float:
        q = self.quote(con_id)
        if q is None:
            return 0.0
        if q.bid and q.ask and q.bid > 0 and q.ask > 0:
            return (q.bid + q.ask) / 2
        for v in (q.last, q.close):
            if v and v > 0:
                return v
        return 0.0

    def daily_closes(self, c: SimContract, days: int) -> list[tuple[Any, float]]:
        """`days` daily closes for the sessions before the scenario's session, oldest first."""
        spec = self.resolved.history.get(c.con_id)
        q = self.quote(c.con_id)
        anchor = next((v for v in ((q.close, q.last) if q else ()) if v and v > 0), None)
        if spec is None and anchor is None:
            return []
        exchange = "XCBF" if c.sec_type in ("FUT", "IND") else "XNYS"
        end = calendars.previous_session(self.resolved.session, exchange=exchange)
        sessions: list[Any] = [end]
        while len(sessions) < days:
            sessions.append(calendars.previous_session(sessions[-1], exchange=exchange))
        sessions.reverse()
        if spec is not None and spec.closes:
            closes = list(spec.closes)[-days:]
            return list(zip(sessions[-len(closes):], closes))
        vol = (spec or HistorySpec()).annual_vol / math.sqrt(252)
        rng = random.Random(c.con_id)
        level = float(anchor or 100.0)
        out = [level]
        for _ in range(len(sessions) - 1):  # walk backwards from the anchor
            level = level / math.exp(rng.gauss(0.0, vol))
            out.append(round(level, 2))
        out.reverse()
        return list(zip(sessions, out))

    def apply_fill(self, con_id: int, signed_qty: float, price: float) -> None:
        c = self.resolved.contracts[con_id]
        unit_cost = price * c.multiplier_value
        qty, avg = self.positions.get(con_id, [0.0, 0.0])
        new_qty = qty + signed_qty
        if abs(new_qty) < 1e-9:
            self.positions.pop(con_id, None)
            return
        if qty == 0 or (qty > 0) != (new_qty > 0):
            avg = unit_cost  # opened, or flipped through zero
        elif abs(new_qty) > abs(qty):
            avg = (avg * abs(qty) + unit_cost * abs(signed_qty)) / abs(new_qty)
        self.positions[con_id] = [new_qty, avg]


class _Connection:
    """One client connection: handshake, then requests answered as concurrent tasks."""

    def __init__(self, server: SimulatorServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.server = server
        self.world = server.world
        self.faults = server.world.scenario.faults
        self.reader = reader
        self.writer = writer
        self.peer = writer.get_extra_info("peername")
        self.client_id: int | None = None
        self.market_data_type = 1
        self.sent = 0
        self.closed = False
        self.tasks: set[asyncio.Task] = set()
        self.streams: set[int] = set()
        self.account_summaries: set[int] = set()  # open reqAccountSummary subscriptions
        self.snapshot_dropped = False

    # --- I/O ---------------------------------------------------------------------------------

    def send(self, *fields: Any) -> None:
        if self.closed:
            return
        self.writer.write(_encode(fields))
        self.sent += 1
        limit = self.faults.disconnect_after_messages
        if limit and self.sent >= limit:
            log.info("fault: dropping client %s after %d messages", self.client_id, self.sent)
            self.drop()

    def error(self, req_id: int, code: int, text: str = "") -> None:
        self.send(ERR_MSG, 2, req_id, code, text or ERROR_TEXT.get(code, f"Error {code}"), "")

    def drop(self) -> None:
        if not self.closed:
            self.closed = True
            transport = self.writer.transport
            transport.abort()

    async def _read_frame(self) -> bytes:
        header = await self.reader.readexactly(4)
        (size,) = struct.unpack(">I", header)
        if size > 10_000_000:
            raise ConnectionError(f"message of {size} bytes is too large")
        return await self.reader.readexactly(size)

    async def run(self) -> None:
        try:
            prefix = await self.reader.readexactly(4)
            if prefix != b"API\0":
                log.warning("connection from %s did not start with API\\0; closing", self.peer)
                return
            versions = (await self._read_frame()).decode(errors="replace").rstrip("\0")
            if not self._accept_versions(versions):
                return
            conn_time = _now().strftime("%Y%m%d %H:%M:%S") + " UTC"
            self.writer.write(_encode([SERVER_VERSION, conn_time]))
            while not self.closed:
                payload = await self._read_frame()
                fields = payload.decode(errors="replace").split("\0")
                if fields and fields[-1] == "":
                    fields.pop()
                if fields:
                    self.dispatch(fields)
                await self.writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            pass
        finally:
            await self.close()

    def _accept_versions(self, text: str) -> bool:
        try:
            body = text.split(" ")[0]
            low, high = body[1:].split("..") if ".." in body else (body[1:], body[1:])
            low_v, high_v = int(low), int(high)
        except ValueError:
            log.warning("client %s sent an unreadable version range %r; closing", self.peer, text)
            return False
        if not low_v <= SERVER_VERSION <= high_v:
            log.warning(
                "client %s supports versions %d..%d; this simulator speaks only %d; closing",
                self.peer, low_v, high_v, SERVER_VERSION,
            )
            return False
        return True

    async def close(self) -> None:
        self.closed = True
        for task in list(self.tasks):
            task.cancel()
        if self.client_id is not None:
            self.world.client_ids.discard(self.client_id)
            log.info("client %s disconnected", self.client_id)
        try:
            self.writer.close()
        except Exception:  # noqa: BLE001 - the transport may already be gone
            pass
        self.server._connections.discard(self)

    def spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(self._delayed(coro))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _delayed(self, coro: Any) -> None:
        try:
            if self.faults.latency_ms:
                await asyncio.sleep(self.faults.latency_ms / 1000)
            if self.closed:
                coro.close()
                return
            await coro
        except asyncio.CancelledError:
            coro.close()
            raise
        except Exception:
            log.exception("simulator failed while answering a request")
        finally:
            if not self.closed:
                try:
                    await self.writer.drain()
                except (ConnectionError, OSError):
                    pass

    # --- dispatch ----------------------------------------------------------------------------

    def dispatch(self, f: list[str]) -> None:
        try:
            msg_id = int(f[0])
        except ValueError:
            log.warning("client %s sent a message without a numeric id: %r", self.client_id, f[:3])
            return
        if msg_id == START_API:
            self.start_api(f)
            return
        if self.client_id is None:
            log.warning("client sent message %d before startApi; ignored", msg_id)
            return
        handler = {
            REQ_MKT_DATA: self.req_mkt_data,
            CANCEL_MKT_DATA: self.cancel_mkt_data,
            PLACE_ORDER: self.place_order,
            CANCEL_ORDER: self.cancel_order,
            REQ_OPEN_ORDERS: self.req_open_orders,
            REQ_ALL_OPEN_ORDERS: self.req_open_orders,
            REQ_ACCOUNT_UPDATES: self.req_account_updates,
            REQ_EXECUTIONS: self.req_executions,
            REQ_IDS: self.req_ids,
            REQ_CONTRACT_DETAILS: self.req_contract_details,
            REQ_HISTORICAL_DATA: self.req_historical_data,
            REQ_MANAGED_ACCTS: self.req_managed_accts,
            REQ_CURRENT_TIME: self.req_current_time,
            REQ_MARKET_DATA_TYPE: self.req_market_data_type,
            REQ_POSITIONS: self.req_positions,
            REQ_ACCOUNT_SUMMARY: self.req_account_summary,
            CANCEL_ACCOUNT_SUMMARY: self.cancel_account_summary,
            REQ_ACCOUNT_UPDATES_MULTI: self.req_account_updates_multi,
            REQ_COMPLETED_ORDERS: self.req_completed_orders,
        }.get(msg_id)
        if handler is None:
            if msg_id not in (
                CANCEL_POSITIONS, CANCEL_ACCOUNT_UPDATES_MULTI,
                REQ_AUTO_OPEN_ORDERS, CANCEL_HISTORICAL_DATA,
            ):
                log.info("client %s: message %d is not simulated; ignored", self.client_id, msg_id)
            return
        try:
            handler(f)
        except (ValueError, IndexError) as exc:
            log.warning("client %s: malformed message %d (%s): %r", self.client_id, msg_id, exc, f)

    def start_api(self, f: list[str]) -> None:
        client_id = int(f[2])
        if client_id in self.world.client_ids or client_id in self.faults.reject_client_ids:
            log.info("client id %d already in use: error 326, closing", client_id)
            self.error(-1, 326)
            self.server.loop.call_later(0.05, self.drop)
            return
        self.client_id = client_id
        self.world.client_ids.add(client_id)
        log.info("client %d connected from %s:%s", client_id, *(self.peer or ("?", "?"))[:2])
        self.send(NEXT_VALID_ID, 1, self.world.next_order_id)
        self.send(MANAGED_ACCTS, 1, self.world.account)
        for code in (2104, 2106, 2158):
            self.error(-1, code)
        if self.faults.connectivity_lost:
            self.error(-1, 1100)

    # --- simple requests ---------------------------------------------------------------------

    def req_ids(self, f: list[str]) -> None:
        async def answer() -> None:
            self.send(NEXT_VALID_ID, 1, self.world.next_order_id)
        self.spawn(answer())

    def req_managed_accts(self, f: list[str]) -> None:
        async def answer() -> None:
            self.send(MANAGED_ACCTS, 1, self.world.account)
        self.spawn(answer())

    def req_current_time(self, f: list[str]) -> None:
        async def answer() -> None:
            self.send(CURRENT_TIME, 1, int(_now().timestamp()))
        self.spawn(answer())

    def req_market_data_type(self, f: list[str]) -> None:
        md_type = int(f[2])
        if md_type not in (1, 2, 3, 4):
            self.error(-1, 10090, f"Invalid market data type {md_type}")
            return
        self.market_data_type = md_type  # applies to requests that arrive after it

    def req_completed_orders(self, f: list[str]) -> None:
        async def answer() -> None:
            self.send(COMPLETED_ORDERS_END)
        self.spawn(answer())

    # --- account -------------------------------------------------------------------------------

    def _account_rows(self) -> list[tuple[str, str, str]]:
        sc = self.world.scenario
        return [(tag, _fmt(v), sc.currency) for tag, v in sc.account_values.items()]

    def req_account_updates(self, f: list[str]) -> None:
        subscribe = f[2] == "1"
        account = f[3] or self.world.account

        async def answer() -> None:
            if not subscribe:
                return
            if account != self.world.account:
                self.send(ACCT_DOWNLOAD_END, 1, account)
                return
            self.send(ACCT_VALUE, 2, "AccountCode", account, "", account)
            for tag, value, ccy in self._account_rows():
                self.send(ACCT_VALUE, 2, tag, value, ccy, account)
            for con_id, (qty, avg) in sorted(self.world.positions.items()):
                c = self.world.contract(con_id)
                if c is None:
                    continue
                mark = self.world.mark_price(con_id)
                value = qty * mark * c.multiplier_value
                self.send(
                    PORTFOLIO_VALUE, 8, c.con_id, c.symbol, c.sec_type, c.last_trade_date, 0, "",
                    c.multiplier, c.primary_exchange, c.currency, c.local_symbol, c.trading_class,
                    qty, mark, value, avg, value - qty * avg, 0.0, account,
                )
            self.send(ACCT_UPDATE_TIME, 1, _now().strftime("%H:%M"))
            self.send(ACCT_DOWNLOAD_END, 1, account)

        self.spawn(answer())

    def req_account_updates_multi(self, f: list[str]) -> None:
        req_id, account, model = int(f[2]), f[3], f[4]

        async def answer() -> None:
            if account in ("", self.world.account, "All"):
                for tag, value, ccy in self._account_rows():
                    self.send(ACCOUNT_UPDATE_MULTI, 1, req_id, self.world.account, model, tag, value, ccy)
            self.send(ACCOUNT_UPDATE_MULTI_END, 1, req_id)

        self.spawn(answer())

    def cancel_account_summary(self, f: list[str]) -> None:
        self.account_summaries.discard(int(f[2]))

    def req_account_summary(self, f: list[str]) -> None:
        req_id, tags = int(f[2]), f[4]
        wanted = {t.strip() for t in tags.split(",") if t.strip()}
        if len(self.account_summaries) >= 2:  # as TWS: at most two open subscriptions
            self.error(req_id, 322, "Error processing request:-'bd' : cause - Maximum number of account summary requests exceeded")
            return
        self.account_summaries.add(req_id)

        async def answer() -> None:
            for tag, value, ccy in self._account_rows():
                if tag in wanted:
                    self.send(ACCOUNT_SUMMARY, 1, req_id, self.world.account, tag, value, ccy)
            self.send(ACCOUNT_SUMMARY_END, 1, req_id)

        self.spawn(answer())

    def req_positions(self, f: list[str]) -> None:
        async def answer() -> None:
            for con_id, (qty, avg) in sorted(self.world.positions.items()):
                c = self.world.contract(con_id)
                if c is None:
                    continue
                self.send(
                    POSITION_DATA, 3, self.world.account, c.con_id, c.symbol, c.sec_type,
                    c.last_trade_date, 0, "", c.multiplier,
                    c.primary_exchange if c.sec_type == "STK" else c.exchange,
                    c.currency, c.local_symbol, c.trading_class, qty, avg,
                )
            self.send(POSITION_END, 1)

        self.spawn(answer())

    # --- contracts -----------------------------------------------------------------------------

    def req_contract_details(self, f: list[str]) -> None:
        req_id = int(f[2])
        wanted = f[3:15]
        include_expired = f[15] == "1" if len(f) > 15 else False  # noqa: F841 - listed only

        async def answer() -> None:
            matches = self.world.match(wanted)
            if not matches:
                log.info("client %s: no contract matches %s -> error 200", self.client_id, wanted)
                self.error(req_id, 200)
                return
            for c in matches:
                self.send(*self._contract_details(req_id, c))
            self.send(CONTRACT_DATA_END, 1, req_id)

        self.spawn(answer())

    @staticmethod
    def _contract_details(req_id: int, c: SimContract) -> list[Any]:
        if c.sec_type == "FUT":
            order_types = "ACTIVETIM,AD,ADJUST,ALERT,ALLOC,DAY,GTC,LMT,MKT,STP,STPLMT"
            valid = "CFE"
            hours = "20260101:1700-20260102:1600"
            under = ("VIX", "IND")
        elif c.sec_type == "IND":
            order_types = ""
            valid = "CBOE"
            hours = "20260101:0215-20260101:1615"
            under = ("", "")
        else:
            order_types = "ACTIVETIM,AD,ADJUST,ALERT,ALLOC,DAY,GTC,LMT,MKT,MOC,STP,STPLMT"
            valid = f"SMART,{c.primary_exchange},NYSE,BATS,IEX"
            hours = "20260101:0400-20260101:2000"
            under = ("", "")
        return [
            CONTRACT_DATA, req_id, c.symbol, c.sec_type, c.last_trade_date, 0, "", c.exchange,
            c.currency, c.local_symbol, c.trading_class, c.trading_class, c.con_id, c.min_tick,
            c.multiplier, order_types, valid, 1, 0, c.long_name, c.primary_exchange,
            c.contract_month, "", "", "", c.time_zone, hours, hours, "", "",
            0,  # secIdList count
            1, under[0], under[1], "26", c.last_trade_date, "ETF" if c.sec_type == "STK" else "",
            1, 1, 1,
        ]

    def _parse_contract(self, f: list[str], start: int) -> tuple[list[str], int]:
        return f[start:start + 12], start + 12

    def _lookup(self, wanted: list[str]) -> SimContract | None:
        matches = self.world.match(wanted)
        return matches[0] if len(matches) == 1 else None

    # --- market data ---------------------------------------------------------------------------

    def req_mkt_data(self, f: list[str]) -> None:
        req_id = int(f[2])
        wanted, i = self._parse_contract(f, 3)
        legs: list[tuple[str, int, str]] = []
        if wanted[2].upper() == "BAG":
            n = int(f[i])
            i += 1
            for _ in range(n):
                legs.append((f[i], int(f[i + 1]), f[i + 2]))
                i += 4
        if f[i] == "1":  # delta-neutral contract: conId, delta, price
            i += 3
        i += 1
        snapshot = f[i + 1] == "1"
        md_type = self.market_data_type

        if legs:
            coro = self._combo_data(req_id, legs, snapshot, md_type)
        else:
            coro = self._mkt_data(req_id, wanted, snapshot, md_type)
        if not snapshot:
            self.streams.add(req_id)
        self.spawn(coro)

    def cancel_mkt_data(self, f: list[str]) -> None:
        self.streams.discard(int(f[2]))

    async def _mkt_data(self, req_id: int, wanted: list[str], snapshot: bool, md_type: int) -> None:
        c = self._lookup(wanted)
        if c is None:
            self.error(req_id, 200)
            return
        log.info(
            "client %s: %s %s (reqId %d)", self.client_id,
            "snapshot" if snapshot else "streaming", c.name, req_id,
        )
        code = self.world.resolved.market_data_errors.get(c.con_id)
        if code is not None and code not in MARKET_DATA_WARNINGS:
            self.error(req_id, code)
            return
        q = self.world.quote(c.con_id) or QuoteSpec()
        data_type = q.market_data_type
        if code in MARKET_DATA_WARNINGS or (data_type in (3, 4) and md_type in (1, 2)):
            self.error(req_id, 10167)
        self._send_ticks(req_id, q, data_type)
        self._end_snapshot(req_id, c.con_id, snapshot)

    async def _combo_data(self, req_id: int, legs: list[tuple[str, int, str]], snapshot: bool, md_type: int) -> None:
        bid = ask = 0.0
        complete = True
        data_type = 1
        for con_id_text, ratio, action in legs:
            c = self.world.contract(int(con_id_text or 0))
            if c is None:
                self.error(req_id, 200)
                return
            code = self.world.resolved.market_data_errors.get(c.con_id)
            if code is not None and code not in MARKET_DATA_WARNINGS:
                self.error(req_id, code)
                return
            q = self.world.quote(c.con_id) or QuoteSpec()
            data_type = max(data_type, q.market_data_type)
            if not (q.bid and q.ask and q.bid > 0 and q.ask > 0):
                complete = False
                continue
            if action.upper() == "BUY":
                bid += ratio * q.bid
                ask += ratio * q.ask
            else:
                bid -= ratio * q.ask
                ask -= ratio * q.bid
        combo = QuoteSpec(
            bid=round(bid, 6) if complete else None,
            ask=round(ask, 6) if complete else None,
            bid_size=1 if complete else None,
            ask_size=1 if complete else None,
            market_data_type=data_type,
        )
        if data_type in (3, 4) and md_type in (1, 2):
            self.error(req_id, 10167)
        self._send_ticks(req_id, combo, data_type)
        self._end_snapshot(req_id, None, snapshot)

    def _send_ticks(self, req_id: int, q: QuoteSpec, data_type: int) -> None:
        self.send(MARKET_DATA_TYPE, 1, req_id, data_type)
        ids = DELAYED_TICKS if data_type in (3, 4) else LIVE_TICKS
        sizes = {"bid": q.bid_size, "ask": q.ask_size, "last": q.last_size, "close": None}
        for name in ("bid", "ask", "last", "close"):
            price = getattr(q, name)
            if price is None:
                continue  # never sent: the client keeps NaN
            self.send(TICK_PRICE, 6, req_id, ids[name], price, sizes[name] if sizes[name] is not None else 0, 0)
        if q.age_s is not None:
            stamp = int(_now().timestamp() - q.age_s)
            self.send(TICK_STRING, 6, req_id, LAST_TIMESTAMP, stamp)

    def _end_snapshot(self, req_id: int, con_id: int | None, snapshot: bool) -> None:
        if self.faults.disconnect_mid_snapshot and not self.snapshot_dropped:
            self.snapshot_dropped = True
            log.info("fault: dropping client %s in the middle of a snapshot", self.client_id)
            self.drop()
            return
        if not snapshot:
            return
        if con_id is not None and con_id in self.world.resolved.no_snapshot_end:
            log.info("fault: no tickSnapshotEnd for reqId %d", req_id)
            return
        self.send(TICK_SNAPSHOT_END, 1, req_id)

    # --- historical data -----------------------------------------------------------------------

    def req_historical_data(self, f: list[str]) -> None:
        req_id = int(f[1])
        wanted, i = self._parse_contract(f, 2)
        _include_expired, _end, bar_size, duration = f[i:i + 4]

        async def answer() -> None:
            c = self._lookup(wanted)
            if c is None:
                self.error(req_id, 200)
                return
            count, unit = (duration.split() + ["D"])[:2]
            if bar_size.strip() != "1 day" or unit.upper() != "D" or not count.isdigit():
                self.error(req_id, 321, f"Error validating request: the simulator serves '1 day' bars for 'N D' durations only (got {bar_size!r}, {duration!r})")
                return
            closes = self.world.daily_closes(c, int(count))
            if not closes:
                self.error(req_id, 162)
                return
            start, end = closes[0][0], closes[-1][0]
            fields: list[Any] = [HISTORICAL_DATA, req_id, f"{start:%Y%m%d}", f"{end:%Y%m%d}", len(closes)]
            for day, close in closes:
                fields += [f"{day:%Y%m%d}", close, close, close, close, 1000, close, 100]
            self.send(*fields)

        self.spawn(answer())

    # --- executions ----------------------------------------------------------------------------

    def req_executions(self, f: list[str]) -> None:
        req_id = int(f[2])
        client_filter = int(f[3] or 0)
        acct, since, symbol, sec_type, exchange, side = f[4:10]
        since_dt = _parse_filter_time(since)

        async def answer() -> None:
            for e in sorted(self.world.executions, key=lambda e: e["time"]):
                c = self.world.contract(e["con_id"])
                if c is None:
                    continue
                if client_filter and e["client_id"] != client_filter:
                    continue
                if acct and acct != self.world.account:
                    continue
                if since_dt is not None and e["time"] < since_dt:
                    continue
                if symbol and symbol.upper() != c.symbol:
                    continue
                if sec_type and sec_type.upper() != c.sec_type:
                    continue
                if exchange and exchange.upper() != e["exchange"]:
                    continue
                if side and side.upper() not in (e["side"], {"BUY": "BOT", "SELL": "SLD"}[e["side"]]):
                    continue
                self._send_execution(req_id, e)
            self.send(EXECUTION_DATA_END, 1, req_id)

        self.spawn(answer())

    def _send_execution(self, req_id: int, e: dict[str, Any]) -> None:
        c = self.world.contract(e["con_id"])
        assert c is not None
        when = e["time"].astimezone(UTC).strftime("%Y%m%d %H:%M:%S") + " UTC"
        self.send(
            EXECUTION_DATA, req_id, e["order_id"], c.con_id, c.symbol, c.sec_type, c.last_trade_date,
            0, "", c.multiplier, e["exchange"], c.currency, c.local_symbol, c.trading_class,
            e["exec_id"], when, self.world.account, e["exchange"],
            "BOT" if e["side"] == "BUY" else "SLD", e["quantity"], e["price"], e["perm_id"],
            e["client_id"], 0, e.get("cum_qty", e["quantity"]), e.get("avg_price", e["price"]),
            e["order_ref"], "", "", "", 0,
        )
        if e["commission"] is not None:
            self.send(COMMISSION_REPORT, 1, e["exec_id"], e["commission"], e["commission_currency"], "", "", "")

    # --- orders --------------------------------------------------------------------------------

    def place_order(self, f: list[str]) -> None:
        order_id = int(f[1])
        wanted, i = self._parse_contract(f, 2)
        (_sec_id_type, _sec_id, action, qty, order_type, lmt, _aux, tif, _oca, account, _oc, _origin,
         order_ref) = f[i:i + 13]
        i += 13 + 8  # transmit, parentId, blockOrder, sweepToFill, displaySize, triggerMethod, outsideRth, hidden
        legs: list[tuple[SimContract, int, str]] = []
        bag = wanted[2].upper() == "BAG"
        unknown = False
        if bag:
            n = int(f[i])
            i += 1
            for _ in range(n):
                leg_contract = self.world.contract(int(f[i] or 0))
                if leg_contract is None:
                    unknown = True
                else:
                    legs.append((leg_contract, int(f[i + 1]), f[i + 2].upper()))
                i += 8
        contract = None if bag else self._lookup(wanted)
        order = _Order(
            order_id=order_id,
            client_id=self.client_id or 0,
            perm_id=next(self.world.perm_ids),
            contract=contract,
            legs=legs,
            action=action.upper(),
            quantity=float(qty or 0),
            order_type=order_type.upper(),
            lmt_price=float(lmt) if lmt else None,
            tif=tif,
            account=account or self.world.account,
            order_ref=order_ref,
        )
        self.world.next_order_id = max(self.world.next_order_id, order_id + 1)

        async def answer() -> None:
            if unknown or (not bag and contract is None) or (bag and not legs):
                self.error(order_id, 200)
                return
            if order.order_type not in ("LMT", "MKT") or (order.order_type == "LMT" and order.lmt_price is None):
                self.error(order_id, 387)
                return
            self.world.orders[(order.client_id, order_id)] = order
            log.info(
                "client %s: placeOrder %d %s %s %s @ %s (%s)", self.client_id, order_id, order.action,
                order.quantity, contract.name if contract else "BAG " + "/".join(c.name for c, _, _ in legs),
                order.lmt_price, self.world.scenario.orders.fill,
            )
            self._send_open_order(order)
            self._send_order_status(order)
            self._fill(order)

        self.spawn(answer())

    def _fill(self, order: _Order) -> None:
        policy = self.world.scenario.orders
        if policy.fill == "none":
            return
        qty = order.quantity
        if policy.fill == "partial":
            qty = max(float(int(order.quantity * policy.partial_fraction)), 1.0) if order.quantity > 1 else 0.0
            if qty == 0:
                return
        sign = 1 if order.action == "BUY" else -1
        if order.contract is not None:
            price = order.lmt_price if order.lmt_price is not None else self.world.mark_price(order.contract.con_id)
            self._execute(order, order.contract, order.action, qty, price)
            order.filled += qty
            order.avg_fill_price = price
            order.last_fill_price = price
        else:
            all_filled = True
            for leg, ratio, leg_action in order.legs:
                if policy.fill == "legs" and leg.con_id in self.world.resolved.unfilled_legs:
                    all_filled = False
                    log.info("fault: leg %s of order %d not filled", leg.name, order.order_id)
                    continue
                leg_sign = sign * (1 if leg_action == "BUY" else -1)
                price = self.world.mark_price(leg.con_id) or (order.lmt_price or 0.0)
                self._execute(order, leg, "BUY" if leg_sign > 0 else "SELL", qty * ratio, price)
            if all_filled:
                order.filled += qty
                order.avg_fill_price = order.lmt_price or 0.0
                order.last_fill_price = order.avg_fill_price
        if order.filled >= order.quantity - 1e-9:
            order.status = "Filled"
        self._send_order_status(order)
        if order.status == "Filled":
            self._send_open_order(order)

    def _execute(self, order: _Order, c: SimContract, side: str, qty: float, price: float) -> None:
        policy = self.world.scenario.orders
        if c.sec_type == "STK":
            commission = max(round(qty * policy.commission_per_share, 2), 1.0)
        else:
            commission = round(qty * policy.commission_per_contract, 2)
        seq = next(self.world.exec_seq)
        e = {
            "con_id": c.con_id,
            "side": side,
            "quantity": qty,
            "price": price,
            "time": _now(),
            "exec_id": f"0000s{seq:04d}.{_now():%Y%m%d}.01.01",
            "order_ref": order.order_ref,
            "commission": commission,
            "commission_currency": "USD",
            "order_id": order.order_id,
            "perm_id": order.perm_id,
            "exchange": c.primary_exchange if c.sec_type == "STK" else c.exchange,
            "client_id": order.client_id,
        }
        self.world.executions.append(e)
        self.world.apply_fill(c.con_id, qty if side == "BUY" else -qty, price)
        self._send_execution(-1, e)

    def _send_order_status(self, o: _Order) -> None:
        self.send(
            ORDER_STATUS, o.order_id, o.status, o.filled, o.remaining, o.avg_fill_price, o.perm_id, 0,
            o.last_fill_price, o.client_id, "", 0,
        )

    def _send_open_order(self, o: _Order) -> None:
        if o.contract is not None:
            c = o.contract
            head = [c.con_id, c.symbol, c.sec_type, c.last_trade_date, 0, "", c.multiplier,
                    c.exchange, c.currency, c.local_symbol, c.trading_class]
        else:
            head = [28812380, "VXM", "BAG", "", 0, "", "", "CFE", "USD", "", "COMB"]
        legs_descr = ",".join(f"{c.con_id}|{ratio}" for c, ratio, _ in o.legs)
        fields: list[Any] = [OPEN_ORDER, o.order_id, *head]
        fields += [o.action, o.quantity, o.order_type, o.lmt_price, "", o.tif, "", o.account, "", 0,
                   o.order_ref, o.client_id, o.perm_id, 0, 0, "", "",
                   "",  # deprecated sharesAllocation
                   "", "", "", "", "", "", "", "", "", "", "", "",  # faGroup .. exemptCode
                   "", "", "", "", "", "",  # auctionStrategy .. stockRangeUpper
                   "", 0, 0, 0, "", "", 0, 0, "", 0, 0,  # displaySize .. triggerMethod
                   "", "", "", ""]  # volatility, volatilityType, deltaNeutralOrderType, deltaNeutralAuxPrice
        fields += [0, "", "", "", "", "", legs_descr if o.legs else ""]  # continuousUpdate .. comboLegsDescrip
        fields += [len(o.legs)]
        for c, ratio, action in o.legs:
            fields += [c.con_id, ratio, action, c.exchange, 0, 0, "", -1]
        fields += [0, 0]  # orderComboLegs count, smartComboRoutingParams count
        fields += ["", "", ""]  # scaleInitLevelSize, scaleSubsLevelSize, scalePriceIncrement
        fields += [""]  # hedgeType
        fields += [0, "", "", 0, 0]  # optOutSmartRouting, clearingAccount, clearingIntent, notHeld, dncPresent
        fields += [""]  # algoStrategy
        fields += [0, 0, o.status, "", "", "", "", "", "", "", "", "", "", "", "", "", "", 0, 0]
        fields += [0]  # conditions count
        fields += ["", "", "", "", "", "", "", "", "", "", "", "", 0, 0, "", 0]  # adjustedOrderType .. usePriceMgmtAlgo
        fields += ["", "", 0]  # duration, postToAts, autoCancelParent
        fields += ["", "", "", "", ""]  # minTradeQty .. midOffsetAtHalf
        self.send(*fields)

    def cancel_order(self, f: list[str]) -> None:
        order_id = int(f[2])

        async def answer() -> None:
            order = self.world.orders.get((self.client_id or 0, order_id))
            if order is None or not order.is_open:
                self.error(order_id, 10147)
                return
            order.status = "Cancelled"
            self._send_order_status(order)

        self.spawn(answer())

    def req_open_orders(self, f: list[str]) -> None:
        async def answer() -> None:
            for (client_id, _), order in sorted(self.world.orders.items()):
                if order.is_open and (client_id == self.client_id or self.client_id == 0):
                    self._send_open_order(order)
                    self._send_order_status(order)
            self.send(OPEN_ORDER_END, 1)

        self.spawn(answer())


def _parse_filter_time(text: str) -> datetime | None:
    """The execution filter's time: "yyyymmdd-hh:mm:ss" (UTC) or "yyyymmdd hh:mm:ss [zone]".

    The simulated TWS runs on UTC, so a time without a zone is read as UTC.
    """
    text = text.strip()
    if not text:
        return None
    from zoneinfo import ZoneInfo

    if len(text) >= 17 and text[8] == "-":
        return datetime.strptime(text[:17], "%Y%m%d-%H:%M:%S").replace(tzinfo=UTC)
    parts = text.split()
    moment = datetime.strptime(parts[0] + parts[1], "%Y%m%d%H:%M:%S")
    zone = ZoneInfo(parts[2]) if len(parts) > 2 else UTC
    return moment.replace(tzinfo=zone).astimezone(UTC)


class SimulatorServer:
    """The TWS simulator. Loopback only; one scenario per server."""

    def __init__(
        self,
        scenario: Scenario | str | Path = "calm_contango",
        host: str = "127.0.0.1",
        port: int = 7497,
    ):
        self.host = check_loopback(host)
        self.requested_port = int(port)
        self.scenario = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
        self.world = _World.build(self.scenario)
        self.port: int | None = None
        self.loop: asyncio.AbstractEventLoop | None = None  # type: ignore[assignment]
        self._server: asyncio.base_events.Server | None = None
        self._connections: set[_Connection] = set()
        self._thread: threading.Thread | None = None
        self._stopped: asyncio.Event | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    async def _start(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._stopped = asyncio.Event()
        self._server = await asyncio.start_server(self._on_client, self.host, self.requested_port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = _Connection(self, reader, writer)
        self._connections.add(conn)
        await conn.run()

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        for conn in list(self._connections):
            conn.drop()
            await conn.close()
        if self._server is not None:
            await self._server.wait_closed()

    async def serve(
        self, on_ready: Callable[[SimulatorServer], None] | None = None, *, handle_sigterm: bool = False
    ) -> None:
        """Run until stop() (or cancellation; with handle_sigterm, SIGTERM too)."""
        await self._start()
        if handle_sigterm and threading.current_thread() is threading.main_thread():
            import signal

            assert self._stopped is not None
            try:
                asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, self._stopped.set)
            except (NotImplementedError, RuntimeError):  # pragma: no cover - non-Unix
                pass
        if on_ready:
            on_ready(self)
        try:
            assert self._stopped is not None
            await self._stopped.wait()
        finally:
            await self._shutdown()

    def serve_forever(self, on_ready: Callable[[SimulatorServer], None] | None = None) -> None:
        """Serve in the calling thread until Ctrl-C, SIGTERM or stop()."""
        try:
            asyncio.run(self.serve(on_ready, handle_sigterm=True))
        except KeyboardInterrupt:
            pass

    def start(self, timeout: float = 10.0) -> int:
        """Serve from a background thread; return the bound port once listening."""
        if self._thread is not None:
            raise RuntimeError("simulator already started")
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.serve(lambda _s: ready.set()))
            except BaseException as exc:  # noqa: BLE001 - reported to the starting thread
                failure.append(exc)
                ready.set()
            finally:
                loop.close()

        self._thread = threading.Thread(target=run, name=f"tws-sim-{self.scenario.name}", daemon=True)
        self._thread.start()
        if not ready.wait(timeout):
            raise RuntimeError(f"TWS simulator did not start within {timeout}s")
        if failure:
            self._thread.join()
            self._thread = None
            raise failure[0]
        assert self.port is not None
        return self.port

    def stop(self, timeout: float = 5.0) -> None:
        """Close the listening socket and every connection; wait for the thread."""
        loop, stopped = self.loop, self._stopped
        if loop is not None and stopped is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(stopped.set)
            except RuntimeError:
                pass
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def drop_connections(self) -> None:
        """Close every client connection (as a crashing TWS would); thread-safe."""
        if self.loop is not None:
            self.loop.call_soon_threadsafe(lambda: [c.drop() for c in list(self._connections)])

    def __enter__(self) -> SimulatorServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def describe(self) -> str:
        """A few lines saying what this server serves (printed by tws_sim)."""
        r = self.world.resolved
        sc = self.scenario
        lines = [
            f"TWS simulator (server version {SERVER_VERSION}) on {self.host}:{self.port}: "
            "SIMULATED DATA, not a real TWS",
            f"scenario {sc.name}: {sc.description.strip()}" if sc.description else f"scenario {sc.name}",
            f"account {sc.account}, session {r.session.isoformat()}"
            + (" (replayed as_of)" if sc.as_of else ""),
        ]
        for con_id, (qty, _avg) in sorted(self.world.positions.items()):
            c = r.contracts[con_id]
            lines.append(f"  position {c.name:8} {qty:+g}")
        for con_id, q in r.quotes.items():
            c = r.contracts[con_id]
            parts = [f"{k} {v:g}" for k in ("bid", "ask", "last") if (v := getattr(q, k)) is not None]
            lines.append(f"  quote    {c.name:8} {', '.join(parts) or 'no prices'} (type {q.market_data_type})")
        f = sc.faults
        faults = []
        if f.latency_ms:
            faults.append(f"latency {f.latency_ms:g} ms")
        if f.market_data_errors:
            faults.append("errors " + ", ".join(f"{k}: {v}" for k, v in f.market_data_errors.items()))
        if f.no_snapshot_end:
            faults.append("no snapshot end for " + ", ".join(f.no_snapshot_end))
        if f.disconnect_after_messages:
            faults.append(f"disconnect after {f.disconnect_after_messages} messages")
        if f.disconnect_mid_snapshot:
            faults.append("disconnect mid-snapshot")
        lines.append("faults: " + ("; ".join(faults) if faults else "none"))
        lines.append(f"orders: fill {sc.orders.fill}")
        return "\n".join(lines)
