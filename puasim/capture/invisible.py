"""Inputs a capture cannot show, recognised by their effect on the requests that follow.

A conformance check (:mod:`puasim.capture.check`) drives the model with API
inputs inferred from the wire.  Some inputs leave no trace there: a database
edit of the ``pua`` table, an RPC that sends nothing of its own, a request
the script drops before it leaves (``event_route[tm:local-request]``).  When
the requests that follow show one of them, the check says so — "not visible
in the capture", with where it mattered — instead of counting a model
difference.  Each rule below is narrow on purpose: a difference it does not
recognise stays a difference.

* :func:`cleanup_refreshes` (fed to the model, not a note): a body-less
  PUBLISH refresh off the sweep grid whose record the sweep would refresh
  right then is the RPC ``pua.cleanup`` (pua-reference §5.9), which runs one
  sweep at once and answers with an empty success: the model runs it too.
* :func:`explain` (after the run), for rows whose only differences are:

  - ``if_match`` on a refresh, carrying an ETag no reply in the capture
    handed out, in db_mode 2 (the sweep reads the row, §5.8, §2.6) or after a
    restart (db_mode 0 reads the table once, §5.6): the row's etag was edited
    in the database;
  - ``expires`` on a PUBLISH refresh in db_mode 2: the row's
    ``desired_expires`` was edited (§5.3 computes Expires from it);
  - ``body`` of a dialog-info or reginfo update whose document differs only
    in a higher ``version``: that many updates reached pua and sent nothing
    (a request dropped in ``event_route[tm:local-request]``, §3.3 row 8,
    still bumps the version) or the row's version was edited (db_mode 2);
  - a refresh the model sends (row ``extra``) that the capture lacks, with
    no unmatched real request for the same presentity and method: dropped
    in ``event_route[tm:local-request]`` (§5.3: counted as success) or, in
    db_mode 2, the row deleted or changed in the database.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from puasim.capture.compare import CheckReport, Row
from puasim.effects import SECOND
from puasim.sip import headers as H
from puasim.sip.message import Request, Response
from puasim.trace.events import MessageSent

__all__ = ["NOT_VISIBLE", "cleanup_refreshes", "explain", "handed_out_etags"]

NOT_VISIBLE = "not visible in the capture"
_VERSION = re.compile(rb'(<(?:[\w.-]+:)?(?:dialog-info|reginfo)\b[^>]*?\bversion=")(\d+)(")', re.IGNORECASE)


def handed_out_etags(records: Iterable[Any], pua: tuple[str, int]) -> set[str]:
    """Every SIP-ETag a 2xx to the PUA carried in the capture."""
    out: set[str] = set()
    for r in records:
        ev = r.event
        if type(ev) is not MessageSent or ev.dst != pua or not isinstance(ev.message, Response):
            continue
        if 200 <= ev.message.status < 300:
            etag = H.sip_etag_raw(ev.message)
            if etag:
                out.add(etag)
    return out


def cleanup_refreshes(pua: Any, msg: Request, now_us: int) -> bool:
    """Whether the RPC ``pua.cleanup`` run now would refresh the publication ``msg`` refreshes.

    The §5.2 conditions on the model's own records: the record of the same
    presentity and ETag is inside the refresh window and refresh-eligible
    (indefinite, or desired beyond expires + min_expires).
    """
    if msg.method != "PUBLISH" or msg.body or (H.expires_or_none(msg) or 0) <= 0:
        return False
    to = H.to(msg)
    pres = to.uri if to is not None else msg.uri
    etag = msg.get("SIP-If-Match")
    now = pua.seconds(now_us)
    period, min_exp = pua.cfg.update_period, pua.cfg.min_expires
    for p in pua.records():
        if not p.is_publication or p.pres_uri != pres or (etag and p.etag != etag):
            continue
        in_window = p.expires - period < now and (pua.cfg.db_mode == 2 or p.expires >= period)
        eligible = p.desired_expires == 0 or p.desired_expires > p.expires + min_exp
        if in_window and eligible:
            return True
    return False


def _when(report: CheckReport, t: int | None) -> str:
    return "?" if t is None else f"{(t - report.origin) / SECOND:.3f} s"


def _presentity(msg: Request | None) -> str:
    if msg is None:
        return "?"
    to = H.to(msg)
    return to.uri if to is not None else msg.uri


def _is_refresh(msg: Request | None) -> bool:
    if msg is None:
        return False
    if msg.method == "PUBLISH":
        return not msg.body and (H.expires_or_none(msg) or 0) > 0 and msg.get("SIP-If-Match") is not None
    if msg.method == "SUBSCRIBE":
        to = H.to(msg)
        return to is not None and bool(to.tag) and (H.expires_or_none(msg) or 0) > 0
    return False


def _versions_only(real: Request, model: Request) -> tuple[int, int] | None:
    """(real version, model version) when the two bodies differ only in the document version."""
    a, b = _VERSION.search(real.body), _VERSION.search(model.body)
    if a is None or b is None:
        return None
    if _VERSION.sub(rb"\g<1>0\g<3>", real.body, count=1) != _VERSION.sub(rb"\g<1>0\g<3>", model.body, count=1):
        return None
    return int(a.group(2)), int(b.group(2))


def _explained(report: CheckReport, row: Row, text: str) -> None:
    """Move the row's differences into its note and say in the report what was not visible."""
    shown = "; ".join(str(d) for d in row.diffs)
    row.note = f"{NOT_VISIBLE}: {text} ({shown})" + (f"; {row.note}" if row.note else "")
    row.diffs.clear()
    report.notes.append(f"{NOT_VISIBLE}: {text}")


