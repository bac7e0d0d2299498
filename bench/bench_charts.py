"""Dashboard charts: the dashboard with its three chart requests against the dashboard alone, warm cache.

The dashboard embeds three server-drawn SVG charts (digests/charts.py), each its own request. Drawing one
with matplotlib takes 0.1 to over 1 second, so they are drawn once per change of their data and kept in
the charts cache under (chart, data version). The page works out the versions (a few bounded queries, no
drawing) and names them in the charts' addresses (?v=), which the chart view answers from the cache
without reading the data again. This measures what a warm cache leaves of the charts' cost.

One throwaway database with five years of history (~1,260 NYSE sessions): per session the VRP-ERP and the
VRP-CS monitors' runs and log rows twice (the 9:00 monitor and the 16:30 digest's), SPY, VIX and VVIX closes
and a vol-target state; a few hundred fills; an active VRP-CS spread entered 15 sessions ago; one digest
(the dashboard shows it). The charts cache is the file cache in the throwaway folder (REDIS_URL is emptied
before Django starts, so a developer's Redis is never written or cleared).

Measured through django.test.Client logged in as a superuser, interleaved, median of RUNS:
  A = GET the dashboard, then GET the three chart addresses its <img> tags name (each answered from the
      warm cache with its full body, as a browser with an empty HTTP cache asks);
  B = GET the dashboard alone.

    python bench/bench_charts.py            # the one line `make bench` prints
    python bench/bench_charts.py --detail   # also the cold figures (first draw after a change), the charts
                                            # asked without a version, and the 304 revalidation

Goal: A / B <= 1.2. Prints exactly one line (without --detail); exits 0 even when the goal is missed.
"""

from __future__ import annotations

import html
import os
import random
import re
import statistics
import sys
import time
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _throwaway import start_django  # noqa: E402

RUNS = 30
COLD_RUNS = 3
GOAL = 1.2
SESSIONS = 1260
FILLS = 600
CHARTS = ("vol", "spread", "erp")
CHART_SRC = re.compile(r'<img src="([^"]*/dashboard/chart/[^"]*)"')
NEW_YORK = ZoneInfo("America/New_York")
CENTS = Decimal("0.01")


def _at(session: date, hour: int, minute: int, cap: datetime) -> datetime:
    # The last session may be today: nothing is stored later than "now".
    return min(datetime.combine(session, clock_time(hour, minute), tzinfo=NEW_YORK), cap)


def _money(value: float) -> Decimal:
    return Decimal(str(round(value, 2))).quantize(CENTS)


