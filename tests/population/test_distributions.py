"""Seeded distributions: their scenario-file forms, their errors, and their draws."""

from __future__ import annotations

import math
import random
import statistics

import pytest

from puasim.population.distributions import (
    Choice,
    DistributionError,
    Exponential,
    Fixed,
    Normal,
    Uniform,
    distribution,
)


@pytest.mark.parametrize(
    "spec, want",
    [
        (30, Fixed(30.0)),
        (2.5, Fixed(2.5)),
        ({"fixed": 4}, Fixed(4.0)),
        ({"uniform": [1, 3]}, Uniform(1.0, 3.0)),
        ({"exponential": 60}, Exponential(60.0)),
        ({"normal": {"mean": 10, "sd": 2, "min": 5}}, Normal(10.0, 2.0, 5.0, math.inf)),
        ({"choice": {"values": [600, 3600], "weights": [3, 1]}}, Choice((600.0, 3600.0), (3.0, 1.0))),
    ],
)
def test_forms(spec, want):
    assert distribution(spec) == want


@pytest.mark.parametrize(
    "spec, path, words",
    [
        ("often", (), "expected a number"),
        (True, (), "expected a number"),
        ({"uniform": [3, 1]}, ("uniform",), "low <= high"),
        ({"uniform": [1, "x"]}, ("uniform", 1), "finite number"),
        ({"uniform": 5}, ("uniform",), "[low, high]"),
        ({"exponential": 0}, ("exponential",), "mean > 0"),
        ({"normal": {"mean": 1}}, ("normal",), "{mean, sd}"),
        ({"normal": {"mean": 1, "sd": -1}}, ("normal", "sd"), ">= 0"),
        ({"choice": {"values": [1, 2], "weights": [1]}}, ("choice", "weights"), "1 weights for 2 values"),
        ({"choice": {"values": [1], "weights": [0]}}, ("choice", "weights"), "positive sum"),
        ({"poisson": 3}, (), "exactly one of"),
        ({"fixed": 1, "uniform": [0, 1]}, (), "exactly one of"),
        ({"fixed": float("nan")}, ("fixed",), "finite"),
    ],
)
def test_errors_name_the_field(spec, path, words):
    with pytest.raises(DistributionError) as info:
        distribution(spec)
    assert info.value.path == path
    assert words in info.value.problem


def test_draws_stay_in_their_support_and_follow_their_mean():
    rng = random.Random(5)
    u = [Uniform(2, 4).draw(rng) for _ in range(4000)]
    assert 2 <= min(u) and max(u) <= 4 and abs(statistics.fmean(u) - 3) < 0.05
    e = [Exponential(10).draw(rng) for _ in range(4000)]
    assert min(e) >= 0 and abs(statistics.fmean(e) - 10) < 0.6
    n = [Normal(0, 5, -1, 1).draw(rng) for _ in range(4000)]
    assert min(n) == -1 and max(n) == 1, "normal draws are clipped to [min, max]"
    c = [Choice((1.0, 2.0), (3.0, 1.0)).draw(rng) for _ in range(4000)]
    assert set(c) == {1.0, 2.0} and abs(c.count(1.0) / 4000 - 0.75) < 0.03


def test_same_generator_state_same_draws():
    dist = distribution({"normal": {"mean": 3, "sd": 1}})
    a, b = random.Random(9), random.Random(9)
    assert [dist.draw(a) for _ in range(10)] == [dist.draw(b) for _ in range(10)]
