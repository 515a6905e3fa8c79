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
