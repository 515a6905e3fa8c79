"""How much of every lab capture and every exported scenario ``puasim check`` compares, and how much differs.

Each capture is checked the way a user without notes would check it: the pua
module parameters are given (they are configuration, not inputs), nothing
else -- no restart times, no sweep phase, no publication ids.  Scenarios are
run, exported as pcap and checked with their own ``pua.params``.  A capture or
scenario with calls through an edge node (an INVITE reaching it) is also checked
in calls mode (:func:`~puasim.capture.dlgcheck.check_calls`): its dialog PUBLISHes
predicted from the calls, on lines labelled ``calls``.  With ``--cut-registers``
each of those is checked a second time without its REGISTERs and their replies,
as a capture that began after the phones registered (lines labelled ``cut``):
the check then reads the bindings from the INVITEs the node relays.

    python3 benchmarks/check_coverage.py [--lab DIR] [--scenarios DIR] [--cut-registers] [-v] [--only TEXT ...]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import yaml

from puasim.capture import export_pcap
from puasim.capture.check import CheckError, check_capture
from puasim.capture.dlgcheck import calls_through, check_calls
from puasim.capture.reader import read_pcap
from puasim.scenario.runner import discover, load_scenario, run_scenario

ROOT = Path(__file__).resolve().parent.parent
#: the companions lab's edge proxy (proxy.cfg: udp 127.0.0.1:5080)
EDGE = ("127.0.0.1", 5080)
#: pua parameters of the lab runs (start.sh: update_period 10, check_remote_contact 0; per-experiment settings)
LAB_PARAMS: dict[str, dict] = {
    "g2_subscribe_check_remote_contact_1": {"check_remote_contact": 1},
    "d1_refresh_expires30_vs_keepalive": {"default_expires": 30},
    "run1_d2_children2_nowal_sqlite_locked_500": {"default_expires": 600},
    "h2_pua_db_mode2_and_subscribe_crash": {"db_mode": 2},
}
#: the pua node's port where it is not the lab's 5070 (tests/live/subscribe_recovery_lab_driver.py)
LAB_PUA_PORTS = {
    "r1_subscribe_recovery_481_server_restart": 5370,
    "r2_subscribe_recovery_500_once": 5370,
    "r3_subscribe_recovery_481_unsubscribe": 5370,
    "r4_subscribe_recovery_481_indefinite_and_api_change": 5370,
}


def _until(trace, duration: int) -> float:
    """Seconds from the first message of the exported trace to the end of the run."""
    from puasim.trace.events import MessageSent

    first = next((r.time for r in trace if type(r.event) is MessageSent), 0)
    return max(0.0, (duration - first) / 1e6)


def _dialog_calls(trace, node) -> bool:
    """Calls reach ``node`` and it sends dialog PUBLISHes (pua_dialoginfo is loaded)."""
    from puasim.sip.message import Request
    from puasim.trace.events import MessageSent

    return calls_through(trace, node) and any(
        type(r.event) is MessageSent and r.event.src == node and isinstance(r.event.message, Request)
        and r.event.message.method == "PUBLISH" and (r.event.message.get("Event") or "").startswith("dialog")
        for r in trace)


def _without_registers(source):
    """The trace of ``source`` (a pcap path) without REGISTERs and their replies."""
    from puasim.trace.trace import Trace

    src = read_pcap(source)
    out = Trace({k: v for k, v in src.meta.items() if k != "frames"})
    for r in src:
        msg = getattr(r.event, "message", None)
        if msg is not None and (msg.get("CSeq") or "").split()[-1:] == ["REGISTER"]:
            continue
        out.add(r.time, r.node, r.event)
    return out


def _one(label: str, run, verbose: bool) -> tuple[int, int]:
    try:
        report = run()
    except (CheckError, ValueError) as exc:
        print(f"{label:<60} not checked: {exc}", flush=True)
        return 0, 0
    n = len(report.rows)
    bad = sum(1 for r in report.rows if not r.ok)
    print(f"{label:<60} {n:>4} compared {bad:>4} differ{'  FAULT ' + report.fault if report.fault else ''}", flush=True)
    if verbose and (bad or report.fault):
        print(report.format())
    return n, bad


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lab", type=Path, default=ROOT / "tests" / "data" / "lab")
    ap.add_argument("--scenarios", type=Path, default=ROOT / "scenarios")
    ap.add_argument("--cut-registers", action="store_true",
                    help="check each capture with calls again without its REGISTERs")
    ap.add_argument("-v", "--verbose", action="store_true")
    ap.add_argument("-k", "--only", metavar="TEXT", action="append", default=[],
                    help="check only captures and scenarios whose path contains TEXT (repeatable); "
                         "'--only scenario/' leaves the lab captures out")
    args = ap.parse_args(argv)

    def wanted(label: str) -> bool:
        return not args.only or any(text in label for text in args.only)

    totals = {"lab": [0, 0], "scenarios": [0, 0], "calls": [0, 0]}
    if args.cut_registers:
        totals["calls without REGISTERs"] = [0, 0]

    def calls(label: str, source: Path, node, params: dict) -> None:
        n, bad = _one(f"calls {label}", lambda: check_calls(source, node_address=node, params=params), args.verbose)
        totals["calls"][0] += n
        totals["calls"][1] += bad
        if args.cut_registers:
            n, bad = _one(f"cut   {label}", lambda: check_calls(_without_registers(source), node_address=node,
                                                                params=params), args.verbose)
            totals["calls without REGISTERs"][0] += n
            totals["calls without REGISTERs"][1] += bad

    for pcap in sorted(args.lab.rglob("*.pcap")):
        if not wanted(f"lab/{pcap.parent.name}/{pcap.name}"):
            continue
        params = {"update_period": 10, "check_remote_contact": 0, **LAB_PARAMS.get(pcap.stem, {})}
        port = LAB_PUA_PORTS.get(pcap.stem, 5070)
        n, bad = _one(f"lab/{pcap.parent.name}/{pcap.name}",
                      lambda p=pcap, q=params, o=port: check_capture(p, pua_port=o, params=q), args.verbose)
        totals["lab"][0] += n
        totals["lab"][1] += bad
        if _dialog_calls(read_pcap(pcap), EDGE):
            calls(f"lab/{pcap.parent.name}/{pcap.name}", pcap, EDGE, {"update_period": 10})
    with tempfile.TemporaryDirectory() as tmp:
        for path in discover([args.scenarios]):
            if not wanted(f"scenario/{path.relative_to(args.scenarios)}"):
                continue
            scn = load_scenario(path)
            raw = yaml.safe_load(path.read_text()) or {}
            spec = raw.get("pua") or {}
            params = {k: v for k, v in (spec.get("params") or {}).items() if k != "outbound_proxy"}
            if "profile" in spec:
                params["profile"] = spec["profile"]
            if (spec.get("db") or {}).get("shutdown_flush"):
                # the scenario's shutdown flush is what repair B11 does: the pua setting a user gives check
                repairs = str(params.get("repairs") or "")
                params["repairs"] = ",".join(x for x in (repairs, "B11") if x)
            label = f"scenario/{path.relative_to(args.scenarios)}"
            if any(isinstance(step, dict) and step.get("do") == "send" and (step.get("with") or {}).get("from") == "pua"
                   for step in raw.get("steps") or []):
                # the requests from the pua's address are written by hand, not made by pua
                print(f"{label:<60} not checked: its requests from the pua's address are hand-written (send steps)")
                continue
            result = run_scenario(scn)
            out = Path(tmp) / (path.stem + ".pcap")
            export_pcap(result.trace, out)
            n, bad = _one(
                f"scenario/{path.relative_to(args.scenarios)}",
                lambda o=out, q=params, s=scn, t=result.trace: check_capture(o, pua_address=s.pua_address, params=q,
                                                             until=_until(t, s.duration)),
                args.verbose,
            )
            totals["scenarios"][0] += n
            totals["scenarios"][1] += bad
            if _dialog_calls(result.trace, scn.pua_address):
                calls(f"scenario/{path.relative_to(args.scenarios)}", out, scn.pua_address, params)
    for key, (n, bad) in totals.items():
        print(f"{key}: {n} requests compared, {bad} differ")
    return 0


if __name__ == "__main__":
    sys.exit(main())
