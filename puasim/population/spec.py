"""A population from its scenario-file form (plain data: mappings, lists, numbers).

:func:`populations_from_data` accepts what a ``population:`` block holds (one
group as a mapping, or a list of groups) and raises :class:`PopulationError`
whose ``path`` names the field relative to the block; the scenario layer adds
the file and line.  The format is documented in ``docs/scenarios.md``.
"""

from __future__ import annotations

from typing import Any

from puasim.population.distributions import Distribution, DistributionError, distribution
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

GROUP_KEYS = {"name", "users", "arrival", "domain", "publish", "watch", "churn", "crash", "register", "calls"}
PUBLISH_KEYS = {"expires", "modify", "republish", "via", "event", "source"}
WATCH_KEYS = {"count", "expires", "via", "event", "source"}
CHURN_KEYS = {"online", "away", "rate_per_hour"}
CRASH_KEYS = {"after", "recover", "rate_per_hour"}
REGISTER_KEYS = {"expires", "refresh"}
CALL_KEYS = {"interval", "rate_per_hour", "holding", "answer_after"}
#: names a reader may reach for, and where the field really is
ALIASES = {
    "registration": "register",
    "registration_interval": "register.expires",
    "call_rate": "calls.rate_per_hour",
    "holding_time": "calls.holding",
}


def _mapping(value: Any, path: tuple, keys: set[str]) -> dict:
    if not isinstance(value, dict):
        raise PopulationError(path, f"expected a mapping, got {type(value).__name__}")
    for key in value:
        if key in ALIASES:
            raise PopulationError((*path, key), f"unknown field; the population block calls it {ALIASES[key]}")
        if key not in keys:
            raise PopulationError((*path, key), f"unknown field (allowed: {', '.join(sorted(keys))})")
    return value


def _dist(value: Any, path: tuple) -> Distribution:
    try:
        return distribution(value)
    except DistributionError as exc:
        raise PopulationError((*path, *exc.path), exc.problem) from None


def _text(value: Any, path: tuple) -> str:
    if not isinstance(value, str) or not value:
        raise PopulationError(path, f"expected text, got {value!r}")
    return value


def _via(value: Any, path: tuple) -> Any:
    if isinstance(value, dict):
        return dict(value)
    if isinstance(value, str):
        return value
    raise PopulationError(path, f"via is api, rpc or weights such as {{api: 3, rpc: 1}}, got {value!r}")


def _rate_or(spec: dict, key: str, path: tuple) -> Distribution:
    """``key`` as a distribution, or ``rate_per_hour`` r as exponential times of mean 3600/r."""
    if key in spec and "rate_per_hour" in spec:
        raise PopulationError((*path, "rate_per_hour"), f"give {key} or rate_per_hour, not both")
    if "rate_per_hour" in spec:
        rate = spec["rate_per_hour"]
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not rate > 0:
            raise PopulationError((*path, "rate_per_hour"), f"must be a number > 0, got {rate!r}")
        return _dist({"exponential": 3600.0 / rate}, (*path, "rate_per_hour"))
    if key not in spec:
        raise PopulationError(path, f"missing {key} (or rate_per_hour)")
    return _dist(spec[key], (*path, key))


def _refresh(value: Any, path: tuple) -> tuple[str, float]:
    """``{fraction: f}``, ``{lead: s}`` or ``none``, as a ``phones:`` entry gives it."""
    if value == "none":
        return ("none", 0.0)
    if not isinstance(value, dict) or len(value) != 1:
        raise PopulationError(path, "give one of {fraction: f} (0 < f < 1), {lead: seconds} or the word none")
    kind, amount = next(iter(value.items()))
    if kind not in ("fraction", "lead"):
        raise PopulationError((*path, kind), "unknown field (allowed: fraction, lead)")
    if isinstance(amount, bool) or not isinstance(amount, int | float):
        raise PopulationError((*path, kind), f"expected a number, got {amount!r}")
    return (kind, float(amount))


def _build(cls: Any, path: tuple, **kwargs: Any) -> Any:
    try:
        return cls(**kwargs)
    except PopulationError as exc:
        raise PopulationError((*path, *exc.path), exc.problem) from None


