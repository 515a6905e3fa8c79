"""Receive-path fuzzing: mutated datagrams into ``Pua.receive`` and ``PresenceServer.receive``.

The inputs are real: a scenario runs in the simulator and every message the
network delivers is first handed to its destination's ``receive`` in a few
mutated forms (serialised, mutated as bytes or as header lines, parsed
again), then delivered unchanged so the run keeps going and the models stay
in realistic states (publications, dialogs, transactions in flight).  An
*escape* is any exception leaving ``receive`` for a mutated input, except
:class:`~puasim.store.errors.KamailioCrash`, which models a crash of the real
Kamailio (pua-reference Appendix C) and is counted apart.

The mutations are seeded (:class:`random.Random`), so a failing input can be
replayed from its seed and index; every escape keeps the datagram that
caused it.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from puasim.effects import Emit, Send
from puasim.scenario.runner import ScenarioRun, load_scenario
from puasim.sip.errors import SipParseError
from puasim.sip.parser import parse, serialise
from puasim.store.errors import KamailioCrash
from puasim.trace.events import MessageRejected

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
#: scenario files whose traffic seeds the corpus: PUBLISH life cycles, SUBSCRIBE dialogs and
#: NOTIFYs, 412/423/481/489 replies, restarts, db_mode 2
CORPUS_SCENARIOS = (
    "publish/initial_publish.yaml",
    "publish/modify_if_match.yaml",
    "publish/412_recovery_usrloc.yaml",
    "publish/unknown_event_489.yaml",
    "publish/dialog_version_increase.yaml",
    "publish/reginfo_version_master.yaml",
    "subscribe/initial_subscribe_first_notify.yaml",
    "subscribe/refresh_481_resubscribe.yaml",
    "subscribe/min_expires_423.yaml",
    "subscribe/remote_target_change_crc1.yaml",
    "storage/restart_mid_dialog.yaml",
    "storage/db_mode2_issue2414_5_6.yaml",
)

#: bad values per header (canonical lower-case name) that real peers have sent or could send
BAD_VALUES: dict[str, tuple[str, ...]] = {
    "via": ("SIP/2.0/UDP", "nonsense", ";;;", "SIP/2.0/UDP 127.0.0.1:99999;branch=z9hG4bKx",
            "SIP/2.0/UDP [::1;branch=x"),
    "cseq": ("abc PUBLISH", "1", "", "99999999999 PUBLISH", "-1 NOTIFY", "1 NOTIFY", "2 SUBSCRIBE x"),
    "expires": ("soon", "-1", "", "99999999999", "3600 3600", "0x10"),
    "min-expires": ("x", "", "-5"),
    "sip-etag": ('"quoted"', "", "a b", "a,b", "\x7f"),
    "sip-if-match": ('"quoted"', "", "a b", "a,b"),
    "event": ("", "presence;id", ";;", "presence, dialog", "pres ence", "dialog;sla;x="),
    "subscription-state": ("", "active;expires=abc", "terminated;reason", "weird;;", "pending;expires=-1",
                           "active;expires=99999999999"),
    "contact": ("<", "*", "sip:", "<sip:a@b>;expires=x", "", "<sip:a@[::1>", "a, b"),
    "from": ("<sip:a@b", "", "sip:a@b;tag", '"x <sip:a@b>', "<>;tag=1"),
    "to": ("<sip:a@b", "", "sip:a@b;tag", "<sip:a@b>;tag=", "junk"),
    "call-id": ("", "a b", "@"),
    "record-route": ("<", "<sip:a@b;lr>,", "junk", "<sip:a@b;lr>, <"),
    "content-length": ("abc", "99999", "-1", ""),
    "content-type": ("", "application/", ";;", "text/plain;charset"),
    "max-forwards": ("x", "256", ""),
}
VIA_PARAMS = (";rport=abc", ";rport=", ";rport=99999", ";received=", ";received=not-an-ip", ";branch=",
              ";maddr=;ttl=x")
VERSIONS = ("SIP/3.0", "SIP/2.1", "sip/2.0", "SIP/2.01", "SIP/1.0")
STATUSES = (100, 199, 202, 400, 412, 423, 481, 489, 500, 503, 699)


@dataclass
class Escape:
    node: str
    error: str
    data: bytes


@dataclass
class FuzzStats:
    inputs: int = 0
    not_sip: int = 0  #: mutated past what ``parse`` accepts (the parser's own job, not counted as fed)
    fed: int = 0
    crashes: int = 0  #: modelled Kamailio crashes (KamailioCrash): an outcome, not an escape
    rejected: int = 0  #: inputs a model turned away with a MessageRejected record (dropped or 400/505)
    escapes: list[Escape] = field(default_factory=list)
    #: runs a fuzzed input ended later (a RunError from a timer or an API call the input set up)
    run_errors: list[str] = field(default_factory=list)
    runs: int = 0
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.inputs / self.seconds if self.seconds else 0.0

    def line(self) -> str:
        return (f"receive fuzz: {self.inputs} inputs in {self.seconds:.2f} s ({self.rate:.0f}/s) over "
                f"{self.runs} runs; {self.fed} fed to receive, {self.not_sip} refused by parse, "
                f"{self.rejected} rejected by the models, {self.crashes} modelled crashes, "
                f"{len(self.escapes)} escapes, {len(self.run_errors)} runs ended by a later fault")


# -- mutations -------------------------------------------------------------------------------------
def _split(data: bytes) -> tuple[list[str], bytes]:
    head, sep, body = data.partition(b"\r\n\r\n")
    return head.decode("utf-8", "surrogateescape").split("\r\n"), body


def _join(lines: list[str], body: bytes) -> bytes:
    return "\r\n".join(lines).encode("utf-8", "surrogateescape") + b"\r\n\r\n" + body


def _header_index(lines: list[str], rng: random.Random, names: tuple[str, ...] | None = None) -> int | None:
    idx = [i for i, line in enumerate(lines[1:], 1)
           if names is None or line.partition(":")[0].strip().lower() in names]
    return rng.choice(idx) if idx else None


def flip_bytes(data: bytes, rng: random.Random) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        buf[rng.randrange(len(buf))] = rng.randrange(256)
    return bytes(buf)


def truncate(data: bytes, rng: random.Random) -> bytes:
    return data[: rng.randrange(1, len(data))]


def bad_header_value(data: bytes, rng: random.Random) -> bytes:
    lines, body = _split(data)
    i = _header_index(lines, rng, tuple(BAD_VALUES))
    if i is None:
        return data
    name = lines[i].partition(":")[0]
    lines[i] = f"{name}: {rng.choice(BAD_VALUES[name.strip().lower()])}"
    return _join(lines, body)


def add_header(data: bytes, rng: random.Random) -> bytes:
    lines, body = _split(data)
    name = rng.choice(list(BAD_VALUES))
    lines.insert(rng.randint(1, len(lines)), f"{name}: {rng.choice(BAD_VALUES[name])}")
    return _join(lines, body)


def via_param(data: bytes, rng: random.Random) -> bytes:
    lines, body = _split(data)
    i = _header_index(lines, rng, ("via", "v"))
    if i is None:
        return data
    lines[i] += rng.choice(VIA_PARAMS)
    return _join(lines, body)


def drop_or_repeat_header(data: bytes, rng: random.Random) -> bytes:
    lines, body = _split(data)
    i = _header_index(lines, rng)
    if i is None:
        return data
    if rng.random() < 0.5:
        del lines[i]
    else:
        lines.insert(i, lines[i])
    return _join(lines, body)


def start_line(data: bytes, rng: random.Random) -> bytes:
    lines, body = _split(data)
    parts = lines[0].split(" ", 2)
    if len(parts) < 3:
        return data
    if lines[0].upper().startswith("SIP/"):
        if rng.random() < 0.5:
            parts[0] = rng.choice(VERSIONS)
        else:
            parts[1] = str(rng.choice(STATUSES))
    elif rng.random() < 0.6:
        parts[2] = rng.choice(VERSIONS)
    else:
        parts[0] = rng.choice(("NOTIFY", "PUBLISH", "SUBSCRIBE", "ACK", "OPTIONS", "INFO", "BYE"))
    lines[0] = " ".join(parts)
    return _join(lines, body)


def mangle_body(data: bytes, rng: random.Random) -> bytes:
    lines, body = _split(data)
    if not body:
        return data
    body = body[: rng.randrange(len(body))] + rng.choice((b"", b"<", b"&x;", b"\xff\xfe", b"]]>"))
    lines = [f"Content-Length: {len(body)}" if ln.lower().startswith(("content-length:", "l:")) else ln
             for ln in lines]
    return _join(lines, body)


MUTATIONS: tuple[Callable[[bytes, random.Random], bytes], ...] = (
    flip_bytes, truncate, bad_header_value, bad_header_value, add_header, via_param, via_param,
    drop_or_repeat_header, start_line, start_line, mangle_body,
)


def mutate(data: bytes, rng: random.Random) -> bytes:
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        if len(data) < 2:
            break
        data = rng.choice(MUTATIONS)(data, rng)
    return data


# -- the harness -----------------------------------------------------------------------------------
class ReceiveFuzzer:
    """Wraps a simulation's network delivery; see the module docstring."""

    def __init__(self, rng: random.Random, stats: FuzzStats, per_delivery: int, deadline: float, limit: int) -> None:
        self.rng = rng
        self.stats = stats
        self.per_delivery = per_delivery
        self.deadline = deadline
        self.limit = limit

    def active(self) -> bool:
        return self.stats.inputs < self.limit and time.monotonic() < self.deadline

    def install(self, run: ScenarioRun) -> None:
        sim = run.sim
        original = sim.network._deliver

        def deliver(src: Any, dst: Any, message: Any) -> None:
            node = sim.node_at(dst)
            if node is not None and node.up and sim.error is None:
                for _ in range(self.per_delivery):
                    if not self.active():
                        break
                    self.feed(node, serialise(message), src, sim.kernel.now)
            original(src, dst, message)

        sim.network._deliver = deliver  # type: ignore[method-assign]

    def feed(self, node: Any, wire: bytes, src: Any, now: int) -> None:
        stats = self.stats
        data = mutate(wire, self.rng)
        stats.inputs += 1
        try:
            msg = parse(data)
        except SipParseError:
            stats.not_sip += 1
            return
        stats.fed += 1
        endpoint = node.endpoint
        try:
            endpoint.receive(msg, src, now)
        except KamailioCrash:
            stats.crashes += 1
        except Exception as exc:  # an escape: what this harness exists to find
            stats.escapes.append(Escape(node.name, f"{type(exc).__name__}: {exc}", data))
        # the model's own bookkeeping goes on (timers, trace); what it would send is not put
        # on the network, so one mutated input cannot multiply into many
        effects = endpoint.outbox.take()
        if any(type(e) is Emit and type(e.event) is MessageRejected for e in effects):
            stats.rejected += 1
        node.apply([e for e in effects if type(e) is not Send])


def run_fuzz(seed: int, *, seconds: float, limit: int, per_delivery: int = 3) -> FuzzStats:
    """Run the corpus scenarios under the fuzzer, round after round, until ``seconds`` or ``limit``."""
    stats = FuzzStats()
    rng = random.Random(seed)
    started = time.monotonic()
    deadline = started + seconds
    fuzzer = ReceiveFuzzer(rng, stats, per_delivery, deadline, limit)
    scenarios = [load_scenario(SCENARIOS / name) for name in CORPUS_SCENARIOS]
    while fuzzer.active():
        for scn in scenarios:
            if not fuzzer.active():
                break
            run = ScenarioRun(scn)
            fuzzer.install(run)
            result = run.run()
            stats.runs += 1
            if result.error is not None:  # the corpus runs cleanly unfuzzed (checked by a test)
                stats.run_errors.append(f"{scn.name}: {result.error}")
    stats.seconds = time.monotonic() - started
    return stats
