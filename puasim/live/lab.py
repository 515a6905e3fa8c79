"""``puasim lab presence``: a real Kamailio presence server on loopback, for ``puasim live``.

The same server the live tests use (:func:`puasim.live.kamailio.start_presence_server`,
the shipped ``presence-server.cfg`` with a fresh SQLite DB made from
Kamailio's own schema files), started in the foreground of a terminal: it
prints the address to give ``puasim live --server``, serves until Ctrl-C
(SIGINT), SIGTERM or the end of ``duration``, and then stops exactly the
Kamailio process it started (by PID, then its own process group).
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
    kamailio_binary,
    start_presence_server,
)
from puasim.sip.uri import format_hostport

__all__ = ["DEBIAN_PACKAGES", "LabError", "serve_presence"]

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
        code = 0
        try:  # from here on, Ctrl-C at any point stops the server
            say(f"Kamailio presence server (pid {srv.pid}) listening on udp:{address}; log in {srv.log}")
            say(f"try: puasim live tests/live/scenarios/publish_modify_remove.yaml --server {address}")
            say("stop with Ctrl-C" + (f" (stops by itself after {duration:g} s)" if duration is not None else ""))
            if started is not None:
                started(srv)
            deadline = None if duration is None else time.monotonic() + duration
            while deadline is None or time.monotonic() < deadline:
                if not srv.alive():
                    say(f"Kamailio exited by itself (code {srv.proc.returncode}):\n{srv.log_tail()}")
                    code = 1
                    break
                time.sleep(0.1 if deadline is None else max(0.0, min(0.1, deadline - time.monotonic())))
        except KeyboardInterrupt:
            say("interrupted")
        finally:
            srv.stop()
        say(f"presence server on udp:{address} stopped")
        return code
    finally:
        if tmp is not None:
            tmp.cleanup()
