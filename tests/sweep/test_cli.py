"""``puasim sweep`` on the command line: arguments, exit statuses, the output folder."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from puasim.cli import main


def test_set_and_seeds(tmp_path: Path, base: Path, capsys):
    out = tmp_path / "out"
    rc = main(["sweep", str(base), "--set", "update_period=30,60", "--seeds", "1-2", "--out", str(out), "--serial"])
    assert rc == 0, capsys.readouterr()
    table = pd.read_parquet(out / "results.parquet")
    assert len(table) == 4 and (out / "summary.html").exists() and (out / "runs.jsonl").exists()
    assert "4 of 4 runs in the table (4 run now, 0 already done): 4 pass" in capsys.readouterr().out
    assert main(["sweep", str(base), "--set", "update_period=30,60", "--seeds", "1-2", "--out", str(out), "-q"]) == 0
    assert "(0 run now, 4 already done)" in capsys.readouterr().out


def test_a_sweep_file(tmp_path: Path, base: Path, capsys):
    spec = tmp_path / "s.yaml"
    spec.write_text("base: tiny.yaml\ngrid: {users: [2, 3]}\nseeds: [5]\nmetrics: [requests]\n")
    assert main(["sweep", str(spec), "--out", str(tmp_path / "o"), "--no-html"]) == 0
    table = pd.read_parquet(tmp_path / "o" / "results.parquet")
    assert list(table.columns)[-1] == "requests" and list(table["users"]) == [2, 3]
    assert not (tmp_path / "o" / "summary.html").exists()
    assert main(["sweep", str(spec), "--seeds", "1-2"]) == 2
    assert "go with a scenario file" in capsys.readouterr().err


def test_failed_expectations_exit_1(tmp_path: Path, base: Path):
    base.write_text(base.read_text().replace("min: 3", "min: 5"))
    assert main(["sweep", str(base), "--set", "users=2,8", "--out", str(tmp_path / "o"), "--serial"]) == 1
    table = pd.read_parquet(tmp_path / "o" / "results.parquet")
    assert list(table["verdict"]) == ["fail", "pass"]


@pytest.mark.parametrize(("args", "message"), [
    (["--seeds", "x"], "argument --seeds: expected seeds like 1-20"),
    (["--set", "update_period"], "argument --set: expected NAME=VALUE"),
    (["--scheduler", "localhost"], "argument --scheduler: expected tcp://HOST:PORT"),
    (["--workers", "0"], "argument --workers: needs at least 1 worker"),
    (["--metrics", "nope"], "argument --metrics: unknown metric 'nope'"),
    (["--dask", "--serial"], "not allowed with argument"),
    (["--set", "bogus=1"], "puasim sweep: --set bogus: unknown override 'bogus'"),
    (["--set", "users=0"], "puasim sweep: --set users: users=0: users must be an integer >= 1"),
])
def test_bad_arguments_are_one_line_and_exit_2(tmp_path: Path, base: Path, capsys, args, message):
    assert main(["sweep", str(base), "--out", str(tmp_path / "o"), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "o" / "runs.jsonl").exists()


def test_ctrl_c_on_the_pool_writes_what_is_done_and_the_same_command_resumes(tmp_path: Path, base: Path):
    import os
    import signal
    import subprocess
    import sys
    import time

    repo = Path(__file__).resolve().parents[2]
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "puasim", "sweep", str(base), "--set", "users=2,3,4,5", "--seeds", "1-15",
           "--out", str(out), "--workers", "2", "--no-html"]
    env = {**os.environ, "PYTHONPATH": str(repo)}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)  # Ctrl-C reaches the whole group, workers included
    journal = out / "runs.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (journal.exists() and journal.read_text().count("\n") >= 2):
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stdout + stderr
    done = journal.read_text().count("\n")
    assert 2 <= done < 60 and "run the same command again to resume" in stderr
    assert f"{done} of 60 runs in the table ({done} run now" in stdout
    again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"60 of 60 runs in the table ({60 - done} run now, {done} already done)" in again.stdout
