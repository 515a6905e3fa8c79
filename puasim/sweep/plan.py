"""A sweep and its runs: the base scenario, the override cases, the seeds, the metrics.

:func:`load_sweep` reads a sweep file (YAML, ``docs/sweeps.md``) with
file:line:field errors; :func:`sweep_from_args` builds the same from
``puasim sweep SCENARIO --set NAME=V1,V2 --seeds 1-20``.  :func:`check`
builds every case once before anything runs, so a bad override value is
reported before the first run.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from puasim.scenario.loader import ScenarioError, load_file, load_text
from puasim.scenario.loader import Source as Doc
from puasim.sweep.overrides import Override, OverrideError, apply, resolve
from puasim.sweep.seeds import parse_seeds

SPEC_KEYS = {"base", "grid", "cases", "seeds", "metrics", "description"}


def metric_names() -> tuple[str, ...]:
    """Every summary metric of docs/metrics.md, in the order of the report's summary."""
    from puasim.report.running import RUNNING_KEYS

    return RUNNING_KEYS


@dataclass(frozen=True, slots=True)
class Sweep:
    """What to run: ``cases`` (one value per override) times ``seeds``."""

    base_file: str
    base_text: str
    overrides: tuple[Override, ...]
    cases: tuple[tuple[Any, ...], ...]
    seeds: tuple[int, ...]
    metrics: tuple[str, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(o.name for o in self.overrides)

    def base_doc(self) -> Doc:
        return load_text(self.base_text, self.base_file)


@dataclass(frozen=True, slots=True)
class Run:
    """One run of a sweep: its place, its key (stable across processes and machines), values and seed."""

    index: int
    run_id: str
    values: tuple[Any, ...]
    seed: int


def run_key(base_text: str, names: tuple[str, ...], values: tuple[Any, ...], seed: int) -> str:
    """A run's identity: the base scenario's text, the overrides and the seed (sha256, 16 hex digits)."""
    blob = json.dumps([hashlib.sha256(base_text.encode()).hexdigest(), list(names), list(values), seed], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def plan_runs(sweep: Sweep) -> list[Run]:
    """Every run in a fixed order: cases in the order given, seeds within each case."""
    runs: list[Run] = []
    for values, seed in itertools.product(sweep.cases, sweep.seeds):
        runs.append(Run(len(runs), run_key(sweep.base_text, sweep.names, values, seed), values, seed))
    return runs


def check(sweep: Sweep) -> None:
    """Build every case once (with the first seed): a bad value fails here, before any run."""
    doc = sweep.base_doc()
    for values in sweep.cases:
        apply(doc, sweep.overrides, values, sweep.seeds[0])


def _read_base(path: Path, origin: str) -> tuple[str, str]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise OverrideError(f"{origin}: cannot read the base scenario {path}: {exc.strerror}") from None
    load_file(path)  # a bad base scenario is reported with its own file:line:field
    return str(path), text


def _metrics(value: Any, report: Any) -> tuple[str, ...]:
    known = metric_names()
    if value is None:
        return known
    if not isinstance(value, list) or not value or not all(isinstance(m, str) for m in value):
        report((), "metrics must be a non-empty list of metric names")
    for i, m in enumerate(value):
        if m not in known:
            report((i,), f"unknown metric {m!r} (known: {', '.join(known)})")
    return tuple(dict.fromkeys(value))


def load_sweep(path: str | Path) -> Sweep:
    """A sweep file; errors name the file, line and field (:class:`ScenarioError`/:class:`OverrideError`)."""
    doc = load_file(path)
    raw = doc.data
    if not isinstance(raw, dict):
        raise doc.error((), "a sweep file must be a mapping at the top level")
    for key in raw:
        if key not in SPEC_KEYS:
            raise doc.error((key,), f"unknown field (allowed: {', '.join(sorted(SPEC_KEYS))})")
    if not isinstance(raw.get("base"), str):
        raise doc.error(("base",), "missing or not text: the base scenario file (relative to this file)")
    base_path = doc.base / raw["base"]
    if not base_path.is_file():
        raise doc.error(("base",), f"no such scenario file: {base_path}")
    base_file, base_text = _read_base(base_path, f"{doc.file}:{doc.line(('base',))}: base")
    base_doc = load_text(base_text, base_file)

    def where(path: tuple) -> str:
        err = doc.error(path, "")
        return f"{err.file}:{err.line}: {err.field}"

    if "grid" in raw and "cases" in raw:
        raise doc.error(("cases",), "give grid or cases, not both")
    overrides: list[Override] = []
    cases: list[tuple[Any, ...]] = []
    if "grid" in raw:
        grid = raw["grid"]
        if not isinstance(grid, dict) or not grid:
            raise doc.error(("grid",), "grid must map override names to lists of values")
        axes = []
        for name, values in grid.items():
            if not isinstance(values, list) or not values:
                raise doc.error(("grid", name), "expected a non-empty list of values")
            overrides.append(resolve(str(name), base_doc.data, where(("grid", name))))
            axes.append(values)
        cases = [tuple(c) for c in itertools.product(*axes)]
    elif "cases" in raw:
        items = raw["cases"]
        if not isinstance(items, list) or not items:
            raise doc.error(("cases",), "cases must be a non-empty list of mappings (name: value)")
        names: list[str] = []
        for i, case in enumerate(items):
            if not isinstance(case, dict) or not case:
                raise doc.error(("cases", i), "expected a mapping of override names to values")
            for name in case:
                if name not in names:
                    names.append(str(name))
                    overrides.append(resolve(str(name), base_doc.data, where(("cases", i, name))))
        for i, case in enumerate(items):
            missing = [n for n in names if n not in case]
            if missing:
                raise doc.error(("cases", i), f"every case sets the same names; this one lacks {', '.join(missing)}")
            cases.append(tuple(case[n] for n in names))
    else:
        cases = [()]
    _unique(overrides, doc)
    if "seeds" in raw:
        try:
            seeds = parse_seeds(raw["seeds"])
        except ValueError as exc:
            raise doc.error(("seeds",), str(exc)) from None
    else:
        seeds = (base_doc.data.get("seed", 1),) if isinstance(base_doc.data, dict) else (1,)

    def report(path: tuple, problem: str) -> None:
        raise doc.error(("metrics", *path), problem)

    metrics = _metrics(raw.get("metrics"), report)
    sweep = Sweep(base_file, base_text, tuple(overrides), tuple(cases), seeds, metrics)
    check(sweep)
    return sweep


def _unique(overrides: list[Override], doc: Doc | None) -> None:
    seen: dict[tuple, Override] = {}
    for o in overrides:
        if o.path in seen:
            msg = f"{o.origin}: {o.name!r} sets {o.field}, as {seen[o.path].name!r} does"
            raise OverrideError(msg)
        seen[o.path] = o


def parse_set(text: str) -> tuple[str, list[Any]]:
    """``NAME=V1,V2,...`` of ``--set``: values read as YAML scalars (``30`` is a number, ``kamailio`` text)."""
    name, eq, values = text.partition("=")
    if not eq or not name.strip():
        raise ValueError(f"expected NAME=VALUE[,VALUE...], got {text!r}")
    out = []
    for item in values.split(","):
        if not item.strip():
            raise ValueError(f"empty value in {text!r}")
        try:
            out.append(yaml.safe_load(item))
        except yaml.YAMLError:
            out.append(item)
    return name.strip(), out


def sweep_from_args(
    scenario: str | Path, sets: list[tuple[str, list[Any]]], seeds: tuple[int, ...] | None,
    metrics: list[str] | None = None,
) -> Sweep:
    """The sweep of ``puasim sweep SCENARIO --set ... --seeds ...``: the grid of every ``--set``."""
    base_file, base_text = _read_base(Path(scenario), "scenario")
    base_doc = load_text(base_text, base_file)
    overrides = [resolve(name, base_doc.data, f"--set {name}") for name, _ in sets]
    _unique(overrides, None)
    cases = [tuple(c) for c in itertools.product(*(values for _, values in sets))]
    if seeds is None:
        seeds = (base_doc.data.get("seed", 1),) if isinstance(base_doc.data, dict) else (1,)

    def report(path: tuple, problem: str) -> None:
        raise OverrideError(f"--metrics: {problem}")

    sweep = Sweep(base_file, base_text, tuple(overrides), tuple(cases), seeds, _metrics(metrics, report))
    check(sweep)
    return sweep


def is_sweep_file(path: str | Path) -> bool:
    """Whether a YAML file is a sweep file (it names a ``base`` scenario) rather than a scenario."""
    try:
        data = load_file(path).data
    except ScenarioError:
        return False
    return isinstance(data, dict) and "base" in data


__all__ = [
    "Run", "SPEC_KEYS", "Sweep", "check", "is_sweep_file", "load_sweep", "metric_names", "parse_set",
    "plan_runs", "run_key", "sweep_from_args",
]
