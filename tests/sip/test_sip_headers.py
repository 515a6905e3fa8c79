"""Typed header accessors, with RFC 3903 / RFC 6665 / RFC 4475 messages as facts."""

from __future__ import annotations

import pytest

import tests.sip.sip_rfc_messages as M
from puasim.sip import Request, Response, SipParseError, parse
from puasim.sip import headers as H
from tests.sip.sip_rfc_messages import wire


def req(*headers: tuple[str, str]) -> Request:
    return Request("OPTIONS", "sip:a@b", tuple(headers))


# -- RFC 3903 §10 PUBLISH flows ----------------------------------------------------------
def test_rfc3903_initial_publish():
    m = parse(wire(M.PUBLISH_INITIAL))
    assert m.method == "PUBLISH" and m.body == wire(M.PIDF)
    assert H.event(m) == H.Event("presence", None, ())
    assert H.expires(m) == 3600 and H.max_forwards(m) == 70
    assert H.sip_if_match(m) is None and H.sip_etag(m) is None
    ct = H.content_type(m)
    assert (ct.type, ct.subtype, ct.mime) == ("application", "pidf+xml", "application/pidf+xml")
    assert H.from_(m).tag == "1234wxyz" and H.to(m).tag is None
    assert H.cseq(m) == H.CSeq(1, "PUBLISH")
    (via,) = H.via_list(m)
    assert (via.protocol, via.transport, via.host, via.port, via.branch) == (
        "SIP/2.0",
        "UDP",
        "pua.example.com",
        None,
        "z9hG4bK652hsge",
    )


def test_rfc3903_200_ok_carries_etag_and_expires():
    m = parse(wire(M.PUBLISH_200))
    assert (m.status, H.sip_etag(m), H.expires(m), H.expires_or_none(m)) == (
        200,
        "dx200xyz",
        1800,
        1800,
    )
    assert H.to(m).tag == "1a2b3c4d"


def test_rfc3903_refresh_and_remove():
    refresh = parse(wire(M.PUBLISH_REFRESH))
    assert (
        H.sip_if_match(refresh) == "dx200xyz"
        and refresh.body == b""
        and H.content_type(refresh) is None
    )
    remove = parse(wire(M.PUBLISH_REMOVE))
    assert H.sip_if_match(remove) == "kwj449x" and H.expires(remove) == 0


def test_rfc3903_412():
    m = parse(wire(M.PUBLISH_412))
    assert (m.status, m.reason) == (412, "Conditional Request Failed")
    assert H.sip_etag(m) is None and H.expires(m) is None


# -- SUBSCRIBE / NOTIFY ----------------------------------------------------------------
def test_subscribe():
    m = parse(wire(M.SUBSCRIBE))
    assert H.event(m).package == "presence" and H.expires(m) == 3600
    (c,) = H.contact_list(m)
    assert (
        c.uri == "sip:user@host.example.com"
        and c.display is None
        and str(c) == "<sip:user@host.example.com>"
    )


def test_subscribe_200_record_route_commas_inside_quotes():
    m = parse(wire(M.SUBSCRIBE_200))
    rr = H.record_route_list(m)
    assert [r.uri for r in rr] == [
        "sip:p1.example.com;lr",
        "sip:p2.example.com;lr",
        "sip:p3.example.com;lr",
    ]
    assert rr[2].display == "Proxy 3, the last"
    assert [str(r) for r in rr][:2] == ["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"]
    assert H.via_list(m)[0].received == "192.0.2.1"
    assert H.route_list(m) == []


def test_notify_subscription_state_and_content_type_params():
    m = parse(wire(M.NOTIFY))
    ss = H.subscription_state(m)
    assert (ss.state, ss.expires, ss.reason, ss.retry_after) == ("active", 3599, None, None)
    assert ss.is_active and not ss.is_terminated
    ct = H.content_type(m)
    assert ct.charset == "UTF-8" and ct.params == (("charset", '"UTF-8"'),)
    assert str(ct) == 'application/pidf+xml;charset="UTF-8"'


