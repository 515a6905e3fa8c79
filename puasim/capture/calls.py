"""Calls through an edge node read back from its capture: dialog events and pua_dialoginfo's settings.

Pure functions over a capture read by :func:`~puasim.capture.reader.read_pcap`,
used by :mod:`puasim.capture.dlgcheck`.  The edge node is a Kamailio proxy
with the dialog module and pua_dialoginfo (pua-reference §9.4); what it
received from the phones fixes the dialog callbacks, and what it published
shows most of pua_dialoginfo's parameters:

* **Dialog events** (dialog module 5.6, pua-reference §9.4.2), per INVITE
  dialog (Call-ID of an initial INVITE received by the node):
  ``created`` at the INVITE, ``early`` at each provisional reply above 100
  with a To-tag, ``confirmed`` at a 2xx, ``failed`` at a final reply of 300
  or more (a CANCELled call ends with 487), ``terminated`` at a BYE from
  either side, ``expired`` at the first ``terminated`` PUBLISH of a confirmed
  call that no BYE and no failure preceded (the dialog timer).  Re-INVITEs and
  other in-dialog requests are listed as ``within``.
* **The dialog timer** (dialog 5.6 ``dlg_onroute()``, ``dlg_ontimeout()``):
  an ``expired`` event shows ``default_timeout``, the time from the timer's
  last start, give or take the second of Kamailio's whole ticks; that start
  is the ACK of the 2xx with ``timeout_noreset`` 1, the last in-dialog request
  with 0, and the setting that lets one timeout fit every call is taken
  (:func:`_infer_timer`; when both fit, the capture cannot tell them apart).
* **Parameters from the PUBLISH bodies** (§9.4.1, §9.4.3): ``include_callid``
  (a ``call-id`` attribute), ``include_localremote`` (``local``/``remote``
  elements), ``include_tags`` (tags in an ``early`` body), ``attribute_display``
  (``display`` on targets), ``caller_confirmed`` (the caller's PUBLISH at an
  early event says ``confirmed``), ``callee_trying`` (a callee ``Trying``),
  the lifetime (``Expires`` − 1 of a non-terminated PUBLISH: dialog
  ``default_timeout`` or ``override_lifetime``, the capture cannot tell which),
  pua's ``dlginfo_increase_version`` (a version above 0),
  ``send_publish_flag`` (calls that published nothing next to calls that did:
  the flag was set on the INVITEs of the callers that published), and
  ``use_pubruri_avps`` with each call's AVP values (below).
* **The pubruri AVPs** (§9.4.1, ``use_pubruri_avps``): without them every
  PUBLISH of a side goes to the URI its body names as entity (the From or To
  URI).  A PUBLISH to another Request-URI, or several Request-URIs for one
  side of one dialog, shows the AVPs: the values of a side are the
  Request-URIs its PUBLISHes go to, in the order of one event's PUBLISHes
  (newest value first: pua_dialoginfo publishes to each value in the order
  the AVP search returns them).  The AVP names, the values the node skipped
  (not a SIP URI, not local) and those set after ``dlg_manage()`` leave no
  trace on the wire.
* **Registrations the capture starts too late for** (registrar, usrloc): an
  initial INVITE the node relays shows a binding of the Request-URI's AOR to
  each Request-URI the node sends the INVITE to (one per branch, with the
  address it went to as ``received`` when that is not the URI's host and
  port).  A binding no earlier REGISTER of the capture made is inferred
  (:func:`inferred_bindings`): the phone registered before the capture began.

A parameter the capture gives no evidence for keeps the module default and
the result says so (:attr:`Inferred.unseen`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from puasim.bodies.errors import BodyError
from puasim.bodies.xml import parse_xml
from puasim.effects import SECOND
from puasim.node.registrar import extract_aor, request_contacts
from puasim.sip import SipParseError
from puasim.sip import headers as H
from puasim.sip.message import Request, Response
from puasim.sip.uri import parse_uri
from puasim.trace.events import MessageSent

__all__ = ["Binding", "CallEvent", "Inferred", "Wire", "call_events", "dialog_body", "infer_settings",
           "inferred_bindings", "split_wire"]

Address = tuple[str, int]

#: what pua_dialoginfo sends for each dialog event (§9.4.2)
EVENT_OF_TRIGGER = ("created", "early", "confirmed", "failed", "terminated", "within")


@dataclass(frozen=True, slots=True)
class CallEvent:
    """One dialog event read from the call traffic through the node (see the module docstring)."""

    time: int
    call_id: str
    kind: str
    #: the message that fires it: ``INVITE``, ``180 Ringing``, ``BYE``
    message: str
    #: who sent that message: ``caller`` or ``callee``
    side: str
    frame: int | None = None
    #: capture order of that message (the record's sequence number)
    seq: int = -1


@dataclass(slots=True)
class Wire:
    """The capture split around one edge node (times in µs, first transmissions only).

    ``phones``: every address other than the server that talks to the node;
    ``to_node``: what the phones sent the node; ``from_node``: what the node
    sent the phones; ``publishes``: the node's PUBLISHes with the server's
    replies to each; ``frames``: frame number by the record's sequence number.

    ``to_node_rank`` and ``reply_ranks`` (index for index with ``to_node`` and
    with each PUBLISH's replies) say where a message stands among those the
    node received at the very same captured time (0 for the first): a
    capture's timestamps tie (a simulated one's are whole milliseconds), and
    the node handled them in capture order.
    """

    node: Address
    server: Address
    phones: list[Address] = field(default_factory=list)
    to_node: list[tuple[int, Address, Any, int | None]] = field(default_factory=list)
    from_node: list[tuple[int, Address, Any, int | None]] = field(default_factory=list)
    publishes: list[tuple[int, Request, int | None, list[tuple[int, Response]]]] = field(default_factory=list)
    other_requests: int = 0
    #: capture order (record sequence numbers) of ``to_node`` and ``publishes``, index for index
    to_node_seq: list[int] = field(default_factory=list)
    publish_seq: list[int] = field(default_factory=list)
    to_node_rank: list[int] = field(default_factory=list)
    reply_ranks: list[list[int]] = field(default_factory=list)

    def before(self, publish: int) -> int | None:
        """Index in ``to_node`` of the last message the node received before PUBLISH ``publish``."""
        seq = self.publish_seq[publish]
        found = None
        for i, s in enumerate(self.to_node_seq):
            if s > seq:
                break
            found = i
        return found


def _frame(frames: Sequence[int], seq: int) -> int | None:
    return frames[seq] if seq < len(frames) else None


def split_wire(trace: Any, node: Address, server: Address | None = None) -> Wire:
    """Split ``trace`` into the node's exchanges with phones and with the server.

    The server is ``server`` or where the node's first PUBLISH goes.
    """
    frames: list[int] = list(trace.meta.get("frames") or [])
    sent = [r for r in trace if type(r.event) is MessageSent]
    if server is None:
        server = next((r.event.dst for r in sent if r.event.src == node and isinstance(r.event.message, Request)
                       and r.event.message.method == "PUBLISH"), None)
        if server is None:
            raise ValueError(f"no PUBLISH from {node[0]}:{node[1]} in the capture")
    wire = Wire(node, server)
    by_branch: dict[str, tuple[list[tuple[int, Response]], list[int]]] = {}
    tie = (-1, 0)  # (time, how many messages reached the node at that time so far)
    for r in sent:
        ev, msg = r.event, r.event.message
        if ev.retransmission:
            continue
        rank = 0
        if ev.dst == node:
            rank = tie[1] if r.time == tie[0] else 0
            tie = (r.time, rank + 1)
        if ev.src == node and ev.dst == server:
            if isinstance(msg, Request) and msg.method == "PUBLISH":
                via = H.top_via(msg)
                replies: list[tuple[int, Response]] = []
                ranks: list[int] = []
                by_branch[via.branch if via is not None and via.branch else ""] = (replies, ranks)
                wire.publishes.append((r.time, msg, _frame(frames, r.seq), replies))
                wire.reply_ranks.append(ranks)
                wire.publish_seq.append(r.seq)
            elif isinstance(msg, Request):
                wire.other_requests += 1
        elif ev.src == server and ev.dst == node:
            if isinstance(msg, Response):
                try:
                    via = H.top_via(msg)
                except SipParseError:
                    continue
                found = by_branch.get(via.branch if via is not None and via.branch else "")
                if found is not None:
                    found[0].append((r.time, msg))
                    found[1].append(rank)
        elif ev.dst == node:
            if ev.src not in wire.phones:
                wire.phones.append(ev.src)
            wire.to_node.append((r.time, ev.src, msg, _frame(frames, r.seq)))
            wire.to_node_seq.append(r.seq)
            wire.to_node_rank.append(rank)
        elif ev.src == node:
            if ev.dst not in wire.phones:
                wire.phones.append(ev.dst)
            wire.from_node.append((r.time, ev.dst, msg, _frame(frames, r.seq)))
    return wire


def call_events(wire: Wire) -> list[CallEvent]:
    """The dialog events the node's call traffic fires (see the module docstring)."""
    out: list[CallEvent] = []
    callers: dict[str, Address] = {}
    for (t, src, msg, frame), seq in zip(wire.to_node, wire.to_node_seq, strict=True):
        try:
            call_id = H.call_id(msg) or ""
            cseq = H.cseq(msg)
            to = H.to(msg)
        except SipParseError:
            continue
        if isinstance(msg, Request):
            if msg.method == "INVITE" and (to is None or not to.tag) and call_id not in callers:
                callers[call_id] = src
                out.append(CallEvent(t, call_id, "created", "INVITE", "caller", frame, seq))
            elif call_id in callers and msg.method == "BYE":
                side = "caller" if src == callers[call_id] else "callee"
                out.append(CallEvent(t, call_id, "terminated", "BYE", side, frame, seq))
            elif call_id in callers and msg.method not in ("ACK", "CANCEL", "PRACK"):
                out.append(CallEvent(t, call_id, "within", msg.method, "caller" if src == callers[call_id] else "callee",
                                     frame, seq))
        elif call_id in callers and cseq is not None and cseq.method == "INVITE" and src != callers[call_id]:
            text = f"{msg.status} {msg.reason}"
            if 100 < msg.status < 200 and to is not None and to.tag:
                out.append(CallEvent(t, call_id, "early", text, "callee", frame, seq))
            elif 200 <= msg.status < 300:
                out.append(CallEvent(t, call_id, "confirmed", text, "callee", frame, seq))
            elif msg.status >= 300:
                out.append(CallEvent(t, call_id, "failed", text, "callee", frame, seq))
    out.extend(_expiries(wire, out))
    out.sort(key=lambda e: e.seq)
    return out


