"""Expectations of a scenario: validation before the run, evaluation after it.

Message matchers read only the trace.  A matcher is a mapping of
conditions, all of which must hold:

``from``/``to``
    node name (``pua``, ``server``)
``method``, ``status``, ``reason``, ``ruri``
    request method, response status (an int or a list of ints), response
    reason phrase, Request-URI
``event``, ``expires``, ``if_match``, ``etag``, ``cseq``, ``call_id``, ``content_type``, ``sub_state``
    shortcuts for the headers Event, Expires, SIP-If-Match, SIP-ETag, CSeq
    (its number), Call-ID, Content-Type, Subscription-State
``headers``
    ``{Header-Name: value-spec}`` for any other header
``body``
    ``absent`` or ``present``; ``body_contains``: text or list of texts
``at``
    virtual time in seconds: a number (exact to the microsecond) or ``{min, max}``
``retransmission``
    ``false`` by default: retransmissions only match when asked for
``save``
    ``{name: field}``: remember a field (a shortcut or header name) as ``$name``
``label``, ``answers`` (sequence items only)
    ``label`` names an item; ``answers`` (``previous``, an earlier item's index
    or label) makes the item a response to the request that item matched:
    same Call-ID, same CSeq (number and method) and same top Via branch
    (RFC 3261 section 17.1.3), so a later reply to another request cannot
    stand in for it

A value spec is a literal (compared as text; numbers numerically),
``absent``, ``present``, ``$name`` (equal to a saved value), ``!$name`` (not
equal), ``{min: a, max: b}``, ``{regex: ...}`` or ``{one_of: [...]}``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from puasim.effects import SECOND
from puasim.scenario.fields import (
    MAX_COUNT,
    is_int,
    read_bool,
    read_choice,
    read_int,
    read_list,
    read_mapping,
    read_number,
    read_regex,
    read_seconds,
    read_text,
)
from puasim.scenario.loader import Source as Doc
from puasim.sip.message import Request, Response
from puasim.trace.events import EVENT_TYPES, MessageSent, RunError
from puasim.trace.text import format_records
from puasim.trace.trace import Record

SHORTCUT_HEADERS = {
    "event": "Event",
    "expires": "Expires",
    "if_match": "SIP-If-Match",
    "etag": "SIP-ETag",
    "call_id": "Call-ID",
    "content_type": "Content-Type",
    "sub_state": "Subscription-State",
    "min_expires": "Min-Expires",
    "contact": "Contact",
}
MATCHER_KEYS = {
    "from", "to", "method", "status", "ruri", "cseq", "headers", "body", "body_contains",
    "at", "retransmission", "save", "why", "reason", *SHORTCUT_HEADERS,
}
#: keys a sequence item has besides those of a matcher
SEQUENCE_KEYS = {"label", "answers"}
RECORD_KEYS = {"at", "match", "exists", "count", "fields", "which"}
#: which matching records a ``record`` expectation checks the ``fields`` of
RECORD_WHICH = ("first", "last", "all")
RECORD_MATCH = {"pres_uri", "kind", "id", "event", "watcher_uri", "flag"}
RECORD_FIELDS = {
    "etag", "version", "expires_in", "desired_in", "desired_expires", "cseq", "tuple_id",
    "remote_contact", "to_tag", "contact", "flag", "record_route",
}
COUNT_KEYS = {"equals", "min", "max"}


# -- validation ------------------------------------------------------------------------


def _check_keys(spec: Any, allowed: set[str], doc: Doc, path: tuple) -> dict:
    if not isinstance(spec, dict):
        raise doc.error(path, f"expected a mapping, got {type(spec).__name__}")
    for key in spec:
        if key not in allowed:
            raise doc.error((*path, key), f"unknown field (allowed: {', '.join(sorted(allowed))})")
    return spec


#: the largest magnitude of a number in a value spec
MAX_SPEC_NUMBER = 2**63


def validate_value_spec(spec: Any, doc: Doc, path: tuple) -> None:
    """A value spec (see the module docstring): literal, list, ``{regex}``,
    ``{one_of}`` or ``{min, max}``, with finite, bounded numbers and a regex
    that compiles."""
    if isinstance(spec, bool) or spec is None:
        return
    if isinstance(spec, str):
        read_text(doc, path, spec)
    elif isinstance(spec, int | float):
        read_number(doc, path, spec, lo=-MAX_SPEC_NUMBER, hi=MAX_SPEC_NUMBER)
    elif isinstance(spec, list):
        for k, item in enumerate(read_list(doc, path, spec, max_items=1000)):
            validate_value_spec(item, doc, (*path, k))
    elif isinstance(spec, dict):
        if "regex" in spec:
            _check_keys(spec, {"regex"}, doc, path)
            read_regex(doc, (*path, "regex"), spec["regex"])
        elif "one_of" in spec:
            _check_keys(spec, {"one_of"}, doc, path)
            items = read_list(doc, (*path, "one_of"), spec["one_of"], max_items=1000, what="a list of values")
            for k, item in enumerate(items):
                validate_value_spec(item, doc, (*path, "one_of", k))
        else:
            _check_keys(spec, {"min", "max"}, doc, path)
            if not spec:
                raise doc.error(path, "a value spec mapping needs regex, one_of, or min/max")
            for key in ("min", "max"):
                if key in spec:
                    read_number(doc, (*path, key), spec[key], lo=-MAX_SPEC_NUMBER, hi=MAX_SPEC_NUMBER)
    else:
        raise doc.error(path, f"not a value spec: {type(spec).__name__} {spec!r:.40}")


def _validate_matcher(spec: Any, doc: Doc, path: tuple) -> None:
    spec = _check_keys(spec, MATCHER_KEYS, doc, path)
    _validate_matcher_fields(spec, doc, path)


def _validate_sequence(items: list, doc: Doc, path: tuple) -> None:
    """Sequence items: matchers plus ``label`` and ``answers`` naming an earlier item."""
    labels: dict[str, int] = {}
    for i, item in enumerate(items):
        ipath = (*path, i)
        spec = _check_keys(item, MATCHER_KEYS | SEQUENCE_KEYS, doc, ipath)
        _validate_matcher_fields(spec, doc, ipath)
        if "answers" in spec:
            _answered_index(spec, i, labels, doc, ipath)
            if "method" in spec:
                raise doc.error((*ipath, "method"), "an item that answers a request matches a response: drop method")
        if "label" in spec:
            label = read_text(doc, (*ipath, "label"), spec["label"], max_len=100, empty=False, what="a label")
            if label in labels or label == "previous":
                raise doc.error((*ipath, "label"), f"label {label!r} is already used or reserved")
            labels[label] = i


def _answered_index(spec: dict, i: int, labels: dict[str, int], doc: Doc, path: tuple) -> int:
    """Index of the earlier sequence item that ``spec['answers']`` names."""
    target = spec["answers"]
    if target == "previous":
        target = i - 1
    elif isinstance(target, str):
        if target not in labels:
            raise doc.error((*path, "answers"), f"no earlier item is labelled {target!r}")
        target = labels[target]
    if not is_int(target) or not 0 <= target < i:
        shown = "no item" if i == 0 else f"0..{i - 1}"
        raise doc.error((*path, "answers"), f"must be previous, a label or the index of an earlier item ({shown})")
    return int(target)


def _validate_matcher_fields(spec: dict, doc: Doc, path: tuple) -> None:
    if "save" in spec and not isinstance(spec["save"], dict):
        raise doc.error((*path, "save"), "save must map variable names to fields")
    for var, fld in (spec.get("save") or {}).items():
        read_text(doc, (*path, "save", var), str(var), max_len=100, empty=False, what="a variable name")
        read_text(doc, (*path, "save", var), fld, max_len=100, empty=False, what="a field name")
    if "headers" in spec and not isinstance(spec["headers"], dict):
        raise doc.error((*path, "headers"), "headers must be a mapping")
    for name, want in (spec.get("headers") or {}).items():
        read_text(doc, (*path, "headers", name), str(name), max_len=200, empty=False, what="a header name")
        validate_value_spec(want, doc, (*path, "headers", name))
    if "body" in spec and spec["body"] not in ("absent", "present"):
        raise doc.error((*path, "body"), "body must be absent or present")
    if "body_contains" in spec:
        wanted = spec["body_contains"]
        pieces = wanted if isinstance(wanted, list) else [wanted]
        for k, piece in enumerate(pieces):
            read_text(doc, (*path, "body_contains", k) if isinstance(wanted, list) else (*path, "body_contains"), piece)
    if "retransmission" in spec:
        read_bool(doc, (*path, "retransmission"), spec["retransmission"])
    for key in ("from", "to"):
        if key in spec:
            read_text(doc, (*path, key), spec[key], max_len=100)
    if "why" in spec:
        read_text(doc, (*path, "why"), spec["why"], max_len=4096)
    for key in ("method", "status", "reason", "ruri", "cseq", "at", *SHORTCUT_HEADERS):
        if key in spec:
            validate_value_spec(spec[key], doc, (*path, key))


def _validate_count(spec: dict, doc: Doc, path: tuple) -> None:
    if not any(k in spec for k in COUNT_KEYS):
        raise doc.error(path, "give equals, min or max")
    for k in COUNT_KEYS & set(spec):
        if not is_int(spec[k]):
            raise doc.error((*path, k), "must be an integer")
        read_int(doc, (*path, k), spec[k], lo=0, hi=MAX_COUNT)


def _validate_specs(spec: Any, doc: Doc, path: tuple, allowed: set[str] | None = None) -> None:
    """A mapping of field names to value specs."""
    mapping = read_mapping(doc, path, spec, allowed)
    for name, want in mapping.items():
        validate_value_spec(want, doc, (*path, name))


def validate_expectation(kind: str, spec: Any, doc: Doc, path: tuple, n_steps: int) -> None:
    if isinstance(spec, dict) and "why" in spec:
        read_text(doc, (*path, "why"), spec["why"], max_len=4096)
        spec = {k: v for k, v in spec.items() if k != "why"}
    if kind == "sequence":
        if not isinstance(spec, list) or not spec:
            raise doc.error(path, "sequence must be a non-empty list of message matchers")
        _validate_sequence(read_list(doc, path, spec), doc, path)
    elif kind in ("count",):
        spec = _check_keys(spec, {"match", *COUNT_KEYS}, doc, path)
        _validate_matcher(spec.get("match", {}), doc, (*path, "match"))
        _validate_count(spec, doc, path)
    elif kind == "absent":
        _validate_matcher(spec, doc, path)
    elif kind == "record":
        spec = _check_keys(spec, RECORD_KEYS, doc, path)
        if "at" not in spec:
            raise doc.error(path, "record needs 'at' (seconds)")
        read_seconds(doc, (*path, "at"), spec["at"])
        _validate_specs(spec.get("match", {}), doc, (*path, "match"), RECORD_MATCH)
        _validate_specs(spec.get("fields", {}), doc, (*path, "fields"), RECORD_FIELDS)
        if "exists" in spec:
            read_bool(doc, (*path, "exists"), spec["exists"])
        if "count" in spec:
            read_int(doc, (*path, "count"), spec["count"], lo=0, hi=MAX_COUNT)
        if "which" in spec and not is_int(spec["which"]):
            read_choice(doc, (*path, "which"), spec["which"], RECORD_WHICH)
        elif "which" in spec:
            read_int(doc, (*path, "which"), spec["which"], lo=0, hi=MAX_COUNT, what="a record index")
    elif kind in ("rc", "rpc"):
        allowed = {"step", "equals"} if kind == "rc" else {"step", "state", "value", "fault_code", "fault_text"}
        spec = _check_keys(spec, allowed, doc, path)
        step = spec.get("step")
        if not is_int(step) or not (0 <= step < n_steps):
            raise doc.error((*path, "step"), f"step must be the index of a step (0..{n_steps - 1})")
        for key in ("equals", "state", "fault_code", "fault_text"):
            if key in spec:
                validate_value_spec(spec[key], doc, (*path, key))
        if "value" in spec:
            _validate_specs(spec["value"], doc, (*path, "value"))
    elif kind == "event":
        spec = _check_keys(spec, {"type", "where", "node", *COUNT_KEYS}, doc, path)
        if not isinstance(spec.get("type"), str) or spec.get("type") not in EVENT_TYPES:
            raise doc.error((*path, "type"), f"unknown trace event type (one of: {', '.join(EVENT_TYPES)})")
        if "node" in spec:
            read_text(doc, (*path, "node"), spec["node"], max_len=100)
        _validate_specs(spec.get("where", {}), doc, (*path, "where"))
        _validate_count(spec, doc, path)
    elif kind == "error":
        spec = _check_keys(spec, {"contains"}, doc, path)
        if "contains" in spec:
            read_text(doc, (*path, "contains"), spec["contains"])
    elif kind == "stat":
        from puasim.scenario.stats import validate_stat

        validate_stat(spec, doc, path)
    elif kind == "server_state":
        spec = _check_keys(spec, {"at", "presentity", "event", "what", *COUNT_KEYS}, doc, path)
        if spec.get("what", "publications") not in ("publications", "subscriptions"):
            raise doc.error((*path, "what"), "what must be publications or subscriptions")
        if "at" not in spec or "presentity" not in spec:
            raise doc.error(path, "server_state needs at and presentity")
        read_seconds(doc, (*path, "at"), spec["at"])
        read_text(doc, (*path, "presentity"), spec["presentity"], empty=False)
        if "event" in spec:
            read_text(doc, (*path, "event"), spec["event"], max_len=100, empty=False)
        _validate_count(spec, doc, path)


# -- evaluation ------------------------------------------------------------------------


@dataclass(slots=True)
class RunContext:
    """What expectations can read after a run."""

    trace: Any
    names: dict[tuple, str]
    epoch: int
    step_results: dict[int, Any] = field(default_factory=dict)
    probes: dict[int, Any] = field(default_factory=dict)
    vars: dict[str, str] = field(default_factory=dict)
    #: run length in seconds (``stat`` rates) and values computed once per run (report frames)
    duration_s: float = 0.0
    cache: dict[str, Any] = field(default_factory=dict)


def _num(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


def check_value(actual: Any, spec: Any, vars: dict[str, str]) -> str | None:
    """None when ``actual`` satisfies ``spec``, else the reason."""
    if spec == "absent":
        return None if actual is None else f"expected absent, got {actual!r}"
    if spec == "present":
        return None if actual is not None else "expected present, got absent"
    if actual is None:
        return f"expected {spec!r}, got absent"
    text = str(actual)
    if isinstance(spec, str) and spec.startswith("!$"):
        name = spec[2:]
        if name not in vars:
            return f"${name} was never saved"
        return None if text != vars[name] else f"expected not ${name} ({vars[name]!r}), got it"
    if isinstance(spec, str) and spec.startswith("$"):
        name = spec[1:]
        if name not in vars:
            return f"${name} was never saved"
        return None if text == vars[name] else f"expected ${name} = {vars[name]!r}, got {text!r}"
    if isinstance(spec, dict):
        if "regex" in spec:
            return None if re.search(str(spec["regex"]), text) else f"{text!r} does not match /{spec['regex']}/"
        if "one_of" in spec:
            return None if any(check_value(actual, s, vars) is None for s in spec["one_of"]) else f"{text!r} not one of {spec['one_of']}"
        value = _num(text)
        if value is None:
            return f"expected a number, got {text!r}"
        if "min" in spec and value < float(spec["min"]):
            return f"{value:g} < min {spec['min']}"
        if "max" in spec and value > float(spec["max"]):
            return f"{value:g} > max {spec['max']}"
        return None
    if isinstance(spec, bool):
        return None if text.lower() == str(spec).lower() else f"expected {spec}, got {text!r}"
    if isinstance(spec, int | float):
        value = _num(text)
        return None if value is not None and value == float(spec) else f"expected {spec}, got {text!r}"
    if isinstance(spec, list):
        return None if any(check_value(actual, s, vars) is None for s in spec) else f"{text!r} not in {spec}"
    return None if text == str(spec) else f"expected {spec!r}, got {text!r}"


def field_value(rec: Record, name: str) -> Any:
    msg = rec.event.message
    if name == "method":
        return msg.method if isinstance(msg, Request) else None
    if name == "status":
        return msg.status if isinstance(msg, Response) else None
    if name == "reason":
        return msg.reason if isinstance(msg, Response) else None
    if name == "ruri":
        return msg.uri if isinstance(msg, Request) else None
    if name == "cseq":
        value = msg.get("cseq")
        return value.split()[0] if value else None
    if name == "at":
        return rec.time / SECOND
    header = SHORTCUT_HEADERS.get(name, name)
    return msg.get(header)


#: the single-value keys a message matcher checks, in the order it checks them
_FIELD_KEYS = ("method", "status", "reason", "ruri", "cseq", "at", *SHORTCUT_HEADERS)


def field_keys(spec: dict) -> tuple[str, ...]:
    """The keys of :data:`_FIELD_KEYS` that ``spec`` sets, in checking order (see :func:`match_message`)."""
    return tuple(k for k in _FIELD_KEYS if k in spec)


def match_message(rec: Record, spec: dict, ctx: RunContext, keys: tuple[str, ...] | None = None) -> str | None:
    """Why ``rec`` (a MessageSent) does not match ``spec``, or None when it does.

    ``keys`` is :func:`field_keys` of ``spec``, worked out once by a caller
    matching many records against one spec.
    """
    ev = rec.event
    if spec.get("retransmission", False) != ev.retransmission:
        return "retransmission flag differs"
    if "from" in spec and rec.node != spec["from"]:
        return f"from {rec.node}"
    if "to" in spec and ctx.names.get(ev.dst) != spec["to"]:
        return f"to {ctx.names.get(ev.dst)}"
    msg = ev.message
    for key in field_keys(spec) if keys is None else keys:
        if key == "method" and not isinstance(msg, Request):
            return "not a request"
        if key in ("status", "reason") and not isinstance(msg, Response):
            return "not a response"
        why = check_value(field_value(rec, key), spec[key], ctx.vars)
        if why:
            return f"{key}: {why}"
    for name, want in (spec.get("headers") or {}).items():
        why = check_value(msg.get(name), want, ctx.vars)
        if why:
            return f"{name}: {why}"
    if "body" in spec:
        has = bool(msg.body)
        if has != (spec["body"] == "present"):
            return f"body is {'present' if has else 'absent'}"
    wanted = spec.get("body_contains")
    if wanted is not None:
        body = msg.body.decode("utf-8", "replace")
        for piece in [wanted] if isinstance(wanted, str) else wanted:
            if str(piece) not in body:
                return f"body lacks {piece!r}"
    return None


#: stands for the document when a validated sequence is read again at evaluation
_NO_DOC = Doc("<sequence>", None, {})
_BRANCH = re.compile(r";\s*branch\s*=\s*([^;,\s]+)", re.IGNORECASE)


def _transaction_key(rec: Record) -> tuple[str, str, str]:
    """Call-ID, CSeq (number and method) and top Via branch: what ties a
    response to its request (RFC 3261 sections 8.2.6.2 and 17.1.3)."""
    msg = rec.event.message
    via = msg.get("via") or ""
    branch = _BRANCH.search(via.split(",")[0])
    cseq = " ".join((msg.get("cseq") or "").split())
    return (msg.get("call-id") or "", cseq.upper(), branch.group(1) if branch else "")


def answers_request(reply: Record, request: Record) -> str | None:
    """None when ``reply`` is a response to ``request``, else the reason."""
    if not isinstance(request.event.message, Request):
        return "the answered item matched a response, not a request"
    if not isinstance(reply.event.message, Response):
        return "not a response"
    want, got = _transaction_key(request), _transaction_key(reply)
    for what, w, g in zip(("Call-ID", "CSeq", "Via branch"), want, got, strict=True):
        if w != g:
            return f"answers another request ({what} {g!r}, the request's is {w!r})"
    return None


def _save(rec: Record, spec: dict, ctx: RunContext) -> None:
    for var, fld in (spec.get("save") or {}).items():
        value = field_value(rec, fld)
        if value is not None:
            ctx.vars[str(var)] = str(value)


def _messages(ctx: RunContext) -> list[Record]:
    # iter_of: a streamed trace then decodes only the MessageSent lines of its file
    return [r for r in ctx.trace.iter_of(MessageSent) if type(r.event) is MessageSent]


def _count_ok(n: int, spec: dict) -> str | None:
    if "equals" in spec and n != spec["equals"]:
        return f"counted {n}, expected {spec['equals']}"
    if "min" in spec and n < spec["min"]:
        return f"counted {n}, expected at least {spec['min']}"
    if "max" in spec and n > spec["max"]:
        return f"counted {n}, expected at most {spec['max']}"
    return None


def _slice(ctx: RunContext, around: int | None, width: int = 12) -> str:
    if getattr(ctx.trace, "level", "full") == "metrics":
        return "(no trace context: the run kept trace level 'metrics')"
    msgs = [r for r in ctx.trace.records if type(r.event) is MessageSent or type(r.event).__name__ in ("MessageDropped", "RecordChanged", "RunError")]
    if around is None:
        chosen = msgs[:width]
    else:
        idx = next((i for i, r in enumerate(msgs) if r.seq >= around), len(msgs))
        chosen = msgs[max(0, idx - width // 2) : idx + width // 2]
    return format_records(chosen, ctx.names)


@dataclass(frozen=True, slots=True)
class Failure:
    kind: str
    line: int | None
    message: str
    context: str


def evaluate(kind: str, spec: Any, ctx: RunContext, index: int, line: int | None) -> Failure | None:
    def fail(message: str, around: int | None = None) -> Failure:
        return Failure(kind, line, message, _slice(ctx, around))

    if kind == "sequence":
        msgs = _messages(ctx)
        pos = 0
        last_seq: int | None = None
        matched: list[Record] = []
        labels: dict[str, int] = {}
        for i, item in enumerate(spec):
            found = None
            closest = None
            request = matched[_answered_index(item, i, labels, _NO_DOC, ())] if "answers" in item else None
            if "label" in item:
                labels[str(item["label"])] = i
            keys = field_keys(item)
            while pos < len(msgs):
                rec = msgs[pos]
                pos += 1
                why = match_message(rec, item, ctx, keys)
                if why is None and request is not None:
                    why = answers_request(rec, request)
                if why is None:
                    found = rec
                    break
                if closest is None and ("method" in item or "status" in item):
                    if all(field_value(rec, k) is not None and check_value(field_value(rec, k), item[k], ctx.vars) is None
                           for k in ("method", "status") if k in item):
                        closest = (rec, why)
            if found is None:
                near = f"; nearest candidate at {closest[0].time / SECOND:.3f} s failed on {closest[1]}" if closest else ""
                return fail(f"sequence item {i} ({_describe(item)}) not found after the previous item{near}", last_seq)
            _save(found, item, ctx)
            matched.append(found)
            last_seq = found.seq
        return None
    if kind in ("count", "absent"):
        match = spec.get("match", {}) if kind == "count" else spec
        keys = field_keys(match)
        hits = [r for r in _messages(ctx) if match_message(r, match, ctx, keys) is None]
        why = _count_ok(len(hits), spec if kind == "count" else {"equals": 0})
        return fail(f"{_describe(match)}: {why}", hits[0].seq if hits else None) if why else None
    if kind == "record":
        snapshot = ctx.probes.get(index)
        if snapshot is None:
            return fail(f"no record snapshot at {spec['at']} s (the run ended before it)")
        now_s, records = snapshot
        match = spec.get("match", {})
        matching = [r for r in records if _record_matches(r, match)]
        exists = spec.get("exists", True)
        if "count" in spec and len(matching) != spec["count"]:
            return fail(f"at {spec['at']} s: {len(matching)} records match {match}, expected {spec['count']}")
        if not exists:
            return fail(f"at {spec['at']} s: a record matching {match} exists: {_rec_text(matching[0])}") if matching else None
        if not matching:
            return fail(f"at {spec['at']} s: no record matches {match} (records: {[_rec_text(r) for r in records] or 'none'})")
        which = spec.get("which", "first")
        if is_int(which) and which >= len(matching):
            return fail(f"at {spec['at']} s: record {which} asked for, {len(matching)} records match {match}")
        chosen = {"first": matching[:1], "last": matching[-1:], "all": matching}.get(which) or [matching[which]]
        for prec in chosen:
            for name, want in (spec.get("fields") or {}).items():
                if name == "expires_in":
                    actual: Any = prec.expires - now_s
                elif name == "desired_in":
                    actual = prec.desired_expires - now_s if prec.desired_expires else 0
                else:
                    actual = getattr(prec, name)
                why = check_value(actual, want, ctx.vars)
                if why:
                    named = "record" if len(matching) == 1 else f"record {matching.index(prec)} of {len(matching)} ({_rec_text(prec)})"
                    return fail(f"at {spec['at']} s: {named} {name}: {why}")
        return None
    if kind == "rc":
        actual = ctx.step_results.get(spec["step"])
        why = check_value(actual, spec.get("equals"), ctx.vars) if "equals" in spec else None
        return fail(f"step {spec['step']} returned {actual!r}: {why}") if why else None
    if kind == "rpc":
        call = ctx.step_results.get(spec["step"])
        if call is None or not hasattr(call, "state"):
            return fail(f"step {spec['step']} is not an RPC call that ran")
        for key in ("state", "fault_code", "fault_text"):
            if key in spec:
                why = check_value(getattr(call, key), spec[key], ctx.vars)
                if why:
                    return fail(f"rpc step {spec['step']} {key}: {why} (answer: {call.describe()})")
        for key, want in (spec.get("value") or {}).items():
            why = check_value(call.value.get(key), want, ctx.vars)
            if why:
                return fail(f"rpc step {spec['step']} value {key}: {why} (answer: {call.describe()})")
        return None
    if kind == "event":
        cls = EVENT_TYPES[spec["type"]]
        hits = []
        for r in ctx.trace.iter_of(cls):
            if type(r.event) is not cls or ("node" in spec and r.node != spec["node"]):
                continue
            if all(check_value(getattr(r.event, k, None), v, ctx.vars) is None for k, v in (spec.get("where") or {}).items()):
                hits.append(r)
        why = _count_ok(len(hits), spec)
        return fail(f"{spec['type']} where {spec.get('where', {})}: {why}", hits[0].seq if hits else None) if why else None
    if kind == "error":
        errors = [r for r in ctx.trace.iter_of(RunError) if type(r.event) is RunError]
        if not errors:
            return fail("the run was expected to end with an error, it did not")
        text = errors[0].event.error
        if "contains" in spec and str(spec["contains"]) not in text:
            return fail(f"run error {text!r} lacks {spec['contains']!r}", errors[0].seq)
        return None
    if kind == "server_state":
        value = ctx.probes.get(index)
        if value is None:
            return fail(f"no server snapshot at {spec['at']} s")
        why = _count_ok(value, spec)
        what = spec.get("what", "publications")
        return fail(f"server at {spec['at']} s holds {value} {what} of {spec['presentity']}: {why}") if why else None
    if kind == "stat":
        from puasim.scenario.stats import check_stat

        try:
            why = check_stat(spec, ctx, ctx.duration_s)
        except Exception as exc:  # a metric that cannot be computed fails its expectation, not the run
            detail = str(exc).splitlines()[0] if str(exc) else ""
            return fail(f"stat {spec.get('metric')}: could not be computed: {type(exc).__name__}"
                        + (f": {detail}" if detail else ""))
        return fail(why) if why else None
    raise AssertionError(kind)


def _record_matches(rec: Any, match: dict) -> bool:
    for key, want in match.items():
        if key == "event" and isinstance(want, str):
            from puasim.pua.constants import event_from_name

            want = event_from_name(want, True)
        if check_value(getattr(rec, key), want, {}) is not None:
            return False
    return True


def _rec_text(rec: Any) -> str:
    return f"{rec.kind} {rec.pres_uri} etag={rec.etag or '-'} expires={rec.expires} desired={rec.desired_expires} v={rec.version}"


def _describe(spec: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in spec.items() if k not in ("save", "label")) or "any message"
