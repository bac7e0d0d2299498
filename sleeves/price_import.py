"""Import daily price history (PriceBar rows) from CSV, in one transaction.

Three layouts are accepted, told apart by the header:
- long:  ``date,symbol,close``
- OHLCV: ``date,open,high,low,close,volume`` for one instrument, named with ``symbol``
- wide:  ``date,<SYMBOL>,<SYMBOL>...`` one close column per instrument (e.g. ``date,vix,vvix``)

One bad row refuses the whole file with its line number, and nothing is written: the file is read
and written inside one transaction, which a refusal rolls back.

Streaming (issue 14: memory stays flat whatever the file size): the file is read one row at a
time, each row checked as it is read, and its bars written in batches of WRITE_BATCH (each batch
compared with the bars already stored for those sessions only). What is kept for the whole file is
small and bounded by the calendar, not by the file: one bit per day per symbol (to refuse a bar that
appears twice), one date per session named, the instruments named and each symbol's first and last
session.

Bounds (DECISIONS.md section 11): the file is read as a stream (dspops.core.tabular) and refused
before any row is read when it is larger than the setting PRICE_IMPORT_MAX_BYTES (default 8 MiB,
``MAX_BYTES``: more than twice a file of MAX_BARS bars written plainly, about 3 MB; the real SPY and
VIX/VVIX histories since 2010 are 220 KB and 93 KB), or as soon as that many bytes have been read
from a stream whose size is not known; it is refused at a line longer than 64 KiB, past 100,000
bars, or at text that is not UTF-8. The columns are read by the kernel's tabular reader: a session lies between
2000-01-01 and 2100-12-31 and is not in the future; a price fits PriceBar's price column (rounded to
its places) and a plausible range for its instrument (a volatility index 0 to 1,000, anything else
0 to 1,000,000); a volume is a whole number from 0 to 10^12.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path

from django import forms
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max, Min

from dspops.core import bounds, calendars, clock, tabular
from dspops.core.errors import OperatorError
from dspops.core.models import DataSource, Instrument
from sleeves.models import PriceBar

MAX_BYTES = 8 * tabular.MIB
PRICE_FILE = tabular.Limits(kind="a price file", max_bytes=MAX_BYTES, max_line_bytes=64 * tabular.KIB,
                            setting="PRICE_IMPORT_MAX_BYTES")
MAX_BARS = 100_000
WRITE_BATCH = 500  # bars held before they are written (each with its model object): about 0.5 MB
LOOKUP_CHUNK = 500  # sessions per query for the stored bars of a batch (within any database's parameter limit)
PRICE_NAMES = ("open", "high", "low", "close", "volume")


class PriceImportError(OperatorError):
    """The file cannot be imported. The message names the file, the line and the reason."""


@dataclass
class PriceImportReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    by_symbol: dict[str, tuple[date, date]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Bar:
    symbol: str
    session: date
    close: Decimal
    open: Decimal | None = None
    high: Decimal | None = None
    low: Decimal | None = None
    volume: int | None = None
    line: int = 0


def import_prices(*, path: Path, symbol: str | None = None, source: str = DataSource.STORED) -> PriceImportReport:
    """Read ``path`` row by row and write its bars in batches, in one transaction; PriceImportError if refused.

    The file's size and header are checked before the transaction opens, so a file refused at once
    never takes the database's write lock.
    """
    path = Path(path)
    records = _records(path)
    try:
        _first, fields = next(records, (1, []))
        header = [h.strip().lower() for h in fields]
        table = _layout(path, header, symbol)
        report = PriceImportReport()
        with transaction.atomic():
            writer = _Writer(source, report)
            for instrument, bar in _bars(path, table, records, header, symbol):
                writer.add(instrument, bar)
            writer.flush()
            if not report.by_symbol:
                raise PriceImportError(f"{path}: no price rows found.")
    finally:
        records.close()  # the file is closed now, refused or not
    return report


class _Writer:
    """Bars written WRITE_BATCH at a time: new ones created, changed ones updated, the rest counted."""

    def __init__(self, source: str, report: PriceImportReport):
        self.source, self.report = source, report
        self.batch: list[tuple[Instrument, _Bar]] = []
        self.spans: dict[int, tuple[date, date] | None] = {}  # by instrument: its stored sessions before the import

    def add(self, instrument: Instrument, bar: _Bar) -> None:
        first, last = self.report.by_symbol.get(bar.symbol, (bar.session, bar.session))
        self.report.by_symbol[bar.symbol] = (min(first, bar.session), max(last, bar.session))
        self.batch.append((instrument, bar))
        if len(self.batch) >= WRITE_BATCH:
            self.flush()

    def flush(self) -> None:
        by_instrument: dict[int, tuple[Instrument, list[_Bar]]] = {}
        for instrument, bar in self.batch:
            by_instrument.setdefault(instrument.pk, (instrument, []))[1].append(bar)
        self.batch = []
        new: list[PriceBar] = []
        for instrument, bars in by_instrument.values():
            stored = self._stored(instrument, [bar.session for bar in bars])
            for bar in bars:
                values = {name: getattr(bar, name) for name in PRICE_NAMES}
                current = stored.get(bar.session)
                if current is None:
                    new.append(PriceBar(instrument=instrument, session=bar.session, source=self.source, **values))
                elif tuple(current[1:]) != tuple(values.values()):
                    PriceBar.objects.filter(pk=current[0]).update(source=self.source, **values)
                    self.report.updated += 1
                else:
                    self.report.unchanged += 1
        if new:
            PriceBar.objects.bulk_create(new)
            self.report.created += len(new)

    def _stored(self, instrument: Instrument, sessions: list[date]) -> dict[date, tuple]:
        """(pk, open, high, low, close, volume) of the stored bars of ``instrument`` on ``sessions``.

        Sessions outside the first and last stored before the import are not looked up (a file of new
        history asks one query per instrument): the import's own bars are never looked up again, since
        a session appears once per symbol in a file.
        """
        if instrument.pk not in self.spans:
            span = PriceBar.objects.filter(instrument=instrument).aggregate(first=Min("session"), last=Max("session"))
            self.spans[instrument.pk] = None if span["first"] is None else (span["first"], span["last"])
        span = self.spans[instrument.pk]
        sessions = [] if span is None else [day for day in sessions if span[0] <= day <= span[1]]
        found: dict[date, tuple] = {}
        for i in range(0, len(sessions), LOOKUP_CHUNK):
            rows = PriceBar.objects.filter(instrument=instrument, session__in=sessions[i:i + LOOKUP_CHUNK])
            for row in rows.values_list("session", "pk", *PRICE_NAMES):
                found[row[0]] = row[1:]
        return found


class _Instruments:
    """The instrument of each symbol the file names (looked up once), with its plausible price range."""

    def __init__(self, path: Path):
        self.path = path
        self.found: dict[str, tuple[Instrument, tuple[Decimal, Decimal]]] = {}

    def get(self, line: int, sym: str) -> tuple[Instrument, tuple[Decimal, Decimal]]:
        known = self.found.get(sym)
        if known is not None:
            return known
        candidates = list(Instrument.objects.filter(symbol=sym).exclude(sec_type="FUT")[:3])
        if len(candidates) != 1:
            what = "no instrument" if not candidates else f"{len(candidates)} instruments"
            raise PriceImportError(
                f"{self.path}:{line}: {what} with the symbol {tabular.clipped(sym)}. Add it under Instruments in the "
                "admin (or run bootstrap) and import again; nothing was imported."
            )
        instrument = candidates[0]
        known = self.found[sym] = (instrument, bounds.PLAUSIBLE[bounds.price_kind(instrument.sec_type)])
        return known


class _Seen:
    """One bit per (symbol, day since 2000-01-01): a bar that appears twice is refused without keeping the bars."""

    def __init__(self):
        self.days: dict[str, bytearray] = {}
        self.span = (bounds.LATEST_DATE - bounds.EARLIEST_DATE).days + 1

    def add(self, sym: str, session: date) -> bool:
        """True the first time ``sym`` on ``session`` is seen (the session already lies within the bounds)."""
        bits = self.days.get(sym)
        if bits is None:
            bits = self.days[sym] = bytearray((self.span + 7) // 8)
        day = (session - bounds.EARLIEST_DATE).days
        byte, mask = day // 8, 1 << (day % 8)
        if bits[byte] & mask:
            return False
        bits[byte] |= mask
        return True


def _bars(path: Path, table: tabular.Table, records: Iterator[tuple[int, list[str]]], header: list[str],
          symbol: str | None) -> Iterator[tuple[Instrument, _Bar]]:
    """Each bar of the file with its instrument, checked as its row is read; PriceImportError at the first bad one.

    ``records`` is the file after its header; nothing of a row is kept once its bar is yielded.
    """
    today = clock.trading_date()
    days: dict[str, date] = {}  # one date object per session text, however many symbols share it
    names: dict[str, str] = {}
    instruments = _Instruments(path)
    seen = _Seen()
    several = table is not LONG and table is not OHLCV and len(table.columns) > 2  # a wide file of several symbols
    count = 0
    try:
        for line, row in table.rows(path, records, header):
            text = row["date"]
            session = days.get(text) or days.setdefault(text, _session(path, line, table.clean(
                path, line, row, ["date"])["date"], today))
            values = table.clean(path, line, row, table.names[1:])
            if table is LONG:
                items = [(values.pop("symbol").strip().upper(), values)]
            elif table is OHLCV:
                items = [(symbol.upper(), values)]
            else:
                items = [(name.upper(), {"close": value}) for name, value in values.items() if value is not None]
            for sym, values in items:
                if not sym:
                    raise PriceImportError(f"{path}:{line}: the symbol is empty.")
                sym = names.setdefault(sym, sym)  # one string per symbol, however many rows name it
                instrument, (low, high) = instruments.get(line, sym)
                if not seen.add(sym, session):
                    raise PriceImportError(f"{path}:{line}: {tabular.clipped(sym)} on {session} appears twice.")
                count += 1
                if count > MAX_BARS:
                    raise PriceImportError(f"{path}:{line}: more than {MAX_BARS:,} bars; a price file may hold at "
                                           f"most {MAX_BARS:,}. Split it into several files; nothing was imported.")
                bar = _Bar(symbol=sym, session=session, line=line, **values)
                _check_plausible(path, bar, low, high, named=several)
                yield instrument, bar
    except tabular.RowRefused as refused:
        raise PriceImportError(f"{refused}.") from None


def _check_plausible(path: Path, bar: _Bar, low: Decimal, high: Decimal, *, named: bool) -> None:
    """Every price of the bar within the plausible range of its instrument: a volatility index or a traded price."""
    for name in ("open", "high", "low", "close"):
        value = getattr(bar, name)
        if value is not None and not low < value <= high:
            what = f"{bar.symbol} close" if name == "close" and named else name
            raise PriceImportError(f"{path}:{bar.line}: {what} {value.normalize():f} is outside the plausible "
                                   f"range for {bar.symbol} ({low} to {high}).")


def _close(name: str, *, required: bool = True) -> tabular.Column:
    """A price column of PriceBar's shape, rounded to its places and above 0."""
    field = tabular.decimal_field(tabular.digits_of(PriceBar, "close"), required=required, error_messages={
        "max_whole_digits": "is too large for a price (at most %(max)s digits before the decimal point)"})
    return tabular.Column(name, field, rounded=True, above_zero="must be a positive price")


