"""Trace → pcap / pcapng: the wire bytes of every message sent, in Ethernet/IP/UDP frames.

Each :class:`~puasim.trace.events.MessageSent` record becomes one frame:
Ethernet II, IPv4 (IPv6 when either address is an IPv6 literal) and UDP
around :func:`puasim.sip.serialise` of the message, stamped
``epoch + time`` (``trace.meta["epoch"]`` is the UNIX time of virtual t=0).
Wireshark and tshark decode the result as SIP.

The frames are packed with :mod:`struct`, not scapy: building scapy packets
costs tens of microseconds each, and a long simulation has hundreds of
thousands of messages (``benchmarks/bench_pcap.py`` measures the ratio).
What the writer guarantees:

* IPv4: a correct header checksum, ``total length``, TTL 64, a running
  identification number, no fragmentation (a datagram above 65 507 bytes is
  refused with :class:`ValueError`).
* IPv6: payload length, next header UDP, hop limit 64.
* UDP: length and checksum (RFC 768; the pseudo header of RFC 2460 §8.1 for
  IPv6, where a zero checksum is not allowed).  ``checksums=False`` writes 0
  for IPv4 (allowed: "no checksum"); IPv6 always gets one.
* MAC addresses are made up from the IP address (locally administered,
  ``02:…``), so one host keeps one MAC through the file.

``drops`` says what happens to sends the network lost (a
:class:`~puasim.trace.events.MessageDropped` record for the same message
after the send): ``"keep"`` (default, the view at the sender), ``"omit"``
(the view at the receiver) or ``"mark"`` (kept, with a pcapng packet
comment such as ``dropped: loss``; needs ``fmt="pcapng"``).  pcapng files
also carry a comment on retransmissions.
"""

from __future__ import annotations

import hashlib
import ipaddress
import struct
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

from puasim.trace.events import MessageDelivered, MessageDropped, MessageDuplicated, MessageSent
from puasim.trace.trace import Record, Trace

__all__ = ["PcapWriter", "export_pcap", "udp_frame", "inet_checksum"]

LINKTYPE_ETHERNET = 1
SNAPLEN = 262_144
MAX_UDP_PAYLOAD = 65_535 - 20 - 8

_PCAP_HEADER = struct.Struct("<IHHiIII")
_PCAP_RECORD = struct.Struct("<IIII")
_IPV4 = struct.Struct("!BBHHHBBH4s4s")
_IPV6 = struct.Struct("!IHBB16s16s")
_UDP = struct.Struct("!HHHH")
_ETHER_IPV4 = b"\x08\x00"
_ETHER_IPV6 = b"\x86\xdd"


def inet_checksum(data: bytes, initial: int = 0) -> int:
    """The ones' complement checksum of RFC 1071 over ``data`` (plus ``initial``).

    2**16 ≡ 1 (mod 0xffff), so the ones' complement sum of the 16-bit words is
    the big integer ``data`` modulo 0xffff (a zero remainder of non-zero data
    is 0xffff): one C-level modulo instead of a Python loop over the words.
    """
    if len(data) & 1:
        data += b"\x00"
    n = int.from_bytes(data, "big") + initial
    s = n % 0xFFFF
    if s == 0 and n:
        s = 0xFFFF
    return ~s & 0xFFFF


_MAC_CACHE: dict[str, bytes] = {}


def _mac(ip: str) -> bytes:
    mac = _MAC_CACHE.get(ip)
    if mac is None:
        mac = b"\x02" + hashlib.sha1(ip.encode()).digest()[:5]
        _MAC_CACHE[ip] = mac
    return mac


_IP_CACHE: dict[str, tuple[int, bytes]] = {}


def _ip(host: str) -> tuple[int, bytes]:
    """(4 or 6, packed address) of an IP literal (brackets allowed for IPv6)."""
    hit = _IP_CACHE.get(host)
    if hit is None:
        text = host[1:-1] if host.startswith("[") and host.endswith("]") else host
        try:
            addr = ipaddress.ip_address(text)
        except ValueError:
            raise ValueError(f"pcap export needs IP addresses, not {host!r} (no DNS here)") from None
        hit = (addr.version, addr.packed)
        _IP_CACHE[host] = hit
    return hit


