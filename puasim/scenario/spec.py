"""The scenario format: validation of a YAML document into a :class:`Scenario`.

Everything is checked before the run; an error names the file, the line and
the field.  The format is documented field by field in ``docs/scenarios.md``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from functools import cache
from pathlib import Path
from typing import Any, Union, get_args, get_origin, get_type_hints

from puasim.bodies.limits import MAX_BODY_BYTES
from puasim.effects import MILLISECOND, SECOND
from puasim.pua.config import PuaConfig, PuaStartupError, load_config
from puasim.pua.constants import INSERT_TYPE, UPDATE_TYPE, Source, event_from_name
from puasim.scenario import gateways, inject, registrations
from puasim.scenario.fields import (
    INT_MAX,
    INT_MIN,
    MAX_COUNT,
    MAX_DURATION_S,
    MAX_EPOCH,
    MAX_LATENCY_MS,
    MAX_SEED,
    MISSING,
    is_int,
    read_bool,
    read_choice,
    read_int,
    read_list,
    read_mapping,
    read_number,
    read_seconds,
    read_text,
)
from puasim.scenario.loader import ErrorCollector, ScenarioError
from puasim.scenario.loader import Source as Doc
from puasim.sim.network import JITTER_KINDS, LinkProfile

TOP_KEYS = {
    "name", "description", "refs", "seed", "epoch", "duration", "pua", "server", "network", "population", "steps", "expect",
}
TOP_KEYS |= registrations.TOP_KEYS | gateways.TOP_KEYS
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
    "send": "send a hand-written SIP message from a node (fields: from, to, message, content_length)",
    "save": "save fields of a message already sent as $name for later steps (fields: match, save, which)",
    "db.unreachable": "the PUA's database stops answering (every statement fails)",
    "db.fail_after": "the database fails after N more statements (with: {ops: N})",
    "db.heal": "the database answers again",
    "mark": "write a note into the trace",
    **registrations.PHONE_ACTIONS,
    **gateways.ACTIONS,
}
EXPECT_KINDS = {"sequence", "count", "absent", "record", "rc", "rpc", "event", "error", "server_state", "stat"}


def parse_address(text: Any, doc: Doc, path: tuple) -> tuple[str, int]:
    if not isinstance(text, str) or ":" not in text or len(text) > 300:
        raise doc.error(path, f"expected host:port, got {text!r:.60}")
    host, _, port = text.rpartition(":")
    if not (port.isascii() and port.isdigit()) or len(port) > 5 or not (0 < int(port) < 65536):
        raise doc.error(path, f"bad port in {text!r}")
    host = host.strip("[]")
    if not host or any(c.isspace() for c in host):
        raise doc.error(path, f"bad host in {text!r}")
    return (host, int(port))


def seconds_to_us(value: Any, doc: Doc, path: tuple, allow_negative: bool = False) -> int:
    """Seconds of virtual time (finite, at most :data:`MAX_DURATION_S`) as microseconds."""
    if allow_negative and isinstance(value, int | float) and not isinstance(value, bool) and value < 0:
        return -read_seconds(doc, path, -value)
    if isinstance(value, int | float) and not isinstance(value, bool) and value < 0:
        raise doc.error(path, f"must be >= 0, got {value}")
    return read_seconds(doc, path, value)


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
    gateways: gateways.Gateways = field(default_factory=gateways.Gateways)


def _mapping(value: Any, doc: Doc, path: tuple, keys: set[str] | None = None) -> dict:
    return read_mapping(doc, path, value, keys)


#: puasim's bound on ``hash_size``: 2^20 buckets are allocated up front
MAX_HASH_SIZE = 20


def _pua_params(doc: Doc, params: dict) -> None:
    """Type and range of every pua modparam (C ints, strings) before mod_init's own checks."""
    defaults = PuaConfig()
    for name, value in params.items():
        path = ("pua", "params", name)
        if name == "profile" or not hasattr(defaults, name) or name == "warnings":
            continue  # load_config names unknown parameters
        if isinstance(getattr(defaults, name), int):
            hi = MAX_HASH_SIZE if name == "hash_size" else INT_MAX
            read_int(doc, path, value, lo=INT_MIN, hi=hi)
        else:
            read_text(doc, path, value, max_len=4096)


