"""Dask: a two-worker LocalCluster on loopback gives the same bytes as the local pool."""

from __future__ import annotations

from pathlib import Path

from distributed import LocalCluster

from puasim.sweep.plan import parse_set, sweep_from_args
from puasim.sweep.run import run_sweep


def test_dask_localcluster_and_a_scheduler_address_give_the_pool_s_bytes(tmp_path: Path, base: Path):
    sweep = sweep_from_args(base, [parse_set("update_period=30,60"), parse_set("users=2,4")], (1, 2))
    pool = run_sweep(sweep, tmp_path / "pool", executor="pool", workers=2, html=False)
    local = run_sweep(sweep, tmp_path / "dask", executor="dask", workers=2, html=False)
    assert local.ran == 8 and set(local.table["verdict"]) == {"pass"}
    assert local.parquet.read_bytes() == pool.parquet.read_bytes()
    with LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None) as cluster:
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
        remote = run_sweep(sweep, tmp_path / "sched", executor="dask", scheduler=cluster.scheduler_address, html=False)
    assert remote.parquet.read_bytes() == pool.parquet.read_bytes()
