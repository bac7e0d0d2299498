"""Command start-up: `manage.py vrp_erp_monitor --help` against Django's own `check --help` in a bare project.

Every command pays dspops's start-up before doing anything: settings, django.setup() (all
models, every admin module through the admin's autodiscover) and the command's own module.
The yardstick is what Django itself costs: the same `--help` of a command in a bare project
whose settings install only django.contrib.contenttypes (built here in a temporary folder).
Issue 14's goal: at most 1.3 times that. Beside it, the same `check --help` under dspops's own settings
with every dspops app taken out: what Django's admin, auth, sessions, simple_history, django-q2, axes
and csp cost before any dspops code runs, the floor for dspops's commands as long as it installs them.

The line also says whether `python -X importtime` saw any of pandas, numpy, matplotlib,
ib_insync or exchange_calendars load during the command's start-up: those load only when a
command needs them, never for --help.

    python bench/bench_startup.py

Subprocesses run the same interpreter, interleaved (dspops, bare, dspops, ...), median of RUNS
each, after WARMUP unmeasured runs. Byte code goes to a throwaway PYTHONPYCACHEPREFIX (and
PYTHONDONTWRITEBYTECODE is dropped for the children), so the runs measure a warm start, not
compiling the sources, and the repository's __pycache__ folders are not touched. The children
use a throwaway DSPOPS_VAR_DIR, so the developer's database is never opened.

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
RUNS = 11
WARMUP = 2
GOAL = 1.3
HEAVY = ("pandas", "numpy", "matplotlib", "ib_insync", "exchange_calendars")

BARE_SETTINGS = """\
SECRET_KEY = "bench-only"
INSTALLED_APPS = ["django.contrib.contenttypes"]
DATABASES = {}
USE_TZ = True
"""

BARE_MANAGE = """\
import os
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bare_settings")
from django.core.management import execute_from_command_line

execute_from_command_line(sys.argv)
"""


def child_env(scratch: Path) -> dict[str, str]:
    """The children's environment: warm byte code in `scratch`, a throwaway var/ and data/, development settings."""
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONDONTWRITEBYTECODE", "DJANGO_SETTINGS_MODULE"}}
    env.update(
        PYTHONPYCACHEPREFIX=str(scratch / "pycache"),
        DSPOPS_VAR_DIR=str(scratch / "var"),
        DSPOPS_DATA_DIR=str(scratch / "data"),
        DEBUG="True",  # settings refuse to start without SECRET_KEY when DEBUG is off
    )
    return env


# dspops's own settings with every dspops app taken out (the admin stays, as Django's): what the third-party apps
# dspops installs cost before any dspops code runs.
THIRD_PARTY_SETTINGS = """\
from dspops.settings import *  # noqa: F403

OURS = ("dspops", "sleeves", "rolls", "digests")
INSTALLED_APPS = ["django.contrib.admin"] + [a for a in INSTALLED_APPS if a.split(".")[0] not in OURS]  # noqa: F405
MIDDLEWARE = [m for m in MIDDLEWARE if m.split(".")[0] not in OURS]  # noqa: F405
"""


def bare_project(scratch: Path) -> Path:
    """A Django project with only contenttypes installed: Django's own start-up floor. Beside it, the settings of
    the third-party control (third_party_settings)."""
    folder = scratch / "bare"
    folder.mkdir()
    (folder / "bare_settings.py").write_text(BARE_SETTINGS)
    (folder / "bare_manage.py").write_text(BARE_MANAGE)
    (folder / "third_party_settings.py").write_text(THIRD_PARTY_SETTINGS)
    return folder


def run(argv: list[str], *, cwd: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"bench_startup: {' '.join(argv)} failed (exit {done.returncode}):\n{done.stderr}")
    return elapsed


def heavy_imports(*, env: dict[str, str]) -> list[str]:
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
        bare = bare_project(scratch)
        env = child_env(scratch)
        env["PYTHONPATH"] = os.pathsep.join([str(bare), str(ROOT)])  # the control settings import dspops.settings
        cases = {
            "dspops": ([PYTHON, "manage.py", "vrp_erp_monitor", "--help"], ROOT),
            "bare": ([PYTHON, "bare_manage.py", "check", "--help"], bare),
            "third_party": ([PYTHON, "bare_manage.py", "check", "--help", "--settings", "third_party_settings"], bare),
        }
        times: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(WARMUP):
            for argv, cwd in cases.values():
                run(argv, cwd=cwd, env=env)
        for _ in range(RUNS):
            for name, (argv, cwd) in cases.items():  # interleaved, so load drifts hit both alike
                times[name].append(run(argv, cwd=cwd, env=env))
        heavy = heavy_imports(env=env)

    median = {name: statistics.median(values) for name, values in times.items()}
    ratio = median["dspops"] / median["bare"]
    imports = (f"no {'/'.join(HEAVY)} at start-up" if not heavy else f"IMPORTED AT START-UP: {', '.join(heavy)}")
    missed = ratio > GOAL or bool(heavy)
    print(
        f"command_startup: {ratio:.2f} x (manage.py vrp_erp_monitor --help {median['dspops'] * 1000:.0f} ms vs "
        f"check --help of a bare Django project, contenttypes only, {median['bare'] * 1000:.0f} ms; the same bare "
        f"command with dspops's settings and third-party apps but no dspops app: "
        f"{median['third_party'] / median['bare']:.2f} x ({median['third_party'] * 1000:.0f} ms); {imports}; "
        f"median of {RUNS}; goal <= {GOAL:g})" + (" MISSES GOAL" if missed else "")
    )


if __name__ == "__main__":
    main()
