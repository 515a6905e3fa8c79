"""``puasim report`` over a run folder: this tree against a baseline commit, in the same run.

Usage::

    python benchmarks/bench_report.py [--traces DIR] [--baseline REV] [--rounds R] [--jobs N]

The workload is what a user does after ``puasim run scenarios/``: one HTML
report (pictures, tables, CSV and Parquet files) per trace and the index.
Without ``--traces`` the script first runs every shipped scenario with this
tree into a temporary folder and reports over its ``traces``.

The baseline is the package as it was at ``REV`` (default: the commit
before the one that added this file, i.e. the report code before it was made
fast), unpacked with ``git archive`` into a temporary folder; nothing in the
repository or its worktrees changes.  Both sides run as a subprocess
(``python -c 'from puasim.cli import main; main()' report ...``) with
``PYTHONPATH`` pointing at their tree, over the same traces, so start-up and
imports count on both sides.  ``--jobs`` is passed to this tree's command
only (the baseline has no such option); the default lets it use every core.
This tree runs with ``--no-cache`` (every report drawn); a last run writes
into one folder twice and times the second pass, where every trace is
unchanged and the reports are kept (``.report-cache.json``).

Each side runs ``R`` rounds (default 1: the baseline takes about a minute),
each into an empty folder, and the best wall time counts; the CPU time of that round (user + system of
the subprocess and its workers) is printed beside it, so the share of the
speed-up that comes from running pictures in parallel is visible.  After
timing, the script checks that this tree's reports show everything the
baseline's do: every file, every section and picture caption of each
``report.html`` in the same order (sections added since may come in
between), and pictures of the same size give or take a few pixels (3 % for
wide pictures: text drawn without hinting is a little narrower).  A picture
the baseline embeds as PNG and this tree draws as inline SVG (now every
picture) counts when the SVG has the same caption (``aria-label``) and draws
something, and its ``width``/``height`` are compared with the PNG's size the
same way.  Ratio > 1 means this tree is faster.
"""

from __future__ import annotations

import argparse
import base64
import io
import os
import re
import resource
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
THIS = Path(__file__).resolve().relative_to(ROOT).as_posix()
_SECTION = re.compile(
    r"<h([123])>(.*?)</h\1>|<img alt='([^']*)' src='data:image/png;base64,([^']*)'>"
    r"|<svg ([^>]*aria-label='([^']*)'[^>]*)>(.*?)</svg>",
    re.S,
)


#: the file of kept reports (puasim.report.batch.CACHE_FILE)
_CACHE = ".report-cache.json"


