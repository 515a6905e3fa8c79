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
from puasim.scenario.fields import (
    INT_MAX,
    INT_MIN,
    MAX_TEXT,
    MISSING,
    read_int,
    read_mapping,
    read_text,
)
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
XMPP_PARAMS = {"server_address", "gateway_domain", "xmpp_domain", "domain_separator"}
#: longest URI, JID or stanza text a step or parameter may give (Kamailio's xmpp module formats into 512 bytes)
MAX_URI = 512


@dataclass(frozen=True, slots=True)
class Gateways:
    json: PuaJsonConfig | None = None
    xmpp: PuaXmppConfig | None = None


def parse(doc: Doc, raw: dict) -> Gateways:
    """The ``pua_json:``/``pua_xmpp:`` blocks: typed and bounded as the rest of the format, then
    checked as each module's mod_init does (Kamailio's start-up reasons)."""
    json_cfg = xmpp_cfg = None
    for key in ("pua_json", "pua_xmpp"):
        if key not in raw:
            continue
        params = dict(read_mapping(doc, (key,), raw[key]))
        for name, value in params.items():
            if key == "pua_json" and name == "pua_include_entity":
                read_int(doc, (key, name), value, lo=INT_MIN, hi=INT_MAX)
            elif key == "pua_xmpp" and name in XMPP_PARAMS:
                read_text(doc, (key, name), value, max_len=MAX_URI)
        try:
            if key == "pua_json":
                json_cfg = PuaJsonConfig.from_params(params)
            else:
                xmpp_cfg = PuaXmppConfig.from_params(params)
        except (CompanionStartupError, TypeError) as exc:
            bad = next((k for k in params if repr(k) in str(exc) or f" {k} " in f" {exc} "), None)
            raise doc.error((key, bad) if bad else (key,), f"the module would not start: {exc}") from None
    return Gateways(json_cfg, xmpp_cfg)


def _document(doc: Doc, path: tuple, spec: dict) -> str:
    """The JSON text of a json.publish step: inline (a mapping or text) or from a file."""
    if ("document" in spec) == ("document_file" in spec):
        raise doc.error(path, "give document (a mapping or JSON text) or document_file, exactly one")
    if "document_file" in spec:
        name = read_text(doc, (*path, "document_file"), spec["document_file"], max_len=4096, empty=False)
        f = doc.base / name
        try:
            with f.open("rb") as fh:
                data = fh.read(MAX_TEXT + 1)
        except OSError as exc:
            raise doc.error((*path, "document_file"), f"cannot read {f}: {exc.strerror}") from None
        if len(data) > MAX_TEXT:
            raise doc.error((*path, "document_file"), f"larger than {MAX_TEXT} bytes")
        return data.decode("utf-8", errors="replace")
    value = spec["document"]
    if isinstance(value, dict):
        text = json.dumps(value)
        if len(text) > MAX_TEXT:
            raise doc.error((*path, "document"), f"longer than {MAX_TEXT} characters as JSON ({len(text)})")
        return text
    if not isinstance(value, str):
        raise doc.error((*path, "document"), f"must be a mapping or JSON text, got {type(value).__name__}")
    return read_text(doc, (*path, "document"), value)


def check_steps(doc: Doc, steps: list[Step], gw: Gateways) -> None:
    """The gateway steps' fields; a json.publish step's document is read here (``args["document"]``)."""
    for step in steps:
        if step.action not in ACTIONS:
            continue
        path = (*step.path, "with")
        if step.action == "json.publish":
            if gw.json is None:
                raise doc.error(step.path, "json.publish needs a pua_json: block (the module's parameters, {} for defaults)")
            spec = read_mapping(doc, path, step.args, {"document", "document_file"})
            step.args["document"] = _document(doc, path, spec)
            step.args.pop("document_file", None)
            continue
        if gw.xmpp is None:
            raise doc.error(step.path, f"{step.action} needs a pua_xmpp: block (server_address is mandatory)")
        if step.action == "xmpp.req_winfo":
            spec = read_mapping(doc, path, step.args, {"uri"})
            read_text(doc, (*path, "uri"), spec.get("uri", MISSING), max_len=MAX_URI, empty=False, what="a SIP URI")
            continue
        spec = read_mapping(doc, path, step.args, STANZA_KEYS)
        for need in ("from", "to"):
            jid = read_text(doc, (*path, need), spec.get(need, MISSING), max_len=MAX_URI, what="a JID")
            if "@" not in jid:
                raise doc.error((*path, need), f"{need} must be a JID user@domain[/resource], got {jid!r:.40}")
        for key in ("type", "show", "status"):
            if key in spec:
                read_text(doc, (*path, key), spec[key], max_len=MAX_URI)


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
        result = pua_json_publish(args["document"], gw.json, run.scn.pua_config.profile)
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
