"""Reading an operator's file as a stream, within limits (DECISIONS.md section 11).

Every importer (legacy files, Flex fills, price history) reads its files through here, so a file
that is too large, has a line without end, is not UTF-8 or is binary is refused early, with the
file, the line and what is wrong, and without ever holding more than one line in memory.

The streaming part is plain Python. The typed part (``Column``, ``Table``) reads each cell with a
Django form field, so a column's precision comes from the model field or dspops.core.bounds, never
from a literal, and checks its plausibility with dspops.core.bounds. A refusal is a ``FileRefused``
(a ValueError; ``RowRefused`` for a row's shape or cell) carrying the path, the line (None when the
whole file is refused) and the reason; ``str()`` gives ``"path:line: reason"`` without a final
full stop, so each importer ends the message in its own style.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import date, time
from decimal import Decimal
from pathlib import Path
from typing import Any

from django import forms
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, ValidationError

from dspops.core import bounds
from dspops.core.errors import OperatorError

BOM = b"\xef\xbb\xbf"
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
KIB = 1024
MIB = 1024 * 1024


class FileRefused(OperatorError, ValueError):
    """The file cannot be read as the text it should be. Nothing has been imported from it."""

    def __init__(self, path: Path | str, line: int | None, reason: str):
        self.path, self.line, self.reason = Path(path), line, reason
        super().__init__(f"{path}:{line}: {reason}" if line else f"{path}: {reason}")


@dataclass(frozen=True)
class Limits:
    """How large a file of one kind may be. ``kind`` names it in messages ("a price file").

    ``max_line_bytes`` bounds a line, and a CSV record (a quoted field may run over several lines).
    ``setting`` names a Django setting that, when it is defined, replaces ``max_bytes`` (a deployment
    may take larger files than the default); it is read each time a file is opened.
    """

    kind: str
    max_bytes: int
    max_line_bytes: int = 64 * KIB
    max_rows: int | None = None  # records with any field (the header included)
    too_many: str = "Split it into several files"  # what to do about a file with more than max_rows
    setting: str = ""

    def current(self) -> Limits:
        """These limits with ``max_bytes`` from the setting ``setting`` when it is defined."""
        if not self.setting:
            return self
        value = getattr(settings, self.setting, self.max_bytes)
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ImproperlyConfigured(f"{self.setting} must be a positive whole number of bytes, not {value!r}.")
        return self if value == self.max_bytes else replace(self, max_bytes=value)


def size_text(n: int) -> str:
    """1536 -> "1.5 KiB", 52428800 -> "50.0 MiB" (bytes below 1 KiB as they are)."""
    if n < KIB:
        return f"{n} bytes"
    if n < MIB:
        return f"{n / KIB:.1f} KiB"
    return f"{n / MIB:.1f} MiB"


def limit_text(n: int) -> str:
    """A limit as it was chosen: 64 KiB, 32 MiB."""
    if n % MIB == 0:
        return f"{n // MIB} MiB"
    if n % KIB == 0:
        return f"{n // KIB} KiB"
    return f"{n:,} bytes"


def shown(value: object, limit: int = 40) -> str:
    """``repr(value)``, cut to ``limit`` characters so a 60 KB cell never fills a message."""
    text = repr(value)
    if len(text) <= limit:
        return text
    length = f" ({len(value):,} characters)" if isinstance(value, str) else ""
    return f"{text[: limit - 1]}…{length}"


def clipped(text: str, limit: int = 40) -> str:
    """``text`` as written, cut to ``limit`` characters (saying how long it was) for a message."""
    return text if len(text) <= limit else f"{text[: limit - 1]}… ({len(text):,} characters)"


def _opened(path: Path, limits: Limits):
    try:
        handle = open(path, "rb")  # noqa: SIM115 - the caller's generator closes it
    except OSError as exc:
        raise FileRefused(path, None, f"cannot be read ({exc.strerror or exc})") from None
    try:
        size = os.fstat(handle.fileno()).st_size
    except OSError as exc:
        handle.close()
        raise FileRefused(path, None, f"cannot be read ({exc.strerror or exc})") from None
    if size > limits.max_bytes:
        handle.close()
        raise FileRefused(path, None, f"the file is {size_text(size)}; {limits.kind} may be at most "
                                      f"{limit_text(limits.max_bytes)}. Check that it is the right file, or split it")
    return handle


def head(path: Path, limits: Limits, size: int = 4 * KIB) -> bytes:
    """The first bytes of the file (after the same size check as the readers)."""
    handle = _opened(path, limits.current())
    with handle:
        try:
            return handle.read(size)
        except OSError as exc:
            raise FileRefused(path, None, f"cannot be read ({exc.strerror or exc})") from None


def byte_lines(path: Path, limits: Limits) -> Iterator[tuple[int, int, bytes]]:
    """(line number, byte offset of the line, the line's bytes with its line break) for each line.

    Never reads more than one line (at most ``max_line_bytes``) at a time; refuses a longer line,
    and a file that turns out larger than ``max_bytes`` while it is read (a pipe, whose size is not
    known when it is opened, or a file that grows).
    """
    limits = limits.current()
    handle = _opened(path, limits)
    with handle:
        offset = 0
        number = 0
        while True:
            try:
                raw = handle.readline(limits.max_line_bytes + 1)
            except OSError as exc:
                raise FileRefused(path, number + 1, f"cannot be read ({exc.strerror or exc})") from None
            if not raw:
                return
            number += 1
            if len(raw) > limits.max_line_bytes:
                raise FileRefused(path, number, (
                    f"the line is longer than {limit_text(limits.max_line_bytes)} (no line break within "
                    f"{limits.max_line_bytes:,} bytes from byte {offset:,} of the file); this is not {limits.kind}"))
            if offset + len(raw) > limits.max_bytes:
                raise FileRefused(path, number, f"the file is larger than the {limit_text(limits.max_bytes)} "
                                                f"{limits.kind} may be")
            yield number, offset, raw
            offset += len(raw)


def _decode(path: Path, number: int, offset: int, raw: bytes) -> str:
    if number == 1:
        if raw.startswith(UTF16_BOMS):
            raise FileRefused(path, 1, "the file is UTF-16 text (it starts with a UTF-16 byte-order mark), not "
                                       "UTF-8; save it as UTF-8 (in Excel: CSV UTF-8) and import again")
        if raw.startswith(BOM):
            raw, offset = raw[len(BOM):], offset + len(BOM)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        byte = raw[exc.start]
        raise FileRefused(path, number, (
            f"not UTF-8 text: byte 0x{byte:02x} at byte {offset + exc.start:,} of the file ({exc.reason}); "
            "save the file as UTF-8 (in Excel: CSV UTF-8) and import again")) from None
    nul = text.find("\x00")
    if nul >= 0:
        at = offset + len(text[:nul].encode("utf-8"))
        raise FileRefused(path, number, f"a NUL byte at byte {at:,} of the file: this is a binary file (or "
                                        "UTF-16 text), not UTF-8 text")
    return text


def text_lines(path: Path, limits: Limits) -> Iterator[tuple[int, str]]:
    """(line number, text with its line break) for each line, decoded as UTF-8 (a BOM is dropped).

    Refuses UTF-16, any byte that is not UTF-8 and NUL bytes, naming the line and the byte offset.
    """
    for number, offset, raw in byte_lines(path, limits):
        yield number, _decode(path, number, offset, raw)


def read_text(path: Path, limits: Limits) -> str:
    """The whole file as text, for small files read at once (JSON, a digest): the same checks."""
    return "".join(text for _, text in text_lines(path, limits))


def csv_records(path: Path, limits: Limits) -> Iterator[tuple[int, list[str]]]:
    """(first line of the record, fields) for each CSV record; blank lines come as ``[]``.

    A quoted field may span lines (the line is then the record's first); a record is bounded like a
    line, by ``max_line_bytes`` (else one unclosed quote would gather the rest of the file into one
    record in memory). Counts records with any field against ``max_rows`` (the header included) and
    refuses one more.
    """
    consumed = 0
    read = 0  # bytes of the file handed to the csv reader
    record_from = 0  # the byte offset where the record being read starts

    def lines() -> Iterator[str]:
        nonlocal consumed, read
        for number, offset, raw in byte_lines(path, limits):
            consumed, read = number, offset + len(raw)
            if read - record_from > limits.max_line_bytes:
                raise FileRefused(path, start, (
                    f"the record is longer than {limit_text(limits.max_line_bytes)} (a quoted field runs on from "
                    f"line {start} to line {number} without its closing quote?); this is not {limits.kind}"))
            yield _decode(path, number, offset, raw)

    reader = csv.reader(lines())
    records = 0
    while True:
        start = consumed + 1
        record_from = read
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise FileRefused(path, max(consumed, start), f"not valid CSV ({exc})") from None
        if fields:
            records += 1
            if limits.max_rows is not None and records > limits.max_rows:
                raise FileRefused(path, start, f"more than {limits.max_rows:,} rows; {limits.kind} may hold at most "
                                               f"{limits.max_rows:,}. {limits.too_many}")
        yield start, fields


# --------------------------------------------------------------------------------------------------
# The typed layer: columns with Django form fields, checked against dspops.core.bounds.
#
# A Column turns the text of one cell into a value with its form field (the field holds the precision
# and the limits; a model field's own shape comes with Column.model) and then asks dspops.core.bounds
# whether the value is plausible. A refusal is a CellError whose message reads
# "<label> <the text as written> <reason>" (bounds' own messages: "<label> <value> is outside ..."),
# without a final full stop; a Table adds the file and the line (a RowRefused).


class RowRefused(FileRefused):
    """A row of the file (its shape or one of its cells) cannot be read. Nothing has been imported."""


class CellError(OperatorError, ValueError):
    """One cell cannot be read; the message names the column and the text, without the file and line."""


def _message(field: forms.Field, code: str, default: str, **params: Any) -> str:
    text = field.error_messages.get(code, default)
    return str(text) % params if params and "%(" in str(text) else str(text)


class IsoDateField(forms.DateField):
    """A date written YYYY-MM-DD (ISO 8601), nothing else: the files are machine-written."""

    default_error_messages = {"required": "is empty", "invalid": "is not a date (YYYY-MM-DD)"}

    def to_python(self, value):
        if value in self.empty_values:
            return None
        if isinstance(value, date):
            return value
        try:
            return date.fromisoformat(str(value).strip())
        except ValueError:
            raise ValidationError(self.error_messages["invalid"], code="invalid") from None


class ClockTimeField(forms.TimeField):
    """A time of day written HH:MM or HH:MM:SS."""

    default_error_messages = {"required": "is empty", "invalid": "is not a time (HH:MM:SS)"}

    def to_python(self, value):
        if value in self.empty_values:
            return None
        raw = str(value).strip()
        if not re.fullmatch(r"\d{2}:\d{2}(:\d{2})?", raw):
            raise ValidationError(self.error_messages["invalid"], code="invalid")
        try:
            return time.fromisoformat(raw)
        except ValueError:
            raise ValidationError(self.error_messages["invalid"], code="invalid") from None


class WholeNumberField(forms.IntegerField):
    """ASCII digits with an optional sign, at most ``max_digits`` of them (int() would take 1_000 and ١٢)."""

    default_error_messages = {"required": "is empty", "invalid": "is not a whole number", "max_digits": "is too large"}

    def __init__(self, *, max_digits: int = 18, **kwargs):
        self.max_digits = max_digits
        super().__init__(**kwargs)

    def to_python(self, value):
        if value in self.empty_values:
            return None
        raw = str(value).strip()
        if not re.fullmatch(r"[-+]?[0-9]+", raw):
            raise ValidationError(self.error_messages["invalid"], code="invalid")
        if len(raw.lstrip("+-").lstrip("0")) > self.max_digits:
            raise ValidationError(self.error_messages["max_digits"], code="max_digits")
        return int(raw)


class TrueFalseField(forms.Field):
    """True or False in any case (how Python's csv writer spelled a bool)."""

    default_error_messages = {"required": "is empty", "invalid": "is not True or False"}

    def to_python(self, value):
        if value in self.empty_values:
            return None
        raw = str(value).strip().lower()
        if raw not in {"true", "false"}:
            raise ValidationError(self.error_messages["invalid"], code="invalid")
        return raw == "true"


def decimal_field(digits: tuple[int, int], field_class: type[forms.DecimalField] = forms.DecimalField,
                  **kwargs) -> forms.DecimalField:
    """A form field for a number of a column's shape (``bounds.PRICE_DIGITS``, a model field's ``digits_of``)."""
    messages = {"required": "is empty", "invalid": "is not a number", "max_digits": "is too large",
                "max_whole_digits": "is too large", "max_decimal_places": "has more than %(max)s decimal places", **kwargs.pop("error_messages", {})}
    max_digits, places = digits
    return field_class(max_digits=max_digits, decimal_places=places, error_messages=messages, **kwargs)


def digits_of(model, name: str) -> tuple[int, int]:
    """(max_digits, decimal_places) of a model's DecimalField: a column's precision, stated once."""
    field = model._meta.get_field(name)
    return field.max_digits, field.decimal_places


@dataclass(frozen=True)
class Column:
    """One typed column: its name in the header, the form field that reads it, and its bounds.

    ``label`` names it in messages (the name when empty). ``missing`` lists texts that mean "no
    value" (compared lower-case, e.g. "nan"); a blank cell is no value when the field is not
    required. ``rounded`` rounds a number to the field's places instead of refusing more.
    ``above_zero`` is the reason a number at or below 0 is refused. A date lies within
    dspops.core.bounds' dates; ``kind`` is the dspops.core.bounds.PLAUSIBLE range a number must lie
    in. ``upper`` reads text upper-case.
    """

    name: str
    field: forms.Field
    label: str = ""
    missing: tuple[str, ...] = ()
    rounded: bool = False
    above_zero: str = ""
    kind: str | None = None
    upper: bool = False

    @property
    def what(self) -> str:
        return self.label or self.name

    def refused(self, text: str, reason: str) -> CellError:
        return CellError(f"{self.what} {shown(text)} {reason}")

    def convert(self, text: str) -> Any:
        """The typed value of one cell (None for no value); CellError saying why not."""
        field = self.field
        raw = text.strip()
        if self.missing and raw.lower() in self.missing:
            return None
        if raw == "" and not field.required:
            return field.to_python("")  # "" for text, None for anything else
        if self.upper:
            raw = raw.upper()
        try:
            value = field.to_python(raw)
            if isinstance(value, Decimal) and value.is_finite():
                if self.above_zero and value <= 0:
                    raise ValidationError(self.above_zero, code="above_zero")
                value = self._shaped(value)
            field.validate(value)
            field.run_validators(value)
        except ValidationError as exc:
            error = exc.error_list[0]
            reason = str(error.message) % (error.params or {}) if error.params else str(error.message)
            raise self.refused(text, reason.rstrip(".")) from None
        if value is None:
            return None
        if self.above_zero and value <= 0:
            raise self.refused(text, self.above_zero)
        if isinstance(value, date):
            try:
                bounds.check_date(value, self.what)
            except bounds.OutOfBounds as exc:
                raise CellError(str(exc)) from None
        if self.kind is not None:
            digits = (getattr(field, "max_digits", None) or 18, getattr(field, "decimal_places", None) or 0)
            try:
                bounds.check_plausible(value, self.what, self.kind, digits=digits)
            except bounds.OutOfBounds as exc:
                raise CellError(str(exc)) from None
        return value

    def _shaped(self, value: Decimal) -> Decimal:
        """Decimal places first (more refused, or rounded), then the digits before the point."""
        field = self.field
        places, max_digits = field.decimal_places, field.max_digits
        if places is None or max_digits is None:  # a number of no column's shape (a setting's text)
            return value
        if value != 0 and value.adjusted() + 1 > max_digits - places:
            raise ValidationError(_message(field, "max_whole_digits", "is too large", max=max_digits - places),
                                  code="max_whole_digits")
        if value.as_tuple().exponent < -places:
            if not self.rounded:
                raise ValidationError(_message(field, "max_decimal_places", "has more than %(max)s decimal places",
                                               max=places), code="max_decimal_places")
            value = value.quantize(Decimal(1).scaleb(-places))
            if self.above_zero and value <= 0:
                raise ValidationError(f"{self.above_zero} (it rounds to 0 at {places} decimals)", code="rounds_to_0")
        return value


Row = dict[str, str]


@dataclass(frozen=True)
class Table:
    """A CSV file of typed columns: the header must name them, and each row is cleaned by them.

    ``extra`` lets the header hold other columns, which are dropped as each row is read (a broker
    report has dozens). ``header_key`` turns a header cell into a column name (strip by default).
    ``shape`` is the reason a row with the wrong number of fields is refused: ``{expected}``,
    ``{found}`` and ``{what}`` ("the row is truncated" or "the row has extra fields").
    """

    columns: tuple[Column, ...]
    limits: Limits
    extra: bool = False
    header_key: Callable[[str], str] = str.strip
    shape: str = "expected {expected} fields, found {found}"

    @property
    def names(self) -> list[str]:
        return [column.name for column in self.columns]

    def records(self, path: Path) -> Iterator[tuple[int, list[str]]]:
        return csv_records(Path(path), self.limits)

    def check_header(self, path: Path, line: int, fields: list[str] | None) -> list[str]:
        """The header's column names; RowRefused naming the missing, unknown and repeated ones."""
        expected = ",".join(self.names)
        if fields is None:
            raise RowRefused(path, line, f"the file is empty; expected the header {expected}")
        header = [self.header_key(name) for name in fields]
        missing = [c for c in self.names if c not in header]
        unknown = [] if self.extra else [c for c in header if c not in self.names]
        twice = len(header) != len(set(header)) and not self.extra
        if missing or unknown or twice:
            parts = []
            if missing:
                parts.append(f"missing column(s) {', '.join(missing)}")
            if unknown:
                parts.append(f"unknown column(s) {clipped(', '.join(unknown), 200)}")
            if twice:
                parts.append("a column is named twice")
            raise RowRefused(path, line, f"unexpected header ({'; '.join(parts)}); expected {expected}")
        return header

    def rows(self, path: Path, records: Iterator[tuple[int, list[str]]] | None = None,
             header: list[str] | None = None) -> Iterator[tuple[int, Row]]:
        """(line, the text of each column by name) for each data row; blank rows are skipped.

        Reads and checks the header first unless ``header`` (already read from ``records``) is given.
        """
        path = Path(path)
        if records is None:
            records = self.records(path)
        if header is None:
            first, fields = next(records, (1, None))
            header = self.check_header(path, first, fields)
        wanted = set(self.names)
        for line, fields in records:
            if not fields or all(not cell.strip() for cell in fields):
                continue
            if len(fields) != len(header):
                what = "the row is truncated" if len(fields) < len(header) else "the row has extra fields"
                raise RowRefused(path, line, self.shape.format(expected=len(header), found=len(fields), what=what))
            yield line, {name: cell for name, cell in zip(header, fields) if name in wanted}

    def clean(self, path: Path, line: int, row: Row, names: Iterable[str] | None = None) -> dict[str, Any]:
        """The typed values of ``row`` (of the columns ``names``, all by default); RowRefused at the first bad cell."""
        chosen = self.columns if names is None else [self.column(name) for name in names]
        values = {}
        for column in chosen:
            try:
                values[column.name] = column.convert(row[column.name])
            except CellError as exc:
                raise RowRefused(path, line, str(exc)) from None
        return values

    def column(self, name: str) -> Column:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(name)
