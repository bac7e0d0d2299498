"""Chromium enforces dspops's Content-Security-Policy on the pages an operator uses, and nothing is refused:
no inline script, style or handler without the nonce, nothing from elsewhere.

Each page is loaded after a listener for `securitypolicyviolation` is installed (before any of the
page's own scripts run), and the console is watched for "Content Security Policy" messages. A
deliberate inline script at the end proves the listener hears a violation when there is one.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from dspops.core.alerts import raise_alert
from dspops.core import clock
from dspops.bootstrap import bootstrap
from dspops.core.models import BrokerSnapshot, Instrument
from rolls.roll_service import ManualQuote, plan_roll, run_checks
from sleeves.models import Fill, MonitorRun, Sleeve, SleeveParameter
from sleeves.monitors import run_vrp_cs_monitor, run_vrp_erp_monitor
from tests.e2e.conftest import ARTIFACTS, login
from tests.rolls.test_roll_pages import make_book, roll_symbols

pytestmark = pytest.mark.e2e
D = Decimal

LISTENER = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI || "inline"}: ${e.sample || ""}`);
});
"""


@pytest.fixture
def pages(transactional_db):
    """A book with something on every page: a planned and checked rehearsal roll, monitor runs, a fill,
    a broker reading with positions, an alert."""
    bootstrap(create_operator=False)
    user = get_user_model().objects.create_user(username="olivia", password="pw-for-tests", is_staff=True)
    user.groups.add(Group.objects.get(name="Operator"))
    position = make_book()
    now = clock.now()
    run_vrp_cs_monitor(vix=D("16.1"), vvix=D("92.4"), vx1=D("17.48"), vx2=D("18.58"))
    run_vrp_erp_monitor(vix=D("16.1"), spy=D("664.19"), shares=13)
    attempt = plan_roll(user=user, rehearsal=True)
    old_front, middle, new_back = roll_symbols()
    run_checks(attempt=attempt, user=user, live=False, manual_vix=D("16.1"), manual_quotes={
        old_front: ManualQuote(D("17.45"), D("17.50")), middle: ManualQuote(D("18.50"), D("18.55")),
        new_back: ManualQuote(D("19.25"), D("19.30"))})
    Fill.objects.create(sleeve=Sleeve.objects.get(code="VRP_ERP"), instrument=Instrument.objects.get(symbol="SPY"),
                        side="BUY", quantity=D("13"), price=D("664.19"), executed_at=now, source="manual")
    snapshot = BrokerSnapshot.objects.create(
        as_of=now, account="SIM0100001", simulated=True, net_liquidation=D("101000"),
        positions=[{"local_symbol": str(position.short_leg), "sec_type": "FUT", "quantity": -1, "avg_cost": 1745.0,
                    "con_id": 1}, {"local_symbol": "SPY", "sec_type": "STK", "quantity": 13, "avg_cost": 664.19,
                                   "con_id": 2}])
    raise_alert(code="broker_unavailable", subject="content security policy", severity="critical", message="an alert to look at")
    setting = SleeveParameter.objects.get(sleeve__code="VRP_CS", key="max_vix")
    run = MonitorRun.objects.order_by("pk").first()
    return [
        "/admin/", "/admin/sleeves/fill/", "/admin/sleeves/fill/add/", "/admin/sleeves/sleeve/positions/",
        "/admin/rolls/rollattempt/", f"/admin/rolls/rollattempt/{attempt.pk}/checklist/",
        f"/admin/rolls/rollattempt/runbook/?attempt={attempt.pk}", "/admin/rolls/rollcycle/",
        "/admin/dspops/brokersnapshot/", f"/admin/dspops/brokersnapshot/{snapshot.pk}/change/",
        "/admin/dspops/alert/", f"/admin/sleeves/monitorrun/{run.pk}/change/",
        f"/admin/sleeves/sleeveparameter/{setting.pk}/history/", f"/admin/sleeves/sleeveparameter/{setting.pk}/change/",
        "/admin/no-such-app/no-such-page/",
    ]


def test_the_operators_pages_pass_the_content_security_policy(page, live_server, pages):
    console = []
    page.on("console", lambda message: console.append(message.text))
    page.context.add_init_script(LISTENER)
    refused = {}

    def visit(path: str):
        response = page.goto(f"{live_server.url}{path}")
        page.wait_for_load_state("load")
        assert "Content-Security-Policy" in response.headers or "content-security-policy" in response.headers, path
        violations = page.evaluate("window.__cspViolations") + [t for t in console if "Content Security Policy" in t]
        console.clear()
        if violations:
            refused[path] = violations

    visit("/admin/login/")
    login(page, live_server, "olivia")
    page.wait_for_url(f"{live_server.url}/admin/")
    for path in pages:
        visit(path)
    if refused:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "csp_violation.png"), full_page=True)
    assert refused == {}

    # The checklist's tickets, the runbook's print styles and the dashboard's panels were styled from
    # files (or the nonce'd block), so the pages still look as designed.
    page.goto(f"{live_server.url}/admin/")
    assert page.eval_on_selector(".dash", "e => getComputedStyle(e).display") == "grid"
    page.goto(f"{live_server.url}{pages[6]}")
    assert page.eval_on_selector(".tick-box", "e => getComputedStyle(e).display") == "inline-block"
    page.goto(f"{live_server.url}/admin/sleeves/sleeve/positions/")
    assert page.eval_on_selector("#positions th.num", "e => getComputedStyle(e).textAlign") == "right"

    # The listener does hear a violation: an inline script added now is refused and reported.
    page.evaluate("""() => { const s = document.createElement("script"); s.textContent = "window.__ran = 1";
                             document.body.appendChild(s); }""")
    page.wait_for_function("window.__cspViolations.length > 0")
    assert page.evaluate("window.__ran") is None
    assert "script-src" in page.evaluate("window.__cspViolations")[0]
