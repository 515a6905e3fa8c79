"""The PUBLISHes of a real edge node against the model's, for the same calls.

:func:`publish_rows` reads what an edge node sent to its presence server from
a trace (a simulation's, or a capture read with :func:`~puasim.capture.reader.read_pcap`):
one :class:`PublishRow` per PUBLISH, retransmissions left out, in the order
sent.  :func:`compare_publishes` lines up two such sequences and lists, one
line each, where they differ.

What is compared, per PUBLISH (and, when asked, when it left, counted from
the first one, within a slack): the Request-URI, ``Event``, ``Expires``,
``Content-Type``, whether ``SIP-If-Match`` is present (not its value: each
presence server makes its own ETags), the status of the reply, and the body
as a canonical tree: the ``dialog-info`` root's ``entity``, ``version`` and
``state``, then every element in document order with its attributes and
text (RFC 4235 §4.1).  Values that are random by nature are compared by
presence only: the dialog ``id`` (a sruid in Kamailio), ``call-id``,
``local-tag`` and ``remote-tag``.  Addresses (``host:port`` of the phones,
the node and the server) are replaced by the names each side gives them, so
``sip:bob@127.0.0.1:34836`` and ``sip:bob@127.0.0.1:5092`` both read
``sip:bob@<bob>``.

Timing: pua sends ``SIP-If-Match`` only once the previous publication of the
same record has its 200 (pua-reference §3.3; the lab's experiments 07 and 08
show both outcomes for the same call).  A node with one SIP worker handles
what it receives in arrival order, so each row records whether that reply
had arrived before the message that caused the PUBLISH, taken as the last
one the node received before sending it (:attr:`PublishRow.prior_answered`);
when the two sides differ in that, a different ``SIP-If-Match`` is the race
and is reported as a note, not as a difference; so are, for that Request-URI
from then on, different ``version`` values (with ``dlginfo_increase_version``
the version counts per pua record, and the race decides whether a PUBLISH
starts a new record, pua-reference §3.4.2).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lxml import etree

from puasim.bodies.errors import BodyError
from puasim.bodies.xml import parse_document
from puasim.sip import headers as H
from puasim.sip.errors import SipParseError
from puasim.sip.message import Request, Response
from puasim.sip.uri import format_hostport
from puasim.trace.events import MessageDelivered, MessageSent

__all__ = ["PublishComparison", "PublishRow", "compare_publishes", "model_publishes", "publish_rows"]

Address = tuple[str, int]
#: attributes compared by presence only (random per process or per call)
RANDOM_ATTRIBUTES = frozenset({"id", "call-id", "local-tag", "remote-tag"})


@dataclass(frozen=True, slots=True)
class PublishRow:
    """One PUBLISH an edge node sent, in comparable form."""

    #: position among the node's PUBLISHes (0-based) and send time (µs of its trace)
    index: int
    time: int
    ruri: str
    event: str | None
    expires: str | None
    content_type: str | None
    if_match: bool
    #: the previous PUBLISH to the same Request-URI had its final reply at the node before the
    #: message that caused this one (the last one the node received before sending it)
    prior_answered: bool
    status: int | None
    #: canonical body lines (see the module docstring); () for a PUBLISH without body
    body: tuple[str, ...]

    def describe(self) -> str:
        state = next((line.split("=", 1)[1] for line in self.body if line.startswith("dialog/state=")), "-")
        match = "If-Match" if self.if_match else "initial"
        return f"PUBLISH {self.ruri} Expires {self.expires} {match} state {state} -> {self.status}"


def _subst(text: str, names: Mapping[str, str]) -> str:
    for old, new in names.items():
        text = text.replace(old, new)
    return text


def _canonical(body: bytes, names: Mapping[str, str]) -> tuple[str, ...]:
    """The body as ``path=text`` / ``path@attr=value`` lines, random values as ``*``."""
    if not body:
        return ()
    try:
        root = parse_document(body, what="dialog-info").root
    except BodyError as exc:
        return (f"unreadable body: {exc}",)
    lines: list[str] = []

    def local(tag: Any) -> str:
        return etree.QName(tag).localname if isinstance(tag, str) else str(tag)

    def walk(node: Any, path: str) -> None:
        for key in sorted(node.attrib):
            value = node.attrib[key]
            shown = "*" if key in RANDOM_ATTRIBUTES else _subst(value, names)
            lines.append(f"{path}@{key}={shown}")
        text = (node.text or "").strip()
        if text:
            lines.append(f"{path}={_subst(text, names)}")
        for child in node:
            if isinstance(child.tag, str):
                walk(child, f"{path}/{local(child.tag)}" if path else local(child.tag))

    lines.append(f"root={local(root.tag)}")
    walk(root, "")
    return tuple(lines)


def _address_names(names: Mapping[Address, str]) -> dict[str, str]:
    """``host:port`` texts -> ``<name>``, longest first (so a port is never cut in two)."""
    out: dict[str, str] = {}
    for addr, name in names.items():
        out[format_hostport(addr[0], addr[1])] = f"<{name}>"
    return dict(sorted(out.items(), key=lambda kv: -len(kv[0])))


def publish_rows(trace: Any, node: Address, names: Mapping[Address, str] | None = None) -> list[PublishRow]:
    """The PUBLISHes ``node`` sent in ``trace``, with their replies (see the module docstring).

    ``names``: address -> name of every node of the run (the phones, the
    edge node, the server), used to make the bodies comparable."""
    subst = _address_names(names or {})
    records = trace.records
    # a simulation records each arrival (MessageDelivered); a capture only what was sent
    simulated = any(type(r.event) is MessageDelivered and r.event.dst == node for r in records)
    arrival = MessageDelivered if simulated else MessageSent
    sent: list[tuple[int, int, Request]] = []
    #: Call-ID of a PUBLISH -> (position of its final reply's arrival, status)
    finals: dict[str, tuple[int, int]] = {}
    #: position of the last arrival at the node that is not a reply to a PUBLISH
    trigger = -1
    #: (Call-ID, top Via branch) of the PUBLISHes taken: a live driver hosting both ends of a
    #: message records it at each end, and a retransmission repeats the branch
    seen: set[tuple[str, str]] = set()
    for pos, rec in enumerate(records):
        ev = rec.event
        cls = type(ev)
        if cls is MessageSent and ev.src == node:
            msg = ev.message
            if not ev.retransmission and isinstance(msg, Request) and msg.method == "PUBLISH":
                try:
                    via = H.top_via(msg)
                    key = (H.call_id(msg) or "", via.branch or "" if via is not None else "")
                except SipParseError:
                    key = (str(pos), "")
                if key not in seen:
                    seen.add(key)
                    sent.append((rec.time, trigger, msg))
            continue
        if cls is not arrival or ev.dst != node:
            continue
        msg = ev.message
        publish_reply = False
        if isinstance(msg, Response):
            try:
                cseq = H.cseq(msg)
                call_id = H.call_id(msg) or ""
            except SipParseError:
                cseq, call_id = None, ""
            publish_reply = cseq is not None and cseq.method == "PUBLISH"
            if publish_reply and msg.status >= 200 and call_id not in finals:
                finals[call_id] = (pos, msg.status)
        if not publish_reply:
            trigger = pos
    rows: list[PublishRow] = []
    last: dict[str, str] = {}
    for i, (at, cause, msg) in enumerate(sent):
        call_id = H.call_id(msg) or ""
        prior = last.get(msg.uri)
        answered = prior is not None and prior in finals and finals[prior][0] < cause
        last[msg.uri] = call_id
        rows.append(PublishRow(
            index=i, time=at, ruri=_subst(msg.uri, subst), event=msg.get("Event"), expires=msg.get("Expires"),
            content_type=msg.get("Content-Type"), if_match=msg.get("SIP-If-Match") is not None,
            prior_answered=answered, status=finals.get(call_id, (0, None))[1],
            body=_canonical(bytes(msg.body or b""), subst),
        ))
    return rows


def model_publishes(scn: Any) -> tuple[list[PublishRow], Any]:
    """Run ``scn`` (a scenario or its file) in the simulator: (the edge node's PUBLISH rows, the result)."""
    from puasim.scenario.runner import load_scenario, run_scenario

    if isinstance(scn, str) or hasattr(scn, "read_text"):
        scn = load_scenario(scn)
    result = run_scenario(scn)
    names: dict[Address, str] = {scn.pua_address: "pua", scn.server_address: "server"}
    if scn.registrations is not None:
        names.update({p.address: p.name for p in scn.registrations.phones})
    return publish_rows(result.trace, scn.pua_address, names), result


@dataclass(slots=True)
class PublishComparison:
    """The outcome of :func:`compare_publishes`."""

    differences: list[str]
    #: differences explained by timing (a reply's race with the next PUBLISH)
    notes: list[str]
    real: list[PublishRow]
    model: list[PublishRow]

    @property
    def ok(self) -> bool:
        return not self.differences

    def format(self) -> str:
        out = [f"{len(self.real)} PUBLISH(es) from the real node, {len(self.model)} from the model: "
               + ("the same" if self.ok else f"{len(self.differences)} difference(s)")]
        out += [f"  difference: {d}" for d in self.differences]
        out += [f"  note: {n}" for n in self.notes]
        return "\n".join(out)


def compare_publishes(real: list[PublishRow], model: list[PublishRow],
                      time_slack: int | None = None) -> PublishComparison:
    """Line the two sequences up in order; one text per difference (the real node is the reference).

    ``time_slack`` (µs): also compare when each PUBLISH left, counted from each side's first
    one, within that slack (None: times are not compared)."""
    diffs: list[str] = []
    notes: list[str] = []
    #: R-URIs whose records went another way through the If-Match race
    raced: set[str] = set()
    for a, b in zip(real, model, strict=False):
        where = f"PUBLISH {a.index + 1} ({a.describe()})"
        if time_slack is not None and real and model:
            ta, tb = a.time - real[0].time, b.time - model[0].time
            if abs(ta - tb) > time_slack:
                diffs.append(f"{where}: sent {ta / 1e6:.3f} s after the first on the real node, "
                             f"{tb / 1e6:.3f} s in the model (slack {time_slack / 1e6:g} s)")
        for name in ("ruri", "event", "expires", "content_type", "status"):
            va, vb = getattr(a, name), getattr(b, name)
            if va != vb:
                diffs.append(f"{where}: {name}: real {va!r}, model {vb!r}")
        if a.if_match != b.if_match:
            text = (f"{where}: SIP-If-Match: real {'present' if a.if_match else 'absent'}, "
                    f"model {'present' if b.if_match else 'absent'}")
            if a.prior_answered != b.prior_answered:
                raced.add(a.ruri)
                notes.append(f"{text} (timing: the previous publication's 200 had "
                             f"{'' if a.prior_answered else 'not '}arrived on the real node, "
                             f"had {'' if b.prior_answered else 'not '}in the model)")
            else:
                diffs.append(text)
        if a.body != b.body:
            only_a = [line for line in a.body if line not in b.body]
            only_b = [line for line in b.body if line not in a.body]
            if not only_a and not only_b:
                diffs.append(f"{where}: body: same elements in another order")
            elif a.ruri in raced and all(line.startswith("@version=") for line in only_a + only_b):
                notes.append(f"{where}: version: real {only_a}, model {only_b} (follows the If-Match race: "
                             "an initial PUBLISH makes a new record, whose version starts again)")
            else:
                diffs.append(f"{where}: body: real has {only_a or 'nothing more'}, model has {only_b or 'nothing more'}")
    for extra, side in ((real[len(model):], "real node"), (model[len(real):], "model")):
        for row in extra:
            diffs.append(f"PUBLISH {row.index + 1}: only the {side} sent it: {row.describe()}")
    return PublishComparison(diffs, notes, real, model)
