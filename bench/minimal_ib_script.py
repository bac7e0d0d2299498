"""The least a hand-written ib_insync script does for the VRP-CS monitor's broker work: the yardstick of
bench/bench_live_monitor.py.

Connect, qualify the two VXM legs and VIX / VVIX in one batch, read the positions (the monitor compares what is
held with its config, so it asks for them too), take one snapshot of all four quotes at once, print them,
disconnect. No Django, no database, no checks: what the legacy hand-run script did, and so the floor a
`manage.py vrp_cs_monitor --live --json` run is measured against.

    python bench/minimal_ib_script.py --port 7497 --legs VXMZ6 VXMF7 [--client-id 77]

Not a benchmark itself (the Makefile runs bench/bench_*.py only).
"""

from __future__ import annotations

import argparse
import json
import math

from ib_insync import IB, Future, Index


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--client-id", type=int, default=77)
    parser.add_argument("--legs", nargs=2, required=True, metavar=("SHORT", "LONG"),
                        help="the VXM legs' local symbols, e.g. VXMZ6 VXMF7")
    args = parser.parse_args()

    ib = IB()
    ib.connect(args.host, args.port, clientId=args.client_id, readonly=True, timeout=10)
    try:
        contracts = [Future(localSymbol=leg, exchange="CFE", currency="USD") for leg in args.legs]
        contracts += [Index("VIX", "CBOE", "USD"), Index("VVIX", "CBOE", "USD")]
        ib.qualifyContracts(*contracts)
        positions = ib.positions()
        ib.reqMarketDataType(1)
        tickers = ib.reqTickers(*contracts)  # one snapshot request per contract, all in flight at once
    finally:
        ib.disconnect()

    def price(value: float) -> float | None:
        return None if value is None or math.isnan(value) or value < 0 else value

    print(json.dumps({
        "quotes": {t.contract.localSymbol or t.contract.symbol: {"bid": price(t.bid), "ask": price(t.ask),
                                                                  "last": price(t.last)} for t in tickers},
        "positions": {p.contract.localSymbol: p.position for p in positions if p.contract.secType == "FUT"},
    }, indent=2))


if __name__ == "__main__":
    main()
