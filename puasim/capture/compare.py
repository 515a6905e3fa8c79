"""Field-by-field comparison of two SIP requests, and the check report.

Used by the conformance check (:mod:`puasim.capture.check`) and the
differential live tests: both ask "does this request say the same thing as
that one", where Call-IDs, tags and branches are expected to differ and
ETags are compared by where they came from.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from puasim.effects import SECOND
from puasim.sip import SipParseError
from puasim.sip import headers as H
from puasim.sip.message import Request, Response
from puasim.sip.uri import format_hostport

__all__ = ["CheckReport", "Difference", "Row", "body_semantics_equal", "compare_requests", "request_line"]

#: the fields compared, in report order
FIELDS = ("method", "ruri", "event", "expires", "if_match", "content_type", "cseq", "body")


def _expires(msg: Request | Response) -> str | None:
    return msg.get("Expires")


def _cseq(msg: Request | Response) -> str | None:
    try:
        cs = H.cseq(msg)
    except SipParseError:
        return msg.get("CSeq")
    return None if cs is None else str(cs.seq)


def body_semantics_equal(content_type: str | None, a: bytes, b: bytes) -> bool:
    """Same bytes, or the same document for the content type (PIDF, dialog-info, reginfo,
    message-summary via :mod:`puasim.bodies`; other XML by canonical form)."""
    if a == b:
        return True
    if not a or not b:
        return False
    from puasim.bodies import BodyError, parse_body

    ctype = content_type or ""
    try:
        return parse_body(ctype, a) == parse_body(ctype, b)
    except BodyError:
        pass
    if "xml" in ctype.lower():
        from lxml import etree

        from puasim.bodies import parse_xml

        try:
            ca = etree.tostring(parse_xml(a, what="body"), method="c14n")
            cb = etree.tostring(parse_xml(b, what="body"), method="c14n")
        except BodyError:
            return False
        return ca == cb
    return False


def compare_requests(
    real: Request,
    model: Request,
    etag_origin: Callable[[str], str] | None = None,
    expires_slack: int = 0,
) -> list[tuple[str, str, str]]:
    """(field, real value, model value) for every compared field that differs.

    ``etag_origin`` turns an ETag into a readable "where it came from" text for
    the SIP-If-Match field; ``expires_slack`` allows ``|Δ Expires|`` up to that
    many seconds (refreshes computed from whole seconds at slightly different
    instants).
    """
    out: list[tuple[str, str, str]] = []

    def show(v: str | None) -> str:
        return "absent" if v is None else v

    pairs = [
        ("method", real.method, model.method),
        ("ruri", real.uri, model.uri),
        ("event", real.get("Event"), model.get("Event")),
        ("content_type", real.get("Content-Type"), model.get("Content-Type")),
        ("cseq", _cseq(real), _cseq(model)),
    ]
    for name, a, b in pairs:
        if a != b:
            out.append((name, show(a), show(b)))
    ea, eb = _expires(real), _expires(model)
    if ea != eb:
        try:
            close = ea is not None and eb is not None and abs(int(ea) - int(eb)) <= expires_slack
        except ValueError:
            close = False
        if not close:
            out.append(("expires", show(ea), show(eb)))
    ia, ib = real.get("SIP-If-Match"), model.get("SIP-If-Match")
    if ia != ib:
        def origin(v: str | None) -> str:
            if v is None:
                return "absent"
            return f"{v} ({etag_origin(v)})" if etag_origin else v

        out.append(("if_match", origin(ia), origin(ib)))
    if bool(real.body) != bool(model.body):
        out.append(("body", f"{len(real.body)} bytes" if real.body else "absent",
                    f"{len(model.body)} bytes" if model.body else "absent"))
    elif real.body and not body_semantics_equal(real.get("Content-Type"), real.body, model.body):
        out.append(("body", f"{len(real.body)} bytes", f"{len(model.body)} bytes, a different document"))
    return out


def request_line(msg: Request | None) -> str:
    """A short one-line summary: method, R-URI and the compared headers."""
    if msg is None:
        return "(nothing)"
    parts = [msg.method, msg.uri]
    for name, label in (("Event", "Event"), ("Expires", "Expires"), ("SIP-If-Match", "If-Match")):
        value = msg.get(name)
        if value is not None:
            parts.append(f"{label}={value}")
    parts.append(f"body={len(msg.body)}B" if msg.body else "no-body")
    return " ".join(parts)


@dataclass(frozen=True, slots=True)
class Difference:
    """One field where the real request and the model's prediction disagree."""

    field: str
    real: str
    model: str

    def __str__(self) -> str:
        return f"{self.field}: real {self.real}; model {self.model}"


