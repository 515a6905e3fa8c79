"""pcap / pcapng → a :class:`~puasim.trace.trace.Trace` of the SIP messages on the wire.

Every UDP datagram (over IPv4 or IPv6, any link type scapy reads: Ethernet,
Linux cooked, raw IP, BSD loopback) becomes a
:class:`~puasim.trace.events.MessageSent` record from its source address to
its destination, parsed with :func:`puasim.sip.parse`.  IP fragments are
put back together with scapy's ``defragment`` / ``defragment6`` once every
piece of the datagram is there; an incomplete datagram, or one whose
fragments overlap (RFC 5722), is left out with a warning ``Note`` in the
trace naming the frames.  A file cut short (pcap or pcapng) raises
:class:`CaptureError` naming the record and byte offset
(:mod:`puasim.capture.framing`).

* Times: ``trace.meta["epoch"]`` is the whole UNIX second of the first
  packet and record times are microseconds from it, so ``epoch + time // 10**6``
  is the wall clock second Kamailio's ``time(NULL)`` saw.
* Node names: ``names`` maps ``(host, port)`` or ``"host:port"`` to a name;
  anything else is called ``"host:port"`` (``"[::1]:5060"`` for IPv6).
* Retransmissions: a request whose (source, top Via branch, CSeq) was seen
  before, or a response whose (source, branch, CSeq, status) was, is marked
  ``retransmission=True``.
* A datagram that is not SIP is left out with a warning ``Note`` naming the
  frame number (1-based, as Wireshark counts) and the parser's rule and
  offset; ``skip_non_sip=False`` makes it a :class:`CaptureError` instead.
  Empty and CRLF-only datagrams (RFC 5626 keep-alives) are skipped silently.
* ``ports`` keeps only datagrams with a source or destination port in it
  (non-UDP traffic is always ignored).

``trace.meta["frames"]`` lists the frame number of each record (the frame
that completed the datagram for reassembled ones).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from puasim.capture.framing import FramingError, check_framing
from puasim.sip import SipParseError, parse
from puasim.sip import headers as H
from puasim.sip.message import Request
from puasim.sip.uri import format_hostport, split_hostport
from puasim.trace.events import MessageSent, Note
from puasim.trace.trace import Trace

__all__ = ["CaptureError", "address_name", "normalise_names", "read_pcap", "txn_key"]

Address = tuple[str, int]

#: scapy is the ``capture`` extra: a plain ``pip install puasim`` lacks it
NEEDS_SCAPY = "reading captures needs scapy: pip install 'puasim[capture]' ({exc})"


class CaptureError(ValueError):
    """A capture could not be read into a trace; names the file and the frame."""

    def __init__(self, message: str, frame: int | None = None) -> None:
        super().__init__(message)
        self.frame = frame


def address_name(addr: Address) -> str:
    """``host:port`` of an address, IPv6 in brackets (``[::1]:5060``)."""
    return format_hostport(addr[0], addr[1])


def normalise_names(names: Mapping[Any, str] | None) -> dict[Address, str]:
    """``{(host, port): name}`` from keys given as tuples or ``"host:port"`` strings."""
    out: dict[Address, str] = {}
    for key, name in (names or {}).items():
        if isinstance(key, str):
            try:
                out[split_hostport(key)] = name
            except ValueError as exc:
                raise ValueError(f"node address {exc}") from None
        else:
            out[(str(key[0]), int(key[1]))] = name
    return out


def _datagrams(path: str | Path) -> Iterable[tuple[int, Any, Any, list[str]]]:
    """(frame number, time, IP packet carrying UDP, notes) in frame order, fragments reassembled.

    A record with ``ip=None`` carries only notes (``time`` may be ``None``).
    """
    try:
        from scapy.layers.inet import IP, UDP, defragment
        from scapy.layers.inet6 import IPv6, IPv6ExtHdrFragment, defragment6
        from scapy.utils import PcapReader
    except ImportError as exc:
        raise CaptureError(NEEDS_SCAPY.format(exc=exc)) from None
    try:
        check_framing(path)
    except FramingError as exc:
        raise CaptureError(f"{path}: {exc}", exc.record or None) from None
    except OSError as exc:
        raise CaptureError(f"{path}: not a readable pcap/pcapng file ({exc})") from None
    try:
        reader = PcapReader(str(path))
    except Exception as exc:  # noqa: BLE001 - OSError, or scapy's own Scapy_Exception
        raise CaptureError(f"{path}: not a readable pcap/pcapng file ({exc})") from None
    groups: dict[tuple, _Fragments] = {}
    try:
        for frame, pkt in enumerate(reader, start=1):
            ip = pkt.getlayer(IP)
            if ip is not None and ip.version == 4:
                if ip.flags.MF or ip.frag:
                    key = (ip.src, ip.dst, ip.proto, ip.id)
                    group = groups.setdefault(key, _Fragments(f"{ip.src} -> {ip.dst} (IPv4 id {ip.id})"))
                    group.add(frame, ip.frag * 8, bool(ip.flags.MF), bytes(ip.payload), ip)
                    if not group.complete():
                        continue
                    del groups[key]
                    if group.overlap:
                        yield frame, pkt.time, None, [group.overlap_note(frame)]
                        continue
                    # scapy reassembles when the MF=0 fragment comes last: hand them over in offset order
                    ordered = sorted((IP(bytes(p)) for p in group.packets), key=lambda p: p.frag)
                    whole = defragment(ordered)
                    ip = next((p for p in whole if isinstance(p, IP) and not (p.flags.MF or p.frag)), None)
                    if ip is None:
                        continue
                if ip.haslayer(UDP):
                    yield frame, pkt.time, ip, []
                continue
            ip6 = pkt.getlayer(IPv6)
            if ip6 is None:
                continue
            if ip6.haslayer(IPv6ExtHdrFragment):
                fh = ip6[IPv6ExtHdrFragment]
                key6 = (ip6.src, ip6.dst, fh.id)
                group = groups.setdefault(key6, _Fragments(f"{ip6.src} -> {ip6.dst} (IPv6 id {fh.id})"))
                group.add(frame, fh.offset * 8, bool(fh.m), bytes(fh.payload), ip6)
                if not group.complete():
                    continue
                del groups[key6]
                if group.overlap:
                    yield frame, pkt.time, None, [group.overlap_note(frame)]
                    continue
                # fresh IPv6 packets without the link layer: defragment6 mishandles an underlayer
                ip6 = defragment6([IPv6(bytes(p)) for p in group.packets])
                if not ip6:
                    continue
            if ip6.haslayer(UDP):
                yield frame, pkt.time, ip6, []
    finally:
        reader.close()
    for group in groups.values():
        first = group.frames[0]
        text = f"frame {first}: fragments of {group.what} never completed, left out"
        if group.overlap:
            text += f"; {group.overlap}"
        yield first, None, None, [text]


class _Fragments:
    """The fragments of one IP datagram seen so far (RFC 791 §3.2, RFC 8200 §4.5).

    A fragment that repeats an earlier one byte for byte is ignored (a
    duplicate on the wire).  Fragments that overlap otherwise make the
    datagram unusable: RFC 5722 has IPv6 receivers discard such a datagram,
    and Linux discards overlapping IPv4 fragments the same way, so the
    reader leaves it out with a warning naming the frames instead of
    guessing which bytes the receiver kept.
    """

    __slots__ = ("what", "frames", "spans", "packets", "overlap")

    def __init__(self, what: str) -> None:
        self.what = what
        self.frames: list[int] = []
        self.spans: list[tuple[int, int, bool, bytes, int]] = []  # start, stop, more, data, frame
        self.packets: list[Any] = []
        self.overlap = ""

    def add(self, frame: int, start: int, more: bool, data: bytes, packet: Any) -> None:
        stop = start + len(data)
        for s0, s1, _more, d0, f0 in self.spans:
            if s0 == start and d0 == data:
                return  # an exact duplicate
            if start < s1 and s0 < stop and not self.overlap:
                self.overlap = (
                    f"frame {frame} (bytes {start}-{stop}) overlaps frame {f0} (bytes {s0}-{s1})"
                )
        self.frames.append(frame)
        self.spans.append((start, stop, more, data, frame))
        self.packets.append(packet)

    def complete(self) -> bool:
        """Every byte from 0 to the end of the last fragment (MF = 0) is covered."""
        spans = sorted(self.spans)
        if not spans or not any(not more for _, _, more, _, _ in spans):
            return False
        last = max(stop for start, stop, more, _, _ in spans if not more)
        end = 0
        for start, stop, _, _, _ in spans:
            if start > end:
                return False
            end = max(end, stop)
        return end >= last

    def overlap_note(self, frame: int) -> str:
        return (
            f"frame {frame}: fragments of {self.what} overlap ({self.overlap}): "
            "datagram left out, as receivers discard it (RFC 5722)"
        )


def txn_key(msg: Any, src: Address) -> tuple | None:
    """(source, top Via branch, CSeq number, method[, status]): equal keys = a retransmission."""
    try:
        via = H.top_via(msg)
        cseq = H.cseq(msg)
    except SipParseError:
        return None
    if via is None or cseq is None:
        return None
    base = (src, via.branch or "", cseq.seq, cseq.method)
    return base if isinstance(msg, Request) else (*base, msg.status)


def read_pcap(
    path: str | Path,
    names: Mapping[Any, str] | None = None,
    *,
    ports: Iterable[int] | None = None,
    skip_non_sip: bool = True,
) -> Trace:
    """Read the UDP SIP traffic of a capture file into a trace (see the module docstring)."""
    try:
        from scapy.layers.inet import UDP
    except ImportError as exc:
        raise CaptureError(NEEDS_SCAPY.format(exc=exc)) from None

    node_names = normalise_names(names)
    keep_ports = set(ports) if ports is not None else None
    trace = Trace({"source": str(path)})
    frames: list[int] = []
    seen: set[tuple] = set()
    epoch: int | None = None
    for frame, ts, ip, notes in _datagrams(path):
        if ip is None:
            at = trace.records[-1].time if trace.records else 0
            if ts is not None and epoch is not None:
                at = max(at, int((ts - epoch) * 1_000_000))
            for text in notes:
                trace.add(at, "capture", Note("warning", text))
                frames.append(frame)
            continue
        udp = ip[UDP]
        src = (str(ip.src), int(udp.sport))
        dst = (str(ip.dst), int(udp.dport))
        if keep_ports is not None and src[1] not in keep_ports and dst[1] not in keep_ports:
            continue
        payload = bytes(udp.payload)
        if not payload.strip(b"\r\n"):
            continue
        if epoch is None:
            epoch = math.floor(ts)
        t_us = int((ts - epoch) * 1_000_000)
        try:
            msg = parse(payload)
        except SipParseError as exc:
            text = (
                f"{path}: frame {frame} ({address_name(src)} -> {address_name(dst)}, {len(payload)} bytes) "
                f"is not SIP: {exc.rule} at byte {exc.offset}"
            )
            if not skip_non_sip:
                raise CaptureError(text, frame) from None
            trace.add(t_us, "capture", Note("warning", text))
            frames.append(frame)
            continue
        key = txn_key(msg, src)
        retrans = key is not None and key in seen
        if key is not None:
            seen.add(key)
        node = node_names.get(src) or address_name(src)
        trace.add(t_us, node, MessageSent(src, dst, msg, retrans))
        frames.append(frame)
    trace.meta["epoch"] = epoch if epoch is not None else 0
    trace.meta["frames"] = frames
    return trace
