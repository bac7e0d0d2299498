"""Hypothesis fuzzing of everything an operator types or feeds in: never a 500, never a partial write.

- The fill add form: a redirect with exactly one new Fill holding what was typed, or the form
  again with its errors and no new row. A fill refused only for warnings (a price far from the
  stored one, a date that is not a session, ...) is stored exactly as typed once they are confirmed.
- The roll checklist's quote-entry form: never GO when a typed quote is crossed, zero, negative or
  missing, or when VIX is missing.
- Every importer (Flex fills, price history, the legacy daily_log.csv): success, or the
  importer's own error with nothing written; never another exception.

Bounded: 40 examples each, no deadline (a POST or an import touches the database).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django import forms
from django.urls import reverse
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from dspops.core import clock
from dspops.legacy_import import LegacyImportError, import_legacy
from dspops.core.models import BrokerSnapshot, Instrument
from rolls.models import RollCheck
from rolls.roll_service import plan_roll
from sleeves.fill_import import FillImportError, import_flex
from sleeves.models import Fill, MonitorRun, PriceBar, RunStatus, Sleeve
from sleeves.price_import import PriceImportError, import_prices

from .conftest import changed_counts, row_counts

# Pre-roll checks need CFE open: pin 11:00 New York on the latest CFE session, so the suite holds on any day.
pytestmark = pytest.mark.usefixtures("cfe_session_clock")

D = Decimal
FUZZ = settings(max_examples=40, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

# Text an operator or a file could hold: any character but lone surrogates (not encodable).
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=24)
ODD_VALUES = st.sampled_from([
    "", " ", "0", "-0", "-1", "+5", "1e400", "1E-9", "NaN", "nan", "Infinity", "-inf", "sNaN", "1,000", "1_000",
    "١٢٣", "0x10", "12.3456789", "99999999999999999999", "True", "False", "9999-12-31", "0001-01-01",
    "2026-02-30", "24:00:00", "23:59:59", "\x00", "'", '"', ",", ";", "\n", "null", "None",
])
NUMBERS = st.one_of(
    st.decimals(allow_nan=True, allow_infinity=True, places=None).map(str),
    st.decimals(min_value=-1000, max_value=1000, places=4).map(str),
    st.integers(min_value=-10**20, max_value=10**20).map(str),
    st.floats().map(repr),
)
ANY_CELL = st.one_of(ODD_VALUES, NUMBERS, TEXT, st.dates().map(str))


# --- the fill add form ---------------------------------------------------------------------------


def choice_or_junk(valid: list[str]):
    return st.one_of(st.sampled_from(valid), st.sampled_from(["", "0", "999999", "-1"]), TEXT)


def fill_posts():
    sleeves = [str(pk) for pk in Sleeve.objects.values_list("pk", flat=True)]
    instruments = [str(pk) for pk in Instrument.objects.values_list("pk", flat=True)]
    good_number = st.decimals(min_value=D("0.0001"), max_value=D("100000"), places=4).map(str)
    return st.fixed_dictionaries({
        "sleeve": choice_or_junk(sleeves),
        "instrument": choice_or_junk(instruments),
        "side": st.one_of(st.sampled_from(["BUY", "SELL", "buy", ""]), TEXT),
        "quantity": st.one_of(good_number, NUMBERS, ODD_VALUES),
        "price": st.one_of(good_number, NUMBERS, ODD_VALUES),
        "commission": st.one_of(st.just(""), good_number, NUMBERS, ODD_VALUES),
        "executed_at_0": st.one_of(st.dates().map(str), ODD_VALUES, TEXT),
        "executed_at_1": st.one_of(st.times().map(lambda t: t.strftime("%H:%M:%S")), ODD_VALUES, TEXT),
        "exec_id": st.one_of(st.just(""), TEXT, st.text(min_size=60, max_size=70)),
        "order_ref": st.one_of(st.just(""), TEXT, st.text(min_size=60, max_size=70)),
        "note": st.one_of(st.just(""), TEXT, st.text(min_size=290, max_size=310)),
    })


def expected_fill(post: dict) -> dict:
    """What a saved fill must hold: the typed values as Django's own fields read them."""
    decimal = forms.DecimalField(required=False)
    return {
        "sleeve_id": int(post["sleeve"]) if post["sleeve"].strip() else None,
        "instrument_id": int(post["instrument"]),
        "side": post["side"],
        "quantity": decimal.clean(post["quantity"]),
        "price": decimal.clean(post["price"]),
        "commission": decimal.clean(post["commission"]),
        "executed_at": forms.SplitDateTimeField().clean([post["executed_at_0"], post["executed_at_1"]]),
        "exec_id": post["exec_id"].strip() or None,
        "order_ref": post["order_ref"].strip(),
        "note": post["note"].strip(),
    }


