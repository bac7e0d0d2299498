"""Every date and number is bounded where it enters the three importers (DECISIONS.md section 11).

Each measured failure of issue 11 item 3 is a test here: a refusal names the file, the line and
the field, writes no data row (the census of tests/faults/conftest.py; a refused fill import
keeps only its ERROR run, the audit of the refusal), and the commands exit 1 with a
CommandError, never a traceback. Huge files are refused early by a child process whose peak
memory is measured (ru_maxrss of the children of a small wrapper process, so no earlier child
of this test run counts); no test asserts a wall time.
"""

from __future__ import annotations

import dataclasses
import io
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from dspops.core import calendars, clock
from dspops.core.broker.types import Execution
from dspops.legacy_import import LegacyImportError, import_legacy
from sleeves.fill_import import FillImportError, import_flex, sync_fills
from sleeves.models import Fill, MonitorRun, RunStatus, VrpCsLogEntry, VrpErpLogEntry
from sleeves.price_import import PriceImportError, import_prices

from .conftest import changed_counts, child_env, row_counts
from .test_data_faults import LEGACY_HEADER, LEGACY_ROWS, write_legacy_log

D = Decimal
MIB = 1024 * 1024
PEAK_LIMIT_KB = 200 * 1024
MANAGE = Path(settings.BASE_DIR) / "manage.py"
BEFORE_EXPIRY = datetime(2026, 2, 6, 20, 0, tzinfo=UTC)


# --- helpers ------------------------------------------------------------------------------------------

FLEX_HEADER = ("ClientAccountID,AssetClass,Symbol,UnderlyingSymbol,Conid,Expiry,Multiplier,Date/Time,Buy/Sell,"
               "Quantity,TradePrice,IBCommission,IBCommissionCurrency,IBExecID,OrderReference,LevelOfDetail")


def flex_csv_row(*, when="2026-01-14, 10:55:12", quantity="3", price="690.12", commission="-1", multiplier="1",
                 side="BUY", conid="756733", exec_id="0000e0b2.000001.01.01", asset="STK", symbol="SPY",
                 underlying="", expiry="") -> str:
    return (f'U1234567,{asset},{symbol},{underlying},{conid},{expiry},{multiplier},"{when}",{side},{quantity},{price},'
            f"{commission},USD,{exec_id},vrp-erp-1,EXECUTION")


def flex_xml_trade(*, when="20260114;105512", quantity="3", price="690.12", commission="-1.00") -> str:
    return (f'<Trade accountId="U1234567" assetCategory="STK" symbol="SPY" conid="756733" buySell="BUY" '
            f'quantity="{quantity}" tradePrice="{price}" ibCommission="{commission}" ibCommissionCurrency="USD" '
            f'dateTime="{when}" orderReference="vrp-erp rebalance" ibExecID="0000e0b2.696789aa.01.01" '
            'multiplier="1" levelOfDetail="EXECUTION" />')


def write_flex(tmp_path: Path, kind: str, **row) -> Path:
    if kind == "csv":
        path = tmp_path / "trades.csv"
        path.write_text(f"{FLEX_HEADER}\n{flex_csv_row(**row)}\n", encoding="utf-8")
    else:
        xml_row = {k: v for k, v in row.items() if k in ("quantity", "price", "commission")}
        if "when" in row:  # 2026-01-14, 10:55:12 -> 20260114;105512
            day, clock_time = row["when"].split(", ")
            xml_row["when"] = f"{day.replace('-', '')};{clock_time.replace(':', '')}"
        path = tmp_path / "trades.xml"
        path.write_text('<?xml version="1.0" encoding="UTF-8"?>\n<FlexQueryResponse queryName="t" type="AF">\n'
                        f"<FlexStatements count=\"1\">\n<FlexStatement accountId=\"U1234567\">\n<Trades>\n"
                        f"{flex_xml_trade(**xml_row)}\n</Trades>\n</FlexStatement>\n</FlexStatements>\n"
                        "</FlexQueryResponse>\n", encoding="utf-8")
    return path


def refused_flex(path: Path) -> str:
    """The refusal of a Flex file; it wrote nothing but its ERROR run."""
    before = row_counts()
    with pytest.raises(FillImportError) as refused:
        import_flex(path=path)
    runs = before["sleeves.MonitorRun"]
    assert changed_counts(before) == {"sleeves.MonitorRun": (runs, runs + 1)}
    assert MonitorRun.objects.latest("id").status == RunStatus.ERROR
    return str(refused.value)


def refused_prices(path: Path, **kwargs) -> str:
    before = row_counts()
    with pytest.raises(PriceImportError) as refused:
        import_prices(path=path, **kwargs)
    assert changed_counts(before) == {}
    return str(refused.value)


def refused_legacy(directory: Path, **kwargs) -> str:
    before = row_counts()
    with pytest.raises(LegacyImportError) as refused:
        import_legacy(directory=directory, now=BEFORE_EXPIRY, **kwargs)
    assert changed_counts(before) == {}
    return str(refused.value)


# Runs the command given in argv as its only child and reports that child's peak memory.
MEASURE = """
import resource, subprocess, sys
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
sys.stdout.write(done.stdout)
sys.stderr.write(done.stderr)
sys.stderr.write(f"\\nPEAK_KB={resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}\\n")
sys.exit(done.returncode)
"""


