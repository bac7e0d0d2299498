"""Data faults: each is refused with a clear error and writes no data row.

"No data row" is checked on a census of every model of dspops, sleeves, rolls and digests
(history tables included), taken before and after. The fill imports also store one ERROR run
recording the refusal (MonitorRun, kind fill_sync, reason = the error): that row is the audit
of the failure, and it is the only change those tests allow.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from dspops.legacy_import import LegacyImportError, import_legacy
from dspops.core.models import Instrument
from sleeves.models import SpreadPosition
from sleeves.fill_import import FillImportError, import_flex, sync_fills
from sleeves.models import Fill, FillSource, MonitorRun, RunStatus, Sleeve

from .conftest import changed_counts, row_counts

D = Decimal

FLEX_HEADER = ("ClientAccountID,AssetClass,Symbol,UnderlyingSymbol,Conid,Expiry,Multiplier,Date/Time,Buy/Sell,"
               "Quantity,TradePrice,IBCommission,IBCommissionCurrency,IBExecID,OrderReference,LevelOfDetail")


def flex_row(*, symbol="SPY", conid="756733", side="BUY", quantity="3", price="690.12", exec_id="0000e0b2.000001.01.01",
             asset="STK", order_ref="vrp-erp-1") -> str:
    return (f'U1234567,{asset},{symbol},,{conid},,1,"2026-01-14, 10:55:12",{side},{quantity},{price},-1,USD,{exec_id},'
            f"{order_ref},EXECUTION")


GOOD_SPY = flex_row()
GOOD_EEM = flex_row(symbol="EEM", conid="53339234", side="SELL", quantity="-20", price="49.81",
                    exec_id="0000e0b2.000002.01.01", order_ref="dm-1")


def write_flex(tmp_path: Path, *rows: str) -> Path:
    path = tmp_path / "trades.csv"
    path.write_text("\n".join((FLEX_HEADER, *rows)) + "\n", encoding="utf-8")
    return path


def refused_flex(path: Path) -> str:
    """Import a Flex file that must be refused; the refusal, after checking it wrote only its ERROR run."""
    before = row_counts()
    with pytest.raises(FillImportError) as refused:
        import_flex(path=path)
    runs = before["sleeves.MonitorRun"]
    assert changed_counts(before) == {"sleeves.MonitorRun": (runs, runs + 1)}
    run = MonitorRun.objects.get()
    assert (run.kind, run.status, run.reason) == ("fill_sync", RunStatus.ERROR, str(refused.value))
    assert Instrument.objects.get(sec_type="STK", symbol="SPY").con_id is None  # the conId write rolled back too
    return str(refused.value)


# --- the same executions twice ------------------------------------------------------------------------


def test_the_same_flex_report_imported_twice_adds_nothing_the_second_time(booted, tmp_path):
    path = write_flex(tmp_path, GOOD_SPY, GOOD_EEM)
    first = import_flex(path=path)
    before = row_counts()

    second = import_flex(path=path)

    assert (first.created, first.skipped, second.created, second.skipped) == (2, 0, 0, 2)
    assert changed_counts(before) == {"sleeves.MonitorRun": (1, 2)}  # the second run's record, nothing else
    assert MonitorRun.objects.latest("id").outputs["created"] == 0


def test_the_same_broker_executions_synced_twice_add_nothing_the_second_time(booted, broker):
    broker("calm_contango")
    since = timezone.now() - timedelta(days=3)
    first = sync_fills(since=since, role="test")
    before = row_counts()

    second = sync_fills(since=since, role="test")

    assert (first.created, second.created, second.skipped) == (4, 0, 4)
    assert changed_counts(before) == {"sleeves.MonitorRun": (1, 2)}
    assert Fill.objects.count() == 4


# --- a Flex file with a bad row -------------------------------------------------------------------


def test_a_flex_file_with_one_unreadable_price_imports_none_of_its_rows(booted, tmp_path):
    path = write_flex(tmp_path, GOOD_SPY, flex_row(price="6x0.12", exec_id="0000e0b2.000003.01.01"), GOOD_EEM)
    assert refused_flex(path) == f"{path}:3: tradePrice '6x0.12' is not a number; nothing was imported."


def test_a_flex_row_with_a_missing_field_imports_none_of_the_file(booted, tmp_path):
    path = write_flex(tmp_path, GOOD_SPY, GOOD_EEM.rsplit(",", 1)[0])
    assert refused_flex(path) == f"{path}:3: expected 16 fields, found 15; nothing was imported."


def test_a_fill_for_a_contract_dspops_does_not_know_refuses_the_whole_file(booted, tmp_path):
    path = write_flex(tmp_path, GOOD_SPY, flex_row(symbol="XYZ", conid="999999", exec_id="0000e0b2.000004.01.01"))
    assert refused_flex(path) == (f"{path}:3: unknown contract STK XYZ (conId 999999): add the instrument first; "
                                  "nothing was imported.")


def test_a_negative_quantity_for_a_flex_buy_refuses_the_whole_file(booted, tmp_path):
    path = write_flex(tmp_path, flex_row(quantity="-3"), GOOD_EEM)
    assert refused_flex(path) == (f"{path}:2: BUY with quantity -3: Flex quantities are positive for a BUY and "
                                  "negative for a SELL; check the export; nothing was imported.")


def test_a_flex_fill_at_a_price_of_zero_refuses_the_whole_file(booted, tmp_path):
    path = write_flex(tmp_path, GOOD_SPY, flex_row(price="0", exec_id="0000e0b2.000005.01.01"))
    assert refused_flex(path) == (f"{path}:3: tradePrice 0 must be above 0: a fill at 0 is not a real execution; "
                                  "nothing was imported.")


# --- a legacy CSV with a bad row --------------------------------------------------------------------

LEGACY_HEADER = ("date,time,vix,vx1,vx2,spread,entry_spread,pnl_usd,gate_state,gate_score,contango_pct,days_to_roll,"
                 "roll_by,stop_loss_level,take_profit_level,stop_loss_hit,take_profit_hit,notes")
LEGACY_ROWS = [
    "2026-02-02,16:40:00,17.20,18.15,18.95,0.80,0.80,0.00,OPEN,0.450,5.52,10,2026-02-12,0.40,1.60,False,False,",
    "2026-02-03,16:40:00,nan,nan,nan,nan,0.80,nan,OPEN,nan,nan,9,2026-02-12,0.40,1.60,False,False,",
    "2026-02-04,16:40:00,17.00,18.00,18.30,0.30,0.80,-50.00,OPEN,0.500,5.88,8,2026-02-12,0.40,1.60,False,False,",
]


def write_legacy_log(directory: Path, rows: list[str]) -> Path:
    path = directory / "paper_trading" / "daily_log.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([LEGACY_HEADER, *rows]) + "\n", encoding="utf-8")
    return path


def test_a_legacy_log_that_imports_cleanly_is_the_control(booted, tmp_path):
    write_legacy_log(tmp_path, LEGACY_ROWS)
    report = import_legacy(directory=tmp_path)
    assert report.file("paper_trading/daily_log.csv").created == 3


@pytest.mark.parametrize("bad_row, reason", [
    (LEGACY_ROWS[2].replace("17.00", "17,00"), "expected 18 fields, got 19: the row has extra fields."),
    (LEGACY_ROWS[2].replace("17.00", "seventeen"), "vix: 'seventeen' is not a number."),
    (LEGACY_ROWS[2].replace("2026-02-04", "2026-02-30"), "date: '2026-02-30' is not a date (YYYY-MM-DD)."),
    (LEGACY_ROWS[2].replace("False,False", "False,maybe"), "take_profit_hit: 'maybe' is not True or False."),
], ids=["a split number", "a word for a price", "a day that does not exist", "a hit that is not a boolean"])
def test_a_legacy_log_with_one_bad_row_imports_nothing_and_names_the_line(booted, tmp_path, bad_row, reason):
    path = write_legacy_log(tmp_path, [LEGACY_ROWS[0], LEGACY_ROWS[1], bad_row])
    before = row_counts()
    with pytest.raises(LegacyImportError) as refused:
        import_legacy(directory=tmp_path)
    assert str(refused.value) == f"{path}:4: {reason}"
    assert changed_counts(before) == {}


# --- the fill add form and the model -------------------------------------------------------------


def fill_form(**overrides) -> dict:
    data = {
        "sleeve": Sleeve.objects.get(code="VRP_ERP").pk, "instrument": Instrument.objects.get(local_symbol="SPY").pk,
        "side": "BUY", "quantity": "13", "price": "681.40", "commission": "1.00", "executed_at_0": "2026-11-23",
        "executed_at_1": "10:01:00", "exec_id": "", "order_ref": "erp-1", "note": "",
    }
    return {**data, **overrides}


def refused_form(client, data: dict) -> dict:
    before = row_counts()
    response = client.post(reverse("admin:sleeves_fill_add"), data)
    assert response.status_code == 200
    assert changed_counts(before) == {}
    return response.context["adminform"].form.errors


def test_the_fill_form_refuses_a_negative_quantity_for_a_buy(operator_client):
    errors = refused_form(operator_client, fill_form(quantity="-13"))
    assert errors == {"quantity": ["The quantity must be positive; the side (BUY or SELL) gives the direction."]}


def test_the_fill_form_refuses_a_price_of_zero(operator_client):
    errors = refused_form(operator_client, fill_form(price="0"))
    assert errors == {"price": ["The price must be above 0: a fill at 0 is not a real execution."]}


def test_the_fill_form_refuses_an_instrument_that_does_not_exist(operator_client):
    missing = Instrument.objects.order_by("-pk").first().pk + 1000
    errors = refused_form(operator_client, fill_form(instrument=str(missing)))
    assert errors == {"instrument": ["Select a valid choice. That choice is not one of the available choices."]}


def test_the_fill_model_and_the_database_refuse_a_price_of_zero(booted):
    fill = Fill(sleeve=Sleeve.objects.get(code="VRP_ERP"), instrument=Instrument.objects.get(local_symbol="SPY"),
                side="BUY", quantity=D("13"), price=D("0"), executed_at=timezone.now(), source=FillSource.MANUAL)
    before = row_counts()
    with pytest.raises(ValidationError) as invalid:
        fill.full_clean()
    assert invalid.value.messages == ["The price must be above 0: a fill at 0 is not a real execution."]
    with pytest.raises(IntegrityError, match="fill_price_positive"), transaction.atomic():
        fill.save()
    assert changed_counts(before) == {}


# --- a stop on the profit side ----------------------------------------------------------------------


def spread_form(book, **overrides) -> dict:
    data = {
        "sleeve": book.position.sleeve_id, "short_leg": book.front.pk, "long_leg": book.second.pk, "quantity": "1",
        "entry_date": str(book.position.entry_date), "short_entry_price": "17.45", "long_entry_price": "18.10",
        "entry_spread": "0.65", "stop_loss_spread": "0.32", "take_profit_spread": "1.30",
        "settlement_date": str(book.position.settlement_date), "roll_by": str(book.position.roll_by), "note": "",
    }
    return {**data, **overrides}


STOP_ON_PROFIT_SIDE = ("The stop (0.80) must be below the entry spread (0.65): the position loses when the spread "
                       "narrows, so a stop at or above entry is on the profit side.")
TP_ON_LOSS_SIDE = ("The take-profit (0.50) must be above the entry spread (0.65): the position gains when the spread "
                   "widens, so a take-profit at or below entry is on the loss side.")


def test_the_position_form_refuses_a_stop_on_the_profit_side_when_adding(operator_client, book):
    before = row_counts()
    response = operator_client.post(reverse("admin:sleeves_spreadposition_add"),
                                    spread_form(book, stop_loss_spread="0.80", take_profit_spread="0.50"))
    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {
        "stop_loss_spread": [STOP_ON_PROFIT_SIDE], "take_profit_spread": [TP_ON_LOSS_SIDE]}
    assert changed_counts(before) == {}


def test_the_position_form_refuses_moving_the_running_stop_to_the_profit_side(operator_client, book):
    before = row_counts()
    response = operator_client.post(reverse("admin:sleeves_spreadposition_change", args=[book.position.pk]),
                                    spread_form(book, is_active="on", stop_loss_spread="0.80"))
    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {"stop_loss_spread": [STOP_ON_PROFIT_SIDE]}
    assert changed_counts(before) == {}
    book.position.refresh_from_db()
    assert book.position.stop_loss_spread == D("0.32")


def test_the_database_refuses_a_stop_on_the_profit_side(book):
    before = row_counts()
    with pytest.raises(IntegrityError, match="spread_stop_below_entry"), transaction.atomic():
        SpreadPosition.objects.filter(pk=book.position.pk).update(stop_loss_spread=D("0.80"))
    with pytest.raises(IntegrityError, match="spread_take_profit_above_entry"), transaction.atomic():
        SpreadPosition.objects.filter(pk=book.position.pk).update(take_profit_spread=D("0.50"))
    assert changed_counts(before) == {}
    book.position.refresh_from_db()
    assert (book.position.stop_loss_spread, book.position.take_profit_spread) == (D("0.32"), D("1.30"))


# --- the defects these tests found (each was a server error or a poisoned row) ------------------------


def test_a_legacy_row_with_vix_under_12_imports_instead_of_crashing(booted, tmp_path):
    row = LEGACY_ROWS[0].replace("17.20,18.15", "11.50,12.40")
    write_legacy_log(tmp_path, [row])
    report = import_legacy(directory=tmp_path)
    assert report.file("paper_trading/daily_log.csv").created == 1


@pytest.mark.parametrize("cells, reason", [
    ("1,2,1,99999999999999999999,1000",
     "close '99999999999999999999' is too large for a price (at most 10 digits before the decimal point)."),
    ("1,2,1,0.0000001,1000", "close '0.0000001' must be a positive price (it rounds to 0 at 6 decimals)."),
    ("1,2,1,690.10,99999999999999999999", "volume '99999999999999999999' must be from 0 to 2^63 - 1."),
    ("1,2,1,690.10,Infinity", "volume 'Infinity' is not a number."),
], ids=["a close too large to store", "a close that rounds to 0", "a volume too large to store", "an infinite volume"])
def test_a_price_file_with_a_value_the_database_cannot_hold_imports_nothing(booted, tmp_path, cells, reason):
    from sleeves.price_import import PriceImportError, import_prices

    path = tmp_path / "spy.csv"
    path.write_text(f"date,open,high,low,close,volume\n2026-01-12,{cells}\n", encoding="utf-8")
    before = row_counts()
    with pytest.raises(PriceImportError) as refused:
        import_prices(path=path, symbol="SPY")
    assert str(refused.value) == f"{path}:2: {reason}"
    assert changed_counts(before) == {}


def test_the_fill_form_refuses_an_execution_time_in_the_future(operator_client):
    errors = refused_form(operator_client, fill_form(executed_at_0="9999-12-31", executed_at_1="23:00:00"))
    assert errors == {"executed_at": [
        "9999-12-31 23:00 (New York) is in the future: enter the time TWS shows for the execution."]}


@pytest.mark.parametrize("url_name, field, data", [
    ("admin:sleeves_fill_add", "instrument", lambda book: fill_form(instrument=":")),
    ("admin:sleeves_spreadposition_add", "short_leg", lambda book: spread_form(book, short_leg="abc")),
    ("admin:dspops_quotesnapshot_add", "instrument", lambda book: {"instrument": "1.5", "source": "manual"}),
], ids=["fill instrument", "position short leg", "quote instrument"])
def test_a_hand_made_post_with_a_non_numeric_id_gets_the_form_error_not_a_server_error(
        operator_client, book, url_name, field, data):
    before = row_counts()
    response = operator_client.post(reverse(url_name), data(book))
    assert response.status_code == 200
    assert response.context["adminform"].form.errors[field] == [
        "Select a valid choice. That choice is not one of the available choices."]
    assert changed_counts(before) == {}


def test_a_negative_typed_quote_is_do_not_roll_with_the_typed_values_not_a_server_error(book):
    from rolls.roll_service import ManualQuote, plan_roll, run_checks

    attempt = plan_roll(user=None, rehearsal=True)
    typed = {str(book.front): ManualQuote(D("17.45"), D("17.50")),
             str(book.second): ManualQuote(D("18.55"), D("18.60")),
             str(book.third): ManualQuote(D("0.00"), D("-0.01"))}
    check = run_checks(attempt=attempt, user=None, live=False, manual_quotes=typed, manual_vix=D("-1"))
    failing = {r.name: r.reason for r in check.results.all() if not r.passed}
    assert check.verdict == "NO_GO"
    assert failing["new_back_width"] == (
        f"{book.third} (new back) quote is invalid (typed prices must be above 0 (bid 0.00, ask -0.01))")
    assert failing["vix"] == "VIX unknown"
    assert check.inputs["vix"]["reason"] == "VIX must be above 0 (typed -1)"


def test_the_remove_unreadable_rows_button_refuses_a_get_and_removes_nothing(operator_client):
    """A GET never writes: the discard view answers 405 (its POST-only guard is @require_POST)."""
    from django.urls import reverse

    from sleeves.models import Fill

    before = Fill.objects.count()
    response = operator_client.get(reverse("admin:sleeves_fill_discard_unreadable"))
    assert (response.status_code, response["Allow"]) == (405, "POST")
    assert Fill.objects.count() == before
