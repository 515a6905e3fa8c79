"""The live driver: the same sans-IO endpoints over asyncio UDP sockets and the wall clock.

A :class:`LiveDriver` hosts endpoints (the :class:`~puasim.pua.model.Pua`, the
replayer, ...) on UDP sockets.  It feeds them ``receive(message, src, now)``
and ``timer(key, now)`` with ``now`` = microseconds since the driver's start
on :func:`time.monotonic`, and carries out their effects: ``Send`` →
``sendto`` of the serialised message, ``SetTimer`` → ``loop.call_at``,
``Emit`` → the trace.  ``trace.meta["epoch"]`` is the UNIX time of t = 0;
with ``align_second=True`` (the default) the driver waits for the next whole
UNIX second before t = 0, so a model's whole-second arithmetic
(``epoch + now // 10**6``, what Kamailio's ``time(NULL)`` gives) is exact.

Safety: every address the driver binds or sends to must be loopback
(127.0.0.0/8 or ::1) unless ``allow_remote=True``; anything else raises
:class:`LiveSafetyError` at set-up, or is refused and recorded at run time.
Every loop is bounded by the run's own work: ``max_sent`` datagrams sent and
``max_timers`` timer firings (exhausting either ends the run as a runaway),
and :meth:`LiveDriver.run_for` never waits longer than asked.  What others
send never ends a run: a datagram from a source outside ``peers`` (when
given), beyond ``max_rate`` per second (a token bucket holding one second's
worth), or beyond ``max_handled`` handled messages is counted and dropped
unread; :meth:`LiveDriver.drop_report` sums the drops up and
:meth:`LiveDriver.close` writes that sum into the trace as a ``Note``.
A parse error a message causes at an endpoint costs that message only: it
is recorded as ``MessageRejected`` and the run goes on.

Trace records: a message an endpoint sends is ``MessageSent`` from its node;
a datagram received is ``MessageSent`` from the sender (node name from
``names``, else ``host:port``) followed by ``MessageDelivered`` at the
receiving node, as in a simulation, so the scenario expectations, the text
ladder and the pcap export read live traces like simulated ones.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from collections import Counter
from collections.abc import Callable, Hashable, Iterable
from typing import Any

from puasim.bodies.errors import BodyError
from puasim.capture.reader import txn_key
from puasim.effects import SECOND, CancelTimer, Emit, Send, SetTimer
from puasim.sip import SipParseError, format_hostport, parse, serialise
from puasim.trace.events import (
    MessageDelivered,
    MessageRejected,
    MessageSent,
    Note,
    RunError,
    TimerFired,
)
from puasim.trace.trace import Trace

__all__ = ["LiveDriver", "LiveNode", "LiveSafetyError", "WallClock", "check_target", "is_loopback"]

Address = tuple[str, int]


#: what a peer's bad message raises: it costs that message, never the run
PEER_ERRORS = (SipParseError, BodyError)


def _norm(addr: Address) -> Address:
    return (str(addr[0]).strip("[]"), int(addr[1]))


class LiveSafetyError(ValueError):
    """A live run would talk to a non-loopback address without ``allow_remote``."""


def is_loopback(host: str) -> bool:
    """True for IP literals in 127.0.0.0/8 and ::1 (and ``localhost``, never resolved)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_target(addr: Address, allow_remote: bool = False, what: str = "target") -> None:
    """Raise :class:`LiveSafetyError` unless ``addr`` is loopback or ``allow_remote``."""
    host = addr[0]
    if allow_remote:
        return
    if not is_loopback(host):
        raise LiveSafetyError(
            f"{what} {host}:{addr[1]} is not a loopback address: live runs only talk to "
            "127.0.0.0/8 and ::1 unless remote targets are explicitly allowed (--allow-remote)"
        )


class WallClock:
    """Microseconds since the start on :func:`time.monotonic`; ``epoch`` = UNIX time at t = 0."""

    def __init__(self, align_second: bool = True, max_wait: float = 1.0) -> None:
        unix = time.time()
        if align_second:
            wait = min(max_wait, (int(unix) + 1) - unix)
            time.sleep(max(0.0, wait))
            unix = time.time()
        self.mono0 = time.monotonic()
        self.epoch: float = float(round(unix)) if align_second and abs(unix - round(unix)) < 0.01 else unix

    def now(self) -> int:
        return int((time.monotonic() - self.mono0) * SECOND)

    def loop_time(self, at_us: int) -> float:
        """The ``loop.time()`` (monotonic) value of driver time ``at_us``."""
        return self.mono0 + at_us / SECOND


