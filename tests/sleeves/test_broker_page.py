"""The broker page's two buttons (read the broker, reconcile) answer only POST."""

import pytest
from django.urls import reverse

from dspops.core.models import Alert, BrokerSnapshot, QuoteSnapshot
from sleeves.models import MonitorRun


@pytest.mark.parametrize("name", ["admin:dspops_brokersnapshot_refresh", "admin:dspops_brokersnapshot_reconcile"])
def test_a_get_on_a_button_url_is_405_and_writes_nothing(operator_client, broker, name):
    broker("calm_contango")  # a broker that would answer, so a write would have happened
    response = operator_client.get(reverse(name))
    assert response.status_code == 405 and response["Allow"] == "POST"
    assert (BrokerSnapshot.objects.count(), QuoteSnapshot.objects.count(), MonitorRun.objects.count(),
            Alert.objects.count()) == (0, 0, 0, 0)


def test_a_post_still_reads_the_broker(operator_client, broker):
    broker("calm_contango")
    response = operator_client.post(reverse("admin:dspops_brokersnapshot_refresh"))
    assert response.status_code == 302 and BrokerSnapshot.objects.count() == 1


def status_line(page: str) -> str:
    import re

    match = re.search(r'<p id="reconciliation-status">(.*?)</p>', page, re.S)
    return re.sub(r"<[^>]+>", "", match.group(1)) if match else ""


def test_the_status_line_states_the_break_count_not_ok_above_the_breaks(operator_client, broker):
    # Measured: "Last run: OK" printed directly above a table of 3 reconciliation breaks.
    from dspops.demo import load_demo

    broker("calm_contango")
    load_demo()  # SPY, EEM, EFA, GLD, SHY as the broker held them before its executions: SPY, SHY and the spread break
    operator_client.post(reverse("admin:dspops_brokersnapshot_refresh"))
    operator_client.post(reverse("admin:dspops_brokersnapshot_reconcile"))
    page = operator_client.get(reverse("admin:dspops_brokersnapshot_changelist")).content.decode()
    breaks = MonitorRun.objects.get(kind="reconcile").outputs["breaks"]
    assert len(breaks) >= 2
    line = status_line(page)
    assert f": {len(breaks)} breaks" in line and "OK" not in line


def test_the_status_line_says_ok_only_when_nothing_breaks(operator_client, broker):
    broker("calm_contango")
    MonitorRun.objects.create(kind="reconcile", trading_date="2026-11-27", started_at="2026-11-27T16:00:00Z", status="ok",
                       outputs={"breaks": [], "matched": 7, "simulated": True})
    operator_client.post(reverse("admin:dspops_brokersnapshot_refresh"))
    page = operator_client.get(reverse("admin:dspops_brokersnapshot_changelist")).content.decode()
    assert status_line(page).endswith("OK: no breaks")
