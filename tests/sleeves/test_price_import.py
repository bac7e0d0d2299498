"""Daily price history: three CSV layouts, one transaction, clear errors."""

import io
from datetime import date
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from sleeves.models import PriceBar
from sleeves.price_import import PriceImportError, import_prices


def write(tmp_path, text, name="prices.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_the_wide_layout_names_one_close_column_per_symbol(booted, tmp_path):
    path = write(tmp_path, "date,vix,vvix\n2026-01-06,14.75,89.01\n2026-01-07,15.38,91.86\n")
    report = import_prices(path=path)
    assert (report.created, report.by_symbol["VIX"]) == (4, (date(2026, 1, 6), date(2026, 1, 7)))
    assert PriceBar.objects.get(instrument__symbol="VVIX", session=date(2026, 1, 7)).close == Decimal("91.86")


def test_an_ohlcv_file_needs_its_symbol_and_keeps_every_column(booted, tmp_path):
    path = write(tmp_path, "date,open,high,low,close,volume\n2026-01-08,688.82,690.62,687.49,689.51,63895800\n")
    with pytest.raises(PriceImportError, match="name it with --symbol"):
        import_prices(path=path)
    import_prices(path=path, symbol="spy")
    bar = PriceBar.objects.get()
    assert (bar.instrument.symbol, bar.high, bar.volume) == ("SPY", Decimal("690.62"), 63895800)


def test_reimporting_adds_nothing_and_updates_a_changed_close(booted, tmp_path):
    path = write(tmp_path, "date,symbol,close\n2026-01-07,SPY,689.58\n2026-01-08,SPY,689.51\n")
    import_prices(path=path)
    again = import_prices(path=write(tmp_path, "date,symbol,close\n2026-01-07,SPY,689.58\n2026-01-08,SPY,690.00\n"))
    assert (again.created, again.updated, again.unchanged) == (0, 1, 1)
    assert PriceBar.objects.count() == 2


@pytest.mark.parametrize(
    "text, message",
    [
        ("date,symbol,close\n2026-01-07,SPY,689.58\n2026-01-08,SPY,abc\n", r"prices.csv:3: close 'abc' is not a number"),
        ("date,symbol,close\n2026-01-07,SPY,0\n", r"prices.csv:2: close '0' must be a positive price"),
        ("date,symbol,close\n2026-01-10,SPY,689\n", r"prices.csv:2: 2026-01-10 is not an NYSE session"),
        ("date,symbol,close\n2026-01-07,SPY\n", r"prices.csv:2: expected 3 fields, found 2"),
        ("date,symbol,close\n2026-01-07,ZZZZ,1\n", r"no instrument with the symbol ZZZZ"),
        ("day,close\n", r"prices.csv:1: the first column must be 'date'"),
    ],
)
def test_a_bad_row_refuses_the_whole_file(booted, tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(PriceImportError, match=message):
        import_prices(path=path)
    assert PriceBar.objects.count() == 0


def test_a_good_row_before_a_bad_one_is_not_written(booted, tmp_path):
    path = write(tmp_path, "date,symbol,close\n2026-01-06,SPY,687.00\n2026-01-07,VIX,-1\n")
    with pytest.raises(PriceImportError, match=":3: close '-1' must be a positive price"):
        import_prices(path=path)
    assert PriceBar.objects.count() == 0


def test_the_command_reports_counts_and_turns_errors_into_command_errors(booted, tmp_path):
    out = io.StringIO()
    call_command("import_prices", str(write(tmp_path, "date,vix\n2026-01-07,15.38\n")), stdout=out)
    assert "1 bar(s) created, 0 updated, 0 unchanged." in out.getvalue()
    with pytest.raises(CommandError, match="is not a number"):
        call_command("import_prices", str(write(tmp_path, "date,vix\n2026-01-07,x\n", "bad.csv")))


def test_the_real_market_history_imports(booted, shared_dir):
    report = import_prices(path=shared_dir / "market" / "vix_vvix_daily.csv")
    spy = import_prices(path=shared_dir / "market" / "spy_daily.csv", symbol="SPY")
    assert report.by_symbol["VIX"] == (date(2010, 1, 4), date(2026, 1, 7))
    assert spy.created == 4029
    assert PriceBar.objects.get(instrument__symbol="SPY", session=date(2026, 1, 8)).close == Decimal("689.51")
