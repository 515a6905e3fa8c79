"""Scale benchmark: N presentities and N/10 watchers for 24 h of virtual time.

Usage::

    python benchmarks/bench_scale.py [--sizes 1000,10000] [--rounds R]
        [--baseline REV] [--baseline-max N] [--trace-level full|stream|metrics] [--digest]

The workload (project issue 13)
-------------------------------
One PUA (``kamailio-5.6`` profile, db_mode 0, the default ``sqlite://:memory:``
database behind the hash table) and one simulated Kamailio presence server
(the ``kamailio`` profile), 1 ms links, built by the scenario runner exactly
as a scenario file builds them.  ``N`` presentities are published through the
PUA API with expires -1 (a PIDF body, ``RPC_ASYN_PUBLISH``), spread evenly
over the first 10 minutes; ``N/10`` watchers subscribe (expires -1,
``RPC_SUBSCRIBE``) to every tenth presentity over the same 10 minutes.  Each
publish and subscribe is a scenario step run by
:class:`~puasim.scenario.runner.ScenarioRun`, so the per-step trace note and
the node's effect handling are the ones a scenario pays for.  The run lasts
24 h of virtual time: the sweep refreshes every record about once an hour and
the server answers and notifies.

What is measured
----------------
Each run happens in a fresh child process (so peak RSS is that of the run):

* **requests/CPU-s**: SIP requests the two nodes put on the simulated network
  (retransmissions included) divided by the child's process CPU time for the
  run (``resource.getrusage(RUSAGE_SELF)`` user + system, set-up included);
* **wall**: wall-clock seconds of the run;
* **peak RSS**: the child's ``ru_maxrss``.

Before the first run the package of each tree is compiled to bytecode
(``compileall``): with ``PYTHONDONTWRITEBYTECODE`` set, a tree without
current ``__pycache__`` files would otherwise compile every module again in
every run and pay for it in its CPU time.

The baseline is the same script run against the code of another commit
(``--baseline``, default the commit the speed work started from), checked
out into a temporary ``git worktree`` and imported from there, in the same
invocation on the same machine; the ratio printed is this tree's
requests/CPU-s over the baseline's.  Rounds alternate current and baseline
and the best (highest requests/CPU-s) of each counts.  The baseline is slow at
large N, so sizes above ``--baseline-max`` are compared with the baseline's
rate at the largest size it did run (the output says so).  Both sides must
send the same number of requests, or the script stops: the speed work must
not change behaviour.

``--trace-level`` is passed to :class:`~puasim.scenario.runner.ScenarioRun`
(``full`` keeps every record in memory, ``stream`` writes them to a
temporary JSON-lines file, removed afterwards, ``metrics`` keeps only the
summary metrics); the baseline always runs with its own default, the full
in-memory trace.  ``--digest`` makes each run of this tree also take its
trace digest, inside the CPU time measured: the ``stream`` and ``metrics``
levels hash their records as the run goes, so comparing them with ``full``
is fair only with the ``full`` digest counted too.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NoReturn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from baseline import baseline_tree as _baseline_tree  # noqa: E402
from baseline import compile_tree  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
#: the commit the speed work (issue 13) started from
DEFAULT_BASELINE = "8f86ec6"
DAY = 86_400
SPREAD = 600  # seconds over which the API calls are spread

SCENARIO = """\
name: bench_scale
refs: ["issue 13"]
duration: {duration}
pua:
  params: {{outbound_proxy: "sip:127.0.0.1:5060", db_mode: 0}}
server:
  profile: kamailio
steps:
  - {{at: 0, do: publish, with: {{pres_uri: "sip:p0@127.0.0.1", expires: -1, event: presence,
      body: '{body}', content_type: application/pidf+xml}}}}
  - {{at: 0, do: subscribe, with: {{pres_uri: "sip:p0@127.0.0.1", watcher_uri: "sip:w0@127.0.0.1:5070",
      expires: -1, event: presence}}}}
expect:
  - count: {{match: {{from: pua, method: PUBLISH}}, min: 1}}