def test_winfo_notify_terminated_compact_event_and_allow_events():
    m = parse(wire(M.WINFO_NOTIFY_TERMINATED))
    ev = H.event(m)
    assert (ev.package, ev.id, ev.params) == ("presence.winfo", "77", (("id", "77"),))
    ss = H.subscription_state(m)
    assert (ss.state, ss.reason, ss.retry_after, ss.expires) == ("terminated", "timeout", 120, None)
    assert ss.is_terminated
    assert H.allow_events(m) == ["presence", "presence.winfo", "dialog", "message-summary"]


# -- Event (RFC 6665 §8.2.1) --------------------------------------------------------------
@pytest.mark.parametrize(
    "value, package, id_, params",
    [
        ("presence", "presence", None, ()),
        ("dialog;sla", "dialog", None, (("sla", None),)),
        ("dialog ; sla ; ma", "dialog", None, (("sla", None), ("ma", None))),
        ("message-summary", "message-summary", None, ()),
        ("presence.winfo", "presence.winfo", None, ()),
        ("reg;id=a1;x=y", "reg", "a1", (("id", "a1"), ("x", "y"))),
    ],
)
def test_event(value, package, id_, params):
    ev = H.event(req(("Event", value)))
    assert (ev.package, ev.id, ev.params) == (package, id_, params)


@pytest.mark.parametrize(
    "value", ["", "pres ence", ".presence", "presence.", "presence..winfo", "dialog;;sla", "a/b"]
)
def test_event_malformed(value):
    with pytest.raises(SipParseError) as info:
        H.event(req(("o", value)))
    assert info.value.header == "Event"


def test_event_format():
    assert str(H.Event("dialog", None, (("sla", None),))) == "dialog;sla"
    assert str(H.Event("presence", "7")) == "presence;id=7"
    assert str(H.parse_event("reg;id=a1;x=y")) == "reg;id=a1;x=y"


# -- Subscription-State (RFC 6665 §8.2.3) --------------------------------------------------
def test_subscription_state_variants():
    ss = H.parse_subscription_state("PENDING;expires=0010")
    assert (ss.state, ss.expires) == ("pending", 10) and ss.is_pending
    assert (
        str(H.SubscriptionState("terminated", reason="noresource"))
        == "terminated;reason=noresource"
    )
    assert H.parse_subscription_state("active;expires=60;foo").params == (
        ("expires", "60"),
        ("foo", None),
    )
    for bad in (
        "",
        "active;expires=abc",
        "active;expires=4294967296",
        "active;retry-after=-1",
        "act ive",
    ):
        with pytest.raises(SipParseError) as info:
            H.parse_subscription_state(bad)
        assert info.value.header == "Subscription-State"


# -- Via (§20.42, RFC 3581) -------------------------------------------------------------------
def test_via_ports_rport_received_ipv6():
    vias = H.via_list(
        req(
            ("Via", "SIP/2.0/UDP 192.0.2.1:5062;rport=5070;received=198.51.100.1;branch=z9hG4bKa"),
            (
                "v",
                "SIP/2.0/TCP [2001:db8::1]:5061;branch=z9hG4bKb, SIP/2.0/tls proxy.example.com ; rport",
            ),
        )
    )
    assert [(v.host, v.port, v.rport) for v in vias] == [
        ("192.0.2.1", 5062, 5070),
        ("[2001:db8::1]", 5061, None),
        ("proxy.example.com", None, True),
    ]
    assert vias[0].received == "198.51.100.1" and vias[0].sent_by == "192.0.2.1:5062"
    assert vias[2].transport == "tls" and vias[2].transport_upper == "TLS"
    assert H.top_via(req(*[("Via", "SIP/2.0/UDP a"), ("Via", "SIP/2.0/UDP b")])).host == "a"
    assert (
        str(vias[0])
        == "SIP/2.0/UDP 192.0.2.1:5062;rport=5070;received=198.51.100.1;branch=z9hG4bKa"
    )


def test_via_colon_with_lws():
    (v,) = H.parse_via("SIP/2.0/UDP host.example.com : 5060;branch=z9hG4bK1")
    assert (v.host, v.port) == ("host.example.com", 5060)


