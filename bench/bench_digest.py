"""Digest build: 10 years of daily history and about 25,000 fills against 1 month, side by side in one run.

The daily digest reads the latest stored rows (monitor runs and logs, the vol-target state,
closes, positions from fills, alerts, the roll calendar), so its cost should not grow with
the history behind them. Two throwaway databases are built from the same generator, one with
the last ~2,520 NYSE sessions and one with the last 21 (the same last month, row for row):
per session one VRP-ERP and one VRP-CS MonitorRun with its log row, a VolTargetState and
SPY/VIX/VVIX closes; a DM plan per month; 25,000 fills spread over the period (the 1-month
database holds the ones of its month); a few alerts.

Measured: ``generate_digest(trading_date=<last session>, write_file=False)``, i.e. evaluating
the alert rules, building the snapshot, rendering the markdown and storing the digest, run
interleaved on both databases, median of RUNS each after a warm-up. The SQL queries of one
digest are counted on each database with CaptureQueriesContext: they must be equal.

    python bench/bench_digest.py

Goal: ratio <= 1.3 and equal query counts. Prints exactly one line; exits 0 even when missed.
"""

from __future__ import annotations

import random
import statistics
import sys
import time
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _throwaway import clone_default, start_django, use  # noqa: E402

RUNS = 15
GOAL = 1.3
SESSIONS_10Y = 2520
SESSIONS_1M = 21
FILLS_10Y = 21_500  # 25,000 fills in all: each sixth one is a VXM round trip of two
NEW_YORK = ZoneInfo("America/New_York")
CENTS = Decimal("0.01")
STOCKS = (("VRP_ERP", "SPY"), ("DM", "EEM"), ("DM", "EFA"), ("DM", "GLD"), ("DM", "SHY"))


def _at(session: date, hour: int, minute: int, cap: datetime) -> datetime:
    # The last session may be today: nothing is stored later than "now".
    return min(datetime.combine(session, clock_time(hour, minute), tzinfo=NEW_YORK), cap)


def _money(value: float) -> Decimal:
    return Decimal(str(round(value, 2))).quantize(CENTS)


