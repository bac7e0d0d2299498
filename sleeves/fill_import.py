"""Import IBKR executions as fills: from the API (through the Gateway) or from a Flex trade report.

The rules (DECISIONS.md sections 1 and 5):

- An execution is imported once. Its IBKR exec id is the key, so running an import again (or
  importing the Flex report of a day already synced from the API) adds nothing.
- One batch, one transaction. Every execution is checked first; one that cannot be imported
  (an unknown contract, a price of 0, a sign that contradicts its side, an unreadable date)
  refuses the whole batch with a message naming it, and nothing is written.
- Instruments are matched by conId, else by security type and local symbol (and, for futures,
  the contract month); the conId is then recorded on the instrument. A VXM month the database
  does not know yet is created from the calendar. Anything else unknown refuses the batch:
  the operator adds the instrument first.
- Attribution: an order ref that starts with a sleeve's prefix (case-insensitive, followed by
  a non-alphanumeric character or the end) names the sleeve. Otherwise the instrument decides
  when exactly one sleeve can hold it. Otherwise the fill is stored without a sleeve and a
  warning alert asks the operator to attribute it (`attribute_fill`).

Flex reports: `dateTime` is the account's local exchange time, which dspops takes as
America/New_York (IBKR writes it without a zone). Flex quantities are signed (negative for a
sell) and commissions negative (a cost); fills store a positive quantity with its side and the
commission as a positive cost. Only rows at execution level are imported (`levelOfDetail`
EXECUTION, or no such column); order summaries and lots are counted as ignored.

Bounds (DECISIONS.md section 11): a Flex report is read as a stream (dspops.core.tabular), one row
at a time, and refused before any row is read when it is larger than the setting
FLEX_IMPORT_MAX_BYTES (default 32 MiB), or as soon as that much has been read from a stream whose
size is not known; it is refused at a line longer than 64 KiB, past 10,000 executions (the checked
executions are kept until the batch is written, so that count bounds the memory an import needs)
or at text that is not UTF-8 (CSV; XML as its declaration says). Of the rows that cannot be read,
the first MAX_LISTED_PROBLEMS are kept for the message and the rest only counted. Each row, CSV or XML, is read
by the kernel's tabular reader (``FLEX_COLUMNS``: one typed column per field dspops reads). Every
execution, from a file or the broker: its time lies between 2000-01-01 and 2100-12-31 and is not in
the future; price, quantity, commission and multiplier are finite, fit their model columns (Fill,
Instrument: ``tabular.digits_of``) and lie in a plausible range (dspops.core.bounds.PLAUSIBLE). A
refusal names the file and line (or the execution) and the field.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timezone
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any
from xml.parsers import expat

from django import forms
from django.core.exceptions import ValidationError
from django.db import transaction

from dspops.core.alerts import raise_alert, resolve_alerts
from dspops.core.models import Alert
from dspops.core import bounds, clock, tabular
from dspops.core.broker.errors import GatewayError
from dspops.core.broker_sync import open_gateway

if TYPE_CHECKING:  # the gateway module imports ib_insync: only a broker read pays for it (start-up cost)
    from dspops.core.broker.gateway import Gateway
from dspops.core.broker.types import Execution
from dspops.core.calendars import NEW_YORK
from dspops.core.errors import OperatorError
from dspops.core.models import Instrument, SecType
from dspops.core import vx
from dspops.core.instruments import vxm_instrument
from sleeves import parameters
from sleeves.services import reverse_fill
from sleeves.models import (
    Fill, FillSource, MonitorRun, RunKind, RunStatus, Side, Sleeve, SleeveParameter, positions_batch,
)

__all__ = [
    "FillImportError",
    "FillImportReport",
    "InstrumentMatchError",
    "UNATTRIBUTED_ALERT",
    "attribute_fill",
    "find_instrument",
    "import_flex",
    "sync_fills",
]

VXM_ROOT = "VXM"
UNATTRIBUTED_ALERT = "fill_unattributed"
MAX_LISTED_PROBLEMS = 20
# The shapes of the columns an execution is stored in: stated once, by the models.
QUANTITY_DIGITS = tabular.digits_of(Fill, "quantity")
PRICE_DIGITS = tabular.digits_of(Fill, "price")
COMMISSION_DIGITS = tabular.digits_of(Fill, "commission")
MULTIPLIER_DIGITS = tabular.digits_of(Instrument, "multiplier")


def _max_length(name: str) -> int:
    return Fill._meta.get_field(name).max_length


def _step(digits: tuple[int, int]) -> Decimal:
    """The smallest step a column of this shape holds: (16, 6) -> 0.000001."""
    return Decimal(1).scaleb(-digits[1])


FLEX_FILE = tabular.Limits(kind="an IBKR Flex trade report", max_bytes=32 * tabular.MIB,
                           max_line_bytes=64 * tabular.KIB, setting="FLEX_IMPORT_MAX_BYTES")
MAX_EXECUTIONS = 10_000
MAX_PROBLEM_CHARS = 400  # one problem's message; a huge cell never makes a huge refusal


class FillImportError(OperatorError):
    """Nothing was imported. The message says which execution (or file:line) and why."""


class InstrumentMatchError(OperatorError, ValueError):
    """A contract matches an instrument ambiguously or contradicts the conId dspops holds."""


@dataclass(frozen=True)
class FillImportReport:
    created: int
    skipped: int  # already imported (same exec id)
    unattributed: list[str]  # exec ids stored without a sleeve
    simulated: bool
    source: str = ""
    by_sleeve: dict[str, int] = field(default_factory=dict)  # sleeve code -> fills created
    ignored: int = 0  # Flex rows that are not executions (order summaries, lots)
    run_id: int | None = None
    corrected: list[str] = field(default_factory=list)  # earlier exec ids IBKR replaced; their fills reversed


@dataclass(frozen=True)
class _Trade:
    """One execution, whatever it was read from, before it is checked."""

    where: str  # "execution 0001f4e8..." or "trades.xml:12", for messages
    exec_id: str
    con_id: int | None
    sec_type: str  # as IBKR names it: STK, FUT, OPT, ...
    symbol: str  # the underlying or root: SPY, VXM
    local_symbol: str
    side: str
    quantity: Decimal  # positive
    price: Decimal
    commission: Decimal | None  # positive cost; None when not reported
    executed_at: datetime
    order_ref: str = ""
    account: str = ""
    multiplier: Decimal | None = None
    expiry: date | None = None
    note: str = ""

    @property
    def contract(self) -> str:
        """A human name, e.g. "OPT SPY 260213P00650000 (conId 123)"."""
        local, symbol = " ".join(self.local_symbol.split()), " ".join(self.symbol.split())
        name = local if local.startswith(symbol) else f"{symbol} {local}".strip()
        con_id = f" (conId {self.con_id})" if self.con_id else ""
        return f"{self.sec_type} {name}{con_id}"


class _Refused(Exception):
    def __init__(self, problems: list[str], unlisted: int = 0):
        super().__init__(_refusal([_clip(p) for p in problems], unlisted))


def _clip(problem: str) -> str:
    return problem if len(problem) <= MAX_PROBLEM_CHARS else f"{problem[:MAX_PROBLEM_CHARS - 1]}…"


def _refusal(problems: list[str], unlisted: int = 0) -> str:
    """The refusal of ``problems`` and ``unlisted`` more (counted, not kept); the first MAX_LISTED_PROBLEMS listed."""
    total = len(problems) + unlisted
    if total == 1:
        return f"{problems[0]}; nothing was imported."
    listed = problems[:MAX_LISTED_PROBLEMS]
    more = total - len(listed)
    tail = f"\n... and {more} more" if more else ""
    return f"{total} problems, so nothing was imported:\n" + "\n".join(listed) + tail


# --- the API --------------------------------------------------------------------------------------


def sync_fills(
    *, since: datetime, gateway: Gateway | None = None, role: str = "shell", triggered_by: str = "command"
) -> FillImportReport:
    """Import the IBKR executions at or after `since` (aware) as fills, in one transaction.

    Opens a Gateway for `role` when none is given. Raises FillImportError when the broker
    cannot be read (the run is stored as DATA UNAVAILABLE) or when any execution cannot be
    imported (the run is stored as an error); in both cases no fill is written.
    """
    if since.tzinfo is None or since.utcoffset() is None:
        raise ValueError("sync_fills(since=...) needs a timezone-aware datetime")
    started = clock.now()
    inputs = {"since": since.isoformat()}
    try:
        if gateway is None:
            with open_gateway(role) as opened:
                executions, simulated = opened.executions(since), opened.simulated
        else:
            executions, simulated = gateway.executions(since), gateway.simulated
    except GatewayError as exc:
        reason = f"IBKR executions could not be read: {exc}"
        _store_failed_run(RunStatus.DATA_UNAVAILABLE, reason, started=started, inputs=inputs,
                          triggered_by=triggered_by, simulated=False)
        raise FillImportError(f"{reason} Nothing was imported; run sync_fills again when TWS is up.") from exc
    trades = [_trade_from_execution(e) for e in executions]
    return _import(
        trades, source=FillSource.SIMULATED if simulated else FillSource.IBKR_API, simulated=simulated,
        user=None, started=started, inputs=inputs, triggered_by=triggered_by,
        sources={"executions": {"source": "simulated" if simulated else "broker", "as_of": started.isoformat()}},
    )


def _trade_from_execution(e: Execution) -> _Trade:
    return _Trade(
        where=f"execution {e.exec_id}", exec_id=e.exec_id, con_id=e.con_id or None, sec_type=e.sec_type,
        symbol=e.symbol, local_symbol=e.local_symbol or e.symbol, side=e.side, quantity=e.quantity,
        price=e.price, commission=e.commission, executed_at=e.executed_at, order_ref=e.order_ref or "",
        account=e.account, multiplier=e.multiplier,
        note=f"IBKR account {e.account}, order {e.order_id}, perm {e.perm_id}",
    )


# --- Flex reports ---------------------------------------------------------------------------------


def import_flex(*, path: Path, user=None) -> FillImportReport:
    """Import an IBKR Flex trade report (XML or CSV) as fills, in one transaction.

    A bad row refuses the whole file with "file:line: reason"; nothing is written.
    Raises FillImportError.
    """
    path = Path(path)
    started = clock.now()
    inputs = {"file": str(path)}
    try:
        trades, ignored = _read_flex(path)
    except _Refused as refused:
        _store_failed_run(RunStatus.ERROR, str(refused), started=started, inputs=inputs,
                          triggered_by="import", simulated=False)
        raise FillImportError(str(refused)) from None
    report = _import(
        trades, source=FillSource.FLEX, simulated=False, user=user, started=started, inputs=inputs,
        triggered_by="import", sources={"executions": {"source": "flex", "file": path.name}},
    )
    return replace(report, ignored=ignored)


_CONTROL_ROWS = {"BOF", "EOF", "BOA", "EOA", "BOS", "EOS"}
_ALIASES = {"assetclass": "assetcategory", "currencyprimary": "currency", "clientaccountid": "accountid",
            "ibexecutionid": "ibexecid"}


def _column(name: str) -> str:
    """A Flex column or attribute name as dspops keys it: "Buy/Sell", "buySell" -> "buysell"."""
    key = re.sub(r"[^a-z0-9]", "", name.lower())
    return _ALIASES.get(key, key)


class FlexNumberField(forms.DecimalField):
    """A Flex number: finite, thousands separators allowed ("1,234.5").

    No shape here: whether it fits its column and is plausible is checked once the execution is
    read (a price's plausible range depends on the contract, and a quantity's sign on the side),
    against the model column (``digits_of``).
    """

    default_error_messages = {"required": "is empty", "invalid": "is not a number"}

    def to_python(self, value):
        return super().to_python(value if value in self.empty_values else str(value).replace(",", ""))


def _iso_date(text: str) -> str:
    """The date formats a Flex query can be set to, as YYYY-MM-DD: 20260114, 01/14/2026."""
    if match := re.fullmatch(r"(\d{4})(\d{2})(\d{2})", text):
        return "-".join(match.groups())
    if match := re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{4})", text):
        month, day, year = match.groups()
        return f"{year}-{int(month):02d}-{int(day):02d}"
    return text


class FlexDateField(tabular.IsoDateField):
    """A Flex date: 20260114, 2026-01-14 or 01/14/2026."""

    default_error_messages = {"invalid": "is not a date (expected 20260114 or 2026-01-14)"}

    def to_python(self, value):
        return super().to_python(value if value in self.empty_values else _iso_date(str(value).strip()))


class FlexDateTimeField(forms.Field):
    """A Flex dateTime ("20260114;105512", "2026-01-14, 10:55:12"), taken as New York time.

    IBKR writes the account's local exchange time without a zone. The result is aware (New York)
    and not yet converted to UTC, so the column's date bounds are checked before any time-zone
    arithmetic (which overflows at the year 9999).
    """

    default_error_messages = {
        "required": "is empty",
        "invalid": "is not a date and time (expected 20260114;105512 or 2026-01-14, 10:55:12)",
    }

    def to_python(self, value):
        if value in self.empty_values:
            return None
        parts = [p for p in re.split(r"[;,\s]+", str(value).strip()) if p]
        try:
            if len(parts) != 2:
                raise ValidationError("two parts", code="invalid")
            day = FlexDateField().to_python(parts[0])
            clock_text = re.sub(r"^(\d{2})(\d{2})(\d{2})$", r"\1:\2:\3", parts[1])  # 105512 -> 10:55:12
            moment = tabular.ClockTimeField().to_python(clock_text)
        except ValidationError:
            raise ValidationError(self.error_messages["invalid"], code="invalid") from None
        return datetime.combine(day, moment, tzinfo=NEW_YORK)


class FlexSideField(forms.CharField):
    """Buy/Sell: BUY or SELL. A cancelled trade ("BUY (Ca.)") is named as one."""

    default_error_messages = {
        "required": "is empty",
        "invalid": "must be BUY or SELL",
        "cancelled": "is a cancelled trade; record its correction as a reversing fill",
    }

    def validate(self, value):
        super().validate(value)
        if value not in Side.values:
            code = "cancelled" if "(CA.)" in value else "invalid"
            raise ValidationError(self.error_messages[code], code=code)


def _text(*, label: str = "", upper: bool = False, name: str) -> tabular.Column:
    return tabular.Column(name, forms.CharField(required=False), label=label, upper=upper)


_CONTRACT_ID = "is not an IBKR contract id"

# What dspops reads of a Flex row (CSV column or XML attribute, keyed by ``_column``); every other
# column is dropped as the row is read. Labels are the XML attribute names, as messages name them.
FLEX_COLUMNS = tabular.Table(
    columns=(
        _text(name="levelofdetail", label="levelOfDetail", upper=True),
        tabular.Column("ibexecid", forms.CharField(max_length=_max_length("exec_id"), error_messages={
            "required": "is empty; export the Trades section at execution level",
            "max_length": "is longer than the %(limit_value)d characters of an IBKR exec id"}), label="ibExecID"),
        tabular.Column("conid", tabular.WholeNumberField(  # IBKR contract ids are positive 32-bit integers
            max_digits=10, min_value=1, max_value=2**31 - 1,
            error_messages={"invalid": _CONTRACT_ID, "max_digits": _CONTRACT_ID, "min_value": _CONTRACT_ID,
                            "max_value": _CONTRACT_ID}), label="conid"),
        tabular.Column("buysell", FlexSideField(), label="buySell", upper=True),
        _text(name="symbol", label="symbol"),
        _text(name="assetcategory", label="assetCategory", upper=True),
        _text(name="underlyingsymbol", label="underlyingSymbol"),
        _text(name="localsymbol", label="localSymbol"),
        tabular.Column("quantity", FlexNumberField(), label="quantity"),
        tabular.Column("tradeprice", FlexNumberField(), label="tradePrice"),
        tabular.Column("ibcommission", FlexNumberField(required=False), label="ibCommission"),
        _text(name="ibcommissioncurrency", label="ibCommissionCurrency", upper=True),
        tabular.Column("multiplier", FlexNumberField(required=False), label="multiplier"),
        tabular.Column("expiry", FlexDateField(required=False), label="expiry"),
        tabular.Column("datetime", FlexDateTimeField(), label="dateTime"),
        _text(name="orderreference", label="orderReference"),
        _text(name="accountid", label="accountId"),
    ),
    limits=FLEX_FILE, extra=True, header_key=_column,
)
# The columns a CSV report's header must have (an XML attribute left out reads as empty).
FLEX_HEADER = tabular.Table(
    columns=tuple(FLEX_COLUMNS.column(name) for name in ("ibexecid", "conid", "buysell", "quantity", "tradeprice",
                                                         "datetime", "symbol", "assetcategory")),
    limits=FLEX_FILE, extra=True, header_key=_column,
)
_EMPTY_ROW = {name: "" for name in FLEX_COLUMNS.names}


def _read_flex(path: Path) -> tuple[list[_Trade], int]:
    """The executions of the report, each checked as its row is read; _Refused listing the rows that cannot be.

    Rows are read one at a time; a row that cannot be read leaves its message (the first
    MAX_LISTED_PROBLEMS of them) or a count, never the row.
    """
    try:
        first = tabular.head(path, FLEX_FILE)
    except tabular.FileRefused as refused:
        raise _Refused([str(refused)]) from None
    is_xml = first.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"<"
    rows = _xml_rows(path) if is_xml else _csv_rows(path)
    now = clock.now()
    trades: list[_Trade] = []
    problems: list[str] = []
    unlisted = 0
    ignored = executions = 0

    def problem(text: str) -> None:
        nonlocal unlisted
        if len(problems) < MAX_LISTED_PROBLEMS:
            problems.append(_clip(text))
        else:
            unlisted += 1

    try:
        for line, row in rows:
            if isinstance(row, str):  # the row itself is malformed
                problem(row)
                continue
            level = row.get("levelofdetail", "").strip().upper()
            if level and level != "EXECUTION":
                ignored += 1
                continue
            executions += 1
            if executions > MAX_EXECUTIONS:
                raise _Refused([f"{path}:{line}: more than {MAX_EXECUTIONS:,} executions in one report; export a "
                                "shorter period"])
            texts = {**_EMPTY_ROW, **row}
            try:
                cells = FLEX_COLUMNS.clean(path, line, texts)
                trade = _trade_from_flex(f"{path}:{line}", cells, texts, path.name, now=now)
            except tabular.RowRefused as refused:  # a cell that is not what its column holds
                problem(str(refused))
            except ValueError as exc:  # an execution that cannot be one
                problem(f"{path}:{line}: {exc}")
            else:
                if not problems:  # once a row is refused the file is, so the trades after it are not kept
                    trades.append(trade)
    except tabular.FileRefused as refused:
        raise _Refused([*problems, str(refused)], unlisted) from None
    finally:
        rows.close()
    if problems:
        raise _Refused(problems, unlisted)
    return trades, ignored


def _xml_rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """(line, kept attributes) of each Trade element, fed to expat one bounded line at a time."""
    parser = expat.ParserCreate()
    found: list[tuple[int, dict[str, str]]] = []
    root: list[str] = []
    kept = frozenset(FLEX_COLUMNS.names)

    def start(name: str, attrs: dict[str, str]) -> None:
        if not root:
            root.append(name)
            if name != "FlexQueryResponse":
                raise _Refused([f"{path}:{parser.CurrentLineNumber}: not an IBKR Flex report (the root element is "
                                f"{tabular.clipped(name)}, expected FlexQueryResponse)"])
        if name == "Trade":
            found.append((parser.CurrentLineNumber,
                          {key: value for key, value in ((_column(k), v) for k, v in attrs.items()) if key in kept}))

    def doctype(*_args: Any) -> None:
        raise _Refused([f"{path}:{parser.CurrentLineNumber}: a DOCTYPE is not accepted in a Flex report"])

    parser.StartElementHandler = start
    parser.StartDoctypeDeclHandler = doctype
    try:
        for _number, _offset, raw in tabular.byte_lines(path, FLEX_FILE):
            parser.Parse(raw, False)
            yield from found
            found.clear()
        parser.Parse(b"", True)
    except expat.ExpatError as exc:
        raise _Refused([f"{path}:{exc.lineno}: not valid XML ({expat.errors.messages[exc.code]}); "
                        "export the Flex query again"]) from None
    yield from found
    if not root:
        raise _Refused([f"{path}:1: not an IBKR Flex report (the root element is missing, expected "
                        "FlexQueryResponse)"])


def _flex_records(path: Path) -> Iterator[tuple[int, list[str]]]:
    """The CSV records of a Flex report without its control rows (BOF, BOA, EOS, ...) and blank lines."""
    for line, fields in tabular.csv_records(path, FLEX_FILE):
        if fields and any(cell.strip() for cell in fields) and fields[0].strip().upper() not in _CONTROL_ROWS:
            yield line, fields


def _csv_rows(path: Path) -> Iterator[tuple[int, dict[str, str] | str]]:
    """(line, kept columns) of each data row, or (line, the problem) for a row of the wrong shape."""
    records = _flex_records(path)
    first = next(records, None)
    if first is None:
        raise _Refused([f"{path}: no header row found; expected a Flex trade report (CSV or XML)"])
    line, raw_header = first
    try:
        header = FLEX_HEADER.check_header(path, line, raw_header)
    except tabular.RowRefused as refused:
        raise _Refused([f"{refused} (in a Flex trade report: IBExecID, Conid, Buy/Sell, Quantity, TradePrice, "
                        "Date/Time, Symbol and AssetClass; other columns are ignored)"]) from None
    for line, fields in records:
        if fields == raw_header:  # the next section's header
            continue
        try:
            # One row at a time, so every malformed row is listed, not only the first.
            yield from FLEX_COLUMNS.rows(path, iter([(line, fields)]), header)
        except tabular.RowRefused as refused:
            yield line, str(refused)


def _trade_from_flex(where: str, cells: dict[str, Any], texts: dict[str, str], file_name: str, *,
                     now: datetime) -> _Trade:
    """One execution from the typed cells of its row; ValueError naming the field for one that cannot be.

    ``texts`` holds each cell as written, to quote it in a message.
    """
    def written(key: str) -> str:
        return tabular.clipped(texts[key].strip())

    side, symbol, sec_type = cells["buysell"], cells["symbol"], cells["assetcategory"]
    underlying = cells["underlyingsymbol"] if sec_type not in ("STK", "IND") and cells["underlyingsymbol"] else symbol
    quantity = cells["quantity"]
    if quantity == 0:
        raise ValueError("quantity is 0")
    if (side == Side.BUY) != (quantity > 0):
        raise ValueError(
            f"{side} with quantity {written('quantity')}: Flex quantities are positive for a BUY and negative for a "
            "SELL; check the export"
        )
    bounds.check_plausible(quantity, "quantity", "quantity", digits=QUANTITY_DIGITS)
    price = cells["tradeprice"]
    if price <= 0:
        raise ValueError(f"tradePrice {written('tradeprice')} must be above 0: a fill at 0 is not a real execution")
    bounds.check_plausible(price, "tradePrice", bounds.price_kind(sec_type), digits=PRICE_DIGITS)
    commission = None
    if (charged := cells["ibcommission"]) is not None:
        if charged > 0:
            raise ValueError(f"ibCommission {written('ibcommission')} is a credit; dspops records commissions as "
                             "costs. Record this fill by hand")
        bounds.check_plausible(charged, "ibCommission", "commission", digits=COMMISSION_DIGITS)
        if (currency := cells["ibcommissioncurrency"]) not in ("", "USD"):
            raise ValueError(f"commission in {tabular.clipped(currency)}; dspops records commissions in USD. Record "
                             "this fill by hand")
        commission = -charged
    if (multiplier := cells["multiplier"]) is not None:
        if multiplier <= 0:
            raise ValueError(f"multiplier {written('multiplier')} must be above 0")
        bounds.check_plausible(multiplier, "multiplier", "multiplier", digits=MULTIPLIER_DIGITS)
    executed = bounds.check_execution_time(cells["datetime"], now.astimezone(NEW_YORK).replace(microsecond=0),
                                           "dateTime")
    account = cells["accountid"]
    return _Trade(
        where=where, exec_id=cells["ibexecid"], con_id=cells["conid"], sec_type=sec_type, symbol=underlying,
        local_symbol=cells["localsymbol"] or symbol, side=side, quantity=abs(quantity), price=price,
        commission=commission, executed_at=executed.astimezone(timezone.utc), order_ref=cells["orderreference"],
        account=account, multiplier=multiplier, expiry=cells["expiry"],
        note=f"Flex report {file_name}" + (f", account {account}" if account else ""),
    )


# --- instruments ----------------------------------------------------------------------------------


def find_instrument(
    *, con_id: int | None, sec_type: str, symbol: str, local_symbol: str, near: date, expiry: date | None = None
) -> Instrument | None:
    """The Instrument of a broker contract, or None when dspops has none.

    Matched by conId, else by security type and local symbol (futures: and contract month,
    VXM months resolved near `near`). A match without a conId gets it recorded. Raises
    InstrumentMatchError when several instruments match, when the match holds another
    conId, or when a VXM local symbol cannot be read.
    """
    if con_id:
        found = Instrument.objects.filter(con_id=con_id).first()
        if found is not None:
            return found
    if sec_type not in SecType.values:
        return None
    candidates = Instrument.objects.filter(sec_type=sec_type, local_symbol__iexact=local_symbol)
    if sec_type == SecType.FUTURE:
        if symbol.upper() == VXM_ROOT:
            cm = _vxm_month(local_symbol, near=near, expiry=expiry)
            candidates = Instrument.objects.filter(
                sec_type=sec_type, local_symbol=cm.local_symbol(VXM_ROOT), contract_month=cm.label
            )
        elif expiry is not None:
            candidates = candidates.filter(settlement_date=expiry)
    else:
        candidates = candidates.filter(contract_month="")
    found_list = list(candidates[:3])
    if len(found_list) > 1:
        raise InstrumentMatchError(
            f"{len(found_list)} instruments match {sec_type} {local_symbol}; give each its conId in the admin"
        )
    if not found_list:
        return None
    instrument = found_list[0]
    if con_id:
        _record_con_id(instrument, con_id)
    return instrument


def _vxm_month(local_symbol: str, *, near: date, expiry: date | None) -> vx.ContractMonth:
    try:
        cm = vx.parse_local_symbol(local_symbol, near=near)
    except ValueError as exc:
        raise InstrumentMatchError(str(exc)) from None
    if expiry is not None and vx.settlement_date(cm) != expiry:
        raise InstrumentMatchError(
            f"{local_symbol} near {near} is {cm.label}, which settles {vx.settlement_date(cm)}, "
            f"but the broker says it expires {expiry}"
        )
    return cm


def _record_con_id(instrument: Instrument, con_id: int) -> None:
    if instrument.con_id == con_id:
        return
    if instrument.con_id is not None:
        raise InstrumentMatchError(
            f"{instrument} is conId {instrument.con_id} in dspops but the broker says {con_id}; "
            "check the instrument in the admin"
        )
    instrument.con_id = con_id
    instrument.save(update_fields=["con_id"])


def _instrument_for(trade: _Trade) -> Instrument:
    """The trade's Instrument, creating a missing VXM month. Raises ValueError saying why not."""
    near = clock.trading_date(trade.executed_at)
    instrument = find_instrument(
        con_id=trade.con_id, sec_type=trade.sec_type, symbol=trade.symbol, local_symbol=trade.local_symbol,
        near=near, expiry=trade.expiry,
    )
    if instrument is None and trade.sec_type == SecType.FUTURE and trade.symbol.upper() == VXM_ROOT:
        instrument = vxm_instrument(_vxm_month(trade.local_symbol, near=near, expiry=trade.expiry))
        if trade.con_id:
            _record_con_id(instrument, trade.con_id)
    if instrument is None:
        raise ValueError(f"unknown contract {trade.contract}: add the instrument first")
    if trade.multiplier is not None and trade.multiplier != instrument.multiplier:
        raise ValueError(
            f"{trade.contract} has multiplier {trade.multiplier.normalize():f} at the broker but "
            f"{instrument.multiplier.normalize():f} in dspops; check the instrument in the admin"
        )
    return instrument


