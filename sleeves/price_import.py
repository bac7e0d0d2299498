"""Import daily price history (PriceBar rows) from CSV, in one transaction.

Three layouts are accepted, told apart by the header:
- long:  ``date,symbol,close``
- OHLCV: ``date,open,high,low,close,volume`` for one instrument, named with ``symbol``
- wide:  ``date,<SYMBOL>,<SYMBOL>...`` one close column per instrument (e.g. ``date,vix,vvix``)

Every row is parsed and checked first; one bad row refuses the whole file with its line number,
and nothing is written.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path

from django.db import transaction

from dspops import calendars
from dspops.models import DataSource, Instrument
from sleeves.models import PriceBar

OHLCV = ["date", "open", "high", "low", "close", "volume"]
PRICE_STEP = Decimal("0.000001")


class PriceImportError(Exception):
    """The file cannot be imported. The message names the file, the line and the reason."""


@dataclass
class PriceImportReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    by_symbol: dict[str, tuple[date, date]] = field(default_factory=dict)


@dataclass(frozen=True)
class _Bar:
    symbol: str
    session: date
    close: Decimal
    open: Decimal | None = None
    high: Decimal | None = None
    low: Decimal | None = None
    volume: int | None = None


def import_prices(*, path: Path, symbol: str | None = None, source: str = DataSource.STORED) -> PriceImportReport:
    bars = _parse(path, symbol)
    instruments = _instruments(path, {bar.symbol for bar in bars})
    report = PriceImportReport()
    with transaction.atomic():
        for sym, instrument in instruments.items():
            mine = [bar for bar in bars if bar.symbol == sym]
            existing = {b.session: b for b in PriceBar.objects.filter(instrument=instrument)}
            new = []
            for bar in mine:
                values = {"open": bar.open, "high": bar.high, "low": bar.low, "close": bar.close,
                          "volume": bar.volume, "source": source}
                current = existing.get(bar.session)
                if current is None:
                    new.append(PriceBar(instrument=instrument, session=bar.session, **values))
                elif any(getattr(current, k) != v for k, v in values.items() if k != "source"):
                    for key, value in values.items():
                        setattr(current, key, value)
                    current.save(update_fields=list(values))
                    report.updated += 1
                else:
                    report.unchanged += 1
            PriceBar.objects.bulk_create(new, batch_size=2000)
            report.created += len(new)
            sessions = [bar.session for bar in mine]
            report.by_symbol[sym] = (min(sessions), max(sessions))
    return report


def _instruments(path: Path, symbols: set[str]) -> dict[str, Instrument]:
    found: dict[str, Instrument] = {}
    for sym in sorted(symbols):
        candidates = list(Instrument.objects.filter(symbol=sym).exclude(sec_type="FUT"))
        if len(candidates) != 1:
            what = "no instrument" if not candidates else f"{len(candidates)} instruments"
            raise PriceImportError(
                f"{path}: {what} with the symbol {sym}. Add it under Instruments in the admin (or run bootstrap) "
                "and import again; nothing was imported."
            )
        found[sym] = candidates[0]
    return found


def _parse(path: Path, symbol: str | None) -> list[_Bar]:
    try:
        handle = path.open(newline="")
    except OSError as exc:
        raise PriceImportError(f"{path}: cannot be read ({exc.strerror}).") from None
    with handle:
        reader = csv.reader(handle)
        header = [h.strip().lower() for h in next(reader, [])]
        if not header or header[0] != "date":
            raise PriceImportError(f"{path}:1: the first column must be 'date'; the header is {','.join(header)!r}.")
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
        bars: list[_Bar] = []
        seen: set[tuple[str, date]] = set()
        for line, row in enumerate(reader, start=2):
            if not row or all(not cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                raise PriceImportError(f"{path}:{line}: expected {len(header)} fields, found {len(row)}.")
            session = _session(path, line, row[0])
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
                if (sym, session) in seen:
                    raise PriceImportError(f"{path}:{line}: {sym} on {session} appears twice.")
                seen.add((sym, session))
                bars.append(_Bar(symbol=sym, session=session, **values))
    if not bars:
        raise PriceImportError(f"{path}: no price rows found.")
    return bars


def _session(path: Path, line: int, text: str) -> date:
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        raise PriceImportError(f"{path}:{line}: {text!r} is not a date (YYYY-MM-DD).") from None
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
        value = Decimal(raw)
    except InvalidOperation:
        raise PriceImportError(f"{path}:{line}: {name} {raw!r} is not a number.") from None
    if not value.is_finite() or value <= 0:
        raise PriceImportError(f"{path}:{line}: {name} {raw!r} must be a positive price.")
    # A price column holds 10 digits before the point and 6 after; a larger value would be refused by
    # PostgreSQL and, on SQLite, stored in a form that every later read of the bars fails on.
    if value.adjusted() >= 10:
        raise PriceImportError(f"{path}:{line}: {name} {raw!r} is too large for a price (at most 10 digits "
                               "before the decimal point).")
    value = value.quantize(PRICE_STEP)  # the 6 decimals the database keeps
    if value <= 0:
        raise PriceImportError(f"{path}:{line}: {name} {raw!r} must be a positive price (it rounds to 0 at "
                               "6 decimals).")
    return value


def _volume(path: Path, line: int, text: str) -> int | None:
    raw = text.strip()
    if not raw:
        return None
    try:
        volume = int(Decimal(raw))
    except (InvalidOperation, ValueError, OverflowError):
        raise PriceImportError(f"{path}:{line}: volume {raw!r} is not a number.") from None
    if not 0 <= volume < 2**63:  # a 64-bit column
        raise PriceImportError(f"{path}:{line}: volume {raw!r} must be from 0 to 2^63 - 1.")
    return volume
