"""Seeded distributions for population behaviour: fixed, uniform, exponential, normal, choice.

A distribution is a frozen value; :meth:`draw` takes the generator to draw
from, so the same distribution object can serve many users and runs.  The
generators come from the run's per-component streams
(:class:`puasim.sim.rng.Streams`), never from the global ``random`` module.

In a scenario file a distribution is written as a number (fixed) or as a
mapping with exactly one key::

    30                                   # fixed
    {fixed: 30}
    {uniform: [10, 50]}                  # low, high
    {exponential: 120}                   # mean
    {normal: {mean: 60, sd: 10, min: 0, max: 120}}   # clipped to [min, max]
    {choice: {values: [600, 3600], weights: [3, 1]}}
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any


class DistributionError(ValueError):
    """A distribution spec is invalid; ``path`` names the offending field below the spec."""

    def __init__(self, path: tuple[Any, ...], problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(problem)


def _number(value: Any, path: tuple[Any, ...]) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise DistributionError(path, f"expected a finite number, got {value!r}")
    return float(value)


@dataclass(frozen=True, slots=True)
class Fixed:
    """Always ``value``."""

    value: float

    def draw(self, rng: random.Random) -> float:
        return self.value

    @property
    def low(self) -> float:
        return self.value

    @property
    def mean(self) -> float:
        return self.value


@dataclass(frozen=True, slots=True)
class Uniform:
    """Uniform on [``low``, ``high``]."""

    low: float
    high: float

    def __post_init__(self) -> None:
        if self.high < self.low:
            raise DistributionError((), f"uniform needs low <= high, got [{self.low}, {self.high}]")

    def draw(self, rng: random.Random) -> float:
        return rng.uniform(self.low, self.high)

    @property
    def mean(self) -> float:
        return (self.low + self.high) / 2


@dataclass(frozen=True, slots=True)
class Exponential:
    """Exponential with the given ``mean`` (a Poisson process's inter-event times)."""

    mean: float

    def __post_init__(self) -> None:
        if not self.mean > 0:
            raise DistributionError((), f"exponential needs a mean > 0, got {self.mean}")

    def draw(self, rng: random.Random) -> float:
        return rng.expovariate(1.0 / self.mean)

    @property
    def low(self) -> float:
        return 0.0


@dataclass(frozen=True, slots=True)
class Normal:
    """Normal (``mean``, ``sd``), each draw clipped to [``min``, ``max``]."""

    mean: float
    sd: float
    min: float = -math.inf
    max: float = math.inf

    def __post_init__(self) -> None:
        if self.sd < 0:
            raise DistributionError(("sd",), f"sd must be >= 0, got {self.sd}")
        if self.max < self.min:
            raise DistributionError(("max",), f"max must be >= min, got [{self.min}, {self.max}]")

    def draw(self, rng: random.Random) -> float:
        return min(self.max, max(self.min, rng.gauss(self.mean, self.sd)))

    @property
    def low(self) -> float:
        return self.min


@dataclass(frozen=True, slots=True)
class Choice:
    """One of ``values`` with the given relative ``weights``."""

    values: tuple[float, ...]
    weights: tuple[float, ...]

    def __post_init__(self) -> None:
        if not self.values:
            raise DistributionError(("values",), "choice needs at least one value")
        if len(self.weights) != len(self.values):
            raise DistributionError(("weights",), f"{len(self.weights)} weights for {len(self.values)} values")
        if any(w < 0 for w in self.weights) or sum(self.weights) <= 0:
            raise DistributionError(("weights",), "weights must be >= 0 with a positive sum")

    def draw(self, rng: random.Random) -> float:
        return rng.choices(self.values, self.weights)[0]

    @property
    def low(self) -> float:
        return min(v for v, w in zip(self.values, self.weights, strict=True) if w > 0)

    @property
    def mean(self) -> float:
        return sum(v * w for v, w in zip(self.values, self.weights, strict=True)) / sum(self.weights)


Distribution = Fixed | Uniform | Exponential | Normal | Choice
KINDS = ("fixed", "uniform", "exponential", "normal", "choice")


def distribution(spec: Any) -> Distribution:
    """A :data:`Distribution` from its scenario-file form (a number or a one-key mapping).

    Raises :class:`DistributionError` whose ``path`` is relative to ``spec``.
    """
    if isinstance(spec, Fixed | Uniform | Exponential | Normal | Choice):
        return spec
    if not isinstance(spec, dict):
        if isinstance(spec, int | float) and not isinstance(spec, bool):
            return Fixed(_number(spec, ()))
        raise DistributionError((), f"expected a number or one of {{{', '.join(KINDS)}}}: ..., got {spec!r}")
    if len(spec) != 1 or next(iter(spec)) not in KINDS:
        raise DistributionError((), f"a distribution is a mapping with exactly one of: {', '.join(KINDS)}")
    kind, arg = next(iter(spec.items()))
    here = (kind,)
    try:
        if kind == "fixed":
            return Fixed(_number(arg, here))
        if kind == "exponential":
            return Exponential(_number(arg, here))
        if kind == "uniform":
            if not isinstance(arg, list) or len(arg) != 2:
                raise DistributionError(here, "uniform takes [low, high]")
            return Uniform(_number(arg[0], (*here, 0)), _number(arg[1], (*here, 1)))
        if kind == "normal":
            if not isinstance(arg, dict) or not {"mean", "sd"} <= set(arg) or set(arg) - {"mean", "sd", "min", "max"}:
                raise DistributionError(here, "normal takes {mean, sd} and optionally min, max (the clip)")
            return Normal(
                _number(arg["mean"], (*here, "mean")),
                _number(arg["sd"], (*here, "sd")),
                _number(arg.get("min", -math.inf), (*here, "min")) if "min" in arg else -math.inf,
                _number(arg["max"], (*here, "max")) if "max" in arg else math.inf,
            )
        if not isinstance(arg, dict) or set(arg) != {"values", "weights"}:
            raise DistributionError(here, "choice takes {values: [...], weights: [...]}")
        values, weights = arg["values"], arg["weights"]
        if not isinstance(values, list) or not isinstance(weights, list):
            raise DistributionError(here, "values and weights must be lists")
        return Choice(
            tuple(_number(v, (*here, "values", i)) for i, v in enumerate(values)),
            tuple(_number(w, (*here, "weights", i)) for i, w in enumerate(weights)),
        )
    except DistributionError as exc:
        if exc.path and exc.path[0] == kind:
            raise
        raise DistributionError((*here, *exc.path), exc.problem) from None


__all__ = ["Choice", "Distribution", "DistributionError", "Exponential", "Fixed", "Normal", "Uniform", "distribution"]
