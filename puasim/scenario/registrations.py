"""Scenario blocks of the registration side: ``node:``, ``script:``, ``phones:`` and phone steps.

With a ``node:`` block the scenario's ``pua`` node is an edge node
(:class:`~puasim.edge.EdgeProxy`): usrloc, registrar and the companions named
in ``node.modules`` around pua, running ``script:``.  ``phones:`` adds one
simulated phone per entry (:class:`~puasim.phones.Phone`), a node of its own
named after the phone.  Everything is checked before the run; errors name
file, line and field (a companion's missing mandatory parameter gives
Kamailio's start-up reason).  ``docs/scenarios.md`` documents the fields.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from puasim.companions.bla import PuaBlaConfig
from puasim.companions.dialoginfo import PuaDialoginfoConfig
from puasim.companions.reginfo import PuaReginfoConfig
from puasim.companions.usrloc import CompanionStartupError, PuaUsrlocConfig
from puasim.edge.proxy import EdgeProxy, NodeConfig
from puasim.edge.script import ROUTES, Call, Script, ScriptError, default_script, parse_call
from puasim.node.dialog import DialogConfig, DialogStartupError
from puasim.node.registrar import RegistrarConfig, RegistrarError
from puasim.node.usrloc import UsrlocConfig, UsrlocError
from puasim.phones.phone import Phone, PhoneConfig
from puasim.scenario import calls
from puasim.scenario.loader import Source as Doc
from puasim.sip.uri import parse_uri
from puasim.trace.events import Note

if TYPE_CHECKING:
    from puasim.pua.model import Pua
    from puasim.scenario.runner import ScenarioRun
    from puasim.scenario.spec import Step

TOP_KEYS = {"node", "phones", "script"}
MODULES = {"usrloc", "registrar", "pua_usrloc", "pua_reginfo", "pua_bla", "dialog", "pua_dialoginfo"}
PHONE_KEYS = {"name", "aor", "address", "contacts", "expires", "refresh", "registrar", "user_agent", "expires_param",
              "bla", "bla_version", "calls", "watch", "watch_expires"}
#: line states a BLA phone can report (RFC 4235 §3.7.1 dialog states, or no dialog at all)
LINE_STATES = {"idle", "trying", "proceeding", "early", "confirmed", "terminated"}
NOTIFY_PARTS = {"contact", "body", "subscription_state"}
RESERVED_NAMES = {"pua", "server", "scenario"}

PHONE_ACTIONS = {
    "phone.register": "a phone (re-)REGISTERs its contacts (with: phone, expires, new_call_id)",
    "phone.unregister": "a phone de-registers contacts with expires 0, or all with '*' (with: phone, contacts, star)",
    "phone.change_contact": "a phone registers new contacts (with: phone, contacts, remove_old)",
    "phone.crash": "a phone dies: it stops refreshing, its contacts expire at the registrar (with: phone)",
    "phone.start": "start a crashed phone again, unregistered (with: phone)",
    "phone.line_state": "a BLA phone's line changes state and it NOTIFYs dialog;sla"
                        " (with: phone, state, dialog_id, subscription_state, omit)",
    "node.call": "the edge node's script calls a function for a trigger request (with: call)",
    **calls.CALL_ACTIONS,
}
_STEP_FIELDS = {
    "phone.register": {"phone", "expires", "new_call_id"},
    "phone.unregister": {"phone", "contacts", "star"},
    "phone.change_contact": {"phone", "contacts", "remove_old"},
    "phone.crash": {"phone"},
    "phone.start": {"phone"},
    "phone.line_state": {"phone", "state", "dialog_id", "subscription_state", "omit"},
    "node.call": {"call"},
    **calls.CALL_FIELDS,
}


@dataclass(frozen=True, slots=True)
class Registrations:
    """The parsed ``node:``/``script:``/``phones:`` blocks."""

    node: NodeConfig
    script: Script
    phones: tuple[PhoneConfig, ...]


def _mapping(value: Any, doc: Doc, path: tuple, keys: set[str] | None = None) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise doc.error(path, f"expected a mapping, got {type(value).__name__}")
    for key in value:
        if keys is not None and key not in keys:
            raise doc.error((*path, key), f"unknown field (allowed: {', '.join(sorted(keys))})")
    return value


def _module_error(doc: Doc, path: tuple, params: dict, exc: Exception) -> Exception:
    bad = getattr(exc, "param", None) or next((k for k in params if repr(k) in str(exc) or f" {k} " in f" {exc} "), None)
    return doc.error((*path, bad) if bad else path, f"the node would not start: {exc}")


def _node(doc: Doc, raw: dict) -> NodeConfig:
    spec = _mapping(raw.get("node"), doc, ("node",), {"modules", "server_header", "user_agent_header"})
    modules = _mapping(spec.get("modules"), doc, ("node", "modules"), MODULES)
    for name, params in modules.items():
        _mapping(params, doc, ("node", "modules", name))
    def start(name: str, reader: Any, errors: tuple[type[Exception], ...], required: bool = False) -> Any:
        """mod_init of one module: its config, or None when the node does not load it."""
        if not required and name not in modules:
            return None
        params = dict(modules.get(name) or {})
        try:
            return reader(params)
        except errors as exc:
            raise _module_error(doc, ("node", "modules", name), params, exc) from None

    usrloc = start("usrloc", UsrlocConfig.from_params, (UsrlocError, TypeError), required=True)
    registrar = start("registrar", RegistrarConfig.from_params, (RegistrarError, TypeError), required=True)
    pua_usrloc = start("pua_usrloc", PuaUsrlocConfig.from_params, (CompanionStartupError,))
    pua_reginfo = start("pua_reginfo", PuaReginfoConfig.from_params, (CompanionStartupError,))
    pua_bla = start("pua_bla", PuaBlaConfig.from_params, (CompanionStartupError,))
    dialog = start("dialog", DialogConfig.from_params, (DialogStartupError, TypeError))

    def dialoginfo(params: dict) -> PuaDialoginfoConfig:
        cfg = PuaDialoginfoConfig.from_params(params)
        if dialog is None:
            raise CompanionStartupError("failed to find dialog API - is dialog module loaded?")
        return cfg

    pua_dialoginfo = start("pua_dialoginfo", dialoginfo, (CompanionStartupError,))
    for key in ("server_header", "user_agent_header"):
        if not isinstance(spec.get(key, ""), str):
            raise doc.error(("node", key), f"{key} must be text")
    return NodeConfig(usrloc, registrar, pua_usrloc, pua_reginfo, spec.get("server_header", ""),
                      spec.get("user_agent_header", ""), pua_bla=pua_bla, dialog=dialog,
                      pua_dialoginfo=pua_dialoginfo)


def _calls(doc: Doc, entries: Any, route: str, node: NodeConfig) -> list[Call]:
    if not isinstance(entries, list):
        raise doc.error(("script", route), "a route is a list of calls")
    calls = []
    for i, entry in enumerate(entries):
        path = ("script", route, i)
        cond: dict = {}
        text = entry
        if isinstance(entry, dict):
            cond = _mapping(entry, doc, path, {"call", "if_user", "unless_user"})
            text = cond.get("call")
        if not isinstance(text, str):
            raise doc.error(path, "expected a call such as save(\"location\"), or {call: ..., if_user/unless_user: regex}")
        try:
            call = parse_call(text, route, node.modules, node.profile)
        except ScriptError as exc:
            raise doc.error(path if not cond else (*path, "call"), str(exc)) from None
        for key in ("if_user", "unless_user"):
            if key in cond:
                try:
                    re.compile(str(cond[key]))
                except re.error as exc:
                    raise doc.error((*path, key), f"not a regular expression: {exc}") from None
        calls.append(Call(call.function, call.args, str(cond.get("if_user", "")), str(cond.get("unless_user", ""))))
    return calls


def _script(doc: Doc, raw: dict, node: NodeConfig) -> Script:
    default = default_script(node.modules)
    if "script" not in raw:
        return default
    spec = _mapping(raw.get("script"), doc, ("script",), set(ROUTES))
    register = _calls(doc, spec["register"], "register", node) if "register" in spec else list(default.register)
    if not any(c.function == "save" for c in register):
        raise doc.error(("script", "register"), "the register route must call save(...): without it no REGISTER is answered")
    notify = _calls(doc, spec["notify"], "notify", node) if "notify" in spec else list(default.notify)
    reply = spec.get("notify_reply", "200 OK")
    code, _, reason = str(reply).partition(" ")
    if not code.isdigit() or not 200 <= int(code) <= 699 or not reason:
        raise doc.error(("script", "notify_reply"), f"expected a final reply such as \"200 OK\", got {reply!r}")
    invite = _calls(doc, spec["invite"], "invite", node) if "invite" in spec else []
    return Script(tuple(register), tuple(notify), (int(code), reason), tuple(invite))


def _refresh(value: Any, doc: Doc, path: tuple) -> tuple[str, float]:
    if value in (None, "none"):
        return ("none", 0.0) if value == "none" else ("fraction", 0.5)
    spec = _mapping(value, doc, path, {"fraction", "lead"})
    if len(spec) != 1:
        raise doc.error(path, "give one of fraction (0 < f < 1) or lead (seconds), or the word none")
    kind, amount = next(iter(spec.items()))
    if isinstance(amount, bool) or not isinstance(amount, int | float):
        raise doc.error((*path, kind), "expected a number")
    if kind == "fraction" and not 0 < amount < 1:
        raise doc.error((*path, kind), f"fraction must be between 0 and 1, got {amount}")
    if kind == "lead" and amount < 0:
        raise doc.error((*path, kind), f"lead must be >= 0 seconds, got {amount}")
    return (kind, float(amount))


def _watch(doc: Doc, spec: dict, path: tuple, server_addr: tuple[str, int]) -> dict[str, Any]:
    """The BLF fields of one phone: ``watch`` (phone names or AORs) and ``watch_expires``."""
    value = spec.get("watch", [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise doc.error((*path, "watch"), "watch is a list of phone names or AORs whose dialog state the phone watches")
    expires = spec.get("watch_expires", 3600)
    if isinstance(expires, bool) or not isinstance(expires, int) or not 1 <= expires <= 2**31 - 1:
        raise doc.error((*path, "watch_expires"), f"watch_expires must be an integer of seconds >= 1, got {expires!r}")
    return {"watch": tuple(value), "watch_expires": expires, "presence_server": server_addr}


def _resolve_watches(doc: Doc, phones: list[PhoneConfig]) -> tuple[PhoneConfig, ...]:
    """Phone names in ``watch`` become those phones' AORs; anything else must be a SIP URI."""
    aors = {p.name: p.aor for p in phones}
    out = []
    for i, phone in enumerate(phones):
        targets = []
        for j, target in enumerate(phone.watch):
            if target in aors:
                targets.append(aors[target])
                continue
            try:
                parse_uri(target)
            except ValueError as exc:
                raise doc.error(("phones", i, "watch", j), f"{target!r} is neither a phone name nor a SIP URI: {exc}") from None
            targets.append(target)
        out.append(replace(phone, watch=tuple(targets)))
    return tuple(out)


