"""``puasim lab presence`` / ``puasim lab edge``: real Kamailio servers on loopback, for ``puasim live``.

The same servers the live tests use, started in the foreground of a
terminal: ``presence`` is :func:`puasim.live.kamailio.start_presence_server`
(the shipped ``presence-server.cfg`` with a fresh SQLite DB made from
Kamailio's own schema files) and prints the address to give ``puasim live
--server``; ``edge`` is :func:`puasim.live.kamailio.start_edge_node` (the
shipped ``edge-node.cfg``: usrloc, registrar, dialog, pua, pua_dialoginfo)
publishing to a presence server it starts too (or to ``server``), and prints
the addresses to give ``puasim live --node ... --server ...``.  Both serve
until Ctrl-C (SIGINT), SIGTERM or the end of ``duration``, and then stop
exactly the Kamailio processes they started (by PID, then their own process
groups).
"""

from __future__ import annotations

import socket
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from puasim.live.driver import check_target
from puasim.live.kamailio import (
    KamailioError,
    KamailioProcess,
    edge_params,
    kamailio_binary,
    start_edge_node,
    start_presence_server,
)
from puasim.sip.uri import format_hostport

__all__ = ["DEBIAN_PACKAGES", "LabError", "serve_edge", "serve_presence"]

#: what Debian (bookworm) needs for the shipped presence server config
DEBIAN_PACKAGES = "kamailio kamailio-presence-modules kamailio-sqlite-modules"


class LabError(RuntimeError):
    """The lab server cannot start here (no Kamailio, port taken, not loopback)."""


def _port_free(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def serve_presence(
    host: str = "127.0.0.1",
    port: int = 5060,
    *,
    duration: float | None = None,
    rundir: str | Path | None = None,
    max_expires: int = 3600,
    say: Callable[[str], None] = print,
    started: Callable[[KamailioProcess], None] | None = None,
) -> int:
    """Run a presence server until interrupted or ``duration`` seconds; 0 when it
    served to the end, 1 when Kamailio exited by itself (its log tail is said)."""
    check_target((host, port), what="lab listen address")
    if kamailio_binary() is None:
        raise LabError(
            f"Kamailio is not installed: apt-get install {DEBIAN_PACKAGES} "
            "(or point PUASIM_KAMAILIO to the kamailio binary)"
        )
    if port and not _port_free(host, port):
        raise LabError(f"UDP port {format_hostport(host, port)} is taken (another SIP server?): pick another with --port")
    tmp = None
    if rundir is None:
        tmp = tempfile.TemporaryDirectory(prefix="puasim-lab-", ignore_cleanup_errors=True)
        rundir = tmp.name
    try:
        try:
            srv = start_presence_server(rundir, host=host, port=port, max_expires=max_expires)
        except KamailioError as exc:
            raise LabError(str(exc)) from None
        address = format_hostport(*srv.sip)
        code = _serve([srv], duration, say, lambda: started(srv) if started is not None else None, [
            f"Kamailio presence server (pid {srv.pid}) listening on udp:{address}; log in {srv.log}",
            f"try: puasim live tests/live/scenarios/publish_modify_remove.yaml --server {address}"])
        say(f"presence server on udp:{address} stopped")
        return code
    finally:
        if tmp is not None:
            tmp.cleanup()


def _serve(procs: list[KamailioProcess], duration: float | None, say: Callable[[str], None],
           started: Callable[[], object], lines: list[str]) -> int:
    """Say ``lines``, then wait until Ctrl-C, ``duration`` or one of ``procs`` exits by itself;
    stop them all (by PID)."""
    code = 0
    try:  # from here on, Ctrl-C at any point stops the servers
        for line in lines:
            say(line)
        say("stop with Ctrl-C" + (f" (stops by itself after {duration:g} s)" if duration is not None else ""))
        started()
        deadline = None if duration is None else time.monotonic() + duration
        while deadline is None or time.monotonic() < deadline:
            dead = next((p for p in procs if not p.alive()), None)
            if dead is not None:
                say(f"Kamailio ({dead.name}) exited by itself (code {dead.proc.returncode}):\n{dead.log_tail()}")
                code = 1
                break
            time.sleep(0.1 if deadline is None else max(0.0, min(0.1, deadline - time.monotonic())))
    except KeyboardInterrupt:
        say("interrupted")
    finally:
        for proc in reversed(procs):
            proc.stop()
    return code


def serve_edge(
    host: str = "127.0.0.1",
    port: int = 5080,
    *,
    server: tuple[str, int] | None = None,
    scenario: str | Path | None = None,
    duration: float | None = None,
    rundir: str | Path | None = None,
    say: Callable[[str], None] = print,
    started: Callable[[KamailioProcess], None] | None = None,
) -> int:
    """Run an edge node (and a presence server for it unless ``server`` is given) until
    interrupted or ``duration`` seconds; 0 when it served to the end, 1 when a Kamailio exited
    by itself.  ``scenario``: take the node's module parameters from that scenario file
    (:func:`~puasim.live.kamailio.edge_params`)."""
    check_target((host, port), what="lab listen address")
    if server is not None:
        check_target(server, what="presence server")
    if kamailio_binary() is None:
        raise LabError(
            f"Kamailio is not installed: apt-get install {DEBIAN_PACKAGES} "
            "(or point PUASIM_KAMAILIO to the kamailio binary)"
        )
    if port and not _port_free(host, port):
        raise LabError(f"UDP port {format_hostport(host, port)} is taken (another SIP server?): pick another with --listen")
    params = None
    if scenario is not None:
        from puasim.scenario.loader import ScenarioError
        from puasim.scenario.runner import load_scenario

        try:
            params = edge_params(load_scenario(scenario))
        except (ScenarioError, ValueError) as exc:
            raise LabError(str(exc)) from None
    tmp = None
    if rundir is None:
        tmp = tempfile.TemporaryDirectory(prefix="puasim-lab-", ignore_cleanup_errors=True)
        rundir = tmp.name
    procs: list[KamailioProcess] = []
    try:
        try:
            if server is None:
                procs.append(start_presence_server(Path(rundir) / "presence", host=host))
                server = procs[0].sip
            procs.append(start_edge_node(Path(rundir) / "edge", server, host=host, port=port, params=params))
        except KamailioError as exc:
            for proc in procs:
                proc.stop()
            raise LabError(str(exc)) from None
        node = procs[-1]
        address, srv = format_hostport(*node.sip), format_hostport(*server)
        own = f"presence server (pid {procs[0].pid}) on udp:{srv}" if len(procs) == 2 else f"the presence server udp:{srv}"
        code = _serve(procs, duration, say, lambda: started(node) if started is not None else None, [
            f"Kamailio edge node (pid {node.pid}) listening on udp:{address}, publishing to {own}; log in {node.log}",
            f"try: puasim live tests/live/scenarios/edge_basic_call.yaml --node {address} --server {srv}"])
        say(f"edge node on udp:{address} stopped")
        return code
    finally:
        if tmp is not None:
            tmp.cleanup()