def default_baseline() -> str:
    """The parent of the commit that added this benchmark (the report code before the speed work)."""
    out = subprocess.run(
        ["git", "log", "--diff-filter=A", "--format=%H", "--", THIS],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    if not out:
        raise SystemExit(f"{THIS} is not committed yet: give --baseline REV")
    return out[-1] + "^"


def unpack(rev: str, into: Path) -> Path:
    """The tree of ``rev`` (package only) unpacked into ``into``."""
    blob = subprocess.run(
        ["git", "archive", "--format=tar", rev, "puasim"], cwd=ROOT, capture_output=True, check=True
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
        tar.extractall(into, filter="data")
    return into


def command(tree: Path, *args: str) -> tuple[float, float]:
    """Run ``puasim ARGS`` from ``tree``; return (wall s, CPU s of the process and its children)."""
    env = dict(os.environ, PYTHONPATH=str(tree), MPLBACKEND="agg")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    # the working directory is the tree itself: ``python -c`` puts it first on sys.path, so
    # started from the repository root the baseline would otherwise import this tree's package
    subprocess.run(
        [sys.executable, "-c", "from puasim.cli import main; raise SystemExit(main())", *args],
        env=env,
        cwd=tree,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def best(tree: Path, traces: Path, out: Path, rounds: int, extra: list[str]) -> tuple[float, float]:
    """The best of ``rounds`` runs, each into an empty ``out``: a baseline that keeps unchanged
    reports (``.report-cache.json``) would otherwise time its cache from the second round on."""
    results = []
    for _ in range(rounds):
        shutil.rmtree(out, ignore_errors=True)
        results.append(command(tree, "report", str(traces), "--out", str(out), *extra))
    return min(results)


def outline(html: str) -> list[tuple[str, tuple[int, int] | None]]:
    """Section titles and picture captions of one report page, in order, with each PNG's size.

    A picture is an embedded PNG (``<img alt=...>``) or an inline SVG
    (``<svg aria-label=...>``, as the ladder pages are drawn now); both are
    named ``img CAPTION``.  An SVG counts only when it draws something (a
    line, path or text); its size is its ``width`` and ``height`` in pixels.
    """
    items: list[tuple[str, tuple[int, int] | None]] = []
    for m in _SECTION.finditer(html):
        if m.group(2) is not None:
            items.append((f"h{m.group(1)} {m.group(2)}", None))
        elif m.group(3) is not None:
            png = base64.b64decode(m.group(4))
            size = (int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big"))
            items.append((f"img {m.group(3)}", size))
        elif re.search(r"<(line|path|text)\b", m.group(7)):
            w = re.search(r"\bwidth='(\d+)'", m.group(5))
            h = re.search(r"\bheight='(\d+)'", m.group(5))
            svg_size = (int(w.group(1)), int(h.group(1))) if w and h else None
            items.append((f"img {m.group(6)}", svg_size))
    return items


def matched(base: list[str], ours: list[str]) -> list[int] | None:
    """Where each of ``base`` appears in ``ours``, in order (None when one is missing)."""
    found, j = [], 0
    for item in base:
        while j < len(ours) and ours[j] != item:
            j += 1
        if j == len(ours):
            return None
        found.append(j)
        j += 1
    return found


def compare(base: Path, ours: Path, slack: int = 4, share: float = 0.03) -> list[str]:
    """What the baseline's reports show that ours do not (empty when ours show it all).

    Every file, section and picture of the baseline must be there, in the same
    order; the report may have gained files and sections since (features added
    after the baseline, such as the busy-lamp section).  A picture may differ in
    size by ``slack`` pixels or ``share`` of the baseline's size, whichever is
    more: the crop is read off the pixels (a few pixels), and text drawn without
    hinting is up to 2 % narrower (a timeline's width is set by its labels).
    """
    problems = []
    # the cache of kept reports is not output (this tree runs with --no-cache and writes none)
    base_files = {p.relative_to(base) for p in base.rglob("*") if p.is_file() and p.name != _CACHE}
    our_files = {p.relative_to(ours) for p in ours.rglob("*") if p.is_file() and p.name != _CACHE}
    if base_files - our_files:
        problems.append(f"files missing: {sorted(base_files - our_files)[:5]}")
    for rel in sorted(base_files & our_files):
        if rel.name != "report.html":
            continue
        b = outline((base / rel).read_text(encoding="utf-8"))
        o = outline((ours / rel).read_text(encoding="utf-8"))
        where = matched([name for name, _ in b], [name for name, _ in o])
        if where is None:
            problems.append(f"{rel}: a section or picture of the baseline is missing")
            continue
        for (name, b_size), j in zip(b, where, strict=True):
            o_size = o[j][1]
            if b_size is None or o_size is None:
                continue
            if any(abs(bv - ov) > max(slack, share * bv) for bv, ov in zip(b_size, o_size, strict=True)):
                problems.append(
                    f"{rel}: {name} is {o_size[0]}x{o_size[1]}, baseline {b_size[0]}x{b_size[1]}"
                )
    return problems


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--traces", help="a folder of traces (default: run scenarios/ first)")
    ap.add_argument(
        "--baseline", help="git revision to compare with (default: before this benchmark)"
    )
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument(
        "--jobs", type=int, help="worker processes for this tree (default: its own default)"
    )
    args = ap.parse_args(argv[1:])
    rev = args.baseline or default_baseline()
    with tempfile.TemporaryDirectory(prefix="bench_report") as tmp:
        work = Path(tmp)
        if args.traces:
            traces = Path(args.traces).resolve()
        else:
            command(ROOT, "run", str(ROOT / "scenarios"), "--out", str(work / "run"))
            traces = work / "run" / "traces"
        n = len(list(traces.glob("*.jsonl")))
        base_tree = unpack(rev, work / "baseline")
        extra = ["--no-cache"] + (["--jobs", str(args.jobs)] if args.jobs else [])
        ours_wall, ours_cpu = best(ROOT, traces, work / "ours", args.rounds, extra)
        base_wall, base_cpu = best(base_tree, traces, work / "base", args.rounds, [])
        problems = compare(work / "base", work / "ours")
        # again over the same traces into the same folder: the unchanged reports are kept
        warm = ["--jobs", str(args.jobs)] if args.jobs else []
        warm_args = ("report", str(traces), "--out", str(work / "warm"), *warm)
        command(ROOT, *warm_args)
        warm_wall, warm_cpu = command(ROOT, *warm_args)
    print(f"traces: {n}; baseline {rev}; best of {args.rounds} round(s); {os.cpu_count()} cores")
    print(f"baseline report : {base_wall:8.2f} s wall {base_cpu:8.2f} s CPU")
    print(f"this tree       : {ours_wall:8.2f} s wall {ours_cpu:8.2f} s CPU")
    print(f"ratio wall      : {base_wall / ours_wall:8.1f}x")
    print(f"ratio CPU       : {base_cpu / ours_cpu:8.1f}x")
    print(
        f"this tree again : {warm_wall:8.2f} s wall {warm_cpu:8.2f} s CPU (unchanged traces: reports kept)"
    )
    print(f"ratio wall again: {base_wall / warm_wall:8.1f}x")
    if problems:
        print("outputs differ:")
        for p in problems[:20]:
            print("  " + p)
        return 1
    print(
        "outputs equivalent: every file, section, caption and picture of the baseline"
        " (same sizes; pictures as SVG)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
