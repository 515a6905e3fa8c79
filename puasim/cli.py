"""The ``puasim`` command line.

``puasim run PATH...``      run scenario files/folders, print a verdict table, write reports/
``puasim validate PATH...`` check scenario files without running them
``puasim show TRACE``       print a JSON-lines trace as a text ladder
``puasim report RUN``       HTML timing reports (+ CSV/Parquet) of a trace file or a folder of them
``puasim pcap TRACE OUT``   a trace as a pcap file for Wireshark/tshark
``puasim check CAPTURE``    a capture of a real PUA checked against the model
``puasim live SCENARIO``    a scenario (or a captured flow) against a real SIP server on loopback
``puasim lab presence``     a real Kamailio presence server on loopback, for ``puasim live``
``puasim lab edge``         a real Kamailio edge node (dialog, pua_dialoginfo) on loopback, for ``puasim live --node``
``puasim sweep SPEC``       many runs of one scenario (overrides x seeds) on all cores or Dask
``puasim compare SCENARIO`` one scenario under several PUA profiles, side by side

Arguments are checked as they are parsed (:mod:`puasim.cliargs`): a bad value
or an output path that cannot be written ends the command with a one-line
error and exit status 2 before any work starts.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

from puasim import __version__
from puasim import cliargs as A


class _Parser(argparse.ArgumentParser):
    """argparse with errors on one line: ``puasim check: error: argument --pua: ... (see --help)``."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _fail(command: str, exc: BaseException | str) -> int:
    """One line on stderr, exit status 2."""
    print(f"puasim {command}: {exc}", file=sys.stderr)
    return 2


def _cmd_run(args: argparse.Namespace) -> int:
    import tempfile

    from puasim.progress import FilesProgress, wanted
    from puasim.scenario.runner import discover
    from puasim.scenario.suite import (
        RunOptions,
        WorkerDied,
        default_jobs,
        duplicate_names,
        run_files,
    )

    if args.png and not args.report:
        return _fail("run", "--png needs --report (it writes the report's pictures as PNG files)")
    files = discover(args.paths)
    if not files:
        print(f"puasim: no scenario files under {' '.join(map(str, args.paths))}", file=sys.stderr)
        return 2
    try:
        clash = duplicate_names(files)
    except KeyboardInterrupt:
        print(f"puasim run: interrupted while reading the {len(files)} files, before any run", file=sys.stderr)
        return 130
    if clash is not None:
        return _fail("run", clash)
    level = args.trace_level
    out = Path(args.out)
    traces = out / "traces"
    scratch = None
    if not args.no_write:
        try:
            traces.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            return _fail("run", exc)
    elif level == "stream":  # the streamed file is needed to judge the run, then thrown away
        scratch = tempfile.TemporaryDirectory(prefix="puasim-")
        traces = Path(scratch.name)
    table = sys.stderr if args.json else sys.stdout
    show_progress = wanted(args.quiet)
    jobs = min(default_jobs() if args.jobs is None else args.jobs, len(files))
    opts = RunOptions(
        level=level,
        traces=traces if (not args.no_write or level == "stream") else None,
        write_trace=not args.no_write,
        report_out=out if args.report and not args.no_write else None,
        report_png=args.png,
        progress=show_progress and jobs == 1,
    )
    rows: list[dict[str, Any]] = []
    failed = 0
    worker_died = False
    width = max(len(f.stem) for f in files)
    print(f"{'scenario':<{width}}  {'result':<6}  {'virtual s':>10}  {'msgs':>5}  {'wall s':>7}", file=table)
    try:
        with FilesProgress(len(files), enabled=show_progress and jobs > 1) as bar, \
                contextlib.closing(run_files(files, opts, jobs)) as outcomes:
            for done in outcomes:
                bar.update()
                f = done.file
                rows.append(done.row)
                if done.failed:
                    failed += 1
                if done.invalid is not None:
                    bar.write(f"{f.stem:<{width}}  {'ERROR':<6}  {done.invalid}", table)
                    continue
                lines = [
                    f"{done.row['scenario']:<{width}}  {done.verdict:<6}  {done.virtual_s:>10.1f}  "
                    f"{done.messages:>5}  {done.wall_s:>7.3f}"
                ]
                for fail in done.failures:
                    where = f"{f}:{fail.line}" if fail.line else str(f)
                    lines.append(f"    {where}: {fail.kind}: {fail.message}")
                    if args.verbose and fail.context:
                        lines.append("\n".join("        " + line for line in fail.context.splitlines()))
                lines.extend(f"    {note}" for note in done.notes)
                bar.write("\n".join(lines), table)
                if done.write_error is not None:
                    return _fail("run", done.write_error)
    except KeyboardInterrupt:
        # like a run in one process: no summary is written (a partial one would replace the last full one)
        print(f"puasim run: interrupted after {len(rows)} of {len(files)} files", file=sys.stderr)
        return 130
    except WorkerDied as exc:
        running = ", ".join(map(str, exc.running))
        print(f"puasim run: a worker process died (killed? out of memory?) while running {running}",
              file=sys.stderr)
        worker_died = True  # the files that finished still get their summary
    finally:
        if scratch is not None:
            scratch.cleanup()
    total = len(rows)
    print(f"\n{total - failed} passed, {failed} failed", file=table)
    summary = json.dumps(rows, indent=2) + "\n"
    try:
        if args.summary:
            Path(args.summary).parent.mkdir(parents=True, exist_ok=True)
            Path(args.summary).write_text(summary)
            print(f"summary written to {args.summary}", file=table)
        if not args.no_write:
            out.mkdir(parents=True, exist_ok=True)
            (out / "summary.json").write_text(summary)
            lines = [f"{r['result']:<7} {r['scenario']}" for r in rows]
            (out / "summary.txt").write_text("\n".join(lines) + f"\n\n{total - failed} passed, {failed} failed\n")
            where = f"; traces in {traces}" if level != "metrics" else ""
            print(f"summary written to {out / 'summary.txt'} and {out / 'summary.json'}{where}", file=table)
    except OSError as exc:
        return _fail("run", exc)
    if args.json:
        sys.stdout.write(summary)
    return 2 if worker_died else 1 if failed else 0


