"""Kamailio's stateless To-tag suffix (puasim.server.totag) against every lab capture."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest
from server_helpers import Driver, make_server, publish, responses, subscribe

from puasim.server import get_profile
from puasim.server.totag import (
    SL_SIGNATURE,
    TM_SIGNATURE,
    crc16_x25,
    kamailio_tag_base,
    kamailio_to_tag_suffix,
)
from puasim.sip import headers as H

LAB = Path(__file__).parent.parent / "data" / "lab" / "kamailio"
_VIA = re.compile(r"SIP/2\.0/UDP ([^:;]+)(?::(\d+))?;branch=([^;\s]+)")


def _messages(path: Path) -> list[dict[str, str]]:
    out = []
    for section in path.read_text().split("\n----- ")[1:] + [path.read_text().split("\n----- ")[0]]:
        lines = section.split("\n")
        if len(lines) < 2 or "->" not in lines[0]:
            continue
        fields = {"first": lines[1], "src": lines[0].split("->")[0].split()[-1]}
        for line in lines[2:]:
            if not line:
                break
            name, _, value = line.partition(":")
            fields.setdefault(name.lower(), value.strip())
        out.append(fields)
    return out


def _server_replies() -> list[tuple[str, dict[str, str], str]]:
    """(capture, request, To-tag of the server's reply) for every request the
    lab server answered with a tag it made (initial requests to 127.0.0.1:5060)."""
    found = []
    for path in sorted(LAB.glob("*.txt")):
        msgs = _messages(path)
        requests = {
            (m["via"], m["call-id"]): m
            for m in msgs
            if not m["first"].startswith("SIP/2.0") and "tag=" not in m.get("to", "")
        }
        for m in msgs:
            if m["first"].startswith("SIP/2.0") and m["src"].endswith(":5060"):
                req = requests.get((m["via"], m["call-id"]))
                if req is not None and "tag=" in m.get("to", ""):
                    found.append((path.stem, req, m["to"].split("tag=")[1]))
    return found


def test_crc16_x25_check_value():
    assert crc16_x25(b"123456789") == 0x906E


def test_every_lab_reply_tag_suffix_is_the_crc_of_its_request():
    replies = _server_replies()
    assert len(replies) >= 30  # PUBLISH and SUBSCRIBE replies of every capture
    assert {r[1]["first"].split()[0] for r in replies} >= {"PUBLISH", "SUBSCRIBE"}
    for capture, req, tag in replies:
        host, port, branch = _VIA.match(req["via"]).groups()  # type: ignore[union-attr]
        suffix = kamailio_to_tag_suffix(host, port or "", branch, req["call-id"])
        assert tag.split("-")[1] == suffix, (capture, req["first"])


def test_every_lab_reply_tag_base_is_tm_s_md5_of_the_listening_socket():
    replies = _server_replies()
    assert {tag.split("-")[0] for _, _, tag in replies} == {kamailio_tag_base(TM_SIGNATURE, "127.0.0.1", 5060)}
    d = Driver(make_server())
    (reply,) = responses(d.send(subscribe(call_id="c9@127.0.0.1")))
    assert H.to(reply).tag.startswith("a6a1c5f60faecf035a1ae5b6e96e979a-")  # type: ignore[union-attr]


def test_the_edge_node_s_sl_tags_match_the_companions_lab():
    """The companions lab's edge node (127.0.0.1:5080) answered REGISTERs statelessly:
    sl's base, a ``.``, and the same two CRC-16s over the REGISTER's Via and Call-ID."""
    text = (LAB.parent / "kamailio-companions" / "01_usrloc_setpublish_register_refresh_deregister.pcap").read_bytes()
    tags = set(re.findall(rb"To: <sip:alice@127\.0\.0\.1>;tag=([0-9a-f]{32})\.([0-9a-f]{8})", text))
    assert tags and {b.decode() for b, _ in tags} == {kamailio_tag_base(SL_SIGNATURE, "127.0.0.1", 5080)}
    from puasim.edge.proxy import sl_suffix
    from puasim.sip.message import Request

    req = Request("REGISTER", "sip:127.0.0.1", (
        ("Via", "SIP/2.0/UDP 127.0.0.1:5098;branch=z9hG4bK-21301-1-0"), ("Call-ID", "alice-reg-A@127.0.0.1")))
    assert sl_suffix(req) == "af0dfbea"
    assert (b"76829ee16d149679031f95465f3c3d9f", b"af0dfbea") in tags


def test_server_to_tags_follow_the_request_and_repeat_for_the_same_one():
    d = Driver(make_server())
    via_branch = "z9hG4bKlabx"
    req = subscribe(call_id="c1@127.0.0.1")
    (reply,) = responses(d.send(req))
    tag = H.to(reply).tag
    via = H.top_via(req)
    assert tag is not None and tag.split("-")[1] == kamailio_to_tag_suffix(
        via.host, str(via.port), via.branch, "c1@127.0.0.1"
    )
    one = publish(branch=via_branch)
    two = publish(branch=via_branch + "2")
    tags = [H.to(r).tag for p in (one, two) for r in responses(d.send(p))]
    assert tags[0] != tags[1] and tags[0].split("-")[0] == tags[1].split("-")[0] == tag.split("-")[0]


@pytest.mark.parametrize("profile", ["rfc3903", get_profile("kamailio", to_tag_suffix="random")])
def test_random_suffix_knob(profile):
    d = Driver(make_server(profile))
    req = subscribe(call_id="c1@127.0.0.1")
    (reply,) = responses(d.send(req))
    via = H.top_via(req)
    assert H.to(reply).tag.split("-")[1] != kamailio_to_tag_suffix(
        via.host, str(via.port), via.branch, "c1@127.0.0.1"
    )


def test_unknown_suffix_style_is_refused():
    with pytest.raises(ValueError, match="to_tag_suffix"):
        get_profile("kamailio", to_tag_suffix="counter")


def _crc16_x25_bitwise(data: bytes) -> int:
    # the textbook definition: reflected polynomial 0x8408, init 0xFFFF, result inverted
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
    return crc ^ 0xFFFF


def test_crc16_x25_agrees_with_the_bitwise_definition():
    rng = random.Random(13)
    samples = [b"", b"\x00", b"\xff" * 3] + [rng.randbytes(rng.randrange(1, 80)) for _ in range(300)]
    for data in samples:
        assert crc16_x25(data) == _crc16_x25_bitwise(data), data


def test_suffix_digits_are_written_least_significant_first():
    host, port, branch, call_id = "10.0.0.1", "5070", "z9hG4bKx", "abc@h"
    first = _crc16_x25_bitwise((host + port + branch).encode())
    second = _crc16_x25_bitwise((port + host + call_id).encode())
    want = "".join(f"{v:04x}"[::-1] for v in (first, second))
    assert kamailio_to_tag_suffix(host, port, branch, call_id) == want
    assert kamailio_to_tag_suffix(host, port, branch, call_id) == want  # the kept second half
    assert kamailio_to_tag_suffix(host, port, None, None) == (
        f"{_crc16_x25_bitwise((host + port).encode()):04x}"[::-1]
        + f"{_crc16_x25_bitwise((port + host).encode()):04x}"[::-1]
    )
