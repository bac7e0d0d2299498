"""Admin changelists: 100,000 fills (20,000 monitor runs, 5,000 alerts) against 10 fills.

A changelist shows one page (50 rows: list_per_page on these three), so what it costs should not grow with the table:
the default ordering must come from an index, the date filters and the other filters must
not scan the table, and list_select_related keeps the query count fixed.

Throwaway databases, built side by side in one run: the large one, and a small one with
10 fills, 10 runs and 10 alerts over the same 5 years, so that every changelist compares a
full page (50 rows) with a 10-row one, as the fills do (runs and alerts in the fills'
proportion, 2 and 1 rows, would mostly measure rendering a full page against 1 row). A third one
with 100 of each is the control: the same full page on a 100-row table, so its ratio is
what is left of the table size once the page size is taken out.

The Fill, MonitorRun and Alert changelists are rendered through django.test.Client logged in
as a superuser, interleaved between the databases, median of RUNS requests each after a
warm-up; the SQL queries of one request are counted on each database.

    python bench/bench_admin_changelists.py

Goal: every ratio (median page time, large / small) <= 3 and equal query counts per page.
Prints exactly one line; exits 0 even when the goal is missed.
"""

from __future__ import annotations

import statistics
import sys
import time
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _throwaway import clone_default, start_django, use  # noqa: E402

RUNS = 15
GOAL = 3.0
LARGE = {"fills": 100_000, "runs": 20_000, "alerts": 5_000}
SMALL = {"fills": 10, "runs": 10, "alerts": 10}
CONTROL = {"fills": 100, "runs": 100, "alerts": 100}  # one full page: same rows shown as LARGE
PAGES = {"fills": "/admin/sleeves/fill/", "runs": "/admin/sleeves/monitorrun/", "alerts": "/admin/dspops/alert/"}
SPAN = timedelta(days=5 * 365)
START = datetime(2021, 1, 4, 14, 30, tzinfo=dt_timezone.utc)


def _spread(i: int, n: int) -> datetime:
    """The i-th of n moments spread evenly over SPAN."""
    return START + SPAN * i / max(n - 1, 1)


def populate(sizes: dict[str, int]) -> None:
    from dspops.core.models import Alert, Severity
    from dspops.core.models import Instrument, SecType
    from sleeves.models import Fill, FillSource, MonitorRun, RunKind, RunStatus, Side, Sleeve

    sleeves = list(Sleeve.objects.order_by("code"))
    stocks = list(Instrument.objects.filter(sec_type=SecType.STOCK).order_by("symbol"))
    Fill.objects.bulk_create(
        (Fill(sleeve=sleeves[i % len(sleeves)] if i % 50 else None, instrument=stocks[i % len(stocks)],
              side=Side.BUY if i % 2 == 0 else Side.SELL, quantity=Decimal(1 + i % 20),
              price=Decimal(50 + i % 97), commission=Decimal("1.00"), executed_at=_spread(i, sizes["fills"]),
              exec_id=f"BENCH-{i}", order_ref="bench", source=FillSource.FLEX)
         for i in range(sizes["fills"])),
        batch_size=5000,
    )
    kinds = (RunKind.VRP_ERP, RunKind.VRP_CS, RunKind.VOL_TARGET, RunKind.DIGEST)
    runs = []
    for i in range(sizes["runs"]):
        started = _spread(i, sizes["runs"])
        ok = i % 25 != 0
        runs.append(MonitorRun(kind=kinds[i % len(kinds)], sleeve=sleeves[i % len(sleeves)] if i % 4 < 2 else None,
                               trading_date=started.date(), started_at=started, finished_at=started,
                               status=RunStatus.OK if ok else RunStatus.DATA_UNAVAILABLE,
                               reason="" if ok else "VIX: no close stored on or before the session",
                               triggered_by="task", inputs={"vix": "15.2"}, outputs={"regime": "calm"}))
    MonitorRun.objects.bulk_create(runs, batch_size=5000)
    codes = ("data_stale", "roll_due", "cs_gate", "erp_drift", "monitor_run_missing", "fill_unattributed")
    alerts = []
    for i in range(sizes["alerts"]):
        seen = _spread(i, sizes["alerts"])
        resolved = i < sizes["alerts"] - 5  # a handful stay open
        alerts.append(Alert(severity=(Severity.WARNING, Severity.CRITICAL, Severity.INFO)[i % 3],
                            code=codes[i % len(codes)], subject=f"bench {i}", sleeve=sleeves[i % len(sleeves)],
                            message="bench: what is wrong and what to do " * 3, first_seen_at=seen,
                            last_seen_at=seen + timedelta(hours=2), occurrences=1 + i % 4,
                            resolved_at=seen + timedelta(days=1) if resolved else None))
    Alert.objects.bulk_create(alerts, batch_size=5000)


def main() -> None:
    start_django("admin")

    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(SERVER_NAME="localhost")  # an allowed host without setup_test_environment()
    user = get_user_model().objects.create_superuser("bench", "bench@localhost", "bench-password")
    client.force_login(user)  # the session row is copied into every database cloned below
    sizes = {"large": LARGE, "small": SMALL, "control": CONTROL}
    databases = {label: clone_default(label) for label in sizes}
    for label, wrapper in databases.items():
        use(wrapper)
        populate(sizes[label])

    def get(url: str) -> None:
        response = client.get(url)
        if response.status_code != 200:
            raise SystemExit(f"bench_admin_changelists: GET {url} answered {response.status_code}")

    queries: dict[tuple[str, str], int] = {}
    for label, wrapper in databases.items():
        use(wrapper)
        for page, url in PAGES.items():
            get(url)  # warm-up
            with CaptureQueriesContext(connection) as captured:
                get(url)
            queries[(label, page)] = len(captured.captured_queries)

    times: dict[tuple[str, str], list[float]] = {key: [] for key in queries}
    for _ in range(RUNS):
        for page, url in PAGES.items():
            for label, wrapper in databases.items():  # interleaved
                use(wrapper)
                started = time.perf_counter()
                get(url)
                times[(label, page)].append(time.perf_counter() - started)

    ratios = {page: statistics.median(times[("large", page)]) / statistics.median(times[("small", page)])
              for page in PAGES}
    control = max(statistics.median(times[("large", page)]) / statistics.median(times[("control", page)])
                  for page in PAGES)
    equal = all(queries[("large", page)] == queries[("small", page)] == queries[("control", page)]
                for page in PAGES)
    worst = max(ratios.values())
    detail = "; ".join(
        f"{page} {ratios[page]:.2f} ({statistics.median(times[('large', page)]) * 1000:.0f} vs "
        f"{statistics.median(times[('small', page)]) * 1000:.0f} ms, "
        f"{queries[('large', page)]}/{queries[('small', page)]} queries)" for page in PAGES
    )
    print(
        f"admin_changelists: {worst:.2f} x (median page time, 100,000 vs 10 fills; {detail}; "
        f"queries equal: {'yes' if equal else 'no'}; control, same full page on 100,000 vs 100 rows: "
        f"worst {control:.2f} x; goal <= {GOAL:g})"
        + (" MISSES GOAL" if worst > GOAL or not equal else "")
    )


if __name__ == "__main__":
    main()
