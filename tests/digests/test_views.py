"""The dashboard's endpoints: a GET never writes; the task buttons answer only to POST.

The buttons' view is the site's (dspops.admin_site.run_task, @require_POST); the chart and weekly
review pages are digests.views.
"""

import pytest
from django.apps import apps
from django.urls import reverse

from dspops.tasks import BUTTONS


def row_counts() -> dict[str, int]:
    return {model._meta.label: model._default_manager.count() for model in apps.get_models()}


@pytest.mark.parametrize("name", sorted(BUTTONS))
def test_a_get_on_a_task_button_answers_405_and_writes_nothing(operator_client, booted, settings, name):
    settings.DSPOPS_TASKS_SYNC = True  # a task that did get queued would run at once and store its rows
    before = row_counts()

    response = operator_client.get(reverse("admin:dashboard_run_task", args=[name]))

    assert response.status_code == 405 and response["Allow"] == "POST"
    assert row_counts() == before


def test_a_get_on_an_unknown_task_answers_405_too(operator_client, booted):
    # The method is refused before the name is looked at: a GET never reaches the task table.
    assert operator_client.get(reverse("admin:dashboard_run_task", args=["rm_rf"])).status_code == 405


def test_the_weekly_review_and_the_charts_store_nothing(operator_client, booted):
    before = row_counts()

    assert operator_client.get(reverse("admin:dashboard_weekly_review")).status_code == 200
    for name in ("vol", "spread", "erp"):
        assert operator_client.get(reverse("admin:dashboard_chart", args=[name])).status_code == 200

    assert row_counts() == before
