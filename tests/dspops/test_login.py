"""Logging in: failed attempts are throttled (django-axes, enabled as in production) and a refused `next`
lands on the dashboard.

Every request goes through the real admin login form and the whole middleware stack; the lock is
kept in the database (axes' AccessAttempt rows).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.conf import settings
from django.test import Client
from django.utils import timezone

LOGIN = "/admin/login/"
PASSWORD = "pw-for-tests"

pytestmark = pytest.mark.django_db


def attempt(client: Client, username: str, password: str, **extra):
    return client.post(LOGIN, {"username": username, "password": password, "next": "/admin/"}, **extra)


def logged_in_as(client: Client) -> str | None:
    response = client.get("/admin/")
    return response.context["user"].get_username() if response.status_code == 200 else None


def test_throttling_is_on_with_five_attempts_and_fifteen_minutes():
    assert settings.AXES_ENABLED is True
    assert (settings.AXES_FAILURE_LIMIT, settings.AXES_COOLOFF_TIME) == (5, timedelta(minutes=15))
    assert settings.AUTHENTICATION_BACKENDS[0] == "axes.backends.AxesStandaloneBackend"
    assert settings.MIDDLEWARE[-1] == "axes.middleware.AxesMiddleware"


def test_five_wrong_passwords_then_the_right_one_is_refused_with_the_lockout_page(operator_user):
    client = Client()
    for _ in range(4):
        response = attempt(client, "olivia", "wrong")
        assert response.status_code == 200
        assert "Please enter the correct username and password" in response.content.decode()
    fifth = attempt(client, "olivia", "wrong")
    assert fifth.status_code == 429

    before = timezone.localtime(timezone.now() + timedelta(minutes=15))
    right = attempt(client, "olivia", PASSWORD)
    after = timezone.localtime(timezone.now() + timedelta(minutes=15))
    page = " ".join(right.content.decode().split())
    assert right.status_code == 429
    assert "Too many failed logins for olivia: logging in is locked" in page
    assert any(f"for 15 minutes, until {until:%H:%M}" in page for until in (before, after)), page
    assert "admin/css/base.css" in page and '<a href="/admin/" id="back-to-dashboard">' in page
    assert "Traceback" not in page
    assert logged_in_as(client) is None


def test_a_different_user_from_the_same_address_is_not_locked(operator_user, viewer_user):
    client = Client()
    for _ in range(5):
        attempt(client, "olivia", "wrong")
    assert attempt(client, "olivia", PASSWORD).status_code == 429
    response = attempt(client, "victor", PASSWORD)
    assert (response.status_code, response["Location"]) == (302, "/admin/")
    assert logged_in_as(client) == "victor"


def test_the_same_user_from_another_address_is_not_locked(operator_user):
    for _ in range(5):
        attempt(Client(), "olivia", "wrong", REMOTE_ADDR="203.0.113.7")
    assert attempt(Client(), "olivia", PASSWORD, REMOTE_ADDR="203.0.113.7").status_code == 429
    elsewhere = attempt(Client(), "olivia", PASSWORD, REMOTE_ADDR="198.51.100.2")
    assert (elsewhere.status_code, elsewhere["Location"]) == (302, "/admin/")


def test_the_lock_lifts_after_fifteen_minutes(operator_user):
    client = Client()
    for _ in range(5):
        attempt(client, "olivia", "wrong")
    assert attempt(client, "olivia", PASSWORD).status_code == 429
    with time_machine.travel(timezone.now() + timedelta(minutes=16), tick=False):
        response = attempt(client, "olivia", PASSWORD)
    assert (response.status_code, response["Location"]) == (302, "/admin/")


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/", "http://testserver.evil.example/x"])
def test_a_login_whose_next_is_refused_lands_on_the_dashboard(operator_user, target):
    client = Client()
    response = client.post(f"{LOGIN}?next={target}", {"username": "olivia", "password": PASSWORD, "next": target})
    assert (response.status_code, response["Location"]) == (302, "/admin/")
    assert client.get(response["Location"]).status_code == 200


def test_a_login_with_an_allowed_next_goes_there(operator_user):
    client = Client()
    response = client.post(LOGIN, {"username": "olivia", "password": PASSWORD, "next": "/admin/sleeves/fill/"})
    assert (response.status_code, response["Location"]) == (302, "/admin/sleeves/fill/")