def populate(sessions: list[date], all_sessions: list[date], cap: datetime) -> None:
    """Store the history of ``sessions`` (a tail of ``all_sessions``); values depend only on the session."""
    from dspops.core.models import Alert, Severity
    from dspops.core.models import DataSource, Instrument, SecType
    from dspops.core import vx
    from dspops.core.instruments import vxm_instrument
    from sleeves.models import (
        Fill,
        FillSource,
        LogDataStatus,
        MonitorRun,
        PriceBar,
        RunKind,
        RunStatus,
        Side,
        Sleeve,
        VolTargetState,
        VrpCsLogEntry,
        VrpErpLogEntry,
    )

    sleeves = {s.code: s for s in Sleeve.objects.all()}
    instruments = {i.symbol: i for i in Instrument.objects.filter(sec_type__in=[SecType.STOCK, SecType.INDEX])}
    vxm: dict[vx.ContractMonth, Instrument] = {}

    def future(month: vx.ContractMonth) -> Instrument:
        if month not in vxm:
            vxm[month] = vxm_instrument(month)
        return vxm[month]

    bars, states, erp_runs, cs_runs, dm_runs, erp_logs, cs_logs = [], [], [], [], [], [], []
    first_of_month = {}
    for session in all_sessions:
        first_of_month.setdefault((session.year, session.month), session)
    for session in sessions:
        rng = random.Random(session.toordinal())
        vix = 13 + 4 * rng.random()
        spy = 400 + (session.toordinal() % 500) / 5
        for symbol, close in (("SPY", spy), ("VIX", vix), ("VVIX", 85 + 10 * rng.random())):
            bars.append(PriceBar(instrument=instruments[symbol], session=session, close=_money(close),
                                 source=DataSource.STORED))
        multiplier = Decimal(str(round(0.9 + 0.2 * rng.random(), 4)))
        states.append(VolTargetState(as_of_session=session, multiplier=multiplier,
                                     realized_vol=Decimal(str(round(0.08 + 0.04 * rng.random(), 6))),
                                     returns_used=21, source=DataSource.STORED, computed_at=_at(session, 9, 30, cap)))
        started = _at(session, 9, 35, cap)
        target = int(10_000 * multiplier / Decimal(str(spy)))
        drift = Decimal(str(round(2 * rng.random(), 4)))
        erp_runs.append(MonitorRun(
            kind=RunKind.VRP_ERP, sleeve=sleeves["VRP_ERP"], trading_date=session, started_at=started,
            finished_at=started, status=RunStatus.OK, triggered_by="task",
            inputs={"vix": f"{vix:.2f}", "spy_price": f"{spy:.2f}", "vol_multiplier": str(multiplier)},
            sources={"vix": {"source": "stored"}, "actual_shares": {"source": "fills"}},
            outputs={"regime": "calm", "target_shares": target, "actual_shares": target, "drift_pct": str(drift),
                     "rebalance": False, "reasons": []},
        ))
        erp_logs.append(dict(logged_at=started, trading_date=session, data_status=LogDataStatus.OK,
                             vix=_money(vix), spy_price=_money(spy), regime="calm", target_shares=target,
                             actual_shares=target, drift_pct=drift, rebalance_signal=False,
                             source=DataSource.STORED))
        front, second, _ = vx.front_contracts(session, roll_sessions=5)
        dates = vx.contract_dates(front, sessions_before=5)
        spread = _money(0.9 + 0.8 * rng.random())
        cs_runs.append(MonitorRun(
            kind=RunKind.VRP_CS, sleeve=sleeves["VRP_CS"], trading_date=session, started_at=started,
            finished_at=started, status=RunStatus.OK, triggered_by="task", inputs={"spread": str(spread)},
            sources={"vx1": {"source": "stored"}},
            outputs={"short_leg": front.local_symbol("VXM"), "long_leg": second.local_symbol("VXM"),
                     "settlement_date": dates.settlement_date.isoformat(), "roll_by": dates.roll_by.isoformat(),
                     "gate_state": "OPEN", "near_stop_loss": False, "near_take_profit": False, "reasons": []},
        ))
        cs_logs.append(dict(logged_at=started, trading_date=session, data_status=LogDataStatus.OK,
                            vix=_money(vix), vx1=_money(17 + rng.random()), vx2=_money(18.5 + rng.random()),
                            spread=spread, entry_spread=Decimal("1.10"), quantity=1,
                            pnl_usd=(spread - Decimal("1.10")) * 100, gate_state="OPEN", gate_score=Decimal("0.5"),
                            roll_by=dates.roll_by, stop_loss_level=Decimal("0.55"),
                            take_profit_level=Decimal("2.20"), stop_loss_hit=False, take_profit_hit=False,
                            source=DataSource.STORED))
        if first_of_month[(session.year, session.month)] == session:
            dm_runs.append(MonitorRun(
                kind=RunKind.DM_PLAN, sleeve=sleeves["DM"], trading_date=session, started_at=started,
                finished_at=started, status=RunStatus.OK, triggered_by="task",
                inputs={"vol_multiplier": str(multiplier)},
                outputs={"weights": {"EEM": "0.3", "EFA": "0.3", "GLD": "0.2", "SHY": "0.2"}},
            ))
    PriceBar.objects.bulk_create(bars, batch_size=2000)
    VolTargetState.objects.bulk_create(states, batch_size=2000)
    MonitorRun.objects.bulk_create(erp_runs + cs_runs + dm_runs, batch_size=2000)
    VrpErpLogEntry.objects.bulk_create([VrpErpLogEntry(run=run, **row) for run, row in zip(erp_runs, erp_logs)],
                                       batch_size=2000)
    VrpCsLogEntry.objects.bulk_create([VrpCsLogEntry(run=run, **row) for run, row in zip(cs_runs, cs_logs)],
                                      batch_size=2000)

    # FILLS_10Y fills over the whole period; this database keeps those of its own sessions. Stocks
    # alternate buy 10 / sell 9; VXM fills are same-session round trips (flat), plus the open
    # spread entered on the last session.
    held = set(sessions)
    fills = []
    for j in range(FILLS_10Y):
        session = all_sessions[j * len(all_sessions) // FILLS_10Y]
        if session not in held:
            continue
        executed_at = _at(session, 10, j % 50, cap)
        kind = j % 6
        if kind < 5:
            sleeve_code, symbol = STOCKS[kind]
            buy = (j // 6) % 2 == 0
            fills.append(Fill(sleeve=sleeves[sleeve_code], instrument=instruments[symbol],
                              side=Side.BUY if buy else Side.SELL, quantity=Decimal(10 if buy else 9),
                              price=_money(50 + (j % 97)), commission=Decimal("1.00"), executed_at=executed_at,
                              exec_id=f"BENCH-{j}", order_ref=f"{sleeve_code.lower()}-bench", source=FillSource.FLEX))
        else:
            front = future(vx.front_contracts(session, roll_sessions=5)[0])
            for leg, side in ((0, Side.SELL), (1, Side.BUY)):
                fills.append(Fill(sleeve=sleeves["VRP_CS"], instrument=front, side=side, quantity=Decimal(1),
                                  price=_money(17 + (j % 7) / 10), commission=Decimal("1.00"),
                                  executed_at=executed_at + timedelta(seconds=leg), exec_id=f"BENCH-{j}-{leg}",
                                  order_ref="vrp-cs-bench", source=FillSource.FLEX))
    last = sessions[-1]
    front, second, _ = vx.front_contracts(last, roll_sessions=5)
    for month, side, price in ((front, Side.SELL, "17.45"), (second, Side.BUY, "18.55")):
        fills.append(Fill(sleeve=sleeves["VRP_CS"], instrument=future(month), side=side, quantity=Decimal(1),
                          price=Decimal(price), commission=Decimal("1.00"), executed_at=_at(last, 11, 0, cap),
                          exec_id=f"BENCH-open-{month.label}", order_ref="vrp-cs-bench", source=FillSource.FLEX))
    Fill.objects.bulk_create(fills, batch_size=2000)

    # A few alerts: one resolved every 60 sessions, and two open ones no rule of the digest resolves.
    alerts = []
    offset = len(all_sessions) - len(sessions)
    for i, session in enumerate(sessions):
        if (offset + i) % 60 == 0:
            seen = _at(session, 9, 40, cap)
            alerts.append(Alert(severity=Severity.WARNING, code="data_stale", subject=f"VIX {i}",
                                message="bench: VIX close missing", first_seen_at=seen, last_seen_at=seen,
                                resolved_at=seen + timedelta(hours=1)))
    seen = _at(last, 9, 40, cap)
    for code in ("reconcile_break", "orphan_leg"):
        alerts.append(Alert(severity=Severity.WARNING, code=code, subject="bench", message=f"bench: open {code}",
                            first_seen_at=seen, last_seen_at=seen))
    Alert.objects.bulk_create(alerts)


def main() -> None:
    start_django("digest")

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from digests.services import generate_digest
    from dspops.core import calendars, clock

    last = clock.current_session()
    all_sessions = calendars.sessions_in_range(last - timedelta(days=int(SESSIONS_10Y * 1.46)), last)[-SESSIONS_10Y:]
    cap = clock.now() - timedelta(minutes=5)
    databases = {"10y": clone_default("10y"), "1m": clone_default("1m")}
    for label, wrapper in databases.items():
        use(wrapper)
        populate(all_sessions if label == "10y" else all_sessions[-SESSIONS_1M:], all_sessions, cap)

    def digest() -> None:
        generate_digest(trading_date=last, write_file=False, triggered_by="bench")

    from sleeves.models import Fill

    queries: dict[str, int] = {}
    fills: dict[str, int] = {}
    for label, wrapper in databases.items():
        use(wrapper)
        fills[label] = Fill.objects.count()
        digest()  # warm-up: the first digest opens its alerts; later ones refresh them
        with CaptureQueriesContext(connection) as captured:
            digest()
        queries[label] = len(captured.captured_queries)

    times: dict[str, list[float]] = {label: [] for label in databases}
    for _ in range(RUNS):
        for label, wrapper in databases.items():  # interleaved
            use(wrapper)
            started = time.perf_counter()
            digest()
            times[label].append(time.perf_counter() - started)

    ratio = statistics.median(times["10y"]) / statistics.median(times["1m"])
    missed = ratio > GOAL or queries["10y"] != queries["1m"]
    print(
        f"digest_build: {ratio:.2f} x (10 years and {fills['10y']:,} fills vs 1 month and {fills['1m']}, "
        f"{statistics.median(times['10y']) * 1000:.0f} ms "
        f"vs {statistics.median(times['1m']) * 1000:.0f} ms; queries 10y={queries['10y']} 1m={queries['1m']}; "
        f"goal <= {GOAL:g} and equal queries)" + (" MISSES GOAL" if missed else "")
    )


if __name__ == "__main__":
    main()
