"""An operator records a fill in a real browser and sees the position; a viewer cannot."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from dspops.bootstrap import bootstrap
from sleeves.models import Fill
from tests.e2e.conftest import ARTIFACTS, login

pytestmark = pytest.mark.e2e


@pytest.fixture
def users(transactional_db):
    bootstrap(create_operator=False)
    for name, group in (("olivia", "Operator"), ("victor", "Viewer")):
        user = get_user_model().objects.create_user(username=name, password="pw-for-tests", is_staff=True)
        user.groups.add(Group.objects.get(name=group))


def test_an_operator_records_a_fill_and_sees_the_position(page, live_server, users):
    login(page, live_server, "olivia")
    page.goto(f"{live_server.url}/admin/sleeves/fill/add/")
    page.select_option("#id_sleeve", label="VRP-ERP (VIX-gated SPY)")
    page.click("#id_instrument + .select2 .select2-selection")
    page.fill(".select2-search__field", "SPY")
    page.click(".select2-results__option:text-is('SPY')")
    page.select_option("#id_side", "BUY")
    page.fill("#id_quantity", "13")
    page.fill("#id_price", "681.40")
    page.fill("#id_executed_at_0", "2026-11-23")
    page.fill("#id_executed_at_1", "10:01:00")
    page.click("input[name=_save]")
    page.wait_for_selector(".messagelist .success")
    assert Fill.objects.get().entered_by.username == "olivia"
    page.goto(f"{live_server.url}/admin/sleeves/sleeve/positions/")
    row = page.locator("#positions tbody tr").first
    assert row.inner_text().split("\t")[:4] == ["VRP_ERP", "SPY", "Stock / ETF", "13"]
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "positions.png"), full_page=True)


def test_a_viewer_sees_no_add_button_and_is_refused_the_add_page(page, live_server, users):
    login(page, live_server, "victor")
    page.goto(f"{live_server.url}/admin/sleeves/fill/")
    assert page.locator("a.addlink").count() == 0
    response = page.goto(f"{live_server.url}/admin/sleeves/fill/add/")
    assert response.status == 403
