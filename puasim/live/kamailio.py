"""Start and stop real Kamailio instances on loopback (presence server, pua node, edge node), and talk JSON-RPC.

The configurations are puasim's own (``puasim/live/kamailio/*.cfg``); this
module fills in everything machine-specific at start time: listen sockets
(``-l``), the SQLite DB (made from Kamailio's own schema files with the
:mod:`sqlite3` module), the runtime directory (``-Y``/``-w``) and the
tunables (``-A NAME=value``).

A process is started with ``kamailio -DD -E`` (foreground, log to stderr)
in its own session (``start_new_session``, as ``setsid`` does), readiness is
a bounded loop of SIP OPTIONS pings (both configs answer 200), and
:meth:`KamailioProcess.stop` ends exactly that process: SIGTERM to its PID,
then — only if it is still alive after a bounded wait — SIGKILL to its
process group (the group it leads, with its worker children).

Paths of the installed Kamailio default to Debian's packages and can be
overridden: ``PUASIM_KAMAILIO`` (the binary, default ``/usr/sbin/kamailio``),
``PUASIM_KAMAILIO_SCHEMA`` (the folder of ``standard-create.sql`` and
``presence-create.sql``, default ``/usr/share/kamailio/db_sqlite``).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from puasim.live.driver import check_target

__all__ = [
    "CONFIG_DIR",
    "JsonRpc",
    "KamailioError",
    "KamailioProcess",
    "create_sqlite_db",
    "free_port",
    "kamailio_binary",
    "schema_dir",
    "sip_ping",
    "EDGE_PARAMS",
    "edge_params",
    "start_edge_node",
    "start_presence_server",
    "start_pua_node",
]

CONFIG_DIR = Path(__file__).with_name("kamailio")
SCHEMA_FILES = ("standard-create.sql", "presence-create.sql")


class KamailioError(RuntimeError):
    """Kamailio could not be started (config check, early exit, no answer) or misbehaved."""


def kamailio_binary() -> str | None:
    """The Kamailio binary to run, or None when it is not installed."""
    path = os.environ.get("PUASIM_KAMAILIO", "/usr/sbin/kamailio")
    return path if os.path.isfile(path) and os.access(path, os.X_OK) else None


def schema_dir() -> Path:
    return Path(os.environ.get("PUASIM_KAMAILIO_SCHEMA", "/usr/share/kamailio/db_sqlite"))


def create_sqlite_db(path: str | Path, wal: bool = True) -> Path:
    """A fresh SQLite DB from Kamailio's own schema files (version, presentity, ..., pua)."""
    path = Path(path)
    folder = schema_dir()
    scripts = []
    for name in SCHEMA_FILES:
        f = folder / name
        if not f.is_file():
            raise KamailioError(f"Kamailio's schema file {f} is missing (package kamailio-sqlite-modules)")
        scripts.append(f.read_text())
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    con = sqlite3.connect(path)
    try:
        for script in scripts:
            con.executescript(script)
        if wal:  # readers never block on a writer (db_sqlite 5.6 has no busy timeout)
            con.execute("PRAGMA journal_mode=WAL")
        con.commit()
    finally:
        con.close()
    return path


