"""Lexical rules of RFC 3261 §25.1 shared by the parser, URIs and header fields.

Only constant tables and pure functions live here: token and word checks,
quoted strings (§25.1 ``quoted-string``/``quoted-pair``), splitting a header
field value at the top-level commas of ``1#element`` lists (§7.3.1) and at the
semicolons of ``*( SEMI generic-param )`` (§25.1), and the bounded integers of
``delta-seconds`` and ``CSeq``.

Every helper that finds a fault raises :class:`SipParseError` with the
character offset into the text it was given (plus ``base``, so callers can
report offsets within a larger string).
"""

from __future__ import annotations

import re

from puasim.sip.errors import SipParseError

#: ``token`` (RFC 3261 §25.1): alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~"
TOKEN_RE = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+")
#: ``word`` (§25.1), the characters of a Call-ID half
WORD_RE = re.compile(r"[A-Za-z0-9\-.!%*_+`'~()<>:\\\"/\[\]?{}]+")
#: ``gen-value`` without quotes: token / host (IPv6 references bring ``[ ] :``)
GEN_VALUE_RE = re.compile(r"[A-Za-z0-9\-.!%*_+`'~:\[\]]+")
#: ``*( SEMI generic-param )`` written tightly (no LWS, no quotes): one match validates it all
_TIGHT_PARAMS_RE = re.compile(r"(?:;[A-Za-z0-9\-.!%*_+`'~]+(?:=[A-Za-z0-9\-.!%*_+`'~:\[\]]+)?)+")
#: characters that need a scan in :func:`split_commas` / :func:`split_semis`
_SPECIAL_RE = re.compile(r'["<>]')

#: ``delta-seconds`` and CSeq numbers must fit 32 unsigned bits (§20.19, §8.1.1.5)
MAX_UINT32 = 2**32 - 1
_WS = " \t"


def is_token(text: str) -> bool:
    """True when ``text`` is a non-empty RFC 3261 ``token``."""
    return TOKEN_RE.fullmatch(text) is not None


def parse_uint(text: str, limit: int, what: str, header: str | None = None, base: int = 0) -> int:
    """Parse ``1*DIGIT`` no larger than ``limit`` (leading zeros allowed, RFC 4475 §3.1.1.1).

    Huge values are refused before :func:`int` sees them (RFC 4475 §3.1.2.4
    ``scalar02``), which also keeps clear of Python's int-string size limit.
    """
    if not text or not (text.isascii() and text.isdigit()):
        raise SipParseError(f"{what} is not a decimal integer", base, header)
    digits = text.lstrip("0") or "0"
    if len(digits) > len(str(limit)) or int(digits) > limit:
        raise SipParseError(f"{what} larger than {limit}", base, header)
    return int(digits)


def quoted_end(text: str, start: int, header: str | None = None, base: int = 0) -> int:
    """Index just past the quoted-string that opens at ``text[start] == '"'`` (§25.1)."""
    i = start + 1
    n = len(text)
    while i < n:
        c = text[i]
        if c == '"':
            return i + 1
        if c == "\\":
            i += 2
            continue
        i += 1
    raise SipParseError("unterminated quoted-string", base + start, header)


def unquote(value: str) -> str:
    """Content of a quoted-string with quoted-pairs resolved; other text unchanged."""
    if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        inner = value[1:-1]
        if "\\" not in inner:
            return inner
        out = []
        i = 0
        while i < len(inner):
            c = inner[i]
            if c == "\\" and i + 1 < len(inner):
                out.append(inner[i + 1])
                i += 2
            else:
                out.append(c)
                i += 1
        return "".join(out)
    return value


def quote(text: str) -> str:
    """``text`` as a quoted-string, escaping ``"`` and ``\\`` (§25.1 quoted-pair)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _split(text: str, sep: str, header: str | None, base: int) -> list[tuple[int, str]]:
    """Split at top-level ``sep``: not inside a quoted-string or ``<...>``.

    Returns ``(offset, piece)`` pairs, pieces unstripped.  The common case
    (no quotes, no angle brackets) is one :meth:`str.split`.
    """
    if _SPECIAL_RE.search(text) is None:
        out = []
        pos = 0
        for piece in text.split(sep):
            out.append((pos, piece))
            pos += len(piece) + 1
        return out
    out = []
    start = 0
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c == '"':
            i = quoted_end(text, i, header, base)
            continue
        if c == "<":
            close = text.find(">", i + 1)
            if close < 0:
                raise SipParseError("'<' without matching '>'", base + i, header)
            i = close + 1
            continue
        if c == ">":
            raise SipParseError("'>' without matching '<'", base + i, header)
        if c == sep:
            out.append((start, text[start:i]))
            start = i + 1
        i += 1
    out.append((start, text[start:]))
    return out


def split_commas(text: str, header: str | None = None, base: int = 0) -> list[tuple[int, str]]:
    """Elements of a ``1#element`` header field value (RFC 3261 §7.3.1), stripped.

    Commas inside quoted-strings and ``<...>`` do not split.  An empty element
    is malformed (RFC 4475 §3.1.2.1 ``badinv01``).  Returns
    ``(offset, element)`` pairs.
    """
    if "," not in text:
        stripped = text.strip(_WS)
        if stripped:
            return [(len(text) - len(text.lstrip(_WS)), stripped)]
    out = []
    for off, piece in _split(text, ",", header, base):
        stripped = piece.strip(_WS)
        if not stripped:
            raise SipParseError("empty element in comma-separated list", base + off, header)
        out.append((off + len(piece) - len(piece.lstrip(_WS)), stripped))
    return out


Params = tuple[tuple[str, str | None], ...]


def parse_params(text: str, header: str | None = None, base: int = 0) -> Params:
    """Parse ``*( SEMI generic-param )`` (§25.1); ``text`` starts at the first ``;`` or is blank.

    Names and values are kept as written (quoted values keep their quotes);
    LWS around ``;`` and ``=`` is dropped.  A valueless parameter has value
    ``None``.
    """
    if _TIGHT_PARAMS_RE.fullmatch(text) is not None:
        out = []
        for piece in text[1:].split(";"):
            name, eq, value = piece.partition("=")
            out.append((name, value) if eq else (name, None))
        return tuple(out)
    stripped = text.strip(_WS)
    if not stripped:
        return ()
    lead = len(text) - len(text.lstrip(_WS))
    if stripped[0] != ";":
        raise SipParseError("expected ';' before parameter", base + lead, header)
    pieces = _split(stripped, ";", header, base + lead)
    out = []
    for off, piece in pieces[1:]:
        name, eq, value = piece.partition("=")
        name = name.strip(_WS)
        if TOKEN_RE.fullmatch(name) is None:
            raise SipParseError("parameter name is not a token", base + lead + off, header)
        if not eq:
            out.append((name, None))
            continue
        value = value.strip(_WS)
        if value[:1] == '"':
            if quoted_end(value, 0, header, base + lead + off) != len(value):
                raise SipParseError("text after quoted parameter value", base + lead + off, header)
        elif GEN_VALUE_RE.fullmatch(value) is None:
            raise SipParseError(f"bad value of parameter {name!r}", base + lead + off, header)
        out.append((name, value))
    return tuple(out)


def find_param(params: Params, name: str) -> tuple[bool, str | None]:
    """``(present, value)`` of the first parameter called ``name`` (case-insensitive)."""
    low = name.lower()
    for pname, value in params:
        if pname.lower() == low:
            return True, value
    return False, None


def format_params(params: Params) -> str:
    """``;name=value;flag`` text of a parameter tuple."""
    return "".join(f";{n}" if v is None else f";{n}={v}" for n, v in params)