def _dialog_bodies(wire: Wire) -> list[tuple[int, Request, dict[str, str]]]:
    """The node's dialog PUBLISHes with a dialog-info body naming a dialog: (index in
    ``wire.publishes``, PUBLISH, body fields)."""
    out: list[tuple[int, Request, dict[str, str]]] = []
    for i, (_t, msg, _frame_no, _replies) in enumerate(wire.publishes):
        if (msg.get("Event") or "").split(";")[0].strip().lower() != "dialog" or not msg.body:
            continue
        fields = dialog_body(msg.body)
        if fields is not None and fields.get("dialogs", "0") != "0":
            out.append((i, msg, fields))
    return out


def _expiries(wire: Wire, events: list[CallEvent]) -> list[CallEvent]:
    """``expired`` events: the first ``terminated`` PUBLISH of a confirmed call that no BYE of the call
    preceded and no failure reply triggered is the dialog timer running out (DLGCB_EXPIRED,
    pua-reference §9.4.2).  Its call is the body's ``call-id``, else the call of the message the node
    handled before that dialog's first PUBLISH (``include_callid`` 0)."""
    out: list[CallEvent] = []
    call_of: dict[str, str] = {}
    done: set[str] = set()
    for i, _msg, f in _dialog_bodies(wire):
        did = f.get("dialog.id", "")
        if did not in call_of:
            handled = wire.before(i)
            call_of[did] = f.get("dialog.call-id") or (
                _message_call_id(wire.to_node[handled][2]) if handled is not None else "")
        cid = f.get("dialog.call-id") or call_of[did]
        if f.get("dialog.state") != "terminated" or cid in done:
            continue
        seq = wire.publish_seq[i]
        handled = wire.before(i)
        trigger = wire.to_node_seq[handled] if handled is not None else -1
        mine = [e for e in events if e.call_id == cid and e.seq < seq]
        if not any(e.kind == "confirmed" for e in mine) or any(e.kind == "terminated" for e in mine) \
                or any(e.seq == trigger and e.kind == "failed" for e in mine):
            continue
        done.add(cid)
        t, _m, frame, _replies = wire.publishes[i]
        out.append(CallEvent(t, cid, "expired", "terminated PUBLISH", "node", frame, seq))
    return out


