"""Is a capture file whole?  A walk over the record framing of pcap and pcapng.

scapy's readers stop quietly (with a logged warning at most) at a file cut
short, and hand over the partial last packet of a classic pcap; a truncated
file would then read as a shorter, seemingly complete capture.  This walk
reads only the framing — never the packets — and raises
:class:`FramingError` naming the byte offset and the record number where the
file ends early (:func:`~puasim.capture.reader.read_pcap` turns it into a
``CaptureError``):

* classic pcap (libpcap format, any byte order, µs or ns time stamps): a
  24-byte file header, then records of a 16-byte header and ``incl_len``
  bytes of packet data;
* pcapng (the IETF draft ``draft-ietf-opsawg-pcapng``, §3.1 block
  structure): blocks of ``type, total length, body, total length``, the
  length a multiple of 4 and repeated at the end; each Section Header Block
  sets the byte order of its section.

gzip-compressed captures (which scapy reads) are walked through
:mod:`gzip`.
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path
from typing import IO

__all__ = ["FramingError", "check_framing"]

_PCAP_MAGICS = {
    b"\xd4\xc3\xb2\xa1": "<",  # µs, little-endian
    b"\xa1\xb2\xc3\xd4": ">",  # µs, big-endian
    b"\x4d\x3c\xb2\xa1": "<",  # ns, little-endian
    b"\xa1\xb2\x3c\x4d": ">",  # ns, big-endian
}
_PCAPNG_SHB = b"\x0a\x0d\x0d\x0a"
_BYTE_ORDER_MAGIC = 0x1A2B3C4D
_GZIP = b"\x1f\x8b"


class FramingError(ValueError):
    """The file ends inside a record (or its framing is inconsistent)."""

    def __init__(self, message: str, offset: int, record: int) -> None:
        super().__init__(message)
        self.offset = offset
        self.record = record


def _open(path: Path) -> IO[bytes]:
    fh: IO[bytes] = open(path, "rb")  # noqa: SIM115 - returned to the caller
    if fh.read(2) == _GZIP:
        fh.close()
        return gzip.open(path, "rb")  # type: ignore[return-value]
    fh.seek(0)
    return fh


def check_framing(path: str | Path) -> str:
    """``"pcap"`` or ``"pcapng"`` when every record of ``path`` is whole; raises
    :class:`FramingError` at the first one that is not.  A file in neither
    format raises ``FramingError`` too (offset 0)."""
    with _open(Path(path)) as fh:
        magic = fh.read(4)
        if magic in _PCAP_MAGICS:
            _walk_pcap(fh, _PCAP_MAGICS[magic])
            return "pcap"
        if magic == _PCAPNG_SHB:
            _walk_pcapng(fh)
            return "pcapng"
    raise FramingError("not a readable pcap/pcapng file (unknown magic number)", 0, 0)


def _walk_pcap(fh: IO[bytes], order: str) -> None:
    if len(fh.read(20)) < 20:
        raise FramingError("truncated pcap: the file header is cut short", 4, 0)
    offset = 24
    record = 0
    rec_header = struct.Struct(order + "IIII")
    while True:
        head = fh.read(16)
        if not head:
            return
        record += 1
        if len(head) < 16:
            raise FramingError(
                f"truncated pcap: packet record {record} at byte {offset} has {len(head)} of its 16 header bytes",
                offset, record,
            )
        incl_len = rec_header.unpack(head)[2]
        data = fh.read(incl_len)
        if len(data) < incl_len:
            raise FramingError(
                f"truncated pcap: packet record {record} at byte {offset} has {len(data)} of its {incl_len} data bytes",
                offset, record,
            )
        offset += 16 + incl_len


def _walk_pcapng(fh: IO[bytes]) -> None:
    offset = 0
    block = 0
    order = "<"
    first = _PCAPNG_SHB
    while True:
        kind_raw = first if first else fh.read(4)
        first = b""
        if not kind_raw:
            return
        block += 1
        length_raw = fh.read(4)
        if len(kind_raw) < 4 or len(length_raw) < 4:
            raise FramingError(f"truncated pcapng: block {block} at byte {offset} has an incomplete header", offset, block)
        if kind_raw == _PCAPNG_SHB:
            bom = fh.read(4)
            if len(bom) < 4:
                raise FramingError(f"truncated pcapng: section header at byte {offset} is cut short", offset, block)
            if struct.unpack("<I", bom)[0] == _BYTE_ORDER_MAGIC:
                order = "<"
            elif struct.unpack(">I", bom)[0] == _BYTE_ORDER_MAGIC:
                order = ">"
            else:
                raise FramingError(f"pcapng section header at byte {offset} has no byte-order magic", offset, block)
            total = struct.unpack(order + "I", length_raw)[0]
            rest_len = total - 12
        else:
            total = struct.unpack(order + "I", length_raw)[0]
            rest_len = total - 8
        if total < 12 or total % 4:
            raise FramingError(f"pcapng block {block} at byte {offset} has a bad length {total}", offset, block)
        rest = fh.read(rest_len)
        if len(rest) < rest_len:
            raise FramingError(
                f"truncated pcapng: block {block} at byte {offset} has {total - rest_len + len(rest)} of its "
                f"{total} bytes", offset, block,
            )
        if struct.unpack(order + "I", rest[-4:])[0] != total:
            raise FramingError(
                f"pcapng block {block} at byte {offset}: the trailing length does not repeat {total}", offset, block
            )
        offset += total
