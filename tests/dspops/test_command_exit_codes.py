"""Every command follows the README's exit codes (issue 15, item 8): a usage error, that is an option or a
combination of options that cannot be run, exits 2 with a message that says what is wrong, before anything
is read or written."""

import io
from datetime import datetime, timezone

import pytest
from django.core.management import CommandError, call_command, load_command_class

TUESDAY_EVENING = datetime(2026, 11, 24, 21, 30, tzinfo=timezone.utc)


def exit_code(name: str, *args) -> tuple[int, str]:
    try:
        call_command(name, *args, stdout=io.StringIO(), stderr=io.StringIO())
    except CommandError as exc:
        return exc.returncode, str(exc)
    return 0, ""


@pytest.fixture
def tuesday(monkeypatch):
    monkeypatch.setattr("dspops.core.clock.now", lambda: TUESDAY_EVENING)


@pytest.mark.django_db
def test_daily_digest_live_for_another_date_is_a_usage_error_before_the_broker_is_read(tuesday, settings):
    settings.IB_HOST, settings.IB_PORT, settings.IB_CONNECT_TIMEOUT = "127.0.0.1", 9, 1.0  # nothing listens
    code, message = exit_code("daily_digest", "--date", "2026-11-23", "--live", "--no-write")
    assert code == 2 and "drop --live" in message and "Cannot reach TWS" not in message


@pytest.mark.django_db
def test_daily_digest_live_on_a_day_that_is_not_a_session_is_a_usage_error(tuesday):
    code, message = exit_code("daily_digest", "--date", "2026-11-28", "--live", "--no-write")
    assert code == 2 and "is not an NYSE session" in message


@pytest.mark.parametrize("args, says", [
    (["--port", "70000"], "--port must be 0..65535"),
    (["--host", "8.8.8.8", "--port", "0"], "not a loopback address"),
    (["--scenario", "no_such_scenario", "--port", "0"], "no scenario named 'no_such_scenario'"),
])
def test_tws_sim_usage_errors_exit_2(args, says):
    code, message = exit_code("tws_sim", *args)
    assert code == 2 and says in message


def test_import_legacy_with_a_bad_utc_offset_exits_2(tmp_path):
    code, message = exit_code("import_legacy", str(tmp_path), "--utc-offset=zz")
    assert code == 2 and "expected a UTC offset" in message


def test_sync_fills_with_a_bad_since_is_an_argparse_usage_error_exit_2(capsys):
    """--since is checked while the options are parsed: from the command line that is argparse's usage
    message and exit 2 (before, a CommandError escaped the parser as a traceback with exit 1)."""
    command = load_command_class("sleeves", "sync_fills")
    command._called_from_command_line = True
    parser = command.create_parser("manage.py", "sync_fills")
    with pytest.raises(SystemExit) as exited:
        parser.parse_args(["--since", "not-a-date"])
    assert exited.value.code == 2
    assert "argument --since: 'not-a-date' is not an ISO date or date-time" in capsys.readouterr().err