# -- PUBLISH bodies ---------------------------------------------------------------------------------
def _local(node: Any) -> str:
    return etree.QName(node).localname if isinstance(node.tag, str) else ""


def dialog_body(body: bytes) -> dict[str, str] | None:
    """The fields of a dialog-info body pua_dialoginfo fills in, flat (``None``: not XML).

    Read leniently, as Kamailio's presence reads it: ``Trying`` is kept as a state."""
    try:
        root = parse_xml(body, what="dialog-info")
    except BodyError:
        return None
    out: dict[str, str] = {}
    for name in ("version", "state", "entity"):
        if root.get(name) is not None:
            out[name] = root.get(name) or ""
    dialogs = [n for n in root if _local(n) == "dialog"]
    out["dialogs"] = str(len(dialogs))
    if not dialogs:
        return out
    d = dialogs[0]
    for name in ("id", "call-id", "local-tag", "remote-tag", "direction"):
        if d.get(name) is not None:
            out[f"dialog.{name}"] = d.get(name) or ""
    for child in d:
        kind = _local(child)
        if kind == "state":
            out["dialog.state"] = (child.text or "").strip()
        elif kind in ("local", "remote"):
            for part in child:
                pk = _local(part)
                if pk == "identity":
                    out[f"{kind}.identity"] = (part.text or "").strip()
                    if part.get("display") is not None:
                        out[f"{kind}.identity.display"] = part.get("display") or ""
                elif pk == "target":
                    for attr in ("uri", "display"):
                        if part.get(attr) is not None:
                            out[f"{kind}.target.{attr}"] = part.get(attr) or ""
    return out


