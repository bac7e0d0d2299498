"""`manage.py tws_sim` in another process, and the unmodified ib_insync client connecting to it."""

from __future__ import annotations

import asyncio
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from ib_insync import IB, Contract

from .conftest import free_port

REPO = Path(__file__).resolve().parents[2]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("DEBUG", "True")
    env["PYTHONUNBUFFERED"] = "1"
    env["DJANGO_SETTINGS_MODULE"] = "dspops.settings"
    return env


@pytest.fixture
def tws_sim_process():
    procs: list[subprocess.Popen] = []

    def start(*args: str) -> tuple[subprocess.Popen, queue.Queue]:
        proc = subprocess.Popen(
            [sys.executable, "manage.py", "tws_sim", *args],
            cwd=REPO, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        procs.append(proc)
        lines: queue.Queue = queue.Queue()
        threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()
        return proc, lines

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def wait_for(lines: queue.Queue, text: str, timeout: float = 30) -> list[str]:
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.2)
        except queue.Empty:
            continue
        seen.append(line)
        if text in line:
            return seen
    raise AssertionError(f"{text!r} not printed within {timeout}s; got:\n{''.join(seen)}")


def test_unmodified_ib_insync_in_this_process_talks_to_tws_sim_in_another(tws_sim_process):
    port = free_port()
    proc, lines = tws_sim_process("--port", str(port), "--scenario", "calm_contango")
    banner = "".join(wait_for(lines, f"listening on 127.0.0.1:{port}"))
    assert "SIMULATED DATA" in banner and "scenario calm_contango" in banner and "account SIM0100001" in banner

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    ib = IB()
    try:
        ib.connect("127.0.0.1", port, clientId=77, timeout=10, readonly=True)
        assert ib.managedAccounts() == ["SIM0100001"]
        positions = {p.contract.localSymbol: p.position for p in ib.positions()}
        assert positions["SPY"] == 13 and len(positions) == 7
        assert sorted(v for k, v in positions.items() if k.startswith("VXM")) == [-1, 1]
        values = {v.tag: v.value for v in ib.accountValues()}
        assert float(values["NetLiquidation"]) == 105000 and float(values["ExcessLiquidity"]) == 60000
        spy, vix = ib.qualifyContracts(
            Contract(secType="STK", symbol="SPY", exchange="SMART", currency="USD"),
            Contract(secType="IND", symbol="VIX", exchange="CBOE", currency="USD"),
        )
        tickers = ib.reqTickers(spy, vix)
        assert (tickers[0].bid, tickers[0].ask) == (664.18, 664.20)
        assert tickers[1].last == 16.12
    finally:
        ib.disconnect()
        loop.run_until_complete(asyncio.sleep(0))
        loop.close()
        asyncio.set_event_loop(None)

    wait_for(lines, "client 77", timeout=10)  # it printed what it served
    proc.send_signal(signal.SIGINT)  # Ctrl-C
    assert proc.wait(15) == 0


def test_tws_sim_refuses_a_non_loopback_host_with_a_nonzero_exit():
    result = subprocess.run(
        [sys.executable, "manage.py", "tws_sim", "--host", "0.0.0.0", "--port", "0"],
        cwd=REPO, env=_env(), capture_output=True, text=True, timeout=60,
    )
    assert result.returncode != 0
    assert "loopback only" in result.stderr


def test_tws_sim_command_errors_in_process():
    with pytest.raises(CommandError, match="loopback"):
        call_command("tws_sim", host="192.168.0.5", port=0)
    with pytest.raises(CommandError, match="no scenario named"):
        call_command("tws_sim", scenario="no_such_scenario", port=0)