"""

BODY = (
    '<?xml version="1.0" encoding="UTF-8"?><presence xmlns="urn:ietf:params:xml:ns:pidf" '
    'entity="sip:p0@127.0.0.1"><tuple id="t1"><status><basic>open</basic></status></tuple></presence>'
)


# ----------------------------------------------------------------------------- child
def child(n: int, trace_level: str | None, duration: int, digest: bool = False) -> dict:
    """Run the workload in this process (imported from ``sys.path``) and measure it;
    ``digest``: also take the trace's digest (in the CPU time measured)."""
    import inspect
    from dataclasses import replace

    from puasim.scenario.runner import ScenarioRun, scenario_from_text
    from puasim.sim.network import Network

    t_wall = time.perf_counter()
    scn = scenario_from_text(SCENARIO.format(duration=duration, body=BODY), "<bench_scale>")
    pub_tpl, sub_tpl = scn.steps
    scn.steps = []
    options: dict = {}
    if trace_level is not None:
        if "trace_level" not in inspect.signature(ScenarioRun.__init__).parameters:
            raise SystemExit(f"this tree's ScenarioRun has no trace_level (asked for {trace_level!r})")
        options["trace_level"] = trace_level
        if trace_level == "stream":
            options["trace_path"] = os.path.join(tempfile.gettempdir(), f"bench_scale_{os.getpid()}.jsonl")
        if trace_level == "metrics":  # no records to judge the count expectation on
            scn.expectations = []
    run = ScenarioRun(scn, **options)

    requests = [0]
    orig_send = Network.send

    def counting_send(self, src_name, src, dst, message, *rest):  # type: ignore[no-untyped-def]
        if getattr(message, "method", None) is not None:
            requests[0] += 1
        return orig_send(self, src_name, src, dst, message, *rest)

    Network.send = counting_send  # type: ignore[method-assign]

    kernel = run.sim.kernel
    step_us = SPREAD * 1_000_000 // max(n, 1)
    for i in range(n):
        args = dict(pub_tpl.args)
        args["pres_uri"] = f"sip:p{i}@127.0.0.1"
        args["body"] = BODY.replace("sip:p0@", f"sip:p{i}@").encode()
        kernel.call_at(i * step_us, run._do, replace(pub_tpl, index=i, at=i * step_us, args=args))
    watchers = n // 10
    for j in range(watchers):
        at = j * step_us * 10 + step_us // 2
        args = dict(sub_tpl.args)
        args["pres_uri"] = f"sip:p{j * 10}@127.0.0.1"
        args["watcher_uri"] = args["contact"] = f"sip:w{j}@127.0.0.1:5070"
        kernel.call_at(at, run._do, replace(sub_tpl, index=n + j, at=at, args=args))
    try:
        result = run.run()
        if digest:  # full: every record encoded now; stream and metrics hashed them as they went
            result.trace.digest()
    finally:
        if "trace_path" in options:
            with contextlib.suppress(OSError):
                os.unlink(options["trace_path"])
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = usage.ru_utime + usage.ru_stime
    return {
        "n": n,
        "requests": requests[0],
        "cpu": cpu,
        "wall": time.perf_counter() - t_wall,
        "rss_kib": usage.ru_maxrss,
        "error": result.error,
        "events": run.sim.kernel.events_run,
    }


# ----------------------------------------------------------------------------- parent
def baseline_tree(rev: str) -> contextlib.AbstractContextManager[Path]:
    """A temporary git worktree of ``rev`` (removed afterwards); see ``baseline.py``."""
    return _baseline_tree(rev, prefix="bench_scale_")


