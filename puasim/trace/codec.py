"""JSON-lines export/import of traces and the canonical digest.

Each line is one JSON object: ``{"seq", "time", "node", "type", ...fields}``.
SIP messages are written as their wire text (``serialise``) and read back with
the SIP parser; addresses are ``[host, port]`` lists.  The first line of a file
is a header ``{"puasim-trace": 1, "meta": {...}}``.

The digest is the sha256 of the canonical lines (keys sorted, no spaces,
meta excluded), so it identifies a run's outcome independently of the
process, ``PYTHONHASHSEED`` or the platform.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from json.encoder import encode_basestring_ascii as _esc
from pathlib import Path
from typing import IO, Any

from puasim.trace.events import EVENT_TYPES
from puasim.trace.trace import Record, Trace

FORMAT_VERSION = 1


class TraceFormatError(ValueError):
    """A trace file could not be read; names the file line and what was wrong."""


#: event class -> its field names (``dataclasses.fields`` is slow on a hot path)
_FIELDS: dict[type, tuple[str, ...]] = {}


_PLAIN = (str, int, float, bool, type(None))

#: the message classes, loaded on first use (the sip layer sits above the trace)
_MESSAGE_TYPES: tuple[type, ...] = ()

#: id -> (message, wire text) of messages encoded lately: a message is traced when it
#: is sent and again when it is delivered; the message is held so its id stays its own
_TEXTS: dict[int, tuple[Any, str]] = {}
_TEXTS_SIZE = 4096


def _sip_text(value: Any) -> str:
    hit = _TEXTS.get(id(value))
    if hit is not None and hit[0] is value:
        return hit[1]
    from puasim.sip.parser import serialise

    text = serialise(value).decode("utf-8", "surrogateescape")
    if len(_TEXTS) >= _TEXTS_SIZE:
        _TEXTS.clear()
    _TEXTS[id(value)] = (value, text)
    return text


def _encode_value(value: Any) -> Any:
    global _MESSAGE_TYPES
    if type(value) in _PLAIN:
        return value
    if not _MESSAGE_TYPES:
        from puasim.sip.message import Request, Response

        _MESSAGE_TYPES = (Request, Response)
    if isinstance(value, _MESSAGE_TYPES):
        return {"sip": _sip_text(value)}
    if isinstance(value, tuple):
        return [_encode_value(v) for v in value]
    if isinstance(value, bytes):
        return {"bytes": value.decode("latin-1")}
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, list):
        return [_encode_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _encode_value(v) for k, v in value.items()}
    return repr(value)


def _field_names(cls: type) -> tuple[str, ...]:
    names = _FIELDS.get(cls)
    if names is None:
        names = _FIELDS[cls] = tuple(f.name for f in dataclasses.fields(cls))
    return names


def record_to_dict(rec: Record) -> dict[str, Any]:
    ev = rec.event
    cls = type(ev)
    out: dict[str, Any] = {"seq": rec.seq, "time": rec.time, "node": rec.node, "type": cls.__name__}
    for name in _field_names(cls):
        out[name] = _encode_value(getattr(ev, name))
    return out


#: parsed messages a reader keeps by text (a message is traced when sent and again when delivered)
SIP_CACHE_SIZE = 4096


def _decode_value(name: str, value: Any, cache: dict[str, Any] | None = None) -> Any:
    if type(value) in _PLAIN:
        return value
    if isinstance(value, dict) and "sip" in value and len(value) == 1:
        from puasim.sip.parser import parse

        text = value["sip"]
        if cache is None:
            return parse(text.encode("utf-8", "surrogateescape"))
        msg = cache.get(text)
        if msg is None:
            if len(cache) >= SIP_CACHE_SIZE:
                cache.clear()
            msg = cache[text] = parse(text.encode("utf-8", "surrogateescape"))
        return msg
    if isinstance(value, dict) and "bytes" in value and len(value) == 1:
        return value["bytes"].encode("latin-1")
    if isinstance(value, list):
        return tuple(_decode_value(name, v, cache) for v in value)
    return value


def record_from_dict(data: dict[str, Any], cache: dict[str, Any] | None = None) -> Record:
    """A record from its decoded JSON object; ``cache`` (text -> message) lets equal
    SIP texts share one parsed (immutable) message, as they did in the run."""
    cls = EVENT_TYPES.get(data.get("type", ""))
    if cls is None:
        raise TraceFormatError(f"unknown record type {data.get('type')!r}")
    kwargs = {}
    for name in _field_names(cls):
        if name in data:
            kwargs[name] = _decode_value(name, data[name], cache)
    try:
        event = cls(**kwargs)
    except TypeError as exc:
        raise TraceFormatError(f"record of type {cls.__name__}: {exc}") from None
    return Record(int(data["seq"]), int(data["time"]), str(data["node"]), event)


#: the canonical encoder (keys sorted, no spaces, ASCII only); built once, not per call
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=True)

#: event class -> the function writing its records' lines (``None``: a field shadows a record key)
_LINE_WRITERS: dict[type, Callable[[Record], str] | None] = {}

_RECORD_KEYS = ("seq", "time", "node", "type")

#: id -> (message, JSON text of ``{"sip": wire text}``) of messages encoded lately
_FRAGMENTS: dict[int, tuple[Any, str]] = {}


def _line_writer(cls: type) -> Callable[[Record], str] | None:
    """A function writing the canonical line of a record of ``cls``, generated from its fields.

    The record's keys are sorted once; each value is written inline when it
    is a plain ``str`` or ``int`` and by :func:`_fragment` otherwise.
    """
    if cls in _LINE_WRITERS:
        return _LINE_WRITERS[cls]
    names = _field_names(cls)
    writer = None
    if not set(names) & set(_RECORD_KEYS) and all(n.isidentifier() for n in names):
        parts = []
        for i, key in enumerate(sorted((*_RECORD_KEYS, *names))):
            head = ("," if i else "{") + _esc(key) + ":"
            if key == "type":
                parts.append(repr(head + _esc(cls.__name__)))
                continue
            src = f"rec.{key}" if key in _RECORD_KEYS else f"ev.{key}"
            parts.append(repr(head))
            parts.append(f"(E(v) if (t := type(v := {src})) is str else R(v) if t is int else F(v))")
        parts.append(repr("}"))
        code = "def line(rec):\n    ev = rec.event\n    return ''.join((" + ", ".join(parts) + ",))\n"
        scope: dict[str, Any] = {"E": _esc, "R": int.__repr__, "F": _fragment}
        exec(compile(code, f"<canonical line of {cls.__name__}>", "exec"), scope)
        writer = scope["line"]
    _LINE_WRITERS[cls] = writer
    return writer


#: (host, port) -> its JSON text: every message record carries two
_ADDRESSES: dict[tuple[str, int], str] = {}


#: ``puasim.sip.parser.serialise``, bound on first use (the sip layer sits above the trace)
_SERIALISE: list[Callable[[Any], bytes]] = []


def _sip_fragment(value: Any) -> str:
    hit = _FRAGMENTS.get(id(value))
    if hit is not None and hit[0] is value:
        return hit[1]
    if not _SERIALISE:
        from puasim.sip.parser import serialise

        _SERIALISE.append(serialise)
    frag = '{"sip":' + _esc(_SERIALISE[0](value).decode("utf-8", "surrogateescape")) + "}"
    if len(_FRAGMENTS) >= _TEXTS_SIZE:
        _FRAGMENTS.clear()
    _FRAGMENTS[id(value)] = (value, frag)
    return frag


def _fragment(value: Any) -> str:
    """``value`` as the canonical encoder writes it once :func:`_encode_value` has mapped it."""
    t = type(value)
    if t is str:
        return _esc(value)
    if t is int:
        return int.__repr__(value)
    if t is bool:
        return "true" if value else "false"
    if value is None:
        return "null"
    if t is tuple:
        if len(value) == 2 and type(value[0]) is str and type(value[1]) is int:  # an address
            hit = _ADDRESSES.get(value)
            if hit is None:
                if len(_ADDRESSES) >= _TEXTS_SIZE:
                    _ADDRESSES.clear()
                hit = _ADDRESSES[value] = "[" + _esc(value[0]) + "," + int.__repr__(value[1]) + "]"
            return hit
        return "[" + ",".join([_fragment(v) for v in value]) + "]"
    if t in _MESSAGE_TYPES:
        return _sip_fragment(value)
    return _CANONICAL.encode(_encode_value(value))


def canonical_line(rec: Record) -> str:
    """The record's line for files and the digest: its :func:`record_to_dict` object
    encoded with sorted keys, no spaces and ASCII only.

    Written by a function generated per event class from its sorted keys, with each
    message's text encoded once (a message is traced when sent and again when
    delivered); the result is the same string ``json.dumps`` gives, which the
    tests check on every scenario file.
    """
    global _MESSAGE_TYPES
    cls = type(rec.event)
    writer = _LINE_WRITERS.get(cls)
    if writer is None:
        writer = _line_writer(cls)
        if writer is None:
            return _CANONICAL.encode(record_to_dict(rec))
    if not _MESSAGE_TYPES:
        from puasim.sip.message import Request, Response

        _MESSAGE_TYPES = (Request, Response)
    return writer(rec)


def digest(records: Iterable[Record]) -> str:
    h = hashlib.sha256()
    for rec in records:
        h.update(canonical_line(rec).encode("ascii"))
        h.update(b"\n")
    return h.hexdigest()


def write_jsonl(trace: Trace, dest: str | Path | IO[str]) -> None:
    """Write ``trace`` as JSON lines to a path or an open text stream."""
    if isinstance(dest, str | Path):
        with open(dest, "w", encoding="utf-8") as fh:
            write_jsonl(trace, fh)
        return
    dest.write(header_line(trace.meta) + "\n")
    for rec in trace:
        dest.write(canonical_line(rec) + "\n")


def read_jsonl(src: str | Path | IO[str]) -> Trace:
    """Read a JSON-lines trace; errors name the line number and the problem."""
    if isinstance(src, str | Path):
        with open(src, encoding="utf-8") as fh:
            try:
                return read_jsonl(fh)
            except TraceFormatError as exc:
                raise TraceFormatError(f"{src}: {exc}") from None
    trace = Trace()
    for lineno, line in enumerate(src, start=1):
        line = line.strip()
        if not line:
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise TraceFormatError(f"line {lineno}: not JSON ({exc.msg})") from None
        if not isinstance(data, dict):
            raise TraceFormatError(f"line {lineno}: expected an object")
        if "puasim-trace" in data:
            if data["puasim-trace"] != FORMAT_VERSION:
                raise TraceFormatError(f"line {lineno}: unsupported trace format {data['puasim-trace']}")
            meta = data.get("meta") or {}
            if not isinstance(meta, dict):
                raise TraceFormatError(f"line {lineno}: header meta is not an object")
            trace.meta.update(meta)
            continue
        try:
            rec = record_from_dict(data)
        except TraceFormatError as exc:
            raise TraceFormatError(f"line {lineno}: {exc}") from None
        except (KeyError, ValueError, TypeError, AttributeError) as exc:
            raise TraceFormatError(f"line {lineno}: bad record ({exc})") from None
        trace.add(rec.time, rec.node, rec.event)
    return trace


def header_line(meta: dict[str, Any]) -> str:
    """The first line of a trace file: format version and run metadata."""
    return json.dumps({"puasim-trace": FORMAT_VERSION, "meta": _encode_value(meta)})


def _parse_line(line: str, lineno: int) -> dict[str, Any] | None:
    """One JSON-lines entry as a dict (``None`` for a blank line); errors name the line."""
    line = line.strip()
    if not line:
        return None
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise TraceFormatError(f"line {lineno}: not JSON ({exc.msg})") from None
    if not isinstance(data, dict):
        raise TraceFormatError(f"line {lineno}: expected an object")
    return data


def read_meta(path: str | Path) -> dict[str, Any]:
    """The ``meta`` of a trace file's header line, without reading the records."""
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            data = _parse_line(line, lineno)
            if data is None:
                continue
            if "puasim-trace" not in data:
                return {}
            if data["puasim-trace"] != FORMAT_VERSION:
                raise TraceFormatError(f"{path}: line {lineno}: unsupported trace format {data['puasim-trace']}")
            meta = data.get("meta") or {}
            if not isinstance(meta, dict):
                raise TraceFormatError(f"{path}: line {lineno}: header meta is not an object")
            return meta
    return {}


