"""Throwaway databases for the benchmarks: never the developer's var/, data/ or PostgreSQL.

``start_django(name)`` points DSPOPS_VAR_DIR and DSPOPS_DATA_DIR at a fresh temporary folder
*before* django.setup(), forces SQLite (an empty DATABASE_URL wins over the one in .env,
because .env only fills in what the environment does not set), migrates and bootstraps
quietly, and removes the folder when the process exits.

``clone_default(label)`` copies the bootstrapped database (SQLite backup API, so nothing in
the WAL is lost) into a second file and returns a connection to it under the ``default``
alias. ``use(wrapper)`` makes that connection the one every model manager and
``django.db.connection`` use, so one process can build and measure two databases side by
side without re-migrating.

Not a benchmark itself (the Makefile runs bench/bench_*.py only).
"""

from __future__ import annotations

import atexit
import copy
import os
import shutil
import sqlite3
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def start_django(name: str) -> Path:
    """Set up Django on a fresh, migrated and bootstrapped SQLite database; return its folder."""
    folder = Path(tempfile.mkdtemp(prefix=f"dspops-bench-{name}-"))
    os.environ["DJANGO_SETTINGS_MODULE"] = "dspops.settings"
    os.environ["DSPOPS_VAR_DIR"] = str(folder / "var")
    os.environ["DSPOPS_DATA_DIR"] = str(folder / "data")
    os.environ["DATABASE_URL"] = ""  # SQLite in the folder above, whatever .env says
    os.environ["DEBUG"] = "True"  # no SECRET_KEY needed, and no HTTPS redirects for the test client
    os.environ["LOG_LEVEL"] = "WARNING"
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))

    import django

    django.setup()

    from django.conf import settings
    from django.core.management import call_command

    from dspops.bootstrap import bootstrap

    # Critical alerts raised while measuring are emailed on commit: keep them in memory, off stderr.
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    call_command("migrate", verbosity=0, interactive=False)
    bootstrap(create_operator=False)
    atexit.register(_remove, folder)
    return folder


def _remove(folder: Path) -> None:
    from django.db import connections

    connections.close_all()
    shutil.rmtree(folder, ignore_errors=True)


def clone_default(label: str):
    """A connection wrapper (alias ``default``) to a copy of the current default SQLite database."""
    from django.db import connections

    current = connections["default"]
    source_path = Path(current.settings_dict["NAME"])
    target_path = source_path.with_name(f"{source_path.stem}-{label}.sqlite3")
    current.close()
    with sqlite3.connect(source_path) as source, sqlite3.connect(target_path) as target:
        source.backup(target)
    source.close()
    target.close()
    settings_dict = copy.deepcopy(current.settings_dict)
    settings_dict["NAME"] = target_path
    return current.__class__(settings_dict, alias="default")


def use(wrapper) -> None:
    """Make ``wrapper`` the ``default`` connection (what managers and django.db.connection use)."""
    from django.db import connections

    connections["default"] = wrapper
    wrapper.ensure_connection()