def _phones(doc: Doc, raw: dict, pua_addr: tuple[str, int], taken: set[tuple[str, int]],
            server_addr: tuple[str, int] | None = None) -> tuple[PhoneConfig, ...]:
    from puasim.scenario.spec import parse_address

    entries = raw.get("phones") or []
    if not isinstance(entries, list):
        raise doc.error(("phones",), "phones must be a list")
    out: list[PhoneConfig] = []
    names: set[str] = set()
    for i, entry in enumerate(entries):
        path = ("phones", i)
        spec = _mapping(entry, doc, path, PHONE_KEYS)
        for need in ("name", "aor", "address"):
            if need not in spec:
                raise doc.error(path, f"a phone needs {need}")
        name = spec["name"]
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]*", name):
            raise doc.error((*path, "name"), "a phone name is a word (letters, digits, - and _)")
        if name in RESERVED_NAMES or name in names:
            raise doc.error((*path, "name"), f"node name {name!r} is already used")
        names.add(name)
        try:
            parse_uri(str(spec["aor"]))
        except ValueError as exc:
            raise doc.error((*path, "aor"), f"not a SIP URI: {exc}") from None
        addr = parse_address(spec["address"], doc, (*path, "address"))
        if addr in taken:
            raise doc.error((*path, "address"), f"address {addr[0]}:{addr[1]} is used by another node")
        taken.add(addr)
        contacts = spec.get("contacts", [f"sip:{parse_uri(str(spec['aor'])).user}@{addr[0]}:{addr[1]}"])
        if not isinstance(contacts, list) or not contacts or not all(isinstance(c, str) for c in contacts):
            raise doc.error((*path, "contacts"), "contacts must be a non-empty list of URIs")
        expires = spec.get("expires", 3600)
        if isinstance(expires, bool) or not isinstance(expires, int) or not 0 <= expires <= 2**32 - 1:
            raise doc.error((*path, "expires"), f"expires must be an integer of seconds >= 0, got {expires!r}")
        registrar = parse_address(spec["registrar"], doc, (*path, "registrar")) if "registrar" in spec else pua_addr
        if not isinstance(spec.get("bla", False), bool):
            raise doc.error((*path, "bla"), "bla is true or false")
        bla_version = spec.get("bla_version", 0)
        if isinstance(bla_version, bool) or not isinstance(bla_version, int) or bla_version < 0:
            raise doc.error((*path, "bla_version"), f"bla_version must be an integer >= 0, got {bla_version!r}")
        out.append(PhoneConfig(
            name=name, aor=str(spec["aor"]), address=addr, registrar=registrar, contacts=tuple(contacts),
            expires=expires, refresh=_refresh(spec.get("refresh"), doc, (*path, "refresh")),
            user_agent=str(spec.get("user_agent", "")), expires_header=not bool(spec.get("expires_param", False)),
            bla=bool(spec.get("bla", False)), bla_version=bla_version,
            calls=calls.policy(doc, spec.get("calls"), (*path, "calls")),
            **_watch(doc, spec, path, server_addr or pua_addr),
        ))
    return _resolve_watches(doc, out)


