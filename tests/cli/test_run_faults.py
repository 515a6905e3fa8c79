"""``puasim run``: duplicate scenario names, Ctrl-C and a dying worker under ``-j``, unsafe names."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from puasim.cli import main

REPO = Path(__file__).resolve().parents[2]
BODY = REPO / "scenarios" / "bodies" / "pidf-open.xml"
PUBLISH = (REPO / "scenarios" / "publish" / "initial_publish.yaml").read_text()


def _publish(folder: Path, stem: str, name: str) -> Path:
    """initial_publish under another ``name:`` (its body file copied beside it)."""
    (folder.parent / "bodies").mkdir(exist_ok=True)
    (folder.parent / "bodies" / BODY.name).write_bytes(BODY.read_bytes())
    folder.mkdir(exist_ok=True)
    f = folder / f"{stem}.yaml"
    f.write_text(PUBLISH.replace("name: initial_publish", f"name: {json.dumps(name)}", 1))
    return f


def test_duplicate_names_are_refused_before_any_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = _publish(tmp_path / "one", "a", "same")
    b = _publish(tmp_path / "two", "b", "same")
    out = tmp_path / "out"
    assert main(["run", "-j", "2", "--out", str(out), str(a), str(b)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(a) in err and str(b) in err and "'same'" in err
    assert not (out / "traces" / "same.jsonl").exists() and not (out / "summary.json").exists()


def test_same_stem_in_two_folders_is_a_duplicate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = tmp_path / "one" / "x.yaml"
    b = tmp_path / "two" / "x.yaml"
    for f in (a, b):
        f.parent.mkdir()
        f.write_text(PUBLISH.replace("name: initial_publish\n", "", 1).replace("../bodies/", str(BODY.parent) + "/"))
    assert main(["run", "--no-write", "-j", "1", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(a) in err and str(b) in err and "'x'" in err


def test_ctrl_c_while_the_files_are_read_is_one_line_and_130(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import puasim.scenario.suite as suite

    def interrupted(files: list[Path]) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(suite, "duplicate_names", interrupted)
    a = _publish(tmp_path / "one", "a", "a")
    assert main(["run", "--out", str(tmp_path / "out"), str(a)]) == 130
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "interrupted while reading the 1 files, before any run" in err
    assert not (tmp_path / "out" / "summary.json").exists()


def test_the_shipped_scenarios_have_no_duplicate_names() -> None:
    from puasim.scenario.runner import discover
    from puasim.scenario.suite import duplicate_names

    assert duplicate_names(discover([REPO / "scenarios"])) is None


def test_a_name_with_slashes_stays_inside_the_traces_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = _publish(tmp_path / "s", "evil", "../../escaped/x")
    out = tmp_path / "deep" / "out"
    assert main(["run", "--report", "--out", str(out), str(f)]) == 0
    capsys.readouterr()
    assert not (tmp_path / "escaped").exists() and not (tmp_path / "deep" / "escaped").exists()
    assert (out / "traces" / "_.._escaped_x.jsonl").is_file()
    assert (out / "_.._escaped_x" / "report.html").is_file()


# -- Ctrl-C and a dying worker, on a real process -------------------------------------------------

BUSY = """name: {name}
refs: ["pua-reference §9.2"]
seed: 7
duration: {duration}
pua:
  address: 127.0.0.1:5080
  params: {{outbound_proxy: "sip:127.0.0.1:5060", check_remote_contact: 0}}
node:
  modules:
    registrar: {{min_expires: 0}}
    pua_usrloc: {{default_domain: 127.0.0.1}}
    dialog: {{}}
    pua_dialoginfo: {{}}
script:
  register: [pua_set_publish(), save("location")]
  invite: [dlg_manage()]
population:
  name: desk
  users: 100
  domain: 127.0.0.1
  arrival: {{uniform: [0, 5]}}
  register: {{expires: {{choice: {{values: [300, 600], weights: [1, 1]}}}}, refresh: {{fraction: 0.5}}}}
  publish: {{via: usrloc}}
  calls: {{rate_per_hour: 12, holding: {{exponential: 40}}, answer_after: {{uniform: [1, 4]}}}}
  watch: {{count: 2, expires: 600, via: rpc, event: dialog}}
expect:
  - count: {{match: {{method: REGISTER}}, min: 1}}
"""


def _busy_files(folder: Path, quick: int = 0) -> list[Path]:
    """``quick`` files that run in well under a second, then three that run for minutes."""
    folder.mkdir()
    names = [(f"a{i}_quick", 10) for i in range(quick)] + [(f"b{i}_busy", 200_000) for i in range(3)]
    files = []
    for name, duration in names:
        f = folder / f"{name}.yaml"
        f.write_text(BUSY.format(name=name, duration=duration))
        files.append(f)
    return files


@contextlib.contextmanager
def _started(args: list[str]) -> Iterator[subprocess.Popen[str]]:
    """``puasim run -q ARGS`` in its own process group, killed with its workers at the end."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "puasim", "run", "-q", *args], cwd=REPO, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def _group_gone(pgid: int, within: float) -> bool:
    end = time.monotonic() + within
    while time.monotonic() < end:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


def _workers(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(c) for c in children]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="process groups and /proc")
@pytest.mark.parametrize("jobs", ["2", "1"])
def test_ctrl_c_stops_the_run_at_once(tmp_path: Path, jobs: str) -> None:
    files = _busy_files(tmp_path / "s")
    out = tmp_path / "out"
    with _started(["-j", jobs, "--out", str(out), *map(str, files)]) as proc:
        deadline = time.monotonic() + 30
        while not (out / "traces").is_dir() or (jobs == "2" and len(_workers(proc.pid)) < 2):
            assert proc.poll() is None and time.monotonic() < deadline, "the run did not start"
            time.sleep(0.1)
        time.sleep(1.0)  # the runs are under way
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=15)
        assert proc.returncode == 130, err
        assert "Traceback" not in err and err.strip().count("\n") == 0, err
        assert "interrupted after 0 of 3 files" in err
        assert not (out / "summary.json").exists()  # as a run in one process: no summary
        assert _group_gone(proc.pid, 5), "a worker outlived the run"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="process groups and /proc")
def test_a_killed_worker_ends_the_run_naming_its_files(tmp_path: Path) -> None:
    files = _busy_files(tmp_path / "s", quick=1)
    out = tmp_path / "out"
    with _started(["-j", "2", "--out", str(out), *map(str, files)]) as proc:
        deadline = time.monotonic() + 30
        while not (out / "traces" / "a0_quick.jsonl").is_file() or len(_workers(proc.pid)) < 2:
            assert proc.poll() is None and time.monotonic() < deadline, "the run did not start"
            time.sleep(0.1)
        time.sleep(1.0)
        os.kill(_workers(proc.pid)[0], signal.SIGKILL)
        _, err = proc.communicate(timeout=15)
        assert proc.returncode == 2, err
        assert "Traceback" not in err and err.strip().count("\n") == 0, err
        assert "worker process died" in err and str(files[1]) in err
        rows = json.loads((out / "summary.json").read_text())
        assert [r["scenario"] for r in rows] == ["a0_quick"]
        assert _group_gone(proc.pid, 5), "a worker outlived the run"