def udp_frame(
    src: tuple[str, int],
    dst: tuple[str, int],
    payload: bytes,
    ident: int = 0,
    checksums: bool = True,
) -> bytes:
    """One Ethernet/IPv4-or-IPv6/UDP frame carrying ``payload`` from ``src`` to ``dst``."""
    if len(payload) > MAX_UDP_PAYLOAD:
        raise ValueError(f"a UDP datagram holds at most {MAX_UDP_PAYLOAD} bytes, not {len(payload)}")
    v_src, a_src = _ip(src[0])
    v_dst, a_dst = _ip(dst[0])
    if v_src != v_dst:
        raise ValueError(f"cannot send from IPv{v_src} {src[0]} to IPv{v_dst} {dst[0]}")
    ulen = 8 + len(payload)
    ether = _mac(dst[0]) + _mac(src[0])
    if v_src == 4:
        csum = 0
        if checksums:
            # pseudo header (src, dst, 0, 17, length) + UDP header with checksum 0 + data
            pseudo = a_src + a_dst + struct.pack("!BBH", 0, 17, ulen)
            csum = inet_checksum(pseudo + _UDP.pack(src[1], dst[1], ulen, 0) + payload) or 0xFFFF
        hdr = _IPV4.pack(0x45, 0, 20 + ulen, ident & 0xFFFF, 0, 64, 17, 0, a_src, a_dst)
        hdr = hdr[:10] + struct.pack("!H", inet_checksum(hdr)) + hdr[12:]
        return ether + _ETHER_IPV4 + hdr + _UDP.pack(src[1], dst[1], ulen, csum) + payload
    pseudo = a_src + a_dst + struct.pack("!IxxxB", ulen, 17)
    csum = inet_checksum(pseudo + _UDP.pack(src[1], dst[1], ulen, 0) + payload) or 0xFFFF
    hdr = _IPV6.pack(6 << 28, ulen, 17, 64, a_src, a_dst)
    return ether + _ETHER_IPV6 + hdr + _UDP.pack(src[1], dst[1], ulen, csum) + payload


class PcapWriter:
    """Writes frames to a classic pcap (µs time stamps) or a pcapng file.

    Use as a context manager or call :meth:`close`.  ``dest`` is a path or a
    binary stream (left open).
    """

    def __init__(self, dest: str | Path | IO[bytes], fmt: str = "pcap") -> None:
        if fmt not in ("pcap", "pcapng"):
            raise ValueError(f"fmt must be pcap or pcapng, not {fmt!r}")
        self.fmt = fmt
        self._own = isinstance(dest, str | Path)
        self._fh: IO[bytes] = open(dest, "wb") if isinstance(dest, str | Path) else dest  # noqa: SIM115
        self.count = 0
        if fmt == "pcap":
            self._fh.write(_PCAP_HEADER.pack(0xA1B2C3D4, 2, 4, 0, 0, SNAPLEN, LINKTYPE_ETHERNET))
        else:
            self._fh.write(self._block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1)))
            # interface: Ethernet, snaplen; if_tsresol 6 (µs) is the default, written anyway
            opts = _option(9, b"\x06") + _option(0, b"")
            self._fh.write(self._block(1, struct.pack("<HHI", LINKTYPE_ETHERNET, 0, SNAPLEN) + opts))

    @staticmethod
    def _block(kind: int, body: bytes) -> bytes:
        total = 12 + len(body)
        return struct.pack("<II", kind, total) + body + struct.pack("<I", total)

    def write(self, ts_us: int, frame: bytes, comment: str = "") -> None:
        """Append one frame captured at UNIX time ``ts_us`` (microseconds)."""
        n = len(frame)
        if self.fmt == "pcap":
            sec, usec = divmod(ts_us, 1_000_000)
            self._fh.write(_PCAP_RECORD.pack(sec, usec, n, n))
            self._fh.write(frame)
        else:
            pad = b"\x00" * (-n % 4)
            opts = (_option(1, comment.encode()) + _option(0, b"")) if comment else b""
            body = struct.pack("<IIIII", 0, (ts_us >> 32) & 0xFFFFFFFF, ts_us & 0xFFFFFFFF, n, n) + frame + pad + opts
            self._fh.write(self._block(6, body))
        self.count += 1

    def close(self) -> None:
        if self._own:
            self._fh.close()
        else:
            self._fh.flush()

    def __enter__(self) -> PcapWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _option(code: int, value: bytes) -> bytes:
    return struct.pack("<HH", code, len(value)) + value + b"\x00" * (-len(value) % 4)