def parse(
    doc: Doc, raw: dict, pua_addr: tuple[str, int], server_addr: tuple[str, int], profile: str = "kamailio-5.6",
) -> Registrations | None:
    """The registration blocks, or None when the scenario has none (a bare pua node)."""
    if not any(k in raw for k in TOP_KEYS):
        return None
    if "node" not in raw:
        key = next(k for k in ("phones", "script") if k in raw)
        raise doc.error((key,), "phones and script need a node: block (the edge node that registers them)")
    node = replace(_node(doc, raw), profile=profile)
    dlginfo_params = ((raw.get("node") or {}).get("modules") or {}).get("pua_dialoginfo") or {}
    if "use_uuid" in dlginfo_params and profile != "kamailio-master":  # §11.2: added after 5.6
        raise doc.error(("node", "modules", "pua_dialoginfo", "use_uuid"), "the node would not start: parameter "
                        "<use_uuid> not found in module <pua_dialoginfo> (use_uuid exists in kamailio-master only)")
    return Registrations(node, _script(doc, raw, node), _phones(doc, raw, pua_addr, {pua_addr, server_addr}, server_addr))


def check_steps(doc: Doc, steps: list[Step], regs: Registrations | None) -> None:
    """Phone steps name a phone of ``phones:`` and only their own fields."""
    names = {p.name for p in regs.phones} if regs is not None else set()
    for step in steps:
        if step.action == "node.call":
            path = (*step.path, "with")
            spec = _mapping(step.args, doc, path, _STEP_FIELDS[step.action])
            if regs is None:
                raise doc.error(step.path, "node.call needs a node: block")
            try:
                parse_call(str(spec.get("call", "")), "request", regs.node.modules, regs.node.profile)
            except ScriptError as exc:
                raise doc.error((*path, "call"), str(exc)) from None
            continue
        if not step.action.startswith("phone."):
            continue
        path = (*step.path, "with")
        spec = _mapping(step.args, doc, path, _STEP_FIELDS[step.action])
        if spec.get("phone") not in names:
            raise doc.error((*path, "phone"), f"no phone named {spec.get('phone')!r} (phones: {', '.join(sorted(names)) or 'none'})")
        if "expires" in spec and (isinstance(spec["expires"], bool) or not isinstance(spec["expires"], int) or spec["expires"] < 0):
            raise doc.error((*path, "expires"), "expires must be an integer >= 0")
        if "contacts" in spec and (not isinstance(spec["contacts"], list) or not all(isinstance(c, str) for c in spec["contacts"])):
            raise doc.error((*path, "contacts"), "contacts must be a list of URIs")
        if step.action == "phone.change_contact" and not spec.get("contacts"):
            raise doc.error((*path, "contacts"), "change_contact needs the new contacts")
        if step.action == "phone.line_state":
            _check_line_state(doc, path, spec, regs)
        if step.action in calls.CALL_ACTIONS:
            calls.check_step(doc, step.action, spec, path, regs.phones if regs is not None else ())


