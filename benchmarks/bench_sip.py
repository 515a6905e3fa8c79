"""Parse/serialise throughput of :mod:`puasim.sip` against a stdlib baseline.

Run as ``python benchmarks/bench_sip.py [iterations] [rounds]``.

The message is a realistic PUBLISH as Kamailio's pua sends it: Via with
branch and rport, From/To, Call-ID, CSeq, Max-Forwards, Event, Expires,
SIP-If-Match, Content-Type, User-Agent, Content-Length and a PIDF body of
about 400 bytes.  Each timing is the best of several rounds of N calls with
:func:`time.perf_counter` (the minimum is the least disturbed by the rest of
the machine).

Baseline, in the same run on the same bytes: the stdlib's RFC 822 parser,
which does the same job as ours for the header block (split lines, unfold,
name/value pairs kept in order, body after the blank line):

* parse: the start line split by hand (one ``bytes.partition``, as cheap as
  it gets), then ``email.message_from_bytes(rest, policy=compat32)``; compat32
  is the stdlib's fastest policy (no header-object construction);
* serialise: ``msg.as_bytes()`` (``email.generator.BytesGenerator``) of the
  pre-parsed ``email.message.Message``, plus prepending the start line.

Neither baseline validates SIP syntax or frames by Content-Length, so the
comparison flatters the baseline, not us.  Ratio > 1 means puasim is faster.
"""

from __future__ import annotations

import email
import email.policy
import sys
import time

from puasim.sip import headers as H
from puasim.sip import parse, serialise

PIDF = (
    b'<?xml version="1.0" encoding="UTF-8"?>\r\n'
    b'<presence xmlns="urn:ietf:params:xml:ns:pidf" '
    b'xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model" '
    b'xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid" entity="sip:alice@example.com">\r\n'
    b'  <tuple id="t8f2a1c3">\r\n'
    b"    <status><basic>open</basic></status>\r\n"
    b"    <contact>sip:alice@192.0.2.10:5060</contact>\r\n"
    b"  </tuple>\r\n"
    b'  <dm:person id="p1"><rpid:activities><rpid:on-the-phone/></rpid:activities>'
    b"</dm:person>\r\n"
    b"</presence>\r\n"
)

HEAD = (
    "PUBLISH sip:alice@example.com SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK3c1d.7a2e0c5b0000000000000000;rport\r\n"
    "Max-Forwards: 70\r\n"
    "To: <sip:alice@example.com>\r\n"
    "From: <sip:alice@example.com>;tag=a6f3b2c1d0e9f8a7-5c3b\r\n"
    "CSeq: 10 PUBLISH\r\n"
    "Call-ID: 7d1f0b6c2e8a4b13-4101@192.0.2.10\r\n"
    "Event: presence\r\n"
    "Expires: 3600\r\n"
    "SIP-If-Match: a.1727354400.4101.3.0\r\n"
    "Content-Type: application/pidf+xml\r\n"
    "User-Agent: kamailio (5.8.2 (x86_64/linux))\r\n"
    f"Content-Length: {len(PIDF)}\r\n"
    "\r\n"
)
DATA = HEAD.encode() + PIDF


def best_rate(fn, arg, iterations: int, rounds: int) -> float:
    """Calls per second of ``fn(arg)``: the best of ``rounds`` rounds."""
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(iterations):
            fn(arg)
        best = min(best, time.perf_counter() - t0)
    return iterations / best


def baseline_parse(data: bytes):
    start, _, rest = data.partition(b"\r\n")
    return start, email.message_from_bytes(rest, policy=email.policy.compat32)


def baseline_serialise(parsed) -> bytes:
    start, msg = parsed
    return start + b"\r\n" + msg.as_bytes()


def parse_and_read(data: bytes):
    m = parse(data)
    return (H.via_list(m), H.from_(m), H.to(m), H.cseq(m), H.call_id(m), H.event(m), H.expires(m))


def main(argv: list[str]) -> None:
    iterations = int(argv[1]) if len(argv) > 1 else 20000
    rounds = int(argv[2]) if len(argv) > 2 else 5
    msg = parse(DATA)
    assert serialise(msg) == DATA, "the benchmark message must round-trip"
    base = baseline_parse(DATA)
    assert base[1].get_payload(decode=True) == PIDF

    rows = [
        (
            "parse",
            best_rate(parse, DATA, iterations, rounds),
            best_rate(baseline_parse, DATA, iterations, rounds),
        ),
        (
            "serialise",
            best_rate(serialise, msg, iterations, rounds),
            best_rate(baseline_serialise, base, iterations, rounds),
        ),
    ]
    print(
        f"PUBLISH of {len(DATA)} bytes ({len(PIDF)}-byte PIDF body), "
        f"best of {rounds} rounds x {iterations} calls, Python {sys.version.split()[0]}"
    )
    print(f"{'':12}{'puasim msg/s':>16}{'baseline msg/s':>18}{'puasim/baseline':>18}")
    for name, ours, theirs in rows:
        print(f"{name:12}{ours:16,.0f}{theirs:18,.0f}{ours / theirs:17.1f}x")
    extra = best_rate(parse_and_read, DATA, iterations, rounds)
    print(
        f"parse + 7 typed accessors (Via, From, To, CSeq, Call-ID, Event, Expires): {extra:,.0f} msg/s"
    )


if __name__ == "__main__":
    main(sys.argv)
