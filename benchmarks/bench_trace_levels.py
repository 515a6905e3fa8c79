"""Peak memory and time of one long run at each trace level (full, stream, metrics).

Usage::

    python benchmarks/bench_trace_levels.py [-n 200] [--hours 2] [--expires 600] [--json FILE]

A generated scenario publishes ``n`` presentities (spread over the first
minute, Expires ``--expires`` s) and lets the PUA refresh them for
``--hours`` hours of virtual time (Expires -1: pua's default_expires, refreshed
by the sweep every update_period - 5 s).  Each level runs in its own process so its
peak RSS (``ru_maxrss``) is its own; the streamed file's size, the record
count and the digest are printed, and the digests must agree.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BODY = (
    '<?xml version="1.0" encoding="UTF-8"?><presence xmlns="urn:ietf:params:xml:ns:pidf" entity="{uri}">'
    '<tuple id="t1"><status><basic>open</basic></status></tuple></presence>'
)


def scenario_text(n: int, hours: float, expires: int) -> str:
    lines = [
        "name: trace_levels_bench",
        'refs: ["pua-reference §3.4"]',
        f"duration: {int(hours * 3600)}",
        "pua:",
        f'  params: {{outbound_proxy: "sip:127.0.0.1:5060", default_expires: {expires}, update_period: 60}}',
        "steps:",
    ]
    for i in range(n):
        uri = f"sip:user{i}@127.0.0.1"
        body = json.dumps(BODY.format(uri=uri))
        at = round(60.0 * i / max(n, 1), 3)
        lines.append(f"  - {{at: {at}, do: publish, with: {{pres_uri: {uri}, expires: -1, source: UL_PUBLISH, body: {body}}}}}")
    lines += ["expect:", "  - server_state: {at: 61, presentity: sip:user0@127.0.0.1, equals: 1}"]
    return "\n".join(lines) + "\n"


def one(level: str, scenario: str, trace: str) -> dict:
    """Run in this process (a child): time and peak RSS of one level."""
    from puasim.scenario.runner import run_scenario, scenario_from_text

    scn = scenario_from_text(Path(scenario).read_text(), scenario)
    import puasim.report.running  # noqa: F401  (pandas/numpy import time is not the run's)

    started = time.perf_counter()
    result = run_scenario(scn, trace_level=level, trace_path=trace if level == "stream" else None)
    wall = time.perf_counter() - started
    started = time.perf_counter()
    digest = result.trace.digest()  # full: encodes every record now; the others kept it running
    out = {
        "level": level,
        "passed": result.passed,
        "wall_s": round(wall, 2),
        "digest_s": round(time.perf_counter() - started, 2),
        "records": len(result.trace),
        "messages": result.messages,
        "digest": digest,
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    if level == "stream":
        out["file_mib"] = round(os.path.getsize(trace) / 2**20, 1)
    return out


def report_of(trace: str) -> dict:
    """Build the report frames of the streamed file (lazy, chunked reading): time and peak RSS."""
    from puasim.report.frames import load
    from puasim.report.metrics import summary

    started = time.perf_counter()
    data = load(trace)
    s = summary(data)
    return {
        "level": "report of the streamed file",
        "wall_s": round(time.perf_counter() - started, 2),
        "messages": s["messages"],
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=200, help="presentities")
    ap.add_argument("--hours", type=float, default=2.0, help="virtual hours")
    ap.add_argument("--expires", type=int, default=600, help="pua default_expires (at least 600)")
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        level, scenario, trace = args.child
        print(json.dumps(report_of(trace) if level == "report" else one(level, scenario, trace)))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        scenario = Path(tmp) / "bench.yaml"
        scenario.write_text(scenario_text(args.n, args.hours, args.expires))
        trace = str(Path(tmp) / "bench.jsonl")
        rows = []
        for level in ("full", "stream", "metrics", "report"):
            cmd = [sys.executable, __file__, "--child", level, str(scenario), trace]
            done = subprocess.run(cmd, capture_output=True, text=True, check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
            rows.append(json.loads(done.stdout))
    print(f"{args.n} presentities, {args.hours} h virtual, Expires {args.expires}")
    for r in rows:
        extra = f"  file {r['file_mib']} MiB" if "file_mib" in r else ""
        dig = f" + digest {r['digest_s']:.2f} s" if "digest_s" in r else ""
        print(f"  {r['level']:<28} wall {r['wall_s']:>7.2f} s{dig}  peak RSS {r['peak_rss_mib']:>7.1f} MiB  "
              f"records {r.get('records', '-')}  messages {r['messages']}{extra}")
    digests = {r["digest"] for r in rows if "digest" in r}
    print("  digests agree" if len(digests) == 1 else f"  DIGESTS DIFFER: {digests}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")
    return 0 if len(digests) == 1 else 1


if __name__ == "__main__":
    sys.exit(main())
