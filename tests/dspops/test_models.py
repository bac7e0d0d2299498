"""Database constraints on instruments, quotes, settings and alerts."""

from datetime import date, datetime, timezone
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from dspops.core.alerts import raise_alert, resolve_alerts
from dspops.core.models import Alert
from dspops.core.models import DataSource, Instrument, QuoteSnapshot
from sleeves.models import SleeveParameter

NOW = datetime(2026, 11, 24, 15, 0, tzinfo=timezone.utc)


def test_a_future_without_a_settlement_date_is_refused(db):
    with pytest.raises(IntegrityError, match="instrument_future_has_settlement_and_month"), transaction.atomic():
        Instrument.objects.create(symbol="VXM", sec_type="FUT", exchange="CFE", local_symbol="VXMZ6",
                                  multiplier=Decimal("100"))


def test_two_instruments_cannot_share_a_con_id(db):
    Instrument.objects.create(symbol="SPY", sec_type="STK", exchange="SMART", local_symbol="SPY", con_id=756733)
    with pytest.raises(IntegrityError), transaction.atomic():
        Instrument.objects.create(symbol="SPY2", sec_type="STK", exchange="SMART", local_symbol="SPY2", con_id=756733)


def _quote(**fields):
    spy = Instrument.objects.get_or_create(symbol="SPY", sec_type="STK", exchange="SMART", local_symbol="SPY")[0]
    base = dict(instrument=spy, source=DataSource.LIVE, as_of=NOW, valid=True, invalid_reason="")
    return QuoteSnapshot.objects.create(**{**base, **fields})


@pytest.mark.parametrize(
    "fields, constraint",
    [
        ({"bid": Decimal("10.2"), "ask": Decimal("10.1")}, "quote_valid_is_not_crossed"),
        ({"bid": Decimal("-1")}, "quote_prices_not_negative"),
        ({"valid": False}, "quote_invalid_says_why"),
        ({"invalid_reason": "stale"}, "quote_valid_has_no_reason"),
    ],
)
def test_the_database_refuses_a_quote_that_looks_valid_but_is_not(db, fields, constraint):
    with pytest.raises(IntegrityError, match=constraint), transaction.atomic():
        _quote(**fields)


def test_a_crossed_quote_is_kept_when_it_is_marked_invalid(db):
    quote = _quote(bid=Decimal("10.2"), ask=Decimal("10.1"), valid=False, invalid_reason="crossed market (bid > ask)")
    assert quote.mid is None


def test_a_setting_outside_its_bounds_is_refused_with_its_name(booted):
    setting = SleeveParameter.objects.get(sleeve__code="VRP_CS", key="max_vix")
    setting.value = "-3"
    with pytest.raises(ValidationError, match="max_vix: -3 is below the minimum 0"):
        setting.full_clean()


def test_an_alert_still_true_later_is_the_same_alert(db):
    first = raise_alert(code="roll_due", subject="VXMZ6", severity="warning", message="Roll by 2026-12-09.", now=NOW)
    again = raise_alert(code="roll_due", subject="VXMZ6", severity="critical", message="Roll today.",
                        now=NOW.replace(day=25))
    assert again.pk == first.pk
    assert (again.occurrences, again.severity, again.first_seen_at) == (2, "critical", NOW)
    assert Alert.objects.count() == 1


def test_a_resolved_alert_that_comes_back_is_a_new_alert(db):
    first = raise_alert(code="roll_due", subject="VXMZ6", severity="warning", message="m", now=NOW)
    assert resolve_alerts(code="roll_due", now=NOW) == 1
    second = raise_alert(code="roll_due", subject="VXMZ6", severity="warning", message="m", now=NOW)
    assert second.pk != first.pk
    with pytest.raises(IntegrityError), transaction.atomic():
        Alert.objects.create(code="roll_due", subject="VXMZ6", severity="info", message="dup",
                             first_seen_at=NOW, last_seen_at=NOW)


def test_a_critical_alert_is_emailed_once(db, mailoutbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        raise_alert(code="orphan_leg", subject="VXMF7", severity="critical", message="Close +1 VXMF7.", now=NOW)
    with django_capture_on_commit_callbacks(execute=True):
        raise_alert(code="orphan_leg", subject="VXMF7", severity="critical", message="Close +1 VXMF7.", now=NOW)
    assert len(mailoutbox) == 1
    assert "orphan_leg" in mailoutbox[0].subject and "Close +1 VXMF7." in mailoutbox[0].body