class VolumeField(forms.Field):
    """A session's volume: a whole number (63895800, or 6.38958e7) that fits a 64-bit column and is plausible."""

    default_error_messages = {"invalid": "is not a number", "range": "must be from 0 to 2^63 - 1",
                              "whole": "is not a whole number"}

    def to_python(self, value):
        if value in self.empty_values:
            return None
        try:
            number = Decimal(value)
        except InvalidOperation:
            raise ValidationError(self.error_messages["invalid"], code="invalid") from None
        if not number.is_finite():
            raise ValidationError(self.error_messages["invalid"], code="invalid")
        if not 0 <= number < 2**63:  # a 64-bit column; checked before int() so 1e999999 is never expanded
            raise ValidationError(self.error_messages["range"], code="range")
        if number != number.to_integral_value():
            raise ValidationError(self.error_messages["whole"], code="whole")
        low, high = bounds.PLAUSIBLE["volume"]
        if number > high:
            raise ValidationError(f"is outside the plausible range {low} to {high:,}", code="plausible")
        return int(number)


SESSION = tabular.Column("date", tabular.IsoDateField())
LONG = tabular.Table(columns=(SESSION, tabular.Column("symbol", forms.CharField()), _close("close")), limits=PRICE_FILE)
OHLCV = tabular.Table(columns=(SESSION, _close("open", required=False), _close("high", required=False),
                               _close("low", required=False), _close("close"),
                               tabular.Column("volume", VolumeField(required=False))), limits=PRICE_FILE)