def _cmd_validate(args: argparse.Namespace) -> int:
    from puasim.scenario.loader import ScenarioError
    from puasim.scenario.runner import discover, load_scenario

    files = discover(args.paths)
    if not files:
        return _fail("validate", f"no scenario files under {' '.join(map(str, args.paths))}")
    bad = 0
    for f in files:
        try:
            load_scenario(f)
        except ScenarioError as exc:
            bad += 1
            print(exc)
        else:
            print(f"ok  {f}")
    print(f"{len(files) - bad} valid, {bad} invalid")
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
    fmt = "pcapng" if args.out.endswith(".pcapng") else "pcap"
    if args.drops == "mark" and fmt != "pcapng":
        return _fail("pcap", "--drops mark writes packet comments, which need a .pcapng output file")
    try:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        frames = export_pcap(trace, args.out, fmt=fmt, drops=args.drops)
    except (OSError, ValueError) as exc:
        return _fail("pcap", exc)
    print(f"wrote {args.out} ({frames} frames)")
    return 0


def _jobs(text: str) -> int:
    """``--jobs``: a whole number of worker processes, at least 1."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return int(text)


def _cmd_report(args: argparse.Namespace) -> int:
    try:
        from puasim.report.batch import write_reports
    except ImportError as exc:
        print(f"puasim: reports need pandas and matplotlib (pip install puasim[report]): {exc}", file=sys.stderr)
        return 2
    try:
        entries = write_reports(
            args.run,
            args.out,
            ladder_page_limit=args.pages,
            write_data=not args.no_data,
            progress=print,
            jobs=args.jobs,
            cache=not args.no_cache,
            png=args.png,
        )
    except OSError as exc:
        return _fail("report", exc)
    return 1 if any(e.get("error") for e in entries) else 0


def _cmd_check(args: argparse.Namespace) -> int:
    """``puasim check``: a real PUA's capture against the model (puasim.capture.check), or an
    edge node's calls and dialog PUBLISHes (puasim.capture.dlgcheck)."""
    from puasim.capture import CaptureError
    from puasim.capture.check import CheckError, check_capture
    from puasim.capture.dlgcheck import calls_through, check_calls
    from puasim.capture.reader import read_pcap
    from puasim.pua.config import PuaStartupError
    from puasim.pua.constants import Source
    from puasim.sim.simulation import SimulationError

    try:
        trace = read_pcap(args.capture, skip_non_sip=not args.strict_sip)
        trace.meta.setdefault("source", str(args.capture))
        node = args.pua or next((r.event.src for r in trace if getattr(r.event, "src", ("", 0))[1] == args.pua_port
                                 and getattr(r.event, "message", None) is not None), None)
        calls = args.mode == "calls" or (args.mode == "auto" and node is not None and calls_through(trace, node))
        if calls:
            pua_only = [name for name, given in (("--restart-at", args.restart_at), ("--phase", args.phase != "auto"),
                                                 ("--id", args.id), ("--source", args.source != int(Source.RPC_ASYN_PUBLISH)),
                                                 ("--db-quirks", args.db_quirks != "db_sqlite-5.6")) if given]
            if pua_only:
                return _fail("check", f"{', '.join(pua_only)} apply to a PUA's capture, not to calls through an edge "
                                      "node (see --mode)")
            report = check_calls(
                trace, node_address=node, node_port=args.pua_port, server_address=args.server,
                params=dict(args.params or ()), dialoginfo=dict(args.dialoginfo or ()),
                dialog=dict(args.dialog or ()), tolerance=args.tolerance, until=args.until,
            )
        else:
            if args.dialoginfo or args.dialog:
                return _fail("check", "--dialoginfo and --dialog apply to a capture of calls through an edge node "
                                      "(no INVITE reached the checked address; see --mode)")
            report = check_capture(
                trace, pua_port=args.pua_port, pua_address=args.pua, params=dict(args.params or ()),
                source_flag=args.source, tolerance=args.tolerance, until=args.until, restarts=args.restart_at,
                phase=args.phase, ids=dict(args.id or ()), db_quirks=args.db_quirks, strict_sip=args.strict_sip,
                server_address=args.server,
            )
    except (OSError, CaptureError, CheckError, PuaStartupError, SimulationError, ValueError) as exc:
        return _fail("check", exc)
    if args.json:
        import json

        print(json.dumps(report.to_dict(), indent=1))
    else:
        print(report.format())
    if args.model_trace:
        from puasim.trace.codec import write_jsonl

        try:
            Path(args.model_trace).parent.mkdir(parents=True, exist_ok=True)
            write_jsonl(report.model_trace, args.model_trace)  # type: ignore[arg-type]
        except OSError as exc:
            return _fail("check", exc)
        print(f"model trace written to {args.model_trace}", file=sys.stderr if args.json else sys.stdout)
    return 0 if report.ok else 1


