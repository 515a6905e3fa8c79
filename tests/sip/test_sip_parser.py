"""Framing, start lines and header lines (RFC 3261 §7, §18.3; RFC 4475 §3.1)."""

from __future__ import annotations

import pickle

import pytest

import tests.sip.sip_rfc_messages as M
from puasim.sip import (
    Request,
    Response,
    SipParseError,
    parse,
    serialise,
    with_content_length,
)
from puasim.sip import headers as H
from tests.sip.sip_rfc_messages import wire


# -- start lines --------------------------------------------------------------------
def test_request_line():
    m = parse(b"OPTIONS sip:user@example.com SIP/2.0\r\n\r\n")
    assert m == Request("OPTIONS", "sip:user@example.com", (), b"", "SIP/2.0")
    assert m.is_request


def test_status_line_reason_with_spaces():
    m = parse(b"SIP/2.0 412 Conditional Request Failed\r\nContent-Length: 0\r\n\r\n")
    assert isinstance(m, Response)
    assert (m.status, m.reason) == (412, "Conditional Request Failed")
    assert not m.is_request


def test_status_line_empty_reason():
    assert parse(b"SIP/2.0 200 \r\n\r\n").reason == ""
    assert parse(b"SIP/2.0 200\r\n\r\n").reason == ""


@pytest.mark.parametrize(
    "line, rule",
    [
        (b"SIP/2.0 20 OK", "status code is not 3 digits"),
        (b"SIP/2.0 2000 OK", "status code is not 3 digits"),
        (b"SIP/2.0 099 Low", "status code out of range"),
        (b"SIP/2.0 700 High", "status code out of range"),
        (b"SIP/2.x 200 OK", "bad SIP-Version"),
        (b"INVITE sip:a@b SIP/2.0 extra", "request line is not"),
        (b"INVITE sip:a@b", "request line is not"),
        (b"INV(ITE sip:a@b SIP/2.0", "method is not a token"),
        (b"INVITE user@example.com SIP/2.0", "bad Request-URI"),
        (b"INVITE sip:a@b HTTP/1.1", "bad SIP-Version"),
    ],
)
def test_bad_start_lines(line, rule):
    with pytest.raises(SipParseError) as info:
        parse(line + b"\r\nTo: sip:a@b\r\n\r\n")
    assert rule in info.value.rule


def test_rfc4475_ltgtruri_and_lwsstart_are_rejected():
    """RFC 4475 §3.1.2.8/§3.1.2.6: <> around, or extra SP in, the Request-URI."""
    with pytest.raises(SipParseError, match="Request-URI"):
        parse(wire(M.LTGTRURI))
    with pytest.raises(SipParseError, match="request line"):
        parse(wire(M.LWSSTART))


def test_leading_crlfs_are_ignored():
    """RFC 3261 §7.5: CRLFs before the start line are skipped."""
    m = parse(b"\r\n\r\nOPTIONS sip:a@b SIP/2.0\r\nl: 0\r\n\r\n")
    assert m.method == "OPTIONS"


def test_keepalive_is_an_error():
    with pytest.raises(SipParseError, match="empty message"):
        parse(b"\r\n\r\n")
    with pytest.raises(SipParseError, match="empty message"):
        parse(b"")


def test_version_kept_as_written():
    """SIP-Version is case-insensitive; a 505 decision belongs to the layers above."""
    assert parse(b"OPTIONS sip:a@b sip/7.0\r\n\r\n").version == "sip/7.0"


# -- header lines ---------------------------------------------------------------------
def test_header_names_stored_as_written_and_looked_up_any_case():
    m = parse(b"OPTIONS sip:a@b SIP/2.0\r\ncall-ID :  x@y \r\nv: SIP/2.0/UDP h\r\n\r\n")
    assert m.headers == (("call-ID", "x@y"), ("v", "SIP/2.0/UDP h"))
    assert m.get("Call-ID") == "x@y" and m.get("i") == "x@y"
    assert m.get_all("VIA") == ["SIP/2.0/UDP h"]


