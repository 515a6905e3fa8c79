"""Override names (``update_period``, ``server.knobs.max_expires``, ``users``) and applying them.

An override names one field of a scenario file.  Short names are looked up
among the pua module parameters (``pua.params``), the presence server's
profile knobs (``server.knobs``), the network settings (``network``), the
population size (``users``) and the run length (``duration``); a dotted path
(``pua.params.update_period``, ``population[1].users``) names any field.
Values are applied to the file's data and the scenario is built again by the
scenario layer, so a bad value fails with that layer's checks; the error names
where the override came from (the sweep file's line and field, or ``--set``).
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Any

from puasim.scenario.loader import ScenarioError
from puasim.scenario.loader import Source as Doc

NETWORK_KEYS = ("latency_ms", "jitter_ms", "jitter_kind", "loss", "duplicate")
#: fields a sweep sets itself
RESERVED = {"seed": "the seeds are the sweep's own axis: give them as seeds (or --seeds)"}
_SEGMENT = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)((?:\[\d+\])*)$")


class OverrideError(ValueError):
    """A bad override name or value; ``str()`` starts with where it was given."""


@dataclass(frozen=True, slots=True)
class Override:
    """One swept field: its name as given, its path in the scenario data and where it was given."""

    name: str
    path: tuple[Any, ...]
    origin: str

    @property
    def field(self) -> str:
        return _dotted(self.path)


def _dotted(path: tuple[Any, ...]) -> str:
    return ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in path).replace(".[", "[")


def _split(name: str) -> tuple[Any, ...] | None:
    path: list[Any] = []
    for part in name.split("."):
        m = _SEGMENT.match(part)
        if m is None:
            return None
        path.append(m.group(1))
        path.extend(int(i) for i in re.findall(r"\[(\d+)\]", m.group(2)))
    return tuple(path)


def _short_names() -> dict[str, tuple[Any, ...]]:
    """Short name -> path; a pua parameter wins over a server knob of the same name
    (``default_expires``, ``min_expires``): the server's is ``server.knobs.NAME``."""
    from puasim.pua.config import PARAM_NAMES
    from puasim.server.profiles import _KNOBS

    table: dict[str, tuple[Any, ...]] = {}
    for name in PARAM_NAMES:
        table.setdefault(name, ("pua", "params", name))
    for name in (*sorted(_KNOBS - {"name"}), "clean_period_s", "pending_for_s"):
        table.setdefault(name, ("server", "knobs", name))
    for name in NETWORK_KEYS:
        table.setdefault(name, ("network", name))
    table["duration"] = ("duration",)
    return table


def resolve(name: str, data: Any, origin: str) -> Override:
    """The :class:`Override` for ``name`` on a scenario's ``data``; :class:`OverrideError` when unknown."""
    name = name.strip()
    if name in RESERVED:
        raise OverrideError(f"{origin}: {name!r} cannot be overridden: {RESERVED[name]}")
    if name == "users":
        pop = data.get("population") if isinstance(data, dict) else None
        if pop is None:
            raise OverrideError(f"{origin}: 'users' sets the population size, but the base scenario has no population block")
        if isinstance(pop, list):
            if len(pop) != 1:
                raise OverrideError(
                    f"{origin}: 'users' is ambiguous: the base scenario has {len(pop)} population groups; "
                    "name one, e.g. population[0].users"
                )
            return Override(name, ("population", 0, "users"), origin)
        return Override(name, ("population", "users"), origin)
    if "." not in name and "[" not in name:
        if name == "params" or name == "knobs":
            raise OverrideError(f"{origin}: {name!r} is a block; name one field of it")
        path = _short_names().get(name)
        if path is None:
            raise OverrideError(
                f"{origin}: unknown override {name!r} (a pua parameter, a server knob, a network setting, "
                "users, duration, or a dotted path such as pua.params.update_period)"
            )
        return Override(name, path, origin)
    dotted = _split(name)
    if dotted is None:
        raise OverrideError(f"{origin}: {name!r} is not a field path (e.g. pua.params.update_period, population[0].users)")
    from puasim.scenario.spec import TOP_KEYS

    if dotted[0] not in TOP_KEYS or dotted[0] in RESERVED:
        raise OverrideError(f"{origin}: unknown top-level field {dotted[0]!r} in {name!r}")
    return Override(name, dotted, origin)


def _set(data: Any, path: tuple[Any, ...], value: Any, override: Override) -> None:
    node = data
    for i, key in enumerate(path[:-1]):
        nxt = path[i + 1]
        if isinstance(key, int):
            if not isinstance(node, list) or key >= len(node):
                raise OverrideError(f"{override.origin}: {override.field}: the base scenario has no {_dotted(path[: i + 1])}")
            node = node[key]
            continue
        if not isinstance(node, dict):
            raise OverrideError(f"{override.origin}: {override.field}: {_dotted(path[:i])} is not a mapping in the base scenario")
        if node.get(key) is None:
            if isinstance(nxt, int):
                raise OverrideError(f"{override.origin}: {override.field}: the base scenario has no {_dotted(path[: i + 1])}")
            node[key] = {}
        node = node[key]
    last = path[-1]
    if isinstance(last, int):
        if not isinstance(node, list) or last >= len(node):
            raise OverrideError(f"{override.origin}: {override.field}: the base scenario has no {_dotted(path)}")
    elif not isinstance(node, dict):
        raise OverrideError(f"{override.origin}: {override.field}: {_dotted(path[:-1])} is not a mapping in the base scenario")
    node[last] = value


def apply(doc: Doc, overrides: tuple[Override, ...], values: tuple[Any, ...], seed: int | None = None) -> Any:
    """The :class:`~puasim.scenario.spec.Scenario` of ``doc`` with ``values`` set (and ``seed``).

    A value the scenario layer rejects raises :class:`OverrideError` naming
    the override's origin, the value and the scenario layer's reason
    (with the base file's line of the field when the file has it).
    """
    from puasim.scenario.spec import build

    data = copy.deepcopy(doc.data)
    if not isinstance(data, dict):
        raise doc.error((), "a scenario file must be a mapping at the top level")
    for override, value in zip(overrides, values, strict=True):
        _set(data, override.path, value, override)
    if seed is not None:
        data["seed"] = seed
    try:
        return build(Doc(doc.file, data, doc.lines))
    except ScenarioError as exc:
        culprits = [
            (o, v) for o, v in zip(overrides, values, strict=True)
            if exc.field and (o.field == exc.field or o.field.startswith(exc.field + ".")
                              or o.field.startswith(exc.field + "[") or exc.field.startswith(o.field))
        ]
        if not culprits:
            raise
        given = ", ".join(f"{o.name}={v!r}" for o, v in culprits)
        raise OverrideError(f"{culprits[0][0].origin}: {given}: {exc.problem} (as {exc.field} of {exc.file})") from None


__all__ = ["NETWORK_KEYS", "Override", "OverrideError", "apply", "resolve"]
