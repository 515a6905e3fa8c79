"""SIP URIs: parsing, canonical text and RFC 3261 §19.1.4 comparison."""

from __future__ import annotations

import pytest

from puasim.sip import SipParseError, SipUri, parse_uri


def test_components():
    u = parse_uri(
        "sips:alice:secret@Atlanta.com:5061;transport=tcp;lr?subject=project%20x&priority=urgent"
    )
    assert u == SipUri(
        "sips",
        "alice",
        "secret",
        "Atlanta.com",
        5061,
        (("transport", "tcp"), ("lr", None)),
        (("subject", "project%20x"), ("priority", "urgent")),
    )
    assert u.transport == "tcp" and u.param("LR") == "" and u.param("maddr") is None


def test_minimal_and_defaults():
    u = parse_uri("sip:example.com")
    assert (u.user, u.password, u.host, u.port, u.params, u.headers) == (
        None,
        None,
        "example.com",
        None,
        (),
        (),
    )


def test_scheme_is_lowercased_and_empty_password_kept():
    u = parse_uri("SIP:user:@host")
    assert u.scheme == "sip" and u.password == "" and str(u) == "sip:user:@host"


@pytest.mark.parametrize(
    "text, host, port",
    [
        ("sip:[::1]", "[::1]", None),
        ("sip:user@[2001:db8::10]:5070;transport=udp", "[2001:db8::10]", 5070),
        ("sip:[::ffff:192.0.2.1]:5060", "[::ffff:192.0.2.1]", 5060),
        ("sip:192.0.2.4:5060", "192.0.2.4", 5060),
    ],
)
def test_hosts(text, host, port):
    u = parse_uri(text)
    assert (u.host, u.port) == (host, port)
    assert str(u) == text


def test_rfc4475_intmeth_unusual_user_and_password():
    """RFC 4475 §3.1.1.2: user and password with every allowed odd character."""
    text = "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com"
    u = parse_uri(text)
    assert u.user == "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"
    assert u.password == "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"
    assert u.host == "example.com" and str(u) == text


def test_rfc4475_semiuri_user_with_semicolon():
    """RFC 4475 §3.1.1.11: ``sip:user;par=u%40example.net@example.com`` has user ``user;par=u%40example.net``."""
    u = parse_uri("sip:user;par=u%40example.net@example.com")
    assert u.user == "user;par=u%40example.net" and u.params == ()


def test_round_trip_text():
    for text in (
        "sip:alice@atlanta.com",
        "sip:alice@atlanta.com;maddr=239.255.255.1;ttl=15",
        "sip:+1-212-555-1212:1234@gateway.com;user=phone",
        "sips:1212@gateway.com",
        "sip:alice@192.0.2.4",
        "sip:atlanta.com;method=REGISTER?to=alice%40atlanta.com",
        "sip:alice;day=tuesday@atlanta.com",
    ):
        assert parse_uri(text).format() == text


@pytest.mark.parametrize(
    "text, rule, offset",
    [
        ("alice@atlanta.com", "without scheme", 0),
        ("tel:+1-555", "not sip or sips", 0),
        ("sip:", "bad host", 4),
        ("sip:@host", "bad user", 4),
        ("sip:al ice@host", "bad user", 4),
        ("sip:alice@", "bad host", 10),
        ("sip:alice@host:99999", "bad port", 15),
        ("sip:alice@host:", "bad port", 15),
        ("sip:alice@host:50x", "bad port", 15),
        ("sip:alice@[::1", "without ']'", 10),
        ("sip:alice@[zz]", "bad IPv6", 10),
        ("sip:alice@host;;lr", "bad URI parameter name", 15),
        ("sip:alice@host;a=b c", "bad URI parameter value", 17),
        ("sip:alice@host?x", "bad URI header", 15),
        ("sip:alice@host?=y", "bad URI header", 15),
        ("sip:alice%2@host", "bad user", 4),
        ("sip:alice@host]", "bad host", 10),
    ],
)
def test_errors_name_rule_and_offset(text, rule, offset):
    with pytest.raises(SipParseError) as info:
        parse_uri(text)
    assert rule in info.value.rule
    assert info.value.offset == offset