def run_command(*args: str) -> tuple[int, str, int]:
    """Run `manage.py <args>` in a child process: (exit code, stderr, peak resident memory in KB)."""
    done = subprocess.run([sys.executable, "-c", MEASURE, sys.executable, str(MANAGE), *args], cwd=settings.BASE_DIR,
                          env=child_env(), capture_output=True, text=True, timeout=600)
    peak = int(re.search(r"PEAK_KB=(\d+)", done.stderr).group(1))
    return done.returncode, done.stderr.split("\nPEAK_KB=")[0], peak


def one_line_file(path: Path, size: int, start: bytes = b"") -> Path:
    """A file of ``size`` bytes without a single line break: ``start``, then "9,9,9,..." (a CSV row of
    millions of fields, the measured case that took 100 s and 2.7 GB)."""
    with path.open("wb") as out:
        out.write(start)
        chunk = b"9," * (MIB // 2)
        left = size - len(start)
        while left > 0:
            out.write(chunk[:left])
            left -= len(chunk)
    return path


# --- import_fills: dates ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["csv", "xml"])
@pytest.mark.parametrize("day", ["9999-12-31", "1900-01-02", "0001-01-01", "1999-12-31", "2101-01-03"])
def test_a_flex_fill_dated_outside_2000_to_2100_is_refused(booted, tmp_path, kind, day):
    # Measured: a fill of 9999-12-31 was stored and made the Fills page a 500 for every user; 1900
    # and 0001 were stored too.
    path = write_flex(tmp_path, kind, when=f"{day}, 10:55:12")
    line = 2 if kind == "csv" else 6
    assert refused_flex(path) == (f"{path}:{line}: dateTime {day} is outside 2000-01-01 to 2100-12-31; "
                                  "nothing was imported.")
    assert not Fill.objects.exists()


@pytest.mark.parametrize("kind", ["csv", "xml"])
def test_a_flex_fill_executed_in_the_future_is_refused(booted, tmp_path, kind):
    tomorrow = clock.trading_date() + timedelta(days=1)
    path = write_flex(tmp_path, kind, when=f"{tomorrow}, 10:55:12")
    message = refused_flex(path)
    assert re.fullmatch(rf"{re.escape(str(path))}:\d: dateTime {tomorrow}T10:55:12-0[45]:00 is in the future "
                        r"\(now .*\); nothing was imported\.", message), message


def test_a_flex_fill_of_the_first_and_the_last_day_in_bounds_imports(booted, tmp_path):
    path = write_flex(tmp_path, "csv", when="2000-01-03, 10:00:00")
    assert import_flex(path=path).created == 1


def test_the_expiry_of_a_flex_fill_is_bounded_too(booted, tmp_path):
    path = write_flex(tmp_path, "csv", asset="FUT", symbol="VXMG6", underlying="VXM", conid="700202602",
                      expiry="99991231", multiplier="100", side="SELL", quantity="-1", price="18.45")
    assert refused_flex(path) == f"{path}:2: expiry 9999-12-31 is outside 2000-01-01 to 2100-12-31; nothing was imported."


# --- import_fills: numbers -------------------------------------------------------------------------


@pytest.mark.parametrize("row, reason", [
    # Measured: tradePrice=1e308 printed a traceback (quantize overflowed when the fill was built).
    ({"price": "1e308"}, "tradePrice 1e+308 is outside the plausible range 0 to 1000000"),
    ({"price": "2000000"}, "tradePrice 2000000 is outside the plausible range 0 to 1000000"),
    ({"price": "nan"}, "tradePrice 'nan' is not a number"),
    ({"price": "inf"}, "tradePrice 'inf' is not a number"),
    ({"price": "-Infinity"}, "tradePrice '-Infinity' is not a number"),
    ({"price": "-5"}, "tradePrice -5 must be above 0: a fill at 0 is not a real execution"),
    ({"quantity": "1e12"}, "quantity 1e+12 is outside the plausible range -100000000 to 100000000"),
    ({"quantity": "NaN"}, "quantity 'NaN' is not a number"),
    ({"commission": "-1e308"}, "ibCommission -1e+308 is outside the plausible range -1000000 to 1000000"),
    ({"commission": "nan"}, "ibCommission 'nan' is not a number"),
    ({"multiplier": "1e308"}, "multiplier 1e+308 is outside the plausible range 0 to 100000"),
    ({"multiplier": "-100"}, "multiplier -100 must be above 0"),
    ({"conid": "99999999999999999999"}, "conid '99999999999999999999' is not an IBKR contract id"),
    ({"exec_id": "x" * 70}, "ibExecID 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx… (70 characters) is longer than the 64 characters of an "
                            "IBKR exec id"),
], ids=["price 1e308", "price 2e6", "price nan", "price inf", "price -inf", "negative price", "huge quantity",
        "quantity nan", "commission -1e308", "commission nan", "multiplier 1e308", "negative multiplier",
        "huge conid", "long exec id"])
def test_an_absurd_number_in_a_flex_csv_is_refused_by_file_line_and_field(booted, tmp_path, row, reason):
    path = write_flex(tmp_path, "csv", **row)
    assert refused_flex(path) == f"{path}:2: {reason}; nothing was imported."


@pytest.mark.parametrize("row, reason", [
    ({"price": "1e308"}, "tradePrice 1e+308 is outside the plausible range 0 to 1000000"),
    ({"quantity": "-1e12"}, "BUY with quantity -1e12: Flex quantities are positive for a BUY and negative for a "
                            "SELL; check the export"),
    ({"quantity": "1e12"}, "quantity 1e+12 is outside the plausible range -100000000 to 100000000"),
    ({"commission": "-1e30"}, "ibCommission -1e+30 is outside the plausible range -1000000 to 1000000"),
])
def test_an_absurd_number_in_a_flex_xml_is_refused_by_file_line_and_field(booted, tmp_path, row, reason):
    path = write_flex(tmp_path, "xml", **row)
    assert refused_flex(path) == f"{path}:6: {reason}; nothing was imported."


def test_a_vxm_fill_price_is_checked_against_the_vx_range(booted, tmp_path):
    path = write_flex(tmp_path, "csv", asset="FUT", symbol="VXMG6", underlying="VXM", conid="700202602",
                      expiry="20260218", multiplier="100", side="SELL", quantity="-1", price="1845")
    assert refused_flex(path) == (f"{path}:2: tradePrice 1845 is outside the plausible range 0 to 1000; "
                                  "nothing was imported.")


def test_an_exec_id_with_a_correction_number_that_is_no_number_is_not_a_correction(booted, tmp_path):
    # "²" passes str.isdigit() but not int(): it was a ValueError traceback in the correction check.
    path = write_flex(tmp_path, "csv", exec_id="0000e0b2.000001.01.²")
    assert import_flex(path=path).created == 1


def test_the_import_fills_command_turns_an_absurd_price_into_a_command_error(booted, tmp_path):
    path = write_flex(tmp_path, "csv", price="1e308")
    with pytest.raises(CommandError) as failed:
        call_command("import_fills", str(path), stdout=io.StringIO())
    assert str(failed.value) == f"{path}:2: tradePrice 1e+308 is outside the plausible range 0 to 1000000; nothing was imported."
    assert failed.value.returncode == 1
    assert not Fill.objects.exists()


class _Broker:
    """A gateway stand-in that hands sync_fills the executions the broker sent."""

    simulated = True

    def __init__(self, *executions: Execution):
        self.sent = executions

    def executions(self, since):
        return list(self.sent)


def execution(**changes) -> Execution:
    values = dict(exec_id="0000f001.00000001.01.01", con_id=756733, symbol="SPY", sec_type="STK", local_symbol="SPY",
                  side="BUY", quantity=D("3"), price=D("690.12"), executed_at=clock.now() - timedelta(hours=2),
                  order_ref="vrp-erp-1", account="SIM0100001", commission=D("1.00"), commission_currency="USD",
                  perm_id=1, order_id=1)
    return Execution(**{**values, **changes})


@pytest.mark.parametrize("changes, reason", [
    ({"price": D("1e308")}, "price 1e+308 is outside the plausible range 0 to 1000000"),
    ({"quantity": D("1e12")}, "quantity 1e+12 is outside the plausible range -100000000 to 100000000"),
    ({"commission": D("1e30")}, "commission 1e+30 is outside the plausible range -1000000 to 1000000"),
    ({"executed_at": datetime(9999, 12, 31, tzinfo=UTC)}, "execution time 9999-12-31 is outside 2000-01-01 to 2100-12-31"),
    ({"executed_at": datetime(1900, 1, 2, tzinfo=UTC)}, "execution time 1900-01-02 is outside 2000-01-01 to 2100-12-31"),
], ids=["price", "quantity", "commission", "year 9999", "year 1900"])
def test_an_absurd_execution_from_the_broker_is_refused_too(booted, changes, reason):
    before = row_counts()
    with pytest.raises(FillImportError) as refused:
        sync_fills(since=clock.now() - timedelta(days=3), gateway=_Broker(execution(**changes)))
    assert str(refused.value) == f"execution 0000f001.00000001.01.01: {reason}; nothing was imported."
    assert changed_counts(before) == {"sleeves.MonitorRun": (0, 1)}


def test_a_broker_execution_in_the_future_is_refused(booted):
    later = clock.now() + timedelta(days=1)
    with pytest.raises(FillImportError, match=r"execution 0000f001\.00000001\.01\.01: execution time .* is in the "
                                              r"future"):
        sync_fills(since=clock.now() - timedelta(days=3), gateway=_Broker(execution(executed_at=later)))
    assert not Fill.objects.exists()


def test_a_flex_report_with_more_executions_than_the_limit_is_refused(booted, tmp_path, monkeypatch):
    monkeypatch.setattr("sleeves.fill_import.MAX_EXECUTIONS", 2)
    rows = [flex_csv_row(exec_id=f"0000e0b2.00000{i}.01.01") for i in range(3)]
    path = tmp_path / "trades.csv"
    path.write_text("\n".join([FLEX_HEADER, *rows]) + "\n", encoding="utf-8")
    assert refused_flex(path) == (f"{path}:4: more than 2 executions in one report; export a shorter period; "
                                  "nothing was imported.")


@pytest.mark.parametrize("content, reason", [
    ("\ufeff".encode() + f"{FLEX_HEADER}\n{flex_csv_row(price='1e308')}\n".encode(),
     ":2: tradePrice 1e+308 is outside"),  # a UTF-8 BOM is fine; the row is then read
    (f"{FLEX_HEADER}\n{flex_csv_row()}\n".encode("utf-16"),
     ":1: the file is UTF-16 text (it starts with a UTF-16 byte-order mark), not UTF-8"),
    (f"{FLEX_HEADER}\n{flex_csv_row(symbol='SPY é')}\n".encode("latin-1"),
     ":2: not UTF-8 text: byte 0xe9 at byte "),
], ids=["utf-8 with BOM", "utf-16", "latin-1"])
def test_a_flex_csv_in_another_encoding_is_refused_by_line(booted, tmp_path, content, reason):
    path = tmp_path / "trades.csv"
    path.write_bytes(content)
    assert f"{path}{reason}" in refused_flex(path)


# --- import_prices ---------------------------------------------------------------------------------

PRICES = "date,symbol,close\n2026-01-07,SPY,689.58\n2026-01-08,SPY,689.51\n"


@pytest.mark.parametrize("content, reason", [
    (PRICES.encode("utf-16"), "1: the file is UTF-16 text (it starts with a UTF-16 byte-order mark), not UTF-8; save it "
                              "as UTF-8 (in Excel: CSV UTF-8) and import again"),
    (PRICES.encode("utf-16-le"), "1: a NUL byte at byte 1 of the file: this is a binary file (or UTF-16 text), not "
                                 "UTF-8 text"),
    (PRICES.replace("SPY,689.51", "SPÉ,689.51").encode("latin-1"),
     "3: not UTF-8 text: byte 0xc9 at byte 53 of the file (invalid continuation byte); save the file as UTF-8 "
     "(in Excel: CSV UTF-8) and import again"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10",
     "1: not UTF-8 text: byte 0x89 at byte 0 of the file (invalid start byte); save the file as UTF-8 (in Excel: CSV "
     "UTF-8) and import again"),
    (b"date,symbol,close\n2026-01-07,SPY,689.58\x00\n",
     "2: a NUL byte at byte 39 of the file: this is a binary file (or UTF-16 text), not UTF-8 text"),
], ids=["utf-16", "utf-16 without BOM", "latin-1", "binary", "a NUL byte"])
def test_a_price_file_that_is_not_utf8_text_is_refused_by_line_and_byte(booted, tmp_path, content, reason):
    # Measured: a traceback (UnicodeDecodeError) for UTF-16, Latin-1 and binary files.
    path = tmp_path / "prices.csv"
    path.write_bytes(content)
    assert refused_prices(path) == f"{path}:{reason}; nothing was imported."


def test_a_price_file_with_a_utf8_bom_imports(booted, tmp_path):
    path = tmp_path / "prices.csv"
    path.write_bytes("\ufeff".encode() + PRICES.encode())
    assert import_prices(path=path).created == 2


def test_the_import_prices_command_exits_1_with_a_message_and_no_traceback_on_a_utf16_file(db, tmp_path):
    path = tmp_path / "prices.csv"
    path.write_bytes(PRICES.encode("utf-16"))
    code, stderr, _peak = run_command("import_prices", str(path))
    assert code == 1
    assert "Traceback" not in stderr
    assert stderr.strip() == (f"CommandError: {path}:1: the file is UTF-16 text (it starts with a UTF-16 byte-order "
                              "mark), not UTF-8; save it as UTF-8 (in Excel: CSV UTF-8) and import again; nothing was "
                              "imported.")


@pytest.mark.parametrize("day", ["9999-12-31", "1900-01-02", "0001-01-01", "2101-01-03"])
def test_a_price_dated_outside_2000_to_2100_is_refused(booted, tmp_path, day):
    path = tmp_path / "prices.csv"
    path.write_text(f"date,symbol,close\n2026-01-07,SPY,689.58\n{day},SPY,689.51\n", encoding="utf-8")
    assert refused_prices(path) == f"{path}:3: date {day} is outside 2000-01-01 to 2100-12-31."


def test_a_price_for_a_future_session_is_refused(booted, tmp_path):
    today = clock.trading_date()
    future = calendars.next_session(today)
    path = tmp_path / "prices.csv"
    path.write_text(f"date,symbol,close\n{future},SPY,689.51\n", encoding="utf-8")
    assert refused_prices(path) == (f"{path}:2: date {future} is in the future (today is {today} in New York); no "
                                    "bar can exist for it yet.")


@pytest.mark.parametrize("text, reason", [
    ("date,vix,vvix\n2026-01-07,15.38,5000\n", "2: VVIX close 5000 is outside the plausible range for VVIX (0 to 1000)."),
    ("date,symbol,close\n2026-01-07,SPY,2000000\n", "2: close 2000000 is outside the plausible range for SPY (0 to 1000000)."),
    ("date,symbol,close\n2026-01-07,SPY,1e308\n",
     "2: close '1e308' is too large for a price (at most 10 digits before the decimal point)."),
], ids=["VVIX 5000", "SPY 2,000,000", "SPY 1e308"])
def test_a_close_outside_its_plausible_range_is_refused(booted, tmp_path, text, reason):
    path = tmp_path / "prices.csv"
    path.write_text(text, encoding="utf-8")
    assert refused_prices(path) == f"{path}:{reason}"


@pytest.mark.parametrize("volume, reason", [
    ("1.5", "volume '1.5' is not a whole number."),
    ("2e12", "volume '2e12' is outside the plausible range 0 to 1,000,000,000,000."),
    ("-1", "volume '-1' must be from 0 to 2^63 - 1."),
    ("1e999999999", "volume '1e999999999' must be from 0 to 2^63 - 1."),  # never expanded into an integer
])
def test_a_volume_outside_its_column_or_plausible_range_is_refused(booted, tmp_path, volume, reason):
    path = tmp_path / "spy.csv"
    path.write_text(f"date,open,high,low,close,volume\n2026-01-08,688.82,690.62,687.49,689.51,{volume}\n",
                    encoding="utf-8")
    assert refused_prices(path, symbol="SPY") == f"{path}:2: {reason}"


def test_a_price_file_with_more_bars_than_the_limit_is_refused(booted, tmp_path, monkeypatch):
    monkeypatch.setattr("sleeves.price_import.MAX_BARS", 3)
    path = tmp_path / "prices.csv"
    path.write_text("date,vix,vvix\n2026-01-06,14.75,89.01\n2026-01-07,15.38,91.86\n", encoding="utf-8")
    assert refused_prices(path) == (f"{path}:3: more than 3 bars; a price file may hold at most 3. Split it into "
                                    "several files; nothing was imported.")


def test_a_long_line_in_the_middle_of_a_price_file_is_named_by_its_line(booted, tmp_path):
    path = tmp_path / "prices.csv"
    path.write_bytes(PRICES.encode() + b"2026-01-09,SPY," + b"1" * 70_000 + b"\n")
    assert refused_prices(path) == (f"{path}:4: the line is longer than 64 KiB (no line break within 65,536 bytes "
                                    f"from byte {len(PRICES)} of the file); this is not a price file; nothing was "
                                    "imported.")


# --- huge files: refused early, in bounded memory ------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("size, line_text", [
    (50 * MIB, "the file is 50.0 MiB; a price file may be at most 8 MiB. Check that it is the right file, or split it"),
    (7 * MIB, "1: the line is longer than 64 KiB (no line break within 65,536 bytes from byte 0 of the file); this "
              "is not a price file"),
], ids=["50 MB", "7 MB"])
def test_import_prices_refuses_a_file_without_line_breaks_early_in_bounded_memory(tmp_path, size, line_text):
    # Measured: a 50 MB file without line breaks took 100 s and 2.7 GB of memory before it was refused.
    path = one_line_file(tmp_path / "prices.csv", size, b"date,symbol,close")
    code, stderr, peak = run_command("import_prices", str(path))
    sep = ":" if line_text[0].isdigit() else ": "
    assert (code, stderr.strip()) == (1, f"CommandError: {path}{sep}{line_text}; nothing was imported.")
    assert peak < PEAK_LIMIT_KB, f"peak memory {peak // 1024} MB"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("name, size, start, line_text", [
    ("trades.csv", 50 * MIB, b"", ": the file is 50.0 MiB; an IBKR Flex trade report may be at most 32 MiB. Check "
                                  "that it is the right file, or split it"),
    ("trades.csv", 30 * MIB, FLEX_HEADER.encode() + b"\n", ":2: the line is longer than 64 KiB (no line break within "
                                                           "65,536 bytes from byte 186 of the file); this is not an IBKR "
                                                           "Flex trade report"),
    ("trades.xml", 30 * MIB, b'<FlexQueryResponse a="', ":1: the line is longer than 64 KiB (no line break within "
                                                         "65,536 bytes from byte 0 of the file); this is not an IBKR "
                                                         "Flex trade report"),
], ids=["50 MB", "30 MB csv", "30 MB xml"])
def test_import_fills_refuses_a_file_without_line_breaks_early_in_bounded_memory(booted, tmp_path, name, size, start,
                                                                                 line_text):
    path = one_line_file(tmp_path / name, size, start)
    code, stderr, peak = run_command("import_fills", str(path))
    assert (code, stderr.strip()) == (1, f"CommandError: {path}{line_text}; nothing was imported.")
    assert peak < PEAK_LIMIT_KB, f"peak memory {peak // 1024} MB"
    assert not Fill.objects.exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("size, line_text", [
    (50 * MIB, ": the file is 50.0 MiB; a legacy CSV file may be at most 4 MiB. Check that it is the right file, or "
               "split it"),
    (3 * MIB, ":1: the line is longer than 64 KiB (no line break within 65,536 bytes from byte 0 of the file); this is "
              "not a legacy CSV file"),
], ids=["50 MB", "3 MB"])
def test_import_legacy_refuses_a_file_without_line_breaks_early_in_bounded_memory(booted, tmp_path, size, line_text):
    (tmp_path / "paper_trading").mkdir()
    path = one_line_file(tmp_path / "paper_trading" / "daily_log.csv", size, LEGACY_HEADER.encode())
    code, stderr, peak = run_command("import_legacy", str(tmp_path))
    assert (code, stderr.strip()) == (1, f"CommandError: Nothing was imported. {path}{line_text}.")
    assert peak < PEAK_LIMIT_KB, f"peak memory {peak // 1024} MB"
    assert not VrpCsLogEntry.objects.exists()