def measure(tree: Path, n: int, trace_level: str | None, duration: int, digest: bool = False) -> dict:
    """Run :func:`child` for ``n`` with ``tree`` first on ``sys.path``."""
    env = dict(os.environ, PYTHONPATH=str(tree), PYTHONHASHSEED="0")
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", str(n), "--duration", str(duration)]
    if trace_level is not None:
        cmd += ["--trace-level", trace_level]
    if digest:
        cmd.append("--digest")
    out = subprocess.run(cmd, env=env, cwd=str(tree), check=False, capture_output=True, text=True)
    if out.returncode != 0:
        last = (out.stderr.strip().splitlines() or ["(no message)"])[-1]
        fail(f"the run of N={n} on {tree} failed: {last}")
    row = json.loads(out.stdout.strip().splitlines()[-1])
    if row["error"]:
        fail(f"the run of N={n} on {tree} stopped with an error: {row['error']}")
    return row


def fail(message: str) -> NoReturn:
    """One line on stderr and exit status 2."""
    print(f"bench_scale: {message}", file=sys.stderr)
    raise SystemExit(2)


def best(rows: list[dict]) -> dict:
    return max(rows, key=lambda r: r["requests"] / r["cpu"])


def fmt(row: dict) -> str:
    rate = row["requests"] / row["cpu"]
    return (
        f"{row['requests']:>10,d} req {row['cpu']:8.1f} CPU-s {row['wall']:8.1f} s wall "
        f"{rate:>9,.0f} req/CPU-s  peak RSS {row['rss_kib'] / 1024:7.0f} MiB"
    )


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="1000", help="comma-separated N (presentities), e.g. 1000,10000,100000")
    p.add_argument("--rounds", type=int, default=1, help="best of this many rounds (each side)")
    p.add_argument("--baseline", default=DEFAULT_BASELINE, help="git revision to compare against")
    p.add_argument("--no-baseline", action="store_true", help="measure this tree only")
    p.add_argument(
        "--baseline-max", type=int, default=10_000, help="largest N the baseline runs (it is slow above)"
    )
    p.add_argument("--trace-level", choices=("full", "stream", "metrics"), default=None)
    p.add_argument("--duration", type=int, default=DAY, help="virtual seconds (default 24 h)")
    p.add_argument(
        "--digest", action="store_true",
        help="each run of this tree also takes its trace digest (the CPU time includes it)",
    )
    p.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args.child is not None:
        print(json.dumps(child(args.child, args.trace_level, args.duration, args.digest)))
        return
    try:
        sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    except ValueError:
        p.error(f"--sizes: not a comma-separated list of integers: {args.sizes!r}")
    if not sizes or min(sizes) < 10:
        p.error("--sizes: each N must be at least 10")

    print(
        f"Python {sys.version.split()[0]}; {args.duration} s virtual, best of {args.rounds}, "
        f"trace level {args.trace_level or 'default'}{', digest taken' if args.digest else ''}; baseline "
        f"{'none' if args.no_baseline else args.baseline}"
    )
    with contextlib.ExitStack() as stack:
        base_tree = None if args.no_baseline else stack.enter_context(baseline_tree(args.baseline))
        for tree in (REPO, base_tree):
            if tree is not None:
                compile_tree(tree)
        base_rate: float | None = None
        base_n = None
        for n in sizes:
            ours: list[dict] = []
            theirs: list[dict] = []
            for _ in range(args.rounds):
                ours.append(measure(REPO, n, args.trace_level, args.duration, args.digest))
                if base_tree is not None and n <= args.baseline_max:
                    theirs.append(measure(base_tree, n, None, args.duration))
            row = best(ours)
            print(f"N={n:<7,d} current  {fmt(row)}")
            if theirs:
                brow = best(theirs)
                if brow["requests"] != row["requests"]:
                    fail(f"N={n}: the baseline sent {brow['requests']} requests, this tree {row['requests']}: behaviour changed")
                base_rate, base_n = brow["requests"] / brow["cpu"], n
                print(f"N={n:<7,d} baseline {fmt(brow)}")
            if base_rate is not None:
                note = "" if base_n == n else f" (baseline rate measured at N={base_n:,d})"
                if args.digest:
                    note += " (this tree's CPU includes its digest, the baseline's does not)"
                print(f"N={n:<7,d} ratio current/baseline: {row['requests'] / row['cpu'] / base_rate:.2f}x{note}")


if __name__ == "__main__":
    main()
