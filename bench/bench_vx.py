"""Time the VX contract calendar: settlement + roll-by for every month 2004-2040.

Run from the repository root: python bench/bench_vx.py
The exchange calendar is loaded before timing, so this measures the per-contract
cost that pages and commands pay, not the one-off exchange_calendars build.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dspops.core import calendars  # noqa: E402
from dspops.core import vx  # noqa: E402

RUNS = 5
GOAL_MS = 50


def main() -> None:
    calendars.load(vx.CFE)
    months = [vx.ContractMonth(y, m) for y in range(vx.MIN_YEAR, vx.MAX_YEAR + 1) for m in range(1, 13)]
    best = float("inf")
    for _ in range(RUNS):
        start = time.perf_counter()
        for cm in months:
            vx.settlement_date(cm)
            vx.roll_by(cm)
        best = min(best, time.perf_counter() - start)
    print(
        f"vx_calendar: {best * 1000:.2f} ms (settlement + roll-by for {len(months)} months "
        f"{vx.MIN_YEAR}-{vx.MAX_YEAR}, calendar loaded; goal < {GOAL_MS} ms)"
        + ("" if best * 1000 < GOAL_MS else " MISSES GOAL")
    )


if __name__ == "__main__":
    main()
