"""Per-message caches: each header is parsed once, and the caches never change a value."""

from __future__ import annotations

import pickle
from dataclasses import replace

import pytest

from puasim.sip import headers as H
from puasim.sip import parse, serialise
from puasim.sip.errors import SipParseError
from puasim.sip.message import Request, Response

RAW = (
    b"PUBLISH sip:alice@example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK1;rport\r\n"
    b"v: SIP/2.0/UDP 192.0.2.11;branch=z9hG4bK2\r\n"
    b"To: <sip:alice@example.com>\r\n"
    b"From: <sip:alice@example.com>;tag=abc\r\n"
    b"CSeq: 10 PUBLISH\r\n"
    b"Call-ID: c1@192.0.2.10\r\n"
    b"Event: presence\r\n"
    b"Expires: 3600\r\n"
    b"Content-Length: 0\r\n\r\n"
)


def test_a_field_is_parsed_once_per_message(monkeypatch):
    msg = parse(RAW)
    calls = []
    real = H.parse_via

    def counting(value, base=0):
        calls.append(value)
        return real(value, base)

    monkeypatch.setattr(H, "parse_via", counting)
    first = H.via_list(msg)
    second = H.via_list(msg)
    assert first == second and [v.branch for v in first] == ["z9hG4bK1", "z9hG4bK2"]
    assert len(calls) == 2  # two Via lines, each parsed once for both calls
    first.append(first[0])  # a caller's list is its own
    assert len(H.via_list(msg)) == 2


def test_dropped_caches_are_rebuilt_with_the_same_values():
    msg = parse(RAW)
    before = (H.via_list(msg), H.to(msg), H.from_(msg), H.cseq(msg), H.call_id(msg), H.event(msg), H.expires(msg))
    assert msg.get_all("via") == [
        "SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK1;rport",
        "SIP/2.0/UDP 192.0.2.11;branch=z9hG4bK2",
    ]
    msg.drop_caches()
    after = (H.via_list(msg), H.to(msg), H.from_(msg), H.cseq(msg), H.call_id(msg), H.event(msg), H.expires(msg))
    assert before == after
    assert msg.get("V") == msg.get("via") and msg.get("x-none", "d") == "d"


def test_caches_are_not_part_of_the_value():
    a = parse(RAW)
    b = parse(RAW)
    H.via_list(a)
    H.cseq(a)
    assert a == b and hash(a) == hash(b) and repr(a) == repr(b)
    assert serialise(a) == RAW
    assert pickle.loads(pickle.dumps(a)) == a
    c = replace(a, headers=(("Via", "SIP/2.0/UDP h;branch=z9hG4bKx"), *a.headers[2:]))
    assert [v.branch for v in H.via_list(c)] == ["z9hG4bKx"]  # a copy does not inherit caches
    assert a.with_header("Expires", "5").get("expires") == "5" and H.expires(a) == 3600


def test_a_parse_error_is_raised_every_time_not_cached():
    msg = Response(200, "OK", (("CSeq", "x PUBLISH"),))
    for _ in range(2):
        with pytest.raises(SipParseError):
            H.cseq(msg)


def test_typed_keeps_any_value_once():
    msg = Request("OPTIONS", "sip:a@b")
    seen = []
    assert msg.typed("k", lambda m: seen.append(1) or 42) == 42
    assert msg.typed("k", lambda m: seen.append(1) or 43) == 42
    assert seen == [1]


@pytest.mark.parametrize(
    ("parse", "good", "bad"),
    [
        ("parse_name_addr", "<sip:alice@127.0.0.1>", "<sip:alice@>"),
        ("parse_cseq", "10 PUBLISH", "x PUBLISH"),
        ("parse_event", "presence;id=1", "pres ence"),
        ("parse_content_type", "application/pidf+xml", "pidf"),
        ("parse_subscription_state", "active;expires=600", ";x"),
    ],
)
def test_recurring_values_are_parsed_once_and_errors_raise_every_time(parse, good, bad):
    from puasim.sip import fields

    fn = getattr(fields, parse)
    assert fn(good) is fn(good)  # one immutable value for a recurring text
    for _ in range(2):
        with pytest.raises(SipParseError):
            fn(bad)


def test_uris_are_parsed_once_and_errors_raise_every_time():
    from puasim.sip.uri import parse_uri

    assert parse_uri("sip:p1@127.0.0.1") is parse_uri("sip:p1@127.0.0.1")
    for _ in range(2):
        with pytest.raises(SipParseError):
            parse_uri("sip:@")


def test_has_field_with_and_without_an_index():
    msg = parse(RAW)
    assert msg.has_field("via") and msg.has_field("call-id") and not msg.has_field("route")
    assert msg._hindex is None  # a scan, no index built
    msg.get("via")
    assert msg.has_field("via") and not msg.has_field("route")


@pytest.mark.parametrize(
    "text, branch",
    [
        ("SIP/2.0/UDP h:5060;branch=z9hG4bKa", "z9hG4bKa"),
        ("SIP/2.0/UDP h;received=1.2.3.4;branch=z9hG4bKb", "z9hG4bKb"),
        ("SIP/2.0/UDP h;BRANCH=z9hG4bKc;branch=other", "z9hG4bKc"),
        ("SIP/2.0/UDP h;branch", ""),
        ("SIP/2.0/UDP h;branch=\"q\"", "q"),
        ("SIP/2.0/UDP h;rport", None),
    ],
)
def test_via_branch_read_from_the_first_parameter_as_the_general_rule_reads_it(text, branch):
    from puasim.sip.fields import _param_value, parse_via

    via = parse_via(text)[0]
    assert via.branch == branch == _param_value(via.params, "branch")
