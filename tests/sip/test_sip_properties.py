"""Properties of the SIP layer (hypothesis).

* ``parse(serialise(m)) == m`` for generated messages with valid parts;
* ``serialise(parse(b))`` is a fixed point for every ``b`` that parses;
* ``parse`` on arbitrary bytes, and on mutations of RFC messages, returns a
  message or raises :class:`SipParseError`, nothing else; the typed accessors
  and :func:`parse_uri` on whatever it returns behave the same way.
"""

from __future__ import annotations

import string

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import tests.sip.sip_rfc_messages as M
from puasim.sip import (
    Request,
    Response,
    SipParseError,
    SipUri,
    header_key,
    parse,
    parse_uri,
    serialise,
    with_content_length,
)
from puasim.sip import headers as H
from tests.sip.sip_rfc_messages import wire

TOKEN_CHARS = string.ascii_letters + string.digits + "-.!%*_+`'~"
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

tokens = st.text(TOKEN_CHARS, min_size=1, max_size=12)
line_text = st.text(
    st.characters(blacklist_characters="\r\n", blacklist_categories=("Cs",)), max_size=40
)
values = line_text.map(lambda s: s.strip(" \t"))
header_names = tokens.filter(lambda n: header_key(n) != "content-length")
headers = st.lists(st.tuples(header_names, values), max_size=8).map(tuple)
request_uris = st.builds(
    lambda scheme, rest: f"{scheme}:{rest}",
    st.sampled_from(["sip", "sips", "tel", "urn"]),
    st.text(string.ascii_letters + string.digits + "@.;=-_:%?&[]+$,/", min_size=1, max_size=30),
)


@st.composite
def messages(draw):
    hdrs = draw(headers)
    body = draw(st.binary(max_size=120))
    if draw(st.booleans()):
        msg = Request(draw(tokens), draw(request_uris), hdrs, body)
    else:
        msg = Response(draw(st.integers(100, 699)), draw(line_text), hdrs, body)
    return with_content_length(msg) if draw(st.booleans()) else msg


def accessors_only_raise_sip_errors(msg) -> None:
    for f in (
        H.via_list,
        H.from_,
        H.to,
        H.contact_list,
        H.route_list,
        H.record_route_list,
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
        H.allow_events,
    ):
        try:
            result = f(msg)
        except SipParseError:
            continue
        for item in result if isinstance(result, list) else [result]:
            for attr in ("rport", "expires", "q", "tag", "branch", "sip_uri"):
                try:
                    getattr(item, attr, None)
                except SipParseError:
                    pass


def check_any_bytes(data: bytes) -> None:
    try:
        msg = parse(data)
    except SipParseError as exc:
        assert isinstance(exc.offset, int) and 0 <= exc.offset <= len(data)
        assert exc.rule
        return
    assert isinstance(msg, Request | Response)
    once = serialise(msg)
    assert parse(once) == msg
    assert serialise(parse(once)) == once
    accessors_only_raise_sip_errors(msg)


@FAST
@given(messages())
def test_round_trip(msg):
    assert parse(serialise(msg)) == msg


@FAST
@given(st.binary(max_size=300))
def test_arbitrary_bytes(data):
    check_any_bytes(data)


@FAST
@given(
    st.lists(
        st.sampled_from(
            [
                b"INVITE sip:a@b SIP/2.0",
                b"SIP/2.0 200 OK",
                b"\r\n",
                b"\n",
                b"\r",
                b" ",
                b"\t",
                b":",
                b"Via",
                b"Content-Length",
                b"l",
                b": 5",
                b"0",
                b"-1",
                b"99999999999",
                b"<sip:x@y>",
                b'"',
                b";tag=",
                b",",
                b"\xff",
                b"\xc3\xa9",
                b"\x00",
                b"SIP/2.0/UDP h",
                b"CSeq: 1 X",
                b"Expires: ",
                b"*",
            ]
        ),
        max_size=40,
    ).map(b"".join)
)
def test_sip_shaped_noise(data):
    check_any_bytes(data)


CORPUS = [
    wire(t)
    for t in (
        M.WSINV,
        M.ESC01,
        M.LWSDISP,
        M.PUBLISH_INITIAL,
        M.SUBSCRIBE_200,
        M.NOTIFY,
        M.WINFO_NOTIFY_TERMINATED,
        M.SCALAR02,
    )
]


@st.composite
def mutations(draw):
    data = bytearray(draw(st.sampled_from(CORPUS)))
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["flip", "set", "delete", "insert", "truncate", "dup"]))
        if not data:
            break
        i = draw(st.integers(0, len(data) - 1))
        if kind == "flip":
            data[i] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set":
            data[i] = draw(st.sampled_from(b'\r\n \t:;,<>"\\@=0123456789\x00\xff'))
        elif kind == "delete":
            del data[i : i + draw(st.integers(1, 8))]
        elif kind == "insert":
            data[i:i] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "truncate":
            del data[i:]
        else:
            j = draw(st.integers(i, min(len(data), i + 40)))
            data[j:j] = data[i:j]
    return bytes(data)


@SLOW
@given(mutations())
def test_mutated_rfc_messages(data):
    check_any_bytes(data)


@FAST
@given(st.text(max_size=60))
def test_header_parsers_on_arbitrary_text(text):
    for f in (
        H.parse_via,
        H.parse_name_addr,
        H.parse_name_addr_list,
        H.parse_cseq,
        H.parse_call_id,
        H.parse_event,
        H.parse_subscription_state,
        H.parse_content_type,
        parse_uri,
    ):
        try:
            f(text)
        except SipParseError:
            pass