def test_the_fill_add_form_never_fails_and_stores_exactly_what_was_typed_or_nothing(operator_client, operator_user):
    url = reverse("admin:sleeves_fill_add")

    spy = Instrument.objects.get(local_symbol="SPY")
    # A stored close near the good fill's price, so the good fill meets no warning.
    PriceBar.objects.create(instrument=spy, session=date(2026, 11, 20), close=D("680.95"), source="stored")
    good = {"sleeve": str(Sleeve.objects.get(code="VRP_ERP").pk), "instrument": str(spy.pk), "side": "BUY",
            "quantity": "13", "price": "681.40", "commission": "1.00", "executed_at_0": "2026-11-23",
            "executed_at_1": "10:01:00", "exec_id": "", "order_ref": "erp-1", "note": ""}
    outcomes = []

    def stored_as_typed(post, known, warnings):
        new = list(Fill.objects.exclude(pk__in=known))
        assert len(new) == 1, post
        fill = new[0]
        stored = {name: getattr(fill, name) for name in expected_fill(post)}
        assert stored == expected_fill(post), post
        assert (fill.source, fill.entered_by, fill.confirmed_warnings) == ("manual", operator_user, warnings), post

    @FUZZ
    @given(post=fill_posts())
    @example(post=good)
    @example(post={**good, "price": "6814.00"})  # a warning (10x the stored close): confirmed, then stored
    @example(post={**good, "instrument": ":"})  # was a 500: the autocomplete widget looked ":" up as an id
    @example(post={**good, "executed_at_0": "9999-12-31", "executed_at_1": "23:00:00"})  # was a 500 on save
    def post_once(post):
        before, known = row_counts(), set(Fill.objects.values_list("pk", flat=True))
        response = operator_client.post(url, post)
        if response.status_code == 302:
            stored_as_typed(post, known, [])
            outcomes.append("saved")
            return
        assert response.status_code == 200, post
        form = response.context["adminform"].form
        assert form.errors, post
        assert changed_counts(before) == {}, post  # refused, for an error or for a warning: nothing stored
        if not form.warnings:  # the warnings are only asked once nothing else is wrong
            outcomes.append("refused")
            return
        confirm = {**post, "warnings_shown": form["warnings_shown"].value(), "confirm_warnings": "on"}
        response = operator_client.post(url, confirm)
        assert response.status_code == 302, (post, response.context["adminform"].form.errors)
        stored_as_typed(post, known, form.warnings)
        outcomes.append("confirmed")

    post_once()
    # Every outcome was reached: the property was tested.
    assert {"saved", "refused", "confirmed"} <= set(outcomes), outcomes


# --- the roll checklist's quote-entry form ----------------------------------------------------------


@dataclass(frozen=True)
class TypedLeg:
    bid: str
    ask: str

    def problem(self) -> str | None:
        """Why this typed quote cannot be priced from, as the operator would see it; None when it can."""
        read = forms.DecimalField(required=False).clean
        bid, ask = read(self.bid), read(self.ask)
        if bid is None and ask is None:
            return "missing"
        if bid is None or ask is None or bid <= 0 or ask <= 0:
            return "missing side, zero or negative"
        if bid > ask:
            return "crossed"
        return None


def price_text():
    return st.one_of(
        st.decimals(min_value=D("-5"), max_value=D("40"), places=2).map(str),
        st.sampled_from(["", "0", "-1", "17.45", "18.55", "19.25"]),
    )


def typed_leg(mid: str):
    m = D(mid)
    near = st.tuples(st.decimals(min_value=m - D("0.06"), max_value=m + D("0.06"), places=2),
                     st.decimals(min_value=D("0"), max_value=D("0.06"), places=2)).map(
        lambda bw: TypedLeg(str(bw[0]), str(bw[0] + bw[1])))
    return st.one_of(near, near, st.builds(TypedLeg, price_text(), price_text()))


@pytest.fixture
def checkable_roll(book, operator_user):
    """A planned rehearsal whose checks can be GO on typed quotes: today's broker snapshot shows the book."""
    BrokerSnapshot.objects.create(
        as_of=clock.now(), account="SIM0100001", simulated=True, excess_liquidity=D("60000"), positions=[
            {"con_id": 1, "local_symbol": str(book.front), "symbol": "VXM", "sec_type": "FUT", "quantity": "-1"},
            {"con_id": 2, "local_symbol": str(book.second), "symbol": "VXM", "sec_type": "FUT", "quantity": "1"},
        ])
    return plan_roll(user=operator_user, rehearsal=True)


def quote_post(vix: str, legs: dict[str, TypedLeg]) -> dict:
    post = {"vix": vix}
    for symbol, leg in legs.items():
        post[f"bid_{symbol}"], post[f"ask_{symbol}"] = leg.bid, leg.ask
    return post