def free_port(host: str = "127.0.0.1", tcp_too: bool = False, tries: int = 50) -> int:
    """A port free for UDP (and TCP with ``tcp_too``) on ``host`` right now (bounded tries)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for _ in range(tries):
        with socket.socket(family, socket.SOCK_DGRAM) as u:
            u.bind((host, 0))
            port = u.getsockname()[1]
            if not tcp_too:
                return port
            with socket.socket(family, socket.SOCK_STREAM) as t:
                try:
                    t.bind((host, port))
                except OSError:
                    continue
                return port
    raise KamailioError(f"no free port found on {host} after {tries} tries")


def sip_ping(addr: tuple[str, int], timeout: float = 0.2) -> int | None:
    """Send one OPTIONS to ``addr``; the status code of the answer, or None."""
    check_target(addr, what="ping target")
    family = socket.AF_INET6 if ":" in addr[0] else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.bind((addr[0], 0))
        s.settimeout(timeout)
        host, port = s.getsockname()[:2]
        hp = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        target = f"[{addr[0]}]:{addr[1]}" if ":" in addr[0] else f"{addr[0]}:{addr[1]}"
        branch = f"z9hG4bKping{time.monotonic_ns():x}"
        msg = (
            f"OPTIONS sip:{target} SIP/2.0\r\nVia: SIP/2.0/UDP {hp};branch={branch}\r\n"
            f"From: <sip:ping@{hp}>;tag=p{os.getpid()}\r\nTo: <sip:{target}>\r\n"
            f"Call-ID: {branch}@{host}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        )
        try:
            s.sendto(msg.encode(), addr)
            data = s.recv(65535)
        except OSError:
            return None
    parts = data.split(b" ", 2)
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None


@dataclass(slots=True)
class KamailioProcess:
    """One running Kamailio: its PID, SIP address, RPC address (pua node), files."""

    name: str
    proc: subprocess.Popen
    sip: tuple[str, int]
    rundir: Path
    log: Path
    db: Path
    rpc: tuple[str, int] | None = None
    defines: dict[str, Any] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM to this PID; SIGKILL to its own process group if still alive after ``timeout``."""
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)  # the group this process leads (new session)
                except ProcessLookupError:
                    pass
                self.proc.wait(5)
        # workers of this group that outlived their parent
        try:
            os.killpg(self.proc.pid, 0)
        except (ProcessLookupError, PermissionError):
            pass
        else:
            time.sleep(0.2)
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return self.proc.returncode

    def __enter__(self) -> KamailioProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _db_url(path: Path) -> str:
    """db_sqlite drops one slash after ``sqlite://``: ``sqlite:///x`` is the relative
    path ``x``, so an absolute path needs four (``sqlite:////tmp/x``)."""
    return f"sqlite:///{Path(path).resolve()}"


def _define(name: str, value: Any) -> str:
    if isinstance(value, bool):
        value = int(value)
    if isinstance(value, int):
        return f"{name}={value}"
    return f'{name}="{value}"'


def _start(
    name: str,
    cfg: Path,
    rundir: Path,
    listen: list[str],
    sip: tuple[str, int],
    defines: dict[str, Any],
    db: Path,
    rpc: tuple[str, int] | None,
    ready_timeout: float,
) -> KamailioProcess:
    binary = kamailio_binary()
    if binary is None:
        raise KamailioError("Kamailio is not installed (apt-get install kamailio kamailio-presence-modules "
                            "kamailio-sqlite-modules) or PUASIM_KAMAILIO does not point to it")
    check_target(sip, what="Kamailio listen address")
    rundir.mkdir(parents=True, exist_ok=True)
    args = [binary, "-f", str(cfg), "-Y", str(rundir), "-w", str(rundir), "-m", "48", "-M", "8"]
    for sock in listen:
        args += ["-l", sock]
    for key, value in defines.items():
        args += ["-A", _define(key, value)]
    check = subprocess.run([*args, "-c"], capture_output=True, text=True, timeout=30)
    if check.returncode != 0:
        raise KamailioError(f"{name}: config check failed:\n{(check.stdout + check.stderr)[-2000:]}")
    log = rundir / "kamailio.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen([args[0], "-DD", "-E", *args[1:]], stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    kp = KamailioProcess(name, proc, sip, rundir, log, db, rpc, dict(defines))
    (rundir / "kamailio.pid").write_text(f"{proc.pid}\n")
    deadline = time.monotonic() + ready_timeout
    try:
        for _ in range(int(ready_timeout / 0.05) + 1):
            if proc.poll() is not None:
                raise KamailioError(f"{name} exited at start-up (code {proc.returncode}):\n{kp.log_tail()}")
            if sip_ping(sip, 0.05) is not None:
                return kp
            if time.monotonic() > deadline:
                break
    except KeyboardInterrupt:  # Ctrl-C while it starts: stop it, leave no orphan behind
        kp.stop()
        raise
    kp.stop()
    raise KamailioError(f"{name} did not answer OPTIONS on {sip[0]}:{sip[1]} within {ready_timeout} s:\n{kp.log_tail()}")