def _check_db_url(doc: Doc, cfg: PuaConfig) -> None:
    """The database ``db_url`` names can be opened: its form, and for SQLite its folder."""
    from puasim.store import StoreError, parse_url

    path = ("pua", "params", "db_url")
    base = str(doc.base)
    try:
        url = parse_url(cfg.db_url, base)
    except StoreError as exc:
        raise doc.error(path, str(exc)) from None
    if url.dialect == "sqlite" and url.path != ":memory:":
        folder = Path(url.path).parent
        if not folder.is_dir():
            raise doc.error(path, f"cannot open {cfg.db_url!r}: folder {folder} does not exist")


def _pua(doc: Doc, raw: dict) -> tuple[PuaConfig, tuple[str, int], dict[str, bool], dict[str, Any]]:
    spec = _mapping(raw.get("pua"), doc, ("pua",), {"profile", "params", "address", "notify", "db"})
    params = dict(_mapping(spec.get("params"), doc, ("pua", "params")))
    _pua_params(doc, params)
    if "profile" in spec:
        params["profile"] = read_text(doc, ("pua", "profile"), spec["profile"], max_len=100)
    try:
        cfg = load_config(params)
    except PuaStartupError as exc:
        bad = next((k for k in params if k in str(exc)), None)
        raise doc.error(("pua", "params", bad) if bad else ("pua",), f"pua would not start: {exc}") from None
    addr = parse_address(spec.get("address", "127.0.0.1:5070"), doc, ("pua", "address"))
    notify = _mapping(spec.get("notify"), doc, ("pua", "notify"), {"update_contact", "check_dialog"})
    for key, value in notify.items():
        read_bool(doc, ("pua", "notify", key), value)
    db = _mapping(spec.get("db"), doc, ("pua", "db"), {"enabled", "driver", "shutdown_flush"})
    from puasim.store.database import QUIRKS

    if "driver" in db and (not isinstance(db["driver"], str) or db["driver"] not in QUIRKS):
        raise doc.error(("pua", "db", "driver"), f"unknown driver {db['driver']!r:.40} (known: {', '.join(QUIRKS)})")
    for key in ("enabled", "shutdown_flush"):
        if key in db:
            read_bool(doc, ("pua", "db", key), db[key])
    if cfg.db_mode == 2 and db.get("enabled") is False:
        raise doc.error(("pua", "db", "enabled"), "db_mode 2 needs the database")
    if db.get("enabled", True) is not False:
        _check_db_url(doc, cfg)
    return cfg, addr, {k: bool(v) for k, v in notify.items()}, db


def _network(doc: Doc, raw: dict) -> tuple[LinkProfile, list[tuple[int, int]]]:
    keys = {"latency_ms", "jitter_ms", "jitter_kind", "loss", "duplicate", "partitions"}
    spec = _mapping(raw.get("network"), doc, ("network",), keys)
    for key in ("latency_ms", "jitter_ms"):
        if key in spec:
            read_number(doc, ("network", key), spec[key], lo=0, hi=MAX_LATENCY_MS, what="milliseconds")
    for key in ("loss", "duplicate"):
        if key in spec:
            read_number(doc, ("network", key), spec[key], lo=0, hi=1, what="a rate")
    if "jitter_kind" in spec:
        read_choice(doc, ("network", "jitter_kind"), spec["jitter_kind"], JITTER_KINDS)
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
    for i, part in enumerate(read_list(doc, ("network", "partitions"), spec.get("partitions"), default=[])):
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
    if isinstance(value, str | None) and value in table:
        return table[value]
    raise doc.error(path, f"flag must be insert, update or none, got {value!r:.40}")