def _add_check_parser(sub: argparse._SubParsersAction) -> None:
    from puasim.pua.constants import Source

    c = sub.add_parser("check", help="check a capture of a real PUA against the model (exit 1 on differences)")
    c.add_argument("capture", type=A.input_file, help="pcap/pcapng of a real PUA talking to a presence server")
    c.add_argument("--pua-port", type=A.port, default=5070, help="UDP port of the real PUA (default 5070)")
    c.add_argument("--pua", type=A.server_address, metavar="HOST:PORT",
                   help="address of the real PUA, IPv6 as [addr]:port (instead of --pua-port)")
    c.add_argument("--params", type=A.name_value, nargs="*", action="extend", metavar="NAME=VALUE",
                   help="pua module parameters the real PUA ran with, e.g. update_period=10")
    c.add_argument("--server", type=A.server_address, metavar="HOST:PORT",
                   help="the presence server to check against (default: where the PUA's first request goes); "
                        "with --pua, picks one pair out of a capture of several PUAs and servers")
    c.add_argument("--until", type=A.seconds, help="seconds the capture ran after its first packet")
    c.add_argument("--restart-at", type=A.seconds, action="append", metavar="SECONDS",
                   help="the real PUA restarted then (seconds after the first packet); repeatable; overrides "
                        "the restarts check finds in the capture (new Call-ID numbering after a traffic gap)")
    c.add_argument("--json", action="store_true",
                   help="print the report as JSON: one object per compared request, the notes and a verdict")
    c.add_argument("--tolerance", type=A.seconds, default=1.0, help="timing tolerance of refreshes in seconds")
    c.add_argument("--phase", type=A.phase, default="auto", help="'auto' or the time (s) of one sweep tick of the real PUA")
    c.add_argument("--id", type=A.uri_id, action="append", metavar="URI=ID", help="publication id used for a presentity")
    c.add_argument("--source", type=A.source_flag, default=int(Source.RPC_ASYN_PUBLISH), metavar="FLAG",
                   help="source flag of the inferred API calls (default RPC_ASYN_PUBLISH)")
    c.add_argument("--db-quirks", default="db_sqlite-5.6", choices=("db_sqlite-5.6", "generic"),
                   help="DB driver behind the real PUA's pua table (default: Debian's db_sqlite 5.6)")
    c.add_argument("--strict-sip", action="store_true",
                   help="a UDP datagram that is not SIP is an error (default: left out with a note)")
    c.add_argument("--model-trace", type=A.output_file, metavar="FILE", help="write the model's trace (JSON lines)")
    c.add_argument("--mode", choices=("auto", "pua", "calls"), default="auto",
                   help="'pua': requests of a PUA driven by API calls; 'calls': an edge node with dialog and "
                        "pua_dialoginfo, its PUBLISHes predicted from the calls through it; 'auto' (default): "
                        "'calls' when an INVITE reaches the checked address")
    c.add_argument("--dialoginfo", type=A.name_value, nargs="*", action="extend", metavar="NAME=VALUE",
                   help="calls: pua_dialoginfo parameters, instead of what the PUBLISH bodies show")
    c.add_argument("--dialog", type=A.name_value, nargs="*", action="extend", metavar="NAME=VALUE",
                   help="calls: dialog module parameters (default_timeout, timeout_noreset), instead of what "
                        "an expiring dialog shows")
    c.set_defaults(func=_cmd_check)


