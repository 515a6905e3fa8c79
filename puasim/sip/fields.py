"""Header field values as small frozen dataclasses (RFC 3261 §20, §25.1).

One parse function per field grammar, each taking the text of one header
field line: Via (§20.42), name-addr values of From/To/Contact/Route/
Record-Route (§20.10, §20.20, §20.39, §20.34, §20.30), CSeq (§20.16),
Call-ID (§20.8), Event and Subscription-State (RFC 6665 §8.2.1, §8.2.3),
Content-Type (§20.15) and token values (SIP-ETag/SIP-If-Match, RFC 3903
§11.3).  Malformed text raises :class:`SipParseError` naming the header field
and the character offset in the value.

The usual, tightly written shapes (``SIP/2.0/UDP host:port;branch=..``,
``<sip:..>;tag=..``) are recognised by one regex match; anything else goes
through the general parser, which also gives the precise error.  Tests check
both paths agree.  :mod:`puasim.sip.headers` reads these from messages.

Parsers of values that recur from message to message (name-addr, CSeq,
Event, Subscription-State, Content-Type) keep their recent results: the
values are immutable, and a malformed text raises afresh every time.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

from puasim.frozen import quick_init
from puasim.sip.errors import SipParseError
from puasim.sip.syntax import (
    MAX_UINT32,
    TOKEN_RE,
    WORD_RE,
    Params,
    find_param,
    format_params,
    is_token,
    parse_params,
    parse_uint,
    quote,
    quoted_end,
    split_commas,
    unquote,
)
from puasim.sip.uri import HOSTNAME_RE, IPV6_RE, SipUri, parse_uri

_WS = " \t"


def _param_value(params: Params, name: str) -> str | None:
    """Unquoted value of ``name``; ``""`` for a valueless parameter; ``None`` if absent."""
    present, value = find_param(params, name)
    if not present:
        return None
    return "" if value is None else unquote(value)


# --------------------------------------------------------------------------- Via (§20.42)
@quick_init
@dataclass(frozen=True, slots=True)
class Via:
    """One Via value: ``SIP/2.0/UDP host:port;params`` (RFC 3261 §20.42, §18.2.1).

    ``protocol`` is ``"SIP/2.0"`` (name/version, LWS removed), ``transport``
    as written (compare with :attr:`transport_upper`), ``host`` with brackets
    for IPv6, ``port`` ``None`` when absent.
    """

    protocol: str
    transport: str
    host: str
    port: int | None = None
    params: Params = field(default=())

    @property
    def transport_upper(self) -> str:
        return self.transport.upper()

    @property
    def branch(self) -> str | None:
        params = self.params
        if params and params[0][0] == "branch":  # where every UA here writes it: the first match
            value = params[0][1]
            return "" if value is None else unquote(value)
        return _param_value(params, "branch")

    @property
    def received(self) -> str | None:
        return _param_value(self.params, "received")

    @property
    def maddr(self) -> str | None:
        return _param_value(self.params, "maddr")

    @property
    def rport(self) -> int | bool | None:
        """RFC 3581: ``None`` absent, ``True`` present without value, else the port."""
        present, value = find_param(self.params, "rport")
        if not present:
            return None
        if value is None or value == "":
            return True
        return parse_uint(value, 65535, "rport", "Via")

    @property
    def sent_by(self) -> str:
        return self.host if self.port is None else f"{self.host}:{self.port}"

    def param(self, name: str) -> str | None:
        return _param_value(self.params, name)

    def format(self) -> str:
        return f"{self.protocol}/{self.transport} {self.sent_by}{format_params(self.params)}"

    __str__ = format


def _parse_host_port(text: str, header: str, base: int) -> tuple[str, int | None]:
    """``host [ COLON port ]`` (§25.1 ``sent-by``/``hostport``), LWS around ':' allowed."""
    text = text.strip(_WS)
    if text.startswith("["):
        close = text.find("]")
        host = text[: close + 1] if close >= 0 else text
        if close < 0 or IPV6_RE.fullmatch(host) is None:
            raise SipParseError("bad IPv6 reference", base, header)
        rest = text[close + 1 :].strip(_WS)
        if rest and not rest.startswith(":"):
            raise SipParseError("unexpected text after host", base + close + 1, header)
        port_text = rest[1:] if rest else None
    else:
        host, colon, port_text_raw = text.partition(":")
        host = host.strip(_WS)
        if HOSTNAME_RE.fullmatch(host) is None:
            raise SipParseError("bad host", base, header)
        port_text = port_text_raw if colon else None
    if port_text is None:
        return host, None
    port = parse_uint(port_text.strip(_WS), 65535, "port", header, base)
    return host, port


#: ``SIP/2.0/UDP host:port;params`` written tightly: the usual shape in one match
_VIA_FAST_RE = re.compile(
    r"([A-Za-z0-9\-.!%*_+`'~]+)/([A-Za-z0-9\-.!%*_+`'~]+)/([A-Za-z0-9\-.!%*_+`'~]+) "
    r"([A-Za-z0-9](?:[A-Za-z0-9\-_.]*[A-Za-z0-9.])?)(?::([0-9]{1,5}))?(;.*)?",
    re.DOTALL,
)


def parse_via(value: str, base: int = 0) -> list[Via]:
    """All Via values of one header field line (it may carry a comma list)."""
    out = []
    for off, elem in split_commas(value, "Via", base):
        m = _VIA_FAST_RE.fullmatch(elem)
        if m is not None and (m.group(5) is None or int(m.group(5)) <= 65535):
            name, version, transport, host, port, ptext = m.groups()
            params = parse_params(ptext, "Via", base + off + m.start(6)) if ptext else ()
            out.append(
                Via(
                    f"{name}/{version}",
                    transport,
                    host,
                    None if port is None else int(port),
                    params,
                )
            )
        else:
            out.append(_parse_via_general(elem, base + off))
    return out


def _parse_via_general(elem: str, base: int) -> Via:
    """``via-parm`` (§25.1) with LWS anywhere the grammar allows it (RFC 4475 ``wsinv``)."""
    semi = elem.find(";")
    head = elem if semi < 0 else elem[:semi]
    params = parse_params(elem[semi:], "Via", base + semi) if semi >= 0 else ()
    name, s1, rest = head.partition("/")
    version, s2, rest = rest.partition("/")
    name, version = name.strip(_WS), version.strip(_WS)
    parts = rest.strip(_WS).split(None, 1)
    if not (s1 and s2 and len(parts) == 2 and all(map(is_token, (name, version, parts[0])))):
        raise SipParseError("bad sent-protocol", base, "Via")
    host, port = _parse_host_port(parts[1], "Via", base)
    return Via(f"{name}/{version}", parts[0], host, port, params)


# ----------------------------------------------------------- name-addr (§20.10, §20.20 ...)
@dataclass(frozen=True, slots=True)
class NameAddr:
    """A From/To/Contact/Route/Record-Route value (RFC 3261 §25.1 ``name-addr``/``addr-spec``).

    ``display`` is the display name with quotes and quoted-pairs resolved
    (``None`` when absent); ``uri`` the URI text; ``params`` the header
    parameters as written.  The Contact wildcard ``*`` is ``uri == "*"``.
    """

    display: str | None
    uri: str
    params: Params = field(default=())

    @property
    def tag(self) -> str | None:
        return _param_value(self.params, "tag")

    @property
    def expires(self) -> int | None:
        """Contact ``expires`` parameter (§20.10); malformed or > 2**32-1 raises SipParseError."""
        value = _param_value(self.params, "expires")
        if value is None:
            return None
        return parse_uint(value, MAX_UINT32, "expires parameter", "Contact")

    @property
    def q(self) -> float | None:
        value = _param_value(self.params, "q")
        if value is None:
            return None
        try:
            return float(value)
        except ValueError:
            raise SipParseError("q parameter is not a number", 0, "Contact") from None

    @property
    def is_wildcard(self) -> bool:
        return self.uri == "*"

    @property
    def sip_uri(self) -> SipUri:
        """The URI parsed (raises SipParseError unless it is a sip/sips URI)."""
        return parse_uri(self.uri)

    def param(self, name: str) -> str | None:
        return _param_value(self.params, name)

    def format(self) -> str:
        if self.uri == "*":
            return "*"
        disp = "" if self.display is None else quote(self.display) + " "
        return f"{disp}<{self.uri}>{format_params(self.params)}"

    __str__ = format


WILDCARD = NameAddr(None, "*", ())


def _check_uri(uri: str, header: str, base: int) -> None:
    scheme, colon, rest = uri.partition(":")
    if not colon or not rest or TOKEN_RE.fullmatch(scheme) is None or not scheme[0].isalpha():
        raise SipParseError("not an absolute URI", base, header)
    if scheme.lower() in ("sip", "sips"):
        try:
            parse_uri(uri)
        except SipParseError as exc:
            raise SipParseError(exc.rule, base + exc.offset, header) from None
    elif any(c in uri for c in ' \t<>"'):
        raise SipParseError("bad character in URI", base, header)


#: ``<uri>;p=v;flag`` without display name or LWS
_NAME_ADDR_FAST_RE = re.compile(
    r"<([^<>\"\s]+)>((?:;[A-Za-z0-9\-.!%*_+`'~]+(?:=[A-Za-z0-9\-.!%*_+`'~:\[\]]+)?)*)"
)


def _split_tight_params(text: str) -> Params:
    out = []
    for piece in text[1:].split(";"):
        name, eq, value = piece.partition("=")
        out.append((name, value) if eq else (name, None))
    return tuple(out)


@functools.lru_cache(maxsize=1 << 15)
def parse_name_addr(text: str, header: str = "To", base: int = 0) -> NameAddr:
    """One ``(name-addr / addr-spec) *(SEMI param)`` value (§20.10, §20.20, §20.39).

    A bare URI (``addr-spec``) ends at the first ``;``, after which come header
    parameters (§20.10).  A display name without quotes is tolerated even
    without LWS before ``<`` (RFC 4475 §3.1.1.6 ``lwsdisp``).
    """
    m = _NAME_ADDR_FAST_RE.fullmatch(text)
    if m is not None:  # "<uri>;tight;params", the usual shape
        uri, ptext = m.groups()
        _check_uri(uri, header, base + 1)
        return NameAddr(None, uri, _split_tight_params(ptext) if ptext else ())
    return _parse_name_addr_general(text, header, base)


def _parse_name_addr_general(text: str, header: str, base: int) -> NameAddr:
    s = text.strip(_WS)
    base += len(text) - len(text.lstrip(_WS))
    if not s:
        raise SipParseError("empty value", base, header)
    display: str | None = None
    if s[0] == '"':
        end = quoted_end(s, 0, header, base)
        display = unquote(s[:end])
        lt = s.find("<", end)
        if lt < 0 or s[end:lt].strip(_WS):
            raise SipParseError("expected '<' after display name", base + end, header)
    else:
        lt = s.find("<")
        semi = s.find(";")
        if lt >= 0 and (semi < 0 or lt < semi):
            display = s[:lt].strip(_WS) or None
            if display is not None and any(c in display for c in '">'):
                raise SipParseError("bad display name", base, header)
        else:
            lt = -1
    if lt >= 0:
        gt = s.find(">", lt)
        if gt < 0:
            raise SipParseError("'<' without matching '>'", base + lt, header)
        uri = s[lt + 1 : gt]
        _check_uri(uri, header, base + lt + 1)
        rest, rest_at = s[gt + 1 :], gt + 1
    else:
        semi = s.find(";")
        uri = (s if semi < 0 else s[:semi]).rstrip(_WS)
        _check_uri(uri, header, base)
        rest, rest_at = ("", len(s)) if semi < 0 else (s[semi:], semi)
    return NameAddr(display, uri, parse_params(rest, header, base + rest_at))


def parse_name_addr_list(value: str, header: str = "Contact", base: int = 0) -> list[NameAddr]:
    """Comma-separated name-addr values of one field line (Contact, Route, Record-Route)."""
    if header == "Contact" and value.strip(_WS) == "*":
        return [WILDCARD]
    return [
        parse_name_addr(elem, header, base + off) for off, elem in split_commas(value, header, base)
    ]


def format_name_addr(
    uri: str | SipUri, tag: str | None = None, display: str | None = None, params: Params = ()
) -> str:
    """``"display" <uri>;tag=...`` for From/To/Contact values being generated."""
    extra = (("tag", tag),) if tag is not None else ()
    return NameAddr(display, str(uri), extra + tuple(params)).format()


# --------------------------------------------------------------------------- CSeq (§20.16)
@dataclass(frozen=True, slots=True)
class CSeq:
    """``CSeq: 1*DIGIT LWS Method`` (§20.16); ``seq`` fits 32 unsigned bits (§8.1.1.5)."""

    seq: int
    method: str

    def format(self) -> str:
        return f"{self.seq} {self.method}"

    __str__ = format


@functools.lru_cache(maxsize=1 << 10)
def parse_cseq(value: str) -> CSeq:
    parts = value.split()
    if len(parts) != 2:
        raise SipParseError("expected sequence number and method", 0, "CSeq")
    if TOKEN_RE.fullmatch(parts[1]) is None:
        raise SipParseError("method is not a token", value.find(parts[1]), "CSeq")
    return CSeq(parse_uint(parts[0], MAX_UINT32, "sequence number", "CSeq"), parts[1])


def parse_call_id(value: str) -> str:
    """``callid = word [ "@" word ]`` (§25.1, §20.8)."""
    left, at, right = value.partition("@")
    if WORD_RE.fullmatch(left) is None or (at and WORD_RE.fullmatch(right) is None):
        raise SipParseError('not word ["@" word]', 0, "Call-ID")
    return value


# -------------------------------------------------------------------- Event (RFC 6665 §8.2.1)
def check_event_type(text: str, header: str, base: int) -> str:
    """``event-type = event-package *( "." event-template )``, each a token-nodot."""
    if TOKEN_RE.fullmatch(text) is None or "" in text.split("."):
        raise SipParseError("bad event type", base, header)
    return text


@dataclass(frozen=True, slots=True)
class Event:
    """``Event: package[.template];id=...;params`` (RFC 6665 §8.2.1, RFC 3903 §4.1).

    ``package`` is the whole event-type (``presence.winfo`` keeps its dot);
    ``params`` all parameters as written, ``id`` included; ``id`` the value
    of the ``id`` parameter.  ``dialog;sla`` is package ``dialog`` with the
    parameter ``sla``.
    """

    package: str
    id: str | None = None
    params: Params = field(default=())

    def param(self, name: str) -> str | None:
        return _param_value(self.params, name)

    def format(self) -> str:
        extra = ""
        if self.id is not None and not find_param(self.params, "id")[0]:
            extra = f";id={self.id}"
        return f"{self.package}{extra}{format_params(self.params)}"

    __str__ = format


@functools.lru_cache(maxsize=1 << 10)
def parse_event(value: str) -> Event:
    semi = value.find(";")
    typ = (value if semi < 0 else value[:semi]).strip(_WS)
    check_event_type(typ, "Event", 0)
    params = parse_params(value[semi:], "Event", semi) if semi >= 0 else ()
    return Event(typ, _param_value(params, "id"), params)


# --------------------------------------------------- Subscription-State (RFC 6665 §8.2.3)
@dataclass(frozen=True, slots=True)
class SubscriptionState:
    """``Subscription-State: active;expires=600`` (RFC 6665 §8.2.3, §4.1.3).

    ``state`` is lower-cased; ``params`` keeps every parameter as written.
    """

    state: str
    expires: int | None = None
    reason: str | None = None
    retry_after: int | None = None
    params: Params = field(default=())

    @property
    def is_active(self) -> bool:
        return self.state == "active"

    @property
    def is_pending(self) -> bool:
        return self.state == "pending"

    @property
    def is_terminated(self) -> bool:
        return self.state == "terminated"

    def format(self) -> str:
        extra = []
        for name, val in (
            ("reason", self.reason),
            ("expires", self.expires),
            ("retry-after", self.retry_after),
        ):
            if val is not None and not find_param(self.params, name)[0]:
                extra.append((name, str(val)))
        return self.state + format_params(tuple(extra) + self.params)

    __str__ = format


@functools.lru_cache(maxsize=1 << 12)
def parse_subscription_state(value: str) -> SubscriptionState:
    hdr = "Subscription-State"
    semi = value.find(";")
    state = (value if semi < 0 else value[:semi]).strip(_WS)
    if TOKEN_RE.fullmatch(state) is None:
        raise SipParseError("substate-value is not a token", 0, hdr)
    params = parse_params(value[semi:], hdr, semi) if semi >= 0 else ()
    numbers = {}
    for name in ("expires", "retry-after"):
        raw = _param_value(params, name)
        numbers[name] = (
            None if raw is None else parse_uint(raw, MAX_UINT32, f"{name} parameter", hdr)
        )
    reason = _param_value(params, "reason")
    return SubscriptionState(
        state.lower(), numbers["expires"], reason, numbers["retry-after"], params
    )


# ------------------------------------------------------------------ Content-Type (§20.15)
@dataclass(frozen=True, slots=True)
class ContentType:
    """``type/subtype;params`` (RFC 3261 §20.15, RFC 2045 §5.1)."""

    type: str
    subtype: str
    params: Params = field(default=())

    @property
    def mime(self) -> str:
        return f"{self.type}/{self.subtype}".lower()

    @property
    def charset(self) -> str | None:
        return _param_value(self.params, "charset")

    def param(self, name: str) -> str | None:
        return _param_value(self.params, name)

    def format(self) -> str:
        return f"{self.type}/{self.subtype}{format_params(self.params)}"

    __str__ = format


@functools.lru_cache(maxsize=1 << 10)
def parse_content_type(value: str) -> ContentType:
    hdr = "Content-Type"
    semi = value.find(";")
    media = value if semi < 0 else value[:semi]
    typ, slash, sub = media.partition("/")
    typ, sub = typ.strip(_WS), sub.strip(_WS)
    if not slash or TOKEN_RE.fullmatch(typ) is None or TOKEN_RE.fullmatch(sub) is None:
        raise SipParseError("expected type/subtype", 0, hdr)
    params = parse_params(value[semi:], hdr, semi) if semi >= 0 else ()
    return ContentType(typ, sub, params)


def parse_token(value: str, header: str) -> str:
    """A header field value that must be one ``token`` (SIP-ETag, SIP-If-Match: RFC 3903 §11.3)."""
    if TOKEN_RE.fullmatch(value) is None:
        raise SipParseError("value is not a token", 0, header)
    return value
