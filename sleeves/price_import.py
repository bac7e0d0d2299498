"""Import daily price history (PriceBar rows) from CSV, in one transaction.

Three layouts are accepted, told apart by the header:
- long:  ``date,symbol,close``
- OHLCV: ``date,open,high,low,close,volume`` for one instrument, named with ``symbol``
- wide:  ``date,<SYMBOL>,<SYMBOL>...`` one close column per instrument (e.g. ``date,vix,vvix``)

Every row is parsed and checked first; one bad row refuses the whole file with its line number,
and nothing is written.

Bounds (DECISIONS.md section 11): the file is read as a stream (dspops.core.tabular) and refused
early when it is larger than 32 MiB, has a line longer than 64 KiB, holds more than 100,000
bars, or is not UTF-8 text. The columns are read by the kernel's tabular reader: a session lies
between 2000-01-01 and 2100-12-31 and is not in the future; a price fits PriceBar's price column
(rounded to its places) and a plausible range for its instrument (a volatility index 0 to 1,000,
anything else 0 to 1,000,000); a volume is a whole number from 0 to 10^12.
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

from dspops.core import bounds, calendars, clock, tabular
from dspops.core.errors import OperatorError
from dspops.core.models import DataSource, Instrument
from sleeves.models import PriceBar

PRICE_FILE = tabular.Limits(kind="a price file", max_bytes=32 * tabular.MIB, max_line_bytes=64 * tabular.KIB)
MAX_BARS = 100_000
WRITE_BATCH = 2000


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
    path = Path(path)
    bars = _parse(path, symbol)
    instruments = _instruments(path, set(bars))
    _check_plausible(path, bars, instruments)
    report = PriceImportReport()
    with transaction.atomic():
        for sym, instrument in instruments.items():
            mine = list(bars[sym].values())
            _write(instrument, mine, source, report)
            report.by_symbol[sym] = (min(bars[sym]), max(bars[sym]))
    return report


def _write(instrument: Instrument, bars: list[_Bar], source: str, report: PriceImportReport) -> None:
    """Create the new bars in batches and update the changed ones; never holds every model at once."""
    names = ("open", "high", "low", "close", "volume")
    existing = {
        row[0]: row[1:]
        for row in PriceBar.objects.filter(instrument=instrument).values_list("session", "pk", *names).iterator()
    }
    batch: list[PriceBar] = []
    for bar in bars:
        values = {name: getattr(bar, name) for name in names}
        current = existing.get(bar.session)
        if current is None:
            batch.append(PriceBar(instrument=instrument, session=bar.session, source=source, **values))
            if len(batch) >= WRITE_BATCH:
                PriceBar.objects.bulk_create(batch)
                report.created += len(batch)
                batch = []
        elif tuple(current[1:]) != tuple(values.values()):
            PriceBar.objects.filter(pk=current[0]).update(source=source, **values)
            report.updated += 1
        else:
            report.unchanged += 1
    if batch:
        PriceBar.objects.bulk_create(batch)
        report.created += len(batch)


def _instruments(path: Path, symbols: set[str]) -> dict[str, Instrument]:
    found: dict[str, Instrument] = {}
    for sym in sorted(symbols):
        candidates = list(Instrument.objects.filter(symbol=sym).exclude(sec_type="FUT")[:3])
        if len(candidates) != 1:
            what = "no instrument" if not candidates else f"{len(candidates)} instruments"
            raise PriceImportError(
                f"{path}: {what} with the symbol {tabular.clipped(sym)}. Add it under Instruments in the admin (or run "
                "bootstrap) and import again; nothing was imported."
            )
        found[sym] = candidates[0]
    return found


def _check_plausible(path: Path, bars: dict[str, dict[date, _Bar]], instruments: dict[str, Instrument]) -> None:
    """Every price within the plausible range of its instrument: a volatility index or a traded price."""
    kinds = {sym: bounds.price_kind(inst.sec_type) for sym, inst in instruments.items()}
    for bar in sorted((b for mine in bars.values() for b in mine.values()), key=lambda b: b.line):
        for name in ("open", "high", "low", "close"):
            value = getattr(bar, name)
            if value is None:
                continue
            low, high = bounds.PLAUSIBLE[kinds[bar.symbol]]
            if not low < value <= high:
                what = name if name != "close" or len(instruments) == 1 else f"{bar.symbol} close"
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


def _parse(path: Path, symbol: str | None) -> dict[str, dict[date, _Bar]]:
    """The bars of the file by symbol and session (so each session is held once)."""
    records = _records(path)
    _first, fields = next(records, (1, []))
    header = [h.strip().lower() for h in fields]
    table = _layout(path, header, symbol)
    today = clock.trading_date()
    days: dict[str, date] = {}  # one date object per session, however many symbols share it
    names: dict[str, str] = {}
    bars: dict[str, dict[date, _Bar]] = {}
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
                mine = bars.setdefault(sym, {})
                if session in mine:
                    raise PriceImportError(f"{path}:{line}: {tabular.clipped(sym)} on {session} appears twice.")
                mine[session] = _Bar(symbol=sym, session=session, line=line, **values)
                count += 1
                if count > MAX_BARS:
                    raise PriceImportError(f"{path}:{line}: more than {MAX_BARS:,} bars; a price file may hold at "
                                           f"most {MAX_BARS:,}. Split it into several files; nothing was imported.")
    except tabular.RowRefused as refused:
        raise PriceImportError(f"{refused}.") from None
    if not bars:
        raise PriceImportError(f"{path}: no price rows found.")
    return bars


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
