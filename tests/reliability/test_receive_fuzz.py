"""Bounded fuzzing of the receive paths (issue 16, "Keep it honest").

CI runs a few seconds of mutated real traffic into ``Pua.receive`` and
``PresenceServer.receive`` (see :mod:`tests.reliability.fuzz`) and a small
hypothesis property over bad header values.  A long run::

    pytest tests/reliability --fuzz-seconds 300 -s      # or PUASIM_FUZZ_SECONDS=300

prints inputs per second and every escape.
"""

from __future__ import annotations

import os
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from puasim.scenario.runner import load_scenario, run_scenario
from puasim.server.endpoint import PresenceServer
from puasim.sip.message import Request
from tests.pua.harness import ALICE, PIDF, Harness
from tests.reliability.fuzz import (
    BAD_VALUES,
    CORPUS_SCENARIOS,
    SCENARIOS,
    VERSIONS,
    VIA_PARAMS,
    run_fuzz,
)

CI_SECONDS = 4.0
CI_INPUTS = 4_000


def _long_run_seconds(config: pytest.Config) -> float | None:
    opt = config.getoption("--fuzz-seconds", default=None)
    env = os.environ.get("PUASIM_FUZZ_SECONDS")
    if opt is not None:
        return float(opt)
    return float(env) if env else None


def test_mutated_real_traffic_never_escapes_receive(request: pytest.FixtureRequest, capsys) -> None:
    long_run = _long_run_seconds(request.config)
    seed = int(os.environ.get("PUASIM_FUZZ_SEED", "16"))
    if long_run:
        stats = run_fuzz(seed, seconds=long_run, limit=10**12)
    else:
        stats = run_fuzz(seed, seconds=CI_SECONDS, limit=CI_INPUTS)
    with capsys.disabled():
        print(f"\n{stats.line()}")
        for esc in stats.escapes[:20]:
            print(f"  escape at {esc.node}: {esc.error}\n    {esc.data!r}")
        for err in stats.run_errors[:20]:
            print(f"  run ended: {err}")
    assert stats.fed > 0 and stats.runs > 0
    assert stats.escapes == []
    assert stats.run_errors == []


def test_the_corpus_runs_cleanly_without_mutations() -> None:
    """So that a run error under the fuzzer is the fuzzer's finding, not the scenario's."""
    for name in CORPUS_SCENARIOS:
        result = run_scenario(load_scenario(SCENARIOS / name))
        assert result.error is None, (name, result.error)


# -- hypothesis: bad header values in an otherwise good message, into both models -------------
def _server_request(name: str, value: str, version: str, via_extra: str) -> Request:
    headers = [
        ("Via", f"SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKhyp{via_extra}"),
        ("From", f"<{ALICE}>;tag=f1"), ("To", f"<{ALICE}>"), ("Call-ID", "hyp@127.0.0.1"),
        ("CSeq", "10 PUBLISH"), ("Max-Forwards", "70"), ("Event", "presence"), ("Expires", "3600"),
        ("Content-Type", "application/pidf+xml"), ("Content-Length", str(len(PIDF))),
    ]
    headers = [(n, value) if n.lower() == name else (n, v) for n, v in headers]
    if not any(n.lower() == name for n, _ in headers):
        headers.append((name, value))
    return Request("PUBLISH", ALICE, tuple(headers), PIDF, version)


bad_header = st.sampled_from(sorted(BAD_VALUES)).flatmap(
    lambda name: st.tuples(st.just(name), st.sampled_from(BAD_VALUES[name]) | st.text(max_size=12))
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    header=bad_header,
    version=st.sampled_from(("SIP/2.0", *VERSIONS)),
    via_extra=st.sampled_from(("", *VIA_PARAMS)),
    profile=st.sampled_from(("kamailio", "rfc3903")),
)
def test_a_publish_with_a_bad_header_never_escapes_the_server(header, version, via_extra, profile) -> None:
    name, value = header
    if "\r" in value or "\n" in value:
        return
    srv = PresenceServer("127.0.0.1", 5060, profile, random.Random(1))
    srv.start(0)
    srv.receive(_server_request(name, value, version, via_extra), ("127.0.0.1", 5070), 0)
    srv.outbox.take()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(header=bad_header, version=st.sampled_from(("SIP/2.0", "SIP/2.0", *VERSIONS)),
       status=st.sampled_from((200, 200, 200, 412, 423)))
def test_a_publish_reply_with_a_bad_header_never_escapes_the_pua(header, version, status) -> None:
    name, value = header
    if "\r" in value or "\n" in value:
        return
    h = Harness.make()
    h.publish(expires=3600, body=PIDF)
    req = h.last("PUBLISH")
    keep = [(n, v) for n, v in req.headers if n.lower() in ("via", "from", "to", "call-id", "cseq")]
    extra = [("Expires", "3600"), ("SIP-ETag", "e1"), ("Min-Expires", "60")]
    headers = [(n, value) if n.lower() == name else (n, v) for n, v in keep + extra]
    if not any(n.lower() == name for n, _ in headers):
        headers.append((name, value))
    from puasim.sip.message import Response

    h.pua.receive(Response(status, "R", tuple(headers), b"", version), ("127.0.0.1", 5060), h.now)
    h.collect()
    h.advance(40)  # timers after the reply (refresh, 412 recovery, fr_timer) run too
