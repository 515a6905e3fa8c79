"""What others send never ends a live run (issue 16, item 3): a bounded flood on loopback.

No Kamailio: the PUA model runs against puasim's simulated presence server on
real sockets while a third local socket floods the PUA's port.  The flood is
bounded in count and in time.
"""

from __future__ import annotations

import asyncio
import random
import socket
import time

from puasim.effects import Outbox
from puasim.live.driver import LiveDriver
from puasim.live.scenario import run_live_async
from puasim.scenario.runner import load_scenario
from puasim.server.endpoint import PresenceServer
from puasim.trace.events import MessageSent, Note

from .conftest import HERE

#: more than the old fixed budget of 10,000 datagrams in and out that a flood could exhaust
FLOOD = 12_000
GARBAGE = b"OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nVia: nonsense\r\n\r\n"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _flood(port: int, count: int, seconds: float, batch: int = 50) -> int:
    """Send up to ``count`` datagrams to ``port`` within ``seconds``, yielding between batches."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setblocking(False)
    sent = 0
    deadline = time.monotonic() + seconds
    try:
        await asyncio.sleep(0.15)  # the PUA's socket is bound by now
        while sent < count and time.monotonic() < deadline:
            for _ in range(batch):
                try:
                    sock.sendto(GARBAGE, ("127.0.0.1", port))
                except (BlockingIOError, ConnectionRefusedError):
                    break
                sent += 1
            await asyncio.sleep(0.001)
    finally:
        sock.close()
    return sent


def test_a_flood_from_a_stranger_is_counted_and_dropped_and_the_run_passes() -> None:
    scn = load_scenario(HERE / "scenarios" / "publish_modify_remove.yaml")
    port = _free_port()

    async def go():
        srv = LiveDriver()
        srv.begin()
        node = await srv.open(
            "server", ("127.0.0.1", 0),
            lambda a: PresenceServer(a[0], a[1], "kamailio", random.Random(7), epoch=int(srv.epoch)),
        )
        try:
            run = asyncio.create_task(run_live_async(scn, node.address, bind=("127.0.0.1", port), grace=0.2))
            # large batches: a loaded machine must still send the whole flood while the run lasts
            flooded = await _flood(port, FLOOD, 2.0, batch=500)
            return await run, flooded
        finally:
            srv.close()

    started = time.monotonic()
    result, flooded = asyncio.run(go())
    assert time.monotonic() - started < 15
    assert flooded > 10_000
    assert result.error is None and result.passed, (result.error, [f.message for f in result.failures])
    report = [n for n in result.notes if n.startswith("received datagrams dropped unread")]
    assert report and "from unexpected sources" in report[0], result.notes
    assert any(type(r.event) is Note and r.event.text == report[0] for r in result.trace)
    # the strangers' datagrams were never read: no trace record names them
    assert all(r.node in ("pua", "server") for r in result.trace if type(r.event) is MessageSent)


def test_a_burst_from_the_expected_peer_beyond_the_rate_is_dropped_not_fatal() -> None:
    async def go():
        drv = LiveDriver(max_rate=50)  # no peers given: any source is read, only the rate limit acts
        drv.begin()
        seen: list = []

        class Sink:
            outbox = Outbox()

            def receive(self, message, src, now):
                seen.append(message)

        node = await drv.open("pua", ("127.0.0.1", 0), lambda a: Sink())
        flooded = await _flood(node.address[1], 1_000, 1.0)
        await drv.run_for(0.1)
        drv.close()
        return drv, flooded, seen

    drv, flooded, seen = asyncio.run(go())
    assert drv.error is None
    assert drv.dropped["rate"] > 0 and drv.dropped["stranger"] == 0
    # the bucket: one second's worth up front plus the refill over the flood's time
    assert len(seen) <= 50 + 50 * 1.5
    # the kernel may lose some of a burst on loopback; what arrived is all accounted for
    assert drv.handled + drv.dropped["rate"] == drv.received <= flooded
    assert drv.received > 500
    assert "over the rate limit of 50/s" in drv.drop_report()
