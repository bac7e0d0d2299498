"""The operator's navigation (issue 15, item 4): the top nav, the "Records" section and the roll calendar's
opening page."""

import re
from datetime import date, datetime, time, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.urls import reverse

from dspops.admin_site import NAV, RECORDS
from dspops.core import calendars, clock
from rolls.models import RollCycle
from sleeves.models import SleeveParameter

NAV_LABELS = ["Dashboard", "Rolls", "Fills", "Positions", "Alerts", "Digests", "Weekly review", "Settings"]
NAV_BLOCK = re.compile(r'<nav class="operator-nav" id="operator-nav" aria-label="Main">(.*?)</nav>', re.S)
NAV_LINK = re.compile(r'<a href="([^"]+)"(?: aria-current="(page|true)")?>([^<]+)</a>')


def nav_links(response) -> list[tuple[str, str, str]]:
    """(url, aria-current or "", label) of each link in the page's top nav; [] when the page has no nav."""
    found = NAV_BLOCK.findall(response.content.decode())
    assert len(found) <= 1, "the page carries the top nav more than once"
    return [(url, current, label) for url, current, label in NAV_LINK.findall(found[0])] if found else []


def test_the_nav_lists_the_operator_pages_in_order(operator_client):
    links = nav_links(operator_client.get(reverse("admin:index")))
    assert [label for _, _, label in links] == NAV_LABELS
    assert [label for label, _, _ in NAV] == NAV_LABELS


@pytest.mark.parametrize("who", ["operator_client", "viewer_client"])
def test_every_nav_link_opens(request, who):
    client = request.getfixturevalue(who)
    links = nav_links(client.get(reverse("admin:index")))
    assert [label for _, _, label in links] == NAV_LABELS  # a Viewer sees the same links; the pages stop changes
    for url, _, label in links:
        assert client.get(url).status_code == 200, label


def test_a_user_sees_no_link_to_a_page_it_cannot_open(booted, client):
    """Staff allowed to view the fills only: the nav leaves out every model page it may not view."""
    user = get_user_model().objects.create_user(username="fiona", password="pw-for-tests", is_staff=True)
    user.user_permissions.add(Permission.objects.get(content_type__app_label="sleeves", codename="view_fill"))
    client.force_login(user)
    links = nav_links(client.get(reverse("admin:sleeves_fill_changelist")))
    assert [label for _, _, label in links] == ["Dashboard", "Fills", "Positions", "Weekly review"]
    for url, _, label in links:
        assert client.get(url).status_code == 200, label
    for hidden in ("admin:rolls_rollattempt_changelist", "admin:dspops_alert_changelist",
                   "admin:digests_digest_changelist", "admin:sleeves_sleeveparameter_changelist"):
        assert client.get(reverse(hidden)).status_code == 403, hidden


def test_the_nav_is_on_a_changelist_and_marks_the_page(operator_client):
    links = nav_links(operator_client.get(reverse("admin:sleeves_fill_changelist")))
    assert [(label, current) for _, current, label in links if current] == [("Fills", "page")]


def test_a_change_page_marks_its_section(operator_client):
    setting = SleeveParameter.objects.order_by("pk").first()
    links = nav_links(operator_client.get(reverse("admin:sleeves_sleeveparameter_change", args=[setting.pk])))
    assert [(label, current) for _, current, label in links if current] == [("Settings", "true")]


def test_the_login_page_has_no_nav(booted, client):
    response = client.get(reverse("admin:login"))
    assert response.status_code == 200
    assert nav_links(response) == []
    assert "operator-nav" not in response.content.decode()


def test_a_logged_out_visitor_gets_the_login_page_not_the_nav(booted, client):
    response = client.get(reverse("admin:sleeves_fill_changelist"), follow=True)
    assert response.redirect_chain and reverse("admin:login") in response.redirect_chain[-1][0]
    assert nav_links(response) == []


def test_the_weekly_review_is_linked_with_no_digest_stored(operator_client):
    from digests.models import Digest

    Digest.objects.all().delete()
    review = reverse("admin:dashboard_weekly_review")
    for page in ("admin:index", "admin:sleeves_fill_changelist", "admin:dashboard_weekly_review"):
        links = nav_links(operator_client.get(reverse(page)))
        assert (review, "Weekly review") in [(url, label) for url, _, label in links], page


# --- the Records section -----------------------------------------------------------------------------------


def sections(app_list) -> dict[str, set[tuple[str, str]]]:
    """Each section's name -> the (app label, model name) of its models (a record keeps its own app's label)."""
    return {app["name"]: {(m["model"]._meta.app_label, m["model"]._meta.model_name) for m in app["models"]}
            for app in app_list}


