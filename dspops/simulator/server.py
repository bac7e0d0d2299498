"""An asyncio TCP server that speaks the TWS API wire protocol as server version 176.

The real, unmodified ib_insync client connects to it. Message layouts follow
ib_insync 0.9.86 (client.py for what arrives, decoder.py for what we send) and
/work/shared/TWS_PROTOCOL.md; field counts are exact where the decoder unpacks
a fixed number of fields.

What it serves comes from a scenario (scenario.py, docs/simulator.md): one SIM
account, its values and positions, quotes, executions with commission reports,
a fill policy for orders placed during the session, and faults (latency, IB
error codes per instrument, a missing tickSnapshotEnd, dropped connections).

This module holds the server: the listening socket, its thread or foreground
loop, and the loopback check. Each client is a Connection (connection.py) that
reads frames (framing.py), dispatches them to its request handlers (account.py,
contract_details.py, market_data.py, executions.py, orders.py) and answers from
the World (world.py) that all connections share.

It listens on loopback only: any other address raises ValueError.

Use in-process (tests):   port = SimulatorServer(scenario, port=0).start(); ...; .stop()
Use in the foreground:    SimulatorServer(scenario, port=7497).serve_forever()
"""

from __future__ import annotations

import asyncio
import ipaddress
import threading
from pathlib import Path
from typing import Callable

from .connection import Connection
from .messages import SERVER_VERSION
from .scenario import Scenario, load_scenario
from .world import World

__all__ = ["SERVER_VERSION", "SimulatorServer", "check_loopback"]


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
        self.world = World.build(self.scenario)
        self.port: int | None = None
        self.loop: asyncio.AbstractEventLoop | None = None  # type: ignore[assignment]
        self._server: asyncio.base_events.Server | None = None
        self._connections: set[Connection] = set()
        self.accepted_connections = 0  # clients accepted since start (tests count a job's connections)
        self._thread: threading.Thread | None = None
        self._stopped: asyncio.Event | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    async def _start(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._stopped = asyncio.Event()
        self._server = await asyncio.start_server(self._on_client, self.host, self.requested_port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = Connection(self, reader, writer)
        self._connections.add(conn)
        self.accepted_connections += 1
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