def start_presence_server(
    rundir: str | Path,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    max_expires: int = 3600,
    min_expires: int = 0,
    publ_cache: int = 0,
    ready_timeout: float = 10.0,
) -> KamailioProcess:
    """A Kamailio presence server (presence, presence_xml/dialoginfo/reginfo/mwi, db_sqlite)."""
    rundir = Path(rundir).resolve()
    port = port or free_port(host)
    rundir.mkdir(parents=True, exist_ok=True)
    db = create_sqlite_db(rundir / "presence.sqlite")
    hp = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    defines = {
        "DB_URL": _db_url(db),
        "SERVER_ADDRESS": f"sip:presence@{hp}",
        "PRES_MAX_EXPIRES": max_expires,
        "PRES_MIN_EXPIRES": min_expires,
        "PRES_PUBL_CACHE": publ_cache,
    }
    return _start("presence server", CONFIG_DIR / "presence-server.cfg", rundir, [f"udp:{hp}"], (host, port),
                  defines, db, None, ready_timeout)


def start_pua_node(
    rundir: str | Path,
    server: tuple[str, int],
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    rpc_port: int = 0,
    params: dict[str, int] | None = None,
    db: str | Path | None = None,
    fresh_db: bool = True,
    ready_timeout: float = 10.0,
) -> KamailioProcess:
    """A Kamailio pua node (pua, pua_rpc, jsonrpcs over xhttp) whose outbound proxy is ``server``.

    ``params`` are pua modparams (update_period, db_mode, default_expires,
    min_expires, check_remote_contact).  ``db`` is the SQLite file of its
    ``pua`` table (made fresh from Kamailio's schema unless ``fresh_db=False``,
    e.g. to start from a table another program wrote).
    """
    check_target(server, what="presence server")
    rundir = Path(rundir).resolve()
    rundir.mkdir(parents=True, exist_ok=True)
    port = port or free_port(host)
    rpc_port = rpc_port or free_port(host, tcp_too=True)
    dbp = Path(db).resolve() if db is not None else rundir / "pua.sqlite"
    if fresh_db or not dbp.exists():
        create_sqlite_db(dbp)
    hp = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    rhp = f"[{host}]:{rpc_port}" if ":" in host else f"{host}:{rpc_port}"
    shp = f"[{server[0]}]:{server[1]}" if ":" in server[0] else f"{server[0]}:{server[1]}"
    names = {"update_period": "PUA_UPDATE_PERIOD", "db_mode": "PUA_DB_MODE", "default_expires": "PUA_DEFAULT_EXPIRES",
             "min_expires": "PUA_MIN_EXPIRES", "check_remote_contact": "PUA_CHECK_REMOTE_CONTACT"}
    defines: dict[str, Any] = {"DB_URL": _db_url(dbp), "PRESENCE_SERVER": f"sip:{shp}"}
    for key, value in (params or {}).items():
        if key not in names:
            raise KamailioError(f"pua node: unsupported parameter {key!r} (known: {', '.join(names)})")
        defines[names[key]] = int(value)
    return _start("pua node", CONFIG_DIR / "pua-node.cfg", rundir, [f"udp:{hp}", f"tcp:{rhp}"], (host, port),
                  defines, dbp, (host, rpc_port), ready_timeout)