def test_folding_joins_with_one_space():
    m = parse(b"OPTIONS sip:a@b SIP/2.0\r\nSubject: one\r\n  two\r\n\tthree\r\nX: y\r\n\r\n")
    assert m.headers == (("Subject", "one two three"), ("X", "y"))


def test_bare_lf_line_ends():
    m = parse(b"OPTIONS sip:a@b SIP/2.0\nTo: sip:a@b\nFrom: sip:c@d;tag=1\n\nbody")
    assert m.get("to") == "sip:a@b" and m.body == b"body"


def test_mixed_line_ends_and_lf_crlf_blank_line():
    m = parse(b"OPTIONS sip:a@b SIP/2.0\r\nTo: sip:a@b\n\r\nbody")
    assert m.get("to") == "sip:a@b" and m.body == b"body"


def test_commas_are_not_split_in_storage():
    m = parse(b"OPTIONS sip:a@b SIP/2.0\r\nRoute: <sip:p1;lr>, <sip:p2;lr>\r\n\r\n")
    assert m.get_all("route") == ["<sip:p1;lr>, <sip:p2;lr>"]


def test_empty_header_value():
    assert parse(b"OPTIONS sip:a@b SIP/2.0\r\nSubject:\r\ns :  \r\n\r\n").headers == (
        ("Subject", ""),
        ("s", ""),
    )


def test_utf8_and_invalid_bytes_survive():
    raw = 'OPTIONS sip:a@b SIP/2.0\r\nFrom: "Jörg" <sip:j@b>\r\nX: \xff\r\n\r\n'.encode("latin-1")
    raw = raw.replace("Jörg".encode("latin-1"), "Jörg".encode())
    m = parse(raw)
    assert H.from_(m).display == "Jörg"
    assert serialise(m) == raw


@pytest.mark.parametrize(
    "raw, rule, offset",
    [
        (b"OPTIONS sip:a@b SIP/2.0\r\nNoColonHere\r\n\r\n", "without ':'", 25),
        (b"OPTIONS sip:a@b SIP/2.0\r\nBad Name: x\r\n\r\n", "not a token", 25),
        (b"OPTIONS sip:a@b SIP/2.0\r\n folded: x\r\n\r\n", "continuation line", 25),
        (b"OPTIONS sip:a@b SIP/2.0\r\nTo: a\rb\r\n\r\n", "bare CR", 30),
        (b"OPTIONS sip:a@b SIP/2.0\r\nTo: sip:a@b\r\n", "not ended by an empty line", 38),
    ],
)
def test_header_section_errors_name_rule_and_offset(raw, rule, offset):
    with pytest.raises(SipParseError) as info:
        parse(raw)
    assert rule in info.value.rule
    assert info.value.offset == offset
    assert str(info.value).startswith(info.value.rule) and str(offset) in str(info.value)


def test_error_offset_counts_bytes_not_characters():
    raw = "OPTIONS sip:a@b SIP/2.0\r\nX: ééé\r\nBad Name: x\r\n\r\n".encode()
    with pytest.raises(SipParseError) as info:
        parse(raw)
    assert info.value.offset == raw.index(b"Bad Name")


def test_error_is_valueerror_and_pickles():
    err = SipParseError("Content-Length larger than datagram", 42)
    assert isinstance(err, ValueError)
    back = pickle.loads(pickle.dumps(err))
    assert (back.rule, back.offset, back.header) == (err.rule, 42, None)
    assert str(err) == "Content-Length larger than datagram (offset 42)"


def test_parse_refuses_str():
    with pytest.raises(TypeError):
        parse("OPTIONS sip:a@b SIP/2.0\r\n\r\n")  # type: ignore[arg-type]


def test_parse_accepts_bytearray_and_memoryview():
    raw = b"OPTIONS sip:a@b SIP/2.0\r\n\r\n"
    assert parse(bytearray(raw)) == parse(memoryview(raw)) == parse(raw)


# -- Content-Length framing (§18.3) ---------------------------------------------------
def test_body_without_content_length_is_rest_of_datagram():
    assert (
        parse(b"MESSAGE sip:a@b SIP/2.0\r\nTo: x\r\n\r\nhello\r\n\r\nworld").body
        == b"hello\r\n\r\nworld"
    )


