"""A live VRP-CS monitor run against the least ib_insync script that does the same broker work.

`manage.py vrp_cs_monitor --live --json` (a whole run: start-up, one connection to the broker, positions,
quotes for both VXM legs and VIX / VVIX, the verdict, stored) is timed against bench/minimal_ib_script.py, which
connects, qualifies the same four contracts, reads the positions, takes one snapshot of their quotes and
disconnects: what the hand-run legacy script did. Both talk to the same TWS simulator (`manage.py tws_sim`,
scenario calm_contango) over TCP. Issue 14's goal: at most 1.3 times the script.

The control, printed beside the ratio: the same script run after dspops's django.setup() (settings, every app's
models and admin), which any Django command pays before its first line. When the monitor takes no longer than
that, what separates it from the script is Django's start-up, not the monitor's work.

    python bench/bench_live_monitor.py

The database is a throwaway one (bench/_throwaway.py: migrated and bootstrapped in a temporary folder), with the
VRP-CS position config the scenario holds (-1 front / +1 second VXM of today's book), so the run checks a
matching holding and exits 0. Both commands run as subprocesses of the same interpreter, interleaved, median of
RUNS each, after WARMUP unmeasured runs (which also check that both did the work: the monitor's verdict is OK
on simulated data, the script printed four quotes). Byte code goes to a throwaway PYTHONPYCACHEPREFIX, so the
runs measure a warm start; the trading calendars are read from the folder's cache the bootstrap wrote, as on
an installation after its first run.

Prints exactly one line; exits 0 even when the goal is missed.
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _throwaway  # noqa: E402

ROOT = _throwaway.ROOT
PYTHON = sys.executable
RUNS = 9
WARMUP = 2
GOAL = 1.3
SCENARIO = "calm_contango"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(port: int, process: subprocess.Popen, log: Path, *, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"bench_live_monitor: the simulator exited ({process.returncode}):\n{log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"bench_live_monitor: the simulator did not listen on port {port} within {within:g} s")


def spread_config() -> tuple[str, str]:
    """The active position config the scenario's book holds; the legs' local symbols."""
    from dspops.core import calendars, clock, vx
    from dspops.core.instruments import vxm_instrument
    from sleeves.models import Sleeve, SpreadPosition

    session = calendars.session_on_or_before(clock.trading_date(), exchange=calendars.CFE)
    front, second, _ = vx.front_contracts(session)  # what the simulator calls "front" and "second" today
    dates = vx.contract_dates(front)
    SpreadPosition.objects.create(
        sleeve=Sleeve.objects.get(code="VRP_CS"), short_leg=vxm_instrument(front), long_leg=vxm_instrument(second),
        quantity=1, short_entry_price=Decimal("17.45"), long_entry_price=Decimal("18.10"), entry_date=session,
        entry_spread=Decimal("0.65"), stop_loss_spread=Decimal("0.32"), take_profit_spread=Decimal("1.30"),
        settlement_date=dates.settlement_date, roll_by=dates.roll_by)
    return front.local_symbol(), second.local_symbol()


def run(argv: list[str], *, env: dict[str, str], check) -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    problem = check(done)
    if problem:
        raise SystemExit(f"bench_live_monitor: {' '.join(argv[1:])}: {problem} (exit {done.returncode}):\n"
                         f"{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return elapsed


def monitor_ok(done: subprocess.CompletedProcess) -> str:
    if done.returncode != 0:
        return "the monitor failed"
    payload = json.loads(done.stdout)
    if payload.get("status") != "OK" or payload.get("simulated") is not True or payload.get("vx1") is None:
        return f"the monitor did not read the simulator: {payload.get('status')} {payload.get('reasons')}"
    return ""


def script_ok(done: subprocess.CompletedProcess) -> str:
    if done.returncode != 0:
        return "the script failed"
    quotes = json.loads(done.stdout)["quotes"]
    return "" if len(quotes) == 4 and all(q["last"] for q in quotes.values()) else f"quotes missing: {quotes}"


SCRIPT_AFTER_SETUP = (
    "import os, runpy, sys, django; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'dspops.settings'); "
    "django.setup(); sys.argv = ['minimal_ib_script.py'] + sys.argv[1:]; "
    "runpy.run_path('bench/minimal_ib_script.py', run_name='__main__')"
)


def main() -> None:
    folder = _throwaway.start_django("live-monitor")
    legs = spread_config()
    from django.db import connections

    connections.close_all()  # the children write to this database

    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(PYTHONPYCACHEPREFIX=str(folder / "pycache"), IB_HOST="127.0.0.1", IB_PORT=str(port))
    log = folder / "simulator.log"  # a file, not a pipe nobody reads while the runs go on
    with log.open("w") as sink:
        simulator = subprocess.Popen(
            [PYTHON, "manage.py", "tws_sim", "--host", "127.0.0.1", "--port", str(port), "--scenario", SCENARIO],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=sink,
        )
    try:
        wait_for(port, simulator, log)
        cases = {
            "monitor": ([PYTHON, "manage.py", "vrp_cs_monitor", "--live", "--json"], monitor_ok),
            "script": ([PYTHON, "bench/minimal_ib_script.py", "--port", str(port), "--legs", *legs], script_ok),
            # The control: the same script after dspops's django.setup(), which every command pays first.
            "script_after_setup": ([PYTHON, "-c", SCRIPT_AFTER_SETUP, "--port", str(port), "--legs", *legs], script_ok),
        }
        times: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(WARMUP):
            for argv, check in cases.values():
                run(argv, env=env, check=check)
        for _ in range(RUNS):
            for name, (argv, check) in cases.items():  # interleaved, so load drifts hit both alike
                times[name].append(run(argv, env=env, check=check))
    finally:
        simulator.terminate()
        try:
            simulator.wait(timeout=10)
        except subprocess.TimeoutExpired:
            simulator.kill()
            simulator.wait()

    median = {name: statistics.median(values) for name, values in times.items()}
    ratio = median["monitor"] / median["script"]
    print(
        f"live_monitor: {ratio:.2f} x (manage.py vrp_cs_monitor --live --json {median['monitor'] * 1000:.0f} ms vs "
        f"a minimal ib_insync script doing the same broker work {median['script'] * 1000:.0f} ms: connect, qualify "
        f"{legs[0]}/{legs[1]}/VIX/VVIX, positions, one snapshot, disconnect; the same script after dspops's "
        f"django.setup(): {median['script_after_setup'] * 1000:.0f} ms ({median['script_after_setup'] / median['script']:.2f} x); "
        f"TWS simulator {SCENARIO}; median of {RUNS}; goal <= {GOAL:g})" + (" MISSES GOAL" if ratio > GOAL else "")
    )


if __name__ == "__main__":
    main()
