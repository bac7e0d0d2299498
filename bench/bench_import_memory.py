"""Import memory: peak RSS of `manage.py import_prices` on a 50 MB prices file against a 1 MB one.

Issue 14 asks that imports stream: memory stays flat whatever the file size. The goal is a ratio of
at most 1.5 between the peak resident memory of a process importing a 50 MB prices file and one
importing a 1 MB file.

The files are valid (the ``date,symbol,close`` layout import_prices accepts): every bootstrapped
instrument that is not a future, on NYSE sessions from 2003 (where the loaded calendar starts) up
to the last one before today. A 1 MB file holds about 45,000 bars, more than half of all the bars
such a file can hold (twelve symbols times about 6,000 sessions), so the 50 MB file holds every
one of them with each close written with trailing zeros (``689.510000...``, which the importer
rounds to its six places) until it weighs 50 MB. It is a file the importer has to read every byte
of, not a file it can skip.

The 50 MB file is above the price file size limit, so it is measured twice: as the operator would
run it (refused: the line says so, and how fast), and with the limit raised for that one child
(``settings.PRICE_IMPORT_MAX_BYTES``) so the import reads and writes all of it. The ratio printed
is the second one, the memory of really importing 50 MB; the refused run's peak is in the
parentheses. (Before the setting existed, the raise did nothing and the file was refused: to
measure the code before issue 14, the child patched sleeves.price_import.PRICE_FILE instead.)

Each child imports into its own copy of a migrated, bootstrapped throwaway SQLite database
(bench/_throwaway.py), with DEBUG off (Django keeps every query in memory with it on). Its peak
RSS is its own ``ru_maxrss``, read in the child when the command has finished. Runs are
interleaved, median of RUNS each. The line also gives each peak above that of a child that only
starts the command (Django, the models, the command's module), which is most of the figure: the
import's own needs fit in what start-up freed, so RSS barely tells a streaming import from one
holding every bar. One more run of each file under tracemalloc gives the Python heap's peak during
the import itself, the figure that shows what the import holds.

    python bench/bench_import_memory.py

Prints exactly one line; exits 0 even when the goal is missed.
"""

from __future__ import annotations

import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _throwaway  # noqa: E402

ROOT = _throwaway.ROOT
PYTHON = sys.executable
RUNS = 3
GOAL = 1.5
MB = 1_000_000
SMALL = 1 * MB
LARGE = 50 * MB

# The child: one import_prices on its own database; prints its outcome and its own peak RSS (KiB on Linux).
CHILD = """
import os, resource, sys, time, tracemalloc
sys.path.insert(0, os.getcwd())
os.environ["DJANGO_SETTINGS_MODULE"] = "dspops.settings"
import django
django.setup()
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
if sys.argv[2]:
    settings.PRICE_IMPORT_MAX_BYTES = int(sys.argv[2])
if sys.argv[3]:
    tracemalloc.start()
started = time.perf_counter()
try:
    if sys.argv[1]:
        call_command("import_prices", sys.argv[1], stdout=open(os.devnull, "w"))
    else:  # the start-up alone: Django, the models and the command's module
        import sleeves.management.commands.import_prices
    outcome = "imported"
except CommandError as exc:
    outcome = "refused: " + str(exc).replace(chr(10), " ")[:300]
elapsed = time.perf_counter() - started
print(f"OUTCOME={outcome}")
print(f"SECONDS={elapsed:.3f}")
print(f"PEAK_KB={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}")
print(f"HEAP_KB={tracemalloc.get_traced_memory()[1] // 1024}")
"""


def sessions() -> list[date]:
    from dspops.core import calendars, clock

    last = calendars.previous_session(clock.trading_date())
    return calendars.sessions_in_range(date(2003, 1, 2), last)


def symbols() -> list[str]:
    from dspops.core.models import Instrument

    return sorted(set(Instrument.objects.exclude(sec_type="FUT").values_list("symbol", flat=True)))


