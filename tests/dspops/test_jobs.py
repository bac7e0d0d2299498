"""The live jobs (dspops/jobs.py): one gateway session each, counted at the simulator over TCP."""

import io
from collections import Counter
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest
from django.core.management import call_command

from digests.models import Digest
from digests.services import generate_digest
from dspops import tasks
from dspops.core.models import QuoteSnapshot
from dspops.demo import load_demo
from dspops.jobs import live_digest
from sleeves.models import MonitorRun
from sleeves.selectors import watched_instruments

# A Tuesday session, 16:30 New York; the simulator replays the same session (its contracts follow it).
TUESDAY_EVENING = datetime(2026, 11, 24, 21, 30, tzinfo=timezone.utc)
TUESDAY = date(2026, 11, 24)


@pytest.fixture
def book(booted, settings, tmp_path, monkeypatch):
    """The demo book (its VRP-CS legs are the simulator's front two months) on the Tuesday evening."""
    settings.DIGEST_DIR = tmp_path / "daily_digest"
    monkeypatch.setattr("dspops.core.clock.now", lambda: TUESDAY_EVENING)
    load_demo()


def quotes_per_symbol() -> Counter:
    return Counter(QuoteSnapshot.objects.values_list("instrument__local_symbol", flat=True))


def test_a_live_digest_opens_one_tws_connection_and_quotes_each_instrument_once(book, broker):
    server = broker("calm_contango", {"as_of": TUESDAY.isoformat()})

    digest = live_digest()

    # Measured before the jobs moved here: three connections (snapshot, VRP-ERP, VRP-CS), VIX quoted three times.
    assert server.accepted_connections == 1
    quoted = quotes_per_symbol()
    assert quoted["VIX"] == 1 and set(quoted.values()) == {1}
    assert set(quoted) == {i.local_symbol for i in watched_instruments()}
    # The monitors ran on that connection with those quotes, and the digest was built from what they stored.
    erp = MonitorRun.objects.get(kind="vrp_erp")
    cs = MonitorRun.objects.get(kind="vrp_cs")
    assert erp.simulated and cs.simulated and cs.status == "ok", cs.reason
    vix = QuoteSnapshot.objects.get(instrument__local_symbol="VIX")
    assert Decimal(erp.inputs["vix"]) == Decimal(cs.inputs["vix"]) == vix.last
    assert erp.sources["vix"]["source"] == cs.sources["vix"]["source"] == "simulated"
    assert erp.trading_date == cs.trading_date == digest.trading_date == TUESDAY
    assert digest.simulated and "**SIMULATED BROKER**" in digest.markdown
    run = MonitorRun.objects.get(kind="digest")
    assert run.sources["broker_snapshot"]["source"] == "simulated" and run.inputs["live"] is True


def test_the_scheduled_digest_task_is_the_same_one_connection_job(book, broker):
    server = broker("calm_contango", {"as_of": TUESDAY.isoformat()})

    summary = tasks.daily_digest_task()

    assert summary.startswith("digest for Tue 2026-11-24 (SIMULATED BROKER): ")
    assert server.accepted_connections == 1 and quotes_per_symbol()["VIX"] == 1
    assert MonitorRun.objects.get(kind="digest").triggered_by == "task"


def test_the_daily_digest_command_live_opens_one_connection(book, broker):
    server = broker("calm_contango", {"as_of": TUESDAY.isoformat()})

    call_command("daily_digest", "--live", stdout=io.StringIO())

    assert server.accepted_connections == 1 and Digest.objects.get().simulated


def test_a_digest_from_stored_rows_never_connects_nor_runs_a_monitor(book, broker):
    server = broker("calm_contango", {"as_of": TUESDAY.isoformat()})

    generate_digest(write_file=False)

    assert server.accepted_connections == 0
    assert not QuoteSnapshot.objects.exists()
    assert set(MonitorRun.objects.values_list("kind", flat=True)) == {"digest"}
