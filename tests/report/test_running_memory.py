"""RunningMetrics keeps what is still open, not the history: memory stays flat on long runs."""

from __future__ import annotations

import json

from puasim.report.frames import from_trace
from puasim.report.metrics import summary
from puasim.scenario.runner import run_scenario, scenario_from_text
from tests.trace.test_levels import assert_same_summary

BODY = (
    '<?xml version="1.0" encoding="UTF-8"?><presence xmlns="urn:ietf:params:xml:ns:pidf" entity="{uri}">'
    '<tuple id="t1"><status><basic>{basic}</basic></status></tuple></presence>'
)
N = 30
HOURS = 12


def churn_scenario() -> str:
    """N presentities refreshed all along (a new ETag per refresh with the kamailio profile),
    removed and published again, modified, watchers subscribing, refreshing and leaving,
    and a PUA crash and restart in the middle."""
    lines = [
        "name: running_memory_churn",
        'refs: ["pua-reference §5.3"]',
        f"duration: {HOURS * 3600}",
        "pua:",
        '  params: {outbound_proxy: "sip:127.0.0.1:5060", default_expires: 300, update_period: 60}',
        "server:",
        "  profile: kamailio",
        "steps:",
    ]

    def publish(at: float, i: int, expires: int, basic: str = "open") -> None:
        uri = f"sip:user{i}@127.0.0.1"
        body = json.dumps(BODY.format(uri=uri, basic=basic))
        lines.append(
            f"  - {{at: {at}, do: publish, with: {{pres_uri: {uri}, expires: {expires}, source: UL_PUBLISH, body: {body}}}}}"
        )

    def subscribe(at: float, i: int, w: int, expires: int) -> None:
        lines.append(
            f"  - {{at: {at}, do: subscribe, with: {{pres_uri: sip:user{i}@127.0.0.1, "
            f"watcher_uri: sip:w{w}@127.0.0.1:5070, expires: {expires}, event: presence}}}}"
        )

    for i in range(N):
        publish(i, i, -1)
    for w in range(4):  # watchers come and go: a new dialog (Call-ID) each hour
        for h in range(HOURS):
            subscribe(h * 3600 + 30 + w, w, w, 600)
            subscribe(h * 3600 + 1800 + w, w, w, 0)
    for i in range(0, N, 3):  # removed, published again, modified
        publish(2000 + i, i, 0)
        publish(2600 + i, i, -1)
        publish(5000 + i, i, -1, "closed")
    lines += ["  - {at: 7000, do: pua.crash}", "  - {at: 7010, do: pua.start}"]
    for i in range(N):  # nothing survives a db_mode 0 crash: published again
        publish(7020 + i, i, -1)
    lines += ["expect:", "  - stat: {metric: refreshes, min: 1}"]
    return "\n".join(lines) + "\n"


def test_running_metrics_forget_superseded_and_ended_etags_and_dialogs():
    scn = scenario_from_text(churn_scenario(), "<churn>")
    full = run_scenario(scn)
    want = summary(from_trace(full.trace))
    metrics = run_scenario(scn, trace_level="metrics")
    observer = metrics.trace.observer
    assert_same_summary(observer.summary(), want)
    assert metrics.trace.digest() == full.trace.digest()

    # the run refreshed every publication many times over: one ETag per answer
    assert want["refreshes"] > 8 * N
    etags = observer._by_etag
    # what is left: the live records' ETags and those held when the PUA crashed
    assert len(etags.expiry) <= 2 * N, len(etags.expiry)
    assert len(etags.by_record) <= N
    assert set(etags.expiry) == set(etags.count)
    calls = observer._by_call
    assert len(calls.expiry) <= 2 * 4, len(calls.expiry)  # 4 watchers, one dialog each at a time (+ crash)
    assert not observer._pending and not observer._open
