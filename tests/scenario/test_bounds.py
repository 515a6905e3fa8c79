"""One bad value per field of the scenario format: each is a file:line:field
error from ``puasim validate``, never a traceback and never a run."""

from __future__ import annotations

import pytest

from puasim.cli import main
from puasim.scenario import scenario_from_text

BASE = """\
name: bounds
description: every field once
refs: ["§3.1"]
seed: 7
epoch: 1700000000
duration: 100
pua:
  profile: kamailio-5.6
  address: "127.0.0.1:5070"
  params:
    hash_size: 9
    update_period: 30
    db_url: "sqlite://:memory:"
    outbound_proxy: "sip:127.0.0.1:5060"
  notify:
    update_contact: true
  db:
    enabled: true
    driver: generic
    shutdown_flush: false
server:
  profile: kamailio
  address: "127.0.0.1:5060"
  knobs:
    max_expires: 3600
    clean_period_s: 10
    reasons: [[412, "Gone"]]
network:
  latency_ms: 1
  jitter_ms: 0
  jitter_kind: uniform
  loss: 0
  duplicate: 0
  partitions:
    - start: 50
      end: 60
steps:
  - at: 0
    do: publish
    with:
      pres_uri: "sip:a@127.0.0.1"
      expires: 60
      event: presence
      body: "<x/>"
      content_type: application/pidf+xml
      id: x
      source: RPC_ASYN_PUBLISH
      flag: insert
  - at: 1
    do: subscribe
    with:
      pres_uri: "sip:a@127.0.0.1"
      watcher_uri: "sip:w@127.0.0.1"
      expires: 60
      internal_update_flag: 0
  - at: 2
    do: rpc.publish
    args: ["sip:a@127.0.0.1", "60", "presence", ".", ".", ".", ".", "."]
  - at: 3
    do: server.fault
    with:
      kind: respond
      status: 503
      count: 1
      after_s: 0
      method: PUBLISH
  - at: 4
    do: network.drop
    with:
      count: 1
      from: pua
  - at: 5
    do: db.fail_after
    with:
      ops: 3
  - at: 6
    do: mark
    text: hello
expect:
  - sequence:
      - method: PUBLISH
        status: {min: 100, max: 699}
        at: {min: 0, max: 10}
        headers:
          Event: {regex: "pres.*"}
        body_contains: x
        retransmission: false
  - count:
      match: {method: PUBLISH}
      min: 1
  - record:
      at: 10
      match: {pres_uri: "sip:a@127.0.0.1"}
      count: 1
  - rc:
      step: 0
      equals: 0
  - event:
      type: RecordChanged
      min: 0
  - server_state:
      at: 10
      presentity: "sip:a@127.0.0.1"
      min: 0
"""

HUGE = "9" * 5000