def _source(value: Any, default: str, doc: Doc, path: tuple) -> int:
    name = value if value is not None else default
    if is_int(name):
        return read_int(doc, path, name, lo=0, hi=INT_MAX, what="a source flag")
    if not isinstance(name, str):
        raise doc.error(path, f"source must be a source flag name, got {name!r:.40}")
    try:
        return int(Source[name])
    except KeyError:
        raise doc.error(path, f"unknown source flag {name!r:.40} (e.g. {', '.join(list(Source.__members__)[:6])}, ...)") from None


def _event(value: Any, cfg: PuaConfig, doc: Doc, path: tuple) -> int:
    if is_int(value):
        return read_int(doc, path, value, lo=0, hi=INT_MAX, what="an event flag")
    if not isinstance(value, str):
        raise doc.error(path, f"event must be an event name, got {value!r:.40}")
    ev = event_from_name(value, cfg.is_master)
    if ev < 0 and value in ("xcap-diff",):
        return 128
    if ev < 0:
        raise doc.error(path, f"unknown event {value!r:.60}")
    return ev


def _read_body_file(doc: Doc, path: tuple, name: Any) -> bytes:
    """At most :data:`MAX_BODY_BYTES` of a file named relative to the scenario."""
    f = doc.base / read_text(doc, path, name, max_len=4096, empty=False, what="a file name")
    try:
        with f.open("rb") as handle:
            data = handle.read(MAX_BODY_BYTES + 1)
    except OSError as exc:
        raise doc.error(path, f"cannot read {f}: {exc.strerror}") from None
    if len(data) > MAX_BODY_BYTES:
        raise doc.error(path, f"{f} is larger than {MAX_BODY_BYTES} bytes (Kamailio's SIP message buffer)")
    return data


def _body(spec: dict, doc: Doc, path: tuple) -> bytes | None:
    if "body" in spec and "body_file" in spec:
        raise doc.error(path, "give body or body_file, not both")
    if "body_file" in spec:
        return _read_body_file(doc, (*path, "body_file"), spec["body_file"])
    if "body" in spec:
        body = spec["body"]
        if body is None:
            return None
        if not isinstance(body, str):
            raise doc.error((*path, "body"), "body must be text")
        data = body.encode("utf-8", "surrogateescape")
        if len(data) > MAX_BODY_BYTES:
            raise doc.error((*path, "body"), f"larger than {MAX_BODY_BYTES} bytes (Kamailio's SIP message buffer)")
        return data
    return None


#: text fields of publish/subscribe steps and whether they may be empty
_TEXT_FIELDS = {
    "pres_uri": False, "watcher_uri": False, "contact": True, "content_type": True, "id": True,
    "etag": True, "outbound_proxy": True, "extra_headers": True, "remote_target": True,
    "process": False,
}


def _call_fields(w: dict, doc: Doc, path: tuple) -> None:
    """Types and bounds of the publ_info / subs_info fields (§3.1, §4.1)."""
    for name, empty in _TEXT_FIELDS.items():
        if name in w and not (name == "remote_target" and w[name] is None):
            read_text(doc, (*path, name), w[name], empty=empty)
    if "expires" in w:
        value = w["expires"]
        if not is_int(value):
            raise doc.error((*path, "expires"), "expires must be an integer")
        read_int(doc, (*path, "expires"), value, lo=-1, hi=INT_MAX, what="an integer (-1 = default)")
    if "internal_update_flag" in w:
        read_int(doc, (*path, "internal_update_flag"), w["internal_update_flag"], lo=0, hi=INT_MAX)


#: the fields of the ``with:`` mapping of the steps that have a fixed set
_WITH_FIELDS: dict[str, set[str]] = {
    "network.drop": {"count", "from", "to"},
    "db.fail_after": {"ops"},
    **{name: set() for name in (
        "pua.cleanup", "pua.restart", "pua.crash", "pua.start", "server.restart", "server.crash",
        "server.start", "db.unreachable", "db.heal", "mark",
    )},
}
MAX_RPC_ARGS = 16


