"""The routing script of the edge node as data: which functions each route calls.

A Kamailio edge proxy's ``request_route`` hands a REGISTER to a route that
calls module functions in order, e.g. (pua_usrloc's documented example)::

    if (is_method("REGISTER")) { pua_set_publish(); save("location"); }

Routes modelled: ``register`` (REGISTER requests), ``invite`` (initial INVITEs,
before the node looks the callee up and relays: ``dlg_manage()``, ``setflag(n)``), ``notify`` (in-dialog
NOTIFYs of the ``reg`` and ``dialog;sla`` events, each running the calls meant
for its package, see :data:`NOTIFY_HANDLERS`, and answered with
``notify_reply`` after them, as the lab's ``sl_send_reply("200", "OK")``; a
call that returns 0 ends the script without a reply) and ``request``: calls a scenario
step makes the script run for a trigger request (the lab's OPTIONS triggers).

An ``invite`` route may also set AVPs as Kamailio's script does,
``$avp(name) = "sip:..."`` or ``$avp(name) = $fu`` (``$tu``, ``$ru``): each
assignment adds a value on top of the AVP's earlier ones, and the values a
``dlg_manage()`` finds (or, in ``dlg_flag`` mode, the route's end) go with the
dialog, where pua_dialoginfo's ``use_pubruri_avps`` reads them.  An AVP
assignment is a :class:`Call` of the pseudo-function ``$avp`` with the
arguments (name, value, ``"text"`` or ``"pv"``).

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
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from puasim.sip.message import Request

#: function -> (module, routes it is allowed in, min args, max args)
FUNCTIONS: dict[str, tuple[str, frozenset[str], int, int]] = {
    "save": ("registrar", frozenset({"register"}), 1, 3),
    "pua_set_publish": ("pua_usrloc", frozenset({"register"}), 0, 0),
    "bla_set_flag": ("pua_bla", frozenset({"register"}), 0, 0),
    "reginfo_subscribe": ("pua_reginfo", frozenset({"register", "notify", "request"}), 1, 2),
    "reginfo_handle_notify": ("pua_reginfo", frozenset({"notify"}), 1, 1),
    "reginfo_disable_publish": ("pua_reginfo", frozenset({"register", "notify", "request"}), 0, 0),
    "bla_handle_notify": ("pua_bla", frozenset({"notify"}), 0, 0),
    "dlg_manage": ("dialog", frozenset({"invite"}), 0, 0),
    "setflag": ("core", frozenset({"invite"}), 1, 1),
}

ROUTES = ("register", "notify", "notify_reply", "invite")
#: the NOTIFY handlers and the event package each one is for (the lab script
#: dispatches on ``$hdr(Event)``: ``reg`` and ``dialog;sla``)
NOTIFY_HANDLERS = {"reginfo_handle_notify": "reg", "bla_handle_notify": "dialog;sla"}
#: functions that exist only in the kamailio-master profile (pua-reference §11.2)
MASTER_ONLY = {"reginfo_disable_publish": "708dd17534"}

_CALL = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*\((.*)\)\s*;?\s*$")
_AVP_SET = re.compile(r"^\s*\$avp\(\s*([^)]*?)\s*\)\s*=\s*(.*?)\s*;?\s*$")
_AVP_NAME = re.compile(r"^(?:s:)?([A-Za-z_][A-Za-z0-9_]*)$|^(i:[0-9]+)$")
#: the pseudo-variables an AVP assignment may copy (see :func:`substitute`)
AVP_PVS = ("$fu", "$tu", "$ru")
#: routes where AVP assignments are modelled (pua_dialoginfo reads them at dialog creation)
AVP_ROUTES = frozenset({"invite"})


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
        if self.function == "$avp":
            name, value, kind = self.args
            return f"$avp({name}) = {value if kind == 'pv' else repr(value)}"
        return f"{self.function}({', '.join(repr(a) for a in self.args)})"


@dataclass(frozen=True, slots=True)
class Script:
    """The routes of the edge node's script."""

    register: tuple[Call, ...]
    notify: tuple[Call, ...] = ()
    notify_reply: tuple[int, str] = (200, "OK")
    #: calls of the INVITE route before ``lookup()``/``t_relay()`` (``dlg_manage()``, ``setflag(n)``)
    invite: tuple[Call, ...] = ()

    def handles(self, package: str) -> bool:
        """Whether the notify route has a handler for NOTIFYs of this event package."""
        return any(NOTIFY_HANDLERS.get(c.function) == package for c in self.notify)


def notify_package(request: Request) -> str:
    """The event package of a NOTIFY as the script tests it (``reg``, ``dialog;sla``, ...)."""
    return (request.get("event") or "").strip().replace(" ", "")


