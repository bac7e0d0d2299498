"""Quote snapshot: 12 instruments vs 1, with 100 ms of latency injected per request.

The Gateway requests every instrument at once, so 12 instruments should cost about
as much wall time as one (goal: ratio <= 1.5). Runs the TWS simulator in-process on
an ephemeral loopback port and talks to it through the real ib_insync client.

    python bench/bench_quote_snapshot.py

Prints exactly one line.
"""

from __future__ import annotations

import logging
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dspops.core.broker.gateway import Gateway, GatewayConfig  # noqa: E402
from dspops.simulator import SimulatorServer, load_scenario  # noqa: E402
from dspops.core.broker.types import ContractSpec  # noqa: E402

LATENCY_MS = 100
RUNS = 5
GOAL = 1.5


def main() -> None:
    logging.getLogger("ib_insync").setLevel(logging.CRITICAL)
    scenario = load_scenario(
        "calm_contango",
        {
            "faults": {"latency_ms": LATENCY_MS},
            "quotes": {
                "QQQ": {"bid": 598.10, "ask": 598.12, "last": 598.11},
                "TLT": {"bid": 88.40, "ask": 88.41, "last": 88.41},
            },
        },
    )
    server = SimulatorServer(scenario, host="127.0.0.1", port=0)
    port = server.start()
    try:
        resolved = server.world.resolved
        months = [resolved.contracts[resolved.names[n]].contract_month for n in ("front", "second", "third")]
        specs = [ContractSpec.stock(s) for s in ("SPY", "EEM", "EFA", "GLD", "SHY", "QQQ", "TLT")]
        specs += [ContractSpec.index("VIX"), ContractSpec.index("VVIX")]
        specs += [ContractSpec.future("VXM", m) for m in months]
        config = GatewayConfig("127.0.0.1", port, client_id=399, connect_timeout=10, request_timeout=10)
        with Gateway(config) as gw:
            contracts = gw.qualify(specs)
            assert len(contracts) == 12
            times: dict[int, list[float]] = {12: [], 1: []}
            for _ in range(RUNS):
                for batch in (contracts, contracts[:1]):  # side by side, interleaved
                    started = time.perf_counter()
                    quotes = gw.quotes(batch, timeout=5)
                    times[len(batch)].append(time.perf_counter() - started)
                    if not all(q.valid for q in quotes):
                        bad = [f"{q.local_symbol}: {q.invalid_reason}" for q in quotes if not q.valid]
                        raise SystemExit(f"bench: invalid quotes: {bad}")
    finally:
        server.stop()
    ratio = statistics.median(times[12]) / statistics.median(times[1])
    print(
        f"quote_snapshot: {ratio:.2f} x (wall time for 12 instruments / 1 instrument, "
        f"{LATENCY_MS} ms latency per request; goal <= {GOAL})" + ("" if ratio <= GOAL else " MISSES GOAL")
    )


if __name__ == "__main__":
    main()
