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
pua API and pua_rpc calls and phone steps (``puasim.scenario.feed``).
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
    CallBehaviour,
    ChurnBehaviour,
    CrashBehaviour,
    Population,
    PopulationError,
    PublishBehaviour,
    RegisterBehaviour,
    WatchBehaviour,
)
from puasim.population.schedule import Action, actions
from puasim.population.spec import populations_from_data

__all__ = [
    "Action",
    "CallBehaviour",
    "Choice",
    "ChurnBehaviour",
    "CrashBehaviour",
    "Exponential",
    "Fixed",
    "Normal",
    "Population",
    "PopulationError",
    "PublishBehaviour",
    "RegisterBehaviour",
    "Uniform",
    "WatchBehaviour",
    "actions",
    "distribution",
    "populations_from_data",
]
