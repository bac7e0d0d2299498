"""An operator records a fill in a real browser and sees the position; a viewer cannot. A fill with a
warning is recorded only once the operator ticks the confirmation."""

from datetime import date
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from dspops.bootstrap import bootstrap
from dspops.core.models import Instrument
from sleeves.models import Fill, PriceBar, Sleeve
from tests.e2e.conftest import ARTIFACTS, login

pytestmark = pytest.mark.e2e


@pytest.fixture
def users(transactional_db):
    bootstrap(create_operator=False)
    for name, group in (("olivia", "Operator"), ("victor", "Viewer")):
        user = get_user_model().objects.create_user(username=name, password="pw-for-tests", is_staff=True)
        user.groups.add(Group.objects.get(name=group))


def type_fill(page, live_server, sleeve: str, symbol: str, quantity: str, price: str):
    page.goto(f"{live_server.url}/admin/sleeves/fill/add/")
    page.select_option("#id_sleeve", value=str(Sleeve.objects.get(code=sleeve).pk))
    page.click("#id_instrument + .select2 .select2-selection")
    page.fill(".select2-search__field", symbol)
    page.click(f".select2-results__option:text-is('{symbol}')")
    page.select_option("#id_side", "BUY")
    page.fill("#id_quantity", quantity)
    page.fill("#id_price", price)
    page.fill("#id_executed_at_0", "2026-11-23")
    page.fill("#id_executed_at_1", "10:01:00")
    page.click("input[name=_save]")


def test_an_operator_records_a_fill_and_sees_the_position(page, live_server, users):
    # A stored close near the typed price: the fill meets no warning to confirm.
    PriceBar.objects.create(instrument=Instrument.objects.get(local_symbol="SPY"), session=date(2026, 11, 20),
                            close=Decimal("680.95"), source="stored")
    login(page, live_server, "olivia")
    type_fill(page, live_server, "VRP_ERP", "SPY", "13", "681.40")
    page.wait_for_selector(".messagelist .success")
    assert Fill.objects.get().entered_by.username == "olivia"
    page.goto(f"{live_server.url}/admin/sleeves/sleeve/positions/")
    row = page.locator("#positions tbody tr").first
    assert row.inner_text().split("\t")[:4] == ["VRP_ERP", "SPY", "Stock / ETF", "13"]
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "positions.png"), full_page=True)


def test_a_fill_with_no_stored_price_is_recorded_only_once_the_operator_confirms(page, live_server, users):
    warning = ("No stored quote or daily close for SHY: the price 82.50 cannot be compared with the market. Check it "
               "against TWS: per share or per point, not the total.")
    login(page, live_server, "olivia")
    type_fill(page, live_server, "DM", "SHY", "20", "82.50")
    page.wait_for_selector(".errornote")
    assert warning in page.locator(".errorlist.nonfield").inner_text()
    assert Fill.objects.count() == 0
    page.check("#id_confirm_warnings")
    page.click("input[name=_save]")
    page.wait_for_selector(".messagelist .warning")
    assert "recorded with 1 warning you confirmed" in page.locator(".messagelist").inner_text()
    assert Fill.objects.get().confirmed_warnings == [warning]


def test_a_viewer_sees_no_add_button_and_is_refused_the_add_page(page, live_server, users):
    login(page, live_server, "victor")
    page.goto(f"{live_server.url}/admin/sleeves/fill/")
    assert page.locator("a.addlink").count() == 0
    response = page.goto(f"{live_server.url}/admin/sleeves/fill/add/")
    assert response.status == 403