# --- import_legacy -----------------------------------------------------------------------------------


def test_a_row_that_appears_twice_in_one_file_is_imported_once_and_reported(booted, tmp_path):
    # Measured: every row of a file was imported as often as it appeared (9 rows became 18).
    path = write_legacy_log(tmp_path, LEGACY_ROWS + LEGACY_ROWS)
    report = import_legacy(directory=tmp_path, now=BEFORE_EXPIRY)
    log = report.file("paper_trading/daily_log.csv")
    assert (log.created, log.skipped, VrpCsLogEntry.objects.count()) == (3, 3, 3)
    repeats = [str(f) for f in report.flags if "repeats line" in f.message]
    assert repeats == [
        f"paper_trading/daily_log.csv:{line}: repeats line {line - 3} exactly (every field the same): the same record "
        "written twice; imported once." for line in (5, 6, 7)]
    assert path.exists()


def test_the_real_daily_log_pasted_twice_imports_its_9_rows_once(booted, tmp_path, shared_dir):
    text = (shared_dir / "legacy" / "paper_trading" / "daily_log.csv").read_text(encoding="utf-8")
    header, *rows = text.strip().splitlines()
    (tmp_path / "paper_trading").mkdir()
    (tmp_path / "paper_trading" / "daily_log.csv").write_text("\n".join([header, *rows, *rows]) + "\n", encoding="utf-8")
    report = import_legacy(directory=tmp_path, now=BEFORE_EXPIRY)
    log = report.file("paper_trading/daily_log.csv")
    assert (len(rows), log.created, log.skipped, VrpCsLogEntry.objects.count()) == (9, 9, 9, 9)
    again = import_legacy(directory=tmp_path, now=BEFORE_EXPIRY)
    assert (again.file("paper_trading/daily_log.csv").created, VrpCsLogEntry.objects.count()) == (0, 9)