def test_typed_quotes_that_are_all_sound_give_go(operator_client, checkable_roll, book):
    legs = {book.front.local_symbol: TypedLeg("17.45", "17.50"), book.second.local_symbol: TypedLeg("18.55", "18.60"),
            book.third.local_symbol: TypedLeg("19.25", "19.30")}
    url = reverse("admin:rolls_rollattempt_action", args=[checkable_roll.pk, "manual-checks"])
    response = operator_client.post(url, quote_post("16.10", legs))
    assert response.status_code == 302
    check = RollCheck.objects.get()
    assert (check.verdict, check.manual_quotes) == ("GO", True), [
        (r.name, r.reason) for r in check.results.all() if not r.passed]


def test_the_quote_entry_form_never_says_go_on_a_crossed_zero_or_missing_quote(operator_client, checkable_roll, book):
    url = reverse("admin:rolls_rollattempt_action", args=[checkable_roll.pk, "manual-checks"])
    checklist = reverse("admin:rolls_rollattempt_checklist", args=[checkable_roll.pk])
    symbols = {"old_front_width": book.front.local_symbol, "middle_width": book.second.local_symbol,
               "new_back_width": book.third.local_symbol}
    outcomes = []

    @FUZZ
    @given(vix=st.one_of(st.just("16.10"), price_text(), ODD_VALUES),
           front=typed_leg("17.475"), second=typed_leg("18.575"), third=typed_leg("19.275"))
    @example(vix="16.10", front=TypedLeg("17.45", "17.50"), second=TypedLeg("18.55", "18.60"),
             third=TypedLeg("0.00", "-0.01"))  # was a 500: a negative typed price broke a database constraint
    @example(vix="-1", front=TypedLeg("17.45", "17.50"), second=TypedLeg("18.55", "18.60"),
             third=TypedLeg("19.25", "19.30"))  # the same for a negative typed VIX
    def post_once(vix, front, second, third):
        legs = {symbols["old_front_width"]: front, symbols["middle_width"]: second, symbols["new_back_width"]: third}
        before = RollCheck.objects.count()
        response = operator_client.post(url, quote_post(vix, legs))
        assert (response.status_code, response["Location"]) == (302, checklist)
        if RollCheck.objects.count() == before:  # the form refused what was typed: nothing was checked
            outcomes.append("refused")
            return
        check = RollCheck.objects.latest("id")
        failing = {r.name for r in check.results.all() if not r.passed}
        outcomes.append(check.verdict)
        for name, leg in zip(symbols, (front, second, third)):
            if leg.problem() is not None:
                assert check.verdict == "NO_GO" and name in failing, (leg, leg.problem(), failing)
        vix_value = forms.DecimalField(required=False).clean(vix) if vix.strip() else None
        if vix_value is None or vix_value <= 0:
            assert check.verdict == "NO_GO" and "vix" in failing, (vix, failing)
        if check.verdict == "GO":
            assert failing == set() and all(leg.problem() is None for leg in (front, second, third))

    post_once()
    assert "GO" in outcomes and "NO_GO" in outcomes  # both verdicts were reached: the property was tested


# --- the importers ---------------------------------------------------------------------------------


def rows_with(rows: list[list[str]], mutations: list[tuple[int, int, str, str]]) -> str:
    """The CSV text of `rows` after cell mutations (row, column, how, value): replace, drop or add a cell."""
    rows = [list(r) for r in rows]
    for row, column, how, value in mutations:
        target = rows[1 + row % (len(rows) - 1)]  # data rows only: the header stays
        i = column % len(target)
        if how == "replace":
            target[i] = value
        elif how == "drop":
            del target[i]
        else:
            target.insert(i, value)
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


MUTATIONS = st.lists(st.tuples(st.integers(0, 50), st.integers(0, 50),
                               st.sampled_from(["replace", "replace", "replace", "drop", "add"]), ANY_CELL),
                     min_size=1, max_size=3)

FLEX = [
    ["ClientAccountID", "AssetClass", "Symbol", "UnderlyingSymbol", "Conid", "Expiry", "Multiplier", "Date/Time",
     "Buy/Sell", "Quantity", "TradePrice", "IBCommission", "IBCommissionCurrency", "IBExecID", "OrderReference",
     "LevelOfDetail"],
    ["U1234567", "STK", "SPY", "", "756733", "", "1", "2026-01-14, 10:55:12", "BUY", "3", "690.12", "-1", "USD",
     "0000e0b2.696789aa.01.01", "vrp-erp-1", "EXECUTION"],
    ["U1234567", "STK", "EEM", "", "53339234", "", "1", "2026-01-14, 11:10:00", "SELL", "-20", "49.81", "-1.00",
     "USD", "0000e0b2.696789ac.01.01", "dm-1", "EXECUTION"],
    ["U1234567", "FUT", "VXMG6", "VXM", "700202602", "20260218", "100", "2026-01-14, 11:02:03", "SELL", "-1", "18.45",
     "-1.07", "USD", "0000e0b2.696789ab.01.01", "vrp-cs-1", "EXECUTION"],
]