class LiveNode(asyncio.DatagramProtocol):
    """One endpoint on one UDP socket; its timers are ``loop.call_at`` handles."""

    def __init__(self, driver: LiveDriver, name: str) -> None:
        self.driver = driver
        self.name = name
        self.endpoint: Any = None
        self.address: Address = ("", 0)
        self.transport: asyncio.DatagramTransport | None = None
        self.timers: dict[Hashable, asyncio.TimerHandle] = {}
        self.up = False

    # -- asyncio protocol -----------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.driver._datagram(self, data, (str(addr[0]), int(addr[1])))

    def error_received(self, exc: Exception) -> None:
        self.driver.trace.add(self.driver.clock.now(), self.name, Note("warning", f"socket error: {exc}"))

    # -- endpoint calls -------------------------------------------------------------------
    def call(self, what: str, fn: Callable[..., Any], *args: Any, peer: tuple[Any, Address] | None = None) -> Any:
        """Call the endpoint (an API method, receive or timer) and carry out its effects.

        ``peer`` = (message, source) marks a receive: a parse error escaping
        the endpoint is then the message's fault, recorded as
        ``MessageRejected``, and the run goes on."""
        driver = self.driver
        if driver.error is not None:
            return None
        try:
            result = fn(*args)
        except Exception as exc:  # the fault is recorded, the trace so far is kept
            if peer is not None and isinstance(exc, PEER_ERRORS):
                driver.trace.add(driver.clock.now(), self.name, MessageRejected(peer[1], peer[0], f"escaped the endpoint: {exc}"))
                if self.endpoint is not None:
                    self.apply(self.endpoint.outbox.take())
                return None
            driver.trace.add(driver.clock.now(), self.name, RunError(f"{self.name}: {what}", f"{type(exc).__name__}: {exc}"))
            if self.endpoint is not None:
                self.apply(self.endpoint.outbox.take())
            driver.fail(exc)
            return None
        if self.endpoint is not None:
            self.apply(self.endpoint.outbox.take())
        return result

    def apply(self, effects: list) -> None:
        driver = self.driver
        loop = asyncio.get_running_loop()
        for eff in effects:
            now = driver.clock.now()
            cls = eff.__class__
            if cls is Send:
                driver._send(self, eff, now)
            elif cls is SetTimer:
                old = self.timers.pop(eff.key, None)
                if old is not None:
                    old.cancel()
                self.timers[eff.key] = loop.call_at(driver.clock.loop_time(max(eff.at, now)), self._fire, eff.key)
            elif cls is CancelTimer:
                old = self.timers.pop(eff.key, None)
                if old is not None:
                    old.cancel()
            elif cls is Emit:
                driver.trace.add(now, self.name, eff.event)
            else:
                raise TypeError(f"unknown effect {eff!r}")

    def _fire(self, key: Hashable) -> None:
        self.timers.pop(key, None)
        driver = self.driver
        if not self.up or driver.error is not None:
            return
        driver.timer_fires += 1
        if driver.timer_fires > driver.max_timers:
            driver.fail(RuntimeError(f"timer budget of {driver.max_timers} firings exhausted"))
            return
        now = driver.clock.now()
        name = ":".join(str(k) for k in key) if isinstance(key, tuple) else str(key)
        if driver.trace_timers:
            driver.trace.add(now, self.name, TimerFired(name))
        self.call(f"timer {name}", self.endpoint.timer, key, now)

    def crash(self) -> None:
        """The endpoint goes down: every timer cancelled, nothing delivered to it; the endpoint
        stays (for inspection) and so does the socket (a restart reuses it)."""
        self.up = False
        for handle in self.timers.values():
            handle.cancel()
        self.timers.clear()

    def stop(self) -> None:
        """:meth:`crash`, and the socket closes."""
        self.crash()
        if self.transport is not None:
            self.transport.close()
            self.transport = None


