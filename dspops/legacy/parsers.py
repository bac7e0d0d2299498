"""The legacy DSP-100K files read into frozen records, with what they got wrong flagged (LEGACY.md).

Pure: each parser reads one file (as a stream within limits, dspops.core.tabular) and returns
frozen dataclasses; nothing touches the database. A malformed file raises
``LegacyImportError("file:line: reason")``. What the legacy files got wrong is kept as it was
logged, and flagged (``flags``); missing values ("nan") become None, never numbers. The CSV
logs are read by the kernel's tabular reader: each column's precision is its model field's.

Bounds (DECISIONS.md section 11). A CSV log may be 4 MiB with lines of 64 KiB and 2,000 rows,
trades.csv 1 MiB, a JSON, YAML or digest file 1 MiB (all digests together 16 M characters);
UTF-8 only. Every date lies between 2000-01-01 and 2100-12-31 (a logged time is not compared
with now: these are records of a retired system, not executions, and a replay of a past day
imports the later rows too). Every number fits its column and a plausible range
(dspops.core.bounds.PLAUSIBLE): a VIX, VX or SPY quote is above 0, so a negative VIX refuses the
file (it is no quote at all, like a SPY price of 0). A negative days_to_roll is kept and flagged:
the legacy monitor counted a roll as due at 0 days or fewer (LEGACY.md 2.7), so it logged an
overdue roll; the flag says so, or that the count contradicts its roll_by.

A row that appears twice in one file (every field the same) is imported once; the repeat is
counted as skipped and flagged with both line numbers. The legacy scripts appended to their
logs, so an exact repeat is the same run written twice (a re-run, or two copies of the file
pasted together), never a second observation: importing it twice would double the runs. A row
with the same time but other values is a different record and is kept, as before.
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from django import forms

from dspops.core import bounds, calendars, tabular, vx
from dspops.core.calendars import CFE, NYSE
from dspops.core.errors import OperatorError
from sleeves.dm_config import DmConfig, DmConfigError, load_dm_config
from sleeves.models import LogDataStatus, VrpCsLogEntry, VrpErpLogEntry, validate_spread_levels
from sleeves.strategies import REGIMES, GateState

DAILY_LOG = "paper_trading/daily_log.csv"
ERP_LOG = "paper_trading/vrp_erp_log.csv"
POSITION_CONFIG = "paper_trading/position_config.json"
TRADES = "paper_trading/trades.csv"
ERP_STATE = "paper_trading/vrp_erp_state.json"
DIGEST_DIR = "daily_digest"
DM_CONFIG = "config/dsp100k_etf_dual_momentum.yaml"

TRIGGERED_BY = "legacy import"

# Values the legacy monitors wrote when an input was missing (LEGACY.md 2.2 and 1.1).
CS_PLACEHOLDERS = {"vix": Decimal("15.0"), "vx1": Decimal("16.25"), "vx2": Decimal("17.83")}
PLACEHOLDER_VVIX = Decimal("85")
ERP_PLACEHOLDERS = {"spy_price": Decimal("595.00"), "vix": Decimal("14.8")}


# Order records closer together than this belong to one burst (the 2026-01-14 one spans 22 min
# with gaps of up to 10 min).
BURST_GAP = timedelta(minutes=30)

# The legacy scripts ran for weeks: their files hold tens of rows. These limits are far above that
# and keep one import's peak memory (measured) under 200 MB whatever the files hold.
MAX_ROWS = 2_000
MAX_DIGEST_CHARS = 16 * 1024 * 1024  # all digests of one import together
IN_PARTS = ("Import it in parts: a copy with its first rows, then the whole file (rows already imported are "
            "skipped)")
CSV_LIMITS = tabular.Limits(kind="a legacy CSV file", max_bytes=4 * tabular.MIB, max_line_bytes=64 * tabular.KIB,
                            max_rows=MAX_ROWS + 1, too_many=IN_PARTS)  # the header, then the rows
# trades.csv holds JSON, which takes up to ~20 times its text in memory once parsed.
TRADES_LIMITS = tabular.Limits(kind="a legacy trades.csv", max_bytes=1 * tabular.MIB, max_line_bytes=64 * tabular.KIB)
SMALL_LIMITS = tabular.Limits(kind="a legacy JSON, YAML or digest file", max_bytes=1 * tabular.MIB,
                              max_line_bytes=1 * tabular.MIB)


class LegacyImportError(OperatorError):
    """A legacy file is malformed, or the database is not ready. Nothing was imported.

    The message starts with ``file:line:`` and says what is wrong and what to do.
    """


@dataclass(frozen=True)
class Flag:
    file: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.message}"


@dataclass
class FileReport:
    """What one legacy file became. ``created``/``updated``/``skipped`` count source records."""

    file: str
    found: bool = True
    created: int = 0
    updated: int = 0
    skipped: int = 0
    rows: Counter = field(default_factory=Counter)  # model name -> rows created or updated
    changes: list[str] = field(default_factory=list)


@dataclass
class ImportReport:
    directory: Path
    utc_offset: timedelta
    files: list[FileReport] = field(default_factory=list)
    flags: list[Flag] = field(default_factory=list)

    def file(self, name: str) -> FileReport:
        for item in self.files:
            if item.file == name:
                return item
        raise KeyError(name)

    @property
    def created(self) -> int:
        return sum(f.created for f in self.files)

    @property
    def updated(self) -> int:
        return sum(f.updated for f in self.files)

    @property
    def skipped(self) -> int:
        return sum(f.skipped for f in self.files)


# --------------------------------------------------------------------------------------------
# Parsed records (the output of the pure parse step)


@dataclass(frozen=True)
class LogRow:
    """One row of daily_log.csv or vrp_erp_log.csv, ready to store."""

    line: int
    import_key: str
    logged_at: datetime
    trading_date: date
    data_status: str
    reason: str
    values: dict[str, Any]  # model field -> typed value (None for nan/blank)
    raw: dict[str, str]
    flags: tuple[str, ...]


@dataclass(frozen=True)
class PositionConfig:
    short_contract: str
    long_contract: str
    short_month: vx.ContractMonth
    long_month: vx.ContractMonth
    quantity: int
    short_entry_price: Decimal
    long_entry_price: Decimal
    entry_date: date
    entry_spread: Decimal
    stop_loss_spread: Decimal
    take_profit_spread: Decimal
    settlement_date: date
    roll_by: date
    planned_settlement_date: date | None  # as typed (None when the file has none)
    planned_roll_by: date | None
    flags: tuple[tuple[int | None, str], ...]


@dataclass(frozen=True)
class TradeRow:
    line: int
    import_key: str
    logged_at: datetime
    action: str
    mode: str
    details: dict[str, Any]
    flags: tuple[str, ...]


@dataclass(frozen=True)
class TradeBurst:
    first_line: int
    ny_date: date
    import_keys: tuple[str, ...]
    message: str


@dataclass(frozen=True)
class ErpState:
    regime: str
    since_session: date | None
    note: str
    flags: tuple[tuple[int | None, str], ...]


@dataclass(frozen=True)
class LegacyDigest:
    file: str
    trading_date: date
    markdown: str
    generated_at: datetime
    note: str
    flags: tuple[tuple[int | None, str], ...]


@dataclass
class Parsed:
    cs_rows: list[LogRow] | None = None
    erp_rows: list[LogRow] | None = None
    position: PositionConfig | None = None
    trades: list[TradeRow] | None = None
    bursts: list[TradeBurst] = field(default_factory=list)
    erp_state: ErpState | None = None
    digests: list[LegacyDigest] = field(default_factory=list)
    dm_config: DmConfig | None = None
    file_flags: list[Flag] = field(default_factory=list)


DUPLICATE = "repeats line {first} exactly (every field the same): the same record written twice; imported once."


def parse_directory(directory: Path, *, utc_offset: timedelta, sessions_before: int,
                    report: ImportReport) -> Parsed:
    """Parse and check every legacy file under ``directory``. Pure: reads files only.

    Adds one FileReport per expected file to ``report``. Raises LegacyImportError.
    """
    parsed = Parsed()
    found = 0

    def present(name: str) -> Path | None:
        nonlocal found
        path = directory / name
        if path.is_file():
            found += 1
            report.files.append(FileReport(file=name))
            return path
        report.files.append(FileReport(file=name, found=False))
        return None

    def repeated(name: str, duplicates: list[tuple[int, int]]) -> None:
        report.file(name).skipped += len(duplicates)
        parsed.file_flags.extend(Flag(name, line, DUPLICATE.format(first=first)) for line, first in duplicates)

    if path := present(POSITION_CONFIG):
        parsed.position = parse_position_config(path, sessions_before=sessions_before)
    if path := present(DAILY_LOG):
        parsed.cs_rows = parse_daily_log(path, utc_offset=utc_offset, duplicates=(duplicates := []))
        repeated(DAILY_LOG, duplicates)
    if path := present(ERP_LOG):
        parsed.erp_rows = parse_erp_log(path, utc_offset=utc_offset, duplicates=(duplicates := []))
        repeated(ERP_LOG, duplicates)
    if path := present(TRADES):
        parsed.trades = parse_trades(path, utc_offset=utc_offset, duplicates=(duplicates := []))
        repeated(TRADES, duplicates)
        parsed.bursts = find_unconfirmed_bursts(parsed.trades)
    if path := present(ERP_STATE):
        parsed.erp_state = parse_erp_state(path)

    digest_dir = directory / DIGEST_DIR
    digest_chars = 0
    for path in sorted(digest_dir.glob("*.md")) if digest_dir.is_dir() else []:
        name = f"{DIGEST_DIR}/{path.name}"
        if not re.fullmatch(r"digest_\d{4}-\d{2}-\d{2}\.md", path.name):
            parsed.file_flags.append(Flag(name, None, "not named digest_YYYY-MM-DD.md; not imported."))
            continue
        found += 1
        report.files.append(FileReport(file=name))
        parsed.digests.append(parse_digest(path, name=name, utc_offset=utc_offset))
        digest_chars += len(parsed.digests[-1].markdown)
        if digest_chars > MAX_DIGEST_CHARS:
            raise LegacyImportError(
                f"{digest_dir}: the digests up to {path.name} hold more than {MAX_DIGEST_CHARS:,} characters; "
                "import them in parts (move some out of daily_digest/ and run the import again for them)."
            )
    if not parsed.digests:
        report.files.append(FileReport(file=f"{DIGEST_DIR}/digest_*.md", found=False))

    if path := present(DM_CONFIG):
        _within_limits(path)  # load_dm_config reads the whole file: refuse a huge one first
        try:
            parsed.dm_config = load_dm_config(path, strict=True)
        except DmConfigError as exc:
            raise LegacyImportError(str(exc)) from None
    config_dir = directory / "config"
    for other in sorted(config_dir.glob("*.yaml")) if config_dir.is_dir() else []:
        if other.name != Path(DM_CONFIG).name:
            parsed.file_flags.append(Flag(
                f"config/{other.name}", None,
                f"not imported: only {Path(DM_CONFIG).name} sets the DM settings.",
            ))

    if not found:
        expected = ", ".join([POSITION_CONFIG, DAILY_LOG, ERP_LOG, TRADES, ERP_STATE,
                              f"{DIGEST_DIR}/digest_*.md", DM_CONFIG])
        raise LegacyImportError(
            f"{directory}: none of the legacy files is there (expected {expected}). Give the "
            "folder that holds paper_trading/ and daily_digest/."
        )
    return parsed


# --------------------------------------------------------------------------------------------
# Parsing helpers


class _RowError(ValueError):
    """A problem in one row; the caller adds file and line."""


def _error(path: Path, line: int | None, reason: str) -> LegacyImportError:
    return LegacyImportError(f"{path}:{line or 1}: {reason}")


def _refused(refused: tabular.FileRefused) -> LegacyImportError:
    return LegacyImportError(f"{refused}.")


def _read_text(path: Path) -> str:
    """A small legacy file (JSON, digest) as text: at most 1 MiB of UTF-8."""
    try:
        return tabular.read_text(path, SMALL_LIMITS)
    except tabular.FileRefused as refused:
        raise _refused(refused) from None


def _within_limits(path: Path) -> None:
    try:
        tabular.head(path, SMALL_LIMITS, size=0)
    except tabular.FileRefused as refused:
        raise _refused(refused) from None


def _text_lines(path: Path):
    """(line, text without its line break) of trades.csv, within TRADES_LIMITS."""
    try:
        for number, text in tabular.text_lines(path, TRADES_LIMITS):
            yield number, text.rstrip("\r\n")
    except tabular.FileRefused as refused:
        raise _refused(refused) from None


def _local_to_utc(local: datetime, utc_offset: timedelta) -> datetime:
    """A legacy timestamp as aware UTC. Naive times are host-local at ``utc_offset``.

    Check its date first (_logged_moment): the offset arithmetic overflows at the years 1 and 9999.
    """
    if local.tzinfo is not None:
        return local.astimezone(UTC)
    return (local - utc_offset).replace(tzinfo=UTC)


def _logged_moment(local: datetime, utc_offset: timedelta, what: str) -> datetime:
    """``local`` (a legacy timestamp) in UTC once its date is within bounds; _RowError names ``what``.

    Not checked against now: these are the records of a retired system, not executions, and a
    replay of a past day (the clock pinned to it) imports the later records of the same files.
    """
    try:
        bounds.check_date(local, what)
        moment = _local_to_utc(local, utc_offset)
        return bounds.check_date(moment, what)  # the offset can carry 2000-01-01 00:30 into 1999
    except bounds.OutOfBounds as exc:
        raise _RowError(f"{exc}.") from None


def _session_for(moment: datetime) -> tuple[date, str | None]:
    """The NYSE session a legacy record belongs to, and a flag when it was made outside one."""
    ny_date = calendars.trading_date(moment)
    if calendars.is_session(ny_date, exchange=NYSE):
        return ny_date, None
    session = calendars.previous_session(ny_date, exchange=NYSE)
    return session, (
        f"logged outside a session: quotes are stale (New York date {ny_date} is a {ny_date:%A} and "
        f"not an NYSE session; filed under the previous session {session})."
    )


def _log_rows(path: Path, table: tabular.Table):
    """(line, the row's text by column) of a CSV log: the header must name exactly the table's columns."""
    try:
        yield from table.rows(path)
    except tabular.FileRefused as refused:
        raise _refused(refused) from None


def _cleaned(path: Path, line: int, table: tabular.Table, row: dict[str, str]) -> dict[str, Any]:
    try:
        return table.clean(path, line, row)
    except tabular.RowRefused as refused:
        raise _refused(refused) from None


class _PercentField(forms.DecimalField):
    """A percentage, written with or without its % sign (vrp_erp_log.csv wrote "2.5%")."""

    def to_python(self, value):
        return super().to_python(value.strip().removesuffix("%") if isinstance(value, str) else value)


def _logged(model, name: str, kind: str | None = None, *, blank: bool = True, above_zero: str = "",
            field_class: type[forms.DecimalField] = forms.DecimalField) -> tabular.Column:
    """A number logged by a legacy monitor, of its model field's shape; "nan" (and a blank cell) is no value."""
    field = tabular.decimal_field(tabular.digits_of(model, name), field_class, required=not blank)
    return tabular.Column(name, field, label=f"{name}:", missing=("nan",), above_zero=above_zero, kind=kind)


def _whole(name: str, kind: str) -> tabular.Column:
    return tabular.Column(name, tabular.WholeNumberField(required=False), label=f"{name}:", missing=("nan",), kind=kind)


def _column(name: str, field: forms.Field, **kwargs) -> tabular.Column:
    return tabular.Column(name, field, label=f"{name}:", **kwargs)


NOT_A_QUOTE = "is not a quote (it must be above 0)"
LOGGED_AT = (_column("date", tabular.IsoDateField()), _column("time", tabular.ClockTimeField()))


class _Repeats:
    """Exact repeats of an earlier row of the same file: (line, first line) of each."""

    def __init__(self, duplicates: list[tuple[int, int]] | None):
        self.first: dict[tuple[str, ...], int] = {}
        self.duplicates = duplicates if duplicates is not None else []

    def seen(self, line: int, fields: tuple[str, ...]) -> bool:
        first = self.first.setdefault(fields, line)
        if first == line:
            return False
        self.duplicates.append((line, first))
        return True


def _unique_key(key: str, seen: Counter) -> str:
    seen[key] += 1
    return key if seen[key] == 1 else f"{key}#{seen[key]}"


# What one log's rows say beyond their cells: (data status, reason, flags), from the row's text, its typed
# cells (by model field; the checks may correct them) and when it was logged.
_RowStatus = Callable[..., tuple[str, str, list[str]]]


def _read_log(path: Path, table: tabular.Table, row_status: _RowStatus, *, key_prefix: str,
              utc_offset: timedelta, duplicates: list[tuple[int, int]] | None) -> list[LogRow]:
    """The rows of one monitor log; an exact repeat of an earlier row is left out and added to ``duplicates``.

    A row's problem (any ValueError: a _RowError, a date outside the calendar) stops the import with the
    file and line.
    """
    rows: list[LogRow] = []
    seen: Counter = Counter()
    repeats = _Repeats(duplicates)
    table = replace(table, limits=CSV_LIMITS)  # CSV_LIMITS as it is now (a test lowers it)
    for line, row in _log_rows(path, table):
        if repeats.seen(line, tuple(cell.strip() for cell in row.values())):
            continue
        try:
            v = _cleaned(path, line, table, row)
            logged_at = _logged_at(v, utc_offset)
            trading_date, stale = _session_for(logged_at)
            status, reason, flags = row_status(row, v, logged_at=logged_at, trading_date=trading_date,
                                               utc_offset=utc_offset)
        except ValueError as exc:
            raise _error(path, line, str(exc)) from None
        key = _unique_key(f"{key_prefix}:{row['date'].strip()}T{row['time'].strip()}", seen)
        flags = [stale, *flags] if stale else flags
        rows.append(LogRow(line, key, logged_at, trading_date, status, reason, v, dict(row), tuple(flags)))
    return rows


def _logged_at(values: dict[str, Any], utc_offset: timedelta) -> datetime:
    """The row's date and time (taken out of ``values``) as a UTC moment."""
    return _logged_moment(datetime.combine(values.pop("date"), values.pop("time")), utc_offset, "date, time:")


# --------------------------------------------------------------------------------------------
# paper_trading/daily_log.csv (VRP-CS monitor log)

CS_TABLE = tabular.Table(columns=(
    *LOGGED_AT,
    _logged(VrpCsLogEntry, "vix", "vix", blank=False, above_zero=NOT_A_QUOTE),
    _logged(VrpCsLogEntry, "vx1", "vx_future", blank=False, above_zero=NOT_A_QUOTE),
    _logged(VrpCsLogEntry, "vx2", "vx_future", blank=False, above_zero=NOT_A_QUOTE),
    _logged(VrpCsLogEntry, "spread", "vx_spread", blank=False),
    _logged(VrpCsLogEntry, "entry_spread", "vx_spread", blank=False),
    _logged(VrpCsLogEntry, "pnl_usd", "account_value", blank=False),
    _column("gate_state", forms.CharField(required=False), upper=True),
    _logged(VrpCsLogEntry, "gate_score", "gate_score"),
    _logged(VrpCsLogEntry, "contango_pct", "percent"),
    _whole("days_to_roll", "days"),
    _column("roll_by", tabular.IsoDateField(required=False)),
    _logged(VrpCsLogEntry, "stop_loss_level", "vx_spread"),
    _logged(VrpCsLogEntry, "take_profit_level", "vx_spread"),
    _column("stop_loss_hit", tabular.TrueFalseField(required=False)),
    _column("take_profit_hit", tabular.TrueFalseField(required=False)),
    _column("notes", forms.CharField(required=False)),
), limits=CSV_LIMITS, shape="expected {expected} fields, got {found}: {what}")
CS_INPUTS = ("vix", "vx1", "vx2", "spread")


def parse_daily_log(path: Path, *, utc_offset: timedelta,
                    duplicates: list[tuple[int, int]] | None = None) -> list[LogRow]:
    """The rows of daily_log.csv; an exact repeat of an earlier row is left out and added to ``duplicates``."""
    return _read_log(path, CS_TABLE, _cs_status, key_prefix="cs", utc_offset=utc_offset, duplicates=duplicates)


def _cs_status(row: dict[str, str], v: dict[str, Any], *, logged_at: datetime, trading_date: date,
               utc_offset: timedelta) -> tuple[str, str, list[str]]:
    """What one row of the log says: (data status, reason, what it got wrong)."""
    if len(v["gate_state"]) > 8:
        raise _RowError(f"gate_state: {tabular.shown(row['gate_state'])} is not a gate state (OPEN, REDUCE, CLOSED).")
    if v["roll_by"] is not None:
        v["sessions_to_roll"] = calendars.sessions_until(trading_date, v["roll_by"], exchange=CFE)

    flags: list[str] = []
    missing = [name for name in CS_INPUTS if v[name] is None]
    if missing:
        status = LogDataStatus.DATA_UNAVAILABLE
        reason = f"The legacy monitor logged nan for {', '.join(missing)}: it had no quotes."
        if v["gate_state"] == GateState.OPEN:
            flags.append("gate logged OPEN although its inputs were nan (legacy NaN reads as OPEN); "
                         "dspops counts a gate without inputs as UNKNOWN, i.e. closed.")
    else:
        status, reason = LogDataStatus.OK, ""
    flags.extend(_cs_level_flags(v))
    flags.extend(_cs_input_flags(v))
    if v["days_to_roll"] is not None and v["days_to_roll"] < 0:
        local_date = (logged_at + utc_offset).date()
        if v["roll_by"] is not None and v["roll_by"] < local_date:
            flags.append(
                f"days_to_roll {v['days_to_roll']} is negative: logged after the roll-by {v['roll_by']}, so the roll "
                "was overdue and the position was still held (the legacy monitor counted the roll as due at 0 days "
                "or fewer)."
            )
        else:
            after = f"the roll-by {v['roll_by']} was still ahead" if v["roll_by"] is not None else "no roll_by was logged"
            flags.append(f"days_to_roll {v['days_to_roll']} is negative but {after}: the logged count is wrong; "
                         "it is stored as logged.")
    if v["days_to_roll"] is not None and v["roll_by"] is not None:
        local_date = (logged_at + utc_offset).date()
        if v["days_to_roll"] == (v["roll_by"] - local_date).days and v["days_to_roll"] != v["sessions_to_roll"]:
            flags.append(
                f"days_to_roll {v['days_to_roll']} counts calendar days; it is {v['sessions_to_roll']} CFE "
                f"session(s) from {trading_date} to the roll-by {v['roll_by']}."
            )
    return status, reason, flags


def _cs_level_flags(v: dict[str, Any]) -> list[str]:
    """Stop/TP on the wrong side of entry, and logged hits the correct rule contradicts."""
    entry, stop, tp, spread = v["entry_spread"], v["stop_loss_level"], v["take_profit_level"], v["spread"]
    if entry is None or stop is None or tp is None:
        return []
    flags = []
    if stop >= entry:
        flags.append(f"stop-loss level {stop} is on the profit side: at or above the entry spread {entry} "
                     "(the stop must sit below entry).")
    if tp <= entry:
        flags.append(f"take-profit level {tp} is on the loss side: at or below the entry spread {entry} "
                     "(the take-profit must sit above entry).")
    if spread is None:
        return flags
    # Put the levels on their correct sides: a hand-inverted pair is swapped back.
    low, high = (tp, stop) if stop >= entry and tp <= entry else (stop, tp)
    correct_stop = low if low < entry else None
    correct_tp = high if high > entry else None
    for name, level, hit in (
        ("stop_loss_hit", correct_stop, None if correct_stop is None else spread <= correct_stop),
        ("take_profit_hit", correct_tp, None if correct_tp is None else spread >= correct_tp),
    ):
        logged = v[name]
        if hit is None or logged is None or logged == hit:
            continue
        what = "stop" if name == "stop_loss_hit" else "take-profit"
        rule = f"spread <= {level}" if name == "stop_loss_hit" else f"spread >= {level}"
        flags.append(
            f"{name} logged {logged} but the correct rule says {hit}: with the {what} at {level} "
            f"({'below' if what == 'stop' else 'above'} entry {entry}) it hits when {rule}, and the spread was {spread}."
        )
    return flags


def _cs_input_flags(v: dict[str, Any]) -> list[str]:
    flags = []
    for name, placeholder in CS_PLACEHOLDERS.items():
        if v[name] is not None and v[name] == placeholder:
            flags.append(f"{name.upper()} {v[name]} is the legacy placeholder value (written when an input "
                         "was missing), not necessarily market data.")
    vix, vx1 = v["vix"], v["vx1"]
    if vix is not None and vx1 is not None and vix == vx1 - Decimal("1.00"):
        flags.append("VIX derived from VX1 (legacy live mode: VIX = VX1 - 1.00); it is not a VIX quote, "
                     "and contango_pct rests on it.")
    if vix is not None and vx1 is not None and v["gate_score"] is not None:
        # The log has no VVIX column; the score shows whether the placeholder 85 went into it.
        def component(x, lo, hi):
            lo, hi = Decimal(lo), Decimal(hi)  # int bounds would turn a clamped value into a float
            return Decimal(1) - 2 * (min(max(x, lo), hi) - lo) / (hi - lo)

        contango = max(min((vx1 - vix) / 5, Decimal(1)), Decimal(-1))
        expected = (component(vix, 12, 35) + component(PLACEHOLDER_VVIX, 80, 140) + contango) / 3
        if abs(expected - v["gate_score"]) <= Decimal("0.0006"):
            flags.append(f"gate_score {v['gate_score']} was computed with VVIX = 85, the legacy placeholder: "
                         "the gate did not see a VVIX quote.")
    return flags


# --------------------------------------------------------------------------------------------
# paper_trading/vrp_erp_log.csv (VRP-ERP monitor log)

ERP_TABLE = tabular.Table(columns=(
    *LOGGED_AT,
    _logged(VrpErpLogEntry, "vix", "vix", blank=False, above_zero=NOT_A_QUOTE),
    _logged(VrpErpLogEntry, "spy_price", "stock_price", blank=False, above_zero="is not a price (it must be above 0)"),
    _column("regime", forms.ChoiceField(choices=[("", "-"), *((r, r) for r in REGIMES)], required=False,
                                        error_messages={"invalid_choice": f"is not one of {', '.join(REGIMES)}"}),
            upper=True),
    _whole("target_shares", "quantity"),
    _whole("actual_shares", "quantity"),
    _logged(VrpErpLogEntry, "actual_exposure_usd", "account_value"),
    _logged(VrpErpLogEntry, "avg_cost", "stock_price"),
    _logged(VrpErpLogEntry, "fill_price", "stock_price"),
    _logged(VrpErpLogEntry, "drift_pct", "percent", field_class=_PercentField),
    _column("rebalance_signal", tabular.TrueFalseField(required=False)),
    _column("action_taken", forms.CharField(required=False, max_length=VrpErpLogEntry._meta.get_field(
        "action_taken").max_length, error_messages={"max_length": "is longer than %(limit_value)d characters"})),
    _column("notes", forms.CharField(required=False)),
), limits=CSV_LIMITS, shape="expected {expected} fields, got {found}: {what}")


def parse_erp_log(path: Path, *, utc_offset: timedelta,
                  duplicates: list[tuple[int, int]] | None = None) -> list[LogRow]:
    """The rows of vrp_erp_log.csv; an exact repeat of an earlier row is left out and added to ``duplicates``."""
    return _read_log(path, ERP_TABLE, _erp_status, key_prefix="erp", utc_offset=utc_offset,
                     duplicates=duplicates)


def _erp_status(row: dict[str, str], v: dict[str, Any], **_when: Any) -> tuple[str, str, list[str]]:
    """What one row of the log says: (data status, reason, what it got wrong); when it was logged does not matter."""
    flags: list[str] = []
    problems: list[str] = []
    for name, placeholder in ERP_PLACEHOLDERS.items():
        if v[name] is not None and v[name] == placeholder:
            label = "SPY" if name == "spy_price" else "VIX"
            derived = (f"target_shares {v['target_shares']} was sized from it"
                       if name == "spy_price" else f"regime {v['regime'] or '-'} was read from it")
            flags.append(f"{label} {row[name].strip()} is the legacy placeholder, logged as market data: stored "
                         f"as DATA UNAVAILABLE without a {label} value ({derived}).")
            problems.append(f"{label} was the legacy placeholder {row[name].strip()}")
            v[name] = None
    for name, label in (("vix", "VIX"), ("spy_price", "SPY")):
        if row[name].strip().lower() == "nan":
            problems.append(f"{label} was nan")
    if v["actual_shares"] == 0:
        flags.append("actual_shares 0 was assumed by the legacy CLI path, not read from the broker: unverified.")
    if problems:
        status, reason = LogDataStatus.DATA_UNAVAILABLE, "Legacy log: " + "; ".join(problems) + "."
    else:
        status, reason = LogDataStatus.OK, ""
    return status, reason, flags


# --------------------------------------------------------------------------------------------
# paper_trading/position_config.json (VRP-CS position)

POSITION_REQUIRED = (
    "short_contract", "long_contract", "short_entry_price", "long_entry_price", "entry_date",
    "entry_spread", "stop_loss_spread", "take_profit_spread",
)
POSITION_OPTIONAL = ("quantity", "position_size", "multiplier", "vx1_expiry", "roll_by_date")
VXM_MULTIPLIER = 100


def _json_object(path: Path) -> tuple[dict[str, Any], str]:
    text = _read_text(path)

    try:
        content = _json_loads(text)
    except json.JSONDecodeError as exc:
        raise _error(path, exc.lineno, f"not valid JSON: {exc.msg}.") from None
    except ValueError as exc:
        raise _error(path, None, f"not valid JSON: {exc}.") from None
    if not isinstance(content, dict):
        raise _error(path, 1, "expected a JSON object ({...}) at the top level.")
    return content, text


def _json_loads(text: str) -> Any:
    """JSON with finite numbers only: NaN, Infinity and 1e400 (which Python reads as inf) are refused.

    Raises json.JSONDecodeError or ValueError (also for nesting too deep to read).
    """
    def refuse_constant(name):
        raise ValueError(f"{name} is not a number")

    def finite(number: str) -> float:
        value = float(number)
        if not math.isfinite(value):
            raise ValueError(f"{tabular.clipped(number)} is too large for a number")
        return value

    def whole(number: str) -> int:
        if len(number.lstrip("-")) > 18:
            raise ValueError(f"{tabular.clipped(number)} is too large for a number")
        return int(number)

    try:
        return json.loads(text, parse_constant=refuse_constant, parse_float=finite, parse_int=whole)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def _key_line(text: str, key: str) -> int:
    match = re.search(rf'"{re.escape(key)}"\s*:', text)
    return text.count("\n", 0, match.start()) + 1 if match else 1


def parse_position_config(path: Path, *, sessions_before: int) -> PositionConfig:
    """The position config; ``sessions_before`` is the roll rule's (the VRP-CS setting roll_sessions_before)."""
    content, text = _json_object(path)
    known = set(POSITION_REQUIRED) | set(POSITION_OPTIONAL)
    for key in content:
        if key not in known:
            raise _error(path, _key_line(text, key),
                         f"unknown key {key!r}; the legacy position config has only {', '.join(sorted(known))}.")
    for key in POSITION_REQUIRED:
        if key not in content:
            raise _error(path, 1, f"the required key {key!r} is missing.")

    def number(key: str, kind: str = "vx_spread") -> Decimal:
        raw = content[key]
        if isinstance(raw, bool) or not isinstance(raw, (int, float)):
            raise _error(path, _key_line(text, key), f"{key}: expected a number, got {tabular.shown(raw)}.")
        try:
            value = bounds.check_plausible(raw, f"{key}:", kind)
        except bounds.OutOfBounds as exc:
            raise _error(path, _key_line(text, key), f"{exc}.") from None
        exact = Decimal(repr(raw)) if isinstance(raw, float) else Decimal(raw)
        places = bounds.PRICE_DIGITS[1]
        if -exact.as_tuple().exponent > places:
            raise _error(path, _key_line(text, key), f"{key}: {raw} has more than {places} decimal places.")
        return value

    def day(key: str) -> date:
        raw = content[key]
        if isinstance(raw, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
            try:
                parsed_day = date.fromisoformat(raw)
            except ValueError:
                pass
            else:
                try:
                    return bounds.check_date(parsed_day, f"{key}:")
                except bounds.OutOfBounds as exc:
                    raise _error(path, _key_line(text, key), f"{exc}.") from None
        raise _error(path, _key_line(text, key), f"{key}: expected a date as \"YYYY-MM-DD\", got {tabular.shown(raw)}.")

    def whole(key: str) -> int:
        raw = content[key]
        if isinstance(raw, bool) or not isinstance(raw, int) or raw < 1:
            raise _error(path, _key_line(text, key),
                         f"{key}: expected a whole number of at least 1, got {tabular.shown(raw)}.")
        try:
            bounds.check_plausible(raw, f"{key}:", "quantity", digits=bounds.QUANTITY_DIGITS)
        except bounds.OutOfBounds as exc:
            raise _error(path, _key_line(text, key), f"{exc}.") from None
        return raw

    flags: list[tuple[int | None, str]] = []
    entry_date = day("entry_date")
    months = {}
    for key in ("short_contract", "long_contract"):
        raw = content[key]
        try:
            months[key] = vx.parse_local_symbol(raw if isinstance(raw, str) else repr(raw), near=entry_date)
        except ValueError as exc:
            raise _error(path, _key_line(text, key), f"{key}: {exc}.") from None
    short_month, long_month = months["short_contract"], months["long_contract"]
    if short_month >= long_month:
        raise _error(path, _key_line(text, "long_contract"),
                     f"long_contract {content['long_contract']} must settle after short_contract "
                     f"{content['short_contract']}: the spread is short the front month and long the next.")

    if "multiplier" in content and number("multiplier", "multiplier") != VXM_MULTIPLIER:
        raise _error(path, _key_line(text, "multiplier"),
                     f"multiplier {content['multiplier']}: VXM contracts have a multiplier of {VXM_MULTIPLIER} "
                     "(1000 is the big VX contract, which this sleeve does not trade).")
    if "quantity" in content:
        quantity = whole("quantity")
        if "position_size" in content and whole("position_size") != quantity:
            flags.append((_key_line(text, "position_size"),
                          f"the legacy scripts used position_size {content['position_size']} and ignored quantity "
                          f"{quantity}; dspops honours quantity {quantity}. Check the real position at IBKR."))
    elif "position_size" in content:
        quantity = whole("position_size")
        flags.append((_key_line(text, "position_size"),
                      f"no quantity key: the size {quantity} comes from the legacy position_size."))
    else:
        raise _error(path, 1, "neither quantity nor position_size is given: the size of the position is unknown.")

    short_price, long_price = number("short_entry_price", "vx_future"), number("long_entry_price", "vx_future")
    entry, stop, tp = number("entry_spread"), number("stop_loss_spread"), number("take_profit_spread")
    if short_price <= 0 or long_price <= 0:
        raise _error(path, _key_line(text, "short_entry_price"), "entry prices must be above 0.")
    if entry != long_price - short_price:
        raise _error(path, _key_line(text, "entry_spread"),
                     f"entry_spread {entry} is not long_entry_price - short_entry_price "
                     f"({long_price} - {short_price} = {long_price - short_price}).")
    level_errors = validate_spread_levels(entry_spread=entry, stop_loss_spread=stop, take_profit_spread=tp)
    if level_errors:
        key, messages = next(iter(level_errors.items()))
        raise _error(path, _key_line(text, key), f"{key}: {' '.join(messages)} Fix the levels in the file.")

    try:
        rule = vx.contract_dates(short_month, sessions_before=sessions_before)
    except ValueError as exc:  # a CalendarRangeError: a month the exchange calendar does not cover
        raise _error(path, _key_line(text, "short_contract"), f"short_contract: {exc}") from None
    planned_settlement = day("vx1_expiry") if "vx1_expiry" in content else None
    planned_roll_by = day("roll_by_date") if "roll_by_date" in content else None
    short = content["short_contract"]
    if planned_settlement is None:
        flags.append((1, f"no vx1_expiry: the rule's settlement date {rule.settlement_date} of {short} is used."))
    elif planned_settlement != rule.settlement_date:
        flags.append((_key_line(text, "vx1_expiry"),
                      f"vx1_expiry {planned_settlement} differs from the rule: {short} ({short_month}) settles "
                      f"{rule.settlement_date}. The typed date is kept on the position and in the roll calendar."))
    if planned_roll_by is None:
        flags.append((1, f"no roll_by_date: the rule's roll-by {rule.roll_by} is used."))
    elif planned_roll_by != rule.roll_by:
        flags.append((_key_line(text, "roll_by_date"),
                      f"roll_by_date {planned_roll_by} differs from the rule: {sessions_before} CFE sessions before "
                      f"the {rule.settlement_date} settlement is {rule.roll_by}. The typed date is kept."))
    settlement = planned_settlement or rule.settlement_date
    roll_by = planned_roll_by or rule.roll_by
    if roll_by >= settlement:
        raise _error(path, _key_line(text, "roll_by_date"),
                     f"roll_by_date {roll_by} is not before the settlement date {settlement}.")
    return PositionConfig(
        short_contract=short_month.local_symbol("VXM"),
        long_contract=long_month.local_symbol("VXM"),
        short_month=short_month,
        long_month=long_month,
        quantity=quantity,
        short_entry_price=short_price,
        long_entry_price=long_price,
        entry_date=entry_date,
        entry_spread=entry,
        stop_loss_spread=stop,
        take_profit_spread=tp,
        settlement_date=settlement,
        roll_by=roll_by,
        planned_settlement_date=planned_settlement,
        planned_roll_by=planned_roll_by,
        flags=tuple(flags),
    )


# --------------------------------------------------------------------------------------------
# paper_trading/trades.csv (VRP-CS order records; the JSON column is not quoted)

TRADE_COLUMNS = "ts_iso,action,mode,details_json"
TRADE_ACTIONS = ("open", "close", "roll", "update-config")


def parse_trades(path: Path, *, utc_offset: timedelta,
                 duplicates: list[tuple[int, int]] | None = None) -> list[TradeRow]:
    """The order records of trades.csv; an exact repeat of an earlier line is left out and added to ``duplicates``."""
    lines = _text_lines(path)
    _first, header = next(lines, (1, None))
    if header is None:
        raise _error(path, 1, f"the file is empty; expected the header {TRADE_COLUMNS}.")
    if header.strip() != TRADE_COLUMNS:
        raise _error(path, 1, f"unexpected header {tabular.shown(header.strip(), 80)}; expected {TRADE_COLUMNS}.")
    rows: list[TradeRow] = []
    seen: Counter = Counter()
    repeats = _Repeats(duplicates)
    count = 0
    for number, text in lines:
        if not text.strip():
            continue
        count += 1
        if count > MAX_ROWS:
            raise _error(path, number, f"more than {MAX_ROWS:,} rows; a legacy CSV file may hold at most "
                                       f"{MAX_ROWS:,}. {IN_PARTS}.")
        # details_json is everything after the third comma: the legacy writer did not quote it.
        parts = text.split(",", 3)
        if len(parts) != 4 or not parts[3].strip():
            raise _error(path, number, f"expected ts_iso,action,mode,details_json; got {len(parts)} field(s): "
                                       "the row is truncated.")
        ts_text, action, mode, details_text = (p.strip() for p in parts)
        if repeats.seen(number, (ts_text, action, mode, details_text)):
            continue
        if details_text.startswith('"'):  # a properly quoted CSV field, should one ever appear
            try:
                details_text = next(csv.reader([details_text]))[0]
            except csv.Error as exc:
                raise _error(path, number, f"details_json is not a valid quoted field ({exc}).") from None
        try:
            local = datetime.fromisoformat(ts_text)
        except ValueError:
            raise _error(path, number, f"ts_iso: {tabular.shown(ts_text)} is not an ISO timestamp.") from None
        try:
            logged_at = _logged_moment(local, utc_offset, "ts_iso:")
        except _RowError as exc:
            raise _error(path, number, str(exc)) from None
        try:
            details = _json_loads(details_text)
        except json.JSONDecodeError as exc:
            raise _error(path, number, f"details_json is not valid JSON ({exc.msg}, column {exc.colno} of "
                                       "the JSON).") from None
        except ValueError as exc:
            raise _error(path, number, f"details_json is not valid JSON ({exc}).") from None
        if not isinstance(details, dict):
            raise _error(path, number, "details_json must be a JSON object ({...}).")
        if action not in TRADE_ACTIONS:
            raise _error(path, number, f"action {tabular.shown(action)} is not one of {', '.join(TRADE_ACTIONS)}.")
        if not mode or len(mode) > 16:
            raise _error(path, number, f"mode {tabular.shown(mode)} is not a legacy mode (live, dry-run).")
        flags = []
        statuses = [str(v) for k, v in details.items() if k.endswith("status")]
        if statuses and "Filled" not in statuses:
            flags.append(f"order record only (status {tabular.clipped(', '.join(statuses), 200)}): no fill was "
                         "confirmed.")
        try:
            _, stale = _session_for(logged_at)
        except calendars.CalendarRangeError as exc:
            raise _error(path, number, str(exc)) from None
        if stale:
            flags.append(stale.replace("quotes are stale", "no market was open"))
        key = _unique_key(f"trade:{ts_text}:{action}", seen)
        rows.append(TradeRow(number, key, logged_at, action, mode, details, tuple(flags)))
    return rows


def find_unconfirmed_bursts(trades: list[TradeRow]) -> list[TradeBurst]:
    """Groups of order records close together, with several opens/rolls and no confirmed fill."""
    bursts: list[TradeBurst] = []
    group: list[TradeRow] = []
    for trade in sorted(trades, key=lambda t: t.logged_at) + [None]:
        if trade is not None and (not group or trade.logged_at - group[-1].logged_at <= BURST_GAP):
            group.append(trade)
            continue
        opening = [t for t in group if t.action in {"open", "roll"}]
        filled = any(str(v) == "Filled" for t in group for k, v in t.details.items() if k.endswith("status"))
        if len(opening) >= 2 and not filled:
            counts = Counter(t.action for t in group)
            ny_date = calendars.trading_date(group[0].logged_at)
            span = round((group[-1].logged_at - group[0].logged_at).total_seconds() / 60)
            first = group[0].logged_at.astimezone(calendars.NEW_YORK)
            last = group[-1].logged_at.astimezone(calendars.NEW_YORK)
            bursts.append(TradeBurst(
                first_line=min(t.line for t in group),
                ny_date=ny_date,
                import_keys=tuple(t.import_key for t in group),
                message=(
                    f"{len(group)} order records on {ny_date} within {span} minutes "
                    f"({first:%H:%M}-{last:%H:%M} New York: "
                    f"{', '.join(f'{n} {a}' for a, n in sorted(counts.items()))}) and none has a fill "
                    "confirmation. Reconcile them against the IBKR executions before trusting the VRP-CS "
                    "position."
                ),
            ))
        group = [trade] if trade is not None else []
    return bursts


# --------------------------------------------------------------------------------------------
# paper_trading/vrp_erp_state.json (VRP-ERP regime)

ERP_STATE_KEYS = ("regime", "vix", "days_in_regime", "last_transition_date")


def _plausible_or_raise(value: int | float | None, key: str, kind: str) -> None:
    if value is not None:
        bounds.check_plausible(value, f"{key}:", kind, digits=bounds.QUANTITY_DIGITS)


def parse_erp_state(path: Path) -> ErpState:
    content, text = _json_object(path)
    for key in content:
        if key not in ERP_STATE_KEYS:
            raise _error(path, _key_line(text, key),
                         f"unknown key {key!r}; the legacy VRP-ERP state has only {', '.join(ERP_STATE_KEYS)}.")
    regime = content.get("regime")
    if regime not in REGIMES:
        raise _error(path, _key_line(text, "regime"), f"regime: {regime!r} is not one of {', '.join(REGIMES)}.")
    days = content.get("days_in_regime")
    if days is not None and (isinstance(days, bool) or not isinstance(days, int) or days < 0):
        raise _error(path, _key_line(text, "days_in_regime"), f"days_in_regime: {tabular.shown(days)} is not a count.")
    vix = content.get("vix")
    if vix is not None and (isinstance(vix, bool) or not isinstance(vix, (int, float))):
        raise _error(path, _key_line(text, "vix"), f"vix: {tabular.shown(vix)} is not a number.")
    for key, value, kind in (("days_in_regime", days, "days"), ("vix", vix, "vix")):
        try:
            if kind == "vix" and value is not None and value <= 0:
                raise bounds.OutOfBounds(f"{key}: {value} is not a quote (it must be above 0)")
            _plausible_or_raise(value, key, kind)
        except bounds.OutOfBounds as exc:
            raise _error(path, _key_line(text, key), f"{exc}.") from None
    raw_date = content.get("last_transition_date")
    flags: list[tuple[int | None, str]] = []
    line = _key_line(text, "last_transition_date")
    if raw_date is None:
        flags.append((line, "no last_transition_date: the regime's first session is unknown, so the state "
                            "is not imported; the VRP-ERP monitor starts its own."))
        return ErpState(regime, None, "", tuple(flags))
    try:
        transition = date.fromisoformat(raw_date) if isinstance(raw_date, str) else None
    except ValueError:
        transition = None
    if transition is None:
        raise _error(path, line, f"last_transition_date: expected \"YYYY-MM-DD\" or null, got "
                                 f"{tabular.shown(raw_date)}.")
    try:
        bounds.check_date(transition, "last_transition_date:")
    except bounds.OutOfBounds as exc:
        raise _error(path, line, f"{exc}.") from None
    try:
        since = calendars.session_on_or_before(transition, exchange=NYSE)
    except calendars.CalendarRangeError as exc:
        raise _error(path, line, str(exc)) from None
    moved = "" if since == transition else f" ({transition} is not an NYSE session)"
    flags.append((_key_line(text, "days_in_regime"),
                  f"days_in_regime {days} counted monitor runs, not sessions; dspops counts sessions from "
                  f"{since}{moved}."))
    note = f"Legacy vrp_erp_state.json: {regime} since {transition}, VIX {vix}, days_in_regime {days} (runs)."
    return ErpState(regime, since, note[:300], tuple(flags))


# --------------------------------------------------------------------------------------------
# daily_digest/digest_YYYY-MM-DD.md

GENERATED_RE = re.compile(r"^Generated:\s*`?([^`\s]+)`?\s*$", re.MULTILINE)
TITLE_RE = re.compile(r"^#\s.*?(\d{4}-\d{2}-\d{2})\s*$")


def parse_digest(path: Path, *, name: str, utc_offset: timedelta) -> LegacyDigest:
    try:
        trading_date = date.fromisoformat(path.stem.removeprefix("digest_"))
    except ValueError:
        raise _error(path, None, f"the file name does not hold a valid date ({path.name}).") from None
    try:
        bounds.check_date(trading_date, "the file name's date")
    except bounds.OutOfBounds as exc:
        raise _error(path, None, f"{exc}.") from None
    markdown = _read_text(path)
    if not markdown.strip():
        raise _error(path, 1, "the digest is empty.")
    match = GENERATED_RE.search(markdown)
    if match is None:
        raise _error(path, 1, "no 'Generated: `YYYY-MM-DDTHH:MM:SS`' line; this is not a legacy digest.")
    line = markdown.count("\n", 0, match.start()) + 1
    try:
        generated_local = datetime.fromisoformat(match.group(1))
    except ValueError:
        raise _error(path, line, f"Generated: {tabular.shown(match.group(1))} is not an ISO timestamp.") from None
    try:
        generated_at = _logged_moment(generated_local, utc_offset, "Generated:")
    except _RowError as exc:
        raise _error(path, line, str(exc)) from None
    flags: list[tuple[int | None, str]] = []
    title = TITLE_RE.match(markdown.partition("\n")[0])
    if title and title.group(1) != trading_date.isoformat():
        flags.append((1, f"the title says {title.group(1)} but the file name says {trading_date}; "
                         "the file name's date is used."))
    try:
        session = calendars.is_session(trading_date, exchange=NYSE)
    except calendars.CalendarRangeError as exc:
        raise _error(path, None, str(exc)) from None
    note = f"Imported from the legacy {name}."
    if not session:
        note += f" {trading_date} ({trading_date:%A}) is not an NYSE session."
        flags.append((None, f"{trading_date} is not an NYSE session: the legacy digest was run on a "
                            "non-trading day."))
    return LegacyDigest(name, trading_date, markdown, generated_at, note, tuple(flags))

