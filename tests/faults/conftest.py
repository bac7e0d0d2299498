"""Fixtures for the fault tests: the running book as of today, and a census of every stored row.

The book is built relative to today's New York date, exactly as the simulator resolves its
relative contracts (front, second, third = dspops.core.vx.front_contracts(today)), so a scenario's
"front" is always the position config's short leg.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import quote

import pytest
import yaml
from django.apps import apps
from django.db import connection

from dspops.core import clock
from dspops.simulator.scenario import SCENARIO_DIR
from dspops.core.models import Instrument
from dspops.core import vx
from sleeves.models import SpreadPosition
from dspops.core.instruments import vxm_instrument
from sleeves.models import SignalState, Sleeve, VolTargetState

D = Decimal
STORED_APPS = ("dspops", "sleeves", "rolls", "digests")


def row_counts() -> dict[str, int]:
    """Rows per model (history tables included) of every dspops app: the census a fault must not change."""
    return {
        model._meta.label: model._default_manager.count()
        for label in STORED_APPS
        for model in apps.get_app_config(label).get_models()
    }


def changed_counts(before: dict[str, int]) -> dict[str, tuple[int, int]]:
    after = row_counts()
    return {label: (before[label], after[label]) for label in after if after[label] != before.get(label)}


def closed_port() -> int:
    """A loopback TCP port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scenario_without(tmp_path: Path, base: str, *, account_values: tuple[str, ...] = ()) -> str:
    """A copy of a shipped scenario with some account values left out (the broker "did not send" them).

    Overrides can only add or replace keys, so a missing tag needs its own YAML file.
    """
    raw = yaml.safe_load((SCENARIO_DIR / f"{base}.yaml").read_text(encoding="utf-8"))
    for tag in account_values:
        del raw["account_values"][tag]
    raw["name"] = f"{base}_without_{'_'.join(account_values)}"
    path = tmp_path / f"{raw['name']}.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return str(path)


@dataclass(frozen=True)
class Book:
    """The running VRP-CS book: -1 front / +1 second; the roll adds the third month."""

    position: SpreadPosition
    front: Instrument
    second: Instrument
    third: Instrument


@pytest.fixture
def book(booted) -> Book:
    """-1 front / +1 second VXM (as the simulator's calm_contango holds), gate OPEN today, vol state today."""
    session = clock.current_session()
    months = vx.front_contracts(clock.trading_date())
    front, second, third = (vxm_instrument(cm) for cm in months)
    sleeve = Sleeve.objects.get(code="VRP_CS")
    dates = vx.contract_dates(months[0])
    position = SpreadPosition.objects.create(
        sleeve=sleeve, short_leg=front, long_leg=second, quantity=1, short_entry_price=D("17.45"),
        long_entry_price=D("18.10"), entry_date=session - timedelta(days=20), entry_spread=D("0.65"),
        stop_loss_spread=D("0.32"), take_profit_spread=D("1.30"), settlement_date=dates.settlement_date,
        roll_by=dates.roll_by)
    SignalState.objects.create(sleeve=sleeve, name="gate", state="OPEN", since_session=session - timedelta(days=20),
                               last_session=session, source="simulated")
    VolTargetState.objects.create(as_of_session=session, multiplier=D("1.0000"), realized_vol=D("0.100000"),
                                  returns_used=21, source="stored", computed_at=clock.now())
    return Book(position, front, second, third)


def child_env() -> dict[str, str]:
    """The environment of a child process that opens this run's test database (SQLite or PostgreSQL).

    Both are named by DATABASE_URL: a sqlite:/// URL gets the same options as the default file.
    """
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env.setdefault("DEBUG", "True")
    db = connection.settings_dict
    if connection.vendor == "postgresql":
        credentials = quote(db["USER"] or "") + (f":{quote(db['PASSWORD'])}" if db["PASSWORD"] else "")
        env["DATABASE_URL"] = f"postgres://{credentials}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    else:
        env["DATABASE_URL"] = f"sqlite:///{Path(db['NAME']).resolve()}"
    return env


def race_two_children(command_for, tmp_path: Path, *, cwd=None) -> dict[str, tuple[str, str]]:
    """Start two child processes "a" and "b" (``command_for(name)``: the argv), wait until both have written
    ``tmp_path/ready-<name>`` (each has read the state it is about to act on), then touch ``tmp_path/go`` so
    they act at once. Returns each one's (stdout, stderr)."""
    import subprocess
    import time

    env = child_env()
    children = {name: subprocess.Popen(command_for(name), env=env, cwd=cwd, stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE, text=True)
                for name in ("a", "b")}
    deadline = time.monotonic() + 60
    while not all((tmp_path / f"ready-{name}").exists() for name in children):
        assert time.monotonic() < deadline and all(c.poll() is None for c in children.values()), \
            {name: c.communicate() for name, c in children.items() if c.poll() is not None}
        time.sleep(0.01)
    (tmp_path / "go").touch()
    return {name: c.communicate(timeout=60) for name, c in children.items()}
