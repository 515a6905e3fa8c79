"""Stateful replay: the PUA side of a captured flow, played against a live server.

:class:`Replayer` is a sans-IO endpoint (``start``/``receive``/``timer`` and
an :class:`~puasim.effects.Outbox`), so it runs under the
:class:`~puasim.live.driver.LiveDriver` against a real server and under the
simulator against a simulated one alike.

Every request the captured PUA sent (retransmissions left out) is sent again
at its captured offset divided by ``speed``, rewritten so that the live
server can make sense of it:

* Via: one fresh branch at the replayer's own address; Call-ID and From-tag:
  fresh values, the same for every request that shared them in the capture;
* values the server handed out in the capture are replaced by the ones the
  live server handed out for the same request: ``SIP-If-Match`` (the ETag of
  the captured reply that introduced it → the live reply's ETag), the To-tag
  and the Request-URI of in-dialog requests (the captured 2xx's To-tag and
  Contact → the live ones);
* the captured server address becomes the live one in the Request-URI and
  Route; the captured PUA address becomes the replayer's in Contact (so
  NOTIFYs reach it); Content-Length is recomputed.

A request whose substitution waits on a live reply that has not come yet is
held back (bounded by ``reply_timeout``).  Requests are retransmitted per
RFC 3261 timer E until a final reply or ``reply_timeout``.  NOTIFYs are
answered ``200 OK``.

:meth:`Replayer.report` compares each live final reply with the captured one:
status, Expires, Min-Expires, whether a SIP-ETag came and whether it is a new
one or one handed out before (mapped), and Contact's presence; and the
NOTIFYs received (count and Subscription-State values).
"""

from __future__ import annotations

import random
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

from puasim.effects import MILLISECOND, SECOND, Outbox
from puasim.live.budgets import LiveBudgets
from puasim.sip import format_hostport
from puasim.sip import headers as H
from puasim.sip.message import Request, Response
from puasim.sip.parser import with_content_length
from puasim.trace.events import MessageSent, Note
from puasim.trace.trace import Trace

__all__ = ["ReplayReport", "ReplayRow", "Replayer"]

Address = tuple[str, int]
T1 = 500 * MILLISECOND
T2 = 4 * SECOND


def _hp(addr: Address) -> str:
    return format_hostport(*addr)


@dataclass(slots=True)
class ReplayRow:
    """One captured request and what the live server answered to its replayed copy."""

    n: int
    captured: Request
    captured_reply: Response | None
    sent: Request | None = None
    sent_at: int | None = None
    live_reply: Response | None = None
    diffs: list[str] = field(default_factory=list)
    retransmissions: int = 0

    @property
    def ok(self) -> bool:
        return not self.diffs


@dataclass(slots=True)
class ReplayReport:
    rows: list[ReplayRow]
    notes: list[str]

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.rows) and not any(n.startswith("DIFF") for n in self.notes)

    def format(self) -> str:
        lines = [f"{'#':>3} {'result':<6} request  ->  captured reply | live reply"]
        for r in self.rows:
            cap = f"{r.captured_reply.status}" if r.captured_reply is not None else "(none)"
            live = f"{r.live_reply.status}" if r.live_reply is not None else "(none)"
            exp = r.captured.get("Expires")
            lines.append(f"{r.n:>3} {'ok' if r.ok else 'DIFF':<6} {r.captured.method} {r.captured.uri}"
                         f"{' Expires=' + exp if exp else ''}  ->  {cap} | {live}")
            lines.extend(f"{'':>11}{d}" for d in r.diffs)
        lines.extend(f"note: {n}" for n in self.notes)
        bad = sum(1 for r in self.rows if not r.ok)
        lines.append(f"{len(self.rows)} requests replayed, {bad} answered differently")
        return "\n".join(lines)


