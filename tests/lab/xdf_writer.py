"""A minimal XDF 1.0 writer, following the specification (github.com/sccn/xdf/wiki/Specifications):
the magic "XDF:", then chunks of [NumLengthBytes][Length][Tag u16][content], little-endian.
Tags: 1 FileHeader, 2 StreamHeader, 3 Samples, 4 ClockOffset, 6 StreamFooter; numeric samples
are [TimestampBytes 8][timestamp f64][values], counted by a variable-length NumSamples."""

from __future__ import annotations

import struct
from collections.abc import Sequence
from pathlib import Path


def _varlen(n: int) -> bytes:
    if n < 1 << 8:
        return b"\x01" + struct.pack("<B", n)
    if n < 1 << 32:
        return b"\x04" + struct.pack("<I", n)
    return b"\x08" + struct.pack("<Q", n)


def _chunk(tag: int, content: bytes) -> bytes:
    return _varlen(len(content) + 2) + struct.pack("<H", tag) + content


class XdfWriter:
    def __init__(self) -> None:
        self.data = bytearray(b"XDF:")
        self.data += _chunk(1, b'<?xml version="1.0"?><info><version>1.0</version></info>')

    def header(self, stream: int, info_xml: str) -> None:
        self.data += _chunk(2, struct.pack("<I", stream) + info_xml.encode())

    def samples(self, stream: int, rows: Sequence[Sequence[float]], stamps: Sequence[float]) -> None:
        body = bytearray(struct.pack("<I", stream) + _varlen(len(rows)))
        for row, stamp in zip(rows, stamps, strict=True):
            body += b"\x08" + struct.pack("<d", stamp) + struct.pack(f"<{len(row)}d", *row)
        self.data += _chunk(3, bytes(body))

    def clock_offset(self, stream: int, collection_time: float, offset: float) -> None:
        self.data += _chunk(4, struct.pack("<Idd", stream, collection_time, offset))

    def footer(self, stream: int, first: float, last: float, count: int) -> None:
        xml = (
            f'<?xml version="1.0"?><info><first_timestamp>{first!r}</first_timestamp>'
            f"<last_timestamp>{last!r}</last_timestamp><sample_count>{count}</sample_count></info>"
        )
        self.data += _chunk(6, struct.pack("<I", stream) + xml.encode())

    def save(self, path: Path) -> None:
        path.write_bytes(bytes(self.data))
