"""Imports stream (issue 14): a size limit checked before any row is read, all or nothing, flat memory.

import_prices reads its file row by row and writes its bars in batches inside one transaction, so a
bad row anywhere (even after several batches were written) leaves nothing behind, and the memory it
needs does not grow with the file. The size limit is the setting PRICE_IMPORT_MAX_BYTES (8 MiB
when unset); a stream whose size is not known is refused once it has sent more than that. A Flex
report's limit is FLEX_IMPORT_MAX_BYTES (32 MiB), and of its unreadable rows only the first twenty
messages are kept.
"""

import os
import threading
import tracemalloc
from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import ImproperlyConfigured

from dspops.core import calendars, tabular
from dspops.core.models import Instrument
from sleeves import price_import
from sleeves.fill_import import FillImportError, import_flex
from sleeves.models import Fill, PriceBar
from sleeves.price_import import PriceImportError, import_prices

KIB, MIB = tabular.KIB, tabular.MIB
# Sessions that lie in the past whatever day the tests run (the loaded calendar starts in 2003).
SESSIONS = calendars.sessions_in_range(date(2010, 1, 4), date(2025, 12, 31))


def symbols() -> list[str]:
    return sorted(set(Instrument.objects.exclude(sec_type="FUT").values_list("symbol", flat=True)))


def rows(names: list[str], sessions: int, *, pad: int = 0, start: int = 0) -> list[str]:
    """``date,symbol,close`` rows, session by session; each close followed by ``pad`` zeros (rounded away)."""
    return [f"{day.isoformat()},{name},{100 + i % 50}.25{'0' * pad}\n"
            for i, day in enumerate(SESSIONS[start:start + sessions]) for name in names]


def write(path, lines: list[str]):
    path.write_text("date,symbol,close\n" + "".join(lines), encoding="utf-8")
    return path


def refused(path, **kwargs) -> str:
    with pytest.raises(PriceImportError) as error:
        import_prices(path=path, **kwargs)
    return str(error.value)


# --- the size limit --------------------------------------------------------------------------------


def test_the_size_limit_is_8_mib_unless_the_setting_says_otherwise(settings):
    if hasattr(settings, "PRICE_IMPORT_MAX_BYTES"):
        del settings.PRICE_IMPORT_MAX_BYTES
    assert price_import.PRICE_FILE.current().max_bytes == 8 * MIB
    settings.PRICE_IMPORT_MAX_BYTES = 3 * MIB
    assert price_import.PRICE_FILE.current().max_bytes == 3 * MIB
    settings.PRICE_IMPORT_MAX_BYTES = "lots"
    with pytest.raises(ImproperlyConfigured, match="PRICE_IMPORT_MAX_BYTES must be a positive whole number"):
        price_import.PRICE_FILE.current()


def test_a_file_over_the_limit_is_refused_at_once_naming_the_file_its_size_and_the_limit(booted, tmp_path, settings):
    settings.PRICE_IMPORT_MAX_BYTES = 2 * KIB
    path = write(tmp_path / "prices.csv", rows(["SPY"], 200))  # valid rows: the size alone refuses it
    assert path.stat().st_size > 4 * KIB
    assert refused(path) == (f"{path}: the file is {path.stat().st_size / KIB:.1f} KiB; a price file may be at "
                             "most 2 KiB. Check that it is the right file, or split it; nothing was imported.")
    assert not PriceBar.objects.exists()


def test_the_limit_is_checked_before_any_row_is_read(booted, tmp_path, settings):
    settings.PRICE_IMPORT_MAX_BYTES = KIB
    path = tmp_path / "prices.csv"
    path.write_bytes(b"\xff\xfe not even text" * 200)  # a row read would be refused as UTF-16
    assert "the file is 3.1 KiB; a price file may be at most 1 KiB." in refused(path)


def test_a_file_at_the_limit_imports(booted, tmp_path, settings):
    path = write(tmp_path / "prices.csv", rows(["SPY", "VIX"], 20))
    settings.PRICE_IMPORT_MAX_BYTES = path.stat().st_size
    assert import_prices(path=path).created == 40


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes")
def test_a_stream_of_unknown_size_is_refused_once_it_passes_the_limit(booted, tmp_path, settings):
    settings.PRICE_IMPORT_MAX_BYTES = 4 * KIB
    pipe = tmp_path / "prices.pipe"
    os.mkfifo(pipe)
    body = ("date,symbol,close\n" + "".join(rows(["SPY", "VIX", "VVIX"], 3000))).encode()
    sent = []

    def feed():
        try:
            with open(pipe, "wb") as out:
                for at in range(0, len(body), 1024):
                    out.write(body[at:at + 1024])
                    out.flush()
                    sent.append(at + 1024)
        except BrokenPipeError:  # the importer stopped reading, as it should
            pass

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    message = refused(pipe)
    feeder.join(10)
    line = body[:4 * KIB].count(b"\n") + 1  # the line that crosses the limit
    assert message == f"{pipe}:{line}: the file is larger than the 4 KiB a price file may be; nothing was imported."
    assert not PriceBar.objects.exists()
    assert max(sent) < len(body)  # it stopped reading at the limit, not at the end


def test_a_quoted_field_left_open_is_refused_at_the_record_limit_not_gathered_into_memory(booted, tmp_path):
    path = tmp_path / "prices.csv"
    path.write_text('date,symbol,close\n2026-01-07,"SPY,1\n' + "2026-01-08,SPY,689.51\n" * 5000, encoding="utf-8")
    assert refused(path).startswith(f"{path}:2: the record is longer than 64 KiB (a quoted field runs on from line 2 "
                                    "to line ")


