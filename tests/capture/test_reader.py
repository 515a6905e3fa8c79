"""pcap import: the lab captures, node names, retransmissions, fragments, non-SIP payloads."""

from __future__ import annotations

import pytest
from scapy.layers.inet import IP, UDP, fragment
from scapy.layers.inet6 import IPv6, IPv6ExtHdrFragment, fragment6
from scapy.layers.l2 import Ether as _Ether
from scapy.packet import Raw
from scapy.utils import wrpcap

from puasim.capture import CaptureError, read_pcap
from puasim.sip import Request, Response, serialise
from puasim.trace.events import MessageSent, Note

from .test_pcap import PUBLISH


def Ether() -> object:  # noqa: N802 - explicit MACs: scapy would try to resolve them
    return _Ether(dst="02:00:00:00:00:02", src="02:00:00:00:00:01")

CAPTURES = {
    "a-b-c_publish_modify_unpublish_restart": 12,
    "d1_refresh_expires30_vs_keepalive": 4,
    "e_412_server_forgot_etag": 10,
    "g2_subscribe_check_remote_contact_1": 8,
    "h2_pua_db_mode2_and_subscribe_crash": 15,
    "run1_d2_children2_nowal_sqlite_locked_500": 36,
    "x2_rpc_transports": 12,
    "x3_probe_publish_py": 24,
}


@pytest.mark.parametrize("name", sorted(CAPTURES))
def test_every_lab_capture_reads_as_sip(lab, name) -> None:
    trace = read_pcap(lab / f"{name}.pcap")
    assert len(trace) == CAPTURES[name]
    assert all(type(r.event) is MessageSent for r in trace)
    assert all(isinstance(r.event.message, Request | Response) for r in trace)
    times = [r.time for r in trace]
    assert times == sorted(times) and 0 <= times[0] < 1_000_000


def test_abc_capture_flow_names_and_times(lab) -> None:
    trace = read_pcap(lab / "a-b-c_publish_modify_unpublish_restart.pcap",
                      {("127.0.0.1", 5070): "pua", "127.0.0.1:5060": "server"})
    assert trace.meta["epoch"] == 1795735756
    first = trace[0]
    assert first.node == "pua" and first.time == 53_955  # 23:29:16.053955
    assert [r.node for r in trace] == ["pua", "server"] * 6
    methods = [r.event.message.method if isinstance(r.event.message, Request) else r.event.message.status for r in trace]
    assert methods == ["PUBLISH", 200] * 3 + ["PUBLISH", 412] + ["PUBLISH", 200] * 2
    assert trace[2].event.message.get("SIP-If-Match") == trace[1].event.message.get("SIP-ETag")
    unnamed = read_pcap(lab / "a-b-c_publish_modify_unpublish_restart.pcap")
    assert unnamed[0].node == "127.0.0.1:5070"


def test_retransmissions_are_marked(lab) -> None:
    trace = read_pcap(lab / "h2_pua_db_mode2_and_subscribe_crash.pcap")
    again = [r for r in trace if r.event.retransmission]
    assert len(again) == 2 and all(r.event.message.method == "NOTIFY" for r in again)


def test_non_sip_payload_names_the_frame_and_the_rule(tmp_path) -> None:
    good = Ether() / IP(src="127.0.0.1", dst="127.0.0.1") / UDP(sport=5070, dport=5060) / Raw(serialise(PUBLISH))
    bad = Ether() / IP(src="127.0.0.1", dst="127.0.0.1") / UDP(sport=5070, dport=5060) / Raw(b"GET / HTTP/1.1\r\n\r\n")
    keepalive = Ether() / IP(src="127.0.0.1", dst="127.0.0.1") / UDP(sport=5070, dport=5060) / Raw(b"\r\n\r\n")
    dns = Ether() / IP(src="127.0.0.1", dst="127.0.0.1") / UDP(sport=53, dport=40000) / Raw(b"\x12\x34")
    path = tmp_path / "mixed.pcap"
    wrpcap(str(path), [good, keepalive, bad, dns])
    with pytest.raises(CaptureError, match=r"frame 3 .*is not SIP: .* at byte \d+") as info:
        read_pcap(path, skip_non_sip=False)
    assert info.value.frame == 3
    trace = read_pcap(path)  # the default: left out with a note
    assert [type(r.event) for r in trace] == [MessageSent, Note, Note]
    assert "frame 3" in trace[1].event.text and "is not SIP" in trace[1].event.text
    assert "frame 4" in trace[2].event.text
    only_sip_ports = read_pcap(path, ports=[5060])
    assert len(only_sip_ports) == 2  # the DNS datagram is left out, the HTTP one noted


def test_fragments_are_reassembled_ipv4_and_ipv6(tmp_path) -> None:
    big = PUBLISH.with_header("Content-Length", "3000")
    big = Request(big.method, big.uri, big.headers, b"x" * 3000)
    payload = serialise(big)
    v4 = Ether() / IP(src="127.0.0.1", dst="127.0.0.2", id=77) / UDP(sport=5070, dport=5060) / Raw(payload)
    frags4 = fragment(v4[IP], fragsize=1000)
    v6 = IPv6(src="::1", dst="::2") / IPv6ExtHdrFragment(id=9) / UDP(sport=5070, dport=5060) / Raw(payload)
    frags6 = fragment6(v6, 1280)
    assert len(frags4) > 2 and len(frags6) > 2
    packets = [Ether() / f for f in frags4[::-1]] + [Ether() / f for f in frags6]
    path = tmp_path / "frags.pcap"
    wrpcap(str(path), packets)
    trace = read_pcap(path)
    assert len(trace) == 2
    assert [r.event.message.body for r in trace] == [b"x" * 3000, b"x" * 3000]
    assert trace[0].event.src == ("127.0.0.1", 5070) and trace[1].event.src == ("::1", 5070)
    assert trace.meta["frames"] == [len(frags4), len(frags4) + len(frags6)]


