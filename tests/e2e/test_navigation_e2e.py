"""The operator's top navigation in a real browser (issue 15, item 4): every link leads to its page, which the nav
then marks as current, and the nav wraps rather than pushing a phone's page sideways."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from dspops.bootstrap import bootstrap
from tests.e2e.conftest import ARTIFACTS, login

pytestmark = pytest.mark.e2e

LABELS = ["Dashboard", "Rolls", "Fills", "Positions", "Alerts", "Digests", "Weekly review", "Settings"]


@pytest.fixture
def operator(transactional_db):
    bootstrap(create_operator=False)
    user = get_user_model().objects.create_user(username="olivia", password="pw-for-tests", is_staff=True)
    user.groups.add(Group.objects.get(name="Operator"))


def test_each_nav_link_opens_its_page_and_is_marked_current(page, live_server, operator):
    page.goto(f"{live_server.url}/admin/login/")
    assert page.locator("nav#operator-nav").count() == 0  # not on the login page
    login(page, live_server, "olivia")
    nav = page.get_by_role("navigation", name="Main")
    assert nav.get_by_role("link").all_inner_texts() == LABELS
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "navigation-dashboard.png"))
    for label in LABELS:
        nav.get_by_role("link", name=label, exact=True).click()
        page.wait_for_load_state()
        assert page.locator("#content").count() == 1, label
        assert nav.locator("a[aria-current=page]").all_inner_texts() == [label]


def test_the_nav_wraps_on_a_phone(page, live_server, operator):
    page.set_viewport_size({"width": 390, "height": 844})
    login(page, live_server, "olivia")
    page.goto(f"{live_server.url}/admin/sleeves/fill/")
    widths = page.eval_on_selector("#operator-nav ul", "e => [e.scrollWidth, e.clientWidth]")
    assert widths[0] <= widths[1], widths
    page.screenshot(path=str(ARTIFACTS / "navigation-phone.png"))