@dataclass(slots=True)
class Row:
    """One request of the real PUA (or one the model sent and the real PUA did not).

    ``kind`` says what was inferred: ``publish`` (an API publish with a body),
    ``remove`` (API publish with expires 0), ``refresh`` (the model must send
    it by itself), ``subscribe``, ``unsubscribe``, ``resubscribe`` (model),
    ``recovery`` (a new initial SUBSCRIBE pua sends by itself after an error reply to
    an in-dialog one, pua-reference §4.6.1), ``extra`` (the model sent a request the
    capture lacks).
    """

    n: int
    kind: str
    real_time: int | None
    frame: int | None
    real: Request | None
    model: Request | None = None
    model_time: int | None = None
    status: int | None = None
    diffs: list[Difference] = field(default_factory=list)
    note: str = ""

    @property
    def ok(self) -> bool:
        return not self.diffs


@dataclass(slots=True)
class CheckReport:
    """The outcome of a conformance check, message by message."""

    source: str
    pua: tuple[str, int]
    server: tuple[str, int] | None
    params: dict
    origin: int
    tolerance: int
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    model_trace: object = None
    #: set when the model raised: the comparison stopped there, so the check cannot pass
    fault: str = ""
    #: dialog events read from the calls of an edge node's capture (:mod:`puasim.capture.dlgcheck`)
    calls: list[dict] = field(default_factory=list)
    #: what the calls check read from the capture beyond the parameters: ``pubruri_avps`` (the
    #: AVP names and each call's values), ``registrations`` (bindings made before the capture)
    inferred: dict = field(default_factory=dict)

    @property
    def differences(self) -> list[tuple[Row, Difference]]:
        return [(r, d) for r in self.rows for d in r.diffs]

    @property
    def ok(self) -> bool:
        return not self.differences and not self.fault

    def to_dict(self) -> dict:
        """The report as plain data (``puasim check --json``): one object per compared
        request, the notes, and a verdict (``ok``, ``differences`` or ``fault``)."""

        def secs(t: int | None) -> float | None:
            return None if t is None else round((t - self.origin) / SECOND, 6)

        out = {
            "source": self.source,
            "pua": format_hostport(*self.pua),
            "server": format_hostport(*self.server) if self.server else None,
            "params": dict(self.params),
            "requests": [
                {
                    "n": r.n, "kind": r.kind, "time": secs(r.real_time), "frame": r.frame, "status": r.status,
                    "real": None if r.real is None else request_line(r.real),
                    "model": None if r.model is None else request_line(r.model), "model_time": secs(r.model_time),
                    "ok": r.ok, "differences": [{"field": d.field, "real": d.real, "model": d.model} for d in r.diffs],
                    "note": r.note,
                }
                for r in self.rows
            ],
            "notes": list(self.notes),
            "fault": self.fault or None,
            "compared": len(self.rows),
            "differing": sum(1 for r in self.rows if not r.ok),
            "verdict": "fault" if self.fault else ("ok" if self.ok else "differences"),
        }
        if self.calls:
            out["calls"] = list(self.calls)
        if self.inferred:
            out["inferred"] = dict(self.inferred)
        return out

    def _t(self, t: int | None) -> str:
        return "       -" if t is None else f"{(t - self.origin) / SECOND:8.3f}"

    def format(self) -> str:
        """The report as text: one line per request, differences indented under it."""
        params = " ".join(f"{k}={v}" for k, v in sorted(self.params.items())) or "(defaults)"
        server = format_hostport(*self.server) if self.server else "?"
        lines = [
            f"conformance check of {self.source}",
            f"real {'node' if self.calls else 'PUA'} {format_hostport(*self.pua)} -> server {server}; "
            f"model {'parameters' if self.calls else 'pua params'}: {params}; "
            f"timing tolerance {self.tolerance / SECOND:g} s; times in s from the first packet",
            "",
        ]
        if self.calls:
            lines.append("dialog events the calls through the node fire (inferred from the capture):")
            for c in self.calls:
                frame = f" #{c['frame']}" if c.get("frame") is not None else ""
                lines.append(f"  {c['time']:8.3f}  {c['event']:<10} {c['message']} from the {c['from']}{frame}"
                             f"  (Call-ID {c['call_id']})")
            lines.append("")
        avps = self.inferred.get("pubruri_avps")
        if avps:
            lines.append("pubruri AVP values the PUBLISH Request-URIs show (newest first):")
            for call_id, sides in avps["calls"].items():
                lines.append(f"  Call-ID {call_id}: {avps['pubruri_caller_avp']} [{', '.join(sides['caller'])}], "
                             f"{avps['pubruri_callee_avp']} [{', '.join(sides['callee'])}]")
            lines.append("")
        bindings = self.inferred.get("registrations")
        if bindings:
            lines.append("registrations made before the capture (read from the INVITEs the node relayed):")
            for b in bindings:
                frame = f" #{b['frame']}" if b.get("frame") is not None else ""
                received = f" received {b['received']}" if b.get("received") else ""
                lines.append(f"  {b['aor']} -> {b['contact']}{received}{frame}")
            lines.append("")
        lines.append(f"{'#':>3} {'time':>8} {'frame':>5}  {'inferred':<11} {'result':<6} real request  |  model")
        for r in self.rows:
            verdict = "ok" if r.ok else "DIFF"
            status = f" -> {r.status}" if r.status is not None else ""
            model = "same" if r.ok and r.model is not None else request_line(r.model)
            if r.model_time is not None and r.real_time is not None and r.model_time != r.real_time:
                model += f" @{self._t(r.model_time).strip()}"
            frame = "-" if r.frame is None else str(r.frame)
            lines.append(
                f"{r.n:>3} {self._t(r.real_time if r.real_time is not None else r.model_time)} {frame:>5}  "
                f"{r.kind:<11} {verdict:<6} {request_line(r.real)}{status}  |  {model}"
            )
            for d in r.diffs:
                lines.append(f"{'':>30}{d}")
            if r.note:
                lines.append(f"{'':>30}note: {r.note}")
        n_diff = sum(1 for r in self.rows if not r.ok)
        lines.append("")
        lines.extend(f"note: {n}" for n in self.notes)
        lines.append(
            f"{len(self.rows)} requests compared, {n_diff} differ ({len(self.differences)} field differences): "
            + (f"the real {'node' if self.calls else 'PUA'} behaves as the model predicts" if self.ok else "DIFFERENCES")
        )
        return "\n".join(lines)


