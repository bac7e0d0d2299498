"""digests.services: the daily digest from stored data (the legacy day 2026-01-12), live (dspops.jobs), degraded;
the weekly review."""

from datetime import date, datetime, timezone

import pytest

from dspops.core.models import Alert

from digests.models import Digest
from digests.services import (
    DigestError,
    NotASessionError,
    build_snapshot,
    build_weekly_review,
    generate_digest,
    generate_weekly_review,
)
from dspops.jobs import live_digest
from dspops.legacy_import import import_legacy
from sleeves.models import MonitorRun
from sleeves.price_import import import_prices

LEGACY_DAY = date(2026, 1, 12)
# 16:30 New York on the legacy day: when the digest task would run.
LEGACY_EVENING = datetime(2026, 1, 12, 21, 30, tzinfo=timezone.utc)
# A Tuesday session, 16:30 New York (the live tests: the simulator's quotes are stamped with the real clock,
# which is never earlier than this).
TUESDAY_EVENING = datetime(2026, 11, 24, 21, 30, tzinfo=timezone.utc)


@pytest.fixture
def digest_dir(settings, tmp_path):
    settings.DIGEST_DIR = tmp_path / "daily_digest"
    return settings.DIGEST_DIR


@pytest.fixture
def legacy_book(booted, shared_dir, digest_dir, monkeypatch):
    """The real legacy files and market history imported on the evening of 2026-01-12."""
    legacy = shared_dir / "legacy"
    monkeypatch.setattr("dspops.core.clock.now", lambda: LEGACY_EVENING)
    import_legacy(directory=legacy, now=LEGACY_EVENING)
    import_prices(path=shared_dir / "market" / "vix_vvix_daily.csv")
    import_prices(path=shared_dir / "market" / "spy_daily.csv", symbol="SPY")
    return legacy


def section(markdown: str, title: str) -> str:
    body = markdown.split(f"## {title}\n", 1)[1]
    return body.split("\n## ", 1)[0]


# --- the legacy day --------------------------------------------------------------------------


def test_the_legacy_day_shows_the_logged_spread_against_the_entry_and_the_logged_pnl(legacy_book, digest_dir):
    digest = generate_digest(trading_date=LEGACY_DAY)

    cs = section(digest.markdown, "Sleeve VRP-CS (Calendar Spread)")
    assert "- Entry spread: `1.63` | Current spread: `1.64` | P&L: `+$1.50`" in cs
    assert "short VXMF6 / long VXMG6" in cs and "legs inferred from the logged roll-by 2026-01-14" in cs
    assert "- Stop-loss: `2.04` | distance (spread - stop): `-0.40`" in cs
    assert "- Take-profit: `0.82` | distance (TP - spread): `-0.82`" in cs
    assert (digest_dir / "digest_2026-01-12.md").read_text() == digest.markdown
    assert digest.markdown.startswith("# DSP-100K Daily Digest — 2026-01-12\n\nGenerated: `2026-01-12T16:30:00-05:00`")


def test_the_legacy_levels_on_the_wrong_sides_are_a_critical_alert_and_never_reported_as_hit(legacy_book):
    digest = generate_digest(trading_date=LEGACY_DAY)

    alert = Alert.objects.get(code="cs_levels_invalid")
    assert (alert.severity, alert.subject, alert.resolved_at) == ("critical", "VXMF6/VXMG6", None)
    assert "stop-loss 2.04 / take-profit 0.82 around the entry spread 1.63" in alert.message
    assert "Fix the position config" in alert.message
    cs = section(digest.markdown, "Sleeve VRP-CS (Calendar Spread)")
    assert "Exit check: `levels invalid: not evaluated`" in cs and "HIT" not in digest.markdown
    assert not Alert.objects.filter(code__in=["cs_stop_loss", "cs_take_profit"]).exists()


def test_the_legacy_day_alerts_name_the_stale_data_with_its_age(legacy_book):
    digest = generate_digest(trading_date=LEGACY_DAY)

    alerts = section(digest.markdown, "Alerts")
    # VIX and SPY are the values the day's logged runs used (one value per input, issue 13 item 5): not stale.
    # VVIX was logged by no run: its latest close is from 2026-01-07.
    assert "`data_stale`: VVIX: latest value 2026-01-07, 3 sessions old" in alerts
    assert "`data_stale`: VIX" not in alerts and "`data_stale`: SPY" not in alerts
    assert "No vol-target state on or before 2026-01-12" in alerts
    assert ("- VIX: `15.57` (as of 2026-01-12, legacy log, used by the VRP-ERP monitor run of 2026-01-12 09:25 ET)"
            in section(digest.markdown, "Vol Indices"))
    assert "- VIX: `15.57` | Regime:" in section(digest.markdown, "Sleeve VRP-ERP (VIX-gated SPY)")
    assert "VRP-CS VXMF6: roll-by 2026-01-14 (Wed) is 2 CFE sessions away" in alerts