@pytest.mark.parametrize(
    "value",
    [
        "SIP/2.0/UDP 192.0.2.15;;,;,,",  # RFC 4475 badinv01
        "SIP/2.0/UDP",
        "SIP/2.0 host",
        "SIP/2.0/UDP host:port",
        "SIP/2.0/UDP host:70000",
        "SIP/2.0/UDP [::1",
        "SIP/2.0/UDP host;branch=a b",
        "SIP/2.0/UDP host, ",
        "SIP/2.0/UDP host more",
    ],
)
def test_via_malformed(value):
    with pytest.raises(SipParseError) as info:
        H.via_list(req(("Via", value)))
    assert info.value.header == "Via"


def test_via_bad_rport_value_raises_on_access():
    (v,) = H.parse_via("SIP/2.0/UDP h;rport=abc")
    with pytest.raises(SipParseError):
        _ = v.rport


# -- name-addr: From / To / Contact / Route ------------------------------------------------------
@pytest.mark.parametrize(
    "value, display, uri, params",
    [
        ("<sip:a@b>", None, "sip:a@b", ()),
        ("sip:a@b;tag=x", None, "sip:a@b", (("tag", "x"),)),
        ('"Bob \\"B\\"" <sip:bob@b>;tag=1', 'Bob "B"', "sip:bob@b", (("tag", "1"),)),
        ("Bob Smith <sip:bob@b>", "Bob Smith", "sip:bob@b", ()),
        ('"" <sip:x@y>', "", "sip:x@y", ()),
        ('<sip:a@b;lr>;x="a;b,c"', None, "sip:a@b;lr", (("x", '"a;b,c"'),)),
        ("<tel:+1-555-0100>", None, "tel:+1-555-0100", ()),
        (
            "<urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6>",
            None,
            "urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6",
            (),
        ),
    ],
)
def test_name_addr(value, display, uri, params):
    na = H.parse_name_addr(value)
    assert (na.display, na.uri, na.params) == (display, uri, params)
    assert H.parse_name_addr(str(na)) == na


@pytest.mark.parametrize(
    "value",
    [
        "",
        "<sip:a@b",
        "sip:a@b>",
        "Bob <>",
        '"Bob <sip:a@b>',
        '"Bob" sip:a@b',
        "<sip:a@b>;tag",
        "<notauri>",
        "<sip:a@b> junk",
    ],
)
def test_name_addr_malformed(value):
    msg = req(("To", value))
    if value == "<sip:a@b>;tag":  # a valueless tag is syntactically fine
        assert H.to(msg).tag == ""
        return
    with pytest.raises(SipParseError) as info:
        H.to(msg)
    assert info.value.header == "To"


def test_rfc4475_badinv01_contact_empty_params():
    m = parse(wire(M.BADINV01))  # framing is fine ...
    with pytest.raises(SipParseError):  # ... the Contact and Via are not
        H.contact_list(m)
    with pytest.raises(SipParseError):
        H.via_list(m)


def test_contact_wildcard_and_expires():
    assert H.contact_list(req(("Contact", "*"))) == [H.WILDCARD]
    assert H.contact_list(req(("Contact", "*")))[0].is_wildcard
    with pytest.raises(SipParseError):
        H.contact_list(req(("Contact", "*"), ("Contact", "<sip:a@b>")))
    cs = H.contact_list(req(("m", '<sip:a@b>;expires=60;q=0.5, "X" <sip:c@d>')))
    assert [(c.uri, c.expires, c.q) for c in cs] == [("sip:a@b", 60, 0.5), ("sip:c@d", None, None)]
    assert str(H.WILDCARD) == "*"


def test_absent_headers_give_none_or_empty():
    m = req()
    for f in (
        H.from_,
        H.to,
        H.cseq,
        H.call_id,
        H.expires,
        H.expires_or_none,
        H.event,
        H.subscription_state,
        H.sip_etag,
        H.sip_if_match,
        H.content_type,
        H.min_expires,
        H.max_forwards,
        H.top_via,
    ):
        assert f(m) is None
    for f in (H.via_list, H.contact_list, H.route_list, H.record_route_list, H.allow_events):
        assert f(m) == []


def test_format_name_addr():
    assert (
        H.format_name_addr("sip:alice@example.com", tag="a1b2")
        == "<sip:alice@example.com>;tag=a1b2"
    )
    assert H.format_name_addr("sip:a@b", display='Al "The" Ice') == '"Al \\"The\\" Ice" <sip:a@b>'
    assert H.format_name_addr("sip:a@b", tag="t", params=(("x", None),)) == "<sip:a@b>;tag=t;x"
    text = H.format_name_addr("sip:a@b", tag="t", display="A")
    assert H.parse_name_addr(text) == H.NameAddr("A", "sip:a@b", (("tag", "t"),))


