"""The ``puasim`` command line.

``puasim run PATH...``      run scenario files/folders, print a verdict table, write reports/
``puasim validate PATH...`` check scenario files without running them
``puasim show TRACE``       print a JSON-lines trace as a text ladder
``puasim report RUN``       HTML timing reports (+ CSV/Parquet) of a trace file or a folder of them
``puasim pcap TRACE OUT``   a trace as a pcap file for Wireshark/tshark
``puasim check CAPTURE``    a capture of a real PUA checked against the model
``puasim live SCENARIO``    a scenario (or a captured flow) against a real SIP server on loopback
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from puasim import __version__


def _cmd_run(args: argparse.Namespace) -> int:
    from puasim.scenario.loader import ScenarioError
    from puasim.scenario.runner import discover, load_scenario, run_scenario
    from puasim.trace.codec import write_jsonl

    files = discover(args.paths)
    if not files:
        print(f"puasim: no scenario files under {' '.join(map(str, args.paths))}", file=sys.stderr)
        return 2
    out = Path(args.out)
    traces = out / "traces"
    if not args.no_write:
        traces.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    failed = 0
    width = max(len(f.stem) for f in files)
    print(f"{'scenario':<{width}}  {'result':<6}  {'virtual s':>10}  {'msgs':>5}  {'wall s':>7}")
    for f in files:
        try:
            scn = load_scenario(f)
        except ScenarioError as exc:
            failed += 1
            print(f"{f.stem:<{width}}  {'ERROR':<6}  {exc}")
            rows.append({"scenario": f.stem, "file": str(f), "result": "invalid", "error": str(exc)})
            continue
        result = run_scenario(scn)
        if not result.passed:
            failed += 1
        print(
            f"{result.name:<{width}}  {result.verdict:<6}  {result.virtual_time / 1e6:>10.1f}  "
            f"{result.messages:>5}  {result.wall_time:>7.3f}",
            flush=True,
        )
        for fail in result.failures:
            where = f"{f}:{fail.line}" if fail.line else str(f)
            print(f"    {where}: {fail.kind}: {fail.message}")
            if args.verbose and fail.context:
                print("\n".join("        " + line for line in fail.context.splitlines()))
        row = {
            "scenario": result.name, "file": str(f), "result": "pass" if result.passed else "fail",
            "virtual_time_s": result.virtual_time / 1e6, "messages": result.messages,
            "wall_time_s": round(result.wall_time, 4), "digest": result.trace.digest(),
            "refs": result.refs, "failures": [f"{x.kind}: {x.message}" for x in result.failures],
        }
        rows.append(row)
        if not args.no_write:
            write_jsonl(result.trace, traces / f"{result.name}.jsonl")
        if args.report and not args.no_write:
            try:
                from puasim.report.html import write_report
            except ImportError as exc:
                print(f"    (no report: {exc})")
            else:
                report = write_report(result.trace, out / result.name, title=result.name, verdict=row)
                print(f"    report: {report}")
    total = len(rows)
    print(f"\n{total - failed} passed, {failed} failed")
    if not args.no_write:
        out.mkdir(parents=True, exist_ok=True)
        (out / "summary.json").write_text(json.dumps(rows, indent=2) + "\n")
        lines = [f"{r['result']:<7} {r['scenario']}" for r in rows]
        (out / "summary.txt").write_text("\n".join(lines) + f"\n\n{total - failed} passed, {failed} failed\n")
        print(f"summary written to {out / 'summary.txt'} and {out / 'summary.json'}; traces in {traces}")
    return 1 if failed else 0


def _cmd_validate(args: argparse.Namespace) -> int:
    from puasim.scenario.loader import ScenarioError
    from puasim.scenario.runner import discover, load_scenario

    bad = 0
    for f in discover(args.paths):
        try:
            load_scenario(f)
        except ScenarioError as exc:
            bad += 1
            print(exc)
        else:
            print(f"ok  {f}")
    return 1 if bad else 0


def _cmd_show(args: argparse.Namespace) -> int:
    from puasim.trace.codec import TraceFormatError, read_jsonl
    from puasim.trace.text import format_records

    try:
        trace = read_jsonl(args.trace)
    except (OSError, TraceFormatError) as exc:
        print(f"puasim: {exc}", file=sys.stderr)
        return 2
    print(format_records(trace, timers=args.timers))
    return 0


def _cmd_pcap(args: argparse.Namespace) -> int:
    from puasim.capture import export_pcap
    from puasim.trace.codec import TraceFormatError, read_jsonl

    try:
        trace = read_jsonl(args.trace)
    except (OSError, TraceFormatError) as exc:
        print(f"puasim: {exc}", file=sys.stderr)
        return 2
    export_pcap(trace, args.out, fmt="pcapng" if args.out.endswith(".pcapng") else "pcap", drops=args.drops)
    print(f"wrote {args.out}")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    try:
        from puasim.report.batch import write_reports
    except ImportError as exc:
        print(f"puasim: reports need pandas and matplotlib (pip install puasim[report]): {exc}", file=sys.stderr)
        return 2
    try:
        entries = write_reports(
            args.run, args.out, ladder_page_limit=args.pages, write_data=not args.no_data, progress=print
        )
    except FileNotFoundError as exc:
        print(f"puasim: {exc}", file=sys.stderr)
        return 2
    return 1 if any(e.get("error") for e in entries) else 0


def _param_value(text: str) -> object:
    return int(text) if text.lstrip("-").isdigit() else text


def _cmd_check(args: argparse.Namespace) -> int:
    """``puasim check``: a real PUA's capture against the model (puasim.capture.check)."""
    from puasim.capture import CaptureError
    from puasim.capture.check import CheckError, check_capture
    from puasim.pua.config import PuaStartupError
    from puasim.pua.constants import Source

    params: dict[str, object] = {}
    for item in args.params or []:
        key, sep, value = item.partition("=")
        if not sep:
            print(f"puasim check: --params wants name=value, got {item!r}", file=sys.stderr)
            return 2
        params[key.strip()] = _param_value(value.strip())
    ids: dict[str, str] = {}
    for item in args.id or []:
        uri, sep, value = item.rpartition("=")
        if not sep:
            print(f"puasim check: --id wants URI=ID, got {item!r}", file=sys.stderr)
            return 2
        ids[uri] = value
    pua_address = None
    if args.pua:
        host, _, port = args.pua.rpartition(":")
        pua_address = (host.strip("[]"), int(port))
    try:
        source = int(Source[args.source])
    except KeyError:
        print(f"puasim check: unknown source flag {args.source!r}", file=sys.stderr)
        return 2
    try:
        report = check_capture(
            args.capture, pua_port=args.pua_port, pua_address=pua_address, params=params, source_flag=source,
            tolerance=args.tolerance, until=args.until, restarts=args.restart_at or (),
            phase=args.phase if args.phase == "auto" else float(args.phase), ids=ids, db_quirks=args.db_quirks,
        )
    except (OSError, CaptureError, CheckError, PuaStartupError, ValueError) as exc:
        print(f"puasim check: {exc}", file=sys.stderr)
        return 2
    print(report.format())
    if args.model_trace:
        from puasim.trace.codec import write_jsonl

        write_jsonl(report.model_trace, args.model_trace)  # type: ignore[arg-type]
        print(f"model trace written to {args.model_trace}")
    return 0 if report.ok else 1