# --- all or nothing, however far down the bad row is ----------------------------------------------


@pytest.mark.parametrize("bad_row, reason", [
    ("2025-12-31,SPY,abc\n", "close 'abc' is not a number."),
    ("2025-12-31,ZZZZ,1\n", "no instrument with the symbol ZZZZ. Add it under Instruments in the admin (or run "
                            "bootstrap) and import again; nothing was imported."),
    ("2010-01-04,SPY,101.25\n", "SPY on 2010-01-04 appears twice."),
    ("2025-12-31,VIX,5000\n", "close 5000 is outside the plausible range for VIX (0 to 1000)."),
], ids=["not a number", "unknown symbol", "twice", "implausible"])
def test_a_bad_row_after_many_written_batches_leaves_nothing_behind(booted, tmp_path, bad_row, reason):
    good = rows(symbols(), 400)  # about 4,800 bars: nine batches written before the bad row
    assert len(good) > 9 * price_import.WRITE_BATCH
    path = write(tmp_path / "prices.csv", [*good, bad_row])
    assert refused(path) == f"{path}:{len(good) + 2}: {reason}"
    assert not PriceBar.objects.exists()


def test_a_refused_reimport_leaves_the_stored_bars_as_they_were(booted, tmp_path):
    names = ["SPY", "VIX"]
    import_prices(path=write(tmp_path / "first.csv", rows(names, 600)))
    changed = [row.replace(".25", ".75") for row in rows(names, 600)] + rows(names, 300, start=600)
    path = write(tmp_path / "second.csv", [*changed, "2025-12-31,SPY,0\n"])
    assert refused(path) == f"{path}:{len(changed) + 2}: close '0' must be a positive price."
    assert PriceBar.objects.count() == 1200
    assert set(PriceBar.objects.values_list("close", flat=True)) == {Decimal(f"{100 + i}.25") for i in range(50)}


def test_a_reimport_in_batches_counts_created_updated_and_unchanged(booted, tmp_path):
    names = ["SPY", "VIX", "VVIX"]
    import_prices(path=write(tmp_path / "first.csv", rows(names, 400)))
    changed = rows(names, 200) + [row.replace(".25", ".5") for row in rows(names, 200, start=200)]
    report = import_prices(path=write(tmp_path / "second.csv", changed + rows(names, 100, start=400)))
    assert (report.created, report.updated, report.unchanged) == (300, 600, 600)
    assert report.by_symbol["VIX"] == (SESSIONS[0], SESSIONS[499])
    assert PriceBar.objects.get(instrument__symbol="SPY", session=SESSIONS[399]).close == Decimal("149.5")


# --- memory -------------------------------------------------------------------------------------------


def test_a_6_mb_file_imports_in_less_memory_than_a_quarter_of_its_size(booted, tmp_path):
    import_prices(path=write(tmp_path / "warm.csv", rows(["SPY"], 1, start=len(SESSIONS) - 1)))  # calendars loaded
    names = symbols()
    plain = rows(names, 500)  # 6,000 bars: held at once (as before issue 14) they take about 2.4 MB
    pad = (6 * MIB // len(plain)) - len(plain[0])
    path = write(tmp_path / "prices.csv", rows(names, 500, pad=pad))
    size = path.stat().st_size
    assert 5.5 * MIB < size <= 6 * MIB
    tracemalloc.start()
    try:
        report = import_prices(path=path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert report.created == len(plain)
    assert peak < size / 4, f"peak {peak / MIB:.2f} MiB importing a {size / MIB:.1f} MiB file"


# --- Flex reports ---------------------------------------------------------------------------------

FLEX_HEADER = ("ClientAccountID,AssetClass,Symbol,UnderlyingSymbol,Conid,Expiry,Multiplier,Date/Time,Buy/Sell,"
               "Quantity,TradePrice,IBCommission,IBCommissionCurrency,IBExecID,OrderReference,LevelOfDetail\n")


def test_a_flex_report_over_its_limit_is_refused_at_once(booted, tmp_path, settings):
    settings.FLEX_IMPORT_MAX_BYTES = KIB
    path = tmp_path / "trades.csv"
    path.write_text(FLEX_HEADER * 20, encoding="utf-8")
    with pytest.raises(FillImportError) as error:
        import_flex(path=path)
    assert str(error.value) == (f"{path}: the file is {path.stat().st_size / KIB:.1f} KiB; an IBKR Flex trade report "
                                "may be at most 1 KiB. Check that it is the right file, or split it; nothing was "
                                "imported.")
    assert not Fill.objects.exists()


def test_a_flex_report_of_many_malformed_rows_keeps_twenty_messages_and_counts_the_rest(booted, tmp_path):
    path = tmp_path / "trades.csv"
    path.write_text(FLEX_HEADER + "U1234567,STK\n" * 5000, encoding="utf-8")
    with pytest.raises(FillImportError) as error:
        import_flex(path=path)
    lines = str(error.value).splitlines()
    assert lines[0] == "5000 problems, so nothing was imported:"
    assert lines[1].startswith(f"{path}:2: ")
    assert len(lines) == 1 + 20 + 1 and lines[-1] == "... and 4980 more"
    assert not Fill.objects.exists()
