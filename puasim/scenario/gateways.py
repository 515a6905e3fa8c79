"""Scenario blocks and steps of pua_json and pua_xmpp (pua-reference §9.6, §9.7).

Top-level ``pua_json:`` (its module parameters; the module runs on the
presence server) and ``pua_xmpp:`` (its parameters; it runs beside pua on
the ``pua`` node).  Steps: ``json.publish`` (with: ``document`` inline, a
mapping or JSON text, or ``document_file``) and ``xmpp.presence`` (with: the
stanza's ``from``, ``to``, ``type``, ``show``, ``status``) and
``xmpp.req_winfo`` (with: ``uri``).  ``docs/scenarios.md`` documents them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from puasim.companions.puajson import PuaJsonConfig, pua_json_publish
from puasim.companions.usrloc import CompanionStartupError
from puasim.companions.xmpp import Presence, PuaXmpp, PuaXmppConfig
from puasim.trace.events import Note

if TYPE_CHECKING:
    from puasim.pua.model import Pua
    from puasim.scenario.loader import Source as Doc
    from puasim.scenario.runner import ScenarioRun
    from puasim.scenario.spec import Step

TOP_KEYS = {"pua_json", "pua_xmpp"}
ACTIONS = {
    "json.publish": "pua_json_publish() on the presence server (with: document or document_file), §9.7",
    "xmpp.presence": "the XMPP peer sends a presence stanza to pua_xmpp (with: from, to, type, show, status), §9.6",
    "xmpp.req_winfo": "pua_xmpp_req_winfo(uri, expires) (with: uri), §9.6",
}
STANZA_KEYS = {"from", "to", "type", "show", "status"}


@dataclass(frozen=True, slots=True)
class Gateways:
    json: PuaJsonConfig | None = None
    xmpp: PuaXmppConfig | None = None


def _params(doc: Doc, raw: dict, key: str) -> dict:
    value = raw.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise doc.error((key,), "expected a mapping of module parameters")
    return value


def parse(doc: Doc, raw: dict) -> Gateways:
    json_cfg = xmpp_cfg = None
    for key in ("pua_json", "pua_xmpp"):
        if key not in raw:
            continue
        params = _params(doc, raw, key)
        try:
            if key == "pua_json":
                json_cfg = PuaJsonConfig.from_params(params)
            else:
                xmpp_cfg = PuaXmppConfig.from_params(params)
        except (CompanionStartupError, TypeError) as exc:
            bad = next((k for k in params if repr(k) in str(exc) or f" {k} " in f" {exc} "), None)
            raise doc.error((key, bad) if bad else (key,), f"the module would not start: {exc}") from None
    return Gateways(json_cfg, xmpp_cfg)


def check_steps(doc: Doc, steps: list[Step], gw: Gateways) -> None:
    for step in steps:
        if step.action not in ACTIONS:
            continue
        path = (*step.path, "with")
        spec = step.args
        if step.action == "json.publish":
            if gw.json is None:
                raise doc.error(step.path, "json.publish needs a pua_json: block (the module's parameters, {} for defaults)")
            unknown = set(spec) - {"document", "document_file"}
            if unknown:
                raise doc.error((*path, sorted(unknown)[0]), "unknown field (allowed: document, document_file)")
            if ("document" in spec) == ("document_file" in spec):
                raise doc.error(path, "give document (a mapping or JSON text) or document_file, exactly one")
            if "document_file" in spec:
                f = doc.base / str(spec["document_file"])
                try:
                    spec["document"] = f.read_text()
                except OSError as exc:
                    raise doc.error((*path, "document_file"), f"cannot read {f}: {exc.strerror}") from None
            elif not isinstance(spec["document"], dict | str):
                raise doc.error((*path, "document"), "document must be a mapping or JSON text")
            continue
        if gw.xmpp is None:
            raise doc.error(step.path, f"{step.action} needs a pua_xmpp: block (server_address is mandatory)")
        if step.action == "xmpp.req_winfo":
            if set(spec) - {"uri"} or not isinstance(spec.get("uri"), str):
                raise doc.error(path, "xmpp.req_winfo takes uri: a SIP URI")
            continue
        unknown = set(spec) - STANZA_KEYS
        if unknown:
            raise doc.error((*path, sorted(unknown)[0]), f"unknown field (allowed: {', '.join(sorted(STANZA_KEYS))})")
        for need in ("from", "to"):
            if not isinstance(spec.get(need), str) or "@" not in spec[need]:
                raise doc.error((*path, need), f"{need} must be a JID user@domain[/resource]")
        for key in ("type", "show", "status"):
            if key in spec and not isinstance(spec[key], str):
                raise doc.error((*path, key), f"{key} must be text")


def attach(pua: Pua, gw: Gateways) -> PuaXmpp | None:
    """pua_xmpp's mod_init beside a new pua (it registers its pua callback)."""
    if gw.xmpp is None:
        return None
    xmpp = PuaXmpp(pua, gw.xmpp)
    pua.notify_hooks.append(xmpp.script_notify)
    return xmpp


def do_step(run: ScenarioRun, step: Step) -> None:
    sim, args = run.sim, step.args
    now = sim.kernel.now
    gw: Gateways = run.scn.gateways
    if step.action == "json.publish":
        server = run.server_node
        if not server.up:
            sim.trace.add(now, "scenario", Note("warning", f"step {step.index}: the server is down"))
            return
        doc = args["document"]
        result = pua_json_publish(doc if isinstance(doc, str) else json.dumps(doc), gw.json, run.scn.pua_config.profile)
        run.step_results[step.index] = result.rc
        sim.trace.add(now, "server", Note("pua_json", f"pua_json_publish: rc {result.rc}"
                                          + (f" ({result.reason})" if result.reason else "")))
        if result.update is not None:
            server.call(step.action, server.endpoint.update_presentity, result.update, now)
        return
    node = run.pua_node
    xmpp = run.xmpp
    if not node.up or xmpp is None:
        sim.trace.add(now, "scenario", Note("warning", f"step {step.index}: the pua node is down"))
        return
    if step.action == "xmpp.req_winfo":
        run.step_results[step.index] = node.call(step.action, xmpp.pua_xmpp_req_winfo, args["uri"], "0", now)
        return
    stanza = Presence(args["from"], args["to"], args.get("type"), args.get("show"), args.get("status"))
    sim.trace.add(now, "scenario", Note("xmpp", f"from XMPP: {stanza.text()}"))
    run.step_results[step.index] = node.call(step.action, xmpp.from_xmpp, stanza, now)