def write_prices(path: Path, size: int, days: list[date], names: list[str]) -> int:
    """A ``date,symbol,close`` file of about ``size`` bytes; returns the bars it holds.

    Rows are written session by session for every symbol until the file reaches ``size``; when
    every bar is written and the file is still short, each close carries trailing zeros so the file
    reaches ``size`` with the same bars.
    """
    header = "date,symbol,close\n"
    plain = [f"{day.isoformat()},{name},{100 + (i % 500) * 0.25:.2f}\n"
             for i, day in enumerate(days) for name in names]
    plain_bytes = len(header) + sum(len(row) for row in plain)
    if plain_bytes >= size:
        rows, total = [], len(header)
        for row in plain:
            if total + len(row) > size:
                break
            rows.append(row)
            total += len(row)
        path.write_text(header + "".join(rows), encoding="utf-8")
        return len(rows)
    pad = (size - plain_bytes) // len(plain)
    extra = (size - plain_bytes) - pad * len(plain)
    with path.open("w", encoding="utf-8") as out:
        out.write(header)
        for i, row in enumerate(plain):
            zeros = pad + (1 if i < extra else 0)
            out.write(row[:-1] + "0" * zeros + "\n")
    return len(plain)


def database_copy(source: Path, folder: Path, label: str) -> Path:
    target = folder / f"run-{label}.sqlite3"
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    src.close()
    dst.close()
    return target


def run_child(path: Path | None, database: Path, limit: int | None, trace: bool = False) -> dict[str, str]:
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{database}", "DEBUG": "False",
           "SECRET_KEY": "bench-import-memory-only", "LOG_LEVEL": "WARNING"}
    arguments = [str(path or ""), str(limit or ""), "1" if trace else ""]
    done = subprocess.run([PYTHON, "-c", CHILD, *arguments], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=1800)
    values = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
    if "PEAK_KB" not in values:
        print(f"import_memory: a child failed (exit {done.returncode}): {done.stderr.strip()[-300:]!r} MISSES GOAL")
        raise SystemExit(0)
    database.unlink(missing_ok=True)
    return values


def main() -> None:
    folder = _throwaway.start_django("import-memory")
    from django.db import connections

    days, names = sessions(), symbols()
    source = Path(connections["default"].settings_dict["NAME"])
    connections.close_all()
    work = Path(tempfile.mkdtemp(prefix="files-", dir=folder))
    small, large = work / "prices-1mb.csv", work / "prices-50mb.csv"
    small_bars = write_prices(small, SMALL, days, names)
    large_bars = write_prices(large, LARGE, days, names)

    cases = {"start-up": (None, None), "small": (small, None), "refused": (large, None),
             "raised": (large, 10 * LARGE)}
    results: dict[str, list[dict[str, str]]] = {name: [] for name in cases}
    for run in range(RUNS):
        for name, (path, limit) in cases.items():
            results[name].append(run_child(path, database_copy(source, work, f"{name}-{run}"), limit))

    heap = {}  # MB of Python heap at its peak during the import, one traced run each
    for name in ("small", "raised"):
        path, limit = cases[name]
        traced = run_child(path, database_copy(source, work, f"{name}-heap"), limit, trace=True)
        heap[name] = float(traced["HEAP_KB"]) / 1024

    def median(name: str, key: str) -> float:
        return statistics.median(float(r[key]) for r in results[name])

    def outcome(name: str) -> str:
        return results[name][0]["OUTCOME"]

    base_mb = median("start-up", "PEAK_KB") / 1024
    small_mb = median("small", "PEAK_KB") / 1024
    refused_mb = median("refused", "PEAK_KB") / 1024
    raised_mb = median("raised", "PEAK_KB") / 1024
    for name in ("small", "raised"):
        if outcome(name) != "imported":
            print(f"import_memory: the {name} file was not imported ({outcome(name)}) MISSES GOAL")
            return
    ratio = raised_mb / small_mb
    if outcome("refused").startswith("refused"):
        as_run = (f"as run, the 50 MB file is refused by the size limit in {median('refused', 'SECONDS'):.2f} s at "
                  f"{refused_mb:.0f} MB")
    else:
        as_run = f"as run, the 50 MB file is imported (no size limit) at {refused_mb:.0f} MB"
    line = (f"import_memory: {ratio:.2f} x (peak RSS importing a 50 MB prices file vs a 1 MB one, "
            f"{raised_mb:.0f} MB vs {small_mb:.0f} MB, {raised_mb - base_mb:.1f} MB vs {small_mb - base_mb:.1f} MB "
            f"above the {base_mb:.0f} MB of starting the command, Python heap peak during the import "
            f"{heap['raised']:.1f} MB vs {heap['small']:.1f} MB, {large_bars:,} vs {small_bars:,} bars, the 50 MB "
            f"one with the limit raised, {median('raised', 'SECONDS'):.1f} s vs {median('small', 'SECONDS'):.1f} s; "
            f"{as_run}; goal <= {GOAL})")
    print(line + ("" if ratio <= GOAL else " MISSES GOAL"))


if __name__ == "__main__":
    main()
