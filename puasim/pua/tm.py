"""What pua gets from Kamailio's tm module (pua-reference §3.6, §4.4, §4.5, Appendix C).

``request_outside`` builds an out-of-dialog request the way tm does — fresh
Call-ID and From-tag, ``CSeq: 10``, header order Via, To, From, CSeq,
Call-ID, [Route], Content-Length, then pua's own block — and starts a client
transaction.  ``request_within`` builds an in-dialog request from a record's
dialog (CSeq = stored + 1, remote target, route set).

Call-IDs follow tm's shape: 16 lower-case hex digits of a per-process counter
(random start chosen once, then incremented independently in each process)
``-<pid>@<address>``.  From-tags are 32 hex digits fixed per instance, ``-``,
then a 4-hex checksum of the Call-ID and one of the R-URI (41 characters).
The checksums here are CRC-16/CCITT, a stand-in of the same shape as tm's.
"""

from __future__ import annotations

import binascii
import functools
import hashlib
import random
from collections.abc import Callable
from typing import Any

from puasim.effects import Address
from puasim.sip.message import Request
from puasim.sip.uri import parse_uri
from puasim.txn.layer import TransactionLayer

#: the processes of a Kamailio instance that send pua requests, with their pids
#: ("xmpp": the xmpp module's own process, where pua_xmpp handles stanzas, §9.6)
DEFAULT_PIDS = {"worker": 4101, "timer": 4107, "rpc": 4110, "xmpp": 4112}


class NextHopError(ValueError):
    """A next-hop URI could not be turned into an address."""


@functools.lru_cache(maxsize=4096)
def uri_address(uri: str) -> Address:
    """(host, port) a request for ``uri`` goes to: no DNS, port 5060 (5061 for sips) by default."""
    text = uri.strip()
    if "<" in text:
        text = text[text.index("<") + 1 :].partition(">")[0]
    try:
        parsed = parse_uri(text)
    except ValueError as exc:
        raise NextHopError(f"cannot route to {uri!r}: {exc}") from None
    port = parsed.port or (5061 if parsed.scheme == "sips" else 5060)
    host = parsed.host
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return (host, port)


def split_header_block(block: str) -> tuple[tuple[str, str], ...]:
    """Turn a raw header block (``Name: value`` lines) into header fields."""
    fields: list[tuple[str, str]] = []
    for line in block.replace("\r\n", "\n").split("\n"):
        if not line.strip():
            continue
        if line[0] in " \t" and fields:
            name, value = fields[-1]
            fields[-1] = (name, value + " " + line.strip())
            continue
        name, sep, value = line.partition(":")
        if not sep or not name.strip():
            raise ValueError(f"extra header line without a name: {line!r}")
        fields.append((name.strip(), value.strip()))
    return tuple(fields)


class Tm:
    """Kamailio tm as pua uses it: request building, Call-IDs, tags, transactions."""

    def __init__(
        self,
        layer: TransactionLayer,
        rng: random.Random,
        host: str,
        port: int,
        pids: dict[str, int] | None = None,
        server_signature: str = "",
    ) -> None:
        self.layer = layer
        self.host = host
        self.port = port
        self.pids = dict(DEFAULT_PIDS if pids is None else pids)
        start = rng.getrandbits(64)
        self.counters = {proc: start for proc in self.pids}
        self.tag_prefix = hashlib.md5(f"Kamailio-{host}-{port}".encode()).hexdigest()
        self.server_signature = server_signature

    def new_call_id(self, process: str) -> str:
        value = self.counters[process]
        self.counters[process] = (value + 1) & 0xFFFFFFFFFFFFFFFF
        return f"{value:016x}-{self.pids[process]}@{self.host}"

    def from_tag(self, call_id: str, ruri: str) -> str:
        c1 = binascii.crc_hqx(call_id.encode(), 0xFFFF)
        c2 = binascii.crc_hqx(ruri.encode(), 0xFFFF)
        return f"{self.tag_prefix}-{c1:04x}{c2:04x}"

    def _tail(self, block: tuple[tuple[str, str], ...], body: bytes) -> tuple[tuple[str, str], ...]:
        tail: list[tuple[str, str]] = [("Content-Length", str(len(body)))]
        if self.server_signature:
            tail.append(("User-Agent", self.server_signature))
        return (*tail, *block)

    def request_outside(
        self,
        *,
        method: str,
        ruri: str,
        to_uri: str,
        from_uri: str,
        block: tuple[tuple[str, str], ...],
        body: bytes,
        next_hop: str,
        process: str,
        now: int,
        on_final: Callable[..., None],
        context: Any,
    ) -> tuple[str, str]:
        """Send an out-of-dialog request; returns (Call-ID, From-tag)."""
        call_id = self.new_call_id(process)
        tag = self.from_tag(call_id, ruri)
        headers = (
            ("To", f"<{to_uri}>"),
            ("From", f"<{from_uri}>;tag={tag}"),
            ("CSeq", f"10 {method}"),
            ("Call-ID", call_id),
            *self._tail(block, body),
        )
        dest = uri_address(next_hop or ruri)
        self.layer.send_request(Request(method, ruri, headers, body), dest, now, on_final, context)
        return call_id, tag

    def request_within(
        self,
        *,
        method: str,
        call_id: str,
        local_uri: str,
        local_tag: str,
        remote_uri: str,
        remote_tag: str,
        remote_target: str,
        route_set: list[str],
        cseq: int,
        block: tuple[tuple[str, str], ...],
        body: bytes,
        now: int,
        on_final: Callable[..., None],
        context: Any,
    ) -> None:
        """Send an in-dialog request (RFC 3261 §12.2.1.1): CSeq ``cseq``, Route from ``route_set``."""
        headers: list[tuple[str, str]] = [
            ("To", f"<{remote_uri}>;tag={remote_tag}"),
            ("From", f"<{local_uri}>;tag={local_tag}"),
            ("CSeq", f"{cseq} {method}"),
            ("Call-ID", call_id),
        ]
        ruri = remote_target
        dest_uri = remote_target
        if route_set:
            first = route_set[0]
            if ";lr" in first:
                headers.append(("Route", ", ".join(route_set)))
                dest_uri = first
            else:  # strict router: its URI becomes the R-URI (§12.2.1.1)
                ruri = first.strip("<>")
                rest = [*route_set[1:], f"<{remote_target}>"]
                headers.append(("Route", ", ".join(rest)))
                dest_uri = ruri
        headers.extend(self._tail(block, body))
        self.layer.send_request(Request(method, ruri, tuple(headers), body), uri_address(dest_uri), now, on_final, context)
