"""Store operations per second: db_mode 0 (memory + DB sync) and db_mode 2, against raw sqlite3.

Usage::

    python benchmarks/bench_store.py [-n 2000] [--pg] [--json FILE]

The baseline is ``sqlite3``'s raw ``executemany`` inserting the same rows
into a fresh ``pua`` table, measured in the same run; every result is also
printed as a ratio to it.  PostgreSQL runs when ``PUASIM_PG_URL`` names a
server, or with ``--pg`` on a throw-away cluster (tests/store/pgcluster.py).
When SQLAlchemy is importable its Core is measured on the same inserts, to
show what the DB-API wrapper saves (puasim does not depend on it).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from puasim.store import rows as R  # noqa: E402
from puasim.store.database import GENERIC, Database  # noqa: E402
from puasim.store.memory import INSERTDB, UPDATEDB, MemoryStore, SqlBackedMemoryStore  # noqa: E402
from puasim.store.record import PuaRecord  # noqa: E402
from puasim.store.schema import pua_table_ddl  # noqa: E402
from puasim.store.sql import SqlStore  # noqa: E402

NOW = 1_700_000_000


def records(n: int) -> list[PuaRecord]:
    out = []
    for i in range(n):
        if i % 2:
            out.append(PuaRecord(pres_uri=f"sip:u{i}@example.com", id=f"id{i}", event=1, flag=1, etag=f"e{i}",
                                 tuple_id=f"t{i}", expires=NOW + 3600, desired_expires=0))
        else:
            out.append(PuaRecord(pres_uri=f"sip:u{i}@example.com", id=f"id{i}", event=1, flag=256, watcher_uri="sip:w@x",
                                 call_id=f"c{i}", from_tag=f"f{i}", to_tag=f"t{i}", cseq=10, contact="sip:w@x",
                                 remote_contact="sip:srv@x", expires=NOW + 3600, desired_expires=NOW + 3600))
    return out


def timed(fn: Callable[[], int]) -> float:
    """Operations per second of ``fn`` (which returns its number of operations)."""
    t0 = time.perf_counter()
    ops = fn()
    return ops / max(time.perf_counter() - t0, 1e-9)


def baseline(n: int) -> float:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    for stmt in pua_table_ddl("sqlite"):
        conn.execute(stmt)
    values = [R.sync_insert_values(r, GENERIC) for r in records(n)]

    def run() -> int:
        conn.execute("BEGIN")
        conn.executemany(R.insert_sql("pua"), values)
        conn.execute("COMMIT")
        return n

    return timed(run)


def bench_memory(n: int) -> dict[str, float]:
    recs = records(n)
    store = MemoryStore(512, 0)

    def insert() -> int:
        for r in recs:
            store.insert(r)
        return n

    def find() -> int:
        for r in recs[1::2]:
            store.find_publication(pres_uri=r.pres_uri, flag=1, event=1, id=r.id, etag="")
        return len(recs[1::2])

    return {"mode0 memory insert": timed(insert), "mode0 memory find_publication": timed(find)}


def bench_sync(make_db: Callable[[], Database], label: str, n: int) -> dict[str, float]:
    db = make_db()
    db.ensure_schema()
    store = SqlBackedMemoryStore(db, 512, 0)
    recs = records(n)
    for r in recs:
        r.db_flag = INSERTDB
        store.insert(r)
    out = {f"mode0 {label} db_sync INSERTDB rows": timed(lambda: store.db_sync(NOW).inserted)}
    for r in recs:
        r.db_flag, r.expires = UPDATEDB, r.expires + 1
    out[f"mode0 {label} db_sync UPDATEDB rows"] = timed(lambda: store.db_sync(NOW).updated)
    fresh = SqlBackedMemoryStore(make_db(), 512, 0)
    out[f"mode0 {label} restore rows (fetch_rows 500)"] = timed(lambda: len(fresh.restore(NOW, 500)))
    db.close()
    return out


def bench_mode2(make_db: Callable[[], Database], label: str, n: int) -> dict[str, float]:
    db = make_db()
    db.ensure_schema()
    store = SqlStore(db, lock_write=True)
    recs = records(n)
    pubs = [r for r in recs if r.is_publication]

    def insert() -> int:
        for r in recs:
            store.insert(r)
        return n

    def find() -> int:
        for r in pubs:
            store.find_publication(pres_uri=r.pres_uri, flag=1, event=1, id=r.id, etag="")
        return len(pubs)

    def update() -> int:
        for r in pubs:
            key = dict(pres_uri=r.pres_uri, flag=1, event=1, id=r.id, etag=r.etag)
            r.etag += "x"
            store.update_publication(key, r.etag, NOW + 7200, 0)
        return len(pubs)

    def delete() -> int:
        for r in pubs:
            store.delete_publication(pres_uri=r.pres_uri, flag=1, event=1, id=r.id, etag=r.etag)
        return len(pubs)

    out = {
        f"mode2 {label} insert": timed(insert),
        f"mode2 {label} find_publication": timed(find),
        f"mode2 {label} update_publication": timed(update),
        f"mode2 {label} delete_publication": timed(delete),
    }
    db.close()
    return out


def bench_sqlalchemy(n: int) -> dict[str, float]:
    try:
        import sqlalchemy as sa
    except ImportError:
        return {}
    engine = sa.create_engine("sqlite://")
    values = [dict(zip(R.DATA_COLUMNS, R.sync_insert_values(r, GENERIC), strict=True)) for r in records(n)]
    stmt = sa.text(R.insert_sql("pua").replace("?", "{}").format(*[f":{c}" for c in R.DATA_COLUMNS]))
    with engine.begin() as conn:
        for ddl in pua_table_ddl("sqlite"):
            conn.execute(sa.text(ddl))

    def rows_one_by_one() -> int:
        with engine.begin() as conn:
            for v in values:
                conn.execute(stmt, v)
        return n

    def many() -> int:
        with engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM pua"))
            conn.execute(stmt, values)
        return n

    db = Database("sqlite://:memory:")
    db.ensure_schema()
    raw = [R.sync_insert_values(r, GENERIC) for r in records(n)]

    def dbapi_one_by_one() -> int:
        db.begin()
        for v in raw:
            db.execute(R.insert_sql("pua"), v)
        db.commit()
        return n

    return {
        "sqlalchemy core insert row by row": timed(rows_one_by_one),
        "sqlalchemy core executemany": timed(many),
        "puasim Database insert row by row": timed(dbapi_one_by_one),
    }


def main(argv: list[str] | None = None) -> dict[str, float]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=2000, help="records per run (default 2000)")
    ap.add_argument("--pg", action="store_true", help="start a throw-away PostgreSQL when PUASIM_PG_URL is unset")
    ap.add_argument("--json", help="also write the results to this file")
    args = ap.parse_args(argv)
    n = args.n
    tmp = tempfile.mkdtemp(prefix="puasim-bench-")
    results: dict[str, float] = {"baseline sqlite3 executemany": baseline(n)}
    results.update(bench_memory(n))

    def opener(url: str, schema: str | None = None) -> Callable[[], Database]:
        return lambda: Database(url, schema_name=schema)

    results.update(bench_sync(opener(f"sqlite:///{tmp}/sync.sqlite"), "sqlite-file", n))
    results.update(bench_mode2(opener(f"sqlite:///{tmp}/mode2.sqlite"), "sqlite-file", n))
    cluster = None
    pg_url = os.environ.get("PUASIM_PG_URL")
    if not pg_url and args.pg:
        from tests.store.pgcluster import PgCluster, find_pg_bin

        bindir = find_pg_bin()
        if bindir:
            cluster = PgCluster(bindir).start()
            pg_url = cluster.url
    try:
        if pg_url:
            results.update(bench_sync(opener(pg_url, "puasim_bench_sync"), "postgres", n))
            results.update(bench_mode2(opener(pg_url, "puasim_bench_mode2"), "postgres", n))
            cleanup = Database(pg_url)
            cleanup.execute("DROP SCHEMA IF EXISTS puasim_bench_sync CASCADE")
            cleanup.execute("DROP SCHEMA IF EXISTS puasim_bench_mode2 CASCADE")
            cleanup.close()
    finally:
        if cluster:
            cluster.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    results.update(bench_sqlalchemy(n))
    base = results["baseline sqlite3 executemany"]
    width = max(len(k) for k in results)
    print(f"{'operation':<{width}}  {'ops/s':>12}  {'vs baseline':>11}   (n={n})")
    for name, rate in results.items():
        print(f"{name:<{width}}  {rate:>12,.0f}  {rate / base:>10.3f}x")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"n": n, "ops_per_s": results}, f, indent=2)
    return results


if __name__ == "__main__":
    main()