def test_a_repeated_erp_row_and_a_repeated_order_record_are_imported_once(booted, tmp_path):
    erp = ("date,time,vix,spy_price,regime,target_shares,actual_shares,actual_exposure_usd,avg_cost,fill_price,"
           "drift_pct,rebalance_signal,action_taken,notes\n" + "2026-02-02,16:45:00,17.20,681.25,ELEVATED,11,0,0.00,,,"
           "100.00%,True,,\n" * 2)
    trades = ('ts_iso,action,mode,details_json\n' + '2026-02-02T16:50:00,open,live,{"order_id": 9, "status": "Filled"}\n' * 2)
    (tmp_path / "paper_trading").mkdir()
    (tmp_path / "paper_trading" / "vrp_erp_log.csv").write_text(erp, encoding="utf-8")
    (tmp_path / "paper_trading" / "trades.csv").write_text(trades, encoding="utf-8")
    report = import_legacy(directory=tmp_path, now=BEFORE_EXPIRY)
    counts = {f.file: (f.created, f.skipped) for f in report.files if f.found}
    assert counts == {"paper_trading/vrp_erp_log.csv": (1, 1), "paper_trading/trades.csv": (1, 1)}
    assert VrpErpLogEntry.objects.count() == 1


def test_two_rows_at_the_same_time_with_other_values_are_both_kept(booted, tmp_path):
    other = LEGACY_ROWS[0].replace("17.20,18.15", "17.30,18.15")
    write_legacy_log(tmp_path, [LEGACY_ROWS[0], other])
    report = import_legacy(directory=tmp_path, now=BEFORE_EXPIRY)
    assert report.file("paper_trading/daily_log.csv").created == 2