# -- two flows of two PUAs, side by side ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FlowItem:
    """One request of a PUA with the final status it got (or a NOTIFY it received)."""

    time: int
    request: Request
    status: int | None


def _norm(text: str | None, subst: dict[str, str]) -> str | None:
    if text is None:
        return None
    for old, new in subst.items():
        text = text.replace(old, new)
    return text


def flow_of(trace: object, pua: tuple[str, int]) -> dict[str, list[FlowItem]]:
    """The PUA's requests grouped by stream: ``PUBLISH <presentity>``, ``SUBSCRIBE <presentity>``,
    and the ``NOTIFY`` requests it received; each with the final status of its transaction."""
    from puasim.trace.events import MessageSent

    finals: dict[tuple[str, str], int] = {}
    items: list[tuple[int, Request, str]] = []
    for rec in trace:  # type: ignore[attr-defined]
        ev = rec.event
        if type(ev) is not MessageSent or ev.retransmission:
            continue
        msg = ev.message
        if isinstance(msg, Response) and ev.dst == pua and msg.status >= 200:
            via, cs = H.top_via(msg), H.cseq(msg)
            if via is not None and cs is not None:
                finals.setdefault((via.branch or "", cs.method), msg.status)
        elif isinstance(msg, Request) and ev.src == pua and msg.method in ("PUBLISH", "SUBSCRIBE"):
            to = H.to(msg)
            items.append((rec.time, msg, f"{msg.method} {to.uri if to else msg.uri}"))
        elif isinstance(msg, Request) and ev.dst == pua and msg.method == "NOTIFY":
            to = H.to(msg)
            items.append((rec.time, msg, "NOTIFY"))
    out: dict[str, list[FlowItem]] = {}
    for t, msg, key in items:
        via = H.top_via(msg)
        status = finals.get((via.branch if via and via.branch else "", msg.method)) if msg.method != "NOTIFY" else None
        out.setdefault(key, []).append(FlowItem(t, msg, status))
    return out


