"""Browser tests: Playwright driving Debian's Chromium against the live test server.

Never `playwright install`: the browser is /usr/bin/chromium from Debian's packages (.ci/run
installs it). Without it these tests are skipped with that reason.
"""

import os
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

@pytest.fixture
def browser():
    """A browser per test: Playwright's sync API keeps an event loop running in this thread while it
    is open, and the broker gateway (rightly) refuses to run inside a running loop."""
    if not CHROMIUM.exists():
        pytest.skip("Chromium is not installed at /usr/bin/chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in the test thread; the ORM calls the tests make
    # beside it are ordinary synchronous calls. Only for the browser tests, and undone after.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        )
        yield browser
        browser.close()
    os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


@pytest.fixture
def page(browser, request):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(15000)
    yield page
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    context.close()


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


def login(page, live_server, username, password="pw-for-tests"):
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("input[type=submit]")


@pytest.fixture(scope="session", autouse=True)
def _release_server_thread_connections(django_db_setup, django_db_blocker):
    """The live server's request threads can still hold a PostgreSQL connection when the session ends,
    and PostgreSQL will not drop a database in use: end those sessions (only this run's own test
    database) so the test database is dropped instead of left behind."""
    yield
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


@pytest.fixture
def roll_book(transactional_db):
    """The roll browser tests' book: bootstrap, the Operator olivia, and the VRP-CS config the roll starts from."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from dspops.bootstrap import bootstrap
    from tests.rolls.test_roll_pages import make_book

    bootstrap(create_operator=False)
    user = get_user_model().objects.create_user(username="olivia", password="pw-for-tests", is_staff=True)
    user.groups.add(Group.objects.get(name="Operator"))
    return make_book()