def _add_check_parser(sub: argparse._SubParsersAction) -> None:
    c = sub.add_parser("check", help="check a capture of a real PUA against the model (exit 1 on differences)")
    c.add_argument("capture", help="pcap/pcapng of a real PUA talking to a presence server")
    c.add_argument("--pua-port", type=int, default=5070, help="UDP port of the real PUA (default 5070)")
    c.add_argument("--pua", help="host:port of the real PUA (instead of --pua-port)")
    c.add_argument("--params", nargs="*", action="extend", metavar="NAME=VALUE",
                   help="pua module parameters the real PUA ran with, e.g. update_period=10")
    c.add_argument("--until", type=float, help="seconds the capture ran after its first packet")
    c.add_argument("--restart-at", type=float, action="append", metavar="SECONDS",
                   help="the real PUA restarted then (seconds after the first packet); repeatable")
    c.add_argument("--tolerance", type=float, default=1.0, help="timing tolerance of refreshes in seconds")
    c.add_argument("--phase", default="auto", help="'auto' or the time (s) of one sweep tick of the real PUA")
    c.add_argument("--id", action="append", metavar="URI=ID", help="publication id used for a presentity")
    c.add_argument("--source", default="RPC_ASYN_PUBLISH", help="source flag of the inferred API calls")
    c.add_argument("--db-quirks", default="db_sqlite-5.6", choices=("db_sqlite-5.6", "generic"),
                   help="DB driver behind the real PUA's pua table (default: Debian's db_sqlite 5.6)")
    c.add_argument("--model-trace", metavar="FILE", help="write the model's trace (JSON lines)")
    c.set_defaults(func=_cmd_check)


