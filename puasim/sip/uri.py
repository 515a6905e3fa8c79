"""SIP and SIPS URIs (RFC 3261 §19.1, grammar §25.1).

:func:`parse_uri` splits ``sip:user:password@host:port;params?headers`` into a
frozen :class:`SipUri` whose components keep their escaped (``%HH``) form, so
``str(parse_uri(s)) == s`` for a URI written with a lower-case scheme.  The
scheme is stored lower-case; an IPv6 host keeps its brackets (``"[::1]"``),
as it is written in a URI or a Via sent-by.

Dataclass ``==`` is plain field equality; :meth:`SipUri.equivalent` is the
comparison of RFC 3261 §19.1.4.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from dataclasses import dataclass, field

from puasim.sip.errors import SipParseError

_HEX = "0-9A-Fa-f"
_ESC = f"%[{_HEX}]{{2}}"
#: user = 1*( unreserved / escaped / user-unreserved )
_USER_RE = re.compile(rf"(?:[A-Za-z0-9\-_.!~*'()&=+$,;?/]|{_ESC})+")
#: password = *( unreserved / escaped / "&" / "=" / "+" / "$" / "," )
_PASSWORD_RE = re.compile(rf"(?:[A-Za-z0-9\-_.!~*'()&=+$,]|{_ESC})*")
#: hostname (``_`` tolerated as real deployments use it) or IPv4address
HOSTNAME_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9\-_.]*[A-Za-z0-9.])?")
IPV6_RE = re.compile(r"\[[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*\]")
#: pname / pvalue = 1*paramchar; paramchar = param-unreserved / unreserved / escaped
_PARAMCHARS_RE = re.compile(rf"(?:[A-Za-z0-9\-_.!~*'()\[\]/:&+$]|{_ESC})+")
#: hname / hvalue characters: hnv-unreserved / unreserved / escaped
_HCHARS_RE = re.compile(rf"(?:[A-Za-z0-9\-_.!~*'()\[\]/?:+$]|{_ESC})*")
_ESCAPE_RE = re.compile(rf"%([{_HEX}]{{2}})")
#: the common shape in one match: no escapes, no IPv6, no URI headers (§25.1 subset)
_PCHAR = r"A-Za-z0-9\-_.!~*'()\[\]/:&+$"
_FAST_RE = re.compile(
    r"(sips?):"
    r"(?:([A-Za-z0-9\-_.!~*'()&=+$,;/]+)(?::([A-Za-z0-9\-_.!~*'()&=+$,]*))?@)?"
    r"([A-Za-z0-9](?:[A-Za-z0-9\-_.]*[A-Za-z0-9.])?)"
    r"(?::([0-9]{1,5}))?"
    rf"((?:;[{_PCHAR}]+(?:=[{_PCHAR}]*)?)*)"
)
#: §19.1.4: escapes of ``reserved`` characters are not equivalent to the characters
_RESERVED = frozenset(";/?:@&=+$,")
#: §19.1.4: these parameters must match when present in either URI
_MUST_MATCH_PARAMS = ("transport", "user", "ttl", "method", "maddr")

Pairs = tuple[tuple[str, str | None], ...]


def _unescape(text: str) -> str:
    """Normalise ``%HH`` escapes for comparison (§19.1.4).

    Escapes of unreserved ASCII characters are decoded; the others are kept
    with upper-case hex so ``%3a`` and ``%3A`` still compare equal.
    """
    if "%" not in text:
        return text

    def repl(m: re.Match[str]) -> str:
        ch = chr(int(m.group(1), 16))
        if ch.isascii() and ch.isprintable() and ch not in _RESERVED and ch != "%":
            return ch
        return "%" + m.group(1).upper()

    return _ESCAPE_RE.sub(repl, text)


@dataclass(frozen=True, slots=True)
class SipUri:
    """A ``sip:`` or ``sips:`` URI, components in their escaped form (§19.1.1).

    ``user``/``password`` are ``None`` when absent (``password`` is ``""`` for
    ``user:@host``); ``port`` is ``None`` when absent; ``params`` holds
    ``(name, value-or-None)`` in written order, ``headers`` ``(name, value)``.
    """

    scheme: str
    user: str | None
    password: str | None
    host: str
    port: int | None = None
    params: Pairs = field(default=())
    headers: tuple[tuple[str, str], ...] = field(default=())

    def __str__(self) -> str:
        return self.format()

    def format(self) -> str:
        """Canonical text of the URI (components as stored, §19.1.1 order)."""
        parts = [self.scheme, ":"]
        if self.user is not None:
            parts.append(self.user)
            if self.password is not None:
                parts.append(":" + self.password)
            parts.append("@")
        parts.append(self.host)
        if self.port is not None:
            parts.append(f":{self.port}")
        for name, value in self.params:
            parts.append(f";{name}" if value is None else f";{name}={value}")
        if self.headers:
            parts.append("?" + "&".join(f"{n}={v}" for n, v in self.headers))
        return "".join(parts)

    def param(self, name: str) -> str | None:
        """Value of URI parameter ``name`` (case-insensitive); ``""`` when valueless, ``None`` when absent."""
        low = name.lower()
        for pname, value in self.params:
            if pname.lower() == low:
                return "" if value is None else value
        return None

    def has_param(self, name: str) -> bool:
        return self.param(name) is not None

    @property
    def transport(self) -> str | None:
        value = self.param("transport")
        return value.lower() if value else None

    @property
    def host_key(self) -> str:
        """Host normalised for comparison: lower case, IPv6 in compressed form."""
        host = self.host.lower()
        if host.startswith("["):
            try:
                return "[" + ipaddress.IPv6Address(host[1:-1]).compressed + "]"
            except ValueError:
                return host
        return host

    def equivalent(self, other: SipUri) -> bool:
        """URI comparison of RFC 3261 §19.1.4.

        Scheme must agree; user and password compare case-sensitively after
        unescaping; host case-insensitively; an absent port never matches a
        present one; ``transport``/``user``/``ttl``/``method``/``maddr``
        parameters must match when present in either URI, other parameters
        only when present in both (values case-insensitive); URI headers must
        all be present in both and match.
        """
        if not isinstance(other, SipUri):
            return False
        if self.scheme != other.scheme or self.port != other.port:
            return False
        if self.host_key != other.host_key:
            return False
        for mine, theirs in ((self.user, other.user), (self.password, other.password)):
            if (mine is None) != (theirs is None):
                return False
            if mine is not None and theirs is not None and _unescape(mine) != _unescape(theirs):
                return False
        a = _param_map(self.params)
        b = _param_map(other.params)
        for name in _MUST_MATCH_PARAMS:
            if (name in a or name in b) and a.get(name) != b.get(name):
                return False
        for name in a.keys() & b.keys():
            if a[name] != b[name]:
                return False
        return _header_set(self.headers) == _header_set(other.headers)


def format_host(host: str) -> str:
    """``host`` as it is written in a URI or a Via sent-by: an IPv6 literal gets
    its brackets (RFC 3261 §25.1 ``IPv6reference``; RFC 5118 §4.1), anything
    else is left alone."""
    if ":" in host and not host.startswith("["):
        return f"[{host}]"
    return host


def format_hostport(host: str, port: int | None) -> str:
    """``hostport`` of RFC 3261 §25.1: ``127.0.0.1:5060``, ``[::1]:5060``, or the
    host alone when ``port`` is ``None``."""
    text = format_host(host)
    return text if port is None else f"{text}:{port}"


def split_hostport(text: str, default_port: int | None = None) -> tuple[str, int]:
    """``(host, port)`` of ``host:port`` or ``[v6]:port`` (brackets removed).

    A bare IPv6 literal (``::1``) or a host without a port takes
    ``default_port``; raises :class:`ValueError` naming ``text`` when the port
    is missing (and there is no default), not a number, or out of range, or
    when the host is empty.
    """
    text = text.strip()
    if text.startswith("["):
        close = text.find("]")
        if close < 0:
            raise ValueError(f"{text!r}: IPv6 address without ']'")
        host, rest = text[1:close], text[close + 1 :]
        if rest and not rest.startswith(":"):
            raise ValueError(f"{text!r}: expected ':port' after ']'")
        port_text = rest[1:] if rest else ""
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    else:  # no colon, or a bare IPv6 literal
        host, port_text = text, ""
    if not host:
        raise ValueError(f"{text!r}: no host")
    if not port_text:
        if default_port is None:
            raise ValueError(f"{text!r}: expected host:port (IPv6 as [addr]:port)")
        return host, default_port
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ValueError(f"{text!r}: bad port {port_text!r}")
    return host, int(port_text)


def _param_map(params: Pairs) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in params:
        out.setdefault(_unescape(name).lower(), _unescape(value or "").lower())
    return out


def _header_set(headers: tuple[tuple[str, str], ...]) -> list[tuple[str, str]]:
    return sorted((_unescape(n).lower(), _unescape(v)) for n, v in headers)


@functools.lru_cache(maxsize=1 << 15)
def parse_uri(text: str) -> SipUri:
    """Parse a SIP or SIPS URI (RFC 3261 §19.1.1, §25.1 ``SIP-URI``).

    Raises :class:`SipParseError` with the character offset of the fault.
    Whitespace is not allowed anywhere (a URI in a header field is taken out
    of its ``<...>`` first).  Results are immutable and kept for the texts
    seen most recently (the same presentity URIs come back on every refresh);
    errors are raised afresh each time.
    """
    if "%" not in text and "?" not in text and "[" not in text:
        m = _FAST_RE.fullmatch(text)
        if m is not None:
            scheme, user, password, host, port, params = m.groups()
            if port is None or int(port) <= 65535:
                return SipUri(
                    scheme,
                    user,
                    password,
                    host,
                    None if port is None else int(port),
                    tuple(_split_param(p) for p in params[1:].split(";")) if params else (),
                )
    try:
        return _parse_uri(text)
    except SipParseError:
        raise
    except Exception as exc:  # pragma: no cover - defensive: nothing else may escape
        raise SipParseError(f"unparseable URI ({type(exc).__name__})", 0) from exc


def _split_param(piece: str) -> tuple[str, str | None]:
    name, eq, value = piece.partition("=")
    return (name, value) if eq else (name, None)


def _parse_uri(text: str) -> SipUri:
    """The general parser: every rule of §25.1, precise offsets."""
    scheme, colon, rest = text.partition(":")
    if not colon:
        raise SipParseError("URI without scheme", 0)
    scheme_low = scheme.lower()
    if scheme_low not in ("sip", "sips"):
        raise SipParseError("URI scheme is not sip or sips", 0)
    base = len(scheme) + 1
    user = password = None
    at = rest.find("@")
    if at >= 0:
        userinfo = rest[:at]
        user, sep, pw = userinfo.partition(":")
        if _USER_RE.fullmatch(user) is None:
            raise SipParseError("bad user part", base)
        if sep:
            if _PASSWORD_RE.fullmatch(pw) is None:
                raise SipParseError("bad password", base + len(user) + 1)
            password = pw
        base += at + 1
        rest = rest[at + 1 :]
    # hostport ends at the first ';' or '?' (after a bracketed IPv6 reference)
    if rest.startswith("["):
        close = rest.find("]")
        if close < 0:
            raise SipParseError("IPv6 reference without ']'", base)
        host = rest[: close + 1]
        if IPV6_RE.fullmatch(host) is None:
            raise SipParseError("bad IPv6 reference", base)
        tail = rest[close + 1 :]
        tail_base = base + close + 1
    else:
        end = len(rest)
        for stop in ";?:":
            i = rest.find(stop)
            if 0 <= i < end:
                end = i
        host = rest[:end]
        if HOSTNAME_RE.fullmatch(host) is None:
            raise SipParseError("bad host", base)
        tail = rest[end:]
        tail_base = base + end
    port = None
    if tail.startswith(":"):
        end = len(tail)
        for stop in ";?":
            i = tail.find(stop)
            if 0 <= i < end:
                end = i
        digits = tail[1:end]
        if not (digits.isascii() and digits.isdigit()) or len(digits) > 5 or int(digits) > 65535:
            raise SipParseError("bad port", tail_base + 1)
        port = int(digits)
        tail_base += end
        tail = tail[end:]
    params_text, qmark, headers_text = tail.partition("?")
    params: list[tuple[str, str | None]] = []
    if params_text:
        if params_text[0] != ";":
            raise SipParseError("unexpected text after host", tail_base)
        pos = tail_base + 1
        for piece in params_text[1:].split(";"):
            name, eq, value = piece.partition("=")
            if _PARAMCHARS_RE.fullmatch(name) is None:
                raise SipParseError("bad URI parameter name", pos)
            if eq:
                if value and _PARAMCHARS_RE.fullmatch(value) is None:
                    raise SipParseError("bad URI parameter value", pos + len(name) + 1)
                params.append((name, value))
            else:
                params.append((name, None))
            pos += len(piece) + 1
    headers: list[tuple[str, str]] = []
    if qmark:
        pos = tail_base + len(params_text) + 1
        for piece in headers_text.split("&"):
            name, eq, value = piece.partition("=")
            if not name or not eq or _HCHARS_RE.fullmatch(name) is None:
                raise SipParseError("bad URI header", pos)
            if _HCHARS_RE.fullmatch(value) is None:
                raise SipParseError("bad URI header value", pos + len(name) + 1)
            headers.append((name, value))
            pos += len(piece) + 1
    return SipUri(scheme_low, user, password, host, port, tuple(params), tuple(headers))