def explain(report: CheckReport, *, db_mode: int, handed_out: set[str], restarts: list[int]) -> None:
    """Turn the differences an invisible input explains into notes (see the module docstring)."""
    for row in report.rows:
        if row.kind != "extra":
            _explain_one(report, row, db_mode, handed_out, restarts)
    # a missing refresh is explained only where everything else of that presentity agrees
    differing = {(r.real.method, _presentity(r.real)) for r in report.rows if r.real is not None and r.diffs}
    for row in report.rows:
        if row.kind == "extra" and row.diffs and (row.model is None or
                                                  (row.model.method, _presentity(row.model)) not in differing):
            _explain_one(report, row, db_mode, handed_out, restarts)


def _explain_one(report: CheckReport, row: Row, db_mode: int, handed_out: set[str], restarts: list[int]) -> None:
    if not row.diffs:
        return
    fields = {d.field for d in row.diffs}
    real, model = row.real, row.model
    at = _when(report, row.real_time if row.real_time is not None else row.model_time)
    pres = _presentity(real if real is not None else model)
    if row.kind == "refresh" and fields == {"if_match"} and real is not None:
        etag = real.get("SIP-If-Match") or ""
        after_restart = any(t <= (row.real_time or 0) for t in restarts)
        if etag not in handed_out and (db_mode == 2 or after_restart):
            where = "db_mode 2 reads the row at each sweep (§5.8)" if db_mode == 2 else \
                "the restart read it from the table (§5.6)"
            _explained(report, row, f"a database edit of {pres}'s pua row before {at}: the refresh carries "
                                    f"SIP-If-Match {etag}, which no reply in the capture handed out ({where})")
            return
    if row.kind == "refresh" and fields == {"expires"} and db_mode == 2 and real is not None \
            and real.method == "PUBLISH":
        _explained(report, row, f"a database edit of {pres}'s desired_expires before {at}: the refresh asks "
                                f"Expires {real.get('Expires')}, which §5.3 computes from the row")
        return
    if fields == {"body"} and real is not None and model is not None and real.body and model.body:
        versions = _versions_only(real, model)
        if versions is not None and versions[0] > versions[1]:
            skipped = versions[0] - versions[1]
            _explained(report, row, f"{skipped} update(s) of {pres} before {at} that sent nothing: the document "
                                    f"version is {versions[0]} where the model has {versions[1]} (a PUBLISH "
                                    "dropped in event_route[tm:local-request] still bumps it, §3.3 row 8"
                                    + (", or the row's version was edited" if db_mode == 2 else "") + ")")
            return
    if row.kind == "extra" and fields == {"request"} and _is_refresh(model) and model is not None:
        why = "dropped in event_route[tm:local-request] (§5.3 counts it as sent)"
        if db_mode == 2:
            why += ", or the row was deleted or changed in the database"
        _explained(report, row, f"the refresh of {pres} the model sends at {at} is not in the capture: {why}")