def test_an_incomplete_datagram_is_left_out_with_a_note(tmp_path) -> None:
    payload = serialise(Request(PUBLISH.method, PUBLISH.uri, PUBLISH.headers, b"y" * 3000))
    pkt = IP(src="127.0.0.1", dst="127.0.0.2", id=5) / UDP(sport=5070, dport=5060) / Raw(payload)
    frags = fragment(pkt, fragsize=1000)
    path = tmp_path / "lost.pcap"
    wrpcap(str(path), [Ether() / f for f in frags[:-1]])
    trace = read_pcap(path)
    assert len(trace) == 1 and type(trace[0].event) is Note and "never completed" in trace[0].event.text


def test_not_a_capture_file(tmp_path) -> None:
    path = tmp_path / "x.pcap"
    path.write_text("hello")
    with pytest.raises(CaptureError, match="not a readable pcap"):
        read_pcap(path)


def _v4_fragments(ident: int = 7) -> list:
    big = PUBLISH.with_header("Content-Length", "3000")
    payload = serialise(Request(big.method, big.uri, big.headers, b"z" * 3000))
    pkt = IP(src="127.0.0.1", dst="127.0.0.2", id=ident) / UDP(sport=5070, dport=5060) / Raw(payload)
    return fragment(pkt, fragsize=1000)


def test_overlapping_fragments_are_reported_and_left_out(tmp_path) -> None:
    frags = _v4_fragments()
    # a forged second fragment: starts inside the first and carries other bytes
    evil = frags[1].copy()
    evil.frag = frags[1].frag - 10
    evil[IP].remove_payload()
    evil = IP(src=evil.src, dst=evil.dst, id=evil.id, flags="MF", frag=evil.frag, proto=17) / Raw(b"E" * 1000)
    path = tmp_path / "overlap.pcap"
    wrpcap(str(path), [Ether() / f for f in [frags[0], evil, *frags[1:]]])
    trace = read_pcap(path)
    assert [type(r.event) for r in trace] == [Note]
    text = trace[0].event.text
    assert "overlap" in text and "frame 2" in text and "left out" in text
    assert f"frame {len(frags) + 1}:" in text  # reported at the frame that completed the datagram


def test_overlapping_ipv6_fragments_are_reported(tmp_path) -> None:
    payload = serialise(Request(PUBLISH.method, PUBLISH.uri, PUBLISH.headers, b"w" * 3000))
    v6 = IPv6(src="::1", dst="::2") / IPv6ExtHdrFragment(id=4) / UDP(sport=5070, dport=5060) / Raw(payload)
    frags = fragment6(v6, 1280)
    second = IPv6(bytes(frags[1]))
    fh = second[IPv6ExtHdrFragment]
    forged = IPv6(src="::1", dst="::2") / IPv6ExtHdrFragment(id=4, m=1, offset=fh.offset - 2, nh=fh.nh) / Raw(b"E" * 64)
    path = tmp_path / "overlap6.pcap"
    wrpcap(str(path), [Ether() / f for f in [frags[0], forged, *frags[1:]]])
    trace = read_pcap(path)
    assert [type(r.event) for r in trace] == [Note]
    assert "IPv6 id 4" in trace[0].event.text and "overlap" in trace[0].event.text


def test_a_duplicated_fragment_is_not_an_overlap(tmp_path) -> None:
    frags = _v4_fragments()
    path = tmp_path / "dup.pcap"
    wrpcap(str(path), [Ether() / f for f in [frags[0], frags[0], *frags[1:]]])
    trace = read_pcap(path)
    assert [type(r.event) for r in trace] == [MessageSent]
    assert trace[0].event.message.body == b"z" * 3000


@pytest.mark.parametrize("fmt", ["pcap", "pcapng"])
@pytest.mark.parametrize("cut", [1, 10, 200])
def test_a_truncated_capture_is_an_error(tmp_path, fmt, cut) -> None:
    from puasim.capture import export_pcap
    from puasim.trace.trace import Trace

    trace = Trace({"epoch": 1_700_000_000})
    for i in range(3):
        trace.add(i * 1000, "pua", MessageSent(("127.0.0.1", 5070), ("127.0.0.1", 5060), PUBLISH, False))
    whole = tmp_path / f"whole.{fmt}"
    export_pcap(trace, whole, fmt=fmt)
    assert len(read_pcap(whole)) == 3
    data = whole.read_bytes()
    short = tmp_path / f"short.{fmt}"
    short.write_bytes(data[:-cut])
    with pytest.raises(CaptureError, match=rf"truncated {fmt}: .*(record|block) \d+ at byte \d+") as info:
        read_pcap(short)
    assert info.value.frame is not None
