"""Dashboard charts are drawn once per change of their data (digests.charts), not once per page view.

A chart's version is a digest of the values it draws: every input that changes the picture (a new log row,
a row or a price bar corrected in place, an edited or a new position config) gives a new version and new
bytes; anything else keeps the kept copy. Over HTTP: the page's addresses name the version; an address
without one gets an ETag and a 304 when the browser already holds it; the admin's login still guards it.

Each test keeps its charts under its own key prefix in the configured charts cache (files, or Redis in CI),
for a minute, so no test sees another's copies and nothing is cleared under anyone else.
"""

import html
import re
import uuid
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from django.core.cache import caches
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from digests import charts
from dspops.core import vx
from dspops.core.instruments import vxm_instrument
from dspops.core.models import Instrument
from sleeves.models import PriceBar, Sleeve, SpreadPosition, VrpCsLogEntry, VrpErpLogEntry
from tests.digests.test_views import row_counts

NAMES = ("vol", "spread", "erp")
SESSIONS = [date(2026, 11, 16) + timedelta(days=i) for i in range(5)]  # Mon 16 .. Fri 20 November 2026
CHART_SRC = re.compile(r'<img src="([^"]*/dashboard/chart/[^"]*)"')


@pytest.fixture(autouse=True)
def own_chart_cache(settings, monkeypatch):
    """The configured charts backend, under a key prefix of this test's own; its copies go after a minute."""
    settings.CACHES = {**settings.CACHES,
                       "charts": {**settings.CACHES["charts"], "KEY_PREFIX": f"test-{uuid.uuid4().hex}"}}
    monkeypatch.setattr(charts, "CACHE_SECONDS", 60)


@pytest.fixture
def draws(monkeypatch):
    """How many figures matplotlib has been asked for (every drawing, empty or not, starts with one)."""
    count = {"figures": 0}
    figure = charts._figure

    def counting(title):
        count["figures"] += 1
        return figure(title)

    monkeypatch.setattr(charts, "_figure", counting)
    return count


def _at(day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=timezone.utc)


def _cs(day: date, hour: int = 14, *, vix="17.00", vx1="18.00", vx2="19.20", spread="1.20") -> VrpCsLogEntry:
    return VrpCsLogEntry.objects.create(logged_at=_at(day, hour), trading_date=day, data_status="ok",
                                        vix=Decimal(vix), vx1=Decimal(vx1), vx2=Decimal(vx2), spread=Decimal(spread),
                                        source="simulated")


def _erp(day: date, hour: int = 14, *, target=20, actual=18) -> VrpErpLogEntry:
    return VrpErpLogEntry.objects.create(logged_at=_at(day, hour), trading_date=day, data_status="ok",
                                         vix=Decimal("17.00"), spy_price=Decimal("600.00"), target_shares=target,
                                         actual_shares=actual, source="simulated")


def _vix_close(day: date, close: str) -> PriceBar:
    return PriceBar.objects.create(instrument=Instrument.objects.get(symbol="VIX"), session=day,
                                   close=Decimal(close), source="stored")


def _position(*, entry_date=date(2026, 11, 16), stop="0.60", take_profit="2.20") -> SpreadPosition:
    return SpreadPosition.objects.create(
        sleeve=Sleeve.objects.get(code="VRP_CS"), short_leg=vxm_instrument(vx.ContractMonth(2026, 12)),
        long_leg=vxm_instrument(vx.ContractMonth(2027, 1)), quantity=1, short_entry_price=Decimal("17.45"),
        long_entry_price=Decimal("18.55"), entry_date=entry_date, entry_spread=Decimal("1.10"),
        stop_loss_spread=Decimal(stop), take_profit_spread=Decimal(take_profit), settlement_date=date(2026, 12, 16),
        roll_by=date(2026, 12, 9))


@pytest.fixture
def history(booted):
    """A week of every input: VRP-CS and VRP-ERP log rows (two runs a session), VIX closes (one the Friday
    before, with no VRP-CS reading), the position."""
    _vix_close(date(2026, 11, 13), "15.00")
    for i, day in enumerate(SESSIONS):
        _vix_close(day, f"{16 + i}.50")
        for hour in (14, 21):
            _cs(day, hour, spread=f"1.{i}{hour % 10}")
            _erp(day, hour, target=20 + i, actual=18 + i)
    return _position()


def versions() -> dict[str, str]:
    return {name: charts.current(name).version for name in NAMES}


def chart_urls(client) -> dict[str, str]:
    page = client.get(reverse("admin:index")).content.decode()
    return dict(zip(NAMES, (html.unescape(src) for src in CHART_SRC.findall(page)), strict=True))