def _wire_bytes(message: Any) -> bytes:
    if isinstance(message, bytes | bytearray):
        return bytes(message)
    from puasim.sip.parser import serialise

    return serialise(message)


def _drop_reasons(records: list[Record]) -> dict[int, str]:
    """Index of the send record → reason, for every MessageDropped matched to its send.

    A drop is matched to the earliest unmatched send of an equal message
    between the same two addresses.  Equal, not identical: a trace read back
    from JSON lines holds a fresh message object in every record, so object
    identity would match nothing there.  Equal messages between the same
    addresses are copies of one another (retransmissions); a delivery
    (``MessageDelivered``) closes the earliest open copy as a drop does, so a
    retransmission lost after its original arrived is the one marked.  A
    network duplicate (``MessageDuplicated``) opens one more copy of the send.
    """
    if not any(type(rec.event) is MessageDropped for rec in records):
        return {}
    open_sends: dict[tuple, list[int]] = {}
    reasons: dict[int, str] = {}
    for i, rec in enumerate(records):
        ev = rec.event
        cls = type(ev)
        if cls is MessageSent:
            open_sends.setdefault((ev.message, ev.src, ev.dst), []).append(i)
        elif cls is MessageDropped or cls is MessageDelivered or cls is MessageDuplicated:
            pending = open_sends.get((ev.message, ev.src, ev.dst))
            if not pending:
                continue
            if cls is MessageDuplicated:
                pending.append(pending[-1])
            elif cls is MessageDelivered:
                pending.pop(0)
            else:
                reasons[pending.pop(0)] = ev.reason
    return reasons


def export_pcap(
    trace: Trace | Iterable[Record],
    dest: str | Path | IO[bytes],
    *,
    epoch: float | None = None,
    fmt: str = "pcap",
    drops: str = "keep",
    checksums: bool = True,
) -> int:
    """Write every message sent in ``trace`` to ``dest``; returns the number of frames.

    ``epoch`` defaults to ``trace.meta["epoch"]`` (0 when the trace has none).
    See the module docstring for ``fmt``, ``drops`` and ``checksums``.
    """
    if drops not in ("keep", "omit", "mark"):
        raise ValueError(f"drops must be keep, omit or mark, not {drops!r}")
    if drops == "mark" and fmt != "pcapng":
        raise ValueError("drops='mark' writes packet comments, which need fmt='pcapng'")
    records = list(trace)
    if epoch is None:
        epoch = getattr(trace, "meta", {}).get("epoch", 0) or 0
    base = round(float(epoch) * 1_000_000) if not isinstance(epoch, int) else epoch * 1_000_000
    reasons = _drop_reasons(records) if drops != "keep" or fmt == "pcapng" else {}
    ident = 0
    frame = udp_frame
    with PcapWriter(dest, fmt) as out:
        write = out.write
        for i, rec in enumerate(records):
            ev = rec.event
            if type(ev) is not MessageSent:
                continue
            reason = reasons.get(i)
            if reason is not None and drops == "omit":
                continue
            ident += 1
            data = frame(ev.src, ev.dst, _wire_bytes(ev.message), ident, checksums)
            comment = ""
            if fmt == "pcapng":
                notes = []
                if ev.retransmission:
                    notes.append("retransmission")
                if reason is not None and drops == "mark":
                    notes.append(f"dropped: {reason}")
                notes.append(f"puasim node {rec.node}, trace seq {rec.seq}")
                comment = "; ".join(notes)
            write(base + rec.time, data, comment)
        return out.count