@pytest.mark.parametrize("row, reason", [
    # Measured: a negative VIX was imported without a flag.
    (LEGACY_ROWS[0].replace("17.20,18.15", "-16.24,18.15"), "vix: '-16.24' is not a quote (it must be above 0)."),
    (LEGACY_ROWS[0].replace("17.20,18.15", "0,18.15"), "vix: '0' is not a quote (it must be above 0)."),
    (LEGACY_ROWS[0].replace("17.20,18.15", "17.20,-18.15"), "vx1: '-18.15' is not a quote (it must be above 0)."),
    (LEGACY_ROWS[0].replace("17.20,18.15", "5000,18.15"), "vix: 5000 is outside the plausible range 0 to 1000."),
    (LEGACY_ROWS[0].replace("17.20,18.15", "1e300,18.15"), "vix: '1e300' is too large."),
    (LEGACY_ROWS[0].replace(",0.00,OPEN,", ",1e15,OPEN,"), "pnl_usd: 1e+15 is outside the plausible range -1000000000000 to 1000000000000."),
    (LEGACY_ROWS[0].replace(",0.00,OPEN,", ",2000000000000,OPEN,"),
     "pnl_usd: 2000000000000 is outside the plausible range -1000000000000 to 1000000000000."),
    (LEGACY_ROWS[0].replace(",0.450,", ",5.000,"), "gate_score: 5.000 is outside the plausible range -1 to 1."),
    (LEGACY_ROWS[0].replace(",5.52,", ",99999.0,"), "contango_pct: 99999.0 is outside the plausible range -10000 to "
                                                    "10000."),
    (LEGACY_ROWS[0].replace(",0.80,0.80,", ",1500,0.80,"), "spread: 1500 is outside the plausible range -1000 to 1000."),
    (LEGACY_ROWS[0].replace(",10,2026-02-12,", ",99999,2026-02-12,"),
     "days_to_roll: 99999 is outside the plausible range -3660 to 3660."),
    (LEGACY_ROWS[0].replace(",10,2026-02-12,", ",99999999999999999999999,2026-02-12,"),
     "days_to_roll: '99999999999999999999999' is too large."),
], ids=["negative VIX", "VIX 0", "negative VX1", "VIX 5000", "VIX 1e300", "P&L 1e15", "P&L 2e12", "gate score 5",
        "contango 99999%", "spread 1500", "days to roll 99999", "days to roll 1e23"])
