"""The ``puasim`` command line.

``puasim run PATH...``      run scenario files/folders, print a verdict table, write reports/
``puasim validate PATH...`` check scenario files without running them
``puasim show TRACE``       print a JSON-lines trace as a text ladder
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

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
    rows = []
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
                write_report(result.trace, out / result.name, title=result.name)
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
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
