"""In a real browser: a digest built from an alert that carries hostile exec id / order ref text is inert.

No anchor in #latest-digest has a javascript: (or data:/vbscript:) href, nothing from the data
runs on load, and clicking the link texts opens no dialog.
"""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from dspops.core.alerts import raise_alert
from digests.services import generate_digest
from dspops.bootstrap import bootstrap
from tests.e2e.conftest import login

pytestmark = pytest.mark.e2e

LINK_TEXTS = ("exec-link", "order-ref", "ref-link")  # markdown links: their text stays an anchor
HOSTILE_MESSAGE = (
    "Fill exec id [exec-link](javascript:alert(1)) with order ref [order-ref](&#106;avascript:alert(2)) "
    "was not matched; see [ref-link][evil] and <a href=\"javascript:alert(3)\">raw-anchor</a>. "
    "<script>alert('from-the-data')</script> <img src=x onerror=alert(4)>\n\n"
    "[evil]: javascript:alert(5)"
)


@pytest.fixture
def hostile_book(transactional_db):
    bootstrap(create_operator=False)
    user = get_user_model().objects.create_user(username="olivia", password="pw-for-tests", is_staff=True)
    user.groups.add(Group.objects.get(name="Operator"))
    raise_alert(code="orphan_leg", subject="exec 0001", severity="critical", message=HOSTILE_MESSAGE)
    # No date: the current session, or on a closed day the last one.
    digest = generate_digest(write_file=False)
    assert "[exec-link](javascript:alert(1))" in digest.markdown
    return digest


def test_a_hostile_alert_in_the_latest_digest_has_no_script_link_and_opens_no_dialog(page, live_server, hostile_book):
    dialogs = []

    def on_dialog(dialog):
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    login(page, live_server, "olivia")
    page.goto(f"{live_server.url}/admin/")

    panel = page.locator("#latest-digest")
    text = panel.inner_text()
    assert "Fill exec id" in text and "<script>alert('from-the-data')</script>" in text
    assert '<a href="javascript:alert(3)">raw-anchor</a>' in text  # raw HTML shows as the text it is
    hrefs = panel.locator("a").evaluate_all("anchors => anchors.map(a => a.getAttribute('href'))")
    resolved = panel.locator("a[href]").evaluate_all("anchors => anchors.map(a => a.protocol)")
    assert not [h for h in hrefs if h and h.replace("\t", "").replace("\n", "").strip().lower().startswith(
        ("javascript:", "data:", "vbscript:"))], hrefs
    assert set(resolved) <= {"http:", "https:", "mailto:"}, resolved
    assert panel.locator("script, img, iframe, [onerror], [onclick], [onload]").count() == 0

    for link_text in LINK_TEXTS:
        panel.get_by_text(link_text, exact=True).click()
        page.wait_for_timeout(300)
    assert page.url.rstrip("/").endswith("/admin"), page.url
    assert dialogs == []