class LiveDriver:
    """Hosts sans-IO endpoints on UDP sockets in real time (see the module docstring)."""

    def __init__(
        self,
        *,
        names: dict[Address, str] | None = None,
        allow_remote: bool = False,
        max_sent: int = 10_000,
        max_handled: int = 10_000,
        max_rate: float = 500.0,
        peers: Iterable[Address] | None = None,
        max_timers: int = 100_000,
        align_second: bool = True,
        trace_timers: bool = False,
        meta: dict[str, Any] | None = None,
    ) -> None:
        self.align_second = align_second
        self.clock = WallClock(False)  # begin() aligns
        self.trace = Trace({"epoch": self.clock.epoch, "driver": "live", **(meta or {})})
        self.names: dict[Address, str] = dict(names or {})
        self.allow_remote = allow_remote
        self.max_sent = max_sent
        self.max_handled = max_handled
        self.max_rate = max_rate
        #: sources whose datagrams are read; ``None``: any (the driver's own nodes always)
        self.peers: set[Address] | None = None if peers is None else {_norm(a) for a in peers}
        self.max_timers = max_timers
        self.trace_timers = trace_timers
        self.sent = 0
        self.handled = 0
        self.received = 0
        #: reason ("stranger", "rate", "budget") -> datagrams dropped unread
        self.dropped: Counter[str] = Counter()
        #: datagrams dropped per source outside ``peers``
        self.strangers: Counter[Address] = Counter()
        self._tokens = max_rate
        self._refilled = 0
        self._reported = False
        self.timer_fires = 0
        self.nodes: dict[str, LiveNode] = {}
        self.error: BaseException | None = None
        self._stopped: asyncio.Event | None = None
        self._seen: set[tuple] = set()

    def begin(self) -> None:
        """Start the clock afresh (t = 0 now, aligned to a whole second as configured).

        For set-up work (binding sockets, starting a capture) done before the
        run proper; only allowed while the trace is empty."""
        if self.trace.records:
            raise RuntimeError("begin() after records were written")
        self.clock = WallClock(self.align_second)
        self.trace.meta["epoch"] = self.clock.epoch

    @property
    def epoch(self) -> float:
        return self.clock.epoch

    def now(self) -> int:
        return self.clock.now()

    def name_of(self, addr: Address) -> str:
        name = self.names.get(addr)
        if name is None:
            name = format_hostport(*addr)
        return name

    async def open(self, name: str, bind: Address, factory: Callable[[Address], Any], start: bool = True) -> LiveNode:
        """Bind a UDP socket at ``bind`` (port 0 = any free one) and host ``factory(address)`` on it.

        Call :meth:`begin` before the first ``open`` (or before starting the
        endpoints, when set-up takes time) so that t = 0 is the run's start."""
        check_target(bind, self.allow_remote, "bind address")
        if name in self.nodes:
            raise ValueError(f"duplicate node name {name!r}")
        loop = asyncio.get_running_loop()
        if self._stopped is None:
            self._stopped = asyncio.Event()
        node = LiveNode(self, name)
        family = socket.AF_INET6 if ":" in bind[0] else socket.AF_INET
        await loop.create_datagram_endpoint(lambda: node, local_addr=(bind[0].strip("[]"), bind[1]), family=family)
        assert node.transport is not None
        sock = node.transport.get_extra_info("sockname")
        node.address = (str(sock[0]), int(sock[1]))
        self.names[node.address] = name
        self.nodes[name] = node
        node.endpoint = factory(node.address)
        if start:
            self.start(node)
        return node

    def start(self, node: LiveNode) -> None:
        node.up = True
        if hasattr(node.endpoint, "start"):
            node.call("start", node.endpoint.start, self.clock.now())

    def replace_endpoint(self, node: LiveNode, endpoint: Any) -> None:
        """A restart: the old endpoint's timers are cancelled, the new one starts."""
        node.crash()
        node.endpoint = endpoint
        self.start(node)

    # -- I/O ------------------------------------------------------------------------------
    def _send(self, node: LiveNode, eff: Send, now: int) -> None:
        try:
            check_target(eff.dest, self.allow_remote, "destination")
        except LiveSafetyError as exc:
            self.trace.add(now, node.name, RunError(f"{node.name}: send", str(exc)))
            return
        self.sent += 1
        if self.sent > self.max_sent:  # the run's own runaway: that ends it
            self.fail(RuntimeError(f"send budget of {self.max_sent} datagrams exhausted"))
            return
        if node.transport is None:
            return
        data = serialise(eff.message)
        self.trace.add(now, node.name, MessageSent(node.address, eff.dest, eff.message, eff.retransmission))
        node.transport.sendto(data, (eff.dest[0].strip("[]"), eff.dest[1]))

    def _admit(self, src: Address, now: int) -> bool:
        """Count a received datagram; False (and counted as dropped) when it is not to be read."""
        self.received += 1
        if self.peers is not None and src not in self.peers and src not in self.names_of_nodes():
            self.dropped["stranger"] += 1
            self.strangers[src] += 1
            return False
        # token bucket: max_rate datagrams a second, at most one second's worth saved up
        elapsed = now - self._refilled
        self._refilled = now
        self._tokens = min(self.max_rate, self._tokens + elapsed * self.max_rate / SECOND)
        if self._tokens < 1:
            self.dropped["rate"] += 1
            return False
        self._tokens -= 1
        if self.handled >= self.max_handled:
            self.dropped["budget"] += 1
            return False
        self.handled += 1
        return True

    def names_of_nodes(self) -> set[Address]:
        return {n.address for n in self.nodes.values()}

    def _datagram(self, node: LiveNode, data: bytes, src: Address) -> None:
        now = self.clock.now()
        if self.error is not None or not node.up or not self._admit(src, now):
            return
        if not data.strip(b"\r\n"):
            return  # keep-alive
        try:
            msg = parse(data)
        except SipParseError as exc:
            self.trace.add(now, node.name, Note("warning", f"unparseable datagram from {self.name_of(src)}: {exc}"))
            return
        key = txn_key(msg, src)
        retrans = key is not None and key in self._seen
        if key is not None:
            self._seen.add(key)
        self.trace.add(now, self.name_of(src), MessageSent(src, node.address, msg, retrans))
        self.trace.add(now, node.name, MessageDelivered(src, node.address, msg))
        node.call("receive", node.endpoint.receive, msg, src, now, peer=(msg, src))

    def drop_report(self) -> str:
        """One line on the received datagrams dropped unread ("" when none were)."""
        if not self.dropped:
            return ""
        parts = []
        if self.dropped["stranger"]:
            top = ", ".join(f"{self.name_of(a)} x{n}" for a, n in self.strangers.most_common(3))
            parts.append(f"{self.dropped['stranger']} from unexpected sources ({top})")
        if self.dropped["rate"]:
            parts.append(f"{self.dropped['rate']} over the rate limit of {self.max_rate:g}/s")
        if self.dropped["budget"]:
            parts.append(f"{self.dropped['budget']} after the budget of {self.max_handled} handled messages")
        return f"received datagrams dropped unread: {'; '.join(parts)} (of {self.received} received)"

    # -- running --------------------------------------------------------------------------
    def fail(self, exc: BaseException) -> None:
        if self.error is None:
            self.error = exc
            if not any(type(r.event) is RunError for r in self.trace.records[-3:]):
                self.trace.add(self.clock.now(), "driver", RunError("driver", f"{type(exc).__name__}: {exc}"))
        if self._stopped is not None:
            self._stopped.set()

    def stop(self) -> None:
        if self._stopped is not None:
            self._stopped.set()

    async def run_until(self, at_us: int) -> None:
        """Serve the sockets until driver time ``at_us``, a failure or :meth:`stop` (bounded)."""
        if self._stopped is None:
            self._stopped = asyncio.Event()
        remaining = (at_us - self.clock.now()) / SECOND
        if remaining <= 0:
            return
        try:
            await asyncio.wait_for(self._stopped.wait(), timeout=remaining)
        except TimeoutError:
            pass

    async def run_for(self, seconds: float) -> None:
        await self.run_until(self.clock.now() + int(seconds * SECOND))

    def close(self) -> None:
        """Close every socket; the drop report (if any) goes into the trace once."""
        for node in self.nodes.values():
            node.stop()
        report = self.drop_report()
        if report and not self._reported:
            self._reported = True
            self.trace.add(self.clock.now(), "driver", Note("warning", report))
