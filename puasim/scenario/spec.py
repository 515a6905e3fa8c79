"""The scenario format: validation of a YAML document into a :class:`Scenario`.

Everything is checked before the run; an error names the file, the line and
the field.  The format is documented field by field in ``docs/scenarios.md``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from puasim.effects import MILLISECOND, SECOND
from puasim.pua.config import PuaConfig, PuaStartupError, load_config
from puasim.pua.constants import INSERT_TYPE, UPDATE_TYPE, Source, event_from_name
from puasim.scenario import registrations
from puasim.scenario.loader import Source as Doc
from puasim.sim.network import LinkProfile

TOP_KEYS = {
    "name", "description", "refs", "seed", "epoch", "duration", "pua", "server", "network", "population", "steps", "expect",
}
TOP_KEYS |= registrations.TOP_KEYS
STEP_ACTIONS = {
    "publish": "call pua's send_publish (fields of publ_info, §3.1)",
    "subscribe": "call pua's send_subscribe (fields of subs_info, §4.1)",
    "rpc.publish": "pua_rpc pua.publish (waits for the reply), args as strings (§9.1.1)",
    "rpc.send_publish": "pua_rpc pua.send_publish (fire and forget)",
    "rpc.subscribe": "pua_rpc pua.subscribe presentity watcher event expires (§9.1.2)",
    "pua.cleanup": "RPC pua.cleanup: one sweep now (§5.9)",
    "pua.restart": "stop the PUA (memory lost) and start it again from its database",
    "pua.crash": "the PUA process dies (memory lost); it stays down",
    "pua.start": "start a crashed PUA again",
    "server.restart": "the presence server forgets all state",
    "server.fault": "arm a fault of the presence server (see puasim.server.faults)",
    "server.crash": "the presence server stops answering (messages to it are dropped)",
    "server.start": "start a crashed server again (empty state)",
    "network.drop": "drop the next N messages from one node (fields: count, from, to)",
    "db.unreachable": "the PUA's database stops answering (every statement fails)",
    "db.fail_after": "the database fails after N more statements (with: {ops: N})",
    "db.heal": "the database answers again",
    "mark": "write a note into the trace",
    **registrations.PHONE_ACTIONS,
}
EXPECT_KINDS = {"sequence", "count", "absent", "record", "rc", "rpc", "event", "error", "server_state", "stat"}


def parse_address(text: Any, doc: Doc, path: tuple) -> tuple[str, int]:
    if not isinstance(text, str) or ":" not in text:
        raise doc.error(path, f"expected host:port, got {text!r}")
    host, _, port = text.rpartition(":")
    if not port.isdigit() or not (0 < int(port) < 65536):
        raise doc.error(path, f"bad port in {text!r}")
    return (host.strip("[]"), int(port))


def seconds_to_us(value: Any, doc: Doc, path: tuple, allow_negative: bool = False) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise doc.error(path, f"expected a number of seconds, got {value!r}")
    if value < 0 and not allow_negative:
        raise doc.error(path, f"must be >= 0, got {value}")
    return int(round(value * SECOND))


@dataclass(frozen=True, slots=True)
class Step:
    index: int
    at: int
    action: str
    args: Any
    path: tuple
    line: int | None


@dataclass(slots=True)
class Scenario:
    name: str
    file: str
    description: str
    refs: list[str]
    seed: int
    epoch: int
    duration: int
    pua_config: PuaConfig
    pua_address: tuple[str, int]
    notify: dict[str, bool]
    db: dict[str, Any]
    server_profile: str
    server_address: tuple[str, int]
    server_knobs: dict[str, Any]
    link: LinkProfile
    partitions: list[tuple[int, int]]
    steps: list[Step]
    expectations: list[tuple[str, Any, tuple, int | None]]
    doc: Doc = field(repr=False)
    #: population groups (puasim.population.Population) fed into the run
    populations: list[Any] = field(default_factory=list)

    #: the edge node, its script and the phones (None: a bare pua node)
    registrations: registrations.Registrations | None = None


def _mapping(value: Any, doc: Doc, path: tuple, keys: set[str] | None = None) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise doc.error(path, f"expected a mapping, got {type(value).__name__}")
    if keys is not None:
        for key in value:
            if key not in keys:
                raise doc.error((*path, key), f"unknown field (allowed: {', '.join(sorted(keys))})")
    return value


def _pua(doc: Doc, raw: dict) -> tuple[PuaConfig, tuple[str, int], dict[str, bool], dict[str, Any]]:
    spec = _mapping(raw.get("pua"), doc, ("pua",), {"profile", "params", "address", "notify", "db"})
    params = dict(_mapping(spec.get("params"), doc, ("pua", "params")))
    if "profile" in spec:
        params["profile"] = spec["profile"]
    try:
        cfg = load_config(params)
    except PuaStartupError as exc:
        bad = next((k for k in params if k in str(exc)), None)
        raise doc.error(("pua", "params", bad) if bad else ("pua",), f"pua would not start: {exc}") from None
    addr = parse_address(spec.get("address", "127.0.0.1:5070"), doc, ("pua", "address"))
    notify = _mapping(spec.get("notify"), doc, ("pua", "notify"), {"update_contact", "check_dialog"})
    db = _mapping(spec.get("db"), doc, ("pua", "db"), {"enabled", "driver", "shutdown_flush"})
    from puasim.store.database import QUIRKS

    if "driver" in db and db["driver"] not in QUIRKS:
        raise doc.error(("pua", "db", "driver"), f"unknown driver {db['driver']!r} (known: {', '.join(QUIRKS)})")
    if cfg.db_mode == 2 and db.get("enabled") is False:
        raise doc.error(("pua", "db", "enabled"), "db_mode 2 needs the database")
    return cfg, addr, {k: bool(v) for k, v in notify.items()}, db


def _network(doc: Doc, raw: dict) -> tuple[LinkProfile, list[tuple[int, int]]]:
    keys = {"latency_ms", "jitter_ms", "jitter_kind", "loss", "duplicate", "partitions"}
    spec = _mapping(raw.get("network"), doc, ("network",), keys)
    try:
        link = LinkProfile(
            latency=int(float(spec.get("latency_ms", 1)) * MILLISECOND),
            jitter=int(float(spec.get("jitter_ms", 0)) * MILLISECOND),
            jitter_kind=str(spec.get("jitter_kind", "uniform")),
            loss=float(spec.get("loss", 0.0)),
            duplicate=float(spec.get("duplicate", 0.0)),
        )
    except (TypeError, ValueError) as exc:
        raise doc.error(("network",), str(exc)) from None
    parts = []
    for i, part in enumerate(spec.get("partitions") or []):
        p = _mapping(part, doc, ("network", "partitions", i), {"start", "end"})
        start = seconds_to_us(p.get("start"), doc, ("network", "partitions", i, "start"))
        end = seconds_to_us(p.get("end"), doc, ("network", "partitions", i, "end"))
        if end <= start:
            raise doc.error(("network", "partitions", i), "end must be after start")
        parts.append((start, end))
    return link, parts


PUBLISH_FIELDS = {
    "pres_uri", "expires", "event", "body", "body_file", "content_type", "id", "etag",
    "outbound_proxy", "extra_headers", "flag", "source", "process",
}
SUBSCRIBE_FIELDS = {
    "pres_uri", "watcher_uri", "contact", "expires", "event", "remote_target", "outbound_proxy",
    "id", "extra_headers", "flag", "source", "internal_update_flag", "process",
}


def _flag(value: Any, doc: Doc, path: tuple) -> int:
    table = {"insert": INSERT_TYPE, "update": UPDATE_TYPE, "none": 0, None: 0}
    if value in table:
        return table[value]
    raise doc.error(path, f"flag must be insert, update or none, got {value!r}")


def _source(value: Any, default: str, doc: Doc, path: tuple) -> int:
    name = value if value is not None else default
    if isinstance(name, int) and not isinstance(name, bool):
        return name
    try:
        return int(Source[str(name)])
    except KeyError:
        raise doc.error(path, f"unknown source flag {name!r} (e.g. {', '.join(list(Source.__members__)[:6])}, ...)") from None


def _event(value: Any, cfg: PuaConfig, doc: Doc, path: tuple) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    ev = event_from_name(str(value), cfg.is_master) if value is not None else -1
    if ev < 0 and value in ("xcap-diff",):
        return 128
    if ev < 0:
        raise doc.error(path, f"unknown event {value!r}")
    return ev


def _body(spec: dict, doc: Doc, path: tuple) -> bytes | None:
    if "body" in spec and "body_file" in spec:
        raise doc.error(path, "give body or body_file, not both")
    if "body_file" in spec:
        f = doc.base / str(spec["body_file"])
        try:
            return f.read_bytes()
        except OSError as exc:
            raise doc.error((*path, "body_file"), f"cannot read {f}: {exc.strerror}") from None
    if "body" in spec:
        body = spec["body"]
        if body is None:
            return None
        if not isinstance(body, str):
            raise doc.error((*path, "body"), "body must be text")
        return body.encode()
    return None


def _step(doc: Doc, i: int, raw: Any, cfg: PuaConfig, duration: int) -> Step:
    path = ("steps", i)
    spec = _mapping(raw, doc, path)
    if "at" not in spec:
        raise doc.error(path, "missing 'at' (seconds of virtual time)")
    at = seconds_to_us(spec["at"], doc, (*path, "at"))
    if at > duration:
        raise doc.error((*path, "at"), f"step at {spec['at']} s is after the scenario's duration")
    action = spec.get("do")
    if action not in STEP_ACTIONS:
        raise doc.error((*path, "do"), f"unknown action {action!r} (one of: {', '.join(STEP_ACTIONS)})")
    extra = set(spec) - {"at", "do", "with", "args", "text"}
    if extra:
        raise doc.error((*path, sorted(extra)[0]), "unknown field (allowed: at, do, with, args, text)")
    args: Any
    if action == "publish":
        w = _mapping(spec.get("with"), doc, (*path, "with"), PUBLISH_FIELDS)
        if "pres_uri" not in w:
            raise doc.error((*path, "with"), "publish needs pres_uri")
        args = dict(w)
        args["event"] = _event(w.get("event", "presence"), cfg, doc, (*path, "with", "event"))
        args["source"] = _source(w.get("source"), "RPC_ASYN_PUBLISH", doc, (*path, "with", "source"))
        args["flag"] = _flag(w.get("flag"), doc, (*path, "with", "flag"))
        args["body"] = _body(w, doc, (*path, "with"))
        args.pop("body_file", None)
        if not isinstance(args.get("expires", -1), int):
            raise doc.error((*path, "with", "expires"), "expires must be an integer")
    elif action == "subscribe":
        w = _mapping(spec.get("with"), doc, (*path, "with"), SUBSCRIBE_FIELDS)
        for need in ("pres_uri", "watcher_uri"):
            if need not in w:
                raise doc.error((*path, "with"), f"subscribe needs {need}")
        args = dict(w)
        args.setdefault("contact", w["watcher_uri"])
        args["event"] = _event(w.get("event", "presence"), cfg, doc, (*path, "with", "event"))
        args["source"] = _source(w.get("source"), "RPC_SUBSCRIBE", doc, (*path, "with", "source"))
        args["flag"] = _flag(w.get("flag"), doc, (*path, "with", "flag"))
    elif action.startswith("rpc."):
        raw_args = spec.get("args")
        if not isinstance(raw_args, list):
            raise doc.error((*path, "args"), "rpc steps need args: a list of strings")
        args = [str(a) for a in raw_args]
        w = _mapping(spec.get("with"), doc, (*path, "with"), {"body_file"})
        if "body_file" in w:
            body = _body(w, doc, (*path, "with"))
            args.append((body or b"").decode())
    elif action == "mark":
        args = str(spec.get("text", ""))
    elif action == "server.fault":
        from puasim.server.faults import fault_from_dict

        args = dict(_mapping(spec.get("with"), doc, (*path, "with")))
        try:
            fault_from_dict(args)
        except (TypeError, ValueError) as exc:
            raise doc.error((*path, "with"), f"bad fault: {exc}") from None
    else:
        args = dict(_mapping(spec.get("with"), doc, (*path, "with")))
    return Step(i, at, action, args, path, doc.line(path))


def build(doc: Doc) -> Scenario:
    raw = doc.data
    if not isinstance(raw, dict):
        raise doc.error((), "a scenario file must be a mapping at the top level")
    for key in raw:
        if key not in TOP_KEYS:
            raise doc.error((key,), f"unknown field (allowed: {', '.join(sorted(TOP_KEYS))})")
    name = str(raw.get("name") or Path(doc.file).stem)
    refs = raw.get("refs")
    if not isinstance(refs, list) or not refs or not all(isinstance(r, str) for r in refs):
        raise doc.error(("refs",), "refs must list the pua-reference / RFC sections the scenario checks")
    if "duration" not in raw:
        raise doc.error(("duration",), "missing (seconds of virtual time to run)")
    duration = seconds_to_us(raw["duration"], doc, ("duration",))
    seed = raw.get("seed", 1)
    if not isinstance(seed, int):
        raise doc.error(("seed",), "seed must be an integer")
    epoch = raw.get("epoch", 1_700_000_000)
    if not isinstance(epoch, int) or epoch < 0:
        raise doc.error(("epoch",), "epoch must be a non-negative integer (UNIX seconds at t=0)")
    cfg, pua_addr, notify, db = _pua(doc, raw)
    sspec = _mapping(raw.get("server"), doc, ("server",), {"profile", "address", "knobs"})
    server_addr = parse_address(sspec.get("address", "127.0.0.1:5060"), doc, ("server", "address"))
    if server_addr == pua_addr:
        raise doc.error(("server", "address"), "server and pua need different addresses")
    from puasim.server.profiles import get_profile

    try:
        get_profile(str(sspec.get("profile", "kamailio")), **dict(_mapping(sspec.get("knobs"), doc, ("server", "knobs"))))
    except (TypeError, ValueError) as exc:
        raise doc.error(("server",), f"bad server profile: {exc}") from None
    link, parts = _network(doc, raw)
    steps_raw = raw.get("steps") or []
    if not isinstance(steps_raw, list):
        raise doc.error(("steps",), "steps must be a list")
    regs = registrations.parse(doc, raw, pua_addr, server_addr, cfg.profile)
    steps = [_step(doc, i, s, cfg, duration) for i, s in enumerate(steps_raw)]
    from puasim.scenario.population_block import read_populations

    populations = read_populations(doc, raw, cfg)

    registrations.check_steps(doc, steps, regs)
    expect_raw = raw.get("expect") or []
    if not isinstance(expect_raw, list) or not expect_raw:
        raise doc.error(("expect",), "expect must be a non-empty list (a scenario that checks nothing cannot fail)")
    expectations = []
    for i, item in enumerate(expect_raw):
        e = _mapping(item, doc, ("expect", i))
        kinds = [k for k in e if k in EXPECT_KINDS]
        if len(kinds) != 1:
            raise doc.error(("expect", i), f"each expectation needs exactly one of: {', '.join(sorted(EXPECT_KINDS))}")
        extra = set(e) - {kinds[0], "why"}
        if extra:
            raise doc.error(("expect", i, sorted(extra)[0]), "unknown field (allowed besides the kind: why)")
        expectations.append((kinds[0], e[kinds[0]], ("expect", i, kinds[0]), doc.line(("expect", i))))
    from puasim.scenario.expect import validate_expectation

    for kind, spec, path, _line in expectations:
        validate_expectation(kind, spec, doc, path, len(steps))
    return Scenario(
        name=name,
        file=doc.file,
        description=str(raw.get("description", "")).strip(),
        refs=list(refs),
        seed=seed,
        epoch=epoch,
        duration=duration,
        pua_config=cfg,
        pua_address=pua_addr,
        notify=notify,
        db=db,
        server_profile=str(sspec.get("profile", "kamailio")),
        server_address=server_addr,
        server_knobs=dict(_mapping(sspec.get("knobs"), doc, ("server", "knobs"))),
        link=link,
        partitions=parts,
        steps=steps,
        expectations=expectations,
        doc=doc,
        populations=populations,

        registrations=regs,
    )
