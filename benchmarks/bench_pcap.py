"""pcap export throughput: puasim's struct-built writer against scapy's ``wrpcap``.

Run as ``python benchmarks/bench_pcap.py [messages] [rounds]``.

The messages are a realistic PUA flow, repeated: an initial PUBLISH with a
PIDF body, its 200 OK, a body-less refresh with SIP-If-Match and its 200 OK,
as :class:`~puasim.trace.events.MessageSent` records of one trace.  Both
sides write the same frames (Ethernet/IPv4/UDP around the serialised
message) to an in-memory file:

* puasim: :func:`puasim.capture.export_pcap` (serialise + struct-packed
  headers, IPv4 header checksum and UDP checksum computed);
* scapy: serialise, then ``Ether()/IP()/UDP()/Raw()`` per message and
  ``wrpcap`` of the list (scapy computes the same checksums when it builds
  the packets).

Each figure is the best of several rounds (the least disturbed by the rest
of the machine).  Ratio > 1 means puasim's writer is faster.
"""

from __future__ import annotations

import io
import sys
import time

from puasim.capture import export_pcap
from puasim.sip import parse, serialise
from puasim.trace.events import MessageSent
from puasim.trace.trace import Trace

PIDF = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:alice@127.0.0.1">\n'
    b'  <tuple id="t-alice-1">\n    <status><basic>open</basic></status>\n'
    b"    <note>available (lab)</note>\n  </tuple>\n</presence>\n"
)


def _flow() -> list:
    pua, srv = ("127.0.0.1", 5070), ("127.0.0.1", 5060)
    common = (
        "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKf1ae.6ba05815000000000000000000000000.0\r\n"
        "To: <sip:alice@127.0.0.1>\r\nFrom: <sip:alice@127.0.0.1>;tag=17e38db12cb64994c952f0bfdfeab491-e2404bcf\r\n"
        "CSeq: 10 PUBLISH\r\nCall-ID: 14bd65b11ad25603-29418@127.0.0.1\r\n"
    )
    publish = parse(
        ("PUBLISH sip:alice@127.0.0.1 SIP/2.0\r\n" + common + f"Content-Length: {len(PIDF)}\r\n"
         "Max-Forwards: 70\r\nEvent: presence\r\nExpires: 3601\r\nContent-Type: application/pidf+xml\r\n\r\n").encode()
        + PIDF
    )
    ok = parse(("SIP/2.0 200 OK\r\n" + common + "Expires: 3600\r\nSIP-ETag: a.1795735754.29380.1.0\r\n"
                "Content-Length: 0\r\n\r\n").encode())
    refresh = parse(("PUBLISH sip:alice@127.0.0.1 SIP/2.0\r\n" + common + "Content-Length: 0\r\nMax-Forwards: 70\r\n"
                     "Event: presence\r\nExpires: 3601\r\nSIP-If-Match: a.1795735754.29380.1.0\r\n\r\n").encode())
    return [(pua, srv, publish), (srv, pua, ok), (pua, srv, refresh), (srv, pua, ok)]


def make_trace(n: int) -> Trace:
    flow = _flow()
    trace = Trace({"epoch": 1_700_000_000})
    for i in range(n):
        src, dst, msg = flow[i % len(flow)]
        trace.add(i * 1000, "pua" if src[1] == 5070 else "server", MessageSent(src, dst, msg))
    return trace


def puasim_writer(trace: Trace) -> int:
    buf = io.BytesIO()
    return export_pcap(trace, buf)


def scapy_writer(trace: Trace) -> int:
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import Ether
    from scapy.packet import Raw
    from scapy.utils import wrpcap

    epoch = trace.meta["epoch"]
    packets = []
    for rec in trace:
        ev = rec.event
        pkt = Ether() / IP(src=ev.src[0], dst=ev.dst[0]) / UDP(sport=ev.src[1], dport=ev.dst[1]) / Raw(serialise(ev.message))
        pkt.time = epoch + rec.time / 1e6
        packets.append(pkt)
    buf = io.BytesIO()
    wrpcap(buf, packets)
    return len(packets)


def best_rate(fn, trace: Trace, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn(trace)
        best = min(best, time.perf_counter() - t0)
    return len(trace) / best


def main(argv: list[str]) -> int:
    n = int(argv[1]) if len(argv) > 1 else 5_000
    rounds = int(argv[2]) if len(argv) > 2 else 3
    trace = make_trace(n)
    ours = best_rate(puasim_writer, trace, rounds)
    theirs = best_rate(scapy_writer, trace, rounds)
    print(f"messages: {n}, the same for both; best of {rounds} rounds")
    print(f"puasim export_pcap : {ours:12,.0f} messages/s")
    print(f"scapy wrpcap       : {theirs:12,.0f} messages/s")
    print(f"ratio puasim/scapy : {ours / theirs:12.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
