"""Against a real Kamailio 5.6 (Debian's packages) on loopback: live scenarios, captures,
replay, the differential test (Kamailio's pua vs. the model) and pua-table interop."""

from __future__ import annotations

import asyncio
import random
import sqlite3
import subprocess
import time

import pytest

from puasim.capture import read_pcap
from puasim.capture.check import check_capture
from puasim.capture.compare import compare_flows, flow_of
from puasim.cli import main
from puasim.live.driver import LiveDriver
from puasim.live.kamailio import create_sqlite_db, start_presence_server, start_pua_node
from puasim.live.replay import replay_live
from puasim.live.scenario import run_live
from puasim.live.sniff import LoopbackCapture
from puasim.pua.config import load_config
from puasim.sip import Request
from puasim.trace.events import MessageSent

from . import differential
from .conftest import HERE

pytestmark = pytest.mark.live

SCENARIO = HERE / "scenarios" / "publish_modify_remove.yaml"


def test_a_scenario_runs_live_against_kamailio_with_a_capture(presence_server, can_capture, tmp_path) -> None:
    pcap = tmp_path / "run.pcap"
    result = run_live(SCENARIO, presence_server.sip, capture=pcap)
    assert result.passed, [f.message for f in result.failures]
    assert result.skipped_steps and result.skipped_expectations
    sent = [r for r in result.trace if type(r.event) is MessageSent]
    assert [r.node for r in sent] == ["pua", "server"] * 3
    captured = read_pcap(pcap)
    assert [r.event.message.get("Call-ID") for r in captured] == [r.event.message.get("Call-ID") for r in sent]
    assert [getattr(r.event.message, "status", None) for r in captured] == [None, 200] * 3


def test_the_cli_runs_a_scenario_live_and_writes_its_trace(presence_server, tmp_path, capsys) -> None:
    out = tmp_path / "live.jsonl"
    server = f"{presence_server.sip[0]}:{presence_server.sip[1]}"
    assert main(["live", str(SCENARIO), "--server", server, "--trace", str(out)]) == 0
    text = capsys.readouterr().out
    assert "live_publish_modify_remove: pass" in text and "skipped live" in text
    assert out.stat().st_size > 0
    assert main(["live", str(SCENARIO), "--server", "192.0.2.1:5060"]) == 2


def test_replaying_lab_captures_gets_the_captured_answers(presence_server, lab) -> None:
    report, trace = replay_live(lab / "a-b-c_publish_modify_unpublish_restart.pcap", 5070, presence_server.sip, speed=10)
    assert report.ok, report.format()
    assert [r.live_reply.status for r in report.rows] == [200, 200, 200, 412, 200, 200]
    # the dead ETag of request 4 was mapped to the live server's own, which the removal killed
    assert report.rows[3].sent.get("SIP-If-Match") == report.rows[1].live_reply.get("SIP-ETag")
    report, _ = replay_live(lab / "g2_subscribe_check_remote_contact_1.pcap", 5070, presence_server.sip, speed=5)
    assert report.ok, report.format()
    assert any("NOTIFYs" in n for n in report.notes)


def test_the_cli_replays_a_capture(presence_server, lab, capsys) -> None:
    server = f"{presence_server.sip[0]}:{presence_server.sip[1]}"
    pcap = str(lab / "e_412_server_forgot_etag.pcap")
    # the lab's server was restarted between two requests of this capture; this one is not,
    # so the modify that got 412 there gets 200 here: the replay says so and exits 1
    assert main(["live", pcap, "--server", server, "--speed", "10", "--no-write"]) == 1
    out = capsys.readouterr().out
    assert "status: captured 412 Conditional request failed; live 200 OK" in out


def test_a_replay_reports_where_the_live_server_answers_differently(kamailio, lab, tmp_path) -> None:
    """A server whose max_expires is 30 grants less than the lab's (3600)."""
    srv = start_presence_server(tmp_path / "srv", max_expires=30)
    try:
        report, _ = replay_live(lab / "d1_refresh_expires30_vs_keepalive.pcap", 5070, srv.sip, speed=10)
    finally:
        srv.stop()
    assert not report.ok
    assert report.rows[0].diffs == ["Expires: captured 31; live 30"]  # the lab server granted the 31 asked
    assert report.rows[1].diffs == ["Expires: captured 3600; live 30"]
    assert "answered differently" in report.format()