def populate(sessions: list[date], cap: datetime) -> None:
    """Five years of what the charts and the dashboard read; every value depends only on its session."""
    from dspops.core import vx
    from dspops.core.instruments import vxm_instrument
    from dspops.core.models import DataSource, Instrument, SecType
    from sleeves.models import (
        Fill, FillSource, LogDataStatus, MonitorRun, PriceBar, RunKind, RunStatus, Side, Sleeve, SpreadPosition,
        VolTargetState, VrpCsLogEntry, VrpErpLogEntry,
    )

    sleeves = {s.code: s for s in Sleeve.objects.all()}
    instruments = {i.symbol: i for i in Instrument.objects.filter(sec_type__in=[SecType.STOCK, SecType.INDEX])}
    bars, states, runs, erp_logs, cs_logs = [], [], [], [], []
    for session in sessions:
        rng = random.Random(session.toordinal())
        vix = 13 + 6 * rng.random()
        spy = 400 + (session.toordinal() % 500) / 5
        for symbol, close in (("SPY", spy), ("VIX", vix), ("VVIX", 85 + 10 * rng.random())):
            bars.append(PriceBar(instrument=instruments[symbol], session=session, close=_money(close),
                                 source=DataSource.STORED))
        multiplier = Decimal(str(round(0.9 + 0.2 * rng.random(), 4)))
        states.append(VolTargetState(as_of_session=session, multiplier=multiplier, returns_used=21,
                                     source=DataSource.STORED, computed_at=_at(session, 16, 20, cap)))
        front, second, _ = vx.front_contracts(session, roll_sessions=5)
        roll_by = vx.contract_dates(front, sessions_before=5).roll_by
        target = int(10_000 * multiplier / Decimal(str(spy)))
        for hour, minute in ((9, 0), (16, 30)):  # the morning monitor, then the digest's run
            started = _at(session, hour, minute, cap)
            spread = _money(0.6 + 0.9 * rng.random())
            erp_run = MonitorRun(kind=RunKind.VRP_ERP, sleeve=sleeves["VRP_ERP"], trading_date=session,
                                 started_at=started, finished_at=started, status=RunStatus.OK, triggered_by="task",
                                 outputs={"regime": "calm", "target_shares": target, "actual_shares": target - 1,
                                          "drift_pct": "1.5", "rebalance": False, "reasons": []})
            cs_run = MonitorRun(kind=RunKind.VRP_CS, sleeve=sleeves["VRP_CS"], trading_date=session,
                                started_at=started, finished_at=started, status=RunStatus.OK, triggered_by="task",
                                outputs={"spread": str(spread), "short_leg": front.local_symbol("VXM"),
                                         "long_leg": second.local_symbol("VXM"), "gate_state": "OPEN",
                                         "gate_score": "0.5", "pnl_usd": str((spread - Decimal("1.10")) * 100),
                                         "near_stop_loss": False, "near_take_profit": False, "reasons": []})
            runs += [erp_run, cs_run]
            erp_logs.append((erp_run, dict(
                logged_at=started, trading_date=session, data_status=LogDataStatus.OK, vix=_money(vix),
                spy_price=_money(spy), regime="calm", target_shares=target, actual_shares=target - 1,
                drift_pct=Decimal("1.5"), rebalance_signal=False, source=DataSource.STORED)))
            cs_logs.append((cs_run, dict(
                logged_at=started, trading_date=session, data_status=LogDataStatus.OK, vix=_money(vix),
                vx1=_money(16 + 2 * rng.random()), vx2=_money(18 + 2 * rng.random()), spread=spread,
                entry_spread=Decimal("1.10"), quantity=1, pnl_usd=(spread - Decimal("1.10")) * 100, gate_state="OPEN",
                gate_score=Decimal("0.5"), roll_by=roll_by, stop_loss_level=Decimal("0.55"),
                take_profit_level=Decimal("2.20"), stop_loss_hit=False, take_profit_hit=False,
                source=DataSource.STORED)))
    PriceBar.objects.bulk_create(bars, batch_size=2000)
    VolTargetState.objects.bulk_create(states, batch_size=2000)
    MonitorRun.objects.bulk_create(runs, batch_size=2000)
    VrpErpLogEntry.objects.bulk_create([VrpErpLogEntry(run=run, **row) for run, row in erp_logs], batch_size=2000)
    VrpCsLogEntry.objects.bulk_create([VrpCsLogEntry(run=run, **row) for run, row in cs_logs], batch_size=2000)

    # Stock fills over the period (alternately buy 10, sell 9) and the open spread's two legs.
    stocks = (("VRP_ERP", "SPY"), ("DM", "EEM"), ("DM", "EFA"), ("DM", "GLD"), ("DM", "SHY"))
    fills = []
    for j in range(FILLS):
        session = sessions[j * len(sessions) // FILLS]
        sleeve_code, symbol = stocks[j % len(stocks)]
        buy = (j // len(stocks)) % 2 == 0
        fills.append(Fill(sleeve=sleeves[sleeve_code], instrument=instruments[symbol],
                          side=Side.BUY if buy else Side.SELL, quantity=Decimal(10 if buy else 9),
                          price=_money(50 + j % 97), commission=Decimal("1.00"), executed_at=_at(session, 10, 0, cap),
                          exec_id=f"BENCH-{j}", order_ref="bench", source=FillSource.FLEX))
    entry, last = sessions[-15], sessions[-1]
    front, second, _ = vx.front_contracts(last, roll_sessions=5)
    dates = vx.contract_dates(front, sessions_before=5)
    short_leg, long_leg = vxm_instrument(front), vxm_instrument(second)
    for instrument, side, price in ((short_leg, Side.SELL, "17.45"), (long_leg, Side.BUY, "18.55")):
        fills.append(Fill(sleeve=sleeves["VRP_CS"], instrument=instrument, side=side, quantity=Decimal(1),
                          price=Decimal(price), commission=Decimal("1.00"), executed_at=_at(entry, 11, 0, cap),
                          exec_id=f"BENCH-open-{instrument.pk}", order_ref="bench", source=FillSource.FLEX))
    Fill.objects.bulk_create(fills, batch_size=2000)
    SpreadPosition.objects.create(
        sleeve=sleeves["VRP_CS"], short_leg=short_leg, long_leg=long_leg, quantity=1,
        short_entry_price=Decimal("17.45"), long_entry_price=Decimal("18.55"), entry_date=entry,
        entry_spread=Decimal("1.10"), stop_loss_spread=Decimal("0.55"), take_profit_spread=Decimal("2.20"),
        settlement_date=dates.settlement_date, roll_by=dates.roll_by)


def _ms(seconds: list[float]) -> float:
    return statistics.median(seconds) * 1000


def main() -> None:
    detail = "--detail" in sys.argv[1:]
    os.environ["REDIS_URL"] = ""  # the charts cache in the throwaway folder, never a developer's Redis
    start_django("charts")

    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.cache import caches
    from django.test import Client
    from django.urls import reverse

    from digests.services import generate_digest
    from dspops.core import calendars, clock

    settings.ALLOWED_HOSTS = ["testserver"]
    last = clock.current_session()
    sessions = calendars.sessions_in_range(last - timedelta(days=int(SESSIONS * 1.46)), last)[-SESSIONS:]
    populate(sessions, clock.now() - timedelta(minutes=5))
    generate_digest(trading_date=last, write_file=False, triggered_by="bench")

    client = Client()
    client.force_login(get_user_model().objects.create_superuser("bench", password="bench-only"))
    dashboard = reverse("admin:index")
    chart_cache = caches["charts"] if "charts" in settings.CACHES else None

    def get(url: str, **headers):
        response = client.get(url, headers=headers)
        if response.status_code not in (200, 304):
            raise SystemExit(f"bench_charts: GET {url} answered {response.status_code}")
        return response

    def page() -> list[str]:
        """GET the dashboard; the addresses of its charts, as its <img> tags name them."""
        found = CHART_SRC.findall(get(dashboard).content.decode())
        if len(found) != len(CHARTS):
            raise SystemExit(f"bench_charts: the dashboard names {len(found)} charts, not {len(CHARTS)}")
        return [html.unescape(src) for src in found]

    # Cold: each chart's first request on an empty charts cache (the first draw after its data changed).
    cold: dict[str, list[float]] = {name: [] for name in CHARTS}
    for _ in range(COLD_RUNS):
        if chart_cache is not None:
            chart_cache.clear()  # the file cache in the throwaway folder (REDIS_URL emptied above)
        for name, url in zip(CHARTS, page()):
            started = time.perf_counter()
            get(url)
            cold[name].append(time.perf_counter() - started)

    urls = page()
    etags = [get(url).get("ETag") for url in urls]  # warm: each chart drawn and kept
    plain = [reverse("admin:dashboard_chart", args=[name]) for name in CHARTS]
    with_charts, alone, revalidated, unversioned = [], [], [], []
    for _ in range(RUNS):  # interleaved
        started = time.perf_counter()
        for url in page():
            get(url)
        with_charts.append(time.perf_counter() - started)

        started = time.perf_counter()
        page()
        alone.append(time.perf_counter() - started)

        if all(etags):
            started = time.perf_counter()
            for url, etag in zip(page(), etags):
                get(url, if_none_match=etag)
            revalidated.append(time.perf_counter() - started)

        if detail:
            started = time.perf_counter()
            page()
            for url in plain:
                get(url)
            unversioned.append(time.perf_counter() - started)

    ratio = statistics.median(with_charts) / statistics.median(alone)
    print(f"dashboard_charts: {ratio:.2f} x (dashboard with its 3 charts vs without, warm cache, "
          f"{_ms(with_charts):.0f} ms vs {_ms(alone):.0f} ms; goal <= {GOAL:g})" + (" MISSES GOAL" if ratio > GOAL else ""))
    if detail:
        for name in CHARTS:
            print(f"  cold {name}: {_ms(cold[name]):.0f} ms (first request after a change: draw, median of {COLD_RUNS})")
        print(f"  dashboard + 3 charts asked without a version (data read, copy from the cache): "
              f"{_ms(unversioned):.0f} ms ({statistics.median(unversioned) / statistics.median(alone):.2f} x)")
        if revalidated:
            print(f"  dashboard + 3 charts revalidated (If-None-Match, 304): {_ms(revalidated):.0f} ms "
                  f"({statistics.median(revalidated) / statistics.median(alone):.2f} x)")
        else:
            print("  the charts send no ETag: no revalidation measured")


if __name__ == "__main__":
    main()