# RFC 3261 §19.1.4: "the following are equivalent"
EQUIVALENT = [
    ("sip:%61lice@atlanta.com;transport=TCP", "sip:alice@AtLanTa.CoM;Transport=tcp"),
    ("sip:carol@chicago.com", "sip:carol@chicago.com;newparam=5"),
    ("sip:carol@chicago.com", "sip:carol@chicago.com;security=on"),
    ("sip:carol@chicago.com;newparam=5", "sip:carol@chicago.com;security=on"),
    (
        "sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com",
        "sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com",
    ),
    (
        "sip:alice@atlanta.com?subject=project%20x&priority=urgent",
        "sip:alice@atlanta.com?priority=urgent&subject=project%20x",
    ),
    ("sip:alice@[::1]", "sip:alice@[0:0:0:0:0:0:0:1]"),
]

# RFC 3261 §19.1.4: "the following are not equivalent"
NOT_EQUIVALENT = [
    ("SIP:ALICE@AtLanTa.CoM;Transport=udp", "sip:alice@AtLanTa.CoM;Transport=UDP"),  # username case
    ("sip:bob@biloxi.com", "sip:bob@biloxi.com:5060"),  # port presence
    ("sip:bob@biloxi.com", "sip:bob@biloxi.com;transport=udp"),  # transport presence
    ("sip:bob@biloxi.com", "sip:bob@biloxi.com:6000;transport=tcp"),
    ("sip:carol@chicago.com", "sip:carol@chicago.com?Subject=next%20meeting"),  # header
    ("sip:bob@phone21.boxesbybob.com", "sip:bob@192.0.2.4"),  # no DNS resolution
    ("sip:alice@atlanta.com", "sips:alice@atlanta.com"),
    ("sip:alice@atlanta.com", "sip:alice:pw@atlanta.com"),
    ("sip:alice@atlanta.com;maddr=10.0.0.1", "sip:alice@atlanta.com"),
    ("sip:alice@atlanta.com;user=phone", "sip:alice@atlanta.com"),
    ("sip:alice@atlanta.com;ttl=1", "sip:alice@atlanta.com"),
    ("sip:alice@atlanta.com;method=INVITE", "sip:alice@atlanta.com"),
    ("sip:alice@atlanta.com;foo=1", "sip:alice@atlanta.com;foo=2"),
]


@pytest.mark.parametrize("a, b", EQUIVALENT)
def test_equivalent(a, b):
    ua, ub = parse_uri(a), parse_uri(b)
    assert ua.equivalent(ub) and ub.equivalent(ua)


@pytest.mark.parametrize("a, b", NOT_EQUIVALENT)
def test_not_equivalent(a, b):
    ua, ub = parse_uri(a), parse_uri(b)
    assert not ua.equivalent(ub) and not ub.equivalent(ua)


def test_escaped_reserved_character_is_not_its_character():
    """§19.1.4: only non-reserved characters equal their %HH form."""
    assert not parse_uri("sip:a%3Bb@host").equivalent(parse_uri("sip:a;b@host"))
    assert parse_uri("sip:a%3bb@host").equivalent(parse_uri("sip:a%3Bb@host"))


def test_dataclass_eq_is_plain_field_equality():
    assert parse_uri("sip:a@HOST") != parse_uri("sip:a@host")
    assert parse_uri("sip:a@HOST").equivalent(parse_uri("sip:a@host"))
    assert not parse_uri("sip:a@host").equivalent("sip:a@host")  # type: ignore[arg-type]


def test_format_hostport_brackets_ipv6_only() -> None:
    from puasim.sip import format_host, format_hostport

    assert format_hostport("::1", 5060) == "[::1]:5060"
    assert format_hostport("[::1]", 5060) == "[::1]:5060"
    assert format_hostport("127.0.0.1", 5060) == "127.0.0.1:5060"
    assert format_hostport("example.com", None) == "example.com"
    assert format_host("2001:db8::1") == "[2001:db8::1]"
    assert str(parse_uri(f"sip:{format_hostport('fe80::2', 5070)}").port) == "5070"


@pytest.mark.parametrize(
    ("text", "default", "expected"),
    [("127.0.0.1:5060", None, ("127.0.0.1", 5060)), ("[::1]:5060", None, ("::1", 5060)),
     ("[::1]", 5060, ("::1", 5060)), ("::1", 0, ("::1", 0)), ("host", 7, ("host", 7))],
)
def test_split_hostport(text: str, default: int | None, expected: tuple[str, int]) -> None:
    from puasim.sip import split_hostport

    assert split_hostport(text, default) == expected


@pytest.mark.parametrize("text", ["127.0.0.1", "127.0.0.1:x", "127.0.0.1:70000", ":5060", "[::1", "[::1]5060", "::1"])
def test_split_hostport_names_the_bad_text(text: str) -> None:
    from puasim.sip import split_hostport

    with pytest.raises(ValueError, match=text.replace("[", r"\[")):
        split_hostport(text)
