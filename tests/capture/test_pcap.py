"""pcap export: frames scapy and tshark accept, time stamps, IPv6, drops, round trips."""

from __future__ import annotations

import io
import struct
import subprocess

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether

from puasim.capture import export_pcap, inet_checksum, read_pcap, udp_frame
from puasim.scenario.runner import run_scenario
from puasim.sip import parse, serialise
from puasim.trace.events import MessageDropped, MessageSent
from puasim.trace.trace import Trace

from .conftest import REPO

PUBLISH = parse(
    b"PUBLISH sip:alice@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1\r\n"
    b"To: <sip:alice@127.0.0.1>\r\nFrom: <sip:alice@127.0.0.1>;tag=a\r\nCSeq: 10 PUBLISH\r\n"
    b"Call-ID: c1@127.0.0.1\r\nContent-Length: 3\r\nEvent: presence\r\nExpires: 61\r\n\r\nabc"
)


def tshark_fields(tshark: str, path, *fields: str, extra: tuple[str, ...] = ()) -> list[list[str]]:
    cmd = [tshark, "-r", str(path), "-T", "fields", *extra]
    for f in fields:
        cmd += ["-e", f]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=True).stdout
    return [line.split("\t") for line in out.splitlines()]


def test_inet_checksum_matches_rfc1071_example() -> None:
    # RFC 1071 §3: the words 0001 f203 f4f5 f6f7 sum to ddf2 -> checksum 220d
    assert inet_checksum(bytes.fromhex("0001f203f4f5f6f7")) == 0x220D
    assert inet_checksum(b"") == 0xFFFF
    assert inet_checksum(b"\x01") == (~0x0100) & 0xFFFF


@pytest.mark.parametrize(("src", "dst"), [(("127.0.0.1", 5070), ("127.0.0.2", 5060)), (("::1", 5070), ("fd00::2", 5060))])
def test_frames_have_the_checksums_scapy_computes(src, dst) -> None:
    payload = serialise(PUBLISH)
    frame = udp_frame(src, dst, payload, ident=7)
    pkt = Ether(frame)
    ip = pkt[IP] if IP in pkt else pkt[IPv6]
    udp = pkt[UDP]
    assert bytes(udp.payload) == payload and udp.len == 8 + len(payload)
    assert (udp.sport, udp.dport) == (src[1], dst[1])
    rebuilt = Ether(bytes(frame))
    if IP in rebuilt:
        del rebuilt[IP].chksum
    del rebuilt[UDP].chksum
    rebuilt = Ether(bytes(rebuilt))
    assert rebuilt[UDP].chksum == udp.chksum != 0
    if IP in pkt:
        assert rebuilt[IP].chksum == ip.chksum and ip.len == 20 + 8 + len(payload) and ip.id == 7
    else:
        assert ip.plen == 8 + len(payload) and ip.nh == 17


def test_checksums_off_writes_zero_for_ipv4() -> None:
    frame = udp_frame(("127.0.0.1", 1), ("127.0.0.1", 2), b"x", checksums=False)
    assert Ether(frame)[UDP].chksum == 0


def test_refuses_hostnames_mixed_families_and_oversized_datagrams() -> None:
    with pytest.raises(ValueError, match="IP addresses"):
        udp_frame(("pua.example", 1), ("127.0.0.1", 2), b"x")
    with pytest.raises(ValueError, match="IPv4"):
        udp_frame(("127.0.0.1", 1), ("::1", 2), b"x")
    with pytest.raises(ValueError, match="at most"):
        udp_frame(("127.0.0.1", 1), ("127.0.0.1", 2), b"x" * 70_000)


def _scenario_trace(name: str = "modify_if_match") -> Trace:
    result = run_scenario(REPO / "scenarios" / "publish" / f"{name}.yaml")
    assert result.passed
    return result.trace


def test_round_trip_keeps_messages_times_and_order(tmp_path) -> None:
    trace = _scenario_trace()
    sent = [r for r in trace if type(r.event) is MessageSent]
    path = tmp_path / "run.pcap"
    assert export_pcap(trace, path) == len(sent)
    back = read_pcap(path, {"127.0.0.1:5070": "pua", "127.0.0.1:5060": "server"})
    assert len(back) == len(sent)
    epoch = trace.meta["epoch"]
    for a, b in zip(sent, back, strict=True):
        assert serialise(b.event.message) == serialise(a.event.message)
        assert (b.event.src, b.event.dst) == (a.event.src, a.event.dst)
        assert back.meta["epoch"] * 1_000_000 + b.time == epoch * 1_000_000 + a.time
        assert b.node == a.node
    assert back.meta["frames"] == list(range(1, len(sent) + 1))


def test_pcap_header_is_microsecond_ethernet() -> None:
    buf = io.BytesIO()
    export_pcap(Trace({"epoch": 10}), buf)
    magic, major, minor, _tz, _sig, snap, link = struct.unpack("<IHHiIII", buf.getvalue()[:24])
    assert (magic, major, minor, link) == (0xA1B2C3D4, 2, 4, 1) and snap >= 65535


def test_tshark_decodes_every_message_as_sip(tmp_path, tshark) -> None:
    trace = _scenario_trace("refresh_indefinite")
    path = tmp_path / "run.pcap"
    export_pcap(trace, path)
    rows = tshark_fields(tshark, path, "frame.time_epoch", "sip.Method", "sip.Status-Code", "sip.Call-ID",
                         "ip.checksum.status", "udp.checksum.status",
                         extra=("-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE"))
    sent = [r for r in trace if type(r.event) is MessageSent]
    assert len(rows) == len(sent) > 4
    for rec, (when, method, status, call_id, ip_ok, udp_ok) in zip(sent, rows, strict=True):
        msg = rec.event.message
        assert method == getattr(msg, "method", "")
        assert status == str(getattr(msg, "status", ""))
        assert call_id == msg.get("Call-ID")
        assert (ip_ok, udp_ok) == ("1", "1")  # 1 = good
        assert round(float(when) * 1e6) == trace.meta["epoch"] * 1_000_000 + rec.time


