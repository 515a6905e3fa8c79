"""The scenario files give the same trace, digest for digest, on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from puasim.scenario.runner import load_scenario, run_scenario
from puasim.store.database import Database

ROOT = Path(__file__).resolve().parents[2] / "scenarios"
FILES = sorted(ROOT.glob("*/*.yaml"))


@pytest.mark.postgres
@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_same_digest_on_sqlite_and_postgresql(path: Path, pg_url: str) -> None:
    scn = load_scenario(path)
    on_sqlite = run_scenario(scn)
    schema = f"puasim_scn_{os.getpid()}_{path.stem}"[:60]
    db = Database(pg_url, schema_name=schema, quirks=scn.db.get("driver", "generic"))
    try:
        on_postgres = run_scenario(load_scenario(path), database=db)
    finally:
        admin = Database(pg_url)
        try:
            admin.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        finally:
            admin.close()
    assert on_sqlite.passed and on_postgres.passed, [f.message for f in on_postgres.failures]
    assert on_postgres.trace.digest() == on_sqlite.trace.digest()
