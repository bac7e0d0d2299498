"""Command start-up: `manage.py vrp_erp_monitor --help` against a bare `python -c "import django"`.

Every command pays dspops's start-up before doing anything: settings, django.setup() (all
models, every admin module through the admin's autodiscover, the system-check registrations)
and the command's own module. The goal is a ratio of at most 3 to a bare `import django`.

Also reported, for scale: Django's own floor, the same `--help` of a command under a
settings module with only django.contrib.contenttypes installed. dspops cannot start faster
than that, so a floor near or above 3 means the goal sits below what Django itself costs.

And it checks with `python -X importtime` that none of pandas, numpy, matplotlib, ib_insync
(nor exchange_calendars) is imported at start-up: those load only when a command needs them.

    python bench/bench_startup.py

Subprocesses run the same interpreter, interleaved, median of RUNS each, after WARMUP
unmeasured runs. Byte code goes to a throwaway PYTHONPYCACHEPREFIX (and
PYTHONDONTWRITEBYTECODE is dropped for the children), so the runs measure a warm start, not
compiling the sources, and the repository's __pycache__ folders are not touched. The
children use a throwaway DSPOPS_VAR_DIR, so the developer's database is never opened.

Prints exactly one line; exits 0 even when the goal is missed.
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
RUNS = 9
WARMUP = 2
GOAL = 3.0
HEAVY = ("pandas", "numpy", "matplotlib", "ib_insync", "exchange_calendars")

FLOOR_SETTINGS = """\
SECRET_KEY = "bench-only"
INSTALLED_APPS = ["django.contrib.contenttypes"]
DATABASES = {}
USE_TZ = True
"""

FLOOR_MANAGE = """\
import os
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "floor_settings")
from django.core.management import execute_from_command_line

execute_from_command_line(sys.argv)
"""


def _child_env(scratch: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONDONTWRITEBYTECODE", "DJANGO_SETTINGS_MODULE"}}
    env.update(
        PYTHONPYCACHEPREFIX=str(scratch / "pycache"),
        DSPOPS_VAR_DIR=str(scratch / "var"),
        DSPOPS_DATA_DIR=str(scratch / "data"),
        DEBUG="True",  # settings refuse to start without SECRET_KEY when DEBUG is off
    )
    return env


def _run(argv: list[str], *, cwd: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"bench_startup: {' '.join(argv)} failed (exit {done.returncode}):\n{done.stderr}")
    return elapsed


def _heavy_imports(*, env: dict[str, str]) -> list[str]:
    """Top-level packages of HEAVY that `-X importtime` shows loading during the command's start-up."""
    done = subprocess.run(
        [PYTHON, "-X", "importtime", "manage.py", "vrp_erp_monitor", "--help"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    if done.returncode != 0:
        raise SystemExit(f"bench_startup: -X importtime run failed (exit {done.returncode}):\n{done.stderr}")
    loaded = {m.group(1).split(".")[0] for m in re.finditer(r"^import time:.*\|\s*(\S+)\s*$", done.stderr, re.M)}
    return [name for name in HEAVY if name in loaded]


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="dspops-bench-startup-") as tmp:
        scratch = Path(tmp)
        floor_dir = scratch / "floor"
        floor_dir.mkdir()
        (floor_dir / "floor_settings.py").write_text(FLOOR_SETTINGS)
        (floor_dir / "floor_manage.py").write_text(FLOOR_MANAGE)
        env = _child_env(scratch)
        cases = {
            "dspops": ([PYTHON, "manage.py", "vrp_erp_monitor", "--help"], ROOT),
            "django": ([PYTHON, "-c", "import django"], ROOT),
            "floor": ([PYTHON, "floor_manage.py", "check", "--help"], floor_dir),
        }
        times: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(WARMUP):
            for argv, cwd in cases.values():
                _run(argv, cwd=cwd, env=env)
        for _ in range(RUNS):
            for name, (argv, cwd) in cases.items():  # interleaved, so load drifts hit all three alike
                times[name].append(_run(argv, cwd=cwd, env=env))
        heavy = _heavy_imports(env=env)

    median = {name: statistics.median(values) for name, values in times.items()}
    ratio = median["dspops"] / median["django"]
    floor = median["floor"] / median["django"]
    imports = (f"no {'/'.join(HEAVY[:4])}/exchange_calendars at start-up" if not heavy
               else f"IMPORTED AT START-UP: {', '.join(heavy)}")
    missed = ratio > GOAL or bool(heavy)
    print(
        f"command_startup: {ratio:.2f} x (manage.py vrp_erp_monitor --help {median['dspops'] * 1000:.0f} ms vs "
        f'python -c "import django" {median["django"] * 1000:.0f} ms; Django\'s own floor, contenttypes-only '
        f"check --help: {floor:.2f} x; {imports}; goal <= {GOAL:g})" + (" MISSES GOAL" if missed else "")
    )


if __name__ == "__main__":
    main()