def _cmd_live(args: argparse.Namespace) -> int:
    """``puasim live``: a scenario (or a captured flow: replay) against a real server."""
    from puasim.live.budgets import LiveBudgets
    from puasim.live.driver import LiveSafetyError
    from puasim.live.sniff import CaptureUnavailable
    from puasim.scenario.loader import ScenarioError
    from puasim.trace.codec import write_jsonl

    server, bind, node = args.server, args.bind, args.node
    target = Path(args.target)
    budgets = LiveBudgets(args.max_datagrams, args.max_handled, args.max_rate, args.max_duration)
    replay = target.suffix in (".pcap", ".pcapng", ".cap")
    if server is None and (node is None or replay):
        need = "--server (the presence server the capture's PUA side is replayed against)" if replay else \
            "--server (a presence server for the scenario's PUA) or --node (an edge node for its phones)"
        print(f"puasim live: error: give {need} (see puasim live --help)", file=sys.stderr)
        return 2
    if bind is None:  # the server's family: an IPv4 socket cannot reach [::1]
        peer = node if node is not None and not replay else server
        bind = ("::1", 0) if ":" in peer[0] else ("127.0.0.1", 0)
    try:
        if replay:
            from puasim.live.replay import replay_live

            report, trace = replay_live(str(target), args.pua_port, server, bind=bind, speed=args.speed,
                                        allow_remote=args.allow_remote, budgets=budgets)
            print(report.format())
            ok = report.ok
        else:
            result: Any
            if node is not None:
                from puasim.live.phones import run_phones

                result = run_phones(target, node, server=server, allow_remote=args.allow_remote,
                                    capture=args.capture, bind_host=bind[0], budgets=budgets)
            else:
                from puasim.live.scenario import run_live

                result = run_live(target, server, bind=bind, allow_remote=args.allow_remote, capture=args.capture,
                                  budgets=budgets)
            trace = result.trace
            for text in result.skipped_steps + result.skipped_expectations + result.notes:
                print(f"note: {text}")
            print(f"{result.name}: {result.verdict} ({result.messages} messages, {result.wall_time:.1f} s)")
            for fail in result.failures:
                where = f"{target}:{fail.line}" if fail.line else str(target)
                print(f"    {where}: {fail.kind}: {fail.message}")
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
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            write_jsonl(trace, out)
        except OSError as exc:
            return _fail("live", exc)
        print(f"trace written to {out}")
    return 0 if ok else 1


