"""The ``population:`` block of a scenario file: file:line:field errors around
:func:`puasim.population.spec.populations_from_data`, plus the checks that
need the pua (event names, source flags)."""

from __future__ import annotations

from typing import Any

from puasim.population.model import Population, PopulationError
from puasim.population.spec import populations_from_data
from puasim.pua.config import PuaConfig
from puasim.pua.constants import Source, event_from_name
from puasim.scenario.loader import Source as Doc
from puasim.sip.uri import parse_uri


def check_population(pop: Population, cfg: PuaConfig, report: Any) -> None:
    """Event names the pua knows (§2.7), source flags (§7.3) and the users' URIs; ``report(path, problem)`` raises."""
    if pop.domain is not None:
        try:
            parse_uri(f"sip:{pop.user(0)}@{pop.domain}")
        except ValueError as exc:
            report(("domain",), f"sip:{pop.user(0)}@{pop.domain} is not a SIP URI: {exc}")
    for part, behaviour in (("publish", pop.publish), ("watch", pop.watch)):
        if behaviour is None:
            continue
        if event_from_name(behaviour.event, cfg.is_master) < 0:
            report((part, "event"), f"unknown event {behaviour.event!r}")
        if behaviour.source not in Source.__members__:
            report((part, "source"), f"unknown source flag {behaviour.source!r} (e.g. RPC_PUBLISH, UL_PUBLISH, RPC_SUBSCRIBE)")


def check_phones(doc: Doc, raw: dict, groups: list[Population], regs: Any, regs_ok: bool = True) -> None:
    """Groups with ``register``/``calls`` need the edge node (``node:``), and
    ``publish.via: usrloc`` its pua_usrloc; their users' names must not be
    ``phones:`` names (each phone is a node named after its user).  Nothing
    is said when the node blocks themselves were wrong (``regs_ok`` false):
    that error is already reported."""
    if not regs_ok:
        return
    many = isinstance(raw.get("population"), list)
    phone_names = {p.name for p in regs.phones} if regs is not None else set()
    for i, pop in enumerate(groups):
        where: tuple = ("population", i) if many else ("population",)
        for part in ("register", "calls"):
            if getattr(pop, part) is not None and regs is None:
                raise doc.error((*where, part), f"{part} needs a node: block (the edge node phones register with)")
        if pop.publish is not None and any(d == "usrloc" for d, _ in pop.publish.doors):
            if regs is not None and regs.node.pua_usrloc is None:
                raise doc.error((*where, "publish", "via"), "usrloc publishing needs pua_usrloc in node.modules")
        if pop.register is None:
            continue
        width = len(str(pop.users))
        for name in sorted(phone_names):
            rest = name[len(pop.name):]
            if name.startswith(pop.name) and len(rest) == width and rest.isdigit() and 1 <= int(rest) <= pop.users:
                raise doc.error((*where, "name"), f"user {name!r} of this group would clash with the phone named {name!r}")


def read_populations(doc: Doc, raw: dict, cfg: PuaConfig) -> list[Population]:
    """The groups of ``raw['population']`` (none when absent)."""
    base: tuple = ("population",)
    try:
        groups = populations_from_data(raw.get("population"))
    except PopulationError as exc:
        raise doc.error((*base, *exc.path), exc.problem) from None
    many = isinstance(raw.get("population"), list)
    for i, pop in enumerate(groups):
        where = (*base, i) if many else base

        def report(path: tuple, problem: str, where: tuple = where) -> None:
            raise doc.error((*where, *path), problem)

        check_population(pop, cfg, report)
    return groups


__all__ = ["check_phones", "check_population", "read_populations"]