def test_shorter_content_length_truncates_body():
    m = parse(b"MESSAGE sip:a@b SIP/2.0\r\nl: 5\r\n\r\nhello world")
    assert m.body == b"hello"


def test_rfc4475_dblreq_second_request_ignored():
    m = parse(wire(M.DBLREQ))
    assert m.method == "REGISTER" and m.body == b""
    assert H.call_id(m) == "dblreq.0ha0isndaksdj99sdfafnl3lk233412"


def test_rfc4475_clerr_content_length_larger():
    raw = wire(M.CLERR)
    with pytest.raises(SipParseError) as info:
        parse(raw)
    assert info.value.rule == "Content-Length larger than datagram"
    assert info.value.offset == raw.index(b"\r\n\r\n") + 4


def test_rfc4475_ncl_negative_content_length():
    with pytest.raises(SipParseError, match="non-negative integer"):
        parse(wire(M.NCL))


@pytest.mark.parametrize("value", [b"", b"abc", b"1.5", b"+3", b"\xd9\xa3"])
def test_malformed_content_length(value):
    with pytest.raises(SipParseError, match="Content-Length"):
        parse(b"MESSAGE sip:a@b SIP/2.0\r\nContent-Length: " + value + b"\r\n\r\nabc")


def test_huge_content_length():
    with pytest.raises(SipParseError, match="larger than datagram"):
        parse(b"MESSAGE sip:a@b SIP/2.0\r\nContent-Length: " + b"9" * 5000 + b"\r\n\r\nabc")


def test_conflicting_content_lengths():
    with pytest.raises(SipParseError, match="conflicting"):
        parse(b"MESSAGE sip:a@b SIP/2.0\r\nContent-Length: 1\r\nl: 2\r\n\r\nabc")
    assert parse(b"MESSAGE sip:a@b SIP/2.0\r\nContent-Length: 2\r\nl: 02\r\n\r\nabc").body == b"ab"


# -- RFC 4475 valid messages --------------------------------------------------------
def test_rfc4475_wsinv():
    m = parse(wire(M.WSINV))
    assert (m.method, m.uri) == ("INVITE", "sip:vivekg@chair-dnrc.example.com;unknownparam")
    assert len(m.body) == 150 and m.body.startswith(b"v=0\r\n")
    assert m.get("subject") == ""
    assert m.get("NewFangledHeader") == "newfangled value continued newfangled value"
    assert m.get("UnknownHeaderWithUnusualValue") == ";;,,;;,;"
    assert m.get("cseq") == "0009 INVITE"
    assert H.cseq(m) == H.CSeq(9, "INVITE")
    assert H.max_forwards(m) == 68
    assert H.to(m).tag == "1918181833n" and H.to(m).uri == "sip:vivekg@chair-dnrc.example.com"
    assert H.from_(m).display == 'J Rosenberg \\"' and H.from_(m).tag == "98asjd8"
    vias = H.via_list(m)
    assert [(v.transport, v.host, v.branch) for v in vias] == [
        ("UDP", "192.0.2.2", "390skdjuw"),
        ("TCP", "spindle.example.com", "z9hG4bK9ikj8"),
        ("UDP", "192.168.255.111", "z9hG4bK30239"),
    ]
    assert all(v.protocol == "SIP/2.0" for v in vias) and vias[0].rport is True
    (contact,) = H.contact_list(m)
    assert contact.display == 'Quoted string ""'
    assert contact.param("newparam") == "newvalue" and contact.param("secondparam") == ""
    assert contact.q == 0.33
    (route,) = H.route_list(m)
    assert route.sip_uri.param("unknown-no-value") == "" and route.sip_uri.has_param("lr")
    assert H.content_type(m).mime == "application/sdp"


def test_rfc4475_esc01():
    m = parse(wire(M.ESC01))
    assert m.uri == "sip:sips%3Auser%40example.com@example.net"
    assert H.to(m).sip_uri.user == "%75se%72"
    assert H.from_(m).sip_uri.user == "I%20have%20spaces"
    assert H.call_id(m) == "esc01.239409asdfakjkn23onasd0-3234"
    uri = H.contact_list(m)[0].sip_uri
    assert uri.params == (("%6C%72", None), ("n%61me", "v%61lue%25%34%31"))
    assert H.content_type(m).mime == "application/sdp"


