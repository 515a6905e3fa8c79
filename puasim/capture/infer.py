"""Inputs of a real PUA read back from its capture: restarts, sweep phase, publication expiry.

Pure functions over the requests of one PUA (time in µs, parsed message), used
by :mod:`puasim.capture.check`.  Each rule follows what Kamailio's pua and tm
put on the wire:

* **Restarts.**  tm builds a Call-ID as ``<counter>-<pid>@<host>``: the 64-bit
  counter is drawn at random once per Kamailio start and then counts up, one
  per request, in each process (every process starts from the same value).
  A Call-ID whose counter lies far from every counter of the running
  instance therefore belongs to a new process tree: the PUA restarted in the
  traffic gap before it.  In-dialog SUBSCRIBEs reuse their dialog's Call-ID
  (pua-reference §4.5) and say nothing about the sending process.
* **Sweep phase.**  The clean/refresh sweep ticks every ``update_period − 5``
  seconds from start-up (§5.1), so the time of one refresh fixes every tick,
  and, after a restart, the start-up time modulo the period (§5.2, §5.3).
* **Publication expiry.**  pua sends ``Expires: E + 1`` (§3.5); an
  indefinite publication (``expires −1``) asks for default_expires, so
  ``default_expires + 1`` on the wire is ambiguous.  Refreshes tell them apart
  (§5.3): an indefinite record is refreshed with a constant
  ``default_expires + 1``, a finite one counts down (``desired − now + 1``) or,
  when the server granted all it asked, is never refreshed.
* **Publication ids.**  The id an API caller gives is not on the wire, but
  the ETags are: an initial PUBLISH starts a chain, each SIP-If-Match
  continues the chain its ETag came from, a removal or an error reply ends
  it, and so does time: a chain whose last granted lifetime has passed
  (Expires of the 2xx, else of the request) lapsed unrefreshed, and one whose
  request got no final reply within Timer F ended with pua's local 408
  (§3.6; the PUA keeps no record of a publication nobody answered).  An
  initial PUBLISH while another chain of the same presentity and event is
  alive means the caller gave another id (pua_dialoginfo: one per dialog,
  §9.4).
* **REGISTERs that reached the usrloc.**  pua_usrloc and pua_bla act on
  usrloc's contact callbacks (§9.2, §9.3), which only a REGISTER that the
  registrar saved runs: one answered 2xx.  A challenge (401/407) or a
  rejection saves nothing, and a REGISTER with no final reply in the capture
  is not counted either, so a body-less PUBLISH after it is compared as a
  refresh (its timing shows) rather than taken as an API call (which would
  hide it).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from puasim.effects import SECOND
from puasim.sip import headers as H
from puasim.sip.message import Request, Response
from puasim.txn.timers import RFC3261

__all__ = [
    "Restart", "answered_registers", "call_id_counter", "find_restarts", "place_restart", "publication_chains",
    "publish_expiry",
]

_CALLID_RE = re.compile(r"^([0-9a-f]{16})-(\d+)@")
#: counters of one instance stay this close: one step per request and process
SAME_INSTANCE = 100_000


@dataclass(frozen=True, slots=True)
class Restart:
    """A restart read from the capture: after ``after`` (the old instance's last
    packet) and before ``before`` (the new instance's first request)."""

    after: int
    before: int
    evidence: str


def call_id_counter(msg: Request) -> tuple[int, str] | None:
    """(counter, pid) of a tm Call-ID, or None when the Call-ID has another shape."""
    m = _CALLID_RE.match(msg.get("Call-ID") or "")
    return None if m is None else (int(m.group(1), 16), m.group(2))


def _in_dialog(msg: Request) -> bool:
    to = H.to(msg)
    return msg.method == "SUBSCRIBE" and to is not None and bool(to.tag)


def find_restarts(requests: Sequence[tuple[int, Request]], packets: Sequence[int]) -> list[Restart]:
    """Restarts shown by Call-ID counters (see the module docstring).

    ``requests``: the PUA's requests in time order, retransmissions left out;
    ``packets``: times of every packet to or from the PUA, sorted.
    """
    out: list[Restart] = []
    lo = hi = None
    for t, msg in requests:
        if _in_dialog(msg):
            continue
        parsed = call_id_counter(msg)
        if parsed is None:
            continue
        counter, pid = parsed
        if lo is None or hi is None:
            lo = hi = counter
            continue
        if lo - SAME_INSTANCE <= counter <= hi + SAME_INSTANCE:
            lo, hi = min(lo, counter), max(hi, counter)
            continue
        before = [p for p in packets if p < t]
        after = before[-1] if before else t - 1
        out.append(Restart(after, t, f"Call-ID counter {counter:016x} (process {pid}) is far from "
                                     f"the running instance's {lo:016x}..{hi:016x}"))
        lo = hi = counter
    return out


def place_restart(wanted: int, after: int, before: int, tick: int | None, period: int) -> int:
    """The model's restart time: the sweep grid through ``tick`` (a refresh the new
    instance sent; §5.1 ticks at start + k·period) closest to ``wanted``, strictly
    between ``after`` and ``before``; without a grid point there, ``wanted`` kept
    inside that interval."""
    lo, hi = after + 1, before - 1
    if hi < lo:
        return before - 1
    if tick is not None and period > 0:
        first = tick - ((tick - lo) // period) * period  # grid point at or above lo
        if first <= hi:
            k = round((wanted - first) / period)
            best = first + max(0, min(k, (hi - first) // period)) * period
            return best
    return min(max(wanted, lo), hi)


def publish_expiry(
    sent_expires: int, refreshes: Sequence[int], default_expires: int, covers_window: bool, offset: int = 1
) -> tuple[int, str]:
    """The API expires behind an initial PUBLISH asking ``sent_expires`` seconds (header
    value), and why.  ``refreshes``: Expires of the body-less refreshes that followed
    for the same record; ``covers_window``: the capture runs past the time an
    indefinite record would have been refreshed; ``offset``: what the PUA adds to
    the lifetime asked (1 for Kamailio, §3.5; 0 for a client policy that sends it
    as is, :mod:`puasim.pua.policy`)."""
    asked = max(sent_expires - offset, 0)
    if asked != default_expires:
        return asked, ""
    if refreshes:
        if all(e == default_expires + offset for e in refreshes):
            return -1, f"expires -1 (refreshes keep Expires {default_expires + offset}: indefinite)"
        return asked, f"expires {asked} (refreshes count down: a finite publication)"
    if covers_window:
        return asked, f"expires {asked} (no refresh where an indefinite publication gets one: finite)"
    return -1, (f"expires -1 or {asked}: Expires {sent_expires} fits both and no refresh tells them apart "
                "before the record changes or the capture ends; taken as -1")


def answered_registers(records: Sequence[Any], pua: tuple[str, int]) -> dict[str, list[int]]:
    """To URI of every REGISTER that reached the PUA's address and was answered 2xx
    (anywhere in the capture: pua_usrloc's PUBLISH may leave before the 200) -> the
    times it arrived, in capture order (see the module docstring).

    ``records`` are trace records in capture order; a request and its reply are
    paired by top Via branch, Call-ID and CSeq.
    """
    def txn(msg: Request | Response) -> tuple[str, str, int] | None:
        via, cs = H.top_via(msg), H.cseq(msg)
        if cs is None or cs.method != "REGISTER":
            return None
        return (via.branch if via and via.branch else "", msg.get("Call-ID") or "", cs.seq)

    arrived: list[tuple[tuple[str, str, int] | None, int, str]] = []
    ok: set[tuple[str, str, int]] = set()
    for r in records:
        msg = r.event.message
        if isinstance(msg, Request) and msg.method == "REGISTER" and r.event.dst == pua:
            if not r.event.retransmission:
                to = H.to(msg)
                arrived.append((txn(msg), r.time, to.uri if to is not None else ""))
        elif isinstance(msg, Response) and r.event.src == pua and 200 <= msg.status < 300:
            key = txn(msg)
            if key is not None:
                ok.add(key)
    out: dict[str, list[int]] = {}
    for key, time, aor in arrived:
        if key in ok:
            out.setdefault(aor, []).append(time)
    return out


def publication_chains(
    records: Sequence[Any], pua: tuple[str, int], timer_f: int = RFC3261.f
) -> dict[int, tuple[str, int]]:
    """``id(request) -> (presentity, chain)`` for every PUBLISH of a presentity and event
    the PUA held several publications of at once (see the module docstring).

    ``records`` are the trace records of the PUA and its server in capture
    order.  An empty id would match any record of the presentity (§2.5.1), so
    the caller gives each chain of such a presentity its own id.  ``timer_f``
    (µs) is how long the PUA's transaction waits for a final reply (Timer F,
    RFC 3261 §17.1.2.2: 64·T1; Kamailio's ``fr_timer``): a chain whose request
    has none by then ends, as does one whose last grant ran out.
    """
    chain_of_etag: dict[str, int] = {}
    chain_of_branch: dict[str, tuple[int, bool, int | None]] = {}  # branch -> (chain, removal, Expires)
    alive: dict[tuple[str, str | None], set[int]] = {}
    members: dict[int, list[int]] = {}
    key_of: dict[int, tuple[str, str | None]] = {}
    several: set[tuple[str, str | None]] = set()
    #: chain -> when its last 2xx's grant runs out
    lapses: dict[int, int] = {}
    #: chain -> {branch: Timer F deadline} of its requests still without a final reply
    waiting: dict[int, dict[str, int]] = {}

    def ended(chain: int, now: int) -> bool:
        return lapses.get(chain, now) < now or any(d < now for d in waiting.get(chain, {}).values())

    for r in records:
        msg = r.event.message
        if r.event.retransmission:
            continue
        if r.event.src == pua and isinstance(msg, Request) and msg.method == "PUBLISH":
            to = H.to(msg)
            key = (to.uri if to is not None else msg.uri, msg.get("Event"))
            if_match = msg.get("SIP-If-Match")
            if if_match:
                chain = chain_of_etag.get(if_match)
                if chain is None:
                    continue
            elif msg.body:
                chain = len(members)
                live = alive.setdefault(key, set())
                live.difference_update({c for c in live if ended(c, r.time)})
                if live:
                    several.add(key)
                live.add(chain)
                key_of[chain] = key
            else:
                continue
            members.setdefault(chain, []).append(id(msg))
            via = H.top_via(msg)
            branch = via.branch if via and via.branch else ""
            chain_of_branch[branch] = (chain, H.expires_or_none(msg) == 0, H.expires_or_none(msg))
            waiting.setdefault(chain, {})[branch] = r.time + timer_f
        elif r.event.dst == pua and isinstance(msg, Response) and msg.status >= 200:
            via, cs = H.top_via(msg), H.cseq(msg)
            branch = via.branch if via and via.branch else ""
            found = chain_of_branch.get(branch)
            if cs is None or cs.method != "PUBLISH" or found is None:
                continue
            chain, removal, asked = found
            deadline = waiting.get(chain, {}).pop(branch, None)
            etag = H.sip_etag(msg)
            late = deadline is not None and r.time > deadline  # the PUA had given up (local 408)
            if msg.status < 300 and etag and not removal and not late:
                chain_of_etag[etag] = chain
                granted = H.expires_or_none(msg)
                granted = asked if granted is None else granted
                if granted is not None:
                    lapses[chain] = r.time + granted * SECOND
            elif msg.status >= 300 or removal or late:
                alive.get(key_of.get(chain, ("", None)), set()).discard(chain)
    out: dict[int, tuple[str, int]] = {}
    for chain, ids in members.items():
        owner = key_of.get(chain)
        if owner is not None and owner in several:
            for i in ids:
                out[i] = (owner[0], chain)
    return out