def _cmd_live(args: argparse.Namespace) -> int:
    """``puasim live``: a scenario (or a captured flow: replay) against a real server."""
    from puasim.live.driver import LiveSafetyError
    from puasim.live.sniff import CaptureUnavailable
    from puasim.scenario.loader import ScenarioError
    from puasim.trace.codec import write_jsonl

    host, _, port = args.server.rpartition(":")
    if not port.isdigit() or not host:
        print(f"puasim live: --server wants host:port, got {args.server!r}", file=sys.stderr)
        return 2
    server = (host.strip("[]"), int(port))
    bind_host, _, bind_port = args.bind.rpartition(":")
    bind = (bind_host.strip("[]"), int(bind_port or 0))
    target = Path(args.target)
    try:
        if target.suffix in (".pcap", ".pcapng", ".cap"):
            from puasim.live.replay import replay_live

            report, trace = replay_live(str(target), args.pua_port, server, bind=bind, speed=args.speed,
                                        allow_remote=args.allow_remote)
            print(report.format())
            ok = report.ok
        else:
            from puasim.live.scenario import run_live

            result = run_live(target, server, bind=bind, allow_remote=args.allow_remote, capture=args.capture)
            trace = result.trace
            for text in result.skipped_steps + result.skipped_expectations + result.notes:
                print(f"note: {text}")
            print(f"{result.name}: {result.verdict} ({result.messages} messages, {result.wall_time:.1f} s)")
            for fail in result.failures:
                print(f"    {target}:{fail.line or ''}: {fail.kind}: {fail.message}")
                if args.verbose and fail.context:
                    print("\n".join("        " + line for line in fail.context.splitlines()))
            if result.capture:
                print(f"capture written to {result.capture}")
            ok = result.passed
    except LiveSafetyError as exc:
        print(f"puasim live: refused: {exc}", file=sys.stderr)
        return 2
    except (OSError, ScenarioError, ValueError, CaptureUnavailable) as exc:
        print(f"puasim live: {exc}", file=sys.stderr)
        return 2
    if not args.no_write:
        out = Path(args.trace) if args.trace else Path(args.out) / "live" / f"{target.stem}.jsonl"
        out.parent.mkdir(parents=True, exist_ok=True)
        write_jsonl(trace, out)
        print(f"trace written to {out}")
    return 0 if ok else 1


def _add_live_parser(sub: argparse._SubParsersAction) -> None:
    lv = sub.add_parser("live", help="run a scenario (or replay a capture) against a real SIP server")
    lv.add_argument("target", help="a scenario file, or a pcap whose PUA side is replayed")
    lv.add_argument("--server", required=True, help="host:port of the real presence server (loopback only)")
    lv.add_argument("--bind", default="127.0.0.1:0", help="local host:port of puasim's socket (default any port)")
    lv.add_argument("--capture", metavar="PCAP", help="capture the run on lo into this file (needs root)")
    lv.add_argument("--trace", metavar="FILE", help="where the live trace goes (default OUT/live/NAME.jsonl)")
    lv.add_argument("--out", default="reports", help="folder of the default trace file (default: reports)")
    lv.add_argument("--no-write", action="store_true", help="write no trace file")
    lv.add_argument("--speed", type=float, default=1.0, help="replay: play the capture this many times faster")
    lv.add_argument("--pua-port", type=int, default=5070, help="replay: UDP port of the PUA in the capture")
    lv.add_argument("--allow-remote", action="store_true", help="allow non-loopback addresses (off by default)")
    lv.add_argument("-v", "--verbose", action="store_true", help="show the trace around each failure")
    lv.set_defaults(func=_cmd_live)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="puasim", description="Simulate and test SIP presence user agents (Kamailio pua).")
    p.add_argument("--version", action="version", version=f"puasim {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="run scenario files or folders")
    r.add_argument("paths", nargs="+", help="scenario files or folders")
    r.add_argument("--out", default="reports", help="where summaries and traces go (default: reports)")
    r.add_argument("--report", action="store_true", help="also write an HTML report per scenario")
    r.add_argument("--no-write", action="store_true", help="write nothing, just print")
    r.add_argument("-v", "--verbose", action="store_true", help="show the trace around each failure")
    r.set_defaults(func=_cmd_run)
    v = sub.add_parser("validate", help="check scenario files without running them")
    v.add_argument("paths", nargs="+")
    v.set_defaults(func=_cmd_validate)
    s = sub.add_parser("show", help="print a JSON-lines trace as text")
    s.add_argument("trace")
    s.add_argument("--timers", action="store_true", help="include timer firings")
    s.set_defaults(func=_cmd_show)
    pc = sub.add_parser("pcap", help="write a trace as a pcap (or .pcapng) file")
    pc.add_argument("trace", help="a JSON-lines trace (reports/traces/*.jsonl)")
    pc.add_argument("out", help="the pcap file to write (.pcapng for comments on drops)")
    pc.add_argument("--drops", choices=("keep", "omit", "mark"), default="keep", help="what to do with lost messages")
    pc.set_defaults(func=_cmd_pcap)
    rp = sub.add_parser("report", help="write HTML timing reports of a trace file or a folder of traces")
    rp.add_argument("run", help="a JSON-lines trace, or a folder of them (e.g. reports/traces)")
    rp.add_argument("--out", default="reports", help="where reports go: OUT/<scenario>/report.html (default: reports)")
    rp.add_argument("--pages", type=int, default=3, help="ladder pages per report (60 rows each; default 3)")
    rp.add_argument("--no-data", action="store_true", help="do not write the frames as CSV/Parquet")
    rp.set_defaults(func=_cmd_report)
    _add_check_parser(sub)
    _add_live_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
