"""Populations of users: seeded generators of pua behaviour (project issue 13).

=================  ==============================================================
module             job
=================  ==============================================================
``distributions``  fixed, uniform, exponential, normal (clipped), choice
``model``          :class:`Population` and its behaviours (frozen values)
``spec``           a population from a scenario file's ``population:`` block
``schedule``       the lazy, time-ordered stream of :class:`Action` values
=================  ==============================================================

A population knows no protocol: the scenario runner turns its actions into
pua API and pua_rpc calls (``puasim.scenario.feed``).
"""

from puasim.population.distributions import (
    Choice,
    Exponential,
    Fixed,
    Normal,
    Uniform,
    distribution,
)
from puasim.population.model import (
    ChurnBehaviour,
    CrashBehaviour,
    Population,
    PopulationError,
    PublishBehaviour,
    WatchBehaviour,
)
from puasim.population.schedule import Action, actions
from puasim.population.spec import populations_from_data

__all__ = [
    "Action",
    "Choice",
    "ChurnBehaviour",
    "CrashBehaviour",
    "Exponential",
    "Fixed",
    "Normal",
    "Population",
    "PopulationError",
    "PublishBehaviour",
    "Uniform",
    "WatchBehaviour",
    "actions",
    "distribution",
    "populations_from_data",
]
