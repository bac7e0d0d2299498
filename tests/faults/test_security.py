"""Security: nothing under /admin/ without a login, nothing written by a Viewer, CSRF enforced,
production settings pass `check --deploy`, and the simulator never listens beyond loopback.

The admin URLs are enumerated from the URL resolver, so a page added later is covered without
editing this file. Only the read-only pages are listed by name (READ_ONLY): a new page that
takes a POST is a writing page until it is listed there on purpose.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from decimal import Decimal

import pytest
from django.apps import apps
from django.conf import settings
from django.contrib import admin
from django.contrib.contenttypes.models import ContentType
from django.test import Client
from django.urls import URLResolver
from django.urls.resolvers import RoutePattern
from django_q.models import OrmQ, Task

from dspops.core.alerts import raise_alert
from dspops.core import clock
from dspops.simulator import SimulatorServer, load_scenario
from dspops.core.models import BrokerSnapshot, Instrument
from rolls.roll_service import ManualQuote, plan_roll, run_checks
from sleeves.models import Fill, PriceBar, Sleeve
from sleeves.monitors import run_vrp_cs_monitor, run_vrp_erp_monitor

D = Decimal
LOGIN = "/admin/login/?next="

# Pages that only show something. Every other admin URL writes (or starts work) and needs a
# permission the Viewer does not have. Change lists are read-only too (see READ_ONLY_SUFFIXES);
# their POST runs admin actions, tested separately below.
READ_ONLY = {
    "index", "login", "logout", "password_change", "password_change_done", "jsi18n", "autocomplete", "view_on_site",
    "app_list", "dashboard_chart", "dashboard_weekly_review", "sleeves_positions", "rolls_rollattempt_checklist",
    "rolls_rollattempt_runbook", "records", None,  # None: the catch-all and Django's old "<id>/" redirect to the change page
}
READ_ONLY_SUFFIX = re.compile(r"_changelist$|(?<!_simple)_history$")  # the change list; the list of versions
# A change page that is not a form: it redirects every request to the roll's checklist and writes nothing.
REDIRECT_ONLY = {"rolls_rollattempt_change": re.compile(r"^/admin/rolls/rollattempt/\d+/checklist/$")}


@dataclass(frozen=True)
class AdminUrl:
    name: str | None
    path: str

    def __str__(self) -> str:
        return f"{self.name or '(unnamed)'} {self.path}"


@pytest.fixture
def rows(book, operator_user):
    """A row in as many admin models as the services make cheaply, so object URLs name real objects."""
    now = clock.now()
    run_vrp_cs_monitor(vix=D("16.1"), vvix=D("92.4"), vx1=D("17.48"), vx2=D("18.58"))
    run_vrp_erp_monitor(vix=D("16.1"), spy=D("664.19"), shares=13)
    attempt = plan_roll(user=operator_user, rehearsal=True)
    run_checks(attempt=attempt, user=operator_user, live=False,
               manual_quotes={str(book.front): ManualQuote(D("17.45"), D("17.50"))}, manual_vix=D("16.1"))
    Fill.objects.create(sleeve=Sleeve.objects.get(code="VRP_ERP"), instrument=Instrument.objects.get(symbol="SPY"),
                        side="BUY", quantity=D("13"), price=D("664.19"), executed_at=now, source="manual")
    BrokerSnapshot.objects.create(as_of=now, account="SIM0100001", simulated=True, positions=[])
    PriceBar.objects.create(instrument=Instrument.objects.get(symbol="SPY"), session=clock.current_session(),
                            close=D("664.19"), source="stored")
    raise_alert(code="data_stale", subject="security", severity="info", message="an alert to look at")
    for task_id, success in (("faultsok", True), ("faultsko", False)):
        Task.objects.create(id=task_id, name=task_id, func="sleeves.tasks.reconcile_task", started=now, stopped=now,
                            success=success)
    return attempt


def _walk(patterns, prefix: str = "", model_admin=None):
    """(leaf pattern, route prefix, the ModelAdmin it belongs to) for every admin URL."""
    registry = {f"{m._meta.app_label}/{m._meta.model_name}/": ma for m, ma in admin.site._registry.items()}
    for p in patterns:
        if isinstance(p, URLResolver):
            route = str(p.pattern)
            yield from _walk(p.url_patterns, prefix + route, registry.get(route, model_admin))
        else:
            yield p, prefix, model_admin


def _values(url_name: str | None, param: str, model_admin, user) -> list[str]:
    """The values to try for one parameter of one URL: a real object's id where the model has a row."""
    from digests.charts import CHARTS
    from dspops.tasks import BUTTONS as TASKS

    model = model_admin.model if model_admin else None
    obj = model._default_manager.order_by("pk").first() if model else None
    if param == "object_id":
        return [str(obj.pk) if obj else "1"]
    if param == "version_id":
        version = obj.history.order_by("history_id").first() if hasattr(obj, "history") else None
        return [str(version.history_id) if version else "1"]
    if param == "id":  # the user whose password the auth admin changes
        return [str(user.pk)]
    if param == "content_type_id":
        return [str(ContentType.objects.get_for_model(Instrument).pk)]
    if param == "app_label":
        return ["sleeves"]
    if param == "url":  # the catch-all
        return ["no/such/page/"]
    if (url_name, param) == ("dashboard_run_task", "name"):
        return list(TASKS)
    if (url_name, param) == ("dashboard_chart", "name"):
        return list(CHARTS)
    if param == "action":
        return list(getattr(model_admin, "ACTIONS", {}))
    raise AssertionError(f"{url_name} takes a parameter {param!r} this test does not know how to fill: add it here")