def test_an_absurd_number_in_the_legacy_daily_log_refuses_the_file(booted, tmp_path, row, reason):
    path = write_legacy_log(tmp_path, [row])
    assert refused_legacy(tmp_path) == f"{path}:2: {reason}"


def test_a_negative_days_to_roll_after_the_roll_by_is_kept_and_flagged_as_overdue(booted, tmp_path):
    # Measured: a negative days_to_roll was imported without a flag. The legacy monitor counted the
    # roll as due at 0 days or fewer, so a negative count logged after the roll-by is real: overdue.
    row = LEGACY_ROWS[0].replace("2026-02-02,", "2026-02-16,", 1).replace(",10,2026-02-12,", ",-4,2026-02-12,")
    write_legacy_log(tmp_path, [row])
    report = import_legacy(directory=tmp_path, now=BEFORE_EXPIRY)
    entry = VrpCsLogEntry.objects.get()
    assert entry.days_to_roll == -4
    text = ("days_to_roll -4 is negative: logged after the roll-by 2026-02-12, so the roll was overdue and the position "
            "was still held (the legacy monitor counted the roll as due at 0 days or fewer).")
    assert text in entry.flags
    assert any(f.line == 2 and f.message == text for f in report.flags)


def test_a_negative_days_to_roll_before_the_roll_by_is_kept_and_flagged_as_wrong(booted, tmp_path):
    write_legacy_log(tmp_path, [LEGACY_ROWS[0].replace(",10,2026-02-12,", ",-3,2026-02-12,")])
    import_legacy(directory=tmp_path, now=BEFORE_EXPIRY)
    assert ("days_to_roll -3 is negative but the roll-by 2026-02-12 was still ahead: the logged count is wrong; it is "
            "stored as logged.") in VrpCsLogEntry.objects.get().flags