def compare_flows(
    a: dict[str, list[FlowItem]],
    b: dict[str, list[FlowItem]],
    subst_a: dict[str, str],
    subst_b: dict[str, str],
    expires_slack: int = 1,
    time_slack: int | None = None,
) -> list[str]:
    """Differences between two PUAs' flows, stream by stream and message by message.

    Compared: method, Request-URI, Event, Expires (refreshes: ``± expires_slack``),
    presence of SIP-If-Match and of a body, Content-Type, CSeq, the final
    status; NOTIFYs by Subscription-State value.  ``subst_*`` map each side's
    own addresses to common placeholders before comparing URIs.  With
    ``time_slack`` the offsets from each side's first request are compared too.
    """
    a = {_norm(k, subst_a) or k: v for k, v in a.items()}
    b = {_norm(k, subst_b) or k: v for k, v in b.items()}
    diffs: list[str] = []
    t0a = min((i.time for items in a.values() for i in items), default=0)
    t0b = min((i.time for items in b.values() for i in items), default=0)
    for key in sorted(set(a) | set(b)):
        xs, ys = a.get(key, []), b.get(key, [])
        if len(xs) != len(ys):
            diffs.append(f"{key}: {len(xs)} messages in A, {len(ys)} in B")
        for n, (x, y) in enumerate(zip(xs, ys, strict=False), start=1):
            rx, ry = x.request, y.request
            where = f"{key} #{n}"
            if key == "NOTIFY":
                sx = (rx.get("Subscription-State") or "").split(";")[0]
                sy = (ry.get("Subscription-State") or "").split(";")[0]
                if sx != sy:
                    diffs.append(f"{where}: Subscription-State {sx} vs {sy}")
                continue
            refresh = not rx.body and (H.expires_or_none(rx) or 0) > 0 and rx.get("SIP-If-Match") is not None
            fields = [
                ("method", rx.method, ry.method),
                ("Request-URI", _norm(rx.uri, subst_a), _norm(ry.uri, subst_b)),
                ("Event", rx.get("Event"), ry.get("Event")),
                ("SIP-If-Match present", rx.get("SIP-If-Match") is not None, ry.get("SIP-If-Match") is not None),
                ("body present", bool(rx.body), bool(ry.body)),
                ("Content-Type", rx.get("Content-Type"), ry.get("Content-Type")),
                ("CSeq", _cseq(rx), _cseq(ry)),
                ("final status", x.status, y.status),
            ]
            for name, va, vb in fields:
                if va != vb:
                    diffs.append(f"{where}: {name} {va!r} vs {vb!r}")
            ea, eb = H.expires_or_none(rx), H.expires_or_none(ry)
            slack = expires_slack if refresh or rx.method == "SUBSCRIBE" else 0
            if ea is None or eb is None or abs(ea - eb) > slack:
                if ea != eb:
                    diffs.append(f"{where}: Expires {ea} vs {eb}")
            if time_slack is not None and abs((x.time - t0a) - (y.time - t0b)) > time_slack:
                diffs.append(f"{where}: sent at +{(x.time - t0a) / SECOND:.3f} s vs +{(y.time - t0b) / SECOND:.3f} s")
    return diffs