@pytest.mark.parametrize("who", ["operator_client", "viewer_client"])
def test_records_groups_exactly_the_internal_record_tables(request, who):
    client = request.getfixturevalue(who)
    response = client.get(reverse("admin:index"))
    for app_list in (response.context["app_list"], response.context["available_apps"]):
        grouped = sections(app_list)
        assert grouped["Records"] == set(RECORDS)
        assert set(RECORDS) == {("sleeves", "signalstate"), ("rolls", "checkresult"), ("rolls", "rolltransition"),
                                ("rolls", "rollcheck"), ("sleeves", "legacytrade"), ("dspops", "quotesnapshot")}
        for name, models in grouped.items():
            if name != "Records":
                assert not models & set(RECORDS), name


def test_the_records_page_lists_its_tables_and_each_opens(operator_client):
    response = operator_client.get(reverse("admin:records"))
    assert response.status_code == 200
    (section,) = response.context["app_list"]
    assert [(m["object_name"].lower()) for m in section["models"]] == [model for _, model in RECORDS]
    for model in section["models"]:
        assert operator_client.get(model["admin_url"]).status_code == 200, model["name"]


def test_the_records_page_refuses_a_user_who_may_see_none_of_them(booted, client):
    user = get_user_model().objects.create_user(username="fiona", password="pw-for-tests", is_staff=True)
    user.user_permissions.add(Permission.objects.get(content_type__app_label="sleeves", codename="view_fill"))
    client.force_login(user)
    assert client.get(reverse("admin:records")).status_code == 403
    assert "Records" not in sections(client.get(reverse("admin:index")).context["available_apps"])


# --- the roll calendar opens on the coming months ----------------------------------------------------------


def first_rows(client, query: str = "") -> list[RollCycle]:
    response = client.get(reverse("admin:rolls_rollcycle_changelist") + query)
    assert response.status_code == 200
    return list(response.context["cl"].result_list)


def assert_opens_on_the_coming_months(client, today: date):
    rows = first_rows(client)
    assert rows, "the roll calendar shows no month still to settle"
    first = rows[0]
    assert first.contract_month >= f"{today:%Y-%m}"
    assert first.settlement_date >= today
    # ...and it is the next month to settle, not a later one
    assert not RollCycle.objects.filter(settlement_date__gte=today, contract_month__lt=first.contract_month).exists()


def test_the_roll_calendar_opens_on_the_coming_months(operator_client):
    assert_opens_on_the_coming_months(operator_client, clock.trading_date())


def test_the_roll_calendar_opens_on_the_coming_months_on_a_weekend(operator_client, time_machine):
    day = clock.trading_date()
    saturday = day + timedelta(days=(5 - day.weekday()) % 7)
    time_machine.move_to(datetime.combine(saturday, time(11, 0), calendars.NEW_YORK), tick=False)
    assert clock.trading_date() == saturday
    assert_opens_on_the_coming_months(operator_client, saturday)


def test_the_roll_calendar_still_shows_settled_and_all_months(operator_client):
    today = clock.trading_date()
    settled = first_rows(operator_client, "?settlement=settled")
    assert settled and all(row.settlement_date < today for row in settled)
    everything = first_rows(operator_client, "?settlement=all")
    assert everything[0] == RollCycle.objects.order_by("contract_month").first()
    # the other filter still narrows the default view
    n = RollCycle.objects.values_list("sessions_before", flat=True).first()
    narrowed = first_rows(operator_client, f"?sessions_before={n}")
    assert narrowed and all(row.sessions_before == n and row.settlement_date >= today for row in narrowed)


def test_the_roll_calendar_filter_marks_its_default_choice(operator_client):
    response = operator_client.get(reverse("admin:rolls_rollcycle_changelist"))
    (spec,) = [s for s in response.context["cl"].filter_specs if getattr(s, "parameter_name", "") == "settlement"]
    choices = list(spec.choices(response.context["cl"]))
    assert [c["display"] for c in choices if c["selected"]] == ["Not yet settled"]
    assert [c["display"] for c in choices] == ["Not yet settled", "Settled", "All"]


def test_the_records_page_takes_no_post(operator_client):
    assert operator_client.post(reverse("admin:records"), {"x": "1"}).status_code == 405


def test_an_apps_own_page_still_lists_its_record_tables(operator_client):
    """A record's change list leads back (breadcrumbs) to its app's page, which still lists it."""
    response = operator_client.get(reverse("admin:app_list", args=["rolls"]))
    (app,) = response.context["app_list"]
    assert {"rolltransition", "rollcheck", "checkresult"} <= {m["object_name"].lower() for m in app["models"]}