#: module parameters of :func:`start_edge_node` (``module.parameter``) and the define each sets
EDGE_PARAMS = {
    "pua.update_period": "PUA_UPDATE_PERIOD",
    "pua.db_mode": "PUA_DB_MODE",
    "pua.default_expires": "PUA_DEFAULT_EXPIRES",
    "pua.min_expires": "PUA_MIN_EXPIRES",
    "pua.dlginfo_increase_version": "PUA_DLGINFO_INCREASE_VERSION",
    "usrloc.timer_interval": "UL_TIMER_INTERVAL",
    "registrar.min_expires": "REG_MIN_EXPIRES",
    "registrar.default_expires": "REG_DEFAULT_EXPIRES",
    "tm.fr_inv_timer": "TM_FR_INV_TIMER",
    "dialog.default_timeout": "DLG_DEFAULT_TIMEOUT",
    "pua_dialoginfo.include_callid": "PDI_INCLUDE_CALLID",
    "pua_dialoginfo.include_localremote": "PDI_INCLUDE_LOCALREMOTE",
    "pua_dialoginfo.include_tags": "PDI_INCLUDE_TAGS",
    "pua_dialoginfo.override_lifetime": "PDI_OVERRIDE_LIFETIME",
    "pua_dialoginfo.caller_confirmed": "PDI_CALLER_CONFIRMED",
    "pua_dialoginfo.include_req_uri": "PDI_INCLUDE_REQ_URI",
    "pua_dialoginfo.callee_trying": "PDI_CALLEE_TRYING",
    "pua_dialoginfo.publish_dialog_req_within": "PDI_PUBLISH_DIALOG_REQ_WITHIN",
    "pua_dialoginfo.attribute_display": "PDI_ATTRIBUTE_DISPLAY",
}


#: pua_dialoginfo parameters edge-node.cfg sets from defines
_PDI_PARAMS = ("include_callid", "include_localremote", "include_tags", "override_lifetime", "caller_confirmed",
               "include_req_uri", "callee_trying", "publish_dialog_req_within", "attribute_display")


def edge_params(scn: Any) -> dict[str, int]:
    """The :func:`start_edge_node` parameters of a scenario's ``pua:`` and ``node:`` blocks.

    So that the real node runs what the model runs: every parameter that
    differs from its module default is passed on, and anything
    ``edge-node.cfg`` cannot do (other modules, another script, a dialog or
    publish flag, a pua parameter it does not set) is a :class:`ValueError`
    naming it.  ``outbound_proxy`` is not taken: the node publishes to the
    presence server it is started with."""
    from dataclasses import fields

    from puasim.companions.dialoginfo import PuaDialoginfoConfig
    from puasim.edge.script import Call
    from puasim.node.dialog import DialogConfig
    from puasim.node.registrar import RegistrarConfig
    from puasim.node.usrloc import UsrlocConfig
    from puasim.pua.config import load_config

    regs = scn.registrations
    where = f"{scn.file}: the shipped edge-node.cfg"
    if regs is None or regs.node.dialog is None or regs.node.pua_dialoginfo is None:
        raise ValueError(f"{where} runs dialog and pua_dialoginfo: the scenario's node: block must load both")
    node = regs.node
    extra = sorted(node.modules - {"core", "usrloc", "registrar", "pua", "dialog", "pua_dialoginfo"})
    if extra:
        raise ValueError(f"{where} does not load {', '.join(extra)}")
    if regs.script.register != (Call("save", ("location",)),) or regs.script.invite != (Call("dlg_manage"),):
        raise ValueError(f'{where} runs save("location") for REGISTER and dlg_manage() for INVITE, nothing else')
    out: dict[str, int] = {}

    def take(module: str, cfg: Any, default: Any, names: tuple[str, ...]) -> None:
        for f in fields(default):
            value, base = getattr(cfg, f.name), getattr(default, f.name)
            if value == base:
                continue
            if f.name not in names:
                raise ValueError(f"{where} cannot set {module} {f.name} (the scenario gives {value!r})")
            out[f"{module}.{f.name}"] = int(value)

    take("usrloc", node.usrloc, UsrlocConfig(), ("timer_interval",))
    take("registrar", node.registrar, RegistrarConfig(), ("min_expires", "default_expires"))
    take("dialog", node.dialog, DialogConfig(), ("default_timeout",))
    take("pua_dialoginfo", node.pua_dialoginfo, PuaDialoginfoConfig(), _PDI_PARAMS)
    # edge-node.cfg's own defaults that differ from the modules': registrar min_expires 0
    out.setdefault("registrar.min_expires", node.registrar.min_expires)
    pua = load_config({})
    for f in fields(pua):
        value, base = getattr(scn.pua_config, f.name), getattr(pua, f.name)
        if value == base or f.name in ("outbound_proxy", "db_url", "warnings"):
            continue
        if f.name not in ("update_period", "db_mode", "default_expires", "min_expires", "dlginfo_increase_version"):
            raise ValueError(f"{where} cannot set pua {f.name} (the scenario gives {value!r})")
        out[f"pua.{f.name}"] = int(value)
    return out


