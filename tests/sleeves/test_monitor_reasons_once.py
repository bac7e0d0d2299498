"""No reason is repeated (issue 15, item 8). A broker that cannot be reached made every live input missing with
the gateway's whole advice, so a wrong port printed it once per input and again in an 800-character last line.
The monitors' report says it once; the stored run keeps its reason as it was."""

import io
import socket

import pytest
from django.core.management import CommandError, call_command

from sleeves.management.commands._monitor_output import reasons_once

WHY = ("Cannot reach TWS at 127.0.0.1:9 (connection refused). Is TWS/IB Gateway running with the API enabled "
       "on that port (Configure > API > Settings)?")


def test_the_broker_reason_is_said_once_naming_the_inputs_it_took():
    reasons = [
        f"DATA UNAVAILABLE: what is held cannot be compared with the config (positions: broker unavailable ({WHY}))",
        f"vix: broker unavailable ({WHY})",
        f"vvix: broker unavailable ({WHY})",
        "vx1: no active VRP-CS position config: enter one in the admin",
        "vx2: no active VRP-CS position config: enter one in the admin",
        "no active VRP-CS position config: enter one in the admin",
        "DATA UNAVAILABLE: missing vix, vvix, vx1, vx2",
    ]
    assert reasons_once(reasons) == [
        f"the broker could not be reached (vix, vvix): {WHY}",
        "DATA UNAVAILABLE: what is held cannot be compared with the config (positions: broker unavailable)",
        "no active VRP-CS position config: enter one in the admin",
        "DATA UNAVAILABLE: missing vix, vvix, vx1, vx2",
    ]


def test_per_input_reasons_that_agree_are_one_line_and_different_ones_stay():
    assert reasons_once(["vx1: no quote (NaN)", "vx2: no quote (NaN)", "vix: stale (age 301s > limit 60s)", ""]) == [
        "vx1, vx2: no quote (NaN)", "vix: stale (age 301s > limit 60s)"]
    assert reasons_once(["vx1: no quote (NaN)", "vx2: no price (-1)"]) == ["vx1: no quote (NaN)", "vx2: no price (-1)"]


@pytest.fixture
def broker_down(settings):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    settings.IB_HOST, settings.IB_PORT, settings.IB_CONNECT_TIMEOUT = "127.0.0.1", closed, 2.0
    return closed


@pytest.mark.parametrize("command", ["vrp_cs_monitor", "vrp_erp_monitor"])
def test_a_monitor_with_the_broker_down_gives_the_advice_once(booted, broker_down, command):
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError) as failed:
        call_command(command, "--live", stdout=out, stderr=err)
    printed = out.getvalue() + err.getvalue() + str(failed.value)
    assert failed.value.returncode == 3
    assert printed.count("Is TWS/IB Gateway running") == 1
    assert printed.count("the broker could not be reached (vix") == 1
    assert str(failed.value).startswith("DATA UNAVAILABLE: ") and len(str(failed.value)) < 80
    assert max(len(line) for line in printed.splitlines()) < 250


def test_json_output_still_ends_with_every_reason_once(booted, broker_down):
    with pytest.raises(CommandError) as failed:
        call_command("vrp_erp_monitor", "--live", "--json", stdout=io.StringIO())
    assert str(failed.value).count("Is TWS/IB Gateway running") == 1
    assert "the broker could not be reached (vix, spy_price, actual shares)" in str(failed.value)
