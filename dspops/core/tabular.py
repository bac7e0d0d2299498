"""Reading an operator's file as a stream, within limits (DECISIONS.md section 11).

Every importer (legacy files, Flex fills, price history) reads its files through here, so a file
that is too large, has a line without end, is not UTF-8 or is binary is refused early, with the
file, the line and what is wrong, and without ever holding more than one line in memory.

Pure: no Django. A refusal is a ``FileRefused`` (a ValueError) carrying the path, the line (None
when the whole file is refused) and the reason; ``str()`` gives ``"path:line: reason"`` without
a final full stop, so each importer ends the message in its own style.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
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
    """How large a file of one kind may be. ``kind`` names it in messages ("a price file")."""

    kind: str
    max_bytes: int
    max_line_bytes: int = 64 * KIB
    max_rows: int | None = None  # records with any field (the header included)
    too_many: str = "Split it into several files"  # what to do about a file with more than max_rows


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
    handle = _opened(path, limits)
    with handle:
        try:
            return handle.read(size)
        except OSError as exc:
            raise FileRefused(path, None, f"cannot be read ({exc.strerror or exc})") from None


def byte_lines(path: Path, limits: Limits) -> Iterator[tuple[int, int, bytes]]:
    """(line number, byte offset of the line, the line's bytes with its line break) for each line.

    Never reads more than one line (at most ``max_line_bytes``) at a time; refuses a longer line,
    and a file that turns out larger than ``max_bytes`` while it is read.
    """
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

    A quoted field may span lines (the line is then the record's first). Counts records with
    any field against ``max_rows`` (the header included) and refuses one more.
    """
    consumed = 0

    def lines() -> Iterator[str]:
        nonlocal consumed
        for number, text in text_lines(path, limits):
            consumed = number
            yield text

    reader = csv.reader(lines())
    records = 0
    while True:
        start = consumed + 1
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