# --- attribution ----------------------------------------------------------------------------------


class _Attribution:
    """Which sleeve a fill belongs to: by order ref, else by an instrument only one sleeve holds."""

    def __init__(self) -> None:
        self.sleeves = {s.code: s for s in Sleeve.objects.all()}
        self.prefixes = sorted(
            ((s.order_ref_prefix.lower(), s) for s in self.sleeves.values() if s.order_ref_prefix),
            key=lambda item: -len(item[0]),
        )
        self.stock_symbols: dict[str, set[str]] = {}
        self.future_roots: dict[str, set[str]] = {}
        try:
            if "VRP_CS" in self.sleeves:
                self.future_roots["VRP_CS"] = {_setting("VRP_CS", "contract_root")}
            if "VRP_ERP" in self.sleeves:
                self.stock_symbols["VRP_ERP"] = {_setting("VRP_ERP", "symbol")}
            if "DM" in self.sleeves:
                self.stock_symbols["DM"] = set(_setting("DM", "risky_universe")) | {_setting("DM", "cash_symbol")}
        except parameters.ParameterError as exc:
            raise _Refused([f"the sleeve settings cannot be read to attribute fills ({exc}); fix them in the "
                            "admin"]) from None

    def by_order_ref(self, order_ref: str) -> Sleeve | None:
        ref = order_ref.strip().lower()
        for prefix, sleeve in self.prefixes:
            if ref.startswith(prefix) and (len(ref) == len(prefix) or not ref[len(prefix)].isalnum()):
                return sleeve
        return None

    def holders(self, instrument: Instrument) -> list[Sleeve]:
        if instrument.sec_type == SecType.FUTURE:
            codes = [code for code, roots in self.future_roots.items() if instrument.symbol.upper() in roots]
        elif instrument.sec_type == SecType.STOCK:
            codes = [code for code, symbols in self.stock_symbols.items() if instrument.symbol.upper() in symbols]
        else:
            codes = []
        return [self.sleeves[code] for code in sorted(codes)]

    def sleeve_for(self, order_ref: str, instrument: Instrument) -> tuple[Sleeve | None, str]:
        """(sleeve, "") or (None, why no sleeve could be chosen)."""
        by_ref = self.by_order_ref(order_ref)
        if by_ref is not None:
            return by_ref, ""
        holders = self.holders(instrument)
        if len(holders) == 1:
            return holders[0], ""
        known = ", ".join(prefix for prefix, _ in sorted(self.prefixes)) or "none defined"
        ref = (f"its order ref {order_ref!r} starts with no sleeve's prefix ({known})" if order_ref
               else "it has no order ref")
        held = (f"{instrument.local_symbol} can belong to {' or '.join(s.code for s in holders)}" if holders
                else f"no sleeve holds {instrument.local_symbol}")
        return None, f"{ref} and {held}"


