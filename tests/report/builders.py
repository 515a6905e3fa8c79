"""Hand-made traces for the report tests: a tiny builder with known timings."""

from __future__ import annotations

from puasim.effects import SECOND
from puasim.sip.message import Request, Response
from puasim.trace.events import (
    MessageDelivered,
    MessageDropped,
    MessageDuplicated,
    MessageSent,
    NodeCrashed,
    NodeRestarted,
    RecordChanged,
    ServerStateChanged,
    TransactionFinished,
)
from puasim.trace.trace import Trace

EPOCH = 1_700_000_000
ADDR = {"pua": ("127.0.0.1", 5070), "server": ("127.0.0.1", 5060)}
ALICE = "sip:alice@127.0.0.1"
BODY_OPEN = b"<presence>open</presence>"
BODY_CLOSED = b"<presence>closed</presence>"


def us(t: float) -> int:
    return round(t * SECOND)


def publish(
    uri: str = ALICE,
    *,
    branch: str,
    expires: int | None = 3601,
    if_match: str | None = None,
    body: bytes = b"",
    cseq: int = 10,
    call_id: str = "call-1",
    event: str = "presence",
) -> Request:
    headers = [
        ("Via", f"SIP/2.0/UDP 127.0.0.1:5070;branch={branch}"),
        ("To", f"<{uri}>"),
        ("From", f"<{uri}>;tag=ft"),
        ("CSeq", f"{cseq} PUBLISH"),
        ("Call-ID", call_id),
        ("Event", event),
    ]
    if expires is not None:
        headers.append(("Expires", str(expires)))
    if if_match:
        headers.append(("SIP-If-Match", if_match))
    if body:
        headers.append(("Content-Type", "application/pidf+xml"))
    headers.append(("Content-Length", str(len(body))))
    return Request("PUBLISH", uri, tuple(headers), body)


def reply(
    req: Request,
    status: int,
    reason: str = "OK",
    *,
    etag: str | None = None,
    expires: int | None = None,
) -> Response:
    keep = ("Via", "To", "From", "CSeq", "Call-ID")
    headers = [(n, v) for n, v in req.headers if n in keep]
    if expires is not None:
        headers.append(("Expires", str(expires)))
    if etag:
        headers.append(("SIP-ETag", etag))
    headers.append(("Content-Length", "0"))
    return Response(status, reason, tuple(headers))


class TraceBuilder:
    """Appends records at given times (seconds); helpers for the usual patterns."""

    def __init__(self, epoch: int = EPOCH) -> None:
        self.trace = Trace({"seed": 1, "epoch": epoch, "scenario": "handmade"})
        self.epoch = epoch

    def add(self, t: float, node: str, event: object) -> None:
        self.trace.add(us(t), node, event)

    # -- network ------------------------------------------------------------------
    def send(self, t: float, src: str, dst: str, msg, retx: bool = False) -> None:
        self.add(t, src, MessageSent(ADDR[src], ADDR[dst], msg, retx))

    def deliver(self, t: float, src: str, dst: str, msg) -> None:
        self.add(t, dst, MessageDelivered(ADDR[src], ADDR[dst], msg))

    def drop(self, t: float, src: str, dst: str, msg, reason: str = "loss") -> None:
        self.add(t, src, MessageDropped(ADDR[src], ADDR[dst], msg, reason))

    def duplicate(self, t: float, src: str, dst: str, msg) -> None:
        self.add(t, src, MessageDuplicated(ADDR[src], ADDR[dst], msg))

    def hop(self, t: float, src: str, dst: str, msg, latency: float = 0.001) -> float:
        self.send(t, src, dst, msg)
        self.deliver(t + latency, src, dst, msg)
        return t + latency

    # -- state --------------------------------------------------------------------
    def record(
        self,
        t: float,
        action: str,
        etag: str,
        expires_s: float,
        pres_uri: str = ALICE,
        reason: str = "",
        desired_s: float = 0,
    ) -> None:
        desired = self.epoch + int(desired_s) if desired_s else 0
        self.add(
            t,
            "pua",
            RecordChanged(
                action,
                "publication",
                pres_uri,
                "",
                1,
                128,
                etag,
                self.epoch + int(expires_s),
                desired,
                0,
                reason=reason,
            ),
        )

    def server(
        self, t: float, action: str, etag: str, expires_s: float | None, presentity: str = ALICE
    ) -> None:
        self.add(
            t,
            "server",
            ServerStateChanged(
                action, presentity, "presence", etag, us(expires_s) if expires_s else 0
            ),
        )

    def finished(
        self,
        t: float,
        req: Request,
        status: int,
        *,
        started: float,
        faked: bool = False,
        retransmissions: int = 0,
    ) -> None:
        branch = req.get("Via").split("branch=")[1]
        self.add(
            t,
            "pua",
            TransactionFinished(
                "PUBLISH", req.get("Call-ID"), branch, status, faked, retransmissions, us(started)
            ),
        )

    def crash(self, t: float, node: str, restart: bool = False) -> None:
        self.add(t, node, NodeCrashed("test"))
        if restart:
            self.add(t, node, NodeRestarted("test"))

    # -- a whole successful PUBLISH ------------------------------------------------
    def publish_ok(
        self,
        t: float,
        req: Request,
        etag: str,
        granted: int,
        *,
        server_action: str = "created",
        record_action: str = "created",
        latency: float = 0.001,
    ) -> float:
        """PUBLISH at ``t``, server state change and 200 at t+latency, record change at t+2*latency."""
        at_server = self.hop(t, "pua", "server", req, latency)
        self.server(at_server, server_action, etag, at_server + granted, presentity=req.uri)
        resp = reply(req, 200, etag=etag, expires=granted)
        at_pua = self.hop(at_server, "server", "pua", resp, latency)
        self.finished(at_pua, req, 200, started=t)
        self.record(at_pua, record_action, etag, int(at_pua) + granted, pres_uri=req.uri)
        return at_pua