def _step(doc: Doc, i: int, raw: Any, cfg: PuaConfig, duration: int, saved: dict[str, int] | None = None) -> Step:
    """Step ``i``; ``saved`` maps the names earlier ``save`` steps save to their
    times (a ``save`` step adds its names)."""
    saved = {} if saved is None else saved
    path = ("steps", i)
    spec = _mapping(raw, doc, path)
    if "at" not in spec:
        raise doc.error(path, "missing 'at' (seconds of virtual time)")
    at = seconds_to_us(spec["at"], doc, (*path, "at"))
    if at > duration:
        raise doc.error((*path, "at"), f"step at {spec['at']} s is after the scenario's duration")
    action = spec.get("do")
    if not isinstance(action, str) or action not in STEP_ACTIONS:
        raise doc.error((*path, "do"), f"unknown action {action!r:.40} (one of: {', '.join(STEP_ACTIONS)})")
    extra = set(spec) - {"at", "do", "with", "args", "text"}
    if extra:
        raise doc.error((*path, sorted(extra, key=str)[0]), "unknown field (allowed: at, do, with, args, text)")
    args: Any
    if action == "publish":
        w = _mapping(spec.get("with"), doc, (*path, "with"), PUBLISH_FIELDS)
        if "pres_uri" not in w:
            raise doc.error((*path, "with"), "publish needs pres_uri")
        _call_fields(w, doc, (*path, "with"))
        args = dict(w)
        args["event"] = _event(w.get("event", "presence"), cfg, doc, (*path, "with", "event"))
        args["source"] = _source(w.get("source"), "RPC_ASYN_PUBLISH", doc, (*path, "with", "source"))
        args["flag"] = _flag(w.get("flag"), doc, (*path, "with", "flag"))
        args["body"] = _body(w, doc, (*path, "with"))
        args.pop("body_file", None)
    elif action == "subscribe":
        w = _mapping(spec.get("with"), doc, (*path, "with"), SUBSCRIBE_FIELDS)
        for need in ("pres_uri", "watcher_uri"):
            if need not in w:
                raise doc.error((*path, "with"), f"subscribe needs {need}")
        _call_fields(w, doc, (*path, "with"))
        args = dict(w)
        args.setdefault("contact", w["watcher_uri"])
        args["event"] = _event(w.get("event", "presence"), cfg, doc, (*path, "with", "event"))
        args["source"] = _source(w.get("source"), "RPC_SUBSCRIBE", doc, (*path, "with", "source"))
        args["flag"] = _flag(w.get("flag"), doc, (*path, "with", "flag"))
    elif action.startswith("rpc."):
        raw_args = spec.get("args")
        if not isinstance(raw_args, list):
            raise doc.error((*path, "args"), "rpc steps need args: a list of strings")
        read_list(doc, (*path, "args"), raw_args, max_items=MAX_RPC_ARGS)
        for k, a in enumerate(raw_args):
            if isinstance(a, float):
                read_number(doc, (*path, "args", k), a, lo=-float(INT_MAX), hi=float(INT_MAX))
            elif not isinstance(a, str | int):
                raise doc.error((*path, "args", k), f"rpc arguments are strings, got {type(a).__name__}")
            elif isinstance(a, str):
                read_text(doc, (*path, "args", k), a)
        args = [str(a) for a in raw_args]
        w = _mapping(spec.get("with"), doc, (*path, "with"), {"body_file"})
        if "body_file" in w:
            body = _body(w, doc, (*path, "with"))
            args.append((body or b"").decode())
    elif action == "mark":
        _mapping(spec.get("with"), doc, (*path, "with"), _WITH_FIELDS[action])
        args = str(read_text(doc, (*path, "text"), spec.get("text", MISSING), default=""))
    elif action == "server.fault":
        args = dict(_mapping(spec.get("with"), doc, (*path, "with")))
        _fault(doc, (*path, "with"), args)
    elif action == "send":
        known = {name for name, when in saved.items() if when <= at}
        args = inject.validate_send(doc, (*path, "with"), spec.get("with"), known)
        to = args["to"]
        if to is None:
            raise doc.error((*path, "with"), "send needs to: a node name or host:port")
        if isinstance(to, str) and ":" in to:
            args["to"] = parse_address(to, doc, (*path, "with", "to"))
        else:
            read_text(doc, (*path, "with", "to"), to, max_len=100, empty=False, what="a node name or host:port")
    elif action == "save":
        names: set[str] = set()
        args = inject.validate_save(doc, (*path, "with"), spec.get("with"), names)
        for name in names:
            saved[name] = min(saved.get(name, at), at)
    else:
        args = dict(_mapping(spec.get("with"), doc, (*path, "with"), _WITH_FIELDS.get(action)))
        w_path = (*path, "with")
        if action == "network.drop":
            read_int(doc, (*w_path, "count"), args.get("count", MISSING), lo=1, hi=MAX_COUNT, default=1)
            # node names: pua, server, or any other name ("*" = every destination)
            read_text(doc, (*w_path, "from"), args.get("from", MISSING), default="pua", max_len=100, empty=False)
            read_text(doc, (*w_path, "to"), args.get("to", MISSING), default="*", max_len=100, empty=False)
        elif action == "db.fail_after":
            read_int(doc, (*w_path, "ops"), args.get("ops", MISSING), lo=0, hi=MAX_COUNT, default=0)
    return Step(i, at, action, args, path, doc.line(path))