def _setting(scope: str, key: str) -> Any:
    """One typed sleeve setting. Only what attribution needs: an unrelated threshold must not block fills."""
    text = SleeveParameter.objects.filter(sleeve__code=scope, key=key).values_list("value", flat=True).first()
    if text is None:
        raise parameters.ParameterError(f"{scope} is missing the setting {key!r}")
    return parameters.spec(scope, key).parse(text)


# --- writing --------------------------------------------------------------------------------------


def _checked(trade: _Trade, now: datetime) -> list[str]:
    """What is wrong with one execution, from a file or the broker (DECISIONS.md section 11)."""
    problems = []
    if not trade.exec_id:
        problems.append("the broker sent no exec id")
    elif len(trade.exec_id) > _max_length("exec_id"):
        problems.append(f"exec id {tabular.shown(trade.exec_id)} is longer than {_max_length('exec_id')} characters")
    if trade.side not in Side.values:
        problems.append(f"side {tabular.shown(trade.side)} must be BUY or SELL")
    if not trade.quantity.is_finite() or trade.quantity <= 0:
        problems.append(f"quantity {trade.quantity} must be above 0")
    elif problem := _out_of_bounds(trade.quantity, "quantity", "quantity", QUANTITY_DIGITS):
        problems.append(problem)
    elif trade.quantity != trade.quantity.quantize(_step(QUANTITY_DIGITS)):
        problems.append(f"quantity {trade.quantity} has more than {QUANTITY_DIGITS[1]} decimals")
    if not trade.price.is_finite() or trade.price <= 0:
        problems.append(f"price {trade.price} must be above 0: a fill at 0 is not a real execution")
    elif problem := _out_of_bounds(trade.price, "price", bounds.price_kind(trade.sec_type), PRICE_DIGITS):
        problems.append(problem)
    if trade.commission is not None and (not trade.commission.is_finite() or trade.commission < 0):
        problems.append(f"commission {trade.commission} cannot be negative")
    elif trade.commission is not None and (
            problem := _out_of_bounds(trade.commission, "commission", "commission", COMMISSION_DIGITS)):
        problems.append(problem)
    if trade.multiplier is not None and (
            problem := _out_of_bounds(trade.multiplier, "multiplier", "multiplier", MULTIPLIER_DIGITS)):
        problems.append(problem)
    try:
        bounds.check_execution_time(trade.executed_at, now, "execution time")
    except bounds.OutOfBounds as exc:
        problems.append(str(exc))
    return [f"{trade.where}: {p}" for p in problems]


