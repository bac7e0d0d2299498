"""The VRP-CS monitor against the simulator's `orphan_leg` scenario, over TCP with the real ib_insync client.

Measured (issue 13 item 2): the broker holds only the short VXM leg, yet the monitor said "Data OK,
P&L +$48.50" for a full spread. It now compares the broker's positions with the config: POSITION
MISMATCH, exit code 4, a critical naked_leg alert naming the contract, its quantity and the order that
flattens it, and P&L over what is held only.
"""

from __future__ import annotations

import io
import json
import socket
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from dspops.core.models import Alert
from sleeves.models import MonitorRun, RunStatus, VrpCsLogEntry
from sleeves.monitors import run_vrp_cs_monitor
from sleeves.naked_legs import PNL_OVER_HELD

pytestmark = pytest.mark.usefixtures("cfe_session_clock")

D = Decimal
FULL_SPREAD_PNL = "48.50"  # (18.575 - 17.44 - 0.65) x 100: what the monitor said before


@pytest.fixture
def config(spread_config):
    """The running config: -1 front / +1 second, entered at 17.45 / 18.10 (0.65) (tests/conftest.py)."""
    return spread_config


def open_naked_alerts():
    return {a.subject: a for a in Alert.objects.filter(code="naked_leg", resolved_at__isnull=True)}


def test_a_lone_short_leg_at_the_broker_is_a_position_mismatch_never_a_full_spread(config, broker, today_book):
    broker("orphan_leg")
    front, second, _ = today_book.symbols

    out = io.StringIO()
    with pytest.raises(CommandError) as exited:
        call_command("vrp_cs_monitor", "--live", "--json", stdout=out)
    p = json.loads(out.getvalue())

    assert exited.value.returncode == 4
    assert str(exited.value).startswith(f"POSITION MISMATCH: the VXM holding at the broker is not the configured "
                                        f"spread: {front} held -1, expected -1 (BUY 1 {front}); {second} held 0, "
                                        "expected +1.")
    assert (p["data_status"], p["status"], p["simulated"]) == ("mismatch", "POSITION MISMATCH", True)
    # P&L over what is held: the lone short at the broker's average cost 17.44 against its mid 17.44.
    assert (p["pnl_usd"], p["pnl_over"]) == ("0.00", "held") and p["pnl_usd"] != FULL_SPREAD_PNL
    assert p["positions"]["held_pnl"] == [
        {"contract": front, "quantity": "-1", "entry_price": "17.44", "mark": "17.44", "pnl_usd": "0.00"}]
    assert (p["positions"]["check"], p["positions"]["source"], p["positions"]["held"]) == (
        "mismatch", "broker", {front: "-1"})
    assert (p["stop_loss_hit"], p["take_profit_hit"]) == (None, None)

    run = MonitorRun.objects.get()
    assert (run.status, run.simulated, run.sources["positions"]["source"]) == (
        RunStatus.POSITION_MISMATCH, True, "simulated")
    entry = VrpCsLogEntry.objects.get(run=run)
    assert entry.data_status == "data_unavailable" and entry.pnl_usd == D("0.00")
    assert entry.notes.startswith("POSITION MISMATCH")

    alerts = open_naked_alerts()
    assert set(alerts) == {f"{front} (broker)", f"{second} (broker)"}
    naked = alerts[f"{front} (broker)"]
    assert (naked.severity, naked.sleeve.code) == ("critical", "VRP_CS")
    assert naked.message.startswith(
        f"{front} at the broker: held -1; the VRP-CS config (-1 {front} / +1 {second}) expects -1; its pair {second} "
        f"is not held. Flatten it: BUY 1 {front}")
    assert alerts[f"{second} (broker)"].message.startswith(
        f"{second} at the broker: none held; the VRP-CS config (-1 {front} / +1 {second}) expects +1, so this leg "
        "is missing.")


def test_the_readable_report_names_the_naked_leg_and_its_order(config, broker, today_book):
    broker("orphan_leg")
    front, second, _ = today_book.symbols
    out = io.StringIO()
    with pytest.raises(CommandError):
        call_command("vrp_cs_monitor", "--live", stdout=out)
    text = out.getvalue()
    assert "SIMULATED BROKER: POSITION MISMATCH" in text.splitlines()[0]
    assert f"held in VXM (broker): -1 {front}: mismatch" in text
    assert f"NAKED LEG {front}: held -1, config expects -1; its pair {second} is not held: flatten with BUY 1 {front}" \
        in text
    assert "P&L over what is held $0.00" in text and "48.50" not in text