def test_a_saturday_is_refused_naming_the_previous_session(legacy_book, digest_dir):
    with pytest.raises(NotASessionError) as refused:
        generate_digest(trading_date=date(2026, 1, 10))
    assert str(refused.value) == "2026-01-10 is not an NYSE session (Saturday); the previous session is 2026-01-09"
    assert not MonitorRun.objects.filter(kind="digest").exists()
    assert not digest_dir.exists()


def test_a_market_holiday_is_refused_naming_the_previous_session(booted):
    with pytest.raises(NotASessionError, match="2026-04-03 is not an NYSE session .Friday, a market holiday.; "
                                              "the previous session is 2026-04-02"):
        build_snapshot(trading_date=date(2026, 4, 3))


def test_running_the_digest_twice_leaves_one_digest_and_one_file(legacy_book, digest_dir):
    first = generate_digest(trading_date=LEGACY_DAY)
    second = generate_digest(trading_date=LEGACY_DAY)

    assert Digest.objects.filter(trading_date=LEGACY_DAY).count() == 1 and first.pk == second.pk
    assert sorted(p.name for p in digest_dir.iterdir()) == ["digest_2026-01-12.md"]
    assert MonitorRun.objects.filter(kind="digest", trading_date=LEGACY_DAY).count() == 2
    cs_alert = Alert.objects.get(code="cs_levels_invalid")
    assert cs_alert.occurrences == 2  # the same alert, seen again


def test_a_generated_digest_replaces_the_legacy_one_and_keeps_its_markdown_in_the_run(legacy_book):
    legacy_markdown = (legacy_book / "daily_digest" / "digest_2026-01-12.md").read_text()
    assert Digest.objects.get(trading_date=LEGACY_DAY).source == "legacy"

    digest = generate_digest(trading_date=LEGACY_DAY)
    again = generate_digest(trading_date=LEGACY_DAY)

    first_run = MonitorRun.objects.filter(kind="digest").order_by("id").first()
    assert digest.source == "generated"
    assert first_run.outputs["replaced_legacy_digest"]["markdown"].strip() == legacy_markdown.strip()
    assert f"its markdown is kept in digest run #{first_run.pk}" in again.note  # still said after a rerun


def test_a_day_without_a_run_shows_the_latest_one_before_it_with_its_date(legacy_book, monkeypatch):
    monkeypatch.setattr("dspops.core.clock.now", lambda: datetime(2026, 1, 15, 21, 30, tzinfo=timezone.utc))
    digest = generate_digest(trading_date=date(2026, 1, 15), write_file=False)

    cs = section(digest.markdown, "Sleeve VRP-CS (Calendar Spread)")
    assert "no VRP-CS run on 2026-01-15: this is the latest, from 2026-01-14" in cs
    assert "Current spread: `1.43`" in cs and "P&L: `+$78.00`" in cs  # the 17:12:23 row as logged
    assert Alert.objects.get(code="monitor_run_missing", subject="VRP-CS").severity == "warning"
    assert digest.file_path == ""


def test_a_digest_without_any_stored_data_says_missing_and_alerts(booted, digest_dir, monkeypatch):
    monkeypatch.setattr("dspops.core.clock.now", lambda: TUESDAY_EVENING)
    digest = generate_digest()

    assert digest.trading_date == date(2026, 11, 24)
    assert "- State: `missing` (no VRP-CS monitor run)" in digest.markdown
    assert {a.subject for a in Alert.objects.filter(code="monitor_run_missing")} == {"VRP-CS", "VRP-ERP"}
    assert Alert.objects.get(code="data_stale", subject="VIX").message.startswith("VIX: no value stored")


# --- live --------------------------------------------------------------------------------------


