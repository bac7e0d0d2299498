"""Every page sends the Content-Security-Policy: no inline script or style without the request's nonce,
nothing from another origin, no framing, forms post only to dspops.

The admin URLs are enumerated from the URL resolver (tests/faults/test_security.py), so a page
added later is covered without editing this file. Chromium checks that the pages pass the policy
in tests/e2e/test_content_security_policy_e2e.py.
"""

from __future__ import annotations

import pytest
from django.test import Client

from tests.faults.test_security import admin_urls, rows  # noqa: F401  (rows: the fixture)

HEADER = "Content-Security-Policy"


def directives(response) -> dict[str, list[str]]:
    assert HEADER in response, (response.status_code, response.get("Content-Type"))
    parsed = {}
    for part in response[HEADER].split(";"):
        name, *sources = part.split()
        parsed[name] = sources
    return parsed


def assert_the_policy(response):
    policy = directives(response)
    assert policy["default-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["base-uri"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["form-action"] == ["'self'"]
    assert policy["img-src"] == ["'self'", "data:"]
    for kind in ("script-src", "style-src"):
        # 'self', plus this response's nonce on a page that used one; never another origin.
        assert policy[kind][0] == "'self'" and all(s.startswith("'nonce-") for s in policy[kind][1:]), policy[kind]
    assert policy["style-src-attr"][0] == "'unsafe-hashes'"
    assert all(source.startswith("'sha256-") for source in policy["style-src-attr"][1:])
    assert "'unsafe-inline'" not in response[HEADER] and "'unsafe-eval'" not in response[HEADER]


def test_every_admin_page_sends_the_policy(rows, operator_client, operator_user):
    missing = []
    for url in admin_urls(operator_user):
        response = operator_client.get(url.path)
        if HEADER not in response:
            missing.append((str(url), response.status_code))
            continue
        assert_the_policy(response)
    assert missing == []


def test_the_login_lockout_and_error_pages_send_the_policy(rows, viewer_client, settings):
    settings.DEBUG = False
    anonymous = Client()
    assert_the_policy(anonymous.get("/admin/login/"))
    assert_the_policy(anonymous.get("/no/such/page/"))
    assert viewer_client.get("/admin/sleeves/fill/add/").status_code == 403
    assert_the_policy(viewer_client.get("/admin/sleeves/fill/add/"))
    for _ in range(5):
        locked = anonymous.post("/admin/login/", {"username": "olivia", "password": "wrong"})
    assert locked.status_code == 429
    assert_the_policy(locked)


def test_the_runbook_style_carries_the_nonce_the_header_names(rows, operator_client):
    response = operator_client.get("/admin/rolls/rollattempt/runbook/")
    page = response.content.decode()
    nonce = [s for s in directives(response)["style-src"] if s.startswith("'nonce-")]
    assert len(nonce) == 1
    assert f'<style nonce="{nonce[0][7:-1]}">' in page
    assert "onclick" not in page


@pytest.mark.parametrize("page", ["/admin/", "/admin/sleeves/fill/", "/admin/sleeves/sleeve/positions/",
                                  "/admin/dspops/brokersnapshot/"])
def test_the_main_pages_have_no_inline_script_style_or_handler(rows, operator_client, page):
    html = operator_client.get(page).content.decode()
    assert "<style" not in html and "onclick=" not in html and "javascript:" not in html
    scripts = [chunk.split(">", 1)[0] for chunk in html.split("<script")[1:]]
    assert all("src=" in tag for tag in scripts), scripts