def test_the_whole_spread_at_the_broker_resolves_the_broker_alert(config, broker, today_book):
    broker("orphan_leg")
    assert run_vrp_cs_monitor(live=True, role="test").status == RunStatus.POSITION_MISMATCH
    assert len(open_naked_alerts()) == 2

    broker("calm_contango")  # -1 front / +1 second: the configured spread
    outcome = run_vrp_cs_monitor(live=True, role="test")

    assert (outcome.status, outcome.exit_code, outcome.payload["positions"]["check"]) == (RunStatus.OK, 0, "matches")
    assert open_naked_alerts() == {}


def test_positions_that_cannot_be_read_are_data_unavailable_and_leave_the_alert_open(config, broker, settings):
    broker("orphan_leg")
    run_vrp_cs_monitor(live=True, role="test")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    settings.IB_PORT, settings.IB_CONNECT_TIMEOUT = closed, 2.0

    outcome = run_vrp_cs_monitor(live=True, role="test")

    assert (outcome.status, outcome.exit_code, outcome.payload["positions"]["check"]) == (
        RunStatus.DATA_UNAVAILABLE, 3, "unavailable")
    assert outcome.run.reason.startswith("DATA UNAVAILABLE: what is held cannot be compared with the config "
                                         "(positions: broker unavailable (")
    assert len(open_naked_alerts()) == 2  # not resolved by a run that could not see the positions


def test_an_extra_third_month_at_the_broker_is_quoted_and_its_own_pnl_counted(config, broker, today_book):
    front, second, third = today_book.symbols
    broker("calm_contango", {"positions": [{"contract": "front", "quantity": -1, "avg_cost": 1745.0},
                                           {"contract": "second", "quantity": 1, "avg_cost": 1810.0},
                                           {"contract": "third", "quantity": 1, "avg_cost": 1900.0}]})

    outcome = run_vrp_cs_monitor(live=True, role="test")

    assert (outcome.status, outcome.exit_code) == (RunStatus.POSITION_MISMATCH, 4)
    assert outcome.payload["positions"]["naked_legs"] == [
        {"contract": third, "held": "1", "expected": "0", "order": f"SELL 1 {third}", "missing_pairs": []}]
    legs = {r["contract"]: r for r in outcome.payload["positions"]["held_pnl"]}
    assert set(legs) == {front, second, third}
    assert D(legs[third]["entry_price"]) == D("19") and legs[third]["mark"] is not None  # quoted live, not skipped
    total = sum(D(r["pnl_usd"]) for r in legs.values())
    assert D(outcome.payload["pnl_usd"]) == total
    assert set(open_naked_alerts()) == {f"{third} (broker)"}


def test_the_digest_and_dashboard_after_the_monitor_say_position_mismatch(config, broker, today_book,
                                                                           operator_client):
    """The digest reads the stored run: POSITION MISMATCH, P&L over what is held, the naked_leg alerts; never
    "Data OK, P&L +$48.50" for a spread the broker does not hold, nor a data-unavailable warning for it. The
    dashboard labels the same P&L the same way (review finding: it printed it beside the spread as its P&L)."""
    from digests.render import render_digest
    from digests.services import build_snapshot

    broker("orphan_leg")
    front, _second, _ = today_book.symbols
    with pytest.raises(CommandError):
        call_command("vrp_cs_monitor", "--live", "--json", stdout=io.StringIO())
    run = MonitorRun.objects.get()
    markdown = render_digest(build_snapshot(trading_date=run.trading_date))
    section = markdown.split("## Sleeve VRP-CS", 1)[1].split("\n## ", 1)[0]
    assert "`POSITION MISMATCH`" in section and "`OK`" not in section
    assert "P&L over what is held (a naked leg, see the alerts): `$0.00`" in section
    assert FULL_SPREAD_PNL not in section
    assert "naked_leg" in markdown and f"BUY 1 {front}" in markdown
    assert not Alert.objects.filter(code="monitor_data_unavailable", resolved_at__isnull=True,
                                    subject__icontains="VRP-CS").exists()
    from django.urls import reverse
    from django.utils.html import escape

    page = operator_client.get(reverse("admin:index")).content.decode()
    assert f"<th>{escape(PNL_OVER_HELD)}</th><td id=\"cs-pnl\">$0.00</td>" in page
