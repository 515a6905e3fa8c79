"""A throw-away PostgreSQL cluster for tests and benchmarks.

``initdb`` + ``pg_ctl start -o "-F -k <dir> -p <port> -h 127.0.0.1"`` in a
temporary folder, stopped and removed by :meth:`PgCluster.stop`.  PostgreSQL
refuses to run as root, so as root the binaries run as the ``postgres`` user
(Debian's postgresql package creates it) on a folder owned by that user.

Binaries are looked up on PATH, then in ``/usr/local/bin``, then in the newest
``/usr/lib/postgresql/*/bin`` (Debian's layout).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field


def find_pg_bin() -> str | None:
    """Folder holding ``initdb`` and ``pg_ctl``, or None."""
    for cand in (shutil.which("initdb"), "/usr/local/bin/initdb"):
        if cand and os.path.exists(cand) and shutil.which("pg_ctl", path=os.path.dirname(cand)):
            return os.path.dirname(os.path.realpath(cand))
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    return os.path.dirname(versions[-1]) if versions else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class PgCluster:
    bindir: str
    root: str = ""
    port: int = 0
    user: str | None = None
    log: str = ""
    _running: bool = field(default=False, repr=False)

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run(
            list(args), user=self.user, check=True, capture_output=True, text=True, timeout=timeout, cwd=self.root
        )

    def start(self) -> PgCluster:
        self.root = tempfile.mkdtemp(prefix="puasim-pg-")
        if os.geteuid() == 0:
            try:
                pw = pwd.getpwnam("postgres")
            except KeyError as exc:
                raise RuntimeError("running as root and there is no 'postgres' user to run PostgreSQL as") from exc
            self.user = "postgres"
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
        data = os.path.join(self.root, "data")
        self.log = os.path.join(self.root, "postgres.log")
        self._run(
            os.path.join(self.bindir, "initdb"), "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8",
            "--no-sync", "--no-instructions",
        )
        self.port = _free_port()
        opts = f"-F -k {self.root} -p {self.port} -h 127.0.0.1 -c fsync=off -c full_page_writes=off"
        self._run(os.path.join(self.bindir, "pg_ctl"), "-D", data, "-o", opts, "-l", self.log, "-w", "-t", "60", "start")
        self._running = True
        return self

    def stop(self) -> None:
        if self._running:
            try:
                self._run(os.path.join(self.bindir, "pg_ctl"), "-D", os.path.join(self.root, "data"), "-m", "immediate", "-w", "stop")
            finally:
                self._running = False
        if self.root:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = ""
