"""The pages fit their window (issue 15, item 5): at 1440×900 and on a 390×844 phone no page scrolls sideways, so no
column is cut off and nothing needs a horizontal scroll to be read.

Measured before the fix: at 1440×900 Fills lost everything from "Commission" on, Monitor runs their "Reason", the
position config its "Take profit", the scheduled tasks everything from "Next run" on, Settings their "Updated at"
(with "Meaning" squeezed into 120 px); on the phone the roll checklist was 644 px wide and the broker page 702 px.

The book is the roll tests' spread with the demo's fills, the simulator's calm_contango broker read and reconciled,
every task scheduled, a monitor run with a long reason and a rehearsal roll checked to GO, so every page has rows in
each of its columns. On a desktop a change list's result table must show every column; on a phone it may scroll inside
its own box (as the admin's does), but the page itself never does. Screenshots of every page at both sizes are kept
under the test's tmp_path."""

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from tests.e2e.conftest import login

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("cfe_session_clock")]

SIZES = {"desktop": (1440, 900), "phone": (390, 844)}
PAGES = {
    "dashboard": "/admin/",
    "broker": "/admin/dspops/brokersnapshot/",
    "fills": "/admin/sleeves/fill/",
    "positions": "/admin/rolls/spreadposition/",
    "settings": "/admin/sleeves/sleeveparameter/",
    "monitor-runs": "/admin/sleeves/monitorrun/",
    "scheduled-tasks": "/admin/django_q/schedule/",
}
LONG_REASON = ("the broker could not be reached (vix, vvix): connection refused at 127.0.0.1:7497; start TWS or the "
               "gateway, or run the simulator with make sim, then run the monitor again")


@pytest.fixture
def demo_book(roll_book, broker):
    """The roll tests' book (a spread the calm_contango market passes as GO) with the demo's fills (which make run
    loads), read from the simulator, with every task scheduled."""
    from dspops.demo import load_demo
    from dspops.schedules import setup_schedules
    from sleeves.models import MonitorRun

    get_user_model().objects.create_superuser(username="ada", password="pw-for-tests", email="ada@example.com")
    load_demo()
    setup_schedules()
    MonitorRun.objects.create(kind="vrp_cs", trading_date="2026-11-27", started_at="2026-11-27T16:00:00Z",
                              status="data_unavailable", reason=LONG_REASON, outputs={})
    broker("calm_contango")


def overflow(page) -> tuple[int, int]:
    """The page's own width against its window's: the document scrolls sideways exactly when the first is larger."""
    return page.evaluate("() => [document.scrollingElement.scrollWidth, document.scrollingElement.clientWidth]")


def widest(page) -> list[str]:
    """What sticks out past the window's right edge (the innermost few), for the failure message."""
    return page.evaluate("""() => {
        const out = e => e.getBoundingClientRect().right > document.scrollingElement.clientWidth + 1;
        return [...document.body.querySelectorAll('*')].filter(e => out(e) && ![...e.children].some(out)).slice(0, 4)
            .map(e => `${e.tagName.toLowerCase()}#${e.id}.${e.className} ${e.getBoundingClientRect().right}`);
    }""")


def cut_off_tables(page) -> list[list]:
    """The change lists' result tables that scroll inside their own box: a column cut off at the right edge."""
    return page.evaluate("""() => [...document.querySelectorAll('#changelist .results')]
        .filter(box => box.scrollWidth > box.clientWidth)
        .map(box => [box.scrollWidth, box.clientWidth,
                     [...box.querySelectorAll('thead th')].filter(th => th.getBoundingClientRect().right
                         > box.getBoundingClientRect().right).map(th => th.innerText.trim())])""")


def test_no_page_scrolls_sideways_on_a_desktop_or_a_phone(page, live_server, demo_book, tmp_path):
    login(page, live_server, "ada")
    page.goto(f"{live_server.url}/admin/dspops/brokersnapshot/")
    page.click("#refresh-broker")
    page.wait_for_load_state()
    page.click("#reconcile-now")
    page.wait_for_load_state()
    page.goto(f"{live_server.url}/admin/rolls/rollattempt/")
    page.click("#plan-rehearsal")
    expect(page.locator("#state-title")).to_have_text("Planned")
    page.click("#run-checks")
    expect(page.locator("#verdict")).to_have_text("GO")  # so the checklist shows both tickets and their TWS fields
    urls = {**PAGES, "roll-checklist": page.url.removeprefix(live_server.url)}

    wide = {}
    for size, (width, height) in SIZES.items():
        page.set_viewport_size({"width": width, "height": height})
        for name, url in urls.items():
            page.goto(f"{live_server.url}{url}")
            assert page.locator("#content").count() == 1, (name, url)
            page.screenshot(path=str(tmp_path / f"layout-{size}-{name}.png"), full_page=True)
            scroll_width, client_width = overflow(page)
            if scroll_width > client_width:
                wide[f"{size} {name}"] = (scroll_width, widest(page))
            if size == "desktop" and cut_off_tables(page):
                wide[f"{size} {name} table"] = cut_off_tables(page)
    assert wide == {}, f"pages wider than their window ({SIZES}): {wide}"