def _out_of_bounds(value: Decimal, what: str, kind: str, digits: tuple[int, int]) -> str | None:
    """Why ``value`` is no ``kind`` (a finite number in the plausible range that fits its column), or None."""
    try:
        bounds.check_plausible(value, what, kind, digits=digits)
    except bounds.OutOfBounds as exc:
        return str(exc)
    return None


def _import(
    trades: list[_Trade], *, source: str, simulated: bool, user, started: datetime, inputs: dict,
    triggered_by: str, sources: dict,
) -> FillImportReport:
    try:
        with transaction.atomic():
            report = _write(trades, source=source, simulated=simulated, user=user)
            run = MonitorRun.objects.create(
                kind=RunKind.FILL_SYNC, trading_date=clock.current_session(), started_at=started,
                finished_at=clock.now(), status=RunStatus.OK, simulated=simulated, triggered_by=triggered_by,
                inputs=inputs, sources=sources,
                outputs={"created": report.created, "skipped": report.skipped, "unattributed": report.unattributed,
                         "by_sleeve": report.by_sleeve},
            )
    except _Refused as refused:
        _store_failed_run(RunStatus.ERROR, str(refused), started=started, inputs=inputs,
                          triggered_by=triggered_by, simulated=simulated)
        raise FillImportError(str(refused)) from None
    return replace(report, run_id=run.pk)


