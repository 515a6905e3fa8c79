"""The differential experiment: the same pua_rpc calls through a real Kamailio pua node and
through puasim's model on the live driver, each against its own real presence server."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from puasim.capture.reader import read_pcap
from puasim.live.driver import LiveDriver
from puasim.live.kamailio import JsonRpc, KamailioProcess, start_presence_server, start_pua_node
from puasim.live.sniff import LoopbackCapture
from puasim.pua.config import load_config
from puasim.trace.trace import Trace

REPO = Path(__file__).resolve().parents[2]
OPEN = (REPO / "scenarios" / "bodies" / "pidf-open.xml").read_text()
CLOSED = (REPO / "scenarios" / "bodies" / "pidf-closed.xml").read_text()


def body(user: str, text: str) -> str:
    return text.replace("alice", user)


#: pua module parameters of both PUAs and the server's max_expires: grants of 10 s make
#: refreshes come every ~5 s from the 1 s sweep (update_period 6)
PUA_PARAMS = {"update_period": 6}
MAX_EXPIRES = 10


def schedule(watcher: str, server: tuple[str, int]) -> list[tuple[float, str, list[Any]]]:
    """(time, RPC method, params): initial, modify, removal, a finite publication refreshed
    until its wish is met, a keep-alive (-1) one, a subscription with refreshes and its end.

    pua.subscribe sends to the presentity's host and port (no outbound proxy), so
    carol's URI carries the server's port."""
    pub = "pua.publish"
    carol = f"sip:carol@{server[0]}:{server[1]}"
    return [
        (0.2, pub, ["sip:alice@127.0.0.1", "3600", "presence", "application/pidf+xml", ".", ".", ".", ".", body("alice", OPEN)]),
        (0.6, pub, ["sip:alice@127.0.0.1", "3600", "presence", "application/pidf+xml", ".", ".", ".", ".", body("alice", CLOSED)]),
        (1.0, pub, ["sip:alice@127.0.0.1", "0", "presence", ".", ".", ".", ".", "."]),
        (1.3, pub, ["sip:bob@127.0.0.1", "16", "presence", "application/pidf+xml", ".", ".", ".", ".", body("bob", OPEN)]),
        (1.6, pub, [carol, "-1", "presence", "application/pidf+xml", ".", ".", ".", ".", body("carol", OPEN)]),
        (1.9, "pua.subscribe", [carol, watcher, "presence", 25]),
        (2.2, pub, ["sip:dave@127.0.0.1", "60", "presence", ".", ".", "a.1.2.3.4", ".", ".", body("dave", OPEN)]),
        # carol's second refresh leaves between ~10.5 and ~12.7 s whatever the sweep phase
        (13.2, pub, [carol, "0", "presence", ".", ".", ".", ".", "."]),
        (13.5, "pua.subscribe", [carol, watcher, "presence", 0]),
    ]


DURATION = 14.5


@dataclass
class Side:
    trace: Trace
    pua: tuple[str, int]
    server: tuple[str, int]
    answers: list[Any]


def run_kamailio_side(root: Path) -> tuple[Side, KamailioProcess]:
    """Side A: a Kamailio pua node driven over JSON-RPC, captured on lo."""
    srv = start_presence_server(root / "srv-a", max_expires=MAX_EXPIRES)
    node = None
    try:
        node = start_pua_node(root / "pua-a", srv.sip, params=PUA_PARAMS)
        assert node.rpc is not None
        rpc = JsonRpc(node.rpc)
        cap = LoopbackCapture([node.sip[1]])
        cap.start()
        answers: list[Any] = []
        t0 = time.monotonic()
        watcher = f"sip:watcher@127.0.0.1:{node.sip[1]}"
        for at, method, params in schedule(watcher, srv.sip):
            time.sleep(max(0.0, t0 + at - time.monotonic()))
            answers.append(rpc.call(method, *params))
        time.sleep(max(0.0, t0 + DURATION - time.monotonic()))
        cap.stop()
        cap.write(root / "kamailio-pua.pcap")
        trace = read_pcap(root / "kamailio-pua.pcap")
        return Side(trace, node.sip, srv.sip, answers), node
    finally:
        if node is not None:
            node.stop()
        srv.stop()


async def _model_side(server: tuple[str, int]) -> Side:
    from puasim.companions.rpc import PuaRpc
    from puasim.pua.model import Pua

    cfg = load_config({**PUA_PARAMS, "outbound_proxy": f"sip:{server[0]}:{server[1]}", "check_remote_contact": 0})
    driver = LiveDriver(names={server: "server"})
    box: dict[str, Any] = {}

    def make(addr: tuple[str, int]) -> Pua:
        pua = Pua(cfg, host=addr[0], port=addr[1], rng=random.Random(1), epoch=int(driver.epoch))
        box["rpc"] = PuaRpc(pua)
        return pua

    driver.begin()
    node = await driver.open("pua", ("127.0.0.1", 0), make)
    rpc = box["rpc"]
    answers: list[Any] = []
    watcher = f"sip:watcher@127.0.0.1:{node.address[1]}"
    loop = asyncio.get_running_loop()

    def call(method: str, params: list[Any]) -> None:
        now = driver.now()
        args = [str(p) for p in params]
        if method == "pua.publish":
            answers.append(node.call(method, rpc.publish, args, now, True))
        else:
            answers.append(node.call(method, rpc.subscribe, args, now))

    for at, method, params in schedule(watcher, server):
        loop.call_at(driver.clock.loop_time(int(at * 1e6)), call, method, params)
    await driver.run_until(int(DURATION * 1e6))
    driver.close()
    return Side(driver.trace, node.address, server, answers)


def run_model_side(root: Path) -> Side:
    """Side B: puasim's Pua + PuaRpc on the live driver."""
    srv = start_presence_server(root / "srv-b", max_expires=MAX_EXPIRES)
    try:
        return asyncio.run(_model_side(srv.sip))
    finally:
        srv.stop()


def run_both(root: Path) -> tuple[Side, Side]:
    """Both sides at once (threads), so the experiment costs its duration once."""
    out: dict[str, Any] = {}

    def side_a() -> None:
        try:
            out["a"] = run_kamailio_side(root)[0]
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller
            out["a_error"] = exc

    t = threading.Thread(target=side_a)
    t.start()
    try:
        out["b"] = run_model_side(root)
    finally:
        t.join(60)
    if "a_error" in out:
        raise out["a_error"]
    return out["a"], out["b"]
