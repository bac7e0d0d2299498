"""Fast command start-up (issue 14): every dspops command skips Django's system checks; `check` and `migrate` keep
them.

The checks import the URLconf (the admin site, the dashboard, every view) and validate every model and ModelAdmin
before a command runs: most of a monitor's start-up, for nothing the monitor needs. dspops commands derive from the
kernel's OperationalCommand, which turns them off; this walks every command module on disk, so a new command that
forgets the base class fails here.
"""

from pathlib import Path

import pytest
from django.conf import settings
from django.core import checks
from django.core.management import call_command, get_commands, load_command_class
from django.core.management.base import ALL_CHECKS, BaseCommand

from dspops.core.commands import OperationalCommand

# The apps whose commands are dspops's, by app name (the site app is "dspops"), and the folder of each.
DSPOPS_APPS = {"sleeves": "sleeves", "rolls": "rolls", "dspops": "dspops", "digests": "digests",
               "dspops.core": "dspops/core"}


def dspops_commands() -> list[tuple[str, str]]:
    """(app name, command name) of every command module under a dspops app's management/commands/."""
    found = []
    for app, folder in DSPOPS_APPS.items():
        commands = Path(settings.BASE_DIR) / folder / "management" / "commands"
        if commands.is_dir():
            found += [(app, module.stem) for module in sorted(commands.glob("*.py")) if not module.stem.startswith("_")]
    return found


def test_the_walk_finds_the_commands_django_finds():
    on_disk = {name for _, name in dspops_commands()}
    registered = {name for name, app in get_commands().items() if app in DSPOPS_APPS}
    assert on_disk == registered
    assert {"vrp_erp_monitor", "vrp_cs_monitor", "roll_check", "bootstrap", "tws_sim"} <= on_disk


@pytest.mark.parametrize(("app", "name"), dspops_commands(), ids=lambda value: value)
def test_every_dspops_command_skips_the_system_checks(app, name):
    command = load_command_class(app, name)
    assert isinstance(command, OperationalCommand), f"{app}: {name} must derive from dspops.core.commands"
    assert command.requires_system_checks == []


@pytest.fixture
def checks_run(monkeypatch):
    """Counts the runs of the system-check framework (each command calls django.core.checks.run_checks)."""
    runs = []
    real = checks.run_checks

    def counting(*args, **kwargs):
        runs.append(kwargs.get("tags"))
        return real(*args, **kwargs)

    monkeypatch.setattr(checks, "run_checks", counting)
    return runs


def test_a_monitor_run_from_the_command_line_runs_no_check(booted, checks_run, capsys):
    # run_from_argv is manage.py's path (call_command would skip the checks whatever the command says).
    command = load_command_class("sleeves", "vrp_cs_monitor")
    with pytest.raises(SystemExit):  # no position config after bootstrap: data unavailable, exit 3
        command.run_from_argv(["manage.py", "vrp_cs_monitor", "--vix", "16", "--vvix", "90", "--vx1", "17.5",
                               "--vx2", "18.6", "--no-log", "--json"])
    assert '"sleeve": "VRP_CS"' in capsys.readouterr().out  # it ran
    assert checks_run == []


def test_check_still_runs_the_system_checks(checks_run, capsys):
    call_command("check")
    assert len(checks_run) == 1
    assert "no issues" in capsys.readouterr().out


@pytest.mark.django_db
def test_migrate_still_runs_the_system_checks(checks_run):
    assert load_command_class("django.core", "migrate").requires_system_checks == ALL_CHECKS
    call_command("migrate", verbosity=0, skip_checks=False)
    assert len(checks_run) == 1


def test_django_commands_are_not_ours():
    """The base class is dspops's own: Django's commands keep their own rule."""
    assert not issubclass(load_command_class("django.core", "check").__class__, OperationalCommand)
    assert issubclass(OperationalCommand, BaseCommand)


@pytest.mark.parametrize("as_program", [True, False])
def test_a_command_run_as_the_program_skips_the_last_collection(as_program, monkeypatch, capsys):
    """manage.py <command>: when it finishes, everything is moved out of the collector's reach (gc.freeze), so the
    interpreter's exit does not walk django.setup()'s objects; a command called inside another process is left
    alone."""
    import gc
    import sys

    frozen = []
    monkeypatch.setattr(gc, "freeze", lambda: frozen.append(True))
    argv = ["manage.py", "vrp_erp_monitor", "--help"]
    monkeypatch.setattr(sys, "argv", list(argv) if as_program else ["pytest"])
    with pytest.raises(SystemExit):  # argparse's --help exits 0
        load_command_class("sleeves", "vrp_erp_monitor").run_from_argv(argv)
    assert "usage: manage.py vrp_erp_monitor" in capsys.readouterr().out
    assert frozen == ([True] if as_program else [])


HEAVY = ("pandas", "numpy", "exchange_calendars", "ib_insync", "matplotlib", "markdown", "apprise")


def test_a_command_starts_without_the_heavy_libraries(tmp_path):
    """`-X importtime` of `manage.py vrp_erp_monitor --help`: django.setup() (every model, admin and ready hook) and
    the command's module load none of the heavy libraries; each is imported where it is used."""
    import os
    import re
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env.update(DEBUG="True", DSPOPS_VAR_DIR=str(tmp_path / "var"), DSPOPS_DATA_DIR=str(tmp_path / "data"))
    done = subprocess.run([sys.executable, "-X", "importtime", "manage.py", "vrp_erp_monitor", "--help"],
                          cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    loaded = {m.group(1).split(".")[0] for m in re.finditer(r"^import time:.*\|\s*(\S+)\s*$", done.stderr, re.M)}
    assert not loaded & set(HEAVY), f"imported at start-up: {sorted(loaded & set(HEAVY))}"
    assert "Read VIX and SPY" in done.stdout or "usage: manage.py vrp_erp_monitor" in done.stdout
