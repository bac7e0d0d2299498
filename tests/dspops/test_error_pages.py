"""403, 404 and 500 are pages in the admin's look with a way back, and a 403 is logged without a traceback.

The 500 test mounts one view that raises beside the project's own URLs; the error handlers are
the ones dspops/urls.py declares.
"""

from __future__ import annotations

import logging

import pytest
from django.test import Client
from django.urls import path, reverse

import dspops.urls as site_urls

pytestmark = pytest.mark.django_db


def boom(request):
    raise RuntimeError("an unexpected failure inside a view")


# This module is a urlconf too: the project's URLs and its error handlers (Django's defaults where it names none).
urlpatterns = [path("boom/", boom), *site_urls.urlpatterns]
globals().update({name: getattr(site_urls, name) for name in ("handler403", "handler404", "handler500")
                  if hasattr(site_urls, name)})


def assert_styled_with_a_way_back(page: str):
    assert "admin/css/base.css" in page  # the admin's stylesheet: the page has the admin's look
    assert "dspops/dspops.css" in page
    assert '<a href="/admin/" id="back-to-dashboard">Back to the dashboard</a>' in page
    assert '<a href="/admin/login/" id="log-in">Log in</a>' in page
    assert "dspops: DSP-100K operations" in page


def test_a_viewer_on_an_operator_page_gets_the_styled_403(viewer_client):
    response = viewer_client.get(reverse("admin:sleeves_fill_add"))
    page = response.content.decode()
    assert response.status_code == 403
    assert "You are not allowed to do this, victor." in page
    assert_styled_with_a_way_back(page)
    assert "<h1>403 Forbidden</h1>" not in page


def test_a_403_is_logged_as_one_line_without_a_traceback(viewer_client, caplog):
    with caplog.at_level(logging.WARNING, logger="django.request"):
        response = viewer_client.post(reverse("admin:sleeves_fill_add"), {"side": "BUY"})
    assert response.status_code == 403
    forbidden = [r for r in caplog.records if r.name == "django.request" and "Forbidden" in r.getMessage()]
    assert [r.getMessage() for r in forbidden] == ["Forbidden (Permission denied): /admin/sleeves/fill/add/"]
    assert forbidden[0].exc_info is None
    assert "Traceback" not in caplog.text and "PermissionDenied" not in caplog.text


def test_an_unknown_url_with_debug_off_gives_the_styled_404(settings, client, operator_client):
    settings.DEBUG = False
    response = Client().get("/no/such/page/")
    page = response.content.decode()
    assert response.status_code == 404
    assert "There is no page at <code>/no/such/page/</code>." in page
    assert_styled_with_a_way_back(page)
    inside = operator_client.get("/admin/no-such-app/no-such-page/")
    assert inside.status_code == 404
    assert "Page not found" in inside.content.decode()
    assert_styled_with_a_way_back(inside.content.decode())


@pytest.mark.urls(__name__)
def test_a_view_that_raises_gives_the_styled_500_without_a_traceback(settings, booted):
    settings.DEBUG = False
    response = Client(raise_request_exception=False).get("/boom/")
    page = response.content.decode()
    assert response.status_code == 500
    assert "Something went wrong on the server; the request was not completed." in page
    assert_styled_with_a_way_back(page)
    assert "Traceback" not in page and "RuntimeError" not in page and "an unexpected failure" not in page