def svg(client, name: str) -> bytes:
    response = client.get(reverse("admin:dashboard_chart", args=[name]))
    assert response.status_code == 200 and response["Content-Type"] == "image/svg+xml"
    return response.content


def test_a_chart_is_drawn_once_then_answered_from_the_cache(operator_client, history, draws):
    rows = row_counts()
    urls = chart_urls(operator_client)
    assert draws["figures"] == 0  # the page works out versions; it draws nothing
    first = {name: operator_client.get(url).content for name, url in urls.items()}
    assert draws["figures"] == 3 and all(b"<svg" in body for body in first.values())

    again = {name: operator_client.get(url).content for name, url in chart_urls(operator_client).items()}
    unversioned = {name: svg(operator_client, name) for name in NAMES}

    assert draws["figures"] == 3
    assert again == first == unversioned
    assert row_counts() == rows  # the copies are kept in the cache, never in the database


def test_the_page_names_each_charts_current_version(operator_client, history):
    urls = chart_urls(operator_client)
    for name, version in versions().items():
        assert urls[name] == f"{reverse('admin:dashboard_chart', args=[name])}?v={version}"


def test_a_versioned_address_kept_in_the_cache_is_answered_without_reading_the_data(operator_client, history):
    urls = chart_urls(operator_client)
    for url in urls.values():
        operator_client.get(url)
    with CaptureQueriesContext(connection) as queries:
        for url in urls.values():
            assert operator_client.get(url).status_code == 200
    read = " ".join(query["sql"] for query in queries.captured_queries)
    for table in ("sleeves_vrpcslogentry", "sleeves_vrperplogentry", "sleeves_pricebar", "rolls_spreadposition"):
        assert table not in read


def _new_cs_row():
    _cs(date(2026, 11, 23), vx1="18.40", spread="1.35")


def _cs_row_corrected():
    VrpCsLogEntry.objects.filter(trading_date=SESSIONS[2]).update(vx1=Decimal("18.75"), spread=Decimal("1.55"))


def _new_vix_close():
    _vix_close(date(2026, 11, 23), "21.25")


def _vix_close_corrected():
    # As sleeves.price_import corrects a bar: update() in place, no new row, no signal. The session has no
    # VRP-CS reading, so the stored close is what the chart draws.
    PriceBar.objects.filter(instrument__symbol="VIX", session=date(2026, 11, 13)).update(close=Decimal("15.80"))


def _position_edited():
    position = SpreadPosition.objects.get(is_active=True)
    position.stop_loss_spread = Decimal("0.70")
    position.save()


def _new_position():
    SpreadPosition.objects.filter(is_active=True).update(is_active=False)
    _position(entry_date=date(2026, 11, 18), stop="0.80", take_profit="2.40")


def _new_erp_row():
    _erp(date(2026, 11, 23), target=26, actual=25)


def _erp_row_corrected():
    VrpErpLogEntry.objects.filter(trading_date=SESSIONS[-1]).update(actual_shares=30)


# Each input and the charts that draw it: only those get a new version.
CHANGES = [
    (_new_cs_row, {"vol", "spread"}),
    (_cs_row_corrected, {"vol", "spread"}),
    (_new_vix_close, {"vol"}),
    (_vix_close_corrected, {"vol"}),
    (_position_edited, {"spread"}),
    (_new_position, {"spread"}),
    (_new_erp_row, {"erp"}),
    (_erp_row_corrected, {"erp"}),
]


@pytest.mark.parametrize("change, changed", CHANGES, ids=[change.__name__.strip("_") for change, _ in CHANGES])
def test_each_input_changes_its_charts_version_and_picture(operator_client, history, draws, change, changed):
    before, pictures = versions(), {name: svg(operator_client, name) for name in NAMES}
    drawn = draws["figures"]

    change()

    after = versions()
    assert {name for name in NAMES if after[name] != before[name]} == changed
    for name in NAMES:
        assert (svg(operator_client, name) != pictures[name]) == (name in changed)
    assert draws["figures"] == drawn + len(changed)  # the unchanged charts come from the cache


def test_the_window_moves_with_a_new_session(booted):
    for i in range(charts.SESSIONS):
        _erp(date(2026, 1, 1) + timedelta(days=i), target=10 + i % 3)
    before = charts.current("erp")
    assert len(before.data[1]) == charts.SESSIONS and before.data[1][0][0] == "2026-01-01"

    _erp(date(2026, 1, 1) + timedelta(days=charts.SESSIONS), target=10)

    after = charts.current("erp")
    assert after.version != before.version
    assert len(after.data[1]) == charts.SESSIONS and after.data[1][0][0] == "2026-01-02"


