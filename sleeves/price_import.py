"""Import daily price history (PriceBar rows) from CSV, in one transaction.

Three layouts are accepted, told apart by the header:
- long:  ``date,symbol,close``
- OHLCV: ``date,open,high,low,close,volume`` for one instrument, named with ``symbol``
- wide:  ``date,<SYMBOL>,<SYMBOL>...`` one close column per instrument (e.g. ``date,vix,vvix``)

Every row is parsed and checked first; one bad row refuses the whole file with its line number,
and nothing is written.

Bounds (DECISIONS.md section 11): the file is read as a stream (dspops.core.tabular) and refused
early when it is larger than 32 MiB, has a line longer than 64 KiB, holds more than 100,000
bars, or is not UTF-8 text. A session lies between 2000-01-01 and 2100-12-31 and is not in the
future; a price fits the price column (10 digits before the point, 6 after) and a plausible
range for its instrument (a volatility index 0 to 1,000, anything else 0 to 1,000,000); a
volume is a whole number from 0 to 10^12.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path

from django.db import transaction

from dspops.core import bounds, calendars, clock, tabular
from dspops.core.models import DataSource, Instrument
from sleeves.models import PriceBar

OHLCV = ["date", "open", "high", "low", "close", "volume"]
PRICE_STEP = Decimal("0.000001")
PRICE_FILE = tabular.Limits(kind="a price file", max_bytes=32 * tabular.MIB, max_line_bytes=64 * tabular.KIB)
MAX_BARS = 100_000
WRITE_BATCH = 2000


class PriceImportError(Exception):
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


def _records(path: Path) -> Iterator[tuple[int, list[str]]]:
    try:
        yield from tabular.csv_records(path, PRICE_FILE)
    except tabular.FileRefused as refused:
        raise PriceImportError(f"{refused}; nothing was imported.") from None


def _parse(path: Path, symbol: str | None) -> dict[str, dict[date, _Bar]]:
    """The bars of the file by symbol and session (so each session is held once)."""
    records = _records(path)
    _first, fields = next(records, (1, []))
    header = [h.strip().lower() for h in fields]
    if not header or header[0] != "date":
        raise PriceImportError(f"{path}:1: the first column must be 'date'; the header is "
                               f"{tabular.shown(','.join(header), 80)}.")
    if header == ["date", "symbol", "close"]:
        layout = "long"
    elif header == OHLCV:
        layout = "ohlcv"
        if not symbol:
            raise PriceImportError(f"{path}: an OHLCV file holds one instrument: name it with --symbol.")
    else:
        layout = "wide"
        if len(header) < 2 or len(set(header)) != len(header):
            raise PriceImportError(f"{path}:1: expected date,symbol,close or {','.join(OHLCV)} or "
                                   "date and one close column per symbol (no repeats).")
    today = clock.trading_date()
    days: dict[str, date] = {}  # one date object per session, however many symbols share it
    names: dict[str, str] = {}
    bars: dict[str, dict[date, _Bar]] = {}
    count = 0
    for line, row in records:
        if not row or all(not cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise PriceImportError(f"{path}:{line}: expected {len(header)} fields, found {len(row)}.")
        session = days.get(row[0]) or days.setdefault(row[0], _session(path, line, row[0], today))
        if layout == "long":
            items = [(row[1].strip().upper(), {"close": _price(path, line, "close", row[2])})]
        elif layout == "ohlcv":
            items = [(symbol.upper(), {
                "open": _price(path, line, "open", row[1], optional=True),
                "high": _price(path, line, "high", row[2], optional=True),
                "low": _price(path, line, "low", row[3], optional=True),
                "close": _price(path, line, "close", row[4]),
                "volume": _volume(path, line, row[5]),
            })]
        else:
            items = [(name.upper(), {"close": _price(path, line, name, cell)})
                     for name, cell in zip(header[1:], row[1:]) if cell.strip()]
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
                raise PriceImportError(f"{path}:{line}: more than {MAX_BARS:,} bars; a price file may hold at most "
                                       f"{MAX_BARS:,}. Split it into several files; nothing was imported.")
    if not bars:
        raise PriceImportError(f"{path}: no price rows found.")
    return bars


def _session(path: Path, line: int, text: str, today: date) -> date:
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        raise PriceImportError(f"{path}:{line}: {tabular.shown(text)} is not a date (YYYY-MM-DD).") from None
    try:
        bounds.check_date(day, "date")
    except bounds.OutOfBounds as exc:
        raise PriceImportError(f"{path}:{line}: {exc}.") from None
    if day > today:
        raise PriceImportError(f"{path}:{line}: date {day} is in the future (today is {today} in New York); no "
                               "bar can exist for it yet.")
    try:
        if not calendars.is_session(day):
            raise PriceImportError(f"{path}:{line}: {day} is not an NYSE session; daily bars belong to sessions.")
    except calendars.CalendarRangeError as exc:
        raise PriceImportError(f"{path}:{line}: {exc}") from None
    return day


def _price(path: Path, line: int, name: str, text: str, *, optional: bool = False) -> Decimal | None:
    raw = text.strip()
    if not raw and optional:
        return None
    try:
        value = bounds.to_decimal(raw, name)
    except bounds.OutOfBounds:
        raise PriceImportError(f"{path}:{line}: {name} {tabular.shown(raw)} is not a number.") from None
    if value <= 0:
        raise PriceImportError(f"{path}:{line}: {name} {tabular.shown(raw)} must be a positive price.")
    # A price column holds 10 digits before the point and 6 after; a larger value would be refused by
    # PostgreSQL and, on SQLite, stored in a form that every later read of the bars fails on.
    if value.adjusted() >= 10:
        raise PriceImportError(f"{path}:{line}: {name} {tabular.shown(raw)} is too large for a price (at most 10 "
                               "digits before the decimal point).")
    value = bounds.fits_column(value, name, bounds.PRICE_DIGITS)  # the 6 decimals the database keeps
    if value <= 0:
        raise PriceImportError(f"{path}:{line}: {name} {tabular.shown(raw)} must be a positive price (it rounds to 0 "
                               "at 6 decimals).")
    return value


def _volume(path: Path, line: int, text: str) -> int | None:
    raw = text.strip()
    if not raw:
        return None
    try:
        number = Decimal(raw)
    except InvalidOperation:
        raise PriceImportError(f"{path}:{line}: volume {tabular.shown(raw)} is not a number.") from None
    if not number.is_finite():
        raise PriceImportError(f"{path}:{line}: volume {tabular.shown(raw)} is not a number.")
    if not 0 <= number < 2**63:  # a 64-bit column; checked before int() so 1e999999 is never expanded
        raise PriceImportError(f"{path}:{line}: volume {tabular.shown(raw)} must be from 0 to 2^63 - 1.")
    if number != number.to_integral_value():
        raise PriceImportError(f"{path}:{line}: volume {tabular.shown(raw)} is not a whole number.")
    low, high = bounds.PLAUSIBLE["volume"]
    if number > high:
        raise PriceImportError(f"{path}:{line}: volume {tabular.shown(raw)} is outside the plausible range "
                               f"{low} to {high:,}.")
    return int(number)
