"""The weekly review lists the week's alerts by trading session, not by wall-clock time."""

from datetime import date, datetime

import pytest

from digests.services import build_weekly_review, generate_digest, generate_weekly_review
from dspops.core import calendars
from dspops.core.alerts import raise_alert
from dspops.core.models import Alert

FRIDAY = date(2026, 11, 27)
SATURDAY_MORNING = datetime(2026, 11, 28, 11, 0, tzinfo=calendars.NEW_YORK)
NEXT_WEDNESDAY = datetime(2026, 12, 2, 9, 0, tzinfo=calendars.NEW_YORK)


def section(markdown: str, title: str) -> str:
    body = markdown.split(f"## {title}\n", 1)[1]
    return body.split("\n## ", 1)[0]


@pytest.fixture
def digest_dir(settings, tmp_path):
    settings.DIGEST_DIR = tmp_path / "daily_digest"
    return settings.DIGEST_DIR


def test_the_alerts_of_fridays_digest_built_on_saturday_are_in_that_weeks_review(booted, digest_dir, time_machine):
    # Measured: the review of the week ending 2026-11-27 said "Alerts this week: None" while that Friday's digest
    # listed 3 warnings: the digest was built on Saturday (a person's action on a closed day acts on Friday), and
    # the review chose alerts by the wall-clock time they were first seen.
    time_machine.move_to(SATURDAY_MORNING, tick=False)
    digest = generate_digest(trading_date=FRIDAY)
    in_digest = section(digest.markdown, "Alerts")
    raised = list(Alert.objects.filter(resolved_at__isnull=True))
    assert raised and "WARNING" in in_digest
    assert {a.first_session for a in raised} == {FRIDAY}

    time_machine.move_to(NEXT_WEDNESDAY, tick=False)
    review = generate_weekly_review(week_ending=FRIDAY)
    this_week = section(review, "Alerts this week")
    assert this_week.strip() != "- None"
    for alert in raised:
        assert f"`{alert.code}`: {alert.message} (seen 2026-11-27, open)" in this_week


def test_an_alert_raised_for_the_next_week_is_not_in_the_review(booted, time_machine):
    time_machine.move_to(NEXT_WEDNESDAY, tick=False)
    raise_alert(code="roll_due", subject="VXMZ6", message="Roll by 2026-12-09.")  # session 2026-12-02
    raise_alert(code="erp_drift", subject="SPY", message="Drift 6%.", session=date(2026, 11, 25))
    codes = [a.code for a in build_weekly_review(week_ending=FRIDAY).alerts]
    assert codes == ["erp_drift"]


def test_an_acknowledged_alert_is_marked_in_the_digest_and_counted_apart(booted, digest_dir, time_machine):
    from django.contrib.auth import get_user_model

    from dspops.core.alerts import acknowledge_alert
    from sleeves.models import MonitorRun

    time_machine.move_to(SATURDAY_MORNING, tick=False)
    alert = raise_alert(code="orphan_leg", subject="roll-1", message="Close VXMF7.")
    user = get_user_model().objects.create_user(username="olivia")
    acknowledge_alert(alert=alert, user=user)
    digest = generate_digest(trading_date=FRIDAY)
    alerts = section(digest.markdown, "Alerts")
    assert "- ACKNOWLEDGED critical `orphan_leg`: Close VXMF7." in alerts and "CRITICAL" not in alerts
    run = MonitorRun.objects.get(kind="digest")
    assert run.outputs["alerts"]["critical"] == 0 and run.outputs["alerts"]["acknowledged"] == 1


def test_an_alert_resolved_on_saturday_is_dated_resolved_on_fridays_session(booted, time_machine):
    """Review finding: the review dated a resolution by the wall-clock date, so an alert resolved by Friday's
    digest built on Saturday read 'resolved 2026-11-28', a Saturday. It is dated by session, as when raised."""
    from dspops.core.alerts import resolve_alerts

    time_machine.move_to(SATURDAY_MORNING, tick=False)
    raise_alert(code="erp_drift", subject="SPY", message="Drift 6%.", session=FRIDAY)
    resolve_alerts(code="erp_drift")
    [line] = build_weekly_review(week_ending=FRIDAY).alerts
    assert (line.first_seen_on, line.resolved_on) == (FRIDAY, FRIDAY)