def population_from_data(raw: Any, path: tuple = ()) -> Population:
    """One group."""
    spec = _mapping(raw, path, GROUP_KEYS)
    if "users" not in spec:
        raise PopulationError(path, "missing users (how many)")
    kwargs: dict[str, Any] = {"users": spec["users"]}
    if "name" in spec:
        kwargs["name"] = _text(spec["name"], (*path, "name"))
    if "domain" in spec:
        kwargs["domain"] = _text(spec["domain"], (*path, "domain"))
    if "arrival" in spec:
        kwargs["arrival"] = _dist(spec["arrival"], (*path, "arrival"))
    kwargs["publish"] = None
    if "publish" in spec:
        p, pp = _mapping(spec["publish"] or {}, (*path, "publish"), PUBLISH_KEYS), (*path, "publish")
        args: dict[str, Any] = {k: _dist(p[k], (*pp, k)) for k in ("expires", "modify", "republish") if k in p}
        args.update({k: _text(p[k], (*pp, k)) for k in ("event", "source") if k in p})
        if "via" in p:
            args["via"] = _via(p["via"], (*pp, "via"))
        kwargs["publish"] = _build(PublishBehaviour, pp, **args)
    if "watch" in spec:
        w, wp = _mapping(spec["watch"] or {}, (*path, "watch"), WATCH_KEYS), (*path, "watch")
        args = {k: _dist(w[k], (*wp, k)) for k in ("count", "expires") if k in w}
        args.update({k: _text(w[k], (*wp, k)) for k in ("event", "source") if k in w})
        if "via" in w:
            args["via"] = _via(w["via"], (*wp, "via"))
        kwargs["watch"] = _build(WatchBehaviour, wp, **args)
    if "churn" in spec:
        c, cp = _mapping(spec["churn"], (*path, "churn"), CHURN_KEYS), (*path, "churn")
        away = _dist(c["away"], (*cp, "away")) if "away" in c else None
        kwargs["churn"] = _build(ChurnBehaviour, cp, online=_rate_or(c, "online", cp), away=away)
    if "crash" in spec:
        c, cp = _mapping(spec["crash"], (*path, "crash"), CRASH_KEYS), (*path, "crash")
        recover = _dist(c["recover"], (*cp, "recover")) if "recover" in c else None
        kwargs["crash"] = _build(CrashBehaviour, cp, after=_rate_or(c, "after", cp), recover=recover)
    if "register" in spec:
        g, gp = _mapping(spec["register"] or {}, (*path, "register"), REGISTER_KEYS), (*path, "register")
        args = {"expires": _dist(g["expires"], (*gp, "expires"))} if "expires" in g else {}
        if "refresh" in g:
            args["refresh"] = _refresh(g["refresh"], (*gp, "refresh"))
        kwargs["register"] = _build(RegisterBehaviour, gp, **args)
    if "calls" in spec:
        c, cp = _mapping(spec["calls"], (*path, "calls"), CALL_KEYS), (*path, "calls")
        args = {k: _dist(c[k], (*cp, k)) for k in ("holding", "answer_after") if k in c}
        kwargs["calls"] = _build(CallBehaviour, cp, interval=_rate_or(c, "interval", cp), **args)
    return _build(Population, path, **kwargs)


def populations_from_data(raw: Any) -> list[Population]:
    """A ``population:`` block: one group (a mapping) or a list of groups with distinct names."""
    if raw is None:
        return []
    groups = [population_from_data(raw)] if isinstance(raw, dict) else None
    if groups is None:
        if not isinstance(raw, list) or not raw:
            raise PopulationError((), "population is a mapping (one group) or a non-empty list of groups")
        groups = [population_from_data(g, (i,)) for i, g in enumerate(raw)]
    seen: dict[str, int] = {}
    for i, g in enumerate(groups):
        if g.name in seen:
            raise PopulationError((i, "name"), f"group name {g.name!r} already used by group {seen[g.name]}")
        seen[g.name] = i
    return groups


__all__ = ["ALIASES", "population_from_data", "populations_from_data"]
