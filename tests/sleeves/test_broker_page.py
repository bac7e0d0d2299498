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