def test_a_live_digest_with_the_broker_down_is_still_made_with_a_critical_broker_unavailable_alert(
        booted, digest_dir, settings, monkeypatch):
    monkeypatch.setattr("dspops.core.clock.now", lambda: TUESDAY_EVENING)
    settings.IB_HOST, settings.IB_PORT, settings.IB_CONNECT_TIMEOUT = "127.0.0.1", 9, 2.0  # nothing listens

    digest = live_digest()

    alert = Alert.objects.get(code="broker_unavailable", resolved_at__isnull=True)
    assert alert.severity == "critical" and "built from stored data" in alert.message
    assert "`broker_unavailable`" in section(digest.markdown, "Alerts")
    assert (digest_dir / "digest_2026-11-24.md").is_file() and digest.simulated is False
    run = MonitorRun.objects.get(kind="digest")
    assert run.status == "data_unavailable" and "broker was unavailable" in run.reason
    assert "broker unavailable" in digest.note


def test_a_live_digest_against_the_simulator_is_marked_simulated_and_clears_broker_unavailable(
        booted, digest_dir, broker, settings, monkeypatch):
    monkeypatch.setattr("dspops.core.clock.now", lambda: TUESDAY_EVENING)
    settings.IB_HOST, settings.IB_PORT, settings.IB_CONNECT_TIMEOUT = "127.0.0.1", 9, 2.0
    live_digest()
    # The simulator replays the same session the frozen clock says it is (its contracts follow it).
    broker("calm_contango", {"as_of": "2026-11-24"})

    digest = live_digest()

    assert digest.simulated is True and "**SIMULATED BROKER**" in digest.markdown
    assert MonitorRun.objects.filter(kind="vrp_erp", trading_date=date(2026, 11, 24), simulated=True).exists()
    latest_run = MonitorRun.objects.filter(kind="digest").order_by("-id").first()
    assert latest_run.sources["broker_snapshot"]["source"] == "simulated"
    assert Alert.objects.get(code="broker_unavailable").resolved_at is not None
    erp = section(digest.markdown, "Sleeve VRP-ERP (VIX-gated SPY)")
    assert "(simulated broker)" in erp


def test_live_mode_refuses_a_past_date(legacy_book):
    with pytest.raises(DigestError, match="drop --live"):
        live_digest(trading_date=date(2026, 1, 9))


def test_a_digest_file_that_cannot_be_written_stores_nothing(legacy_book, settings, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    settings.DIGEST_DIR = blocker / "daily_digest"
    with pytest.raises(DigestError, match="could not be written"):
        generate_digest(trading_date=LEGACY_DAY)
    assert Digest.objects.get(trading_date=LEGACY_DAY).source == "legacy"


# --- weekly review -------------------------------------------------------------------------------


def test_the_weekly_review_lists_missing_digests_logs_and_drift(legacy_book, monkeypatch):
    generate_digest(trading_date=LEGACY_DAY, write_file=False)
    monkeypatch.setattr("dspops.core.clock.now", lambda: datetime(2026, 1, 16, 20, 0, tzinfo=timezone.utc))

    review = build_weekly_review(week_ending=date(2026, 1, 16))

    assert review.sessions == (date(2026, 1, 12), date(2026, 1, 13), date(2026, 1, 14), date(2026, 1, 15),
                               date(2026, 1, 16))
    assert review.digest_dates == (LEGACY_DAY,)
    coverage = {log.sleeve: log.missing_sessions for log in review.sleeve_logs}
    assert coverage["VRP-CS"] == (date(2026, 1, 15), date(2026, 1, 16))
    assert coverage["VRP-ERP"] == (date(2026, 1, 13), date(2026, 1, 14), date(2026, 1, 15), date(2026, 1, 16))
    assert [(r.session, str(r.drift_pct)) for r in review.drift_readings] == [(LEGACY_DAY, "100.0000")]
    assert "cs_levels_invalid" in {a.code for a in review.alerts}


def test_the_weekly_review_is_stored_as_a_run_with_its_markdown(legacy_book, monkeypatch):
    monkeypatch.setattr("dspops.core.clock.now", lambda: datetime(2026, 2, 6, 20, 0, tzinfo=timezone.utc))

    markdown = generate_weekly_review(week_ending=date(2026, 2, 6))

    run = MonitorRun.objects.get(kind="weekly_review")
    assert run.outputs["markdown"] == markdown and run.trading_date == date(2026, 2, 6)
    assert markdown.startswith("# DSP-100K Weekly Review — week ending 2026-02-06")
    # The February contract's roll-by as the legacy files planned it, with the rule's date beside it.
    assert "VRP-CS VXMG6/VXMH6 -> VXMH6/VXMJ6 (planned by hand; the rule says 2026-02-10)" in markdown