def _write(trades: list[_Trade], *, source: str, simulated: bool, user) -> FillImportReport:
    problems: list[str] = []
    first_seen: dict[str, _Trade] = {}
    fresh: list[_Trade] = []
    skipped = 0
    recorded = set(
        Fill.objects.filter(exec_id__in=[t.exec_id for t in trades if t.exec_id]).values_list("exec_id", flat=True)
    )
    now = clock.now()
    for trade in trades:
        trade_problems = _checked(trade, now)
        if trade_problems:
            problems.extend(trade_problems)
            continue
        earlier = first_seen.get(trade.exec_id)
        if earlier is not None:
            if _same_execution(earlier, trade):
                skipped += 1
            else:
                problems.append(f"{trade.where}: exec id {trade.exec_id} also appears at {earlier.where} "
                                "with other values")
            continue
        first_seen[trade.exec_id] = trade
        if trade.exec_id in recorded:
            skipped += 1
        else:
            fresh.append(trade)
    if problems:
        raise _Refused(problems)
    fresh, superseded_in_batch = _latest_corrections(fresh)
    skipped += superseded_in_batch
    replaced = _replaced_fills(fresh)

    attribution = _Attribution()
    pending: list[tuple[_Trade, Fill, str]] = []
    for trade in fresh:
        try:
            instrument = _instrument_for(trade)
        except ValueError as exc:
            problems.append(f"{trade.where}: {exc}")
            continue
        sleeve, why_none = attribution.sleeve_for(trade.order_ref, instrument)
        fill = Fill(
            sleeve=sleeve, instrument=instrument, side=trade.side, quantity=trade.quantity,
            price=trade.price.quantize(_step(PRICE_DIGITS)),
            commission=None if trade.commission is None else trade.commission.quantize(_step(COMMISSION_DIGITS),
                                                                                       ROUND_HALF_UP),
            executed_at=trade.executed_at, exec_id=trade.exec_id, order_ref=trade.order_ref[:_max_length("order_ref")],
            source=source, note=trade.note[:_max_length("note")], entered_by=user,
        )
        try:
            fill.full_clean(validate_unique=False)
        except ValidationError as exc:
            problems.append(f"{trade.where}: {'; '.join(exc.messages)}")
            continue
        pending.append((trade, fill, why_none))
    if problems:
        raise _Refused(problems)

    by_sleeve: Counter[str] = Counter()
    unattributed = []
    corrected = []
    with positions_batch():  # a backfilled report replays each position once, not once per earlier-dated fill
        for trade, fill, why_none in pending:
            for old in replaced.get(trade.exec_id, ()):
                reverse_fill(fill=old, user=user,
                             reason=f"IBKR corrected execution {old.exec_id}: replaced by {trade.exec_id}")
                corrected.append(old.exec_id)
            fill.save()
            if fill.sleeve is not None:
                by_sleeve[fill.sleeve.code] += 1
                continue
            unattributed.append(trade.exec_id)
            subject, message = fill.unattributed_alert(why=why_none)
            raise_alert(code=UNATTRIBUTED_ALERT, subject=subject, severity="warning", message=message)
    return FillImportReport(
        created=len(pending), skipped=skipped, unattributed=unattributed, simulated=simulated, source=source,
        by_sleeve=dict(sorted(by_sleeve.items())), corrected=corrected,
    )