def test_the_same_data_on_another_day_is_the_same_picture(history, time_machine):
    # No chart's window depends on today: the date is no input, and a weekend redraws nothing.
    time_machine.move_to(datetime(2026, 11, 20, 20, tzinfo=timezone.utc))
    friday = versions()
    time_machine.move_to(datetime(2026, 11, 23, 14, tzinfo=timezone.utc))
    assert versions() == friday


def test_the_same_data_draws_the_same_bytes(history):
    for name in NAMES:
        rendered = charts.current(name)
        assert charts.CHARTS[name].draw(rendered.data) == charts.CHARTS[name].draw(rendered.data)


def test_the_etag_is_the_version_and_a_browser_holding_it_gets_a_304(operator_client, history, draws):
    url = reverse("admin:dashboard_chart", args=["spread"])
    first = operator_client.get(url)
    etag = first["ETag"]
    assert etag == f'"{charts.current("spread").version}"'
    assert "no-cache" in first["Cache-Control"] and "private" in first["Cache-Control"]
    drawn = draws["figures"]

    revalidated = operator_client.get(url, headers={"if-none-match": etag})

    assert revalidated.status_code == 304 and revalidated.content == b""
    assert revalidated["ETag"] == etag and draws["figures"] == drawn

    _position_edited()
    changed = operator_client.get(url, headers={"if-none-match": etag})
    assert changed.status_code == 200 and changed["ETag"] != etag and changed.content != first.content


def test_a_versioned_address_is_for_ever_and_an_old_one_gets_the_current_picture(operator_client, history):
    old_url = chart_urls(operator_client)["spread"]
    old = operator_client.get(old_url)
    assert old["ETag"] == f'"{old_url.rsplit("=", 1)[1]}"'
    assert "immutable" in old["Cache-Control"]

    _position_edited()
    caches["charts"].delete(f"chart:{old_url.rsplit('=', 1)[1]}")  # the old copy is gone (culled, expired)
    stale = operator_client.get(old_url)

    assert stale.status_code == 200 and stale.content != old.content
    assert stale["ETag"] == f'"{charts.current("spread").version}"' and "no-cache" in stale["Cache-Control"]


@pytest.mark.parametrize("asked", ["../../etc/passwd", "vol-" + "0" * 24, "spread-XYZ", "spread-" + "f" * 25])
def test_an_address_naming_no_version_of_this_chart_gets_the_current_picture(operator_client, history, asked):
    # Another chart's version, or text that is no version, never reaches the cache as a key.
    response = operator_client.get(reverse("admin:dashboard_chart", args=["spread"]), {"v": asked})
    assert response.status_code == 200 and response["ETag"] == f'"{charts.current("spread").version}"'
    assert b"stop 0.60" in response.content


def test_a_chart_still_answers_when_the_cache_cannot_be_reached(operator_client, history, monkeypatch):
    class Down:
        def get(self, *args, **kwargs):
            raise ConnectionError("cache down")

        set = get

    monkeypatch.setattr(charts, "caches", {charts.CACHE_ALIAS: Down()})
    assert b"<svg" in svg(operator_client, "vol")
    for url in chart_urls(operator_client).values():
        assert operator_client.get(url).status_code == 200


def test_a_viewer_sees_the_charts_and_a_stranger_is_sent_to_log_in(client, viewer_client, history, draws):
    urls = chart_urls(viewer_client)
    for url in urls.values():
        assert viewer_client.get(url).status_code == 200
    drawn = draws["figures"]
    viewer_client.logout()

    for url in list(urls.values()) + [reverse("admin:dashboard_chart", args=[name]) for name in NAMES]:
        response = client.get(url)
        assert response.status_code == 302 and reverse("admin:login") in response["Location"]
        assert b"<svg" not in response.content
    assert draws["figures"] == drawn


def test_a_browser_may_keep_a_chart_and_revalidate_it(operator_client, history):
    for url in [chart_urls(operator_client)["vol"], reverse("admin:dashboard_chart", args=["vol"])]:
        assert "no-store" not in operator_client.get(url)["Cache-Control"]


def test_a_chart_whose_data_cannot_be_read_does_not_take_the_dashboard_down(operator_client, history, monkeypatch):
    """The page links that chart unversioned (its view then draws or fails alone) and shows everything else."""
    broken = charts.Chart("vol", lambda: 1 / 0, charts.CHARTS["vol"].draw)
    monkeypatch.setitem(charts.CHARTS, "vol", broken)
    response = operator_client.get(reverse("admin:index"))
    assert response.status_code == 200
    urls = dict(zip(NAMES, (html.unescape(src) for src in CHART_SRC.findall(response.content.decode())), strict=True))
    assert urls["vol"] == reverse("admin:dashboard_chart", args=["vol"])
    assert "?v=spread-" in urls["spread"] and "?v=erp-" in urls["erp"]
