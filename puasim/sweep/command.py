"""``puasim sweep``: argument types and the command (the parser lives in :mod:`puasim.cli`)."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

from puasim.sweep.plan import parse_set
from puasim.sweep.seeds import parse_seeds

Bad = argparse.ArgumentTypeError


def set_arg(text: str) -> tuple[str, list[Any]]:
    """``--set NAME=V1,V2``."""
    try:
        return parse_set(text)
    except ValueError as exc:
        raise Bad(str(exc)) from None


def seeds_arg(text: str) -> tuple[int, ...]:
    """``--seeds 1-20`` (or ``1,2,5`` or ``1-5,9``)."""
    try:
        return parse_seeds(text)
    except ValueError as exc:
        raise Bad(str(exc)) from None


def scheduler_arg(text: str) -> str:
    """``--scheduler tcp://HOST:PORT`` (also ``tls://``)."""
    if not re.fullmatch(r"(tcp|tls)://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):\d{1,5}", text) or not (
        0 < int(text.rsplit(":", 1)[1]) < 65536
    ):
        raise Bad(f"expected tcp://HOST:PORT, got {text!r}")
    return text


def workers_arg(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise Bad(f"expected a number of worker processes, got {text!r}") from None
    if n < 1:
        raise Bad(f"needs at least 1 worker, got {n}")
    return n


def metrics_arg(text: str) -> list[str]:
    from puasim.sweep.plan import metric_names

    names = [m.strip() for m in text.split(",") if m.strip()]
    unknown = [m for m in names if m not in metric_names()]
    if not names or unknown:
        raise Bad(f"unknown metric {unknown[0] if unknown else text!r} (known: {', '.join(metric_names())})")
    return names


def command(args: argparse.Namespace) -> int:
    """Run the sweep; exit 0 when every run passed, 1 when some did not, 2 on bad input, 130 on Ctrl-C."""
    from puasim.progress import wanted
    from puasim.scenario.loader import ScenarioError
    from puasim.sweep.overrides import OverrideError
    from puasim.sweep.plan import is_sweep_file, load_sweep, sweep_from_args

    target = Path(args.target)
    try:
        if is_sweep_file(target):
            if args.set or args.seeds or args.metrics:
                print("puasim sweep: --set, --seeds and --metrics go with a scenario file, not a sweep file",
                      file=sys.stderr)
                return 2
            sweep = load_sweep(target)
        else:
            sweep = sweep_from_args(target, list(args.set or []), args.seeds, args.metrics)
    except (ScenarioError, OverrideError) as exc:
        print(f"puasim sweep: {exc}", file=sys.stderr)
        return 2
    try:
        import pandas  # noqa: F401
        import pyarrow  # noqa: F401
    except ImportError as exc:
        print(f"puasim sweep: the results table needs pip install 'puasim[report]': {exc}", file=sys.stderr)
        return 2
    executor = "dask" if (args.dask or args.scheduler) else ("serial" if args.serial else "pool")
    if executor == "dask":
        try:
            import distributed  # noqa: F401
        except ImportError as exc:
            print(f"puasim sweep: --dask and --scheduler need pip install 'puasim[dask]': {exc}", file=sys.stderr)
            return 2
    from puasim.sweep.run import run_sweep

    total = len(sweep.cases) * len(sweep.seeds)
    where = f"the cluster at {args.scheduler}" if args.scheduler else {
        "dask": "a Dask LocalCluster", "pool": "a local process pool", "serial": "this process"}[executor]
    print(f"sweep: {total} runs ({len(sweep.cases)} cases x {len(sweep.seeds)} seeds) on {where}", file=sys.stderr)
    try:
        outcome = run_sweep(
            sweep, args.out, executor=executor, workers=args.workers, scheduler=args.scheduler,
            retry_failed=args.retry_failed, progress=wanted(args.quiet), html=not args.no_html,
        )
    except OSError as exc:
        print(f"puasim sweep: {exc}", file=sys.stderr)
        return 2
    table = outcome.table
    passed = int((table["verdict"] == "pass").sum())
    errors = int((table["verdict"] == "error").sum())
    print(
        f"{len(table)} of {total} runs in the table ({outcome.ran} run now, {outcome.skipped} already done): "
        f"{passed} pass, {len(table) - passed - errors} fail, {errors} error",
    )
    print(f"results written to {outcome.parquet}" + (f" and {outcome.html}" if outcome.html else ""))
    if outcome.interrupted:
        print("interrupted: run the same command again to resume", file=sys.stderr)
        return 130
    return 0 if passed == len(table) == total else 1


__all__ = ["command", "metrics_arg", "scheduler_arg", "seeds_arg", "set_arg", "workers_arg"]