def _correction_key(exec_id: str) -> tuple[str, int] | None:
    """IBKR exec ids end in a correction number ("0001f4e8.6570a1b2.01.01" -> ("0001f4e8.6570a1b2.01", 1)).

    A correction re-reports the execution with the next number; the highest one is the execution.
    """
    base, _, suffix = exec_id.rpartition(".")
    if not base or not re.fullmatch(r"[0-9]{1,9}", suffix):
        return None
    return base, int(suffix)


def _latest_corrections(trades: list[_Trade]) -> tuple[list[_Trade], int]:
    """Within one batch, keep only the latest correction of each execution; count the dropped ones."""
    latest: dict[str, int] = {}
    for trade in trades:
        key = _correction_key(trade.exec_id)
        if key:
            latest[key[0]] = max(latest.get(key[0], key[1]), key[1])
    kept = [t for t in trades if not (key := _correction_key(t.exec_id)) or latest[key[0]] == key[1]]
    return kept, len(trades) - len(kept)


def _replaced_fills(trades: list[_Trade]) -> dict[str, list[Fill]]:
    """For each new execution, the recorded fills of its earlier corrections that still count."""
    replaced: dict[str, list[Fill]] = {}
    for trade in trades:
        key = _correction_key(trade.exec_id)
        if key is None:
            continue
        earlier = [f for f in Fill.objects.filter(exec_id__startswith=f"{key[0]}.", reverses__isnull=True,
                                                  reversed_by__isnull=True)
                   if (k := _correction_key(f.exec_id)) and k[0] == key[0] and k[1] < key[1]]
        if earlier:
            replaced[trade.exec_id] = earlier
    return replaced


