"""What a population is: N users and the seeded behaviour of each (frozen values).

A population knows no protocol (DESIGN.md, layers): it says *when* a user
publishes, changes state, watches other users, leaves, comes back or dies,
and *through which door* (``api``: pua's ``send_publish``/``send_subscribe``;
``rpc``: the pua_rpc commands).  The scenario layer turns those actions
into pua calls; :mod:`puasim.population.schedule` generates them lazily.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from puasim.population.distributions import Choice, Distribution, DistributionError, Fixed, Normal

#: a group name: the user part of its users' URIs (RFC 3261 §25.1 unreserved characters)
_NAME = re.compile(r"[A-Za-z0-9_.-]+")
#: the doors a user's requests can come in by
VIA = ("api", "rpc")
#: the doors of publishing: also ``usrloc``, the phone's registration through the edge
#: node's pua_usrloc (pua-reference §9.2)
PUBLISH_VIA = (*VIA, "usrloc")
#: the doors of watching: also ``phone``, the user's own phone subscribing to the
#: watched users' dialog state at the presence server (a BLF key, RFC 4235)
WATCH_VIA = (*VIA, "phone")
#: a phone's own refresh policy: as ``phones:`` entries give it
REFRESH_KINDS = ("fraction", "lead", "none")


class PopulationError(ValueError):
    """A population spec is invalid; ``path`` names the field (relative to the spec)."""

    def __init__(self, path: tuple, problem: str) -> None:
        self.path = path
        self.problem = problem
        where = ".".join(str(p) for p in path)
        super().__init__(f"{where}: {problem}" if where else problem)


Doors = tuple[tuple[str, float], ...]
#: how a door is given: ``"api"``, ``{"api": 3, "rpc": 1}`` or ``(("api", 3), ("rpc", 1))``
DoorSpec = str | Mapping[str, float] | Doors


def _mix(value: DoorSpec, path: tuple, allowed: tuple[str, ...] = VIA) -> Doors:
    """``api``, ``{api: 3, rpc: 1}`` or pairs -> ((door, weight), ...) in a stable order."""
    if isinstance(value, str):
        pairs: list[tuple[str, float]] = [(value, 1.0)]
    elif isinstance(value, Mapping):
        pairs = list(value.items())
    else:
        pairs = [tuple(p) for p in value]  # type: ignore[misc]
    for name, weight in pairs:
        if name not in allowed:
            raise PopulationError((*path, name) if len(pairs) > 1 else path, f"unknown door {name!r} (one of: {', '.join(allowed)})")
        if isinstance(weight, bool) or not isinstance(weight, int | float) or weight < 0:
            raise PopulationError((*path, name), f"weight must be a number >= 0, got {weight!r}")
    if not pairs or sum(w for _, w in pairs) <= 0:
        raise PopulationError(path, "give at least one door with a positive weight")
    return tuple(sorted((n, float(w)) for n, w in pairs))


def _positive(dist: Distribution | None, path: tuple) -> None:
    """Times between events: never negative, and not 0 for a fixed value or a choice
    (continuous draws that land on 0 are moved to 1 ms by the schedule)."""
    if dist is None:
        return
    if dist.low < 0 or (dist.low == 0 and isinstance(dist, Fixed | Choice)):
        hint = " (give normal a min)" if isinstance(dist, Normal) else ""
        raise PopulationError(path, f"must be > 0 seconds, got a distribution reaching {dist.low:g}{hint}")


def _at_least(dist: Distribution | None, low: float, path: tuple) -> None:
    if dist is not None and dist.low < low:
        raise PopulationError(path, f"must be >= {low:g} (got a distribution reaching {dist.low:g})")


@dataclass(frozen=True, slots=True)
class PublishBehaviour:
    """How each user publishes its presence (pua-reference §3.1 publ_info, §9.1.1 pua.publish).

    ``expires``: seconds asked for (each draw rounded, at least 1), or a fixed -1:
    pua's ``default_expires``, an indefinite publication (§3.1, §5.3);
    ``modify``: time between state changes (a PUBLISH with a new body, §3.3 modify) or None;
    ``republish``: time between re-sends of the same state by the user (the way pua_usrloc
    re-publishes on every re-registration) or None: then pua alone keeps the
    publication alive until its desired expiry (§5.3).
    ``via``: the door, or weights per door (drawn once per user); ``usrloc``
    users publish nothing themselves: their phone's registration does it
    through the edge node's pua_usrloc (§9.2), so the group needs ``register``;
    ``source``: the source flag of direct API calls (§7.3).
    """

    expires: Distribution = Fixed(3600)
    modify: Distribution | None = None
    republish: Distribution | None = None
    via: DoorSpec = (("api", 1.0),)
    event: str = "presence"
    source: str = "RPC_PUBLISH"

    def __post_init__(self) -> None:
        object.__setattr__(self, "via", _mix(self.via, ("via",), PUBLISH_VIA))
        if self.expires != Fixed(-1):
            _at_least(self.expires, 0, ("expires",))
        _positive(self.modify, ("modify",))
        _positive(self.republish, ("republish",))

    @property
    def doors(self) -> Doors:
        """``via`` as ((door, weight), ...), sorted by door (how it is stored)."""
        return self.via  # type: ignore[return-value]


@dataclass(frozen=True, slots=True)
class WatchBehaviour:
    """Each user watches ``count`` other users of its group (its buddy list / BLF keys),
    subscribing when it joins and unsubscribing when it leaves (§4.1 subs_info, §9.1.2).

    ``count`` is drawn once per user and rounded; the number of watchers a user
    has then averages the same.  ``expires`` as for publishing.  ``via``
    ``phone``: the user's own phone subscribes to the watched users' ``dialog``
    state at the presence server, as a BLF key does (the group needs
    ``register``; the first draw of ``expires`` is what the phone asks for).
    """

    count: Distribution = Fixed(1)
    expires: Distribution = Fixed(600)
    via: DoorSpec = (("api", 1.0),)
    event: str = "presence"
    source: str = "RPC_SUBSCRIBE"

    def __post_init__(self) -> None:
        object.__setattr__(self, "via", _mix(self.via, ("via",), WATCH_VIA))
        if any(d == "phone" for d, _ in self.doors) and self.event != "dialog":
            raise PopulationError(("event",), "phones watch dialog state (BLF): give event: dialog with via phone")
        _at_least(self.count, 0, ("count",))
        _at_least(self.expires, 0, ("expires",))

    @property
    def doors(self) -> Doors:
        """``via`` as ((door, weight), ...), sorted by door (how it is stored)."""
        return self.via  # type: ignore[return-value]


@dataclass(frozen=True, slots=True)
class RegisterBehaviour:
    """Each user has a phone (:class:`~puasim.phones.Phone`) that REGISTERs through the
    edge node when the user joins (RFC 3261 §10.2), refreshes on its own, and
    de-registers (Expires 0) when the user leaves; a crash silences the phone, so
    its contact expires at the registrar (usrloc's timer, pua-reference §9.2).

    ``expires``: the Expires the phone asks for, seconds, drawn once per user
    and rounded (the registration interval); ``refresh``: the phone's own
    policy, ``("fraction", f)`` of the granted lifetime, ``("lead", s)`` before
    it ends, or ``("none", 0)``.
    """

    expires: Distribution = Fixed(3600)
    refresh: tuple[str, float] = ("fraction", 0.5)

    def __post_init__(self) -> None:
        _at_least(self.expires, 1, ("expires",))
        kind, amount = self.refresh
        if kind not in REFRESH_KINDS:
            raise PopulationError(("refresh",), f"refresh is fraction, lead or none, got {kind!r}")
        if kind == "fraction" and not 0 < amount < 1:
            raise PopulationError(("refresh", "fraction"), f"fraction must be between 0 and 1, got {amount}")
        if kind == "lead" and amount < 0:
            raise PopulationError(("refresh", "lead"), f"lead must be >= 0 seconds, got {amount}")


@dataclass(frozen=True, slots=True)
class CallBehaviour:
    """Each user's phone calls other users of its group through the edge node.

    ``interval``: time between the calls one user places (a Poisson process
    with ``rate_per_hour`` in the file form); the callee is drawn uniformly
    among the other users at each call; ``holding``: how long an answered call
    lasts before the caller hangs up (BYE), drawn per call; ``answer_after``:
    the callee's ring time before it answers (180, then 200), drawn once per
    user.  A callee that is offline, or rings past the node's ``fr_inv_timer``,
    does not answer: the call fails as it would on a real edge node.
    """

    interval: Distribution
    holding: Distribution = Fixed(120)
    answer_after: Distribution = Fixed(3)

    def __post_init__(self) -> None:
        _positive(self.interval, ("interval",))
        _at_least(self.holding, 0, ("holding",))
        _at_least(self.answer_after, 0, ("answer_after",))


@dataclass(frozen=True, slots=True)
class ChurnBehaviour:
    """Users leave cleanly after ``online`` (unpublish and unsubscribe, expires 0) and
    come back after ``away`` (None: they stay away)."""

    online: Distribution
    away: Distribution | None = None

    def __post_init__(self) -> None:
        _positive(self.online, ("online",))
        _positive(self.away, ("away",))


@dataclass(frozen=True, slots=True)
class CrashBehaviour:
    """Users die after ``after``: they stop sending anything (no unpublish, no re-publish);
    pua keeps what it holds until the desired expiry (§5.3).  They come back after
    ``recover`` (None: never)."""

    after: Distribution
    recover: Distribution | None = None

    def __post_init__(self) -> None:
        _positive(self.after, ("after",))
        _positive(self.recover, ("recover",))


@dataclass(frozen=True, slots=True)
class Population:
    """``users`` users named ``{name}{i}`` (i from 1, zero-padded), arriving at times drawn
    from ``arrival`` (seconds), each behaving as the behaviours say.

    ``domain``: host of the users' presentity URIs (default: the presence server's
    address as the scenario gives it).  Usable from Python as from a scenario
    file: ``dataclasses.replace(scenario, populations=[Population(...)])``.
    """

    users: int
    name: str = "user"
    arrival: Distribution = Fixed(0)
    publish: PublishBehaviour | None = field(default_factory=PublishBehaviour)
    watch: WatchBehaviour | None = None
    churn: ChurnBehaviour | None = None
    crash: CrashBehaviour | None = None
    domain: str | None = None
    register: RegisterBehaviour | None = None
    calls: CallBehaviour | None = None

    def __post_init__(self) -> None:
        if isinstance(self.users, bool) or not isinstance(self.users, int) or self.users < 1:
            raise PopulationError(("users",), f"users must be an integer >= 1, got {self.users!r}")
        if not isinstance(self.name, str) or not _NAME.fullmatch(self.name):
            raise PopulationError(("name",), f"name must be letters, digits, '_', '-' or '.', got {self.name!r}")
        _at_least(self.arrival, 0, ("arrival",))
        if self.publish is None and self.watch is None and self.register is None:
            raise PopulationError((), "a population needs publish, watch or register (else it does nothing)")
        if self.calls is not None and self.register is None:
            raise PopulationError(("calls",), "calls need register: a user calls from its registered phone")
        if self.publish is not None and self.register is None and any(d == "usrloc" for d, _ in self.publish.doors):
            raise PopulationError(("publish", "via"), "usrloc publishing comes from registrations: add register")
        if self.watch is not None and self.register is None and any(d == "phone" for d, _ in self.watch.doors):
            raise PopulationError(("watch", "via"), "phone watchers are the users' phones: add register")

    def user(self, index: int) -> str:
        """The user part of user ``index`` (0-based), e.g. ``user007`` of 100 users."""
        return f"{self.name}{index + 1:0{len(str(self.users))}d}"


__all__ = [
    "PUBLISH_VIA",
    "VIA",
    "WATCH_VIA",
    "CallBehaviour",
    "ChurnBehaviour",
    "CrashBehaviour",
    "DistributionError",
    "Population",
    "PopulationError",
    "PublishBehaviour",
    "RegisterBehaviour",
    "WatchBehaviour",
]
