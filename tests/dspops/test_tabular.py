"""The kernel's tabular reader: typed, bounded columns on Django form fields (dspops.core.tabular)."""

from datetime import date, time
from decimal import Decimal

import pytest
from django import forms

from dspops.core import bounds, tabular
from dspops.core.tabular import CellError, Column, RowRefused, Table
from sleeves.models import PriceBar, VrpCsLogEntry

D = Decimal
LIMITS = tabular.Limits(kind="a test file", max_bytes=tabular.MIB)


def price(**kw) -> Column:
    return Column("close", tabular.decimal_field(bounds.PRICE_DIGITS), **kw)


def test_a_column_takes_its_precision_from_the_model_field():
    assert tabular.digits_of(PriceBar, "close") == bounds.PRICE_DIGITS
    assert tabular.digits_of(VrpCsLogEntry, "gate_score") == (8, 4)


@pytest.mark.parametrize("column, text, value", [
    (price(), " 689.51 ", D("689.51")),
    (price(rounded=True), "1.12345678", D("1.123457")),
    (price(missing=("nan",)), "NaN", None),
    (Column("d", tabular.IsoDateField()), "2026-01-07", date(2026, 1, 7)),
    (Column("t", tabular.ClockTimeField()), "16:40", time(16, 40)),
    (Column("n", tabular.WholeNumberField(required=False)), "", None),
    (Column("n", tabular.WholeNumberField()), "-4", -4),
    (Column("b", tabular.TrueFalseField()), "FALSE", False),
    (Column("s", forms.ChoiceField(choices=[("OPEN", "OPEN")]), upper=True), "open", "OPEN"),
])
def test_a_cell_becomes_its_typed_value(column, text, value):
    assert column.convert(text) == value


@pytest.mark.parametrize("column, text, message", [
    (price(), "abc", "close 'abc' is not a number"),
    (price(), "inf", "close 'inf' is not a number"),
    (price(), "1.1234567", "close '1.1234567' has more than 6 decimal places"),
    (price(), "1e300", "close '1e300' is too large"),
    (price(above_zero="must be a positive price"), "0", "close '0' must be a positive price"),
    (price(rounded=True, above_zero="must be a positive price"), "0.0000001",
     "close '0.0000001' must be a positive price (it rounds to 0 at 6 decimals)"),
    (price(kind="vix"), "5000", "close 5000 is outside the plausible range 0 to 1000"),
    (Column("n", tabular.WholeNumberField()), "1_000", "n '1_000' is not a whole number"),
    (Column("n", tabular.WholeNumberField()), "1" * 19, f"n '{'1' * 19}' is too large"),
    (Column("d", tabular.IsoDateField(), label="date:"), "2026-02-30", "date: '2026-02-30' is not a date (YYYY-MM-DD)"),
    (Column("b", tabular.TrueFalseField()), "maybe", "b 'maybe' is not True or False"),
])
def test_a_bad_cell_is_refused_naming_the_column_and_the_text(column, text, message):
    with pytest.raises(CellError) as refused:
        column.convert(text)
    assert str(refused.value) == message


TABLE = Table(columns=(Column("date", tabular.IsoDateField()), price(kind="stock_price")), limits=LIMITS)


def test_a_table_checks_the_header_and_cleans_each_row(tmp_path):
    path = tmp_path / "prices.csv"
    path.write_text("date,close\n2026-01-07,689.58\n\n2026-01-08,689.51\n", encoding="utf-8")
    rows = [(line, TABLE.clean(path, line, row)) for line, row in TABLE.rows(path)]
    assert rows == [(2, {"date": date(2026, 1, 7), "close": D("689.58")}),
                    (4, {"date": date(2026, 1, 8), "close": D("689.51")})]


@pytest.mark.parametrize("text, message", [
    ("", ":1: the file is empty; expected the header date,close"),
    ("date,volume\n", ":1: unexpected header (missing column(s) close; unknown column(s) volume); expected date,close"),
    ("date,close\n2026-01-07\n", ":2: expected 2 fields, found 1"),
    ("date,close\n2026-01-07,1\n2026-01-08,x\n", ":3: close 'x' is not a number"),
])
def test_a_table_refuses_by_file_line_and_column(tmp_path, text, message):
    path = tmp_path / "prices.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RowRefused) as refused:
        for line, row in TABLE.rows(path):
            TABLE.clean(path, line, row)
    assert str(refused.value) == f"{path}{message}"


def test_a_table_with_extra_columns_keeps_only_its_own(tmp_path):
    path = tmp_path / "report.csv"
    path.write_text("Close,Other,Date\n1.5,x,2026-01-07\n", encoding="utf-8")
    table = Table(columns=TABLE.columns, limits=LIMITS, extra=True, header_key=lambda name: name.strip().lower())
    assert list(table.rows(path)) == [(2, {"close": "1.5", "date": "2026-01-07"})]
