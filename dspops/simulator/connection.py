"""One client connection to the simulator: the handshake ("API\\0", the version range, the server
version and connection time), then each message read from the wire, dispatched by its id to a
request handler and answered as a task of its own (after the scenario's latency). Connection
also holds what every handler shares (send, error, drop, spawn) and answers the session
requests: startApi (error 326 for a client id in use), next order id, managed accounts, current
time, market data type and completed orders. The other requests are answered by the mixins it
is made of: account, contract details, market data and history, executions, and orders.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from .account import AccountRequests
from .contract_details import ContractRequests
from .executions import ExecutionRequests
from .framing import decode, encode, read_frame
from .market_data import MarketDataRequests
from .messages import (
    CANCEL_ACCOUNT_SUMMARY,
    CANCEL_ACCOUNT_UPDATES_MULTI,
    CANCEL_HISTORICAL_DATA,
    CANCEL_MKT_DATA,
    CANCEL_ORDER,
    CANCEL_POSITIONS,
    COMPLETED_ORDERS_END,
    CURRENT_TIME,
    ERR_MSG,
    ERROR_TEXT,
    MANAGED_ACCTS,
    NEXT_VALID_ID,
    PLACE_ORDER,
    REQ_ACCOUNT_SUMMARY,
    REQ_ACCOUNT_UPDATES,
    REQ_ACCOUNT_UPDATES_MULTI,
    REQ_ALL_OPEN_ORDERS,
    REQ_AUTO_OPEN_ORDERS,
    REQ_COMPLETED_ORDERS,
    REQ_CONTRACT_DETAILS,
    REQ_CURRENT_TIME,
    REQ_EXECUTIONS,
    REQ_HISTORICAL_DATA,
    REQ_IDS,
    REQ_MANAGED_ACCTS,
    REQ_MARKET_DATA_TYPE,
    REQ_MKT_DATA,
    REQ_OPEN_ORDERS,
    REQ_POSITIONS,
    SERVER_VERSION,
    START_API,
)
from .orders import OrderRequests
from .world import now

if TYPE_CHECKING:
    from .server import SimulatorServer

__all__ = ["Connection"]

log = logging.getLogger("dspops.simulator")


class Connection(
    AccountRequests, ContractRequests, MarketDataRequests, ExecutionRequests, OrderRequests
):
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
        self.writer.write(encode(fields))
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


    async def run(self) -> None:
        try:
            prefix = await self.reader.readexactly(4)
            if prefix != b"API\0":
                log.warning("connection from %s did not start with API\\0; closing", self.peer)
                return
            versions = (await read_frame(self.reader)).decode(errors="replace").rstrip("\0")
            if not self._accept_versions(versions):
                return
            conn_time = now().strftime("%Y%m%d %H:%M:%S") + " UTC"
            self.writer.write(encode([SERVER_VERSION, conn_time]))
            while not self.closed:
                fields = decode(await read_frame(self.reader))
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
            self.send(CURRENT_TIME, 1, int(now().timestamp()))
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