def start_edge_node(
    rundir: str | Path,
    server: tuple[str, int],
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    params: dict[str, int] | None = None,
    ready_timeout: float = 10.0,
) -> KamailioProcess:
    """A Kamailio edge node (usrloc, registrar, tm, rr, dialog, pua, pua_dialoginfo) publishing to ``server``.

    ``edge-node.cfg`` routes as the companions lab's edge proxy does for calls
    (``record_route()``, ``dlg_manage()``, ``lookup("location")``,
    ``t_relay()``); ``params`` are module parameters named
    ``module.parameter`` (:data:`EDGE_PARAMS`), integers.  pua's table lives
    in a fresh SQLite file made from Kamailio's schema (pua needs a db_url in
    every db_mode).
    """
    check_target(server, what="presence server")
    rundir = Path(rundir).resolve()
    rundir.mkdir(parents=True, exist_ok=True)
    port = port or free_port(host)
    db = create_sqlite_db(rundir / "edge.sqlite")
    hp = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    shp = f"[{server[0]}]:{server[1]}" if ":" in server[0] else f"{server[0]}:{server[1]}"
    defines: dict[str, Any] = {"DB_URL": _db_url(db), "PRESENCE_SERVER": f"sip:{shp}", "EDGE_ALIAS": hp}
    for key, value in (params or {}).items():
        if key not in EDGE_PARAMS:
            raise KamailioError(f"edge node: unsupported parameter {key!r} (known: {', '.join(EDGE_PARAMS)})")
        if isinstance(value, bool) or not isinstance(value, int):
            raise KamailioError(f"edge node: parameter {key!r} must be an integer, got {value!r}")
        defines[EDGE_PARAMS[key]] = value
    return _start("edge node", CONFIG_DIR / "edge-node.cfg", rundir, [f"udp:{hp}"], (host, port),
                  defines, db, None, ready_timeout)


class JsonRpc:
    """JSON-RPC 2.0 over HTTP to a Kamailio jsonrpcs module (POST /RPC), stdlib only."""

    def __init__(self, addr: tuple[str, int], timeout: float = 40.0) -> None:
        check_target(addr, what="RPC endpoint")
        host = f"[{addr[0]}]" if ":" in addr[0] else addr[0]
        self.url = f"http://{host}:{addr[1]}/RPC"
        self.timeout = timeout
        self._id = 0
        # never through an HTTP proxy: the node is on loopback
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def call(self, method: str, *params: Any) -> dict[str, Any]:
        """The reply object: ``{"result": ...}`` or ``{"error": ...}`` (plus ``http_status`` on errors)."""
        self._id += 1
        data = json.dumps({"jsonrpc": "2.0", "method": method, "params": list(params), "id": self._id}).encode()
        req = urllib.request.Request(self.url, data=data, headers={"Content-Type": "application/json"})
        try:
            with self._opener.open(req, timeout=self.timeout) as resp:
                return json.loads(resp.read().decode() or "null") or {}
        except urllib.error.HTTPError as exc:
            body = exc.read().decode(errors="replace")
            try:
                out = json.loads(body)
            except ValueError:
                out = {"raw": body}
            out["http_status"] = exc.code
            return out