def _records(path: Path) -> Iterator[tuple[int, list[str]]]:
    try:
        yield from tabular.csv_records(path, PRICE_FILE)
    except tabular.RowRefused as refused:
        raise PriceImportError(f"{refused}.") from None
    except tabular.FileRefused as refused:
        raise PriceImportError(f"{refused}; nothing was imported.") from None


def _layout(path: Path, header: list[str], symbol: str | None) -> tabular.Table:
    """The layout the header names: long, OHLCV (one instrument) or wide (one close column per symbol)."""
    if not header or header[0] != "date":
        raise PriceImportError(f"{path}:1: the first column must be 'date'; the header is "
                               f"{tabular.shown(','.join(header), 80)}.")
    if header == LONG.names:
        return LONG
    if header == OHLCV.names:
        if not symbol:
            raise PriceImportError(f"{path}: an OHLCV file holds one instrument: name it with --symbol.")
        return OHLCV
    if len(header) < 2 or len(set(header)) != len(header):
        raise PriceImportError(f"{path}:1: expected {','.join(LONG.names)} or {','.join(OHLCV.names)} or "
                               "date and one close column per symbol (no repeats).")
    return tabular.Table(columns=(SESSION, *(_close(name, required=False) for name in header[1:])), limits=PRICE_FILE)


def _session(path: Path, line: int, day: date, today: date) -> date:
    """A session of the file: not in the future, and an NYSE session (its date is already within bounds)."""
    if day > today:
        raise PriceImportError(f"{path}:{line}: date {day} is in the future (today is {today} in New York); no "
                               "bar can exist for it yet.")
    try:
        if not calendars.is_session(day):
            raise PriceImportError(f"{path}:{line}: {day} is not an NYSE session; daily bars belong to sessions.")
    except calendars.CalendarRangeError as exc:
        raise PriceImportError(f"{path}:{line}: {exc}") from None
    return day
