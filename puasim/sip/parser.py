"""SIP message framing: datagram bytes <-> :class:`Request`/:class:`Response`.

:func:`parse` reads one UDP datagram (RFC 3261 §7, §18.3):

* CRLFs before the start line are skipped (§7.5);
* start line: ``Method SP Request-URI SP SIP-Version`` (§7.1) or
  ``SIP-Version SP 3DIGIT SP Reason-Phrase`` (§7.2);
* header fields ``name HCOLON value`` (§7.3.1) with LWS around the value
  trimmed, folded lines (CRLF then SP/HT) joined with one SP, bare LF
  accepted as a line end; names are kept as written, one entry per field
  line (lists are split by :mod:`puasim.sip.headers`, not here);
* header bytes are UTF-8, decoded with ``surrogateescape`` so any byte
  survives a parse/serialise round trip;
* body framing by Content-Length (§18.3, §20.14): absent -> the rest of the
  datagram; larger than the rest -> error (RFC 4475 §3.1.2.2 ``clerr``);
  smaller -> trailing bytes ignored (RFC 4475 §3.1.1.10 ``dblreq``).

:class:`SipParseError` is the only exception :func:`parse` raises for any
bytes.  :func:`serialise` writes the stored fields back unchanged and never
adds a Content-Length itself; :func:`with_content_length` does that.

Performance: the header block is found with :meth:`bytes.find`, decoded once
and split with :meth:`str.split`; regexes run once per field name, never per
character.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import replace

from puasim.sip.errors import SipParseError
from puasim.sip.message import Request, Response, header_key
from puasim.sip.syntax import TOKEN_RE

Message = Request | Response

_VERSION_RE = re.compile(r"[Ss][Ii][Pp]/[0-9]+\.[0-9]+")
_URI_BAD_RE = re.compile(r"[\x00-\x20\x7f<>\"]")
_SCHEME_RE = re.compile(r"[A-Za-z][A-Za-z0-9+\-.]*:.")
#: field names seen in nearly every message -> "is it Content-Length?"; a hit skips
#: the token regex and the lower-casing
_COMMON_NAMES: dict[str, bool] = {
    name: False
    for name in (
        "Via From To Call-ID CSeq Contact Max-Forwards Expires Event Content-Type "
        "SIP-ETag SIP-If-Match User-Agent Allow Allow-Events Supported Record-Route Route "
        "Subscription-State Min-Expires Server Accept v f t i m c o u k"
    ).split()
} | {"Content-Length": True, "content-length": True, "l": True, "L": True}
_CL_NAMES = frozenset(("content-length", "l"))
_MAX_CL_DIGITS = 10  # no datagram comes close to 10**10 bytes


def parse(data: bytes) -> Message:
    """Parse one datagram into a :class:`Request` or :class:`Response`.

    Raises :class:`SipParseError` (offset = byte offset into ``data``) for
    any malformed input, and nothing else.  ``data`` must be bytes-like.
    """
    if not isinstance(data, bytes):
        if not isinstance(data, bytearray | memoryview):
            raise TypeError(f"parse() needs bytes, not {type(data).__name__}")
        data = bytes(data)
    try:
        return _parse(data)
    except SipParseError:
        raise
    except Exception as exc:  # defensive net: the design allows nothing else out
        raise SipParseError(f"unparseable message ({type(exc).__name__}: {exc})", 0) from exc


def _line_offset(data: bytes, start: int, index: int) -> int:
    """Byte offset of physical line ``index`` (0 = start line) of the header block."""
    pos = start
    for _ in range(index):
        nxt = data.find(b"\n", pos)
        if nxt < 0:
            return pos
        pos = nxt + 1
    return pos


def _col(text: str, col: int) -> int:
    """Byte length of ``text[:col]`` as it was on the wire."""
    return len(text[:col].encode("utf-8", "surrogateescape"))


def _parse(data: bytes) -> Message:
    n = len(data)
    start = 0
    while start < n and data[start] in (13, 10):  # §7.5: ignore leading CRLFs
        start += 1
    if start >= n:
        raise SipParseError("empty message", start)

    # -- find the end of the header block and cut it into physical lines
    k = data.find(b"\r\n\r\n", start)
    lines: list[str] | None = None
    if k >= 0:
        head = data[start:k]
        lf = head.count(b"\n")
        if lf == head.count(b"\r") == head.count(b"\r\n"):  # pure CRLF: the fast path
            text = head.decode("utf-8", "surrogateescape")
            lines = text.split("\r\n")
            body_start = k + 4
    if lines is None:
        i = data.find(b"\n\r\n", start)
        j = data.find(b"\n\n", start, i + 1 if i >= 0 else n)
        if j >= 0:
            hend, body_start = j, j + 2
        elif i >= 0:
            hend, body_start = i, i + 3
        else:
            raise SipParseError("header section not ended by an empty line", n)
        text = data[start:hend].decode("utf-8", "surrogateescape")
        lines = text.split("\n")
        for idx, line in enumerate(lines):
            if line.endswith("\r"):
                line = lines[idx] = line[:-1]
            cr = line.find("\r")
            if cr >= 0:
                raise SipParseError(
                    "bare CR in header section", _line_offset(data, start, idx) + _col(line, cr)
                )

    # -- start line (§7.1, §7.2)
    first = lines[0]
    if first[:4].upper() == "SIP/":
        version, _, rest = first.partition(" ")
        status_text, _, reason = rest.partition(" ")
        if _VERSION_RE.fullmatch(version) is None:
            raise SipParseError("bad SIP-Version in status line", start)
        if len(status_text) != 3 or not (status_text.isascii() and status_text.isdigit()):
            raise SipParseError(
                "status code is not 3 digits", start + _col(first, len(version) + 1)
            )
        status = int(status_text)
        if not 100 <= status <= 699:
            raise SipParseError(
                "status code out of range 100-699", start + _col(first, len(version) + 1)
            )
        method = uri = ""
    else:
        parts = first.split(" ")
        if len(parts) != 3:
            raise SipParseError("request line is not Method SP Request-URI SP SIP-Version", start)
        method, uri, version = parts
        if TOKEN_RE.fullmatch(method) is None:
            raise SipParseError("method is not a token", start)
        if _URI_BAD_RE.search(uri) is not None or _SCHEME_RE.match(uri) is None:
            raise SipParseError("bad Request-URI", start + _col(first, len(method) + 1))
        if _VERSION_RE.fullmatch(version) is None:
            raise SipParseError(
                "bad SIP-Version in request line", start + _col(first, len(first) - len(version))
            )
        status, reason = 0, ""

    # -- header fields (§7.3.1)
    headers: list[tuple[str, str]] = []
    append = headers.append
    lengths: list[str] = []
    fields: Iterable[tuple[int, str]]
    if "\n " in text or "\n\t" in text:
        fields = _unfold(lines, data, start)
    else:
        numbered = enumerate(lines)
        next(numbered)
        fields = numbered
    for idx, line in fields:
        name, colon, value = line.partition(":")
        if not colon:
            raise SipParseError("header line without ':'", _line_offset(data, start, idx))
        is_cl = _COMMON_NAMES.get(name)
        if is_cl is None:
            name = name.rstrip(" \t")
            if TOKEN_RE.fullmatch(name) is None:
                raise SipParseError("header name is not a token", _line_offset(data, start, idx))
            is_cl = name.lower() in _CL_NAMES
        value = value.strip(" \t")
        if is_cl:
            lengths.append(value)
        append((name, value))

    # -- body framing (§18.3)
    body = data[body_start:]
    if lengths:
        length = _content_length(lengths, body_start)
        if length > len(body):
            raise SipParseError("Content-Length larger than datagram", body_start)
        if length < len(body):
            body = body[:length]
    if status:
        return Response(status, reason, tuple(headers), body, version)
    return Request(method, uri, tuple(headers), body, version)


def _unfold(lines: list[str], data: bytes, start: int) -> list[tuple[int, str]]:
    """Join continuation lines (leading SP/HT) to their field with one SP (§7.3.1).

    Linear in the size of the header section: the pieces of a folded field
    are collected and joined once, never re-copied per continuation line.
    The result is what repeatedly replacing ``field`` by ``field.rstrip() +
    " " + piece.strip()`` would give: empty pieces vanish, except that a
    field whose last piece is empty keeps one trailing SP.
    """
    out: list[tuple[int, str]] = []
    pieces: list[str] = []

    def join() -> None:
        first_idx, text = out[-1]
        joined = " ".join([text.rstrip(" \t"), *(p for p in pieces if p)])
        out[-1] = (first_idx, joined + " " if not pieces[-1] else joined)
        pieces.clear()

    for idx in range(1, len(lines)):
        line = lines[idx]
        if line[:1] in (" ", "\t"):
            if not out:
                raise SipParseError(
                    "continuation line before the first header field",
                    _line_offset(data, start, idx),
                )
            pieces.append(line.strip(" \t"))
        else:
            if pieces:
                join()
            out.append((idx, line))
    if pieces:
        join()
    return out


def _content_length(values: list[str], body_start: int) -> int:
    """The one length all Content-Length fields agree on (§20.14, RFC 4475 §3.1.2.3)."""
    found: int | None = None
    for value in values:
        if not (value.isascii() and value.isdigit()):
            raise SipParseError("Content-Length is not a non-negative integer", body_start)
        digits = value.lstrip("0") or "0"
        length = int(digits) if len(digits) <= _MAX_CL_DIGITS else 10**_MAX_CL_DIGITS
        if found is not None and found != length:
            raise SipParseError("conflicting Content-Length values", body_start)
        found = length
    assert found is not None
    return found


def serialise(msg: Message) -> bytes:
    """Wire bytes of ``msg``: start line, ``Name: value`` lines in order, blank line, body.

    No header is added or changed (see :func:`with_content_length`).  A CR
    or LF inside any start-line part or header field raises :class:`ValueError`:
    it would change the framing.
    """
    if isinstance(msg, Request):
        first = f"{msg.method} {msg.uri} {msg.version}"
    else:
        first = f"{msg.version} {msg.status} {msg.reason}"
    lines = [first]
    lines += [f"{name}: {value}" for name, value in msg.headers]
    lines.append("\r\n")
    text = "\r\n".join(lines)
    if text.count("\n") != len(lines) or text.count("\r") != len(lines):
        raise ValueError("CR or LF inside a start-line part or header field")
    return text.encode("utf-8", "surrogateescape") + msg.body


def with_content_length(msg: Message) -> Message:
    """Copy of ``msg`` whose Content-Length equals ``len(body)`` (§20.14).

    The first Content-Length field (long or compact form) keeps its name and
    place; further ones are dropped; if there is none, ``Content-Length`` is
    appended.
    """
    length = str(len(msg.body))
    out: list[tuple[str, str]] = []
    seen = False
    for name, value in msg.headers:
        if header_key(name) == "content-length":
            if not seen:
                out.append((name, length))
                seen = True
            continue
        out.append((name, value))
    if not seen:
        out.append(("Content-Length", length))
    return replace(msg, headers=tuple(out))