def admin_urls(user) -> list[AdminUrl]:
    """Every admin URL, its parameters filled in."""
    found = []
    for pattern, prefix, model_admin in _walk(admin.site.get_urls()):
        route = str(pattern.pattern)
        if isinstance(pattern.pattern, RoutePattern):  # path("<int:object_id>/...")
            groups = [(param, rf"<(\w+:)?{param}>") for param in pattern.pattern.converters]
        else:  # re_path: named groups, or django-simple-history's two unnamed ones (object, version)
            regex = pattern.pattern.regex
            groups = [(param, rf"\(\?P<{param}>[^)]*\)") for param in regex.groupindex] or [
                (param, r"\([^)]*\)") for param in ("object_id", "version_id")[: regex.groups]]
        candidates = [route]
        for param, group in groups:
            candidates = [re.sub(group, value, c, count=1) for c in candidates
                          for value in _values(pattern.name, param, model_admin, user)]
        found += [AdminUrl(pattern.name, "/admin/" + re.sub(r"[$^]", "", prefix + c)) for c in candidates]
    assert len(found) > 150, len(found)  # the enumeration found the whole admin
    return found


def writes(url: AdminUrl) -> bool:
    return url.name not in READ_ONLY and not READ_ONLY_SUFFIX.search(url.name or "")


def database_state() -> dict[str, list[tuple]]:
    """Every row of every model (history and sessions excepted: a login writes a session)."""
    return {
        model._meta.label: list(model._default_manager.order_by("pk").values_list())
        for model in apps.get_models()
        if model._meta.label not in ("sessions.Session",)
    }


# --- anonymous ------------------------------------------------------------------------------------


def test_every_admin_url_sends_an_anonymous_visitor_to_the_login_page(rows, client, operator_user):
    urls = admin_urls(operator_user)
    before = database_state()
    served = []
    for url in urls:
        if url.name == "login":
            continue
        for method in (client.get, client.post):
            response = method(url.path)
            expected = "/admin/" if url.name == "logout" else f"{LOGIN}{url.path}"
            if (response.status_code, response.get("Location")) != (302, expected):
                served.append((method.__name__, str(url), response.status_code, response.get("Location")))
    assert served == []
    assert database_state() == before


# --- the Viewer -----------------------------------------------------------------------------------


def test_a_viewer_gets_403_on_every_post_to_an_admin_url_that_writes(rows, viewer_client, viewer_user):
    urls = [url for url in admin_urls(viewer_user) if writes(url)]
    names = {url.name for url in urls}
    # The custom writing pages are among them (the enumeration found them, not this list).
    assert {"dashboard_run_task", "dspops_brokersnapshot_refresh", "rolls_rollattempt_plan",
            "rolls_rollattempt_plan_rehearsal", "rolls_rollattempt_action", "sleeves_fill_add",
            "sleeves_spreadposition_change", "auth_user_password_change"} <= names
    before = database_state()
    allowed = []
    for url in urls:
        response = viewer_client.post(url.path, {"why": "viewer", "value": "1", "_save": "Save"})
        if url.name in REDIRECT_ONLY and response.status_code == 302 \
                and REDIRECT_ONLY[url.name].match(response["Location"]):
            continue
        if response.status_code != 403:
            allowed.append((str(url), response.status_code, response.get("Location")))
    assert allowed == []
    assert database_state() == before