#: lines decoded per chunk when a trace file is read lazily
CHUNK_LINES = 10_000


def iter_jsonl(
    path: str | Path, chunk_lines: int | None = None, types: Iterable[str] | None = None
) -> Iterator[Record]:
    """The records of a JSON-lines trace file, read ``chunk_lines`` lines at a time
    (default :data:`CHUNK_LINES`).

    Only one chunk of text is held at once, so a trace larger than memory can
    be walked.  Sequence numbers are renumbered from 0 as :func:`read_jsonl`
    does; errors name the file and line.  ``types`` (event class names) keeps
    only those records: other lines are recognised by their canonical
    ``"type":"Name"`` text and skipped without being decoded (their sequence
    numbers still count).
    """
    needles = None if types is None else tuple(f'"type":"{name}"' for name in types)
    wanted = None if types is None else frozenset(types)
    chunk_lines = CHUNK_LINES if chunk_lines is None else chunk_lines
    seq = 0
    lineno = 0
    cache: dict[str, Any] = {}
    with open(path, encoding="utf-8") as fh:
        while True:
            chunk = list(islice(fh, chunk_lines))
            if not chunk:
                return
            for line in chunk:
                lineno += 1
                if needles is not None and '"type":"' in line and not line.startswith('{"puasim-trace"'):
                    if not any(n in line for n in needles):
                        seq += 1  # a record of another type: counted, not decoded
                        continue
                try:
                    data = _parse_line(line, lineno)
                    if data is None:
                        continue
                    if "puasim-trace" in data:
                        if data["puasim-trace"] != FORMAT_VERSION:
                            raise TraceFormatError(f"line {lineno}: unsupported trace format {data['puasim-trace']}")
                        continue
                    try:
                        rec = record_from_dict(data, cache)
                    except TraceFormatError as exc:
                        raise TraceFormatError(f"line {lineno}: {exc}") from None
                    except (KeyError, ValueError, TypeError, AttributeError) as exc:
                        raise TraceFormatError(f"line {lineno}: bad record ({exc})") from None
                except TraceFormatError as exc:
                    raise TraceFormatError(f"{path}: {exc}") from None
                if wanted is None or type(rec.event).__name__ in wanted:
                    yield Record(seq, rec.time, rec.node, rec.event)
                seq += 1
