"""pcap / pcapng → a :class:`~puasim.trace.trace.Trace` of the SIP messages on the wire.

Every UDP datagram (over IPv4 or IPv6, any link type scapy reads: Ethernet,
Linux cooked, raw IP, BSD loopback) becomes a
:class:`~puasim.trace.events.MessageSent` record from its source address to
its destination, parsed with :func:`puasim.sip.parse`.  IP fragments are
put back together with scapy's ``defragment`` / ``defragment6`` once every
piece of the datagram is there; an incomplete datagram is left out with a
``Note`` in the trace.

* Times: ``trace.meta["epoch"]`` is the whole UNIX second of the first
  packet and record times are microseconds from it, so ``epoch + time // 10**6``
  is the wall clock second Kamailio's ``time(NULL)`` saw.
* Node names: ``names`` maps ``(host, port)`` or ``"host:port"`` to a name;
  anything else is called ``"host:port"`` (``"[::1]:5060"`` for IPv6).
* Retransmissions: a request whose (source, top Via branch, CSeq) was seen
  before, or a response whose (source, branch, CSeq, status) was, is marked
  ``retransmission=True``.
* A datagram that is not SIP raises :class:`CaptureError` naming the frame
  number (1-based, as Wireshark counts) and the parser's rule and offset;
  ``skip_non_sip=True`` leaves such datagrams out with a ``Note`` instead.
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

from puasim.sip import SipParseError, parse
from puasim.sip import headers as H
from puasim.sip.message import Request
from puasim.sip.uri import format_hostport, split_hostport
from puasim.trace.events import MessageSent, Note
from puasim.trace.trace import Trace

__all__ = ["CaptureError", "address_name", "normalise_names", "read_pcap", "txn_key"]

Address = tuple[str, int]


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
    """(frame number, time, IP packet carrying UDP, notes) in frame order, fragments reassembled."""
    try:
        from scapy.layers.inet import IP, UDP, defragment
        from scapy.layers.inet6 import IPv6, IPv6ExtHdrFragment, defragment6
        from scapy.utils import PcapReader
    except ImportError as exc:  # pragma: no cover - scapy is the capture extra
        raise CaptureError(f"reading pcaps needs scapy (pip install 'puasim[capture]'): {exc}") from None
    try:
        reader = PcapReader(str(path))
    except Exception as exc:  # noqa: BLE001 - OSError, or scapy's own Scapy_Exception
        raise CaptureError(f"{path}: not a readable pcap/pcapng file ({exc})") from None
    frags4: dict[tuple, list[tuple[int, Any]]] = {}
    frags6: dict[tuple, list[tuple[int, Any]]] = {}
    try:
        for frame, pkt in enumerate(reader, start=1):
            ip = pkt.getlayer(IP)
            if ip is not None and ip.version == 4:
                if ip.flags.MF or ip.frag:
                    key = (ip.src, ip.dst, ip.proto, ip.id)
                    group = frags4.setdefault(key, [])
                    group.append((frame, ip))
                    if _complete4(group):
                        del frags4[key]
                        # scapy reassembles when the MF=0 fragment comes last: hand them over in offset order
                        ordered = sorted((IP(bytes(p)) for _, p in group), key=lambda p: p.frag)
                        whole = defragment(ordered)
                        ip = next((p for p in whole if isinstance(p, IP) and not (p.flags.MF or p.frag)), None)
                        if ip is None:
                            continue
                    else:
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
                group = frags6.setdefault(key6, [])
                group.append((frame, ip6))
                if not _complete6(group):
                    continue
                del frags6[key6]
                # fresh IPv6 packets without the link layer: defragment6 mishandles an underlayer
                ip6 = defragment6([IPv6(bytes(p)) for _, p in group])
                if not ip6:
                    continue
            if ip6.haslayer(UDP):
                yield frame, pkt.time, ip6, []
    finally:
        reader.close()
    for key, group in list(frags4.items()) + list(frags6.items()):
        first = group[0][0]
        yield first, None, None, [f"frame {first}: fragments of {key[0]} -> {key[1]} never completed, left out"]


def _complete4(group: list[tuple[int, Any]]) -> bool:
    """Every byte from 0 to the end of the last fragment (MF = 0) is covered."""
    spans = sorted((p.frag * 8, p.frag * 8 + len(bytes(p.payload)), bool(p.flags.MF)) for _, p in group)
    if not spans or spans[-1][2]:
        return False
    end = 0
    for start, stop, _ in spans:
        if start > end:
            return False
        end = max(end, stop)
    return True


def _complete6(group: list[tuple[int, Any]]) -> bool:
    from scapy.layers.inet6 import IPv6ExtHdrFragment

    spans = []
    for _, p in group:
        fh = p[IPv6ExtHdrFragment]
        spans.append((fh.offset * 8, fh.offset * 8 + len(bytes(fh.payload)), bool(fh.m)))
    spans.sort()
    if not spans or spans[-1][2]:
        return False
    end = 0
    for start, stop, _ in spans:
        if start > end:
            return False
        end = max(end, stop)
    return True


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
    skip_non_sip: bool = False,
) -> Trace:
    """Read the UDP SIP traffic of a capture file into a trace (see the module docstring)."""
    from scapy.layers.inet import UDP

    node_names = normalise_names(names)
    keep_ports = set(ports) if ports is not None else None
    trace = Trace({"source": str(path)})
    frames: list[int] = []
    seen: set[tuple] = set()
    epoch: int | None = None
    for frame, ts, ip, notes in _datagrams(path):
        if ip is None:
            for text in notes:
                trace.add(trace.records[-1].time if trace.records else 0, "capture", Note("warning", text))
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
