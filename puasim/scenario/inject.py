"""Hand-written SIP messages and step-time saved values (the ``send`` and ``save`` steps).

``send`` puts a message no API produces on the wire: the text of the step,
with ``$name`` replaced by values saved earlier in the run, is turned into a
datagram (CRLF line ends, optionally a computed Content-Length), parsed by
:func:`puasim.sip.parse` and handed to the network as if node ``from`` had
sent it.  The receiving model handles it as any received datagram, and the
trace, pcaps and ladders show it like any other message.

``save`` runs a message matcher over the messages already in the trace at the
step's time and remembers fields of the last (or first) one that matches as
``$name``.  Saving at a step's time, not by evaluating expectations as the
run goes, keeps expectations what they are (judgements of the finished run)
and makes the value a step uses depend only on what happened before it.
The saved values are also seen by the expectations, as if a sequence had
saved them.
"""

from __future__ import annotations

import re
from typing import Any

from puasim.scenario.fields import MAX_TEXT, read_choice, read_mapping, read_text
from puasim.scenario.loader import Source as Doc
from puasim.sip.errors import SipParseError
from puasim.sip.message import Message
from puasim.sip.parser import parse

#: ``$name`` in a message or a step argument
VARIABLE = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
SEND_FIELDS = {"from", "to", "message", "content_length"}
SAVE_FIELDS = {"match", "save", "which"}
_CONTENT_LENGTH = re.compile(r"^(content-length|l)[ \t]*:.*$", re.IGNORECASE | re.MULTILINE)


def datagram(text: str, content_length: str = "as_written") -> bytes:
    """The bytes of a message written in a scenario file.

    Line ends become CRLF; a message without an empty line is all header
    section and gets one; with ``content_length: auto`` every Content-Length
    header is replaced by one giving the body's length (RFC 3261 section 20.14).
    """
    text = text.replace("\r\n", "\n")
    head, sep, body = text.partition("\n\n")
    head = head.rstrip("\n")
    if content_length == "auto":
        head = _CONTENT_LENGTH.sub("", head)
        head = "\n".join(line for line in head.split("\n") if line)
        head += f"\nContent-Length: {len(body.replace(chr(10), chr(13) + chr(10)).encode('utf-8'))}"
    return (head + "\n\n" + body).replace("\n", "\r\n").encode("utf-8")


def build_message(text: str, content_length: str) -> Message:
    """Parse :func:`datagram` of ``text``; raises :class:`ValueError` naming the message's line."""
    data = datagram(text, content_length)
    try:
        return parse(data)
    except SipParseError as exc:
        line = data[: exc.offset].count(b"\r\n") + 1
        raise ValueError(f"line {line} of the message: {exc}") from None


def substitute(text: str, values: dict[str, str]) -> str:
    """``text`` with each ``$name`` replaced; a name not saved raises :class:`KeyError`."""
    return VARIABLE.sub(lambda m: values[m.group(1)], text)


def validate_send(doc: Doc, path: tuple, w: Any, declared: set[str]) -> dict:
    """The ``with:`` of a ``send`` step.  A message without ``$name`` is parsed
    now, so that a typo is a validation error; one with names is parsed when
    the step runs.  Every name must be saved by an earlier ``save`` step."""
    w = read_mapping(doc, path, w, SEND_FIELDS)
    read_text(doc, (*path, "from"), w.get("from", "pua"), max_len=100, empty=False, what="a node name")
    text = read_text(doc, (*path, "message"), w.get("message", _missing()), max_len=MAX_TEXT, empty=False)
    mode = read_choice(doc, (*path, "content_length"), w.get("content_length", "as_written"), ("as_written", "auto"))
    names = VARIABLE.findall(text)
    for name in names:
        if name not in declared:
            raise doc.error((*path, "message"), f"${name} is not saved by an earlier save step")
    if not names:
        try:
            build_message(text, mode)
        except ValueError as exc:
            raise doc.error((*path, "message"), f"not a SIP message: {exc}") from None
    return {"from": w.get("from", "pua"), "to": w.get("to"), "message": text, "content_length": mode}


def validate_save(doc: Doc, path: tuple, w: Any, declared: set[str]) -> dict:
    """The ``with:`` of a ``save`` step: a message matcher, ``save: {name: field}``, ``which``."""
    from puasim.scenario.expect import _validate_matcher

    w = read_mapping(doc, path, w, SAVE_FIELDS)
    _validate_matcher(w.get("match", {}), doc, (*path, "match"))
    saves = read_mapping(doc, (*path, "save"), w.get("save"))
    if not saves:
        raise doc.error((*path, "save"), "give the values to save: {name: field}")
    for name, fld in saves.items():
        if not isinstance(name, str) or not VARIABLE.fullmatch(f"${name}"):
            raise doc.error((*path, "save", name), "a variable name is a letter or _ then letters, digits, _")
        read_text(doc, (*path, "save", name), fld, max_len=100, empty=False, what="a field name")
        declared.add(name)
    read_choice(doc, (*path, "which"), w.get("which", "last"), ("first", "last"))
    return {"match": dict(w.get("match") or {}), "save": dict(saves), "which": w.get("which", "last")}


def _missing() -> Any:
    from puasim.scenario.fields import MISSING

    return MISSING