uri_users = st.text(
    string.ascii_letters + string.digits + "-_.!~*'()&=+$,;?/", min_size=1, max_size=10
)
uri_hosts = st.one_of(
    st.from_regex(r"[a-z0-9]([a-z0-9\-]{0,8}[a-z0-9])?(\.[a-z]{2,4}){0,2}", fullmatch=True),
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(lambda a: f"[{a}]"),
)
pchars = st.text(string.ascii_letters + string.digits + "-_.!~*'()[]/:&+$", min_size=1, max_size=8)
hchars = st.text(string.ascii_letters + string.digits + "-_.!~*'()[]/?:+$", max_size=8)


@FAST
@given(
    st.builds(
        SipUri,
        st.sampled_from(["sip", "sips"]),
        st.none() | uri_users,
        st.none(),
        uri_hosts,
        st.none() | st.integers(0, 65535),
        st.lists(st.tuples(pchars, st.none() | pchars), max_size=3).map(tuple),
        st.lists(st.tuples(hchars.filter(bool), hchars), max_size=2).map(tuple),
    )
)
def test_uri_round_trip_and_self_equivalence(uri):
    back = parse_uri(str(uri))
    assert back == uri and back.equivalent(uri)


@FAST
@given(
    st.none() | line_text,
    uri_hosts,
    st.none() | tokens,
    st.lists(st.tuples(tokens, st.none() | tokens), max_size=3),
)
def test_name_addr_format_parse(display, host, tag, params):
    text = H.format_name_addr(f"sip:u@{host}", tag=tag, display=display, params=tuple(params))
    na = H.parse_name_addr(text)
    assert (na.display, na.uri, na.tag) == (
        display,
        f"sip:u@{host}",
        tag if tag is not None else na.tag,
    )
    assert H.parse_name_addr(str(na)) == na


@FAST
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["<sip:a@b>", '"x, y" <sip:c@d;lr>', "sip:e@f;tag=1"]),
            st.sampled_from([",", " , ", ",\t"]),
        ),
        min_size=1,
        max_size=5,
    )
)
def test_comma_lists(parts):
    value = "".join(v + sep for v, sep in parts)[: -len(parts[-1][1])]
    got = H.parse_name_addr_list(value, "Route")
    assert len(got) == len(parts)
    assume(True)


# -- the fast paths (one regex for the usual shape) agree with the general parsers ----------
from puasim.sip import fields as F  # noqa: E402
from puasim.sip import uri as uri_module  # noqa: E402

fast_alphabet = string.ascii_letters[:6] + string.digits[:4] + ':@;=.-_[]%?&<>"/ \t,'
noise = st.text(fast_alphabet, max_size=30)
part = st.text(string.ascii_letters[:4] + string.digits[:3] + "-_.%:;=[]", max_size=6)
shaped_uri = st.builds(
    lambda scheme, user, host, port, params: f"{scheme}:{user}{host}{port}{params}",
    st.sampled_from(["sip", "sips", "SIP"]),
    st.sampled_from(["", "@"]) | part.map(lambda u: u + "@"),
    st.sampled_from(["example.com", "a", "192.0.2.1", "[::1]", "-x", "a_b.", ""]) | part,
    st.sampled_from(["", ":5060", ":0", ":65536", ":", ":00005"]),
    st.lists(part.map(lambda x: ";" + x), max_size=3).map("".join),
)
shaped_via = st.builds(
    lambda proto, host, params: f"{proto} {host}{params}",
    st.sampled_from(["SIP/2.0/UDP", "SIP/2.0/tcp", "SIP / 2.0 / UDP", "SIP/2.0", "S P/2.0/UDP"]),
    st.sampled_from(["h.example.com", "192.0.2.1:5060", "[::1]:5061", "h:70000", "h :5060", "h:"])
    | part,
    st.lists(part.map(lambda x: ";" + x), max_size=3).map("".join),
)
sip_ish = st.one_of(
    st.builds(
        lambda p, s: p + s,
        st.sampled_from(["sip:", "sips:", "SIP:", "<sip:", "SIP/2.0/UDP ", ""]),
        noise,
    ),
    shaped_uri,
    shaped_via,
    st.builds(
        lambda u, p: f"<{u}>{p}",
        shaped_uri,
        st.lists(part.map(lambda x: ";" + x), max_size=3).map("".join),
    ),
)


def outcome(fn, *args):
    try:
        return fn(*args)
    except SipParseError:
        return "error"


clean_part = st.text(string.ascii_letters[:4] + string.digits[:3] + "-_.:;=&$,", max_size=6)
clean_uri = st.builds(
    lambda scheme, user, host, port, params: f"{scheme}:{user}{host}{port}{params}",
    st.sampled_from(["sip", "sips"]),
    st.sampled_from(["", "@"]) | clean_part.map(lambda u: u + "@"),
    st.sampled_from(["example.com", "a", "192.0.2.1", "a_b.", "-x"]) | clean_part,
    st.sampled_from(["", ":5060", ":65535", ":65536", ":", ":00005"]),
    st.lists(clean_part.map(lambda x: ";" + x), max_size=3).map("".join),
)


@FAST
@given(sip_ish | clean_uri)
def test_uri_fast_path_agrees(text):
    assert outcome(parse_uri, text) == outcome(uri_module._parse_uri, text)


@FAST
@given(sip_ish)
def test_via_fast_path_agrees(text):
    fast = outcome(H.parse_via, text)
    general = outcome(
        lambda t: [F._parse_via_general(e, o) for o, e in F.split_commas(t, "Via")], text
    )
    assert fast == general


@FAST
@given(sip_ish.map(lambda t: t if t.startswith("<") else "<" + t))
def test_name_addr_fast_path_agrees(text):
    assert outcome(H.parse_name_addr, text) == outcome(F._parse_name_addr_general, text, "To", 0)