def _check_line_state(doc: Doc, path: tuple, spec: dict, regs: Registrations | None) -> None:
    phone = next(p for p in regs.phones if p.name == spec["phone"]) if regs is not None else None
    if phone is not None and not phone.bla:
        raise doc.error((*path, "phone"), f"phone {phone.name!r} is not a BLA phone (set bla: true)")
    if spec.get("state") not in LINE_STATES:
        raise doc.error((*path, "state"), f"state must be one of {', '.join(sorted(LINE_STATES))}, got {spec.get('state')!r}")
    for key in ("dialog_id", "subscription_state"):
        if key in spec and not isinstance(spec[key], str):
            raise doc.error((*path, key), f"{key} must be text")
    omit = spec.get("omit", [])
    if not isinstance(omit, list) or any(o not in NOTIFY_PARTS for o in omit):
        raise doc.error((*path, "omit"), f"omit is a list of {', '.join(sorted(NOTIFY_PARTS))}, got {omit!r}")


# -- running ----------------------------------------------------------------------------


def make_edge(regs: Registrations, pua: Pua) -> EdgeProxy:
    return EdgeProxy(pua, regs.node, regs.script)


def add_phones(run: ScenarioRun, regs: Registrations) -> None:
    sim = run.sim
    for cfg in regs.phones:
        starts = {"n": 0}

        def factory(node: Any, cfg: PhoneConfig = cfg, starts: dict = starts) -> Phone:
            starts["n"] += 1
            return Phone(cfg, sim.streams(f"phone:{cfg.name}#{starts['n']}"))

        run.phone_nodes[cfg.name] = sim.add_node(cfg.name, cfg.address, factory)