def test_rfc4475_esc02_percent_is_not_an_escape():
    m = parse(wire(M.ESC02))
    assert m.method == "RE%47IST%45R" and H.cseq(m).method == "RE%47IST%45R"
    assert [c.uri for c in H.contact_list(m)] == [
        "sip:alias1@host1.example.com",
        "sip:alias3@host3.example.com",
    ]
    assert m.get("C%6Fntact") == "<sip:alias2@host2.example.com>"
    assert H.to(m).display == "%Z%45"
    assert H.via_list(m)[0].branch == "z9hG4bK209%fzsnel234"


def test_rfc4475_lwsdisp():
    m = parse(wire(M.LWSDISP))
    f = H.from_(m)
    assert (f.display, f.uri, f.tag) == ("caller", "sip:caller@example.com", "323")


def test_rfc4475_longreq():
    m = parse(wire(M.LONGREQ))
    vias = H.via_list(m)
    assert len(vias) == 34
    assert [v.host for v in vias[:33]] == [f"sip{n}.example.com" for n in range(33, 0, -1)]
    assert vias[-1].received == "192.0.2.5" and vias[-1].branch.endswith("branchvalue")
    to = H.to(m)
    assert to.display.startswith("I have a user name of extremeextreme")
    assert to.sip_uri.port == 6000 and len(to.sip_uri.params) == 2
    assert (
        H.from_(m).tag.startswith("12981298")
        and H.from_(m).param("unknownValuelessparamname") == ""
    )
    assert len(m.body) == 150


# -- serialise ------------------------------------------------------------------------
def test_serialise_writes_fields_as_stored():
    m = Request("OPTIONS", "sip:a@b", (("v", "SIP/2.0/UDP h"), ("X", "")), b"hi")
    assert serialise(m) == b"OPTIONS sip:a@b SIP/2.0\r\nv: SIP/2.0/UDP h\r\nX: \r\n\r\nhi"
    r = Response(200, "OK")
    assert serialise(r) == b"SIP/2.0 200 OK\r\n\r\n"


def test_serialise_refuses_crlf_injection():
    with pytest.raises(ValueError, match="CR or LF"):
        serialise(Request("OPTIONS", "sip:a@b", (("X", "a\r\nInjected: yes"),)))
    with pytest.raises(ValueError, match="CR or LF"):
        serialise(Response(200, "OK\n"))


def test_with_content_length():
    m = Request("MESSAGE", "sip:a@b", (("l", "99"), ("X", "1"), ("Content-Length", "5")), b"hello!")
    out = with_content_length(m)
    assert out.headers == (("l", "6"), ("X", "1"))
    assert with_content_length(Request("MESSAGE", "sip:a@b", (), b"")).headers == (
        ("Content-Length", "0"),
    )
    assert parse(serialise(out)) == out


@pytest.mark.parametrize(
    "text",
    [M.WSINV, M.ESC01, M.ESC02, M.LWSDISP, M.LONGREQ, M.PUBLISH_INITIAL, M.PUBLISH_200, M.NOTIFY],
)
def test_serialise_parse_stable_on_rfc_messages(text):
    once = serialise(parse(wire(text)))
    assert serialise(parse(once)) == once
    assert parse(once) == parse(wire(text))


def test_strict_messages_round_trip_byte_exact():
    for text in (M.PUBLISH_INITIAL, M.PUBLISH_200, M.SUBSCRIBE, M.NOTIFY, M.LWSDISP):
        assert serialise(parse(wire(text))) == wire(text)


def test_message_header_helpers():
    m = parse(wire(M.PUBLISH_200))
    assert m.with_header("expires", "60").get_all("Expires") == ["60"]
    assert not m.without_header("SIP-ETag").has("sip-etag")
    assert m.add_header("Via", "SIP/2.0/UDP p;branch=z9hG4bKx", first=True).headers[0][0] == "Via"
    assert m.add_header("X", "1").headers[-1] == ("X", "1")