# (line of BASE as written, its bad replacement, the field the error must name)
CASES = [
    ("name: bounds", "name: [a]", "name"),
    ("description: every field once", "description: {a: 1}", "description"),
    ('refs: ["§3.1"]', 'refs: ["§3.1", 5]', "refs"),
    ("seed: 7", "seed: .nan", "seed"),
    ("seed: 7", "seed: -1", "seed"),
    ("seed: 7", f"seed: {HUGE}", "seed"),
    ("epoch: 1700000000", "epoch: 99999999999", "epoch"),
    ("duration: 100", "duration: .inf", "duration"),
    ("duration: 100", "duration: 1.0e12", "duration"),
    ("duration: 100", "duration: 1000000000000", "duration"),
    ("duration: 100", "duration: soon", "duration"),
    ("  profile: kamailio-5.6", "  profile: 5", "pua.profile"),
    ('  address: "127.0.0.1:5070"', '  address: "127.0.0.1:99999"', "pua.address"),
    ('  address: "127.0.0.1:5070"', '  address: "127.0.0.1:0005070"', "pua.address"),
    ("    hash_size: 9", "    hash_size: 40", "pua.params.hash_size"),
    ("    update_period: 30", f"    update_period: {HUGE}", "pua.params.update_period"),
    ("    update_period: 30", "    update_period: 4294967296", "pua.params.update_period"),
    ("    update_period: 30", "    update_period: .nan", "pua.params.update_period"),
    ('    db_url: "sqlite://:memory:"', '    db_url: "sqlite:///no-such-folder/x.db"', "pua.params.db_url"),
    ('    db_url: "sqlite://:memory:"', '    db_url: "mysql://db/pua"', "pua.params.db_url"),
    ('    db_url: "sqlite://:memory:"', "    db_url: 5", "pua.params.db_url"),
    ('    outbound_proxy: "sip:127.0.0.1:5060"', "    outbound_proxy: [x]", "pua.params.outbound_proxy"),
    ("    update_contact: true", "    update_contact: sometimes", "pua.notify.update_contact"),
    ("    enabled: true", "    enabled: 2", "pua.db.enabled"),
    ("    driver: generic", "    driver: oracle", "pua.db.driver"),
    ("    shutdown_flush: false", "    shutdown_flush: .nan", "pua.db.shutdown_flush"),
    ("  profile: kamailio\n  address", "  profile: asterisk\n  address", "server.profile"),
    ('  address: "127.0.0.1:5060"', '  address: ":5060"', "server.address"),
    ("    max_expires: 3600", "    max_expires: .nan", "server.knobs.max_expires"),
    ("    max_expires: 3600", "    max_expires: -5", "server.knobs.max_expires"),
    ("    max_expires: 3600", f"    max_expires: {HUGE}", "server.knobs.max_expires"),
    ("    clean_period_s: 10", "    clean_period_s: 1.0e999", "server.knobs.clean_period_s"),
    ("    clean_period_s: 10", "    clean_period_s: -1", "server.knobs.clean_period_s"),
    ('    reasons: [[412, "Gone"]]', "    reasons: [[412, 5]]", "server.knobs.reasons[0][1]"),
    ('    reasons: [[412, "Gone"]]', '    reasons: [[4120, "x"]]', "server.knobs.reasons[0][0]"),
    ("  latency_ms: 1", "  latency_ms: .inf", "network.latency_ms"),
    ("  latency_ms: 1", "  latency_ms: 1.0e12", "network.latency_ms"),
    ("  jitter_ms: 0", "  jitter_ms: -1", "network.jitter_ms"),
    ("  jitter_kind: uniform", "  jitter_kind: gaussian", "network.jitter_kind"),
    ("  loss: 0", "  loss: 1.5", "network.loss"),
    ("  duplicate: 0", "  duplicate: .nan", "network.duplicate"),
    ("    - start: 50", "    - start: -1", "network.partitions[0].start"),
    ("      end: 60", "      end: .inf", "network.partitions[0].end"),
    ("  - at: 0", "  - at: .nan", "steps[0].at"),
    ('      pres_uri: "sip:a@127.0.0.1"\n      expires: 60\n      event', "      pres_uri: 5\n      expires: 60\n      event", "steps[0].with.pres_uri"),
    ("      expires: 60\n      event", "      expires: -2\n      event", "steps[0].with.expires"),
    ("      expires: 60\n      event", "      expires: 99999999999\n      event", "steps[0].with.expires"),
    ("      event: presence", "      event: 99999999999", "steps[0].with.event"),
    ("      event: presence", "      event: [presence]", "steps[0].with.event"),
    ('      body: "<x/>"', "      body: " + "x" * 70_000, "steps[0].with.body"),
    ("      content_type: application/pidf+xml", "      content_type: [a]", "steps[0].with.content_type"),
    ("      id: x", "      id: {a: 1}", "steps[0].with.id"),
    ("      source: RPC_ASYN_PUBLISH", "      source: NOPE", "steps[0].with.source"),
    ("      source: RPC_ASYN_PUBLISH", "      source: -1", "steps[0].with.source"),
    ("      flag: insert", "      flag: [insert]", "steps[0].with.flag"),
    ('      watcher_uri: "sip:w@127.0.0.1"', '      watcher_uri: ""', "steps[1].with.watcher_uri"),
    ("      internal_update_flag: 0", "      internal_update_flag: -1", "steps[1].with.internal_update_flag"),
    ('    args: ["sip:a@127.0.0.1", "60"', '    args: [{a: 1}, "60"', "steps[2].args[0]"),
    ('    args: ["sip:a@127.0.0.1", "60"', '    args: ["sip:a@127.0.0.1", .nan', "steps[2].args[1]"),
    ("      kind: respond", "      kind: explode", "steps[3].with.kind"),
    ("      status: 503", "      status: 5000", "steps[3].with.status"),
    ("      status: 503", "      status: .nan", "steps[3].with.status"),
    ("      count: 1\n      after_s", "      count: lots\n      after_s", "steps[3].with.count"),
    ("      count: 1\n      after_s", "      count: -5\n      after_s", "steps[3].with.count"),
    ("      after_s: 0", "      after_s: -1", "steps[3].with.after_s"),
    ("      after_s: 0", "      after_s: .nan", "steps[3].with.after_s"),
    ("      after_s: 0", "      until: 1.5", "steps[3].with.until"),
    ("      method: PUBLISH", "      method: 5", "steps[3].with.method"),
    ("      count: 1\n      from", "      count: lots\n      from", "steps[4].with.count"),
    ("      count: 1\n      from", "      count: 0\n      from", "steps[4].with.count"),
    ("      from: pua", "      from: [pua]", "steps[4].with.from"),
    ("      from: pua", '      from: ""', "steps[4].with.from"),
    ("      ops: 3", "      ops: -1", "steps[5].with.ops"),
    ("      ops: 3", "      ops: 1.0e12", "steps[5].with.ops"),
    ("    text: hello", "    text: [1]", "steps[6].text"),
    ("        status: {min: 100, max: 699}", "        status: {min: .nan}", "expect[0].sequence[0].status.min"),
    ("        status: {min: 100, max: 699}", "        status: {minimum: 1}", "expect[0].sequence[0].status.minimum"),
    ("        at: {min: 0, max: 10}", "        at: {min: 0, max: .inf}", "expect[0].sequence[0].at.max"),
    ('          Event: {regex: "pres.*"}', '          Event: {regex: "(pres"}', "expect[0].sequence[0].headers.Event.regex"),
    ('          Event: {regex: "pres.*"}', "          Event: {one_of: 5}", "expect[0].sequence[0].headers.Event.one_of"),
    ("        body_contains: x", "        body_contains: {a: 1}", "expect[0].sequence[0].body_contains"),
    ("        retransmission: false", "        retransmission: maybe", "expect[0].sequence[0].retransmission"),
    ("      min: 1", "      min: -1", "expect[1].count.min"),
    ("      min: 1", "      min: lots", "expect[1].count.min"),
    ("      at: 10\n      match", "      at: .nan\n      match", "expect[2].record.at"),
    ("      count: 1\n  - rc", "      count: -1\n  - rc", "expect[2].record.count"),
    ("      step: 0", "      step: 99", "expect[3].rc.step"),
    ("      type: RecordChanged", "      type: Nope", "expect[4].event.type"),
    ("      min: 0\n  - server_state", "      min: 1.5\n  - server_state", "expect[4].event.min"),
    ("      at: 10\n      presentity", "      at: 1.0e12\n      presentity", "expect[5].server_state.at"),
    ('      presentity: "sip:a@127.0.0.1"', "      presentity: 5", "expect[5].server_state.presentity"),
]


