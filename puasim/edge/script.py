"""The routing script of the edge node as data: which functions each route calls.

A Kamailio edge proxy's ``request_route`` hands a REGISTER to a route that
calls module functions in order, e.g. (pua_usrloc's documented example)::

    if (is_method("REGISTER")) { pua_set_publish(); save("location"); }

Here a route is a list of :class:`Call`: a function with its arguments and an
optional condition on the From user (``if_user`` / ``unless_user``, regular
expressions searched in the user part, as the lab script's ``$fU =~ "^nopub"``).
:func:`parse_call` reads ``name("arg", ...)`` text.  :data:`FUNCTIONS` lists the
functions the model knows, the module that exports each one and the routes
it may be called from; a function of a module the node does not load is an
error before the run, as Kamailio refuses such a script at start-up.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: function -> (module, routes it is allowed in, min args, max args, modelled)
FUNCTIONS: dict[str, tuple[str, frozenset[str], int, int, bool]] = {
    "save": ("registrar", frozenset({"register"}), 1, 3, True),
    "pua_set_publish": ("pua_usrloc", frozenset({"register"}), 0, 0, True),
    "bla_set_flag": ("pua_bla", frozenset({"register"}), 0, 0, False),
    "reginfo_subscribe": ("pua_reginfo", frozenset({"register", "notify"}), 1, 2, False),
    "reginfo_handle_notify": ("pua_reginfo", frozenset({"notify"}), 1, 1, False),
    "bla_handle_notify": ("pua_bla", frozenset({"notify"}), 0, 0, False),
}

ROUTES = ("register",)

_CALL = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*\((.*)\)\s*;?\s*$")


class ScriptError(ValueError):
    """A script entry is not a call the model can run."""


@dataclass(frozen=True, slots=True)
class Call:
    """One function call of a route, with an optional condition on the From user."""

    function: str
    args: tuple[str, ...] = ()
    if_user: str = ""
    unless_user: str = ""

    def applies(self, user: str) -> bool:
        if self.if_user and not re.search(self.if_user, user):
            return False
        return not (self.unless_user and re.search(self.unless_user, user))

    def text(self) -> str:
        return f"{self.function}({', '.join(repr(a) for a in self.args)})"


@dataclass(frozen=True, slots=True)
class Script:
    """The routes of the edge node's script."""

    register: tuple[Call, ...]


def _split_args(text: str) -> tuple[str, ...]:
    text = text.strip()
    if not text:
        return ()
    out = []
    for piece in text.split(","):
        piece = piece.strip()
        if len(piece) >= 2 and piece[0] == piece[-1] and piece[0] in "\"'":
            piece = piece[1:-1]
        out.append(piece)
    return tuple(out)


def parse_call(text: str, route: str, modules: set[str]) -> Call:
    """``name(args)`` → :class:`Call`, checked against :data:`FUNCTIONS` and the loaded modules."""
    m = _CALL.match(text)
    if not m:
        raise ScriptError(f"not a function call: {text!r} (write e.g. save(\"location\"))")
    name, args = m.group(1), _split_args(m.group(2))
    known = FUNCTIONS.get(name)
    if known is None:
        raise ScriptError(f"unknown script function {name!r} (known: {', '.join(sorted(FUNCTIONS))})")
    module, routes, lo, hi, modelled = known
    if route not in routes:
        raise ScriptError(f"{name}() cannot be called from the {route} route")
    if not lo <= len(args) <= hi:
        raise ScriptError(f"{name}() takes {lo}..{hi} arguments, got {len(args)}")
    if module not in modules:
        raise ScriptError(f"{name}() is exported by {module}, which the node does not load (node.modules)")
    if not modelled:
        raise ScriptError(f"{name}() ({module}) is not modelled yet")
    return Call(name, args)


def default_script(modules: set[str]) -> Script:
    """The module docs' example: ``pua_set_publish()`` (when pua_usrloc is loaded), then ``save("location")``."""
    calls = []
    if "pua_usrloc" in modules:
        calls.append(Call("pua_set_publish"))
    calls.append(Call("save", ("location",)))
    return Script(tuple(calls))