# -- scalars: CSeq, Call-ID, Expires, Max-Forwards, Min-Expires --------------------------------
def test_rfc4475_scalar02_overlarge_values():
    """RFC 4475 §3.1.2.4: parse succeeds; each out-of-range value fails where it is read."""
    m = parse(wire(M.SCALAR02))
    with pytest.raises(SipParseError) as info:
        H.cseq(m)
    assert info.value.header == "CSeq" and "larger" in info.value.rule
    with pytest.raises(SipParseError, match="larger than 255"):
        H.max_forwards(m)
    assert H.max_forwards_or_none(m) is None
    with pytest.raises(SipParseError):
        H.expires(m)
    assert H.expires_or_none(m) is None
    (c,) = H.contact_list(m)
    with pytest.raises(SipParseError):
        _ = c.expires


def test_rfc4475_scalarlg_response():
    m = parse(wire(M.SCALARLG))
    assert m.status == 503
    with pytest.raises(SipParseError):
        H.cseq(m)


@pytest.mark.parametrize(
    "value, ok",
    [
        ("4294967295", 4294967295),
        ("0", 0),
        ("0600", 600),
        ("4294967296", None),
        ("-1", None),
        ("36 00", None),
        ("1e3", None),
        ("", None),
        ("\u0663", None),
    ],
)
def test_expires_bounds(value, ok):
    m = req(("Expires", value))
    assert H.expires_or_none(m) == ok
    if ok is None:
        with pytest.raises(SipParseError) as info:
            H.expires(m)
        assert info.value.header == "Expires"
    else:
        assert H.expires(m) == ok


def test_cseq_bounds_and_form():
    assert H.cseq(req(("CSeq", "4294967295 NOTIFY"))) == H.CSeq(4294967295, "NOTIFY")
    assert str(H.CSeq(7, "PUBLISH")) == "7 PUBLISH"
    for bad in ("4294967296 PUBLISH", "PUBLISH", "1 PUBLISH extra", "x PUBLISH", "1 PUB(LISH"):
        with pytest.raises(SipParseError) as info:
            H.cseq(req(("CSeq", bad)))
        assert info.value.header == "CSeq"


def test_min_expires_and_max_forwards():
    assert H.min_expires(req(("Min-Expires", "1800"))) == 1800
    assert H.max_forwards(req(("Max-Forwards", "255"))) == 255
    with pytest.raises(SipParseError):
        H.min_expires(req(("Min-Expires", "soon")))


def test_call_id():
    assert (
        H.call_id(req(("i", "a84b4c76e66710@pc33.atlanta.com")))
        == "a84b4c76e66710@pc33.atlanta.com"
    )
    intmeth = "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{"  # RFC 4475 §3.1.1.2
    assert H.call_id(req(("Call-ID", intmeth))) == intmeth
    for bad in ("", "a b", "a@b@c", "a@"):
        with pytest.raises(SipParseError):
            H.call_id(req(("Call-ID", bad)))


def test_etags_must_be_tokens():
    assert H.sip_etag(Response(200, "OK", (("SIP-ETag", "kwj449x"),))) == "kwj449x"
    with pytest.raises(SipParseError) as info:
        H.sip_if_match(req(("SIP-If-Match", "two words")))
    assert info.value.header == "SIP-If-Match"


def test_content_type_forms():
    ct = H.content_type(req(("c", "Application/PIDF+XML ; charset=utf-8")))
    assert ct.mime == "application/pidf+xml" and ct.type == "Application" and ct.charset == "utf-8"
    assert (
        H.parse_content_type('multipart/related;type="application/rlmi+xml";boundary=b1').param(
            "type"
        )
        == "application/rlmi+xml"
    )
    for bad in ("text", "text/", "/plain", "text/plain;", "text plain"):
        with pytest.raises(SipParseError):
            H.parse_content_type(bad)


def test_allow_events_malformed():
    with pytest.raises(SipParseError) as info:
        H.allow_events(req(("Allow-Events", "presence,,dialog")))
    assert info.value.header == "Allow-Events"