def _add_live_parser(sub: argparse._SubParsersAction) -> None:
    lv = sub.add_parser("live", help="run a scenario (or replay a capture) against a real SIP server")
    lv.add_argument("target", type=A.input_file, help="a scenario file, or a pcap whose PUA side is replayed")
    lv.add_argument("--server", type=A.server_address, metavar="HOST:PORT",
                    help="address of the real presence server, IPv6 as [addr]:port (loopback only; "
                         "'puasim lab presence' starts one); with --node: the server the node publishes to, "
                         "named 'server' in the trace and captured with --capture")
    lv.add_argument("--node", type=A.server_address, metavar="HOST:PORT",
                    help="run the scenario's phones (its phones: block), each on its own loopback socket, "
                         "against this real edge node instead of the simulated one ('puasim lab edge' starts one)")
    lv.add_argument("--bind", type=A.bind_address, metavar="HOST[:PORT]",
                    help="local address of puasim's socket (default 127.0.0.1, or ::1 for an IPv6 server; "
                         "any free port); with --node only its host counts: each phone takes a free port")
    lv.add_argument("--capture", type=A.output_file, metavar="PCAP", help="capture the run on lo into this file (needs root)")
    lv.add_argument("--trace", type=A.output_file, metavar="FILE",
                    help="where the live trace goes (default OUT/live/NAME.jsonl)")
    lv.add_argument("--out", type=A.output_dir, default="reports", help="folder of the default trace file (default: reports)")
    lv.add_argument("--no-write", action="store_true", help="write no trace file")
    lv.add_argument("--speed", type=A.positive_seconds, default=1.0, help="replay: play the capture this many times faster")
    lv.add_argument("--pua-port", type=A.port, default=5070, help="replay: UDP port of the PUA in the capture")
    lv.add_argument("--allow-remote", action="store_true", help="allow non-loopback addresses (off by default)")
    lv.add_argument("--max-datagrams", type=A.count, default=10_000, metavar="N",
                    help="datagrams the run may send; one more ends it as a runaway (default 10000)")
    lv.add_argument("--max-handled", type=A.count, default=10_000, metavar="N",
                    help="received messages handled; later ones are counted and dropped (default 10000)")
    lv.add_argument("--max-rate", type=A.positive_seconds, default=500.0, metavar="PER_S",
                    help="received datagrams read per second; more are counted and dropped (default 500)")
    lv.add_argument("--max-duration", type=A.positive_seconds, default=None, metavar="SECONDS",
                    help="wall time the run may last; a longer scenario or replay is cut there (default: no cap)")
    lv.add_argument("-v", "--verbose", action="store_true", help="show the trace around each failure")
    lv.set_defaults(func=_cmd_live)