# -- typed checks derived from dataclass annotations (server knobs, faults) --------------

MAX_DURATION_US = MAX_DURATION_S * SECOND


def _check_typed(doc: Doc, path: tuple, value: Any, hint: Any, name: str) -> None:
    """``value`` fits the annotation ``hint`` (ints bounded by :func:`_int_bounds`)."""
    origin = get_origin(hint)
    if origin is Union or (origin is not None and type(hint).__name__ == "UnionType"):
        options = get_args(hint)
        if value is None and type(None) in options:
            return
        rest = [o for o in options if o is not type(None)]
        if len(rest) == 1:
            _check_typed(doc, path, value, rest[0], name)
            return
        raise doc.error(path, f"unsupported type {hint}")  # pragma: no cover - no such field today
    if hint is bool:
        read_bool(doc, path, value)
    elif hint is int:
        lo, hi = _int_bounds(name)
        read_int(doc, path, value, lo=lo, hi=hi)
    elif hint is str:
        read_text(doc, path, value, max_len=4096)
    elif origin is tuple:
        items = get_args(hint)
        if not isinstance(value, list | tuple):
            raise doc.error(path, f"must be a list, got {type(value).__name__}")
        read_list(doc, path, list(value), max_items=1000)
        if len(items) == 2 and items[1] is Ellipsis:
            for k, item in enumerate(value):
                _check_typed(doc, (*path, k), item, items[0], name)
        else:
            if len(value) != len(items):
                raise doc.error(path, f"must be a list of {len(items)} items, got {len(value)}")
            for k, (item, item_hint) in enumerate(zip(value, items, strict=True)):
                _check_typed(doc, (*path, k), item, item_hint, name)
    else:  # pragma: no cover - every annotation in use is handled above
        raise doc.error(path, f"unsupported type {hint}")


def _int_bounds(name: str) -> tuple[int, int]:
    if "status" in name:
        return 100, 699
    if name in ("after", "until", "at", "delay", "clean_period", "pending_for", "processing_delay"):
        return 0, MAX_DURATION_US  # microseconds of virtual time
    if name == "count":
        return 1, MAX_COUNT
    if name == "reasons":
        return 100, 699
    return 0, INT_MAX


_SECONDS_KNOBS = {"clean_period_s", "pending_for_s", "processing_delay_s"}


@cache
def _hints(cls: type) -> dict[str, Any]:
    """The resolved field annotations of a dataclass (resolved once per class)."""
    return get_type_hints(cls)


def _server_knobs(doc: Doc, knobs: dict) -> None:
    from puasim.server.profiles import ServerProfile

    hints = _hints(ServerProfile)
    for name, value in knobs.items():
        path = ("server", "knobs", name)
        if name in _SECONDS_KNOBS:
            read_seconds(doc, path, value)
        elif name in hints and name != "name":
            _check_typed(doc, path, value, hints[name], name)


