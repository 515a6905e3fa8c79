"""Dialog NOTIFY bodies of the kamailio profile: presence_dialoginfo's aggregation.

Two calls on one extension are two publications at the presence server; the
watcher must see both dialogs in one document, each NOTIFY with its own
version (lab companions 07: NOTIFY CSeq 3 carries version 2).
"""

from __future__ import annotations

from server_helpers import Driver, events, make_server, notifies, responses, subscribe
from test_server_dialog_rows import DLG, dialog_body, dlg_publish

from puasim.bodies.dialoginfo_agg import DUMMY_BODY, aggregate_dialoginfo, set_version
from puasim.effects import SECOND
from puasim.server import get_profile
from puasim.trace.events import Note


def start(profile="kamailio", **knobs):
    return Driver(make_server(get_profile(profile, **knobs)))


def watch(d: Driver, at: int):
    effects = d.send(subscribe(event="dialog"), at)
    (reply,) = responses(effects)
    assert reply.status == 200
    (notify,) = notifies(effects)
    return notify


def dialog_ids(body: bytes) -> list[tuple[str, str]]:
    from lxml import etree

    root = etree.fromstring(body)
    ns = "{urn:ietf:params:xml:ns:dialog-info}"
    return [(d.get("id"), d.findtext(f"{ns}state")) for d in root.iter(f"{ns}dialog")]


def test_two_calls_on_one_extension_reach_the_watcher_together():
    d = start()
    d.send(dlg_publish("call-1", "confirmed"))
    d.send(dlg_publish("call-2", "confirmed"), SECOND)
    first = watch(d, 2 * SECOND)
    assert dialog_ids(first.body) == [("call-1", "confirmed"), ("call-2", "confirmed")]
    assert first.get("content-type") == DLG
    expected = aggregate_dialoginfo(
        [dialog_body("call-1", "confirmed"), dialog_body("call-2", "confirmed")],
        "sip:alice@127.0.0.1",
    )
    assert first.body == set_version(expected, 1)
    # call 1 ends: its terminated publication replaces call 1's row (one row per dialog
    # id, lab companions 13), so the document lists call 2, still confirmed, then call 1
    (after,) = notifies(d.send(dlg_publish("call-1", "terminated"), 3 * SECOND))
    assert dialog_ids(after.body) == [("call-2", "confirmed"), ("call-1", "terminated")]
    assert b' version="2" ' in after.body and after.get("cseq") == "3 NOTIFY"


def test_without_one_row_per_dialog_id_every_publication_is_aggregated():
    d = start(replace_dialog_id=False)
    d.send(dlg_publish("call-1", "confirmed"))
    d.send(dlg_publish("call-2", "confirmed"), SECOND)
    watch(d, 2 * SECOND)
    (after,) = notifies(d.send(dlg_publish("call-1", "terminated"), 3 * SECOND))
    assert dialog_ids(after.body) == [
        ("call-1", "confirmed"),
        ("call-2", "confirmed"),
        ("call-1", "terminated"),
    ]


def test_one_row_per_dialog_id_keeps_the_other_call():
    d = start(replace_dialog_id=True)
    d.send(dlg_publish("call-1", "confirmed"))
    d.send(dlg_publish("call-2", "early"), SECOND)
    watch(d, 2 * SECOND)
    (after,) = notifies(d.send(dlg_publish("call-1", "terminated"), 3 * SECOND))
    assert dialog_ids(after.body) == [("call-2", "early"), ("call-1", "terminated")]


def test_force_single_dialog_sends_the_one_that_matters():
    d = start(force_single_dialog=True)
    d.send(dlg_publish("call-1", "confirmed"))
    d.send(dlg_publish("call-2", "early"), SECOND)
    assert dialog_ids(watch(d, 2 * SECOND).body) == [("call-2", "early")]


def test_no_publication_no_body_unless_force_dummy_dialog():
    assert watch(start(), SECOND).body == b""
    notify = watch(start(force_dummy_dialog=True), SECOND)
    assert notify.body == set_version(aggregate_dialoginfo([DUMMY_BODY], "sip:alice@127.0.0.1"), 1)
    assert notify.get("content-type") == DLG


def test_strict_profile_sends_the_newest_publication_as_published():
    d = start("rfc3903")
    d.send(dlg_publish("call-1", "confirmed"))
    d.send(dlg_publish("call-2", "confirmed"), SECOND)
    assert watch(d, 2 * SECOND).body == dialog_body("call-2", "confirmed")


def test_a_body_that_does_not_parse_gives_a_notify_without_body():
    d = start()
    d.send(dlg_publish("call-1", "confirmed"))
    d.send(
        dlg_publish("call-2", "confirmed").__class__(
            "PUBLISH",
            "sip:alice@127.0.0.1",
            tuple(
                (n, "4" if n == "Content-Length" else v)
                for n, v in dlg_publish("call-2", "confirmed").headers
            ),
            b"<dia",
        ),
        SECOND,
    )
    effects = d.send(subscribe(event="dialog"), 2 * SECOND)
    (notify,) = notifies(effects)
    assert notify.body == b"" and notify.get("content-type") is None
    assert any("without body" in n.text for n in events(effects, Note) if n.level == "warning")