def test_a_viewer_cannot_save_an_old_version_of_a_setting_from_its_history_page(booted, viewer_client):
    from sleeves.models import SleeveParameter

    setting = SleeveParameter.objects.get(sleeve__code="VRP_CS", key="max_vix")
    version = setting.history.order_by("history_id").first()
    page = f"/admin/sleeves/sleeveparameter/{setting.pk}/history/{version.history_id}/"
    assert viewer_client.get(page).status_code == 200  # looking at the old version is allowed
    assert viewer_client.post(page, {"value": "45"}).status_code == 403
    setting.refresh_from_db()
    assert setting.value == version.value


def test_a_viewer_cannot_resubmit_a_task_or_delete_its_failure(rows, viewer_client):
    before = database_state()
    for changelist, task_id in (("/admin/django_q/success/", "faultsok"), ("/admin/django_q/failure/", "faultsko")):
        response = viewer_client.post(changelist, {"action": "resubmit_task", "_selected_action": [task_id],
                                                   "index": "0"})
        assert response.status_code == 200  # the change list again: the action is not offered to a Viewer
    assert OrmQ.objects.count() == 0
    assert database_state() == before


def test_a_viewer_posting_any_admin_action_on_any_change_list_changes_nothing(rows, viewer_client, viewer_user):
    before = database_state()
    for model, model_admin in admin.site._registry.items():
        obj = model._default_manager.first()
        changelist = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        for action in [*(model_admin.actions or []), "delete_selected"]:
            name = action if isinstance(action, str) else action.__name__
            data = {"action": name, "_selected_action": [obj.pk] if obj else [], "index": "0", "post": "yes"}
            response = viewer_client.post(changelist, data)
            # The change list again (200), or 403 where a Viewer may not even look (users and groups).
            expected = 403 if model._meta.app_label == "auth" else 200
            assert response.status_code == expected, (changelist, name, response.status_code)
    assert database_state() == before


# --- CSRF -----------------------------------------------------------------------------------------


def test_a_post_without_a_csrf_token_is_refused_on_every_writing_url(rows, operator_user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(operator_user)
    urls = [url for url in admin_urls(operator_user) if writes(url)]
    before = database_state()
    accepted = [(str(url), response.status_code) for url in urls
                if (response := client.post(url.path, {"why": "no token"})).status_code != 403]
    assert accepted == []
    assert database_state() == before
    assert client.get("/admin/").status_code == 200  # the same session can read: it is the token that is missing


# --- production settings --------------------------------------------------------------------------

PRODUCTION_ENV = {
    "DEBUG": "False",
    "SECRET_KEY": "prod-" + "Vq8Lr2Nw5Tz1Xb7Kc4Hm9Pd3Gs6Jf0Ya" * 2,
    "ALLOWED_HOSTS": "dspops.internal",
    "SECURE_SSL_REDIRECT": "True",
    "SECURE_HSTS_SECONDS": "31536000",
    "SESSION_COOKIE_SECURE": "True",
    "CSRF_COOKIE_SECURE": "True",
}


def test_check_deploy_with_production_settings_finds_nothing_at_warning_level():
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=settings.BASE_DIR, env={**env, **PRODUCTION_ENV}, capture_output=True, text=True, timeout=120)
    assert (result.returncode, result.stdout.strip()) == (0, "System check identified no issues (0 silenced)."), \
        result.stdout + result.stderr


# --- the simulator --------------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10"])
def test_the_simulator_refuses_to_bind_beyond_loopback(host):
    with pytest.raises(ValueError) as refused:
        SimulatorServer(load_scenario("calm_contango"), host=host, port=0)
    assert str(refused.value).startswith(f"The TWS simulator refuses to bind {host}: it is not a loopback address.")


def test_the_tws_sim_command_exits_non_zero_for_a_public_bind():
    result = subprocess.run(
        [sys.executable, "manage.py", "tws_sim", "--host", "0.0.0.0", "--port", "0"],
        cwd=settings.BASE_DIR, env={**os.environ, "DEBUG": "True"}, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "The TWS simulator refuses to bind 0.0.0.0: it is not a loopback address." in result.stderr
    assert "listening on" not in result.stdout
