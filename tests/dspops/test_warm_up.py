"""warm_up: a freshly started dspops brought up to date from the (simulated) broker."""

import io

import pytest
from django.core.management import call_command

from sleeves.models import MonitorRun, SignalState


@pytest.mark.django_db
def test_warm_up_reads_the_broker_syncs_fills_runs_the_monitors_and_reconciles(broker, settings):
    call_command("bootstrap", "--demo", stdout=io.StringIO())
    server = broker("calm_contango")
    out = io.StringIO()
    call_command("warm_up", stdout=out, stderr=io.StringIO())
    text = out.getvalue()
    assert server.accepted_connections == 1  # every step on the one session that read the broker
    assert "(SIMULATED BROKER): 7 positions" in text
    assert "fill sync: 4 new" in text and "reconciliation: positions match the broker" in text
    assert "VRP-CS monitor: ok, gate OPEN" in text
    kinds = set(MonitorRun.objects.values_list("kind", flat=True))
    assert {"fill_sync", "vol_target", "vrp_erp", "vrp_cs", "reconcile"} <= kinds
    assert SignalState.objects.get(name="gate").state == "OPEN"


@pytest.mark.django_db
def test_warm_up_with_no_broker_says_so_and_stops_cleanly(settings):
    call_command("bootstrap", stdout=io.StringIO())
    settings.IB_HOST, settings.IB_PORT, settings.IB_CONNECT_TIMEOUT = "127.0.0.1", 9, 1.0
    err = io.StringIO()
    call_command("warm_up", stdout=io.StringIO(), stderr=err)
    assert "warm-up: the broker could not be read" in err.getvalue()
    assert MonitorRun.objects.count() == 0