def test_a_mutated_flex_report_imports_whole_or_is_refused_with_nothing_written(booted, tmp_path):
    path = tmp_path / "trades.csv"
    outcomes = []

    @FUZZ
    @given(mutations=MUTATIONS)
    @example(mutations=[(0, 0, "replace", "U1234567")])  # no change at all: imports
    def import_once(mutations):
        path.write_text(rows_with(FLEX, mutations), encoding="utf-8")
        before = row_counts()
        try:
            report = import_flex(path=path)
        except FillImportError as refused:
            runs = before["sleeves.MonitorRun"]
            assert changed_counts(before) == {"sleeves.MonitorRun": (runs, runs + 1)}, str(refused)
            assert MonitorRun.objects.latest("id").status == RunStatus.ERROR
            outcomes.append("refused")
            return
        assert Fill.objects.count() - before["sleeves.Fill"] == report.created
        assert report.created + report.skipped + report.ignored == 3
        outcomes.append("imported")

    import_once()
    assert set(outcomes) == {"imported", "refused"}


PRICES = [["date", "symbol", "close"], ["2026-01-12", "SPY", "690.10"], ["2026-01-13", "SPY", "691.25"],
          ["2026-01-12", "VIX", "15.57"], ["2026-01-13", "VIX", "16.02"]]


def test_a_mutated_price_file_imports_whole_or_is_refused_with_nothing_written(booted, tmp_path):
    path = tmp_path / "prices.csv"
    outcomes = []

    @FUZZ
    @given(mutations=MUTATIONS)
    @example(mutations=[(0, 2, "replace", "99999999999999999999")])  # was stored, then broke every read of the bars
    @example(mutations=[(0, 2, "replace", "690.10"), (1, 2, "replace", "0.0001")])  # the read that broke
    def import_once(mutations):
        path.write_text(rows_with(PRICES, mutations), encoding="utf-8")
        before = row_counts()
        try:
            report = import_prices(path=path)
        except PriceImportError:
            assert changed_counts(before) == {}
            outcomes.append("refused")
            return
        assert PriceBar.objects.count() - before["sleeves.PriceBar"] == report.created
        assert list(PriceBar.objects.values_list("close", flat=True))  # every stored bar reads back
        outcomes.append("imported")

    import_once()
    assert set(outcomes) == {"imported", "refused"}


DAILY_LOG = [
    ["date", "time", "vix", "vx1", "vx2", "spread", "entry_spread", "pnl_usd", "gate_state", "gate_score",
     "contango_pct", "days_to_roll", "roll_by", "stop_loss_level", "take_profit_level", "stop_loss_hit",
     "take_profit_hit", "notes"],
    ["2026-02-02", "16:40:00", "17.20", "18.15", "18.95", "0.80", "0.80", "0.00", "OPEN", "0.450", "5.52", "10",
     "2026-02-12", "0.40", "1.60", "False", "False", ""],
    ["2026-02-03", "16:40:00", "nan", "nan", "nan", "nan", "0.80", "nan", "OPEN", "nan", "nan", "9", "2026-02-12",
     "0.40", "1.60", "False", "False", ""],
    ["2026-02-04", "16:40:00", "17.00", "18.00", "18.30", "0.30", "0.80", "-50.00", "OPEN", "0.500", "5.88", "8",
     "2026-02-12", "1.00", "0.35", "False", "True", "a note"],
]


def test_a_mutated_legacy_daily_log_imports_whole_or_is_refused_with_nothing_written(booted, tmp_path):
    path = tmp_path / "paper_trading" / "daily_log.csv"
    path.parent.mkdir()
    outcomes = []

    @FUZZ
    @given(mutations=MUTATIONS)
    @example(mutations=[(0, 2, "replace", "0.0000")])  # was a TypeError: a VIX under 12 in the gate-score check
    def import_once(mutations):
        path.write_text(rows_with(DAILY_LOG, mutations), encoding="utf-8")
        before = row_counts()
        try:
            report = import_legacy(directory=tmp_path, now=clock.now() - timedelta(days=1))
        except LegacyImportError as refused:
            assert changed_counts(before) == {}, str(refused)
            assert str(refused).startswith(f"{path}:"), str(refused)
            outcomes.append("refused")
            return
        log = report.file("paper_trading/daily_log.csv")
        assert log.created + log.updated + log.skipped == 3
        outcomes.append("imported")

    import_once()
    assert set(outcomes) == {"imported", "refused"}