def _fault(doc: Doc, path: tuple, args: dict) -> None:
    """A ``server.fault`` mapping: kind, then every field by its type and bounds."""
    from puasim.server.faults import FAULT_KINDS, fault_from_dict

    kind = args.get("kind")
    cls = FAULT_KINDS.get(str(kind).replace("_", "-")) if isinstance(kind, str) else None
    if cls is None:
        raise doc.error((*path, "kind") if "kind" in args else path, f"bad fault: unknown fault kind {kind!r:.40}; known: {sorted(FAULT_KINDS)}")
    hints = _hints(cls)
    known = {f.name for f in fields(cls)}
    for name, value in args.items():
        if name == "kind":
            continue
        if not isinstance(name, str):
            raise doc.error((*path, name), "unknown field")
        base = name[:-2] if name.endswith("_s") else name
        if base not in known:
            raise doc.error((*path, name), f"bad fault: unknown field {name!r} of {kind!r}; known: {sorted(known)}")
        if name.endswith("_s"):
            read_seconds(doc, (*path, name), value)
        elif base == "headers":
            if isinstance(value, dict):
                for header, text in value.items():
                    read_text(doc, (*path, name, header), str(header), max_len=200, empty=False)
                    read_text(doc, (*path, name, header), text, max_len=4096)
            else:
                for k, pair in enumerate(read_list(doc, (*path, name), value, max_items=100)):
                    if not (isinstance(pair, list) and len(pair) == 2):
                        raise doc.error((*path, name, k), "a header is [name, value]")
                    read_text(doc, (*path, name, k, 0), pair[0], max_len=200, empty=False)
                    read_text(doc, (*path, name, k, 1), pair[1], max_len=4096)
        elif base == "seconds":
            read_int(doc, (*path, name), value, lo=0, hi=INT_MAX)
        else:
            _check_typed(doc, (*path, name), value, hints[base], base)
    try:
        fault_from_dict(args)
    except (TypeError, ValueError) as exc:
        raise doc.error(path, f"bad fault: {exc}") from None