@pytest.mark.parametrize("row, reason", [
    (LEGACY_ROWS[0].replace("2026-02-02,", "9999-12-31,", 1), "date: 9999-12-31 is outside 2000-01-01 to 2100-12-31."),
    (LEGACY_ROWS[0].replace("2026-02-02,", "1900-01-02,", 1), "date: 1900-01-02 is outside 2000-01-01 to 2100-12-31."),
    (LEGACY_ROWS[0].replace("2026-02-02,16:40:00", "0001-01-01,00:00:00", 1),  # was an OverflowError traceback
     "date: 0001-01-01 is outside 2000-01-01 to 2100-12-31."),
    (LEGACY_ROWS[0].replace("2026-02-12", "9999-12-31"), "roll_by: 9999-12-31 is outside 2000-01-01 to 2100-12-31."),
], ids=["year 9999", "year 1900", "year 1", "roll-by 9999"])
def test_a_legacy_log_date_outside_2000_to_2100_is_refused(booted, tmp_path, row, reason):
    path = write_legacy_log(tmp_path, [row])
    assert refused_legacy(tmp_path) == f"{path}:2: {reason}"


def test_a_legacy_year_9999_order_record_with_a_negative_offset_is_refused_not_a_traceback(booted, tmp_path):
    (tmp_path / "paper_trading").mkdir()
    path = tmp_path / "paper_trading" / "trades.csv"
    path.write_text('ts_iso,action,mode,details_json\n9999-12-31T23:00:00,open,live,{"order_id": 9}\n', encoding="utf-8")
    assert refused_legacy(tmp_path, utc_offset=timedelta(hours=-5)) == (
        f"{path}:2: ts_iso: 9999-12-31 is outside 2000-01-01 to 2100-12-31.")


@pytest.mark.parametrize("details, reason", [
    ('{"order_id": 1e400}', "details_json is not valid JSON (1e400 is too large for a number)."),
    ('{"a": ' * 100_000 + "1" + "}" * 100_000, None),
], ids=["1e400", "nested 100,000 deep"])
def test_an_order_record_with_unreadable_json_is_refused_not_a_traceback(booted, tmp_path, details, reason):
    (tmp_path / "paper_trading").mkdir()
    path = tmp_path / "paper_trading" / "trades.csv"
    path.write_text(f"ts_iso,action,mode,details_json\n2026-02-02T16:50:00,open,live,{details}\n", encoding="utf-8")
    message = refused_legacy(tmp_path)
    if reason is None:  # the line is too long to be read at all
        assert message.startswith(f"{path}:2: the line is longer than 64 KiB"), message
    else:
        assert message == f"{path}:2: {reason}"


def test_deeply_nested_json_in_the_position_config_is_refused_not_a_traceback(booted, tmp_path):
    (tmp_path / "paper_trading").mkdir()
    path = tmp_path / "paper_trading" / "position_config.json"
    path.write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    assert refused_legacy(tmp_path) == f"{path}:1: not valid JSON: nested too deeply."


POSITION = ('{"short_contract": "VXMG6", "long_contract": "VXMH6", "quantity": 1, "short_entry_price": 18.5, '
            '"long_entry_price": 19.3, "entry_date": "2026-01-15", "entry_spread": 0.8, "stop_loss_spread": 0.4, '
            '"take_profit_spread": 1.6}')


