"""``puasim run scenarios/ --no-write``: wall and CPU time of this tree against a baseline commit.

Usage::

    python benchmarks/bench_run_suite.py [--rounds R] [--baseline REV] [--no-baseline]
        [--sets suite,first48] [--jobs N]

What is run
-----------
The command a user runs to check every scenario file (project issue 13):
``python -m puasim run FILES --no-write --json --quiet`` in a fresh
process, with the tree under test first on ``PYTHONPATH`` and as working
directory.  Two sets of files:

* ``suite``: every file under ``scenarios/``;
* ``first48``: the first 48 scenario files added in the git history
  (``git log --diff-filter=A --reverse``), the suite the issue measured.

This tree runs twice per round: with ``-j 1`` (everything in one process)
and with its default (one worker per core; ``--jobs`` overrides it).  The
baseline (``--baseline``, default the commit this work started from) is
checked out into a temporary ``git worktree`` and runs the same files in
the same invocation; its own defaults apply (it has no ``--jobs``).

What is measured
----------------
* **wall**: seconds from starting the process to its end (interpreter
  start and imports included);
* **CPU**: user + system seconds of the process and every worker it
  waited for (``RUSAGE_CHILDREN``).

Rounds alternate the sides; the best (lowest wall) of each counts, and the
ratio printed is baseline over this tree, for wall and for CPU.  Every side
must give every file the same result and trace digest, or the script stops:
speed must not change behaviour.  On a machine shared with other work the
wall times move with the load; the CPU times much less.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import NoReturn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from baseline import baseline_tree as _baseline_tree  # noqa: E402
from baseline import compile_tree  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DEFAULT_BASELINE = "246c536"


def fail(message: str) -> NoReturn:
    """One line on stderr and exit status 2."""
    print(f"bench_run_suite: {message}", file=sys.stderr)
    raise SystemExit(2)


def first_files(count: int = 48) -> list[str]:
    """The first ``count`` scenario files added in the history that still exist, oldest first."""
    out = subprocess.run(
        ["git", "-C", str(REPO), "log", "--diff-filter=A", "--format=", "--name-only", "--reverse", "--",
         "scenarios/"],
        check=True, capture_output=True, text=True,
    ).stdout.split()
    files = [f for f in out if f.endswith((".yaml", ".yml")) and (REPO / f).is_file()]
    return files[:count]


def baseline_tree(rev: str) -> contextlib.AbstractContextManager[Path]:
    """A temporary git worktree of ``rev`` (removed afterwards); see ``baseline.py``."""
    return _baseline_tree(rev, prefix="bench_run_suite_")


def measure(tree: Path, files: list[str], jobs: int | None) -> dict:
    """One ``puasim run`` of ``files`` from ``tree``: wall, CPU and each file's (result, digest)."""
    env = dict(os.environ, PYTHONPATH=str(tree))
    cmd = [sys.executable, "-m", "puasim", "run", "--no-write", "--json", "--quiet"]
    if jobs is not None:
        cmd += ["-j", str(jobs)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    out = subprocess.run(cmd + files, env=env, cwd=str(tree), check=False, capture_output=True, text=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    try:
        rows = json.loads(out.stdout)
    except json.JSONDecodeError:
        last = (out.stderr.strip().splitlines() or ["(no message)"])[-1]
        fail(f"puasim run on {tree} printed no results (exit {out.returncode}): {last}")
    results = {r["scenario"]: (r["result"], r.get("digest")) for r in rows}
    return {"wall": wall, "cpu": cpu, "results": results, "files": len(rows)}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3, help="best of this many rounds (each side)")
    p.add_argument("--baseline", default=DEFAULT_BASELINE, help="git revision to compare against")
    p.add_argument("--no-baseline", action="store_true", help="measure this tree only")
    p.add_argument("--sets", default="suite,first48", help="comma-separated: suite, first48")
    p.add_argument("--jobs", type=int, default=None, help="workers for this tree's parallel run (default: its own)")
    args = p.parse_args(argv)
    sets = {"suite": ["scenarios/"], "first48": first_files()}
    chosen = [s.strip() for s in args.sets.split(",") if s.strip()]
    for name in chosen:
        if name not in sets:
            fail(f"--sets: unknown set {name!r} (suite, first48)")
    if args.rounds < 1:
        fail("--rounds must be at least 1")
    with contextlib.ExitStack() as stack:
        base = None if args.no_baseline else stack.enter_context(baseline_tree(args.baseline))
        for tree in (REPO,) if base is None else (REPO, base):
            compile_tree(tree)  # both sides start with their bytecode written (see baseline.py)
        for name in chosen:
            files = sets[name]
            sides: dict[str, tuple[Path, int | None]] = {"this tree -j 1": (REPO, 1)}
            sides[f"this tree -j {args.jobs or 'default'}"] = (REPO, args.jobs)
            if base is not None:
                sides[f"baseline {args.baseline}"] = (base, None)
            runs: dict[str, list[dict]] = {label: [] for label in sides}
            for _ in range(args.rounds):
                for label, (tree, jobs) in sides.items():
                    runs[label].append(measure(tree, files, jobs))
            best = {label: min(rows, key=lambda r: r["wall"]) for label, rows in runs.items()}
            reference = next(iter(best.values()))["results"]
            for label, row in best.items():
                if row["results"] != reference:
                    differ = sorted(k for k in reference.keys() | row["results"].keys()
                                    if reference.get(k) != row["results"].get(k))
                    fail(f"{label} gives other results or digests than this tree for {', '.join(differ[:5])}")
            count = next(iter(best.values()))["files"]
            print(f"{name}: {count} files, best of {args.rounds}")
            for label, row in best.items():
                print(f"  {label:<24} wall {row['wall']:6.2f} s   CPU {row['cpu']:6.2f} s")
            if base is not None:
                b = best[f"baseline {args.baseline}"]
                for label in list(sides)[:2]:
                    row = best[label]
                    print(f"  ratio baseline / {label}: wall {b['wall'] / row['wall']:.2f}x, "
                          f"CPU {b['cpu'] / row['cpu']:.2f}x")


if __name__ == "__main__":
    main()