def test_differential_kamailio_pua_vs_model(kamailio, can_capture, tmp_path) -> None:
    """The same pua_rpc calls through Kamailio's pua and through the model, each against its
    own real presence server: the two flows agree message by message."""
    a, b = differential.run_both(tmp_path)

    def placeholders(side):
        return {f"{side.server[0]}:{side.server[1]}": "SERVER", f"{side.pua[0]}:{side.pua[1]}": "PUA"}

    fa, fb = flow_of(a.trace, a.pua), flow_of(b.trace, b.pua)
    assert sum(len(v) for v in fa.values()) >= 20
    # Slack: the two sweeps tick every second at independent phases, and on a loaded machine
    # the RPC to the Kamailio node adds up to a second more (README fidelity table).
    diffs = compare_flows(fa, fb, placeholders(a), placeholders(b), expires_slack=2, time_slack=2_500_000)
    assert diffs == [], "\n".join(diffs)
    # the RPC answers agree too (ETags differ by server)
    def shape(answer):
        value = answer.value if hasattr(answer, "value") else answer.get("result", {})
        fault = getattr(answer, "fault_code", 0) or (answer.get("error") or {}).get("code", 0) if isinstance(answer, dict) else getattr(answer, "fault_code", 0)
        return (sorted(value), value.get("Expires"), fault)
    assert [shape(x) for x in a.answers] == [shape(x) for x in b.answers]
    # and the Kamailio pua's own capture conforms to the model
    report = check_capture(tmp_path / "kamailio-pua.pcap", pua_address=a.pua, tolerance=2.0,
                           params={**differential.PUA_PARAMS, "check_remote_contact": 0})
    assert report.ok, report.format()


def test_a_pua_table_written_by_puasim_is_restored_and_refreshed_by_kamailio(kamailio, can_capture, tmp_path) -> None:
    """db_mode 0 interop: puasim publishes and syncs its hash table to a SQLite ``pua`` table
    made from Kamailio's schema; a Kamailio pua node started on that file restores the row
    (db_restore) and refreshes the publication with puasim's ETag."""
    from puasim.companions.rpc import PuaRpc
    from puasim.pua.model import Pua
    from puasim.store import DB_SQLITE_56, Database, SqlBackedMemoryStore, make_store

    srv = start_presence_server(tmp_path / "srv", max_expires=10)
    db_path = create_sqlite_db(tmp_path / "pua.sqlite")
    params = {"update_period": 6, "db_mode": 0}
    body = differential.body("alice", differential.OPEN)
    try:
        cfg = load_config({**params, "outbound_proxy": f"sip:{srv.sip[0]}:{srv.sip[1]}"})
        database = Database(f"sqlite:///{db_path}", quirks=DB_SQLITE_56)
        store = make_store(cfg, database)
        assert isinstance(store, SqlBackedMemoryStore)

        async def publish_and_sync():
            driver = LiveDriver(names={srv.sip: "server"})
            driver.begin()
            box = {}

            def make(addr):
                pua = Pua(cfg, host=addr[0], port=addr[1], rng=random.Random(3), epoch=int(driver.epoch), store=store)
                box["rpc"] = PuaRpc(pua)
                return pua

            node = await driver.open("pua", ("127.0.0.1", 0), make)
            call = node.call("rpc", box["rpc"].publish,
                             ["sip:alice@127.0.0.1", "60", "presence", "application/pidf+xml", ".", ".", ".", ".", body],
                             driver.now(), True)
            for _ in range(40):  # bounded: the 200 comes within milliseconds
                if call.state != "pending":
                    break
                await driver.run_for(0.05)
            pua = node.endpoint
            result = node.call("db_sync", pua.store.db_sync, pua.seconds(driver.now()), pua)
            driver.close()
            return call, result

        call, sync = asyncio.run(publish_and_sync())
        assert call.state == "ok" and call.value["Expires"] == 10, call.describe()
        assert sync.inserted == 1 and not sync.error
        database.close()
        etag = call.value["SIP-ETag"]
        with sqlite3.connect(db_path) as con:
            rows = con.execute("select pres_uri, event, flag, etag, tuple_id, expires - desired_expires from pua").fetchall()
        assert rows == [("sip:alice@127.0.0.1", 1, 128, etag, "t-alice-1", -50)]

        node = start_pua_node(tmp_path / "pua", srv.sip, params=params, db=db_path, fresh_db=False,
                              ready_timeout=10)
        cap = LoopbackCapture([node.sip[1]])
        try:
            cap.start()
            # bounded wait for the refresh (expires - update_period < now: ~4 s after the publish),
            # watched in the node's own log (pua-node.cfg logs every request it sends and reply it gets)
            for _ in range(60):
                text = node.log.read_text(errors="replace")
                if "TX PUBLISH" in text and "RX-REPLY 200" in text:
                    break
                time.sleep(0.25)
            cap.stop()
            log = node.log_tail(200)
        finally:
            node.stop()
        cap.write(tmp_path / "node.pcap")
        flow = read_pcap(tmp_path / "node.pcap")
        requests = [r.event.message for r in flow if isinstance(r.event.message, Request)]
        assert requests, f"the Kamailio pua node sent nothing; its log:\n{log}"
        refresh = requests[0]
        assert refresh.method == "PUBLISH" and refresh.uri == "sip:alice@127.0.0.1"
        assert refresh.get("SIP-If-Match") == etag and not refresh.body
        assert 40 <= int(refresh.get("Expires")) <= 61
        statuses = [r.event.message.status for r in flow if not isinstance(r.event.message, Request)]
        assert statuses[:1] == [200]
    finally:
        srv.stop()


def test_kamailio_is_stopped_by_pid(kamailio, tmp_path) -> None:
    srv = start_presence_server(tmp_path / "srv")
    pid = srv.pid
    assert srv.alive()
    srv.stop()
    assert not srv.alive()
    assert subprocess.run(["kill", "-0", str(pid)], capture_output=True).returncode != 0