class Replayer:
    """Replays the requests of ``flow`` sent from ``pua`` (see the module docstring)."""

    def __init__(
        self,
        flow: Trace,
        pua: Address,
        *,
        host: str,
        port: int,
        server: Address,
        speed: float = 1.0,
        rng: random.Random | None = None,
        reply_timeout: int = 5 * SECOND,
    ) -> None:
        if speed <= 0:
            raise ValueError("speed must be > 0")
        self.host, self.port = host, port
        self.server = server
        self.speed = speed
        self.rng = rng or random.Random(0)
        self.reply_timeout = reply_timeout
        self.outbox = Outbox()
        msgs = [r for r in flow if type(r.event) is MessageSent and not r.event.retransmission]
        requests = [r for r in msgs if r.event.src == pua and isinstance(r.event.message, Request)
                    and r.event.message.method not in ("ACK",)]
        if not requests:
            raise ValueError(f"no request from {_hp(pua)} in the flow")
        self.captured_server: Address = requests[0].event.dst
        self.pua = pua
        replies: dict[tuple[str, str], Response] = {}
        for r in msgs:
            m = r.event.message
            if r.event.dst == pua and isinstance(m, Response) and m.status >= 200:
                via, cs = H.top_via(m), H.cseq(m)
                if via is not None and cs is not None:
                    replies.setdefault((via.branch or "", cs.method), m)
        self.rows: list[ReplayRow] = []
        self.offsets: list[int] = []
        t0 = requests[0].time
        for i, r in enumerate(requests, start=1):
            m = r.event.message
            via = H.top_via(m)
            self.rows.append(ReplayRow(i, m, replies.get(((via.branch or "") if via else "", m.method))))
            self.offsets.append(int((r.time - t0) / speed))
        self.captured_notifies = [r.event.message for r in msgs if r.event.dst == pua
                                  and isinstance(r.event.message, Request) and r.event.message.method == "NOTIFY"]
        self.live_notifies: list[Request] = []
        self.call_ids: dict[str, str] = {}
        self.tags: dict[str, str] = {}
        self.etags: dict[str, str] = {}
        self.to_tags: dict[str, str] = {}
        self.targets: dict[str, str] = {}
        self.by_branch: dict[str, ReplayRow] = {}
        self.waiting: dict[int, int] = {}
        self.started = 0
        self.done = False

    # -- endpoint -------------------------------------------------------------------------
    def start(self, now: int) -> None:
        self.started = now
        for i, off in enumerate(self.offsets):
            self.outbox.set_timer(("replay", i), now + off)

    def timer(self, key: Hashable, now: int) -> None:
        kind, i = key[0], key[1]  # type: ignore[index]
        if kind == "replay":
            self._send(i, now)
        elif kind == "retx":
            row = self.rows[i]
            if row.live_reply is not None or row.sent is None:
                return
            if row.sent_at is not None and now - row.sent_at >= self.reply_timeout:
                row.diffs.append(f"no final reply from the live server within {self.reply_timeout / SECOND:g} s")
                self._check_done()
                return
            row.retransmissions += 1
            self.outbox.send(row.sent, self.server, retransmission=True)
            interval = min(T1 * 2 ** row.retransmissions, T2)
            self.outbox.set_timer(("retx", i), now + interval)

    def receive(self, message: Request | Response, src: Address, now: int) -> None:
        if isinstance(message, Response):
            via = H.top_via(message)
            row = self.by_branch.get(via.branch if via is not None and via.branch else "")
            if row is None or message.status < 200 or row.live_reply is not None:
                return
            row.live_reply = message
            self.outbox.cancel_timer(("retx", row.n - 1))
            self._learn(row)
            self._compare(row)
            self._check_done()
            return
        if message.method == "NOTIFY":
            self.live_notifies.append(message)
        reply = Response(200, "OK", tuple(
            (n, v) for n, v in message.headers if n.lower() in ("via", "v", "from", "f", "to", "t", "call-id", "i", "cseq")
        ) + (("Content-Length", "0"),))
        self.outbox.send(reply, src)

    # -- rewriting ------------------------------------------------------------------------
    def _fresh(self, digits: int) -> str:
        return f"{self.rng.getrandbits(4 * digits):0{digits}x}"

    def _blocked_on(self, row: ReplayRow) -> bool:
        """A value this request needs comes from a reply that is still outstanding."""
        for prev in self.rows[: row.n - 1]:
            if prev.sent is None or prev.live_reply is not None or prev.captured_reply is None:
                continue
            etag = H.sip_etag(prev.captured_reply)
            to = H.to(prev.captured_reply)
            if etag and row.captured.get("SIP-If-Match") == etag:
                return True
            to_now = H.to(row.captured)
            if to is not None and to.tag and to_now is not None and to_now.tag == to.tag:
                return True
        return False

    def _rewrite(self, row: ReplayRow) -> Request:
        msg = row.captured
        cap_srv, live_srv = _hp(self.captured_server), _hp(self.server)
        cap_pua, me = _hp(self.pua), _hp((self.host, self.port))
        cid = msg.get("Call-ID") or ""
        if cid not in self.call_ids:
            self.call_ids[cid] = f"{self._fresh(16)}-replay@{self.host}"
        uri = msg.uri
        to = H.to(msg)
        if to is not None and to.tag:
            uri = self.targets.get(uri, uri)
        uri = uri.replace(cap_srv, live_srv)
        headers: list[tuple[str, str]] = [("Via", f"SIP/2.0/UDP {me};branch=z9hG4bK{self._fresh(16)}")]
        for name, value in msg.headers:
            key = name.lower()
            if key in ("via", "v", "content-length", "l"):
                continue
            if key in ("call-id", "i"):
                value = self.call_ids[cid]
            elif key in ("from", "f"):
                frm = H.from_(msg)
                if frm is not None and frm.tag:
                    new = self.tags.setdefault(frm.tag, self._fresh(32))
                    value = value.replace(f"tag={frm.tag}", f"tag={new}")
            elif key in ("to", "t") and to is not None and to.tag and to.tag in self.to_tags:
                value = value.replace(f"tag={to.tag}", f"tag={self.to_tags[to.tag]}")
            elif key == "sip-if-match":
                value = self.etags.get(value.strip(), value)
            elif key in ("contact", "m"):
                value = value.replace(cap_pua, me)
            elif key == "route":
                value = value.replace(cap_srv, live_srv)
            headers.append((name, value))
        out = with_content_length(Request(msg.method, uri, tuple(headers), msg.body, msg.version))
        assert isinstance(out, Request)
        return out

    def _send(self, i: int, now: int) -> None:
        row = self.rows[i]
        waited = self.waiting.get(i, now)
        if self._blocked_on(row) and now - waited < self.reply_timeout:
            self.waiting.setdefault(i, now)
            self.outbox.set_timer(("replay", i), now + 20 * MILLISECOND)
            return
        if i in self.waiting:
            self.outbox.emit(Note("info", f"replay #{row.n} held back {(now - waited) / MILLISECOND:.0f} ms for a reply"))
        row.sent = self._rewrite(row)
        row.sent_at = now
        via = H.top_via(row.sent)
        self.by_branch[via.branch if via is not None and via.branch else ""] = row
        self.outbox.send(row.sent, self.server)
        self.outbox.set_timer(("retx", i), now + T1)

    # -- learning and comparing -----------------------------------------------------------------
    def _learn(self, row: ReplayRow) -> None:
        cap, live = row.captured_reply, row.live_reply
        if cap is None or live is None or live.status >= 300:
            return
        ce, le = H.sip_etag(cap), H.sip_etag(live)
        if ce and le and ce not in self.etags:
            self.etags[ce] = le
        ct, lt = H.to(cap), H.to(live)
        if ct is not None and lt is not None and ct.tag and lt.tag:
            self.to_tags.setdefault(ct.tag, lt.tag)
        cc, lc = H.contact_list(cap), H.contact_list(live)
        if cc and lc:
            self.targets.setdefault(cc[0].uri, lc[0].uri)

    def _compare(self, row: ReplayRow) -> None:
        cap, live = row.captured_reply, row.live_reply
        assert live is not None
        if cap is None:
            row.diffs.append(f"the capture has no final reply; live: {live.status}")
            return
        if cap.status != live.status:
            row.diffs.append(f"status: captured {cap.status} {cap.reason}; live {live.status} {live.reason}")
        for name in ("Expires", "Min-Expires"):
            if cap.get(name) != live.get(name):
                row.diffs.append(f"{name}: captured {cap.get(name) or 'absent'}; live {live.get(name) or 'absent'}")
        ce, le = H.sip_etag(cap), H.sip_etag(live)
        if (ce is None) != (le is None):
            row.diffs.append(f"SIP-ETag: captured {ce or 'absent'}; live {le or 'absent'}")
        elif ce is not None and le is not None and self.etags.get(ce) != le:
            row.diffs.append(f"SIP-ETag: captured {ce} stands for live {self.etags.get(ce)}; live sent {le}")
        if bool(cap.get("Contact")) != bool(live.get("Contact")):
            row.diffs.append(f"Contact: captured {cap.get('Contact') or 'absent'}; live {live.get('Contact') or 'absent'}")

    def _check_done(self) -> None:
        if all(r.sent is not None and (r.live_reply is not None or r.diffs) for r in self.rows):
            if not self.done:
                self.done = True
                self.outbox.emit(Note("info", "replay: every request answered"))

    def report(self) -> ReplayReport:
        notes = []
        for r in self.rows:
            if r.sent is None:
                r.diffs.append("not replayed (the run ended first)")
            elif r.live_reply is None and not r.diffs:
                r.diffs.append("no final reply from the live server")
        def states(ms: list[Request]) -> list[str]:
            return [(m.get("Subscription-State") or "").split(";")[0].strip() for m in ms]

        cs, ls = states(self.captured_notifies), states(self.live_notifies)
        if cs or ls:
            verdict = "same" if cs == ls else "DIFF"
            notes.append(f"{verdict if verdict == 'DIFF' else 'NOTIFYs'}: captured {len(cs)} {cs}; live {len(ls)} {ls}")
        return ReplayReport(self.rows, notes)