def build(doc: Doc) -> Scenario:
    """The scenario of ``doc``, or a :class:`ScenarioError` naming every error found.

    Independent parts (top-level fields, the pua, server and network blocks,
    each step, each expectation) are checked one after the other and their
    errors gathered, so that one pass reports them all; a part that needs
    another (steps need the pua block) is checked only when that one is valid.
    """
    raw = doc.data
    if not isinstance(raw, dict):
        raise doc.error((), "a scenario file must be a mapping at the top level")
    errs = ErrorCollector()
    for key in raw:
        if key not in TOP_KEYS:
            with errs.part():
                raise doc.error((key,), f"unknown field (allowed: {', '.join(sorted(TOP_KEYS, key=str))})")
    name = description = ""
    refs: list = []
    duration, seed, epoch = MAX_DURATION_US, 1, 1_700_000_000
    with errs.part():
        name = read_text(doc, ("name",), raw.get("name") or Path(doc.file).stem, max_len=200)
    with errs.part():
        description = read_text(doc, ("description",), raw.get("description", MISSING), default="")
    with errs.part():
        got = raw.get("refs")
        if not isinstance(got, list) or not got or not all(isinstance(r, str) for r in got):
            raise doc.error(("refs",), "refs must list the pua-reference / RFC sections the scenario checks")
        read_list(doc, ("refs",), got, max_items=100)
        for i, ref in enumerate(got):
            read_text(doc, ("refs", i), ref, max_len=200)
        refs = got
    with errs.part():
        if "duration" not in raw:
            raise doc.error(("duration",), "missing (seconds of virtual time to run)")
        duration = seconds_to_us(raw["duration"], doc, ("duration",))
    with errs.part():
        seed = raw.get("seed", 1)
        if not is_int(seed):
            raise doc.error(("seed",), "seed must be an integer")
        read_int(doc, ("seed",), seed, lo=0, hi=MAX_SEED)
    with errs.part():
        epoch = raw.get("epoch", 1_700_000_000)
        if not is_int(epoch) or epoch < 0:
            raise doc.error(("epoch",), "epoch must be a non-negative integer (UNIX seconds at t=0)")
        read_int(doc, ("epoch",), epoch, lo=0, hi=MAX_EPOCH, what="UNIX seconds")
    pua_ok = server_ok = False
    with errs.part():
        cfg, pua_addr, notify, db = _pua(doc, raw)
        pua_ok = True
    with errs.part():
        sspec = _mapping(raw.get("server"), doc, ("server",), {"profile", "address", "knobs"})
        server_addr = parse_address(sspec.get("address", "127.0.0.1:5060"), doc, ("server", "address"))
        if pua_ok and server_addr == pua_addr:
            raise doc.error(("server", "address"), "server and pua need different addresses")
        from puasim.server.profiles import PROFILES, get_profile

        read_choice(doc, ("server", "profile"), sspec.get("profile", MISSING), tuple(PROFILES), default="kamailio")
        knobs = dict(_mapping(sspec.get("knobs"), doc, ("server", "knobs")))
        _server_knobs(doc, knobs)
        try:
            get_profile(str(sspec.get("profile", "kamailio")), **knobs)
        except (TypeError, ValueError) as exc:
            raise doc.error(("server",), f"bad server profile: {exc}") from None
        server_ok = True
    with errs.part():
        link, parts = _network(doc, raw)
    steps_raw: list = []
    with errs.part():
        steps_raw = raw.get("steps") or []
        if not isinstance(steps_raw, list):
            steps_raw = []
            raise doc.error(("steps",), "steps must be a list")
        read_list(doc, ("steps",), steps_raw)
    steps: list[Step] = []
    steps_ok = pua_ok
    regs_ok = pops_ok = False
    if pua_ok and server_ok:
        with errs.part():
            regs = registrations.parse(doc, raw, pua_addr, server_addr, cfg.profile)
            regs_ok = True
    if pua_ok:
        saved: dict[str, int] = {}
        for i, s in enumerate(steps_raw):
            try:
                steps.append(_step(doc, i, s, cfg, duration, saved))
            except ScenarioError as exc:
                errs.errors.extend(exc.errors)
                steps_ok = False
        from puasim.scenario.population_block import read_populations

        with errs.part():
            populations = read_populations(doc, raw, cfg)
            pops_ok = True
    if steps_ok and regs_ok:
        with errs.part():
            registrations.check_steps(doc, steps, regs)
    if pops_ok and populations:
        from puasim.scenario.population_block import check_phones

        with errs.part():
            check_phones(doc, raw, populations, regs if regs_ok else None, regs_ok)
    with errs.part():
        gws = gateways.parse(doc, raw)
        if steps_ok:
            gateways.check_steps(doc, steps, gws)
    expect_raw: list = []
    with errs.part():
        expect_raw = raw.get("expect") or []
        if not isinstance(expect_raw, list) or not expect_raw:
            expect_raw = []
            raise doc.error(("expect",), "expect must be a non-empty list (a scenario that checks nothing cannot fail)")
        read_list(doc, ("expect",), expect_raw)
    expectations = []
    from puasim.scenario.expect import validate_expectation

    for i, item in enumerate(expect_raw):
        with errs.part():
            e = _mapping(item, doc, ("expect", i))
            kinds = [k for k in e if k in EXPECT_KINDS]
            if len(kinds) != 1:
                raise doc.error(("expect", i), f"each expectation needs exactly one of: {', '.join(sorted(EXPECT_KINDS))}")
            extra = set(e) - {kinds[0], "why"}
            if extra:
                raise doc.error(("expect", i, sorted(extra, key=str)[0]), "unknown field (allowed besides the kind: why)")
            if "why" in e:
                read_text(doc, ("expect", i, "why"), e["why"], max_len=4096)
            entry = (kinds[0], e[kinds[0]], ("expect", i, kinds[0]), doc.line(("expect", i)))
            validate_expectation(entry[0], entry[1], doc, entry[2], len(steps_raw))
            expectations.append(entry)
    errs.raise_all()
    return Scenario(
        name=name,
        file=doc.file,
        description=description.strip(),
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
        gateways=gws,
    )
