"""Reading the broker into the database: quotes, positions and account values over TCP."""

import re
from decimal import Decimal

import pytest
from django.urls import reverse

from dspops.core.broker_sync import GatewayError, refresh_broker_snapshot
from sleeves.selectors import watched_instruments
from dspops.core.models import BrokerSnapshot, Instrument, QuoteSnapshot


def test_a_refresh_stores_quotes_positions_and_account_values_from_the_simulator(booted, broker):
    broker("calm_contango")
    snapshot = refresh_broker_snapshot(instruments=watched_instruments(), role="test")
    assert snapshot.simulated is True and snapshot.account.startswith("SIM")
    assert (snapshot.net_liquidation, snapshot.excess_liquidity) == (Decimal("105000.00"), Decimal("60000.00"))
    held = {p["local_symbol"]: Decimal(p["quantity"]) for p in snapshot.positions}
    assert held["SPY"] == 13 and sorted(v for k, v in held.items() if k.startswith("VXM")) == [-1, 1]
    spy = QuoteSnapshot.objects.get(instrument__local_symbol="SPY")
    assert (spy.bid, spy.ask, spy.valid, spy.source) == (Decimal("664.18"), Decimal("664.20"), True, "simulated")
    assert Instrument.objects.get(local_symbol="SPY").con_id is not None


def test_an_unusable_quote_is_stored_as_invalid_with_its_reason_not_as_a_price(booted, broker):
    broker("calm_contango", {"quotes": {"SPY": {"bid": 664.30, "ask": 664.20}}})
    refresh_broker_snapshot(instruments=watched_instruments(), role="test")
    spy = QuoteSnapshot.objects.get(instrument__local_symbol="SPY")
    assert spy.valid is False and "crossed" in spy.invalid_reason
    assert spy.mid is None


def test_an_unreachable_broker_stores_nothing(booted, settings):
    settings.IB_HOST, settings.IB_PORT, settings.IB_CONNECT_TIMEOUT = "127.0.0.1", 9, 2.0
    with pytest.raises(GatewayError, match="127.0.0.1:9"):
        refresh_broker_snapshot(instruments=watched_instruments(), role="test")
    assert BrokerSnapshot.objects.count() == 0 and QuoteSnapshot.objects.count() == 0


def test_the_broker_page_reads_the_simulator_and_shows_the_simulated_banner(operator_client, broker):
    broker("calm_contango")
    response = operator_client.post(reverse("admin:dspops_brokersnapshot_refresh"))
    assert response.status_code == 302
    page = operator_client.get(reverse("admin:dspops_brokersnapshot_changelist")).content.decode()
    assert "SIMULATED BROKER" in page and 'id="sim-banner"' in page
    assert "664.18" in page and "105000.00" in page
    # Above the changelist (whose columns the admin renders), the page says money and times by the kernel's formats.
    account = re.search(r'id="account-values".*?</table>', page, re.S).group(0)
    assert "$105,000.00" in account and "$60,000.00" in account and "105000.00" not in account
    assert re.search(r"<h2>Latest: SIM\S* at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d ET", page)
    assert "EST" not in page and "EDT" not in page


def test_a_viewer_cannot_read_the_broker_from_the_page(viewer_client, broker):
    broker("calm_contango")
    assert viewer_client.post(reverse("admin:dspops_brokersnapshot_refresh")).status_code == 403
    assert BrokerSnapshot.objects.count() == 0


def test_a_broker_failure_on_the_page_is_a_message_not_an_error_page(operator_client, settings):
    settings.IB_HOST, settings.IB_PORT, settings.IB_CONNECT_TIMEOUT = "127.0.0.1", 9, 2.0
    response = operator_client.post(reverse("admin:dspops_brokersnapshot_refresh"), follow=True)
    assert response.status_code == 200
    assert "The broker could not be read; nothing was stored." in response.content.decode()


def test_the_broker_page_reconciles_and_shows_each_break(operator_client, broker):
    from dspops.core.models import Alert

    broker("calm_contango")
    operator_client.post(reverse("admin:dspops_brokersnapshot_refresh"))
    response = operator_client.post(reverse("admin:dspops_brokersnapshot_reconcile"), follow=True)
    page = response.content.decode()
    assert "reconciliation break(s); each is a critical alert." in page  # no fills recorded: every position breaks
    assert 'id="reconciliation-breaks"' in page and "VXM" in page
    breaks = re.search(r'id="reconciliation-breaks".*?</table>', page, re.S).group(0)
    assert '<td class="fail">+13</td>' in breaks  # SPY: 13 at the broker, none in the fills, as a signed count
    assert Alert.objects.filter(code="reconciliation_break", severity="critical").count() == 7


def test_a_viewer_cannot_reconcile_from_the_page(viewer_client, broker):
    broker("calm_contango")
    assert viewer_client.post(reverse("admin:dspops_brokersnapshot_reconcile")).status_code == 403