async def replay_live_async(
    flow: Trace,
    pua: Address,
    server: Address,
    *,
    bind: Address = ("127.0.0.1", 0),
    speed: float = 1.0,
    allow_remote: bool = False,
    reply_timeout: float = 5.0,
    seed: object = None,
    budgets: LiveBudgets | None = None,
) -> tuple[ReplayReport, Trace]:
    """Replay ``flow``'s PUA side against a live ``server``; (report, live trace)."""
    from puasim.live.driver import LiveDriver, check_target

    budgets = budgets or LiveBudgets()

    check_target(server, allow_remote, "server")
    if seed is None:  # fresh Call-IDs and branches: the server remembers old transactions
        import time

        seed = time.time_ns()
    driver = LiveDriver(names={server: "server"}, allow_remote=allow_remote, meta={"replay": str(flow.meta.get("source", ""))},
                        **budgets.driver_kwargs())
    box: dict[str, Replayer] = {}

    def make(addr: Address) -> Replayer:
        box["r"] = Replayer(flow, pua, host=addr[0], port=addr[1], server=server, speed=speed,
                            rng=random.Random(str(seed)), reply_timeout=int(reply_timeout * SECOND))
        return box["r"]

    driver.begin()
    node = await driver.open("replayer", bind, make)
    replayer = box["r"]
    wanted = (replayer.offsets[-1] if replayer.offsets else 0) + int((reply_timeout + 1) * SECOND)
    limit = budgets.cap_us(wanted)
    try:
        # bounded: wake up every 50 ms until every request is answered or the limit passes
        while not replayer.done and driver.error is None and driver.now() < limit:
            await driver.run_for(0.05)
        await driver.run_for(0.2)  # NOTIFYs that follow the last reply
    finally:
        driver.close()
    del node
    report = replayer.report()
    if limit < wanted and not replayer.done:
        report.notes.append(f"DIFF: the replay was cut at {limit / SECOND:g} s by the duration budget")
    if driver.error is not None:
        report.notes.append(f"DIFF: the live run stopped: {driver.error}")
    return report, driver.trace


def replay_live(flow: Trace | str, pua: Address | int, server: Address, **kw: Any) -> tuple[ReplayReport, Trace]:
    """:func:`replay_live_async` in a fresh event loop; ``flow`` may be a pcap path and
    ``pua`` a port (the first host sending requests from it)."""
    import asyncio

    if not isinstance(flow, Trace):
        from puasim.capture.reader import read_pcap

        flow = read_pcap(flow)
    if isinstance(pua, int):
        port = pua
        found = next((r.event.src for r in flow if type(r.event) is MessageSent and r.event.src[1] == port
                      and isinstance(r.event.message, Request)), None)
        if found is None:
            raise ValueError(f"no request sent from port {port} in the flow")
        pua = found
    return asyncio.run(replay_live_async(flow, pua, server, **kw))