@pytest.mark.parametrize("change, reason", [
    (("18.5", "1e400"), "not valid JSON: 1e400 is too large for a number."),  # was a TypeError traceback
    (("18.5", "-18.5"), "short_entry_price: -18.5 is outside the plausible range 0 to 1000."),
    (("18.5", "18500"), "short_entry_price: 18500 is outside the plausible range 0 to 1000."),
    (('"quantity": 1', '"quantity": 1000000000000'), "quantity: 1000000000000 is outside the plausible range -100000000 to "
                                                     "100000000."),
    (("2026-01-15", "1900-01-15"), "entry_date: 1900-01-15 is outside 2000-01-01 to 2100-12-31."),
], ids=["1e400", "negative price", "price 18500", "quantity 1e12", "entry 1900"])
def test_an_absurd_value_in_the_position_config_is_refused(booted, tmp_path, change, reason):
    (tmp_path / "paper_trading").mkdir()
    path = tmp_path / "paper_trading" / "position_config.json"
    path.write_text(POSITION.replace(*change, 1), encoding="utf-8")  # one line: every key is on line 1
    assert refused_legacy(tmp_path) == f"{path}:1: {reason}"


@pytest.mark.parametrize("state, reason", [
    ('{"regime": "HIGH", "vix": 1e400, "days_in_regime": 4, "last_transition_date": "2026-01-30"}',
     "not valid JSON: 1e400 is too large for a number."),
    ('{"regime": "HIGH", "vix": -21.3, "days_in_regime": 4, "last_transition_date": "2026-01-30"}',
     "vix: -21.3 is not a quote (it must be above 0)."),
    ('{"regime": "HIGH", "vix": 21.3, "days_in_regime": 99999, "last_transition_date": "2026-01-30"}',
     "days_in_regime: 99999 is outside the plausible range -3660 to 3660."),
    ('{"regime": "HIGH", "vix": 21.3, "days_in_regime": 4, "last_transition_date": "0001-01-01"}',
     "last_transition_date: 0001-01-01 is outside 2000-01-01 to 2100-12-31."),
], ids=["VIX 1e400", "negative VIX", "days 99999", "year 1"])
def test_an_absurd_value_in_the_erp_state_is_refused(booted, tmp_path, state, reason):
    (tmp_path / "paper_trading").mkdir()
    path = tmp_path / "paper_trading" / "vrp_erp_state.json"
    path.write_text(state, encoding="utf-8")
    assert refused_legacy(tmp_path) == f"{path}:1: {reason}"


@pytest.mark.parametrize("name, generated, reason", [
    ("digest_9999-12-31.md", "2026-02-03T17:05:00", ":1: the file name's date 9999-12-31 is outside 2000-01-01 to "
                                                    "2100-12-31."),
    ("digest_2026-02-03.md", "0001-01-01T00:00:00", ":3: Generated: 0001-01-01 is outside 2000-01-01 to 2100-12-31."),
], ids=["file name 9999", "generated year 1"])
def test_a_legacy_digest_dated_outside_2000_to_2100_is_refused(booted, tmp_path, name, generated, reason):
    (tmp_path / "daily_digest").mkdir()
    path = tmp_path / "daily_digest" / name
    path.write_text(f"# DSP-100K Daily Digest\n\nGenerated: `{generated}`\n", encoding="utf-8")
    assert refused_legacy(tmp_path) == f"{path}{reason}"


def test_a_legacy_log_in_utf16_is_refused_by_line(booted, tmp_path):
    (tmp_path / "paper_trading").mkdir()
    path = tmp_path / "paper_trading" / "daily_log.csv"
    path.write_bytes("\n".join([LEGACY_HEADER, *LEGACY_ROWS]).encode("utf-16"))
    assert refused_legacy(tmp_path) == (f"{path}:1: the file is UTF-16 text (it starts with a UTF-16 byte-order mark), "
                                        "not UTF-8; save it as UTF-8 (in Excel: CSV UTF-8) and import again.")


def test_a_legacy_log_with_more_rows_than_the_limit_is_refused(booted, tmp_path, monkeypatch):
    from dspops.legacy import parsers

    monkeypatch.setattr(parsers, "CSV_LIMITS", dataclasses.replace(parsers.CSV_LIMITS, max_rows=3))
    path = write_legacy_log(tmp_path, LEGACY_ROWS)
    assert refused_legacy(tmp_path) == (f"{path}:4: more than 3 rows; a legacy CSV file may hold at most 3. Import it "
                                        "in parts: a copy with its first rows, then the whole file (rows already "
                                        "imported are skipped).")


def test_the_import_legacy_command_turns_a_negative_vix_into_a_command_error(booted, tmp_path):
    path = write_legacy_log(tmp_path, [LEGACY_ROWS[0].replace("17.20,18.15", "-16.24,18.15")])
    with pytest.raises(CommandError) as failed:
        call_command("import_legacy", str(tmp_path), stdout=io.StringIO())
    assert str(failed.value) == f"Nothing was imported. {path}:2: vix: '-16.24' is not a quote (it must be above 0)."
    assert failed.value.returncode == 1


def test_a_bounded_legacy_log_still_imports_its_edge_values(booted, tmp_path):
    row = LEGACY_ROWS[0].replace(",0.450,", ",-1.000,").replace(",10,2026-02-12,", ",0,2026-02-12,")
    write_legacy_log(tmp_path, [row])
    assert import_legacy(directory=tmp_path, now=BEFORE_EXPIRY).file("paper_trading/daily_log.csv").created == 1
    assert VrpCsLogEntry.objects.get().gate_score == D("-1.000")

