"""The wire framing of the TWS API: every message is a 4-byte big-endian length, then its fields,
each ended by a NUL. Encoding writes a field the way TWS does (None as empty, booleans as 0/1,
whole floats without a decimal point); decoding splits a frame back into its text fields.
"""

from __future__ import annotations

import asyncio
import struct
from typing import Any

__all__ = ["decode", "encode", "format_field", "frame", "read_frame"]

MAX_FRAME_BYTES = 10_000_000


def format_field(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    return str(value)


def frame(payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + payload


def encode(fields: list[Any] | tuple[Any, ...]) -> bytes:
    return frame("".join(format_field(f) + "\0" for f in fields).encode())


async def read_frame(reader: asyncio.StreamReader) -> bytes:
    """The payload of the next frame; ConnectionError for an absurdly large one."""
    header = await reader.readexactly(4)
    (size,) = struct.unpack(">I", header)
    if size > MAX_FRAME_BYTES:
        raise ConnectionError(f"message of {size} bytes is too large")
    return await reader.readexactly(size)


def decode(payload: bytes) -> list[str]:
    """A message's fields as text (the NUL after the last field ends it; it opens no empty field)."""
    fields = payload.decode(errors="replace").split("\0")
    if fields and fields[-1] == "":
        fields.pop()
    return fields
