"""Fixtures of the live tests: real Kamailio instances on loopback, started and stopped by PID.

Every Kamailio gets its own temporary folder (config defines, SQLite DB made
from Kamailio's schema files, log, pid file) and free loopback ports, so
tests never collide.  The tests skip only when Kamailio is not installed
(.ci/run installs it).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from puasim.live.kamailio import (
    KamailioProcess,
    kamailio_binary,
    start_edge_node,
    start_presence_server,
)

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
LAB_CAPTURES = REPO / "tests" / "data" / "lab" / "kamailio"


@pytest.fixture(scope="session")
def kamailio() -> str:
    path = kamailio_binary()
    if path is None:
        pytest.skip("Kamailio is not installed (/usr/sbin/kamailio absent; .ci/run installs kamailio, "
                    "kamailio-presence-modules and kamailio-sqlite-modules)")
    return path


@pytest.fixture(scope="session")
def presence_server(kamailio: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[KamailioProcess]:
    """One presence server (max_expires 3600) shared by the tests that use distinct presentities."""
    srv = start_presence_server(tmp_path_factory.mktemp("presence"))
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def can_capture() -> None:
    if os.geteuid() != 0:
        pytest.skip("capturing on lo needs root (CAP_NET_RAW)")


@pytest.fixture(scope="session")
def lab() -> Path:
    if not LAB_CAPTURES.is_dir():
        raise FileNotFoundError(f"the lab captures are missing from the repository: {LAB_CAPTURES}")
    return LAB_CAPTURES



@pytest.fixture(scope="module")
def edge_nodes(presence_server: KamailioProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Start fresh Kamailio edge nodes (usrloc, registrar, dialog, pua, pua_dialoginfo; any free
    loopback port) publishing to the shared presence server: ``edge_nodes(params)``, with
    parameters as :func:`puasim.live.kamailio.edge_params` gives them.  Each is stopped by PID
    when the module's tests are done."""
    started: list[KamailioProcess] = []

    def start(params: dict[str, int] | None = None) -> KamailioProcess:
        node = start_edge_node(tmp_path_factory.mktemp("edge"), presence_server.sip, params=params)
        started.append(node)
        return node

    try:
        yield start
    finally:
        for node in started:
            node.stop()
