"""The command line: argument checking, python -m, run --json/--summary, validate, missing extras."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from puasim.cli import build_parser, main

REPO = Path(__file__).resolve().parents[2]
SCENARIO = REPO / "scenarios" / "publish" / "initial_publish.yaml"
LIVE_SCENARIO = REPO / "tests" / "live" / "scenarios" / "publish_modify_remove.yaml"


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    from puasim.capture import export_pcap
    from puasim.scenario.runner import run_scenario
    from puasim.trace.codec import write_jsonl

    result = run_scenario(SCENARIO)
    trace = tmp_path / "t.jsonl"
    write_jsonl(result.trace, trace)
    pcap = tmp_path / "t.pcap"
    export_pcap(result.trace, pcap)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    return {"trace": str(trace), "pcap": str(pcap), "file": str(blocker), "tmp": str(tmp_path)}


#: (argv with {placeholders}, the argument the error must name)
BAD = [
    ("run {tmp}/nothing-here", "paths"),
    ("run {scenario} --out {file}", "--out"),
    ("run {scenario} --no-write --summary {file}/s.json", "--summary"),
    ("validate {tmp}/nothing-here", "paths"),
    ("show {tmp}/missing.jsonl", "trace"),
    ("pcap {trace} {file}/x.pcap", "out"),
    ("pcap {trace} {tmp}", "out"),
    ("pcap {tmp}/missing.jsonl {tmp}/x.pcap", "trace"),
    ("pcap {trace} {tmp}/x.pcap --drops lose", "--drops"),
    ("report {tmp}/missing --out {tmp}/r", "run"),
    ("report {trace} --out {file}", "--out"),
    ("report {trace} --pages 0", "--pages"),
    ("check {tmp}/missing.pcap", "capture"),
    ("check {pcap} --pua 127.0.0.1", "--pua"),
    ("check {pcap} --pua [::1", "--pua"),
    ("check {pcap} --pua-port 70000", "--pua-port"),
    ("check {pcap} --pua-port x", "--pua-port"),
    ("check {pcap} --params update_period", "--params"),
    ("check {pcap} --until -1", "--until"),
    ("check {pcap} --restart-at soon", "--restart-at"),
    ("check {pcap} --tolerance nan", "--tolerance"),
    ("check {pcap} --phase later", "--phase"),
    ("check {pcap} --id sip:a@h", "--id"),
    ("check {pcap} --source NOPE", "--source"),
    ("check {pcap} --db-quirks mysql", "--db-quirks"),
    ("check {pcap} --model-trace {file}/m.jsonl", "--model-trace"),
    ("live {live} --server 127.0.0.1", "--server"),
    ("live {live} --server 127.0.0.1:0", "--server"),
    ("live {live} --server 127.0.0.1:x", "--server"),
    ("live {live} --server 127.0.0.1:5060 --bind 127.0.0.1:x", "--bind"),
    ("live {live} --server 127.0.0.1:5060 --capture {file}/c.pcap", "--capture"),
    ("live {live} --server 127.0.0.1:5060 --trace {tmp}", "--trace"),
    ("live {live} --server 127.0.0.1:5060 --out {file}", "--out"),
    ("live {live} --server 127.0.0.1:5060 --speed 0", "--speed"),
    ("live {live} --server 127.0.0.1:5060 --pua-port 0", "--pua-port"),
    ("live {tmp}/missing.yaml --server 127.0.0.1:5060", "target"),
    ("live {live} --server 127.0.0.1:5060 --max-datagrams 0", "--max-datagrams"),
    ("live {live} --server 127.0.0.1:5060 --max-datagrams 1.5", "--max-datagrams"),
    ("live {live} --server 127.0.0.1:5060 --max-handled x", "--max-handled"),
    ("live {live} --server 127.0.0.1:5060 --max-rate 0", "--max-rate"),
    ("live {live} --server 127.0.0.1:5060 --max-rate inf", "--max-rate"),
    ("live {live} --server 127.0.0.1:5060 --max-duration -1", "--max-duration"),
    ("live {live}", "--server"),
    ("live {pcap} --node 127.0.0.1:5080", "--server"),
    ("live {live} --node 127.0.0.1", "--node"),
    ("live {live} --node 127.0.0.1:0", "--node"),
    ("lab edge --listen 127.0.0.1:99999", "--listen"),
    ("lab edge --server 127.0.0.1:0", "--server"),
    ("lab edge --scenario {tmp}/missing.yaml", "--scenario"),
    ("lab edge --duration 0", "--duration"),
    ("lab presence --listen 127.0.0.1:99999", "--listen"),
    ("lab presence --duration -3", "--duration"),
    ("lab presence --dir {file}", "--dir"),
    ("lab presence --max-expires x", "--max-expires"),
    ("lab", "SERVER"),
]


@pytest.mark.parametrize(("argv", "names"), BAD, ids=[a for a, _ in BAD])
def test_a_bad_argument_is_one_line_and_exit_2(argv: str, names: str, files: dict[str, str],
                                               capsys: pytest.CaptureFixture[str]) -> None:
    args = argv.format(scenario=SCENARIO, live=LIVE_SCENARIO, **files).split()
    assert main(args) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1, captured.err
    assert names in captured.err and "error:" in captured.err


def test_every_argument_of_every_command_has_help() -> None:
    def walk(parser: argparse.ArgumentParser, where: str) -> list[str]:
        missing = []
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, child in action.choices.items():
                    missing += walk(child, f"{where} {name}")
            elif not isinstance(action, argparse._HelpAction | argparse._VersionAction) and not action.help:
                missing.append(f"{where}: {action.dest}")
        return missing

    assert walk(build_parser(), "puasim") == []


def test_python_dash_m_puasim() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-m", "puasim", "--version"], capture_output=True, text=True,
                         env=env, cwd=REPO, timeout=120)
    assert out.returncode == 0 and out.stdout.startswith("puasim ")
    bad = subprocess.run([sys.executable, "-m", "puasim", "run"], capture_output=True, text=True,
                         env=env, cwd=REPO, timeout=120)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1


def test_run_json_prints_the_results(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    unpublish = SCENARIO.with_name("unpublish.yaml")
    assert main(["run", "--json", "--no-write", str(SCENARIO), str(unpublish)]) == 0
    captured = capsys.readouterr()
    rows = json.loads(captured.out)
    assert [r["scenario"] for r in rows] == ["initial_publish", "unpublish"]
    assert all(r["result"] == "pass" and len(r["digest"]) == 64 for r in rows)
    assert "2 passed, 0 failed" in captured.err  # the table goes to stderr


def test_summary_by_path_is_written_with_no_write(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "reports"
    summary = tmp_path / "deep" / "summary.json"
    assert main(["run", "--no-write", "--out", str(out), "--summary", str(summary), str(SCENARIO)]) == 0
    assert json.loads(summary.read_text())[0]["scenario"] == "initial_publish"
    assert not out.exists()


def test_validate_says_when_there_is_nothing_to_validate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(tmp_path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and f"no scenario files under {tmp_path}" in captured.err
    assert main(["validate", str(SCENARIO)]) == 0
    assert "1 valid, 0 invalid" in capsys.readouterr().out


def test_check_without_scapy_names_the_extra(files: dict[str, str]) -> None:
    code = (
        "import sys; sys.modules['scapy'] = None\n"
        "from puasim.cli import main\n"
        f"sys.exit(main(['check', {files['pcap']!r}]))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 2, out.stderr
    assert out.stderr.count("\n") == 1 and "pip install 'puasim[capture]'" in out.stderr
    assert "Traceback" not in out.stderr


def test_check_strict_sip_makes_a_stray_datagram_fatal(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import Ether
    from scapy.packet import Raw
    from scapy.utils import rdpcap, wrpcap

    from puasim.capture import export_pcap
    from puasim.scenario.runner import run_scenario

    clean = tmp_path / "clean.pcap"
    export_pcap(run_scenario(SCENARIO).trace, clean)
    packets = list(rdpcap(str(clean)))
    stray = Ether(dst="02:00:00:00:00:02", src="02:00:00:00:00:01") / IP(src="127.0.0.1", dst="127.0.0.1") \
        / UDP(sport=5070, dport=5060) / Raw(b"hello, not SIP")
    stray.time = packets[0].time
    mixed = tmp_path / "mixed.pcap"
    wrpcap(str(mixed), [packets[0], stray, *packets[1:]])
    assert main(["check", str(mixed)]) == 0
    out = capsys.readouterr().out
    assert "note: capture: " in out and "frame 2" in out and "is not SIP" in out
    assert main(["check", str(mixed), "--strict-sip"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "frame 2" in err


def test_an_unwritable_output_found_while_writing_is_one_line(files: dict[str, str], tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from puasim.capture import pcap

    def refuse(*args: object, **kw: object) -> int:
        raise PermissionError(13, "Permission denied", str(tmp_path / "x.pcap"))

    monkeypatch.setattr(pcap, "export_pcap", refuse)
    monkeypatch.setattr("puasim.capture.export_pcap", refuse)
    assert main(["pcap", files["trace"], str(tmp_path / "x.pcap")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Permission denied" in err


def test_lab_without_kamailio_names_the_debian_packages(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO), "PUASIM_KAMAILIO": str(tmp_path / "no-kamailio")}
    out = subprocess.run([sys.executable, "-m", "puasim", "lab", "presence", "--duration", "1"],
                         capture_output=True, text=True, env=env, cwd=REPO, timeout=120)
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1
    assert "apt-get install kamailio kamailio-presence-modules kamailio-sqlite-modules" in out.stderr


def test_live_against_a_silent_port_says_no_answer(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    port = silent.getsockname()[1]
    try:
        code = main(["live", str(LIVE_SCENARIO), "--server", f"127.0.0.1:{port}", "--no-write"])
    finally:
        silent.close()
    assert code == 1
    out = capsys.readouterr().out
    assert f"{LIVE_SCENARIO}: no-answer: no answer from 127.0.0.1:{port}" in out


def test_live_against_an_ipv6_server_binds_ipv6(capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    silent = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    try:
        silent.bind(("::1", 0))
    except OSError:
        silent.close()
        pytest.skip("no IPv6 loopback here")
    port = silent.getsockname()[1]
    try:
        code = main(["live", str(LIVE_SCENARIO), "--server", f"[::1]:{port}", "--no-write"])
        silent.settimeout(0.5)
        first = silent.recv(65535)  # the PUBLISH reached the IPv6 server
    finally:
        silent.close()
    assert code == 1
    assert first.startswith(b"PUBLISH sip:alice@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP [::1]:")
    assert f"no answer from [::1]:{port}" in capsys.readouterr().out


def _flooding_server(replies: int):
    """A UDP server on loopback answering each datagram with ``replies`` junk datagrams."""
    import socket
    import threading

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.1)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                _, src = sock.recvfrom(65535)
            except (TimeoutError, OSError):
                continue
            for _ in range(replies):
                sock.sendto(b"junk", src)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()

    def close() -> None:
        stop.set()
        thread.join(2)
        sock.close()

    return sock.getsockname()[1], close


def test_live_budget_flags_reach_the_driver(capsys: pytest.CaptureFixture[str]) -> None:
    import time

    port, close = _flooding_server(40)
    try:
        started = time.monotonic()
        code = main(["live", str(LIVE_SCENARIO), "--server", f"127.0.0.1:{port}", "--no-write",
                     "--max-duration", "0.9", "--max-handled", "5", "--max-rate", "1000"])
        took = time.monotonic() - started
    finally:
        close()
    out = capsys.readouterr().out
    assert code == 1
    assert "note: the run was cut at 0.9 s by the duration budget (the scenario runs 3 s)" in out
    assert took < 2.5  # the scenario's 2.5 s + grace would take longer
    assert "after the budget of 5 handled messages" in out


def test_live_max_datagrams_ends_a_runaway(capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    port = silent.getsockname()[1]
    try:
        code = main(["live", str(LIVE_SCENARIO), "--server", f"127.0.0.1:{port}", "--no-write",
                     "--max-datagrams", "1"])
    finally:
        silent.close()
    assert code == 1
    assert "send budget of 1 datagrams exhausted" in capsys.readouterr().out


def test_live_max_rate_drops_what_comes_faster(capsys: pytest.CaptureFixture[str]) -> None:
    port, close = _flooding_server(60)
    try:
        code = main(["live", str(LIVE_SCENARIO), "--server", f"127.0.0.1:{port}", "--no-write",
                     "--max-duration", "0.6", "--max-rate", "2"])
    finally:
        close()
    assert code == 1
    assert "over the rate limit of 2/s" in capsys.readouterr().out


def test_building_the_parser_loads_no_command_package():
    """``puasim show``/``pcap``/``report`` start without importing the scenario, sweep or report stacks."""
    code = (
        "import sys; from puasim.cli import build_parser; build_parser(); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pandas', 'matplotlib', 'scapy') "
        "or m.startswith(('puasim.sweep', 'puasim.scenario', 'puasim.report'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def _run_folder(tmp_path: Path, jobs: str, files: list[Path], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, Path]:
    out = tmp_path / f"out-{jobs}"
    code = main(["run", "-j", jobs, "--out", str(out), *map(str, files)])
    return code, capsys.readouterr().out, out


def test_run_with_workers_gives_what_one_process_gives(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad" / "broken.yaml"
    bad.parent.mkdir()
    bad.write_text("duration: 10\nsteps:\n  - at: 1\n    api: no_such_call\n")
    files = sorted((REPO / "scenarios" / "publish").glob("*.yaml"))[:5] + [REPO / "scenarios" / "calls" / "blf_lost_notify.yaml", bad]
    one = _run_folder(tmp_path, "1", files, capsys)
    two = _run_folder(tmp_path, "3", files, capsys)
    assert one[0] == two[0] == 1  # the broken file fails both runs

    def table(text: str) -> list[str]:  # every line but the wall-time column
        return [line.rsplit(None, 1)[0] if line.rstrip().endswith(tuple("0123456789")) else line
                for line in text.splitlines() if not line.startswith("summary written")]

    assert table(one[1]) == table(two[1])
    broken = [line for line in two[1].splitlines() if line.startswith("broken ")]
    assert len(broken) == 1 and "ERROR" in broken[0] and f"{bad}:" in broken[0]
    rows = [json.loads((o / "summary.json").read_text()) for o in (one[2], two[2])]
    for r in rows[0] + rows[1]:
        r.pop("wall_time_s", None)
    assert rows[0] == rows[1] and [r["result"] for r in rows[1]][-1] == "invalid"
    assert (one[2] / "summary.txt").read_text() == (two[2] / "summary.txt").read_text()
    names = sorted(p.name for p in (one[2] / "traces").iterdir())
    assert names == sorted(p.name for p in (two[2] / "traces").iterdir()) and len(names) == 6
    for name in names:
        assert (one[2] / "traces" / name).read_bytes() == (two[2] / "traces" / name).read_bytes()


def test_run_jobs_must_be_a_whole_number(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "-j", "0", str(SCENARIO)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--jobs" in err
