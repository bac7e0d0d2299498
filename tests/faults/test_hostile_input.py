"""Hostile input never becomes a server error or a number (DECISIONS.md section 11, issue 11 item 3).

Each measured failure is a test here: absurd broker values (through the real ib_insync client and
the simulator's ``faults.absurd``), dates and numbers outside the bounds in every admin form, the
history pages with a non-numeric version id, a foreign key too large for a bigint, fills stored
with a date in year 1 or 9999, and a walk over every admin URL with hostile ids and query strings.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from django.contrib import admin
from django.db import connection
from django.test import Client
from django.urls import reverse
from simple_history.admin import SimpleHistoryAdmin

from dspops.core import calendars, clock
from dspops.core.models import BrokerSnapshot, Instrument, QuoteSnapshot
from sleeves.models import SpreadPosition
from rolls.models import RollCycle
from sleeves.models import Fill, MonitorRun, RunStatus, Sleeve, SleeveParameter, VrpCsLogEntry, VrpErpLogEntry
from sleeves.monitors import run_vrp_cs_monitor, run_vrp_erp_monitor

from .conftest import changed_counts, row_counts

D = Decimal
UTC = timezone.utc
NOT_USED = "absurd value from the broker, not used: "
ABSURD_BROKER = {"faults": {"absurd": {
    "quotes": {"VIX": {"last": 1e300}, "front": {"bid": 1e18, "ask": 1e18, "last": 1e18}},
    "account_values": {"NetLiquidation": 1e30},
}}}
VIX_WHY = NOT_USED + "last 1e+300 is outside the plausible range 0 to 1000"
FRONT_WHY = "absurd values from the broker, not used: " + "; ".join(
    f"{side} 1e+18 is outside the plausible range 0 to 1000" for side in ("bid", "ask", "last"))
sqlite_only = pytest.mark.skipif(
    "connection.vendor != 'sqlite'",
    reason="only SQLite stores a number too large for its column (PostgreSQL refuses it: tested below); "
           "CI's SQLite run covers it")


def page(client, url, **params):
    response = client.get(url, params)
    assert response.status_code == 200, (url, params, response.status_code)
    return response.content.decode()


# --- 1. absurd values from the broker --------------------------------------------------------------


def test_absurd_broker_values_make_both_monitors_record_data_unavailable_with_the_reason(book, broker):
    broker("calm_contango", ABSURD_BROKER)

    erp = run_vrp_erp_monitor(live=True, role="test")
    cs = run_vrp_cs_monitor(live=True, role="test")

    assert (erp.status, cs.status) == (RunStatus.DATA_UNAVAILABLE, RunStatus.DATA_UNAVAILABLE)
    assert erp.run.reason == f"vix: {VIX_WHY}; DATA UNAVAILABLE: missing vix"
    assert cs.run.reason == f"vix: {VIX_WHY}; vx1: {FRONT_WHY}; DATA UNAVAILABLE: missing vix, vx1"
    assert (erp.payload["vix"], cs.payload["vix"], cs.payload["vx1"], cs.payload["spread"]) == (None, None, None, None)
    assert VrpErpLogEntry.objects.get(run=erp.run).vix is None
    assert (VrpCsLogEntry.objects.get(run=cs.run).vix, VrpCsLogEntry.objects.get(run=cs.run).vx1) == (None, None)
    vix = QuoteSnapshot.objects.filter(instrument__symbol="VIX").latest("as_of")
    assert (vix.valid, vix.last, vix.close, vix.invalid_reason) == (False, None, D("15.870000"), VIX_WHY)
    front = QuoteSnapshot.objects.filter(instrument=book.front).latest("as_of")
    assert (front.valid, front.bid, front.ask, front.last) == (False, None, None, None)


def test_the_broker_and_quote_pages_render_after_absurd_broker_values(book, broker, operator_client):
    broker("calm_contango", ABSURD_BROKER)

    response = operator_client.post(reverse("admin:dspops_brokersnapshot_refresh"), follow=True)

    assert response.status_code == 200
    shown = [str(m) for m in response.context["messages"]]
    assert ("An account figure is missing: absurd value from the broker, not used: NetLiquidation 1e+30 is "
            "outside the plausible range -1000000000000 to 1000000000000.") in shown
    snapshot = BrokerSnapshot.objects.get()
    assert (snapshot.net_liquidation, snapshot.excess_liquidity) == (None, D("60000.00"))
    broker_page = page(operator_client, reverse("admin:dspops_brokersnapshot_changelist"))
    assert "<th>Net liquidation</th><td>missing</td>" in broker_page
    assert "last 1e+300 is outside the plausible range 0 to 1000" in broker_page
    page(operator_client, reverse("admin:dspops_brokersnapshot_change", args=[snapshot.pk]))
    quotes_page = page(operator_client, reverse("admin:dspops_quotesnapshot_changelist"))
    assert "bid 1e+18 is outside the plausible range 0 to 1000" in quotes_page
    for quote in QuoteSnapshot.objects.all():
        page(operator_client, reverse("admin:dspops_quotesnapshot_change", args=[quote.pk]))


@sqlite_only
def test_stored_numbers_too_large_for_their_column_are_left_out_named_and_removable(book, operator_client):
    """SQLite kept 1e300 in a decimal column before the gateway bounded it; Django cannot read it back."""
    vix = Instrument.objects.get(symbol="VIX")
    good = QuoteSnapshot.objects.create(instrument=vix, last=D("16.12"), source="live", as_of=clock.now(), valid=True)
    bad = QuoteSnapshot.objects.create(instrument=vix, last=D("16.12"), source="live", as_of=clock.now(), valid=True)
    snapshot = BrokerSnapshot.objects.create(as_of=clock.now(), account="SIM0100001", simulated=True, positions=[])
    with connection.cursor() as cursor:
        cursor.execute("UPDATE dspops_quotesnapshot SET last = 1e300 WHERE id = %s", [bad.pk])
        cursor.execute("UPDATE dspops_brokersnapshot SET net_liquidation = 1e30 WHERE id = %s", [snapshot.pk])

    quotes_page = page(operator_client, reverse("admin:dspops_quotesnapshot_changelist"))
    assert (f"1 quote snapshot row(s) hold a number too large for its column (stored before dspops bounded its "
            f"inputs) and are not shown: id {bad.pk}.") in quotes_page
    assert 'id="discard-unreadable"' in quotes_page
    broker_page = page(operator_client, reverse("admin:dspops_brokersnapshot_changelist"))
    assert f"and are not shown: id {snapshot.pk}." in broker_page
    assert operator_client.get(reverse("admin:dspops_quotesnapshot_change", args=[bad.pk])).status_code == 302

    response = operator_client.post(reverse("admin:dspops_quotesnapshot_discard_unreadable"), follow=True)
    assert f"Removed 1 unreadable row(s): id {bad.pk}." in [str(m) for m in response.context["messages"]]
    assert list(QuoteSnapshot.objects.values_list("pk", flat=True)) == [good.pk]
    operator_client.post(reverse("admin:dspops_brokersnapshot_discard_unreadable"))
    assert not BrokerSnapshot.objects.exists()


@sqlite_only
def test_a_change_list_looks_for_unreadable_rows_on_its_page_only(book, operator_client):
    """Constant cost: the unreadable-row search is a lookup by the keys of the rows shown (issue 14: the search of
    the whole table cost as much as the rest of the page at 100,000 fills), and the page still leaves the row out
    and names it."""
    from django.test.utils import CaptureQueriesContext

    vix = Instrument.objects.get(symbol="VIX")
    quotes = [QuoteSnapshot.objects.create(instrument=vix, last=D("16.12"), source="live", as_of=clock.now(),
                                           valid=True) for _ in range(3)]
    with connection.cursor() as cursor:
        cursor.execute("UPDATE dspops_quotesnapshot SET last = 1e300 WHERE id = %s", [quotes[1].pk])
    with CaptureQueriesContext(connection) as captured:
        shown = page(operator_client, reverse("admin:dspops_quotesnapshot_changelist"))
    searches = [q["sql"] for q in captured.captured_queries if '"last" >' in q["sql"]]
    assert searches and all('"id" IN (' in sql for sql in searches), searches
    assert f"are not shown: id {quotes[1].pk}." in shown


def test_postgresql_refuses_to_store_a_number_too_large_for_its_column(book):
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL-only: SQLite stores such a number (tested above); CI's PostgreSQL run covers it")
    from django.db import DataError, transaction

    quote = QuoteSnapshot.objects.create(instrument=book.front, last=D("17"), source="live", as_of=clock.now(),
                                         valid=True)
    with pytest.raises(DataError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE dspops_quotesnapshot SET last = 1e300 WHERE id = %s", [quote.pk])


def test_a_broker_snapshot_with_damaged_positions_json_renders(booted, operator_client, viewer_client):
    snapshot = BrokerSnapshot.objects.create(
        as_of=clock.now(), account="SIM0100001", simulated=True,
        positions=[{"local_symbol": "SPY", "quantity": 1e300}, "not a position", 17, {"con_id": "<b>x</b>"}])
    for client in (operator_client, viewer_client):
        listing = page(client, reverse("admin:dspops_brokersnapshot_changelist"))
        # The number as the database gives it back (jsonb on PostgreSQL writes 1e300 out in full), cut short.
        assert re.search(r"<td>SPY</td><td>missing</td><td class='num'>(1e\+300|10{59})</td>", listing)
        assert "<td>not a position</td><td>not a position</td>" in listing and "&lt;b&gt;x&lt;/b&gt;" in listing
        page(client, reverse("admin:dspops_brokersnapshot_change", args=[snapshot.pk]))
    BrokerSnapshot.objects.filter(pk=snapshot.pk).update(positions={"not": "a list"})
    MonitorRun.objects.create(kind="reconcile", trading_date=clock.trading_date(), started_at=clock.now(),
                              status="error", reason="damaged", outputs=["not", "a", "mapping"])
    page(operator_client, reverse("admin:dspops_brokersnapshot_changelist"))


# --- 3. dates and numbers in the admin forms ------------------------------------------------------------


def refused(client, url: str, data: dict) -> dict:
    """POST a form that must be refused: the form again (200), nothing stored; its errors."""
    before = row_counts()
    response = client.post(url, data)
    assert response.status_code == 200, (url, response.status_code)
    assert changed_counts(before) == {}
    return response.context["adminform"].form.errors


def spread_data(book, **overrides) -> dict:
    data = {
        "sleeve": book.position.sleeve_id, "is_active": "on", "short_leg": book.front.pk, "long_leg": book.second.pk,
        "quantity": "1", "entry_date": str(book.position.entry_date), "short_entry_price": "17.45",
        "long_entry_price": "18.10", "entry_spread": "0.65", "stop_loss_spread": "0.32", "take_profit_spread": "1.30",
        "settlement_date": str(book.position.settlement_date), "roll_by": str(book.position.roll_by), "note": "",
    }
    return {**data, **overrides}


def fill_data(**overrides) -> dict:
    data = {
        "sleeve": Sleeve.objects.get(code="VRP_ERP").pk, "instrument": Instrument.objects.get(local_symbol="SPY").pk,
        "side": "BUY", "quantity": "13", "price": "681.40", "commission": "1.00",
        "executed_at_0": str(calendars.session_on_or_before(clock.current_session() - timedelta(days=7))), "executed_at_1": "10:01:00",
        "exec_id": "", "order_ref": "erp-1", "note": "",
    }
    return {**data, **overrides}


OUTSIDE = "is outside 2000-01-01 to 2100-12-31."
CALENDAR = "is outside the exchange calendar dspops counts sessions in (2003-01-01 to 2041-12-31)."


@pytest.mark.parametrize("field, value, message", [
    ("roll_by", "1900-01-01", f"Roll-by 1900-01-01 {OUTSIDE}"),
    ("roll_by", "0001-01-01", f"Roll-by 0001-01-01 {OUTSIDE}"),
    ("settlement_date", "9999-12-31", f"Settlement date 9999-12-31 {OUTSIDE}"),
    ("settlement_date", "2099-06-17", f"Settlement date 2099-06-17 {CALENDAR}"),
    ("roll_by", "2001-06-01", f"Roll-by 2001-06-01 {CALENDAR}"),
    ("entry_date", "1900-01-01", f"Entry date 1900-01-01 {OUTSIDE}"),
    ("short_entry_price", "5000", "Short entry price 5000 is outside the plausible range 0 to 1000."),
    ("stop_loss_spread", "-5000", "Stop-loss spread -5000 is outside the plausible range -1000 to 1000."),
    ("quantity", "1000000000", "Quantity 1000000000 is outside the plausible range -100000000 to 100000000."),
])
def test_the_position_config_refuses_a_date_or_number_outside_the_bounds_and_the_dashboard_still_renders(
        book, operator_client, field, value, message):
    url = reverse("admin:sleeves_spreadposition_change", args=[book.position.pk])
    errors = refused(operator_client, url, spread_data(book, **{field: value}))
    assert message in errors[field]
    book.position.refresh_from_db()
    assert str(book.position.roll_by) != value
    page(operator_client, "/admin/")


def test_a_roll_by_of_1900_cannot_be_saved_from_the_add_form_either(book, operator_client):
    SpreadPosition.objects.filter(pk=book.position.pk).update(is_active=False)
    errors = refused(operator_client, reverse("admin:sleeves_spreadposition_add"),
                     spread_data(book, roll_by="1900-01-01", settlement_date="1900-02-01"))
    assert errors["roll_by"] == [f"Roll-by 1900-01-01 {OUTSIDE}"]
    assert errors["settlement_date"] == [f"Settlement date 1900-02-01 {OUTSIDE}"]


def test_a_short_leg_whose_month_the_calendar_cannot_count_is_a_field_error(book, operator_client):
    far = Instrument.objects.create(symbol="VXM", sec_type="FUT", exchange="CFE", local_symbol="VXMF9",
                                    contract_month="2099-01", settlement_date=date(2099, 1, 14), multiplier=100)
    errors = refused(operator_client, reverse("admin:sleeves_spreadposition_change", args=[book.position.pk]),
                     spread_data(book, short_leg=far.pk, settlement_date="", roll_by=""))
    assert errors["short_leg"][0].startswith("Its settlement and roll-by cannot be computed:")


@pytest.mark.parametrize("overrides, field, message", [
    ({"executed_at_0": "1999-12-31"}, "executed_at",
     "1999-12-31 is outside 2000-01-01 to 2100-12-31: enter the time TWS shows for the execution."),
    ({"executed_at_0": "0001-01-01"}, "executed_at",
     "0001-01-01 is outside 2000-01-01 to 2100-12-31: enter the time TWS shows for the execution."),
    ({"executed_at_0": "9999-12-31", "executed_at_1": "23:59:59"}, "executed_at",
     "9999-12-31 23:59 (New York) is in the future: enter the time TWS shows for the execution."),
    ({"quantity": "1000000000"}, "quantity",
     "Quantity 1000000000 is outside the plausible range -100000000 to 100000000."),
    ({"price": "5000000"}, "price", "Price 5000000 is outside the plausible range 0 to 1000000."),
    ({"commission": "5000000"}, "commission", "Commission 5000000 is outside the plausible range -1000000 to 1000000."),
])
def test_the_fill_form_refuses_a_date_or_number_outside_the_bounds(booted, operator_client, overrides, field, message):
    errors = refused(operator_client, reverse("admin:sleeves_fill_add"), fill_data(**overrides))
    assert errors[field] == [message]


def test_a_futures_fill_price_is_bounded_like_a_vx_price(book, operator_client):
    errors = refused(operator_client, reverse("admin:sleeves_fill_add"),
                     fill_data(sleeve=book.position.sleeve_id, instrument=book.front.pk, price="5000", quantity="1"))
    assert errors["price"] == ["Price 5000 is outside the plausible range 0 to 1000."]


@pytest.mark.parametrize("overrides, field, message", [
    ({"last": "5000"}, "last", "Last 5000 is outside the plausible range 0 to 1000."),
    ({"as_of_0": "1900-01-01"}, "as_of", "As of 1900-01-01 is outside 2000-01-01 to 2100-12-31."),
    ({"as_of_0": "2099-01-02"}, "as_of", r"As of 2099-01-02T10:00:00-05:00 is in the future \(now .*\)\."),
])
def test_a_typed_quote_is_refused_outside_the_bounds(booted, operator_client, overrides, field, message):
    data = {"instrument": Instrument.objects.get(symbol="VIX").pk, "last": "16.12", "source": "manual",
            "as_of_0": str(clock.current_session() - timedelta(days=7)), "as_of_1": "10:00:00",
            "invalid_reason": "typed from another screen", **overrides}
    errors = refused(operator_client, reverse("admin:dspops_quotesnapshot_add"), data)
    assert len(errors[field]) == 1 and re.fullmatch(message, errors[field][0]), errors[field]


@pytest.mark.parametrize("value, message", [
    ("1e-99999", "max_vix: 1e-99999 has more than 10 decimal places."),
    ("1e99999", "max_vix: 1e99999 is above the maximum 200."),
    ("9" * 600, "Ensure this value has at most 500 characters (it has 600)."),
])
def test_a_sleeve_setting_outside_its_bounds_is_a_field_error(booted, operator_client, value, message):
    setting = SleeveParameter.objects.get(sleeve__code="VRP_CS", key="max_vix")
    errors = refused(operator_client, reverse("admin:sleeves_sleeveparameter_change", args=[setting.pk]),
                     {"value": value})
    assert message in errors["value"]


@pytest.mark.parametrize("field, value, message", [
    ("planned_roll_by", "1900-01-01", f"Planned roll-by 1900-01-01 {OUTSIDE}"),
    ("planned_roll_by", "2099-01-01", f"Planned roll-by 2099-01-01 {CALENDAR}"),
    ("planned_settlement_date", "9999-12-31", f"Planned settlement date 9999-12-31 {OUTSIDE}"),
])
def test_a_roll_calendar_row_refuses_a_planned_date_outside_the_bounds(booted, operator_client, field, value, message):
    cycle = RollCycle.objects.order_by("contract_month").first()
    data = {"planned_roll_by": "", "planned_settlement_date": "", "plan_note": "", field: value}
    errors = refused(operator_client, reverse("admin:rolls_rollcycle_change", args=[cycle.pk]), data)
    assert errors[field] == [message]


@pytest.mark.parametrize("overrides, field, message", [
    ({"settlement_date": "9999-12-31"}, "settlement_date", f"Settlement date 9999-12-31 {OUTSIDE}"),
    ({"contract_month": "2099-01", "settlement_date": "2099-01-14"}, "contract_month",
     "Contract month 2099-01: "),
    ({"multiplier": "0"}, "multiplier", "Multiplier 0 must be above 0."),
    ({"multiplier": "2000000"}, "multiplier", "Multiplier 2000000 is outside the plausible range 0 to 100000."),
])
def test_an_instrument_with_a_date_or_number_outside_the_bounds_is_refused(booted, operator_client, overrides, field,
                                                                          message):
    data = {"symbol": "VXM", "sec_type": "FUT", "exchange": "CFE", "currency": "USD", "multiplier": "100",
            "local_symbol": "VXMK7", "contract_month": "2027-05", "settlement_date": "2027-05-18", **overrides}
    errors = refused(operator_client, reverse("admin:dspops_instrument_add"), data)
    assert errors[field][0].startswith(message), errors[field]


def test_the_roll_forms_bound_typed_quotes_fills_and_levels():
    from rolls.roll_forms import LegFillForm, ManualQuoteForm, VerifyForm

    quotes = ManualQuoteForm({"vix": "5000", "bid_VXMZ6": "1000.5", "ask_VXMZ6": "17.50"}, legs=["VXMZ6"])
    assert quotes.errors == {"vix": ["VIX 5000 is outside the plausible range 0 to 1000."],
                             "bid_VXMZ6": ["VXMZ6 bid 1000.5 is outside the plausible range 0 to 1000."]}
    fill = LegFillForm({"leg0-quantity": "99999999999999999999", "leg0-price": "5000",
                        "leg0-executed_at": "1900-01-01 10:00:00"}, prefix="leg0")
    assert fill.errors == {
        "quantity": ["Quantity 99999999999999999999 is outside the plausible range -100000000 to 100000000."],
        "price": ["Price 5000 is outside the plausible range 0 to 1000."],
        "executed_at": ["The time 1900-01-01 is outside 2000-01-01 to 2100-12-31."]}
    future = LegFillForm({"leg0-quantity": "1", "leg0-price": "17.5", "leg0-executed_at": "2099-01-02 10:00:00"},
                         prefix="leg0")
    assert re.fullmatch(r"The time 2099-01-02T10:00:00-05:00 is in the future \(now .*\)\.",
                        future.errors["executed_at"][0])
    levels = VerifyForm({"stop_loss_spread": "-5000", "take_profit_spread": "1.30"})
    assert levels.errors == {"stop_loss_spread": ["Stop-loss spread -5000 is outside the plausible range -1000 to 1000."]}


def test_a_typed_vix_of_5000_on_the_checklist_is_refused_with_nothing_saved(book, operator_client, operator_user):
    from rolls.roll_service import plan_roll

    attempt = plan_roll(user=operator_user, rehearsal=True)
    before = row_counts()
    response = operator_client.post(reverse("admin:rolls_rollattempt_action", args=[attempt.pk, "manual-checks"]),
                                    {"vix": "5000", "version": attempt.version}, follow=True)
    assert response.status_code == 200
    assert ("The typed quotes cannot be used: VIX: VIX 5000 is outside the plausible range 0 to 1000.. Nothing was "
            "saved.") in [str(m) for m in response.context["messages"]]
    assert {k: v for k, v in changed_counts(before).items() if not k.startswith("admin.")} == {}


# --- 4. the history pages with an id that is not one ---------------------------------------------------


def history_admins():
    return sorted((f"{m._meta.app_label}/{m._meta.model_name}", m) for m, ma in admin.site._registry.items()
                  if isinstance(ma, SimpleHistoryAdmin))


def test_every_history_page_answers_404_for_an_id_that_cannot_be_one(book, operator_client, viewer_client, operator_user):
    Fill.objects.create(sleeve=Sleeve.objects.get(code="VRP_ERP"), instrument=Instrument.objects.get(symbol="SPY"),
                        side="BUY", quantity=D("1"), price=D("600"), executed_at=clock.now(), source="manual")
    found = history_admins()
    assert [path for path, _ in found] == ["rolls/rollcycle", "sleeves/fill", "sleeves/signalstate",
                                           "sleeves/sleeve", "sleeves/sleeveparameter", "sleeves/spreadposition"]
    from sleeves.models import SignalState

    assert SignalState.objects.exists()
    served = []
    for path, model in found:
        obj = model._default_manager.order_by("pk").first()
        version = obj.history.order_by("history_id").first()
        good = f"/admin/{path}/{obj.pk}/history/{version.history_id}/"
        for client in (operator_client, viewer_client):
            assert client.get(good).status_code == 200, good
            for bad in (f"/admin/{path}/{obj.pk}/history/abc/", f"/admin/{path}/{obj.pk}/history/1.5/",
                        f"/admin/{path}/{obj.pk}/history/99999999999999999999999/",
                        f"/admin/{path}/{obj.pk}/history/-99999999999999999999999/",
                        f"/admin/{path}/abc/history/{version.history_id}/", f"/admin/{path}/abc/history/",
                        f"/admin/{path}/99999999999999999999999/history/"):
                status = client.get(bad).status_code
                if status != 404:
                    served.append((bad, status))
    assert served == []


# --- 5. a foreign key too large for a bigint ---------------------------------------------------------------


HOSTILE_KEYS = ("99999999999999999999999", "-99999999999999999999999", "abc", "1e400", "")


@pytest.mark.parametrize("url_name, data, fields", [
    ("admin:sleeves_fill_add", lambda book: fill_data(), ("sleeve", "instrument")),
    ("admin:sleeves_spreadposition_add", lambda book: spread_data(book, is_active=""), ("short_leg", "long_leg")),
    ("admin:dspops_quotesnapshot_add",
     lambda book: {"instrument": book.front.pk, "bid": "17.45", "source": "manual", "invalid_reason": "typed",
                   "as_of_0": str(clock.current_session() - timedelta(days=7)), "as_of_1": "10:00:00"},
     ("instrument",)),
], ids=["fill", "position", "quote"])
def test_every_foreign_key_of_the_forms_refuses_a_hostile_id_with_the_forms_own_error(
        book, operator_client, url_name, data, fields):
    from django.forms import ModelChoiceField

    form = operator_client.get(reverse(url_name)).context["adminform"].form
    keys = sorted(name for name, field in form.fields.items() if isinstance(field, ModelChoiceField))
    assert keys == sorted(fields)  # every foreign key of the form is tried
    for name in keys:
        for value in HOSTILE_KEYS:
            if value == "" and not form.fields[name].required:
                continue  # a fill without a sleeve is allowed (it is attributed later)
            errors = refused(operator_client, reverse(url_name), {**data(book), name: value})
            expected = "This field is required." if value == "" else (
                "Select a valid choice. That choice is not one of the available choices.")
            assert errors[name] == [expected], (name, value)


# --- 6. fills stored with a date no fill can have -------------------------------------------------------


def store_impossible_fills() -> tuple[Fill, Fill]:
    """As an import did before the bounds: rows written straight to the table, no form, no clean()."""
    spy, sleeve = Instrument.objects.get(symbol="SPY"), Sleeve.objects.get(code="VRP_ERP")
    common = {"sleeve": sleeve, "instrument": spy, "side": "BUY", "quantity": D("1"), "price": D("600"),
              "source": "flex"}
    Fill.objects.create(executed_at=clock.now() - timedelta(days=3), exec_id="normal", **common)
    late = Fill.objects.create(executed_at=datetime(9999, 12, 31, 5, tzinfo=UTC), exec_id="late", **common)
    early = Fill.objects.create(executed_at=datetime(1, 1, 1, tzinfo=UTC), exec_id="early", **common)
    return late, early


def date_links(response) -> list[str]:
    spec = next(s for s in response.context["cl"].filter_specs if getattr(s, "field_path", "") == "executed_at")
    return [title for title, _ in spec.links]


@pytest.mark.parametrize("who", ["operator_client", "viewer_client"])
def test_fills_dated_9999_and_0001_leave_the_fills_page_small_and_working_for_everyone(request, who):
    client = request.getfixturevalue(who)
    late, early = store_impossible_fills()

    response = client.get(reverse("admin:sleeves_fill_changelist"))

    assert response.status_code == 200
    assert len(response.content) < 150_000  # measured before: 370 KB with 2,026 year links
    this_year = str(timezone_now_year())
    assert date_links(response) == ["Any date", "Today", "Past 7 days", "This month", this_year, "before 2000",
                                    "after 2100"]
    text = response.content.decode()
    assert "9999-12-31 05:00:00 UTC (outside 2000–2100)" in text and "0001-01-01 00:00:00 UTC (outside 2000–2100)" in text
    for fill in (late, early):
        assert client.get(reverse("admin:sleeves_fill_change", args=[fill.pk])).status_code == 200
        assert client.get(reverse("admin:sleeves_fill_history", args=[fill.pk])).status_code == 200
        version = fill.history.get()
        assert client.get(f"/admin/sleeves/fill/{fill.pk}/history/{version.history_id}/").status_code == 200


def timezone_now_year() -> int:
    from django.utils import timezone as django_timezone

    return django_timezone.localtime(clock.now()).year


def test_the_out_of_range_links_find_the_bad_fills_and_the_operator_reverses_them(operator_client):
    late, early = store_impossible_fills()
    listing = operator_client.get(reverse("admin:sleeves_fill_changelist"))
    spec = next(s for s in listing.context["cl"].filter_specs if getattr(s, "field_path", "") == "executed_at")
    links = {choice["display"]: choice["query_string"] for choice in spec.choices(listing.context["cl"])}

    before_2000 = operator_client.get(reverse("admin:sleeves_fill_changelist") + links["before 2000"])
    after_2100 = operator_client.get(reverse("admin:sleeves_fill_changelist") + links["after 2100"])

    assert [f.exec_id for f in before_2000.context["cl"].result_list] == ["early"]
    assert [f.exec_id for f in after_2100.context["cl"].result_list] == ["late"]
    response = operator_client.post(reverse("admin:sleeves_fill_changelist"), {
        "action": "reverse_selected", "_selected_action": [late.pk, early.pk], "index": "0"}, follow=True)
    assert response.status_code == 200
    assert {f"Fill #{late.pk} reversed by fill #{Fill.objects.get(reverses=late).pk}.",
            f"Fill #{early.pk} reversed by fill #{Fill.objects.get(reverses=early).pk}."} <= {
        str(m) for m in response.context["messages"]}
    from sleeves.selectors import positions_by_sleeve

    spy = [p for p in positions_by_sleeve() if p.instrument.symbol == "SPY" and p.sleeve_code == "VRP_ERP"]
    assert [p.quantity for p in spy] == [D("1")]  # the normal fill alone
    assert operator_client.get(reverse("admin:sleeves_fill_changelist")).status_code == 200


FILL_QUERIES = [
    {"executed_at__gte": "9999-99-99"}, {"executed_at__gte": "9999-12-31"}, {"executed_at__gte": "9999-12-31 23:59"},
    {"executed_at__lt": "0001-01-01"}, {"executed_at__gte": "0001-01-01"}, {"executed_at__lt": "10000-01-01"},
    {"executed_at__year": "9999"}, {"executed_at__year": "99999999999999999999"}, {"executed_at__year": "-1"},
    {"executed_at__month": "13"}, {"executed_at__month": "1"}, {"executed_at__week_day": "1"},
    {"executed_at__year__gte": "99999"}, {"executed_at__year__gte": "2026"}, {"executed_at__date__gt": "9999-12-31"},
    {"executed_at__iso_year": "9999"}, {"executed_at__date": "9999-12-31"}, {"executed_at__range": "0001-01-01,9999-12-31"},
    {"executed_at__in": "9999-12-31"}, {"executed_at": "9999-12-31 23:59:59"}, {"executed_at__gt": "2100-12-31 23:59:59.999999"},
    {"instrument__settlement_date__gte": "9999-12-31"}, {"recorded_at__lte": "0001-01-01"},
    {"o": "abc"}, {"o": "99.-99.x"}, {"p": "999999"}, {"p": "-1"}, {"p": "abc"}, {"q": "\x00"}, {"q": "%" * 500},
    {"e": "1"}, {"all": "1"}, {"sleeve__id__exact": "99999999999999999999999"}, {"sleeve__id__exact": "abc"},
    {"instrument__sec_type__exact": "<script>"}, {"_to_field": "exec_id"}, {"_popup": "1"},
]


@pytest.mark.parametrize("with_bad_rows", [False, True], ids=["clean table", "with 0001 and 9999 fills"])
def test_hostile_query_strings_on_the_fills_page_never_give_a_server_error(booted, operator_user, with_bad_rows):
    if with_bad_rows:
        store_impossible_fills()
    client = Client(raise_request_exception=False)
    client.force_login(operator_user)
    failures = [(query, response.status_code) for query in FILL_QUERIES
                if (response := client.get(reverse("admin:sleeves_fill_changelist"), query)).status_code >= 500]
    assert failures == []


@pytest.mark.parametrize("who", ["operator_user", "viewer_user"])
def test_rows_stored_with_dates_in_year_1_or_9999_leave_every_admin_page_working(booted, request, who):
    """As the importers could write before the bounds: every change list, every change page, the dashboard."""
    from sleeves.models import LegacyTrade, PriceBar

    store_impossible_fills()
    vix = Instrument.objects.get(symbol="VIX")
    for when in (datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, 5, tzinfo=UTC)):
        QuoteSnapshot.objects.create(instrument=vix, last=D("16"), source="live", as_of=when, valid=True)
        BrokerSnapshot.objects.create(as_of=when, account="SIM0100001", simulated=True, positions=[])
        MonitorRun.objects.create(kind="vrp_cs", trading_date=when.date(), started_at=when, status="error",
                                  reason="stored before the bounds")
        VrpCsLogEntry.objects.create(logged_at=when, trading_date=when.date(), data_status="data_unavailable",
                                     source="legacy")
        PriceBar.objects.create(instrument=vix, session=when.date(), close=D("16"), source="stored")
        LegacyTrade.objects.create(logged_at=when, action="BUY", mode="paper", import_key=f"bad-{when.year}")
    client = Client(raise_request_exception=False)
    client.force_login(request.getfixturevalue(who))
    urls = ["/admin/", reverse("admin:sleeves_positions"), reverse("admin:rolls_rollattempt_runbook")]
    for model in admin.site._registry:
        changelist = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        urls += [changelist] + [f"{changelist}{pk}/change/" for pk in model._default_manager.values_list("pk", flat=True)[:50]]
    failures = [(url, status) for url in urls if (status := client.get(url).status_code) >= 500]
    assert len(urls) > 60 and failures == []


# --- every admin URL, hostile ids and query strings ---------------------------------------------------------

# The walk reuses the security tests' enumeration of the admin URLs (every pattern the resolver knows) and
# their `rows` fixture (a row in as many admin models as the services make cheaply).
from .test_security import _values, _walk, rows  # noqa: E402,F401  (rows is a fixture)

HOSTILE_IDS = ("abc", "99999999999999999999999", "-99999999999999999999999", "-1", "0", "1.5", "1e400", "%00",
               "..", "<script>", "²", "١٢")  # the last two: str.isdigit() says yes, int routes say no
HOSTILE_NAMES = ("<junk>", "99999999999999999999999", "%00")
COMMON_QUERIES = [
    {"o": "abc"}, {"o": "99.-99.x"}, {"o": "-"}, {"p": "999999"}, {"p": "-1"}, {"p": "abc"}, {"q": "\x00"},
    {"q": "%" * 300}, {"e": "1"}, {"all": ""}, {"_to_field": "password"}, {"_popup": "1"},
    {"_changelist_filters": "o=abc&p=999999"}, {"task": "<junk>"}, {"task": "99999999999999999999999"},
    {"attempt": "abc"}, {"attempt": "99999999999999999999999"}, {"pk__in": "abc"}, {"id__exact": "99999999999999999999999"},
]


def date_queries(model) -> list[dict]:
    from django.db import models

    queries = []
    for field in model._meta.concrete_fields if model else ():
        if isinstance(field, (models.DateField, models.DateTimeField)):
            name = field.name
            queries += [{f"{name}__gte": "9999-99-99"}, {f"{name}__gte": "9999-12-31 23:59"},
                        {f"{name}__lt": "0001-01-01"}, {f"{name}__year": "9999"}, {f"{name}__year": "99999999999"},
                        {f"{name}__month": "13"}, {f"{name}__range": "0001-01-01,9999-12-31"},
                        {f"{name}__year__gte": "99999"}, {name: "0001-01-01"}]
    return queries


def hostile_requests(user) -> list[tuple[str, str, dict]]:
    """(method, path, query) for every admin URL: each parameter made hostile in turn, and each change list
    (and the dashboard) with hostile query strings."""
    from django.urls.resolvers import RoutePattern

    out = []
    for pattern, prefix, model_admin in _walk(admin.site.get_urls()):
        route = str(pattern.pattern)
        if isinstance(pattern.pattern, RoutePattern):
            groups = [(param, rf"<(\w+:)?{param}>") for param in pattern.pattern.converters]
        else:
            regex = pattern.pattern.regex
            groups = [(param, rf"\(\?P<{param}>[^)]*\)") for param in regex.groupindex] or [
                (param, r"\([^)]*\)") for param in ("object_id", "version_id")[: regex.groups]]
        real = {param: _values(pattern.name, param, model_admin, user)[0] for param, _ in groups}

        def fill(values: dict) -> str:
            path = route
            for param, group in groups:
                path = re.sub(group, values[param].replace("\\", "\\\\"), path, count=1)
            return "/admin/" + re.sub(r"[$^]", "", prefix + path)

        for param, _ in groups:
            junk = HOSTILE_IDS if param in ("object_id", "version_id", "id") else HOSTILE_NAMES
            for value in junk:
                path = fill({**real, param: value})
                out += [("get", path, {}), ("post", path, {})]
        if not groups or pattern.name in ("index",):
            if (pattern.name or "").endswith("_changelist") or pattern.name in ("index", "rolls_rollattempt_runbook"):
                model = model_admin.model if model_admin else None
                out += [("get", fill(real), query) for query in COMMON_QUERIES + date_queries(model)]
    return out


# Admin pages whose code belongs to another engineer (not changed here): each is tested on its own below,
# expected to fail until its admin uses dspops.core.admin_display.BoundedAdminMixin.
ELSEWHERE = ("/admin/dspops/alert/",)


def server_errors(user, keep) -> list[tuple]:
    client = Client(raise_request_exception=False)
    client.force_login(user)
    requests = [r for r in hostile_requests(user) if keep(r[1])]
    failures = []
    for method, path, query in requests:
        response = client.get(path, query) if method == "get" else client.post(path, {"_save": "1", "value": "1"})
        if response.status_code >= 500:
            failures.append((method, path, query, response.status_code))
    return len(requests), failures


@pytest.mark.usefixtures("rows")
def test_no_admin_url_gives_a_server_error_for_a_hostile_id_or_query_string(operator_user):
    walked, failures = server_errors(operator_user, lambda path: not path.startswith(ELSEWHERE))
    assert walked > 2000  # the whole admin was walked
    assert failures == [], "\n".join(map(str, failures))


@pytest.mark.usefixtures("rows")
def test_the_alert_list_gives_no_server_error_for_a_hostile_query_string(operator_user):
    walked, failures = server_errors(operator_user, lambda path: path.startswith(ELSEWHERE))
    assert walked > 20
    assert failures == [], "\n".join(map(str, failures))


def test_a_position_config_stored_with_roll_by_1900_is_named_by_the_monitor_the_digest_and_the_roll_task(
        booted, settings, tmp_path, cfe_session_clock):
    # The forms refuse it now; a row stored before that must not crash the work that reads it (it did:
    # CalendarRangeError from the monitor, the digest's alerts and the roll-check task, and no run recorded).
    from dspops.core.models import Alert
    from digests.services import generate_digest
    from sleeves.models import SpreadPosition
    from rolls.tasks import roll_check_task
    from sleeves.monitors import run_vrp_cs_monitor
    from tests.rolls.test_roll_pages import make_book

    settings.DIGEST_DIR = tmp_path
    position = make_book()
    SpreadPosition.objects.filter(pk=position.pk).update(roll_by=date(1900, 1, 1))
    outcome = run_vrp_cs_monitor(live=False)
    assert outcome.run.status == "data_unavailable"
    assert outcome.payload["reasons"][0] == ("the position config's roll-by 1900-01-01 is outside the exchange "
                                             "calendar (2003-01-01 to 2041-12-31): correct the position config")
    assert outcome.payload["sessions_to_roll"] is None
    generate_digest(write_file=False)
    alert = Alert.objects.get(code="roll_due", resolved_at__isnull=True)
    assert alert.severity == "critical" and "roll-by 1900-01-01 is outside the exchange calendar" in alert.message
    assert roll_check_task().startswith("roll check not run: the position config's roll-by 1900-01-01 is outside")