def _same_execution(a: _Trade, b: _Trade) -> bool:
    return (a.con_id, a.side, a.quantity, a.price, a.executed_at) == (b.con_id, b.side, b.quantity, b.price,
                                                                      b.executed_at)


def _store_failed_run(
    status: str, reason: str, *, started: datetime, inputs: dict, triggered_by: str, simulated: bool
) -> MonitorRun:
    with transaction.atomic():
        return MonitorRun.objects.create(
            kind=RunKind.FILL_SYNC, trading_date=clock.current_session(), started_at=started,
            finished_at=clock.now(), status=status, reason=reason, simulated=simulated,
            triggered_by=triggered_by, inputs=inputs,
        )


# --- attributing by hand --------------------------------------------------------------------------


def attribute_fill(*, fill: Fill, sleeve: Sleeve, user) -> Fill:
    """Give an unattributed fill its sleeve, with a history row naming the user.

    Only the sleeve changes, and only while it is empty (a conditional UPDATE that must change
    exactly one row). The fill's unattributed alert is resolved. Raises ValidationError when
    the fill already belongs to a sleeve: then the fix is a reversing fill and a new one.
    """
    with transaction.atomic():
        changed = Fill.objects.filter(pk=fill.pk, sleeve__isnull=True).update(sleeve=sleeve)
        if changed != 1:
            current = Fill.objects.filter(pk=fill.pk).values_list("sleeve__code", flat=True).first()
            raise ValidationError(
                f"Fill #{fill.pk} already belongs to {current}. To move it, record a reversing fill and a new one."
            )
        fill.refresh_from_db()
        Fill.history.bulk_history_create(
            [fill], update=True, default_user=user, default_change_reason=f"attributed to {sleeve.code}"
        )
        if fill.exec_id:
            still_open = (
                Alert.objects.filter(code=UNATTRIBUTED_ALERT, resolved_at__isnull=True)
                .exclude(subject=fill.exec_id)
                .values_list("subject", flat=True)
            )
            resolve_alerts(code=UNATTRIBUTED_ALERT, keep_subjects=list(still_open))
    return fill