def test_tshark_reads_ipv6_and_ports_it_does_not_know(tmp_path, tshark) -> None:
    trace = Trace({"epoch": 1_700_000_000})
    ok = parse(b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP [::1]:5070;branch=z9hG4bK1\r\nTo: <sip:a@x>;tag=s\r\n"
               b"From: <sip:a@x>;tag=a\r\nCSeq: 10 PUBLISH\r\nCall-ID: c1@127.0.0.1\r\nContent-Length: 0\r\n\r\n")
    trace.add(0, "pua", MessageSent(("::1", 5070), ("::1", 5090), PUBLISH))
    trace.add(1000, "server", MessageSent(("::1", 5090), ("::1", 5070), ok))
    path = tmp_path / "v6.pcap"
    export_pcap(trace, path)
    rows = tshark_fields(tshark, path, "ipv6.src", "sip.Method", "sip.Status-Code", "sip.Call-ID",
                         extra=("-d", "udp.port==5090,sip", "-d", "udp.port==5070,sip"))
    assert rows == [["::1", "PUBLISH", "", "c1@127.0.0.1"], ["::1", "", "200", "c1@127.0.0.1"]]


def test_drops_keep_omit_and_mark(tmp_path, tshark) -> None:
    trace = Trace({"epoch": 1_700_000_000})
    trace.add(0, "pua", MessageSent(("127.0.0.1", 5070), ("127.0.0.1", 5060), PUBLISH))
    trace.add(0, "pua", MessageDropped(("127.0.0.1", 5070), ("127.0.0.1", 5060), PUBLISH, "loss"))
    trace.add(500_000, "pua", MessageSent(("127.0.0.1", 5070), ("127.0.0.1", 5060), PUBLISH, retransmission=True))
    assert export_pcap(trace, tmp_path / "keep.pcap") == 2
    assert export_pcap(trace, tmp_path / "omit.pcap", drops="omit") == 1
    with pytest.raises(ValueError, match="pcapng"):
        export_pcap(trace, tmp_path / "x.pcap", drops="mark")
    assert export_pcap(trace, tmp_path / "mark.pcapng", fmt="pcapng", drops="mark") == 2
    rows = tshark_fields(tshark, tmp_path / "mark.pcapng", "frame.comment", "sip.Method")
    assert "dropped: loss" in rows[0][0] and rows[0][1] == "PUBLISH"
    assert "retransmission" in rows[1][0] and "dropped" not in rows[1][0]
    back = read_pcap(tmp_path / "mark.pcapng")
    assert [r.event.retransmission for r in back] == [False, True]


def test_drops_survive_a_json_lines_round_trip(tmp_path) -> None:
    """Drops used to be matched by object identity, which a trace read from a file lacks."""
    from puasim.cli import main
    from puasim.trace.codec import read_jsonl, write_jsonl

    result = run_scenario(REPO / "scenarios" / "publish" / "timeout_408_keeps_record.yaml")
    sent = sum(1 for r in result.trace if type(r.event) is MessageSent)
    dropped = sum(1 for r in result.trace if type(r.event) is MessageDropped)
    assert sent == 12 and dropped == 10
    path = tmp_path / "t.jsonl"
    write_jsonl(result.trace, path)
    back = read_jsonl(path)
    for trace in (result.trace, back):
        assert export_pcap(trace, tmp_path / "keep.pcap") == sent
        assert export_pcap(trace, tmp_path / "omit.pcap", drops="omit") == sent - dropped
        export_pcap(trace, tmp_path / "mark.pcapng", fmt="pcapng", drops="mark")
        marked = (tmp_path / "mark.pcapng").read_bytes().count(b"dropped: crashed")
        assert marked == dropped
    assert main(["pcap", str(path), str(tmp_path / "cli.pcap"), "--drops", "omit"]) == 0
    assert len(read_pcap(tmp_path / "cli.pcap")) == sent - dropped


def test_a_drop_after_delivery_marks_the_lost_copy() -> None:
    from puasim.capture.pcap import _drop_reasons
    from puasim.trace.events import MessageDelivered

    a, b = ("127.0.0.1", 5070), ("127.0.0.1", 5060)
    trace = Trace()
    trace.add(0, "pua", MessageSent(a, b, PUBLISH))
    trace.add(1, "server", MessageDelivered(a, b, PUBLISH))
    trace.add(500, "pua", MessageSent(a, b, PUBLISH, retransmission=True))
    trace.add(501, "server", MessageDropped(a, b, PUBLISH, "crashed"))
    assert _drop_reasons(list(trace)) == {2: "crashed"}


def test_cli_drops_mark_needs_pcapng(tmp_path, capsys) -> None:
    from puasim.cli import main
    from puasim.trace.codec import write_jsonl

    trace = Trace({"epoch": 1_700_000_000})
    trace.add(0, "pua", MessageSent(("127.0.0.1", 5070), ("127.0.0.1", 5060), PUBLISH))
    path = tmp_path / "t.jsonl"
    write_jsonl(trace, path)
    assert main(["pcap", str(path), str(tmp_path / "x.pcap"), "--drops", "mark"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "need a .pcapng output file" in err
    assert not (tmp_path / "x.pcap").exists()
