"""``puasim lab presence``: a real Kamailio presence server on loopback, started and stopped
from the command line, and a live scenario run against it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import pytest

from puasim.live.kamailio import sip_ping
from puasim.live.scenario import run_live

from .conftest import HERE, REPO

pytestmark = pytest.mark.live


def test_lab_presence_serves_then_stops_after_its_duration(kamailio: str, tmp_path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "puasim", "lab", "presence", "--listen", "127.0.0.1:0", "--duration", "8",
         "--dir", str(tmp_path / "lab")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        m = re.search(r"\(pid (\d+)\) listening on udp:127\.0\.0\.1:(\d+)", first)
        assert m, first + (proc.stderr.read() if proc.stderr else "")
        pid, port = int(m.group(1)), int(m.group(2))
        assert sip_ping(("127.0.0.1", port), 1.0) == 200
        result = run_live(HERE / "scenarios" / "publish_modify_remove.yaml", ("127.0.0.1", port), grace=0.3)
        assert result.passed, [f.message for f in result.failures]
        out, err = proc.communicate(timeout=40)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == 0, err
    assert f"presence server on udp:127.0.0.1:{port} stopped" in out
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # the Kamailio it started is gone
    time.sleep(0.2)
    assert sip_ping(("127.0.0.1", port), 0.3) is None


def test_lab_presence_stops_on_ctrl_c(kamailio: str) -> None:
    import signal

    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "puasim", "lab", "presence", "--listen", "127.0.0.1:0", "--duration", "60"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO,
    )
    try:
        assert proc.stdout is not None
        m = re.search(r"\(pid (\d+)\) listening on udp:127\.0\.0\.1:(\d+)", proc.stdout.readline())
        assert m
        for _ in range(2):
            proc.stdout.readline()  # the two hint lines: it is in its wait loop now
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=40)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == 0, err
    assert "interrupted" in out and "stopped" in out
    with pytest.raises(ProcessLookupError):
        os.kill(int(m.group(1)), 0)


def test_lab_edge_starts_a_node_and_its_presence_server_and_stops_both(kamailio: str, tmp_path) -> None:
    from puasim.live.phones import run_phones

    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "puasim", "lab", "edge", "--listen", "127.0.0.1:0", "--duration", "12",
         "--scenario", str(HERE / "scenarios" / "edge_rejected_call.yaml"), "--dir", str(tmp_path / "lab")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        m = re.search(r"edge node \(pid (\d+)\) listening on udp:127\.0\.0\.1:(\d+), publishing to presence server "
                      r"\(pid (\d+)\) on udp:127\.0\.0\.1:(\d+)", first)
        assert m, first + (proc.stderr.read() if proc.stderr else "")
        node, server = ("127.0.0.1", int(m.group(2))), ("127.0.0.1", int(m.group(4)))
        result = run_phones(HERE / "scenarios" / "edge_rejected_call.yaml", node, server=server, grace=0.3)
        # no capture here: the expectations on the node's PUBLISHes cannot hold, the phones' side does
        assert not result.error and [f.kind for f in result.failures] == ["sequence", "count"]
        statuses = [getattr(r.event.message, "status", None) for r in result.trace
                    if r.node == "pua" and type(r.event).__name__ == "MessageSent"]
        assert 486 in statuses
        out, err = proc.communicate(timeout=40)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == 0, err
    assert f"edge node on udp:127.0.0.1:{node[1]} stopped" in out
    for pid in (int(m.group(1)), int(m.group(3))):
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)  # both Kamailios it started are gone