# -- the settings ------------------------------------------------------------------------------------
@dataclass(slots=True)
class Inferred:
    """pua_dialoginfo / dialog / pua parameters read from the capture, with the evidence."""

    dialoginfo: dict[str, int | str] = field(default_factory=dict)
    dialog: dict[str, int] = field(default_factory=dict)
    pua: dict[str, int] = field(default_factory=dict)
    #: users (From user part) whose INVITEs carried send_publish_flag
    flagged_users: list[str] = field(default_factory=list)
    #: with ``use_pubruri_avps``: Call-ID -> (caller values, callee values), newest first
    avps: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = field(default_factory=dict)
    #: one line per parameter: what in the capture decided it
    evidence: list[str] = field(default_factory=list)
    #: what the capture does not show, and the value taken instead
    unseen: list[str] = field(default_factory=list)


def _user(uri: str) -> str:
    m = re.match(r"^\s*(?:\"[^\"]*\"\s*)?<?\s*sips?:([^@;>]+)@", uri)
    return m.group(1) if m else ""


#: the value send_publish_flag is given when the capture shows it was used (the number is not visible)
INFERRED_FLAG = 4


def infer_settings(wire: Wire, events: list[CallEvent], default_timeout: int | None = None,
                   timeout_noreset: int | None = None) -> Inferred:
    """pua_dialoginfo's parameters that fit the node's PUBLISHes (see the module docstring).

    ``default_timeout`` and ``timeout_noreset`` are the dialog module's when they are given (not
    inferred); without them the ``expired`` events of ``events`` show them, else the module
    defaults (43200, 0) are taken."""
    res = Inferred()
    bodies = _dialog_bodies(wire)
    if not bodies:
        res.unseen.append("no dialog PUBLISH with a body in the capture: every pua_dialoginfo parameter "
                          "keeps its default")
        return res
    di = res.dialoginfo

    def decide(name: str, value: int | str, why: str) -> None:
        di[name] = value
        res.evidence.append(f"{name}={value}: {why}")

    has = lambda key: any(key in f for _t, _m, f in bodies)  # noqa: E731
    decide("include_callid", 1 if has("dialog.call-id") else 0,
           "call-id attributes in the bodies" if has("dialog.call-id") else "no body has a call-id attribute")
    lr = has("local.identity") or has("remote.identity")
    decide("include_localremote", 1 if lr else 0,
           "local/remote elements in the bodies" if lr else "no body has local/remote elements")
    if lr:
        disp = has("local.target.display") or has("remote.target.display")
        decide("attribute_display", 1 if disp else 0,
               "display attributes on targets" if disp else "targets without display attributes")
    else:
        res.unseen.append("attribute_display: no target element in any body; taken as 0")
    early = [f for _t, _m, f in bodies if f.get("dialog.state") == "early"]
    if early:
        tags = any("dialog.local-tag" in f or "dialog.remote-tag" in f for f in early)
        decide("include_tags", 1 if tags else 0,
               "tags in the early bodies" if tags else "early bodies without local-tag/remote-tag")
    else:
        res.unseen.append("include_tags: no early PUBLISH (tags appear only there, §9.4.3); taken as 1")
    # the PUBLISHes that follow each event, caller side by direction
    early_at = {e.seq for e in events if e.kind == "early"}
    created_at = {e.seq for e in events if e.kind == "created"}
    caller_at_early = [f for i, _m, f in bodies if f.get("dialog.direction") == "initiator"
                       and _follows(i, early_at, wire)]
    if caller_at_early:
        conf = any(f.get("dialog.state") == "confirmed" for f in caller_at_early)
        decide("caller_confirmed", 1 if conf else 0,
               "the caller's PUBLISH at an early event says " + ("confirmed" if conf else "early"))
    else:
        res.unseen.append("caller_confirmed: no caller PUBLISH follows a provisional reply; taken as 0")
    callee_trying = any(f.get("dialog.direction") == "recipient" and f.get("dialog.state") == "Trying"
                        for _t, _m, f in bodies)
    callee_at_create = any(f.get("dialog.direction") == "recipient" and _follows(i, created_at, wire)
                           for i, _m, f in bodies)
    if callee_trying or callee_at_create:
        decide("callee_trying", 1, "a callee PUBLISH says Trying")
    elif any(f.get("dialog.direction") == "recipient" for _t, _m, f in bodies):
        decide("callee_trying", 0, "callee PUBLISHes, but none at the INVITE")
    else:
        res.unseen.append("callee_trying: no callee PUBLISH in the capture; taken as 0")
    # the lifetime: the Expires most PUBLISHes of live dialogs ask (pua's 412 recovery recomputes it, §3.8.1)
    asked = [(H.expires_or_none(m) or 0) - 1 for _i, m, f in bodies
             if f.get("dialog.state") != "terminated" and H.expires_or_none(m) is not None]
    life = min(set(asked), key=lambda v: (-asked.count(v), v)) if asked else None
    timeout = _infer_timer(wire, events, default_timeout, timeout_noreset, life, res)
    default_timeout = default_timeout or timeout or 43200
    if life is not None:
        if life == default_timeout:
            res.evidence.append(f"lifetime {life} s (Expires {life + 1}): dialog default_timeout {default_timeout}, "
                                "override_lifetime 0")
        else:
            decide("override_lifetime", life, f"Expires {life + 1} on the non-terminated PUBLISHes"
                   + (f", not the dialog timer's {timeout} s" if timeout is not None else ""))
        if timeout is None:
            res.unseen.append(f"dialog default_timeout or override_lifetime: the capture shows the lifetime ({life} s) "
                              "only, not which parameter set it")
    versions = sorted({int(f["version"]) for _t, _m, f in bodies if f.get("version", "").isdigit()})
    if versions and versions[-1] > 0:
        res.pua["dlginfo_increase_version"] = 1
        res.evidence.append(f"pua dlginfo_increase_version=1: versions up to {versions[-1]} in the bodies")
    elif any(m.get("SIP-If-Match") for _t, m, _f in bodies):
        res.evidence.append("pua dlginfo_increase_version=0: modifies keep version 0")
    else:
        res.unseen.append("pua dlginfo_increase_version: no modify PUBLISH shows a version; taken as 0")
    # send_publish_flag: calls that published nothing next to calls that did
    published_calls = {f.get("dialog.call-id") for _t, _m, f in bodies if f.get("dialog.call-id")}
    callers = _callers(wire)
    quiet = [cid for cid in callers if not _call_published(cid, wire, events, bodies, published_calls)]
    if quiet and len(quiet) < len(callers):
        users = sorted({_user(callers[cid]) for cid in callers if cid not in quiet} - {""})
        decide("send_publish_flag", INFERRED_FLAG,
               f"{len(quiet)} of {len(callers)} calls published nothing (the flag was set on the INVITEs "
               f"of {', '.join(users) or 'the other callers'})")
        res.flagged_users = users
        res.unseen.append(f"send_publish_flag: its number is not on the wire; {INFERRED_FLAG} used. The quiet calls "
                          "may as well not have been dlg_manage()d at all")
    _infer_pubruri(wire, bodies, res)
    for name in ("include_req_uri", "publish_dialog_req_within", "use_uuid", "disable_caller_publish_flag",
                 "disable_callee_publish_flag"):
        if name == "use_uuid":
            ids = [f.get("dialog.id", "") for _t, _m, f in bodies]
            if ids and all(re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", i) for i in ids):
                decide("use_uuid", 1, "dialog ids are UUIDs")
                continue
            if ids and all(i.startswith("padi-") for i in ids):
                res.evidence.append("use_uuid=0: dialog ids are sruids (padi-...)")
                continue
        res.unseen.append(f"{name}: not inferred from the capture; module default")
    return res


# -- the dialog timer ---------------------------------------------------------------------------------
def _timer_starts(wire: Wire, events: list[CallEvent], call_id: str, until: int) -> tuple[int, int, str, str] | None:
    """Where the dialog timer of confirmed call ``call_id`` was last (re)started before record ``until``
    (dialog 5.6 ``dlg_onroute()``): with ``timeout_noreset`` 1 at the ACK of its 2xx (the 2xx when no
    ACK came), with 0 at the last in-dialog request after that ACK.  (time with noreset 1, time with
    noreset 0, what each is); ``None`` when the call was not confirmed before ``until``."""
    conf = next((e for e in events if e.call_id == call_id and e.kind == "confirmed" and e.seq < until), None)
    if conf is None:
        return None
    first: tuple[int, str] | None = None
    last: tuple[int, str] | None = None
    for (t, _src, msg, frame), seq in zip(wire.to_node, wire.to_node_seq, strict=True):
        if seq <= conf.seq or seq >= until or not isinstance(msg, Request) or msg.method == "BYE" \
                or _message_call_id(msg) != call_id:
            continue
        what = f"{msg.method}{f' #{frame}' if frame is not None else ''}"
        if first is None:
            if msg.method == "ACK":
                first = (t, f"the ACK of its 2xx ({what})")
            continue
        last = (t, f"its last in-dialog request ({what})")
    start1 = first or (conf.time, f"its 2xx ({conf.message}{f' #{conf.frame}' if conf.frame is not None else ''})")
    start0 = last or start1
    return start1[0], start0[0], start1[1], start0[1]


def _infer_timer(wire: Wire, events: list[CallEvent], given: int | None, noreset: int | None, life: int | None,
                 res: Inferred) -> int | None:
    """The dialog module's ``default_timeout`` and ``timeout_noreset`` from the ``expired`` events.

    A dialog expires ``default_timeout`` after its timer's last start (:func:`_timer_starts`), up to
    1 s either way: Kamailio counts it in whole ticks of a once-a-second timer (its expiry tick is
    the current tick + default_timeout).  The calls that ended with a BYE, or lasted to the end of
    the capture, did not expire earlier.  Which start counts depends on ``timeout_noreset``: both
    settings are tried; where both fit (one expired call with in-dialog requests) the capture
    cannot tell them apart, and the one the ``given`` timeout fits, else the module default 0, is
    taken.  ``noreset``, when given, decides.  Returns the timeout (``given`` if given), or ``None``
    when no dialog expired."""
    expired = [e for e in events if e.kind == "expired"]
    if not expired:
        return None
    end = max([t for t, *_r in wire.to_node] + [t for t, *_r in wire.from_node] + [t for t, *_r in wire.publishes])
    spans: dict[int, list[float]] = {1: [], 0: []}  # seconds from the start to each expiry
    floors: dict[int, list[float]] = {1: [], 0: []}  # seconds each other call lasted without expiring
    what: list[tuple[CallEvent, float, str, float, str]] = []
    for e in expired:
        starts = _timer_starts(wire, events, e.call_id, e.seq)
        if starts is None:
            continue
        s1, s0, w1, w0 = starts
        spans[1].append((e.time - s1) / SECOND)
        spans[0].append((e.time - s0) / SECOND)
        what.append((e, (e.time - s1) / SECOND, w1, (e.time - s0) / SECOND, w0))
    done = {e.call_id for e in expired}
    for e in events:
        if e.kind != "confirmed" or e.call_id in done:
            continue
        done.add(e.call_id)
        bye = next((b for b in events if b.call_id == e.call_id and b.kind == "terminated" and b.seq > e.seq), None)
        starts = _timer_starts(wire, events, e.call_id, bye.seq if bye is not None else 1 << 62)
        if starts is not None:
            t = bye.time if bye is not None else end
            floors[1].append((t - starts[0]) / SECOND)
            floors[0].append((t - starts[1]) / SECOND)
    if not what:
        return None

    def fits(h: int) -> list[int]:
        lo = max([v - 1 for v in spans[h]] + [v - 1 for v in floors[h]] + [1])
        hi = min(v + 1 for v in spans[h])
        return list(range(math.ceil(lo), math.floor(hi) + 1))

    def pick(h: int) -> int:
        cands = fits(h)
        for preferred in (given, life):
            if preferred is not None and preferred in cands:
                return preferred
        mean = sum(spans[h]) / len(spans[h])
        return min(cands, key=lambda d: (abs(d - mean), d)) if cands else max(1, round(mean))

    def seen(e: CallEvent) -> str:
        return (f"the dialog of Call-ID {e.call_id} expired (terminated PUBLISH"
                f"{f' #{e.frame}' if e.frame is not None else ''}, no BYE)")

    # the call that tells the settings apart best: the most time between its two possible starts
    e, m1, w1, m0, w0 = max(what, key=lambda w: abs(w[1] - w[3]))
    ok0, ok1 = bool(fits(0)), bool(fits(1))
    h = 0
    if noreset is not None:
        h = 1 if noreset else 0
    elif all(abs(a - b) < 1e-9 for a, b in zip(spans[0], spans[1], strict=True)):
        res.unseen.append("dialog timeout_noreset: no in-dialog request between the ACK of an expired dialog's 2xx "
                          "and its expiry; module default 0")
    elif ok0 and ok1 and given is not None and given in fits(1) and given not in fits(0):
        h = 1
        res.dialog["timeout_noreset"] = 1
        res.evidence.append(f"dialog timeout_noreset=1: {seen(e)} {m1:.3f} s after {w1}, which the given "
                            f"default_timeout {given} fits; counted from {w0} ({m0:.3f} s) it does not")
    elif ok0 and ok1:
        res.unseen.append(f"dialog timeout_noreset: {seen(e)} {m0:.3f} s after {w0} (timeout_noreset 0, "
                          f"default_timeout {pick(0)}) and {m1:.3f} s after {w1} (timeout_noreset 1, default_timeout "
                          f"{pick(1)}): both fit the capture; the module default 0 is taken")
    elif ok1:
        h = 1
        res.dialog["timeout_noreset"] = 1
        res.evidence.append(f"dialog timeout_noreset=1: {seen(e)} {m1:.3f} s after {w1}; counted from {w0} "
                            f"({m0:.3f} s) no default_timeout fits every call")
    elif ok0:
        res.evidence.append(f"dialog timeout_noreset=0: {seen(e)} {m0:.3f} s after {w0}; counted from {w1} "
                            f"({m1:.3f} s) no default_timeout fits every call")
    else:
        res.unseen.append("dialog default_timeout: the expiries fit no single default_timeout (set per dialog, "
                          "e.g. by dlg_set_timeout()?); timeout_noreset 0 taken")
    timeout = pick(h)
    # the evidence for the timeout: the first expired call, counted from its start under timeout_noreset h
    e, m1, w1, m0, w0 = what[0]
    span, start = (m1, w1) if h else (m0, w0)
    if given is not None:
        if given not in fits(h):
            res.unseen.append(f"dialog default_timeout: {seen(e)} {span:.3f} s after {start}, which the given "
                              f"{given} does not fit")
        return given
    res.dialog["default_timeout"] = timeout
    res.evidence.append(f"dialog default_timeout={timeout}: {seen(e)} {span:.3f} s after {start} (whole-second "
                        "ticks: up to 1 s either way)")
    return timeout


def _follows(publish: int, triggers: set[int], wire: Wire) -> bool:
    """Whether PUBLISH ``publish`` was sent while the node handled the message of one of
    ``triggers`` (record sequence numbers): no other message reached the node between the two."""
    i = wire.before(publish)
    return i is not None and wire.to_node_seq[i] in triggers


def _callers(wire: Wire) -> dict[str, str]:
    out: dict[str, str] = {}
    for _t, _src, msg, _f in wire.to_node:
        if isinstance(msg, Request) and msg.method == "INVITE":
            to = H.to(msg)
            if to is None or not to.tag:
                out.setdefault(H.call_id(msg) or "", msg.get("From") or "")
    return out


def _call_published(call_id: str, wire: Wire, events: list[CallEvent], bodies: list, published: set) -> bool:
    if call_id in published:
        return True
    seqs = {e.seq for e in events if e.call_id == call_id}
    return any(_follows(i, seqs, wire) for i, _m, _f in bodies)


# -- the pubruri AVPs --------------------------------------------------------------------------------
#: the AVP names the model is given when the capture shows use_pubruri_avps (names are not on the wire)
CALLER_AVP = "$avp(pubruri_caller)"
CALLEE_AVP = "$avp(pubruri_callee)"


def _message_call_id(msg: Any) -> str:
    try:
        return H.call_id(msg) or ""
    except SipParseError:
        return ""


def _infer_pubruri(wire: Wire, bodies: list[tuple[int, Request, dict[str, str]]], res: Inferred) -> None:
    """``use_pubruri_avps`` and each call's AVP values (see the module docstring)."""
    # (dialog id, side) -> burst (index in to_node of the message handled) -> R-URIs in sending order
    bursts: dict[tuple[str, str], dict[int | None, list[str]]] = {}
    call_of: dict[str, str] = {}
    revealing: tuple[int, str, str] | None = None  # first PUBLISH whose R-URI is not its entity
    for i, msg, f in bodies:
        did = f.get("dialog.id", "")
        side = "caller" if f.get("dialog.direction") == "initiator" else "callee"
        handled = wire.before(i)
        if did not in call_of:
            cid = f.get("dialog.call-id") or (_message_call_id(wire.to_node[handled][2]) if handled is not None else "")
            call_of[did] = cid
        uris = bursts.setdefault((did, side), {}).setdefault(handled, [])
        if msg.uri not in uris:
            uris.append(msg.uri)
        entity = f.get("entity")
        if revealing is None and entity is not None and msg.uri != entity:
            revealing = (i, msg.uri, entity)
    several = next(((did, side) for (did, side), b in bursts.items() if len({u for us in b.values() for u in us}) > 1),
                   None)
    if revealing is None and several is None:
        res.evidence.append("use_pubruri_avps=0: every dialog PUBLISH goes to the entity its body names")
        return
    values: dict[str, dict[str, tuple[str, ...]]] = {}
    for (did, side), b in bursts.items():
        # one event's PUBLISHes show the values and their order; the event with the most of them
        # (the first of those) is taken: a 412 recovery or the capture's start shows fewer
        order = max(b.values(), key=len)
        extra = list(dict.fromkeys(u for us in b.values() for u in us if u not in order))
        if extra:
            res.unseen.append(f"the {side} PUBLISHes of Call-ID {call_of[did]} go to different Request-URIs at "
                              f"different events ({', '.join(extra)} besides {', '.join(order)}), which no set of "
                              f"AVP values explains (they are read once, when the dialog is created): "
                              f"{', '.join(order)} taken")
        values.setdefault(call_of[did], {}).setdefault(side, tuple(order))
    for cid in _callers(wire):
        v = values.get(cid, {})
        res.avps[cid] = (v.get("caller", ()), v.get("callee", ()))
    if revealing is not None:
        i, uri, entity = revealing
        frame = wire.publishes[i][2]
        why = f"PUBLISH {uri}{f' #{frame}' if frame is not None else ''} for the entity {entity}"
    else:
        why = f"the {several[1] if several else ''} PUBLISHes of one dialog go to several Request-URIs"
    res.dialoginfo["use_pubruri_avps"] = 1
    res.dialoginfo["pubruri_caller_avp"] = CALLER_AVP
    res.dialoginfo["pubruri_callee_avp"] = CALLEE_AVP
    res.evidence.append(f"use_pubruri_avps=1: {why}")
    for cid, (caller, callee) in res.avps.items():
        res.evidence.append(f"AVP values of Call-ID {cid} (newest first): {CALLER_AVP} "
                            f"[{', '.join(caller)}], {CALLEE_AVP} [{', '.join(callee)}]")
    res.unseen.append(f"the pubruri AVP names are not on the wire ({CALLER_AVP}, {CALLEE_AVP} used); values the "
                      "node skipped (not a SIP URI, not local) or set after dlg_manage() leave no trace")


# -- registrations made before the capture ------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Binding:
    """A usrloc binding the node's routing of an INVITE shows (see the module docstring)."""

    #: the AOR as usrloc keys it (``extract_aor`` of the INVITE's Request-URI)
    aor: str
    #: the Request-URI of the INVITE the node received
    target: str
    #: the Request-URI of the INVITE the node relayed: the registered contact
    contact: str
    #: where the node sent it, as ``sip:host:port``, when not the contact's host and port; else ""
    received: str
    call_id: str
    time: int
    frame: int | None = None


def _hostport(uri: str) -> Address | None:
    try:
        u = parse_uri(uri)
    except (SipParseError, ValueError):
        return None
    return u.host.strip("[]"), u.port or 5060


def inferred_bindings(wire: Wire, use_domain: int = 0) -> list[Binding]:
    """The bindings the INVITEs the node relays prove and no earlier REGISTER of the capture made."""
    registered: list[tuple[int, str, str]] = []  # (time, aor, contact uri)
    for t, _src, msg, _f in wire.to_node:
        if isinstance(msg, Request) and msg.method == "REGISTER":
            try:
                to = H.to(msg)
                aor = extract_aor(to.uri, use_domain) if to is not None else ""
                registered.extend((t, aor, c.uri) for c in request_contacts(msg))
            except (SipParseError, ValueError):
                continue
    relayed: dict[tuple[str, int], list[tuple[int, Address, Request, int | None]]] = {}
    for ft, dst, fwd, frame in wire.from_node:
        if isinstance(fwd, Request) and fwd.method == "INVITE":
            try:
                fcs, fcid, fto = H.cseq(fwd), H.call_id(fwd), H.to(fwd)
            except SipParseError:
                continue
            # a branch of an initial INVITE: no To-tag (a re-INVITE of the callee may carry the
            # caller's CSeq number, its own CSeq space starting at 1 as well)
            if fcs is not None and fcid and (fto is None or not fto.tag):
                relayed.setdefault((fcid, fcs.seq), []).append((ft, dst, fwd, frame))
    out: list[Binding] = []
    seen: set[tuple[str, str]] = set()
    for t, _src, msg, _f in wire.to_node:
        if not isinstance(msg, Request) or msg.method != "INVITE":
            continue
        try:
            to, cseq, call_id = H.to(msg), H.cseq(msg), H.call_id(msg)
            aor = extract_aor(msg.uri, use_domain)
        except (SipParseError, ValueError):
            continue
        if (to is not None and to.tag) or cseq is None or not call_id:
            continue
        for ft, dst, fwd, frame in relayed.get((call_id, cseq.seq), []):
            if ft < t or (aor, fwd.uri) in seen:
                continue
            seen.add((aor, fwd.uri))
            if any(rt <= t and ra == aor and rc == fwd.uri for rt, ra, rc in registered):
                continue
            received = "" if _hostport(fwd.uri) == dst else f"sip:{dst[0]}:{dst[1]}"
            out.append(Binding(aor, msg.uri, fwd.uri, received, call_id, ft, frame))
    return out