def _cmd_lab(args: argparse.Namespace) -> int:
    """``puasim lab presence``: a real Kamailio presence server on loopback (puasim.live.lab)."""
    import signal

    from puasim.live.driver import LiveSafetyError
    from puasim.live.lab import LabError, serve_edge, serve_presence

    def _terminate(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        if args.lab == "edge":
            return serve_edge(args.listen[0], args.listen[1], server=args.server, scenario=args.scenario,
                              duration=args.duration, rundir=args.dir, say=lambda text: print(text, flush=True))
        return serve_presence(args.listen[0], args.listen[1], duration=args.duration, rundir=args.dir,
                              max_expires=args.max_expires, say=lambda text: print(text, flush=True))
    except (LabError, LiveSafetyError, OSError) as exc:
        return _fail("lab", exc)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _add_lab_parser(sub: argparse._SubParsersAction) -> None:
    lab = sub.add_parser("lab", help="start real SIP servers on loopback for 'puasim live' (needs Debian's kamailio)")
    kinds = lab.add_subparsers(dest="lab", required=True, metavar="SERVER")
    pr = kinds.add_parser("presence", help="a Kamailio presence server with puasim's shipped config")
    pr.add_argument("--listen", type=A.bind_address, default=("127.0.0.1", 5060), metavar="HOST[:PORT]",
                    help="loopback address to serve on (default 127.0.0.1:5060; port 0 = any free port)")
    pr.add_argument("--duration", type=A.positive_seconds, metavar="SECONDS",
                    help="stop after this many seconds (default: run until Ctrl-C)")
    pr.add_argument("--dir", type=A.output_dir, metavar="FOLDER",
                    help="keep the config defines, SQLite DB and log here (default: a temporary folder)")
    pr.add_argument("--max-expires", type=A.count, default=3600, help="presence max_expires (default 3600)")
    pr.set_defaults(func=_cmd_lab)
    ed = kinds.add_parser("edge", help="a Kamailio edge node (usrloc, registrar, dialog, pua, pua_dialoginfo) and a "
                                       "presence server for it, for 'puasim live --node'")
    ed.add_argument("--listen", type=A.bind_address, default=("127.0.0.1", 5080), metavar="HOST[:PORT]",
                    help="loopback address of the edge node (default 127.0.0.1:5080; port 0 = any free port)")
    ed.add_argument("--server", type=A.server_address, metavar="HOST:PORT",
                    help="publish to this running presence server (default: start one on a free port)")
    ed.add_argument("--scenario", type=A.input_file, metavar="FILE",
                    help="take the node's module parameters from this scenario's pua: and node: blocks")
    ed.add_argument("--duration", type=A.positive_seconds, metavar="SECONDS",
                    help="stop after this many seconds (default: run until Ctrl-C)")
    ed.add_argument("--dir", type=A.output_dir, metavar="FOLDER",
                    help="keep the config defines, SQLite DBs and logs here (default: a temporary folder)")
    ed.set_defaults(func=_cmd_lab)


def _cmd_sweep(args: argparse.Namespace) -> int:
    """``puasim sweep``: a parameter sweep (puasim.sweep.command)."""
    from puasim.sweep.command import command

    return command(args)


def _sweep_type(name: str) -> Callable[[str], Any]:
    """The argument type ``name`` of :mod:`puasim.sweep.command`, imported only when a
    ``sweep`` argument is parsed: building the parser must not load the sweep and scenario
    packages for every other command."""

    def parse(text: str) -> Any:
        from puasim.sweep import command

        return getattr(command, name)(text)

    parse.__name__ = name
    return parse


def _add_sweep_parser(sub: argparse._SubParsersAction) -> None:
    C = argparse.Namespace(**{n: _sweep_type(n) for n in ("set_arg", "seeds_arg", "metrics_arg", "scheduler_arg", "workers_arg")})
    sw = sub.add_parser("sweep", help="run a scenario over a grid of overrides and seeds (a sweep file, or --set/--seeds)")
    sw.add_argument("target", type=A.input_file, help="a sweep file (YAML naming a base scenario) or a scenario file")
    sw.add_argument("--set", type=C.set_arg, action="append", metavar="NAME=V1,V2",
                    help="values of one override (pua parameter, server knob, network setting, users, or a "
                         "dotted field path); repeatable: the runs are the grid of every --set")
    sw.add_argument("--seeds", type=C.seeds_arg, metavar="RANGE", help="seeds, e.g. 1-20 or 1,3,7 (default: the scenario's)")
    sw.add_argument("--metrics", type=C.metrics_arg, metavar="M1,M2", help="metrics to keep (default: every one)")
    sw.add_argument("--out", type=A.output_dir, default="reports/sweep",
                    help="results.parquet, summary.html and the runs.jsonl journal go here (default: reports/sweep); "
                         "runs already in it are skipped")
    where = sw.add_mutually_exclusive_group()
    where.add_argument("--dask", action="store_true", help="run on a dask.distributed LocalCluster (needs puasim[dask])")
    where.add_argument("--scheduler", type=C.scheduler_arg, metavar="tcp://HOST:PORT",
                       help="run on the Dask cluster whose scheduler is there (needs puasim[dask])")
    where.add_argument("--serial", action="store_true", help="run in this process, one run after another")
    sw.add_argument("--workers", type=C.workers_arg, help="worker processes (default: one per core)")
    sw.add_argument("--retry-failed", action="store_true", help="run again the runs whose row has an error")
    sw.add_argument("--no-html", action="store_true", help="write the table only, no summary.html")
    sw.add_argument("-q", "--quiet", action="store_true", help="no progress bar (it shows only on a terminal anyway)")
    sw.set_defaults(func=_cmd_sweep)


def _cmd_compare(args: argparse.Namespace) -> int:
    import dataclasses

    from puasim.scenario.loader import ScenarioError
    from puasim.scenario.runner import load_scenario, run_scenario

    try:
        from puasim.report.compare import (
            compare_frame,
            first_divergence,
            format_table,
            write_compare_report,
        )
        from puasim.report.frames import from_trace
    except ImportError as exc:
        return _fail("compare", f"comparisons need pip install 'puasim[report]': {exc}")
    try:
        scn = load_scenario(args.scenario)
    except ScenarioError as exc:
        return _fail("compare", exc)
    runs, verdicts = {}, {}
    for profile in args.profiles:
        variant = dataclasses.replace(scn, pua_config=dataclasses.replace(scn.pua_config, profile=profile))
        result = run_scenario(variant)
        runs[profile] = from_trace(result.trace)
        verdicts[profile] = f"{result.verdict} ({len(result.failures)} expectation(s) failed)"
    frame = compare_frame(runs)
    print(f"{scn.name}: PUA profiles compared (* = differs)")
    print(format_table(frame))
    print("\nverdicts: " + "; ".join(f"{k}: {v}" for k, v in verdicts.items()))
    div = first_divergence(runs)
    for row in div.itertuples(index=False):
        if row.index >= 0:
            print(f"first difference, {row.profile} vs {args.profiles[0]}: request #{row.index}: "
                  f"{row.this} instead of {row.baseline}")
        else:
            print(f"{row.profile} sends the same requests as {args.profiles[0]}")
    if not args.no_write:
        try:
            from puasim.trace.filenames import safe_name

            folder = Path(args.out) / safe_name(scn.name, fallback=Path(args.scenario).stem)
            path = write_compare_report(runs, folder, title=scn.name, verdicts=verdicts)
        except OSError as exc:
            return _fail("compare", exc)
        print(f"report: {path}")
    return 0


def _add_compare_parser(sub: argparse._SubParsersAction) -> None:
    c = sub.add_parser("compare", help="run one scenario under several PUA profiles and show where they differ")
    c.add_argument("scenario", type=A.input_file, help="a scenario file")
    c.add_argument("--profiles", type=A.profiles, default=["kamailio-5.6", "fixed", "pjsua"],
                   help="comma-separated PUA profiles, the first is the baseline "
                        "(default: kamailio-5.6,fixed,pjsua)")
    c.add_argument("--out", type=A.output_dir, default="reports",
                   help="where the HTML comparison goes: OUT/<scenario>/compare.html (default: reports)")
    c.add_argument("--no-write", action="store_true", help="print the table only")
    c.set_defaults(func=_cmd_compare)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="puasim", description="Simulate and test SIP presence user agents (Kamailio pua).")
    p.add_argument("--version", action="version", version=f"puasim {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="run scenario files or folders")
    r.add_argument("paths", type=A.input_path, nargs="+", help="scenario files or folders")
    r.add_argument("--out", type=A.output_dir, default="reports", help="where summaries and traces go (default: reports)")
    r.add_argument("--report", action="store_true", help="also write an HTML report per scenario (needs puasim[report])")
    r.add_argument("--png", action="store_true",
                   help="with --report: also write each picture as OUT/<scenario>/pictures/<name>.png (slower)")
    r.add_argument("--no-write", action="store_true", help="write nothing to OUT, just print")
    r.add_argument("--json", action="store_true",
                   help="print the per-scenario results as JSON on stdout (the table goes to stderr)")
    r.add_argument("--summary", type=A.output_file, metavar="FILE",
                   help="also write the JSON summary to FILE (written even with --no-write)")
    r.add_argument("-v", "--verbose", action="store_true", help="show the trace around each failure")
    r.add_argument(
        "--trace-level", choices=("full", "stream", "metrics"), default="full",
        help="full: records in memory, written at the end; stream: written to OUT/traces/NAME.jsonl "
        "as they happen; metrics: only the summary metrics (in summary.json) and the digest",
    )
    r.add_argument("-q", "--quiet", action="store_true", help="no progress bar (it shows only on a terminal anyway)")
    r.add_argument("-j", "--jobs", type=_jobs,
                   help="worker processes for several files (default: one per core; 1: all in this process)")
    r.set_defaults(func=_cmd_run)
    v = sub.add_parser("validate", help="check scenario files without running them")
    v.add_argument("paths", type=A.input_path, nargs="+", help="scenario files or folders")
    v.set_defaults(func=_cmd_validate)
    s = sub.add_parser("show", help="print a JSON-lines trace as text")
    s.add_argument("trace", type=A.input_file, help="a JSON-lines trace (reports/traces/*.jsonl)")
    s.add_argument("--timers", action="store_true", help="include timer firings")
    s.set_defaults(func=_cmd_show)
    pc = sub.add_parser("pcap", help="write a trace as a pcap (or .pcapng) file")
    pc.add_argument("trace", type=A.input_file, help="a JSON-lines trace (reports/traces/*.jsonl)")
    pc.add_argument("out", type=A.output_file, help="the pcap file to write (.pcapng for comments on drops)")
    pc.add_argument("--drops", choices=("keep", "omit", "mark"), default="keep",
                    help="lost messages: keep them (the sender's view), omit them (the receiver's view) "
                         "or mark them with a packet comment (.pcapng only)")
    pc.set_defaults(func=_cmd_pcap)
    rp = sub.add_parser("report", help="write HTML timing reports of a trace file or a folder of traces")
    rp.add_argument("run", type=A.input_path, help="a JSON-lines trace, or a folder of them (e.g. reports/traces)")
    rp.add_argument("--out", type=A.output_dir, default="reports",
                    help="where reports go: OUT/<scenario>/report.html (default: reports)")
    rp.add_argument("--pages", type=A.count, default=3, help="ladder pages per report (60 rows each; default 3)")
    rp.add_argument("--no-data", action="store_true", help="do not write the frames as CSV/Parquet")
    rp.add_argument("--jobs", type=_jobs, help="worker processes for a folder (default: one per core; 1: none)")
    rp.add_argument("--no-cache", action="store_true", help="write every report, even one whose trace is unchanged")
    rp.add_argument("--png", action="store_true",
                    help="also write each picture as OUT/<scenario>/pictures/<name>.png (matplotlib; slower), "
                    "linked from report.html")
    rp.set_defaults(func=_cmd_report)
    _add_check_parser(sub)
    _add_live_parser(sub)
    _add_lab_parser(sub)
    _add_sweep_parser(sub)
    _add_compare_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run one command; its exit status (2 for a bad argument, after the one-line error)."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # argparse: --help, --version, or a bad argument (already reported)
        return exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 2
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
