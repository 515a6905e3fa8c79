"""pua_rpc: ``pua.publish``, ``pua.send_publish`` and ``pua.subscribe`` (pua-reference §9.1).

An :class:`RpcCall` is what the RPC client would see: a result struct, an
empty success, a fault (code, text) or — for ``pua.publish`` in the cases of
B20 — nothing at all (``pending`` forever).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from puasim.pua.constants import Source, event_from_name
from puasim.pua.info import Hentity, PublInfo, SubsInfo
from puasim.sip import headers as H
from puasim.sip.message import Response
from puasim.sip.uri import parse_uri

if TYPE_CHECKING:
    from puasim.pua.model import Pua


@dataclass(slots=True)
class RpcCall:
    """One RPC request and its answer (``state``: pending, ok or fault)."""

    method: str
    args: tuple[str, ...]
    state: str = "pending"
    value: dict[str, Any] = field(default_factory=dict)
    fault_code: int = 0
    fault_text: str = ""
    answered_at: int | None = None

    def ok(self, value: dict[str, Any], now: int) -> None:
        self.state, self.value, self.answered_at = "ok", value, now

    def fault(self, code: int, text: str, now: int) -> None:
        self.state, self.fault_code, self.fault_text, self.answered_at = "fault", code, text, now

    def describe(self) -> str:
        if self.state == "fault":
            return f"fault {self.fault_code} {self.fault_text}"
        return f"{self.state} {self.value}" if self.state == "ok" else "pending"


def _valid_uri(text: str) -> bool:
    try:
        parse_uri(text)
    except ValueError:
        return False
    return True


class PuaRpc:
    """The pua_rpc module bound to one :class:`Pua` (mod_init registers the RPC_ASYN_PUBLISH callback)."""

    def __init__(self, pua: Pua) -> None:
        self.pua = pua
        self._ids = itertools.count(1)
        self.pending: dict[int, RpcCall] = {}
        pua.register_puacb(int(Source.RPC_ASYN_PUBLISH), self._publish_reply)

    def publish(self, args: list[str], now: int, wait: bool = True) -> RpcCall:
        """``pua.publish`` (wait=True) or ``pua.send_publish`` (wait=False), §9.1.1."""
        method = "pua.publish" if wait else "pua.send_publish"
        call = RpcCall(method, tuple(args))
        pua = self.pua
        if len(args) < 8:
            call.fault(400, f"Too few or wrong type of parameters ({len(args)})", now)
            return self._done(call)
        uri, expires_s, event_s, ctype, pid, etag, proxy, hdrs = args[:8]
        body = args[8] if len(args) > 8 else None
        if not _valid_uri(uri):
            call.fault(400, f"Invalid presentity uri '{uri}'", now)
            return self._done(call)
        text = expires_s[1:] if expires_s.startswith("-") else expires_s
        if not text.isdigit():
            call.fault(400, f"Invalid expires value '{expires_s}'", now)
            return self._done(call)
        if body is None and ctype != ".":
            call.fault(400, "Body is missing", now)
            return self._done(call)
        event = event_from_name(event_s, pua.cfg.is_master)
        if event < 0:
            call.fault(400, "Unknown event", now)
            return self._done(call)
        token = next(self._ids) if wait else None
        publ = PublInfo(
            pres_uri=uri,
            expires=int(expires_s),
            event=event,
            content_type="" if len(ctype) == 1 else ctype,
            id="" if pid == "." else pid,
            etag="" if etag == "." else etag,
            outbound_proxy="" if proxy == "." else proxy,
            extra_headers="" if hdrs == "." else hdrs,
            body=None if body is None else body.encode(),
            source_flag=int(Source.RPC_ASYN_PUBLISH if wait else Source.RPC_PUBLISH),
            cb_param=token,
        )
        if token is not None:
            self.pending[token] = call
        rc = pua.send_publish(publ, now, process="rpc")
        if rc < 0:
            self.pending.pop(token, None)  # type: ignore[arg-type]
            call.fault(500, f"I'm terribly sorry, server error occurred ({-rc}/RPC/PUBLISH)", now)
        elif rc == 418:
            self.pending.pop(token, None)  # type: ignore[arg-type]
            call.fault(500, "Wrong ETag", now)
        elif not wait:
            call.ok({}, now)
        return self._done(call)

    def _publish_reply(self, h: Hentity, reply: Response, faked: bool, now: int) -> None:
        call = self.pending.pop(h.cb_param, None) if h.cb_param is not None else None
        if call is None:
            return
        if reply.status == 200 and not faked:
            call.ok({"SIP-ETag": H.sip_etag_raw(reply) or "", "Expires": H.expires_or_none(reply) or 0}, now)
        else:
            call.ok({}, now)
        self._done(call)

    def subscribe(self, args: list[str], now: int) -> RpcCall:
        """``pua.subscribe`` presentity watcher event expires (§9.1.2)."""
        call = RpcCall("pua.subscribe", tuple(args))
        if len(args) < 4:
            call.fault(500, "Not enough parameters", now)
            return self._done(call)
        pres, watcher, event_s, expires_s = args[:4]
        if not _valid_uri(pres):
            call.fault(400, "Invalid presentity URI", now)
            return self._done(call)
        if not _valid_uri(watcher):
            call.fault(400, "Invalid watcher URI", now)
            return self._done(call)
        event = event_from_name(event_s, self.pua.cfg.is_master)
        if event < 0:
            call.fault(404, "Unknown event", now)
            return self._done(call)
        try:
            expires = int(expires_s)
        except ValueError:
            call.fault(400, f"Invalid expires value '{expires_s}'", now)
            return self._done(call)
        subs = SubsInfo(
            pres_uri=pres, watcher_uri=watcher, contact=watcher, event=event, expires=expires,
            source_flag=int(Source.RPC_SUBSCRIBE),
        )
        rc = self.pua.send_subscribe(subs, now, process="rpc")
        if rc < 0:
            call.fault(500, "Execution failure", now)
        else:
            call.ok({}, now)
        return self._done(call)

    def _done(self, call: RpcCall) -> RpcCall:
        from puasim.trace.events import Note

        if call.state != "pending":
            self.pua.outbox.emit(Note("rpc", f"{call.method} {' '.join(call.args[:3])}: {call.describe()}"))
        return call