def do_step(run: ScenarioRun, step: Step) -> None:
    args = step.args
    if step.action == "node.call":
        edge = run.pua_node
        if not edge.up:
            run.sim.trace.add(run.sim.kernel.now, "scenario", Note("warning", f"step {step.index}: the node is down"))
            return
        node_cfg = edge.endpoint.cfg
        call = parse_call(args["call"], "request", node_cfg.modules, node_cfg.profile)
        run.step_results[step.index] = edge.call(step.action, edge.endpoint.run_call, call, None, run.sim.kernel.now)
        return
    node = run.phone_nodes[args["phone"]]
    now = run.sim.kernel.now
    if step.action == "phone.crash":
        node.crash("scenario step")
        return
    if step.action == "phone.start":
        if not node.up:
            node.restart("scenario step")
        return
    if not node.up:
        run.sim.trace.add(now, "scenario", Note("warning", f"step {step.index}: phone {args['phone']} is down"))
        return
    phone: Phone = node.endpoint
    if step.action == "phone.register":
        node.call(step.action, phone.register, now, args.get("expires"), bool(args.get("new_call_id", False)))
    elif step.action == "phone.unregister":
        node.call(step.action, phone.unregister, now, args.get("contacts"), bool(args.get("star", False)))
    elif step.action == "phone.change_contact":
        node.call(step.action, phone.change_contact, now, list(args["contacts"]), bool(args.get("remove_old", False)))
    elif step.action in calls.CALL_ACTIONS:
        calls.run_step(node, phone, step.action, args, now, run.scn.registrations.phones)  # type: ignore[union-attr]
    elif step.action == "phone.line_state":
        node.call(step.action, phone.line_state, now, args["state"], args.get("dialog_id", "line1"),
                  args.get("subscription_state"), tuple(args.get("omit", ())))