def call_serves(function: str, package: str) -> bool:
    """A NOTIFY handler runs for its own package only; other functions for every NOTIFY."""
    return NOTIFY_HANDLERS.get(function, package) == package


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


def parse_avp_set(text: str, route: str) -> Call | None:
    """``$avp(name) = "value"`` (or ``= $fu``/``$tu``/``$ru``) → a ``$avp`` :class:`Call`; None if
    ``text`` is no AVP assignment."""
    m = _AVP_SET.match(text)
    if m is None:
        return None
    name_m = _AVP_NAME.match(m.group(1))
    if name_m is None:
        raise ScriptError(f"not an AVP name: $avp({m.group(1)}), write e.g. $avp(pubruri_caller)")
    name = name_m.group(1) or name_m.group(2)
    value = m.group(2)
    if route not in AVP_ROUTES:
        raise ScriptError(f"AVP assignments are modelled in the {', '.join(sorted(AVP_ROUTES))} route only, "
                          f"not in the {route} route")
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return Call("$avp", (name, value[1:-1], "text"))
    if value in AVP_PVS:
        return Call("$avp", (name, value, "pv"))
    raise ScriptError(f"$avp({name}) takes a quoted string or one of {', '.join(AVP_PVS)}, got {value!r}")


def parse_call(text: str, route: str, modules: set[str], profile: str = "kamailio-5.6") -> Call:
    """``name(args)`` → :class:`Call`, checked against :data:`FUNCTIONS` and the loaded modules;
    an AVP assignment → :func:`parse_avp_set`."""
    avp = parse_avp_set(text, route)
    if avp is not None:
        return avp
    m = _CALL.match(text)
    if not m:
        hint = " (a call with several arguments inside a YAML [...] list must be quoted)" if text.count("(") != text.count(")") else ""
        raise ScriptError(f"not a function call: {text!r}, write e.g. save(\"location\"){hint}")
    name, args = m.group(1), _split_args(m.group(2))
    known = FUNCTIONS.get(name)
    if known is None:
        raise ScriptError(f"unknown script function {name!r} (known: {', '.join(sorted(FUNCTIONS))})")
    module, routes, lo, hi = known
    if name in MASTER_ONLY and profile != "kamailio-master":
        raise ScriptError(f"{name}() is not exported by {module} in {profile} (added in master, {MASTER_ONLY[name]})")
    if route not in routes:
        raise ScriptError(f"{name}() cannot be called from the {route} route")
    if not lo <= len(args) <= hi:
        raise ScriptError(f"{name}() takes {lo}..{hi} arguments, got {len(args)}")
    if name == "setflag" and not (args[0].isdigit() and int(args[0]) <= 31):
        raise ScriptError(f"setflag() takes a flag number 0..31, got {args[0]!r}")
    if name == "reginfo_subscribe" and len(args) == 2 and not args[1].isdigit():
        raise ScriptError(f"reginfo_subscribe() expires must be a number of seconds, got {args[1]!r}")
    if module not in modules:
        raise ScriptError(f"{name}() is exported by {module}, which the node does not load (node.modules)")
    return Call(name, args)


def default_script(modules: set[str]) -> Script:
    """The module docs' examples: ``pua_set_publish()`` (when pua_usrloc is loaded) and
    ``bla_set_flag()`` (when pua_bla is), then ``save("location")``; NOTIFYs of ``reg`` go to
    ``reginfo_handle_notify("location")`` when pua_reginfo is loaded, NOTIFYs of
    ``dialog;sla`` to ``bla_handle_notify()`` when pua_bla is."""
    calls = []
    if "pua_usrloc" in modules:
        calls.append(Call("pua_set_publish"))
    if "pua_bla" in modules:
        calls.append(Call("bla_set_flag"))
    calls.append(Call("save", ("location",)))
    notify = []
    if "pua_reginfo" in modules:
        notify.append(Call("reginfo_handle_notify", ("location",)))
    if "pua_bla" in modules:
        notify.append(Call("bla_handle_notify"))
    return Script(tuple(calls), tuple(notify))


def substitute(arg: str, request: Request | None) -> str:
    """The pseudo-variables a script argument may use: ``$ru``, ``$tu``, ``$fu`` (else as written)."""
    if request is None or not arg.startswith("$"):
        return arg
    from puasim.sip import headers as H

    if arg == "$ru":
        return request.uri
    if arg in ("$tu", "$fu"):
        na = H.to(request) if arg == "$tu" else H.from_(request)
        return na.uri if na is not None else ""
    return arg
