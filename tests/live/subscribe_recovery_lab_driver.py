"""The driver that made the ``r*_subscribe_recovery_*`` lab captures (kept to redo them).

A real Kamailio pua node (pua + pua_rpc, puasim's ``pua-node.cfg``, the
lab's knobs: db_mode 0, ``check_remote_contact`` 0, ``update_period`` 10)
subscribes over JSON-RPC to a real Kamailio presence server (puasim's
``presence-server.cfg``, ``max_expires`` 30, a fresh SQLite DB) while
``dumpcap`` captures the SIP traffic on ``lo``.  Each flow makes an in-dialog
SUBSCRIBE meet an error reply, after which pua sends a new initial SUBSCRIBE
by itself (pua-reference §4.6 row 6, §4.6.1):

* ``restart`` (``r1_subscribe_recovery_481_server_restart``): ``pua.subscribe``
  for 60 s (granted 30); 5 s later the presence server is restarted with an
  empty DB, so the sweep's refresh at about +20 s gets 481.
* ``fail500`` (``r2_subscribe_recovery_500_once``): the same subscription; the
  server's script answers the first in-dialog SUBSCRIBE it sees with
  ``500`` (:data:`FAIL_ONCE`, added to a copy of ``presence-server.cfg``) and
  handles every other request as usual.
* ``unsubscribe`` (``r3_subscribe_recovery_481_unsubscribe``): the
  subscription, a server restart at +3 s, then ``pua.subscribe ... 0`` at
  +6 s: the un-SUBSCRIBE gets 481 within the same second (§10 B5).
* ``indefinite`` (``r4_subscribe_recovery_481_indefinite_and_api_change``):
  ``pua.subscribe`` with expires −1; a server restart at +5 s makes the
  sweep's refresh meet 481; a second restart at +35 s, then
  ``pua.subscribe ... 120`` at +38 s: the API's in-dialog SUBSCRIBE meets 481.

Addresses: server 127.0.0.1:5360, pua node 127.0.0.1:5370 (JSON-RPC on TCP
5371), presentity ``sip:alice@127.0.0.1:5360`` (pua.subscribe gives no
outbound proxy, so the initial SUBSCRIBE goes where its Request-URI points),
watcher ``sip:bob@127.0.0.1:5370``.  Ports outside the free-port range the
live tests draw from.  Run as root (capturing on lo), one at a time with the
other live work::

    flock /tmp/puasim-live.lock env PYTHONPATH=. python3 tests/live/subscribe_recovery_lab_driver.py OUT_DIR [FLOW ...]

For each flow it writes ``NAME.pcap`` (classic pcap, as dumpcap saw it) and
``NAME.txt`` (every SIP message as text, the lab's format) into OUT_DIR, and
prints the RPC answers with their times.  Every process it starts (two
Kamailio instances, dumpcap) is stopped by its PID before it returns.  Not a
test: ``tests/capture/test_lab_subscribe_recovery.py`` checks the captures.
"""

from __future__ import annotations

import datetime
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from puasim.live.kamailio import (
    CONFIG_DIR,
    JsonRpc,
    KamailioProcess,
    _db_url,
    _start,
    create_sqlite_db,
    start_presence_server,
    start_pua_node,
)

SERVER = ("127.0.0.1", 5360)
PUA = ("127.0.0.1", 5370)
RPC_PORT = 5371
PRESENTITY = f"sip:alice@{SERVER[0]}:{SERVER[1]}"
WATCHER = f"sip:bob@{PUA[0]}:{PUA[1]}"
PUA_PARAMS = {"update_period": 10, "db_mode": 0, "check_remote_contact": 0}
MAX_EXPIRES = 30

#: what the ``fail500`` flow adds to presence-server.cfg: a shared variable counting the
#: failures still to make, and a check before the SUBSCRIBE goes to the presence module
FAIL_ONCE = """
modparam("pv", "shvset", "fail_left=i:1")

route[FAIL_ONCE] {
	if (is_method("SUBSCRIBE") && has_totag() && $shv(fail_left) > 0) {
		$shv(fail_left) = $shv(fail_left) - 1;
		xlog("L_INFO", "in-dialog SUBSCRIBE answered FAIL_CODE on purpose\\n");
		t_reply("FAIL_CODE", "Server Error (puasim lab)");
		exit;
	}
}
"""