def test_base_document_is_valid():
    scn = scenario_from_text(BASE, "base.yaml")
    assert len(scn.steps) == 7 and len(scn.expectations) == 6


@pytest.mark.parametrize(("old", "new", "field"), CASES, ids=[f"{c[2]}={c[1].split(':', 1)[-1].strip()[:20]}" for c in CASES])
def test_bad_value_is_a_file_line_field_error(old, new, field, tmp_path, capsys):
    assert BASE.count(old) == 1, old
    line = BASE[: BASE.index(old)].count("\n") + 1
    path = tmp_path / "bad.yaml"
    path.write_text(BASE.replace(old, new))
    assert main(["validate", str(path)]) == 1
    out = capsys.readouterr()
    assert f"{path}:{line}: {field}: " in out.out, out.out
    assert "Traceback" not in out.out + out.err


def test_database_that_cannot_be_opened_at_run_time_is_named_not_a_traceback(tmp_path, capsys):
    (tmp_path / "adir").mkdir()  # the folder exists, so validation passes; SQLite cannot open a folder
    old = '    db_url: "sqlite://:memory:"'
    line = BASE[: BASE.index(old)].count("\n") + 1
    path = tmp_path / "db.yaml"
    path.write_text(BASE.replace(old, '    db_url: "sqlite:///adir"'))
    assert main(["validate", str(path)]) == 0
    assert main(["run", str(path), "--no-write"]) == 1
    out = capsys.readouterr().out
    assert f"{path}:{line}: pua.params.db_url: cannot open the database" in out, out
