"""The production start (Procfile.live's web line: collectstatic, then gunicorn) with DEBUG off serves the
styled admin: whitenoise delivers the hashed, compressed static files and Chromium applies them.

The server runs in its own process group on a free loopback port, on its own SQLite database,
static root and settings file in a temporary directory (nothing of the developer's .env), and
is always stopped. The settings are the production ones from the README's Deployment section,
behind a TLS proxy: the browser sends the proxy's `X-Forwarded-Proto: https` itself.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import expect

from tests.e2e.conftest import ARTIFACTS

pytestmark = pytest.mark.e2e

BASE_DIR = Path(settings.BASE_DIR)
HEADER_BG = "rgb(65, 118, 144)"  # the admin's --header-bg, from admin/css/base.css
HASHED = r"\.[0-9a-f]{12}\.(css|js)$"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def web_command(port: int) -> str:
    """Procfile.live's web line, on `port` instead of 8000: the command `make run` starts in live mode."""
    line = next(line for line in (BASE_DIR / "Procfile.live").read_text().splitlines() if line.startswith("web:"))
    command = line.split(":", 1)[1].strip()
    assert "gunicorn dspops.wsgi" in command and "collectstatic" in command, command
    assert "127.0.0.1:8000" in command, command
    return command.replace("127.0.0.1:8000", f"127.0.0.1:{port}")


class ProductionServer:
    def __init__(self, tmp_path: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.static_root = tmp_path / "static"
        env_file = tmp_path / "production.env"
        env_file.write_text("\n".join([
            "DEBUG=False",
            f"SECRET_KEY={secrets.token_urlsafe(50)}",
            "ALLOWED_HOSTS=127.0.0.1",
            "BEHIND_TLS_PROXY=True",
            # The browser talks to gunicorn directly (http), claiming https the way the proxy would.
            f"CSRF_TRUSTED_ORIGINS={self.url}",
            f"DSPOPS_VAR_DIR={tmp_path / 'var'}",
            f"DSPOPS_DATA_DIR={tmp_path / 'data'}",
            f"DSPOPS_STATIC_ROOT={self.static_root}",
            "DATABASE_URL=",
            "REDIS_URL=",
            "IB_MODE=sim",
        ]) + "\n")
        self.env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", str(tmp_path)),
                    "LANG": "C.UTF-8", "DSPOPS_ENV_FILE": str(env_file)}
        self.log = tmp_path / "gunicorn.log"
        self.process: subprocess.Popen | None = None

    def manage(self, *args: str) -> str:
        result = subprocess.run([sys.executable, "manage.py", *args], cwd=BASE_DIR, env=self.env,
                                capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    def start(self):
        with self.log.open("w") as log:
            self.process = subprocess.Popen(["/bin/sh", "-c", web_command(self.port)], cwd=BASE_DIR, env=self.env,
                                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"gunicorn exited:\n{self.log.read_text()}"
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.2)
        raise AssertionError(f"gunicorn did not listen on {self.port} within 90 s:\n{self.log.read_text()}")

    def stop(self):
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)


@pytest.fixture
def server(tmp_path):
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("Chromium is not installed at /usr/bin/chromium (apt-get install chromium)")
    server = ProductionServer(tmp_path)
    server.manage("migrate", "--noinput", "-v", "0")
    out = server.manage("bootstrap")
    server.password = re.search(r"password: (\S+)", out).group(1)
    try:
        server.start()
        yield server
    finally:
        server.stop()
    assert server.process.poll() is not None  # nothing left listening


def test_gunicorn_with_debug_off_serves_the_styled_admin(server, browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, color_scheme="light",
                                  extra_http_headers={"X-Forwarded-Proto": "https"})
    page = context.new_page()
    page.set_default_timeout(15000)
    responses = []
    page.on("response", lambda response: responses.append(response))
    try:
        first = page.goto(f"{server.url}/admin/login/")
        assert first.status == 200
        assert first.headers["strict-transport-security"].startswith("max-age=31536000")

        # The admin's stylesheet arrived: a hashed name from collectstatic's manifest, served by whitenoise
        # with a far-future cache, and Chromium applied it.
        page.wait_for_load_state("load")
        css = [r for r in responses if re.search(r"/static/admin/css/base" + HASHED, r.url)]
        assert len(css) == 1, [r.url for r in responses]
        assert css[0].status == 200
        assert css[0].headers["content-type"].startswith("text/css")
        assert "immutable" in css[0].headers.get("cache-control", "")
        assert page.eval_on_selector("#header", "e => getComputedStyle(e).display") == "flex"
        assert page.eval_on_selector("#header", "e => getComputedStyle(e).backgroundColor") == HEADER_BG
        again = context.request.get(css[0].url)
        assert again.status == 200 and ".module" in again.text()
        assert (server.static_root / "staticfiles.json").exists()  # collectstatic ran into the temporary root

        # Logged in, the dashboard's own stylesheet (static/dspops) arrives the same way.
        page.fill("#id_username", "operator")
        page.fill("#id_password", server.password)
        page.click("input[type=submit]")
        expect(page.locator("#alerts-panel")).to_be_visible()
        assert re.search(r"/admin/$", page.url), page.url
        ours = [r for r in responses if re.search(r"/static/dspops/dashboard" + HASHED, r.url)]
        assert ours and ours[-1].status == 200, [r.url for r in responses]
        assert page.eval_on_selector(".dash", "e => getComputedStyle(e).display") == "grid"
        assert page.eval_on_selector("#alerts-panel", "e => getComputedStyle(e).borderTopWidth") == "1px"

        # DEBUG is off: an unknown page is the styled 404, not Django's technical page.
        missing = page.goto(f"{server.url}/admin/no/such/page/")
        assert missing.status == 404
        expect(page.locator("#error-title")).to_have_text("Page not found")
        expect(page.locator("#back-to-dashboard")).to_have_attribute("href", "/admin/")
        assert page.eval_on_selector("#header", "e => getComputedStyle(e).backgroundColor") == HEADER_BG
        assert not [r.url for r in responses if r.status >= 400 and "/static/" in r.url]
    except Exception:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "production_server.png"), full_page=True)
        print(server.log.read_text())
        raise
    finally:
        context.close()