def log(text: str) -> None:
    print(f"{datetime.datetime.now(datetime.UTC).strftime('%H:%M:%S.%f')[:-3]} {text}", flush=True)


class Dumpcap:
    """``dumpcap`` on lo for the two SIP ports, stopped by its PID (SIGINT, then SIGTERM)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        ports = f"udp and (port {SERVER[1]} or port {PUA[1]})"
        self.err = open(path.with_suffix(".dumpcap.log"), "wb")
        self.proc = subprocess.Popen(["dumpcap", "-q", "-i", "lo", "-P", "-f", ports, "-w", str(path)],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self.err,
                                     start_new_session=True)
        for _ in range(50):
            if path.exists() and path.stat().st_size > 0:
                break
            time.sleep(0.1)
        time.sleep(1.0)  # the packet socket sees loopback traffic a moment after it opens

    def stop(self) -> None:
        time.sleep(1.0)  # the last packets
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGTERM)
                self.proc.wait(5)
        self.err.close()
        self.path.with_suffix(".dumpcap.log").unlink(missing_ok=True)


def start_server(rundir: Path, fail_code: int | None = None) -> KamailioProcess:
    """The presence server on :data:`SERVER` with an empty DB; with ``fail_code``, the
    copy of presence-server.cfg that answers the first in-dialog SUBSCRIBE so."""
    if fail_code is None:
        return start_presence_server(rundir, host=SERVER[0], port=SERVER[1], max_expires=MAX_EXPIRES)
    rundir.mkdir(parents=True, exist_ok=True)
    text = (CONFIG_DIR / "presence-server.cfg").read_text()
    text = text.replace("\t\t} else {\n\t\t\thandle_subscribe();",
                        "\t\t} else {\n\t\t\troute(FAIL_ONCE);\n\t\t\thandle_subscribe();")
    if "route(FAIL_ONCE)" not in text:
        raise SystemExit("presence-server.cfg changed: the FAIL_ONCE hook no longer fits")
    cfg = rundir / "presence-server-fail-once.cfg"
    cfg.write_text(text + FAIL_ONCE.replace("FAIL_CODE", str(fail_code)))
    db = create_sqlite_db(rundir / "presence.sqlite")
    hp = f"{SERVER[0]}:{SERVER[1]}"
    defines = {"DB_URL": _db_url(db), "SERVER_ADDRESS": f"sip:presence@{hp}", "PRES_MAX_EXPIRES": MAX_EXPIRES,
               "PRES_MIN_EXPIRES": 0, "PRES_PUBL_CACHE": 0}
    return _start("presence server (fail once)", cfg, rundir, [f"udp:{hp}"], SERVER, defines, db, None, 10.0)


def rpc_call(rpc: JsonRpc, *args: object) -> None:
    log(f"rpc {' '.join(str(a) for a in args)} -> {rpc.call(*args)}")


def flow_restart(work: Path, rpc: JsonRpc, server: list[KamailioProcess]) -> float:
    rpc_call(rpc, "pua.subscribe", PRESENTITY, WATCHER, "presence", 60)
    time.sleep(5)
    restart_server(work, server)
    return 80  # refresh, 481, recovery, its refresh, the lapse and the server's terminated NOTIFY


def flow_fail500(work: Path, rpc: JsonRpc, server: list[KamailioProcess]) -> float:
    rpc_call(rpc, "pua.subscribe", PRESENTITY, WATCHER, "presence", 60)
    return 85


def flow_unsubscribe(work: Path, rpc: JsonRpc, server: list[KamailioProcess]) -> float:
    rpc_call(rpc, "pua.subscribe", PRESENTITY, WATCHER, "presence", 60)
    time.sleep(3)
    restart_server(work, server)
    time.sleep(3)
    rpc_call(rpc, "pua.subscribe", PRESENTITY, WATCHER, "presence", 0)
    return 30  # the 13-s recovery subscription lapses and the server says so


def flow_indefinite(work: Path, rpc: JsonRpc, server: list[KamailioProcess]) -> float:
    rpc_call(rpc, "pua.subscribe", PRESENTITY, WATCHER, "presence", -1)
    time.sleep(5)
    restart_server(work, server)
    time.sleep(30)  # the sweep's refresh (about +20..25 s) meets 481, pua re-subscribes
    restart_server(work, server)
    time.sleep(3)
    rpc_call(rpc, "pua.subscribe", PRESENTITY, WATCHER, "presence", 120)
    return 32  # the API's in-dialog SUBSCRIBE meets 481, pua re-subscribes; one more sweep refresh


def restart_server(work: Path, server: list[KamailioProcess]) -> None:
    old = server.pop()
    log(f"stopping the presence server (pid {old.pid})")
    old.stop()
    server.append(start_server(work / "server2"))
    log(f"presence server restarted with an empty DB (pid {server[-1].pid})")


FLOWS: dict[str, tuple[str, Callable[[Path, JsonRpc, list[KamailioProcess]], float], int | None]] = {
    "restart": ("r1_subscribe_recovery_481_server_restart", flow_restart, None),
    "fail500": ("r2_subscribe_recovery_500_once", flow_fail500, 500),
    "unsubscribe": ("r3_subscribe_recovery_481_unsubscribe", flow_unsubscribe, None),
    "indefinite": ("r4_subscribe_recovery_481_indefinite_and_api_change", flow_indefinite, None),
}


def run_flow(flow: str, out: Path) -> None:
    name, body, fail_code = FLOWS[flow]
    log(f"--- {flow}: {name}")
    with tempfile.TemporaryDirectory(prefix="puasim-subrec-") as tmp:
        work = Path(tmp)
        server: list[KamailioProcess] = []
        pua: KamailioProcess | None = None
        cap: Dumpcap | None = None
        try:
            server.append(start_server(work / "server", fail_code))
            cap = Dumpcap(out / f"{name}.pcap")
            pua = start_pua_node(work / "pua", SERVER, host=PUA[0], port=PUA[1], rpc_port=RPC_PORT, params=PUA_PARAMS)
            log(f"server pid {server[0].pid}, pua node pid {pua.pid}")
            rpc = JsonRpc(pua.rpc or (PUA[0], RPC_PORT))
            wait = body(work, rpc, server)
            time.sleep(wait)
        finally:
            if pua is not None:
                pua.stop()
            for srv in server:
                srv.stop()
            if cap is not None:
                cap.stop()
    write_text(out / f"{name}.pcap", out / f"{name}.txt")
    log(f"wrote {out / name}.pcap and .txt")


def write_text(pcap: Path, txt: Path) -> None:
    """Every SIP datagram of ``pcap`` as text: a line with time, offset, addresses, size, then the message."""
    from scapy.layers.inet import IP, UDP
    from scapy.utils import rdpcap

    lines: list[str] = []
    first = None
    for pkt in rdpcap(str(pcap)):
        if UDP not in pkt or IP not in pkt:
            continue
        ts = float(pkt.time)
        first = ts if first is None else first
        data = bytes(pkt[UDP].payload)
        stamp = datetime.datetime.fromtimestamp(ts, datetime.UTC).strftime("%H:%M:%S.%f")[:-3]
        lines.append(f"----- {stamp} (+{ts - first:.3f}s) {pkt[IP].src}:{pkt[UDP].sport} -> "
                     f"{pkt[IP].dst}:{pkt[UDP].dport} ({len(data)} bytes)")
        lines.append(data.decode("utf-8", "replace").replace("\r\n", "\n").rstrip("\n"))
        lines.append("")
    txt.write_text("\n".join(lines) + "\n")


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__)
        return 2
    out = Path(argv[0])
    out.mkdir(parents=True, exist_ok=True)
    flows = argv[1:] or list(FLOWS)
    unknown = [f for f in flows if f not in FLOWS]
    if unknown:
        print(f"unknown flow(s) {', '.join(unknown)}; known: {', '.join(FLOWS)}", file=sys.stderr)
        return 2
    for flow in flows:
        run_flow(flow, out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
