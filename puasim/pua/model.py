"""The model of Kamailio's pua module as one sans-IO endpoint.

:class:`Pua` owns the record store, the event registry, the callbacks, tm's
request building and a transaction layer.  It is driven by

* API calls (``send_publish``, ``send_subscribe``, the query functions of
  pua-reference §7) made by scenarios and companion modules,
* ``receive(message, src, now)`` for SIP messages from the network,
* ``timer(key, now)`` for its own timers (§5.1) and transaction timers,

and it answers with effects in :attr:`outbox`.  All times passed in are
integer microseconds; Kamailio's arithmetic runs on whole epoch seconds
(``seconds(now)``), as the module uses ``time(NULL)`` (§ conventions, D16).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Hashable, Iterable
from dataclasses import asdict, is_dataclass
from typing import Any

from puasim.bodies.errors import BodyError
from puasim.effects import SECOND, Address, Outbox
from puasim.pua import publish, subpolicy, subscribe
from puasim.pua.config import PuaConfig, PuaStartupError, load_config
from puasim.pua.constants import PUACB_MAX, REQ_OTHER
from puasim.pua.errors import StoreError
from puasim.pua.events import builtin_registry
from puasim.pua.info import Hentity, PublInfo, SubsInfo
from puasim.pua.policy import TIMER as POLICY_TIMER
from puasim.pua.tm import NextHopError, Tm, split_header_block
from puasim.sip.errors import SipParseError
from puasim.sip.message import Request, Response
from puasim.sip.version import kamailio_core_accepts
from puasim.store.memory import MemoryStore
from puasim.store.record import PuaRecord
from puasim.trace.events import ApiCalled, CallbackFired, MessageRejected, Note, RecordChanged
from puasim.txn.layer import TransactionLayer
from puasim.txn.timers import KAMAILIO_TM, TimerConfig

CLEAN_TIMER = ("pua", "clean")
DB_SYNC_TIMER = ("pua", "dbsync")

PuaCallback = Callable[[Hentity, Response, bool, int], None]


def _short_args(info: Any) -> tuple[tuple[str, Any], ...]:
    if not is_dataclass(info) or isinstance(info, type):
        return ()
    out = []
    for name, value in asdict(info).items():
        if value in ("", None, 0) and name not in ("expires", "event"):
            continue
        if isinstance(value, bytes):
            value = f"<{len(value)} bytes>"
        elif not isinstance(value, str | int | float | bool):
            value = repr(value)
        out.append((name, value))
    return tuple(out)


class Pua:
    """Kamailio's pua module (pua-reference §1–§7) as a sans-IO endpoint."""

    def __init__(
        self,
        cfg: PuaConfig | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 5070,
        rng: random.Random | None = None,
        epoch: int = 1_700_000_000,
        timers: TimerConfig = KAMAILIO_TM,
        store: Any = None,
        pids: dict[str, int] | None = None,
    ) -> None:
        self.cfg = cfg or load_config()
        self.host = host
        self.port = port
        self.epoch = epoch
        rng = rng or random.Random(0)
        self.rng = rng
        self.outbox = Outbox()
        self.layer = TransactionLayer(self.outbox, host, port, random.Random(rng.getrandbits(64)), timers)
        self.tm = Tm(self.layer, random.Random(rng.getrandbits(64)), host, port, pids)
        self.events = builtin_registry(self.cfg)
        self.store: Any = store if store is not None else MemoryStore(self.cfg.table_size, self.cfg.check_remote_contact)
        if hasattr(self.store, "bind"):
            self.store.bind(self.outbox.emit)
        if hasattr(self.store, "repaired"):  # the store-side repairs (B12, B13, B28, B29, B7 in db_mode 2)
            self.store.repaired = self.cfg.repaired
        self.callbacks: list[tuple[int, PuaCallback]] = []
        #: answers NOTIFYs the way the script around pua does (see subscribe.answer_notify)
        self.notify_policy = subscribe.NotifyPolicy()
        #: script branches run first for every in-coming NOTIFY: each returns None (not mine),
        #: True (reply 200) or False (the script exits without a reply)
        self.notify_hooks: list[Callable[[Request, int], bool | None]] = []
        self.started = False
        #: repair B9 only: the last processed body per publication key, for re-publishing after a 412
        self.last_bodies: dict[tuple[str, int, int, str], tuple[bytes, str]] = {}
        #: repair B8 only: publications with a PUBLISH in flight, and the PUBLISHes waiting for it
        self.publish_queue: dict[tuple[str, int, int, str], list[PublInfo]] = {}
        #: client policies only: PUBLISHes to retry after a 423 (puasim.pua.policy)
        self.policy_retries: dict[tuple[str, int, int, str], PublInfo] = {}
        #: client policies only: new initial SUBSCRIBEs waiting for their timer (puasim.pua.subpolicy)
        self.policy_resubscribes: dict[tuple[str, str, int, str], subpolicy.PendingSubscribe] = {}
        #: client policies only: the lifetime the last 2xx granted each dialog (Call-ID, From-tag)
        self.policy_granted: dict[tuple[str, str], int] = {}
        #: sipsimple only: the interval a 423 set for an indefinite subscription (pres, watcher, event, id)
        self.policy_intervals: dict[tuple[str, str, int, str], int] = {}
        self.defer_callbacks: list[tuple[Any, ...]] | None = None
        for warning in self.cfg.warnings:
            self.log("warning", warning)

    # -- time ------------------------------------------------------------------------
    def seconds(self, now_us: int) -> int:
        """Epoch seconds at ``now_us``: the clock Kamailio's arithmetic sees."""
        return self.epoch + now_us // SECOND

    def at_seconds(self, epoch_s: int) -> int:
        """Microseconds of virtual time at which epoch second ``epoch_s`` begins."""
        return (epoch_s - self.epoch) * SECOND

    # -- endpoint interface ----------------------------------------------------------
    def start(self, now: int) -> None:
        """mod_init's timers (§5.1): sweep every update_period−5 s, DB sync every update_period s."""
        self.started = True
        if hasattr(self.store, "restore"):  # db_mode 0 start-up restore (§5.6), inside mod_init
            try:
                restored = self.store.restore(self.seconds(now), self.cfg.fetch_rows)
            except StoreError as exc:
                raise PuaStartupError(f"mod_init: while restoring hash_table: db_restore failed: {exc}") from exc
            for rec in restored:
                self.record_changed("restored", rec, now)
        if self.cfg.clean_period:
            self.outbox.set_timer(CLEAN_TIMER, now + self.cfg.clean_period * SECOND)
        if self.cfg.db_mode != 2 and self.cfg.update_period > 0 and hasattr(self.store, "db_sync"):
            self.outbox.set_timer(DB_SYNC_TIMER, now + self.cfg.update_period * SECOND)

    def receive(self, message: Request | Response, src: Address, now: int) -> None:
        """The receive boundary of the pua node: one bad message costs that message only.

        Kamailio's core drops, without a reply, a message its first-line
        parser does not take as SIP/2.0 (:func:`~puasim.sip.version.kamailio_core_accepts`)
        and a request lacking Via, From, To, Call-ID or CSeq (``receive_msg``);
        any parse error met later while the message is handled drops the
        rest of its handling.  Each leaves a
        :class:`~puasim.trace.events.MessageRejected` record.
        """
        if not kamailio_core_accepts(message):
            reason = f"{message.version}: not SIP to Kamailio's core parser, dropped"
            self.outbox.emit(MessageRejected(src, message, reason))
            return
        try:
            if isinstance(message, Request):
                TransactionLayer.check_answerable(message)
            txn = self.layer.receive(message, src, now)
            if txn is not None:
                subscribe.answer_request(self, txn, now)
        except (SipParseError, BodyError) as exc:
            label = message.method if isinstance(message, Request) else f"{message.status} reply"
            self.outbox.emit(MessageRejected(src, message, f"{label}: {exc}"))

    def timer(self, key: Hashable, now: int) -> None:
        if isinstance(key, tuple) and self.layer.timer(key, now):
            return
        if isinstance(key, tuple) and key and key[0] == POLICY_TIMER:
            if key[1] in subpolicy.KINDS:
                subpolicy.on_timer(self, key, now)
            else:
                publish.on_policy_timer(self, key, now)
            return
        if key == CLEAN_TIMER:
            self.outbox.set_timer(CLEAN_TIMER, now + self.cfg.clean_period * SECOND)
            self.sweep(now)
        elif key == DB_SYNC_TIMER:
            self.outbox.set_timer(DB_SYNC_TIMER, now + self.cfg.update_period * SECOND)
            self.store.db_sync(self.seconds(now), self)
        else:
            raise KeyError(f"unknown pua timer {key!r}")

    # -- API (§7.1) ------------------------------------------------------------------
    def send_publish(self, publ: PublInfo, now: int, process: str = "worker") -> int:
        try:
            rc = publish.send_publish(self, publ, now, process=process)
        except StoreError as exc:  # §3.9: a DB failure is an error return, nothing else
            self.log("error", f"send_publish: database error: {exc}")
            rc = -1
        self.api_event("send_publish", publ, rc)
        return rc

    def send_subscribe(self, subs: SubsInfo, now: int, process: str = "worker") -> int:
        try:
            rc = subscribe.send_subscribe(self, subs, now, process=process)
        except StoreError as exc:  # §4.9
            self.log("error", f"send_subscribe: database error: {exc}")
            rc = -1
        self.api_event("send_subscribe", subs, rc)
        return rc

    def register_puacb(self, types: int, fn: PuaCallback | None) -> int:
        """§7.3: prepend a callback for the source flags in ``types``; −5 for bad types."""
        if types < 0 or types > PUACB_MAX:
            return -5
        if fn is None:
            return -1
        self.callbacks.insert(0, (types, fn))
        return 1

    def is_dialog(self, **key: Any) -> int:
        return subscribe.is_dialog(self, **key)

    def get_record_id(self, **key: Any) -> tuple[int, str | None]:
        if hasattr(self.store, "get_record_id"):  # db_mode 2 (§2.6)
            return self.store.get_record_id(call_id=key["call_id"], to_tag=key["to_tag"], from_tag=key["from_tag"])
        return subscribe.get_record_id(self, **key)

    def get_subs_list(self, did: str) -> list[str]:
        if hasattr(self.store, "get_subs_list"):  # db_mode 2: exact pres_id (§7.2)
            return self.store.get_subs_list(did)
        return subscribe.get_subs_list(self, did)

    def cleanup(self, now: int) -> None:
        """RPC ``pua.cleanup`` (§5.9): one sweep now, no DB sync."""
        self.sweep(now)

    # -- sweep (§5.2, §5.8) ----------------------------------------------------------
    def sweep(self, now_us: int) -> None:
        if self.cfg.db_mode == 2 and hasattr(self.store, "clean_rows"):  # clean_puadb (§5.8)
            try:
                rows = self.store.clean_rows(self.seconds(now_us), self.cfg.update_period)
            except StoreError as exc:
                self.log("error", f"clean_puadb: database error: {exc}")
                return
            self._sweep_records(rows, now_us, db_mode_2=True)
            return
        candidates = getattr(self.store, "sweep_candidates", None)
        if candidates is not None:  # the records the walk below could act on, in its order
            records: Iterable[PuaRecord] = candidates(self.seconds(now_us) + self.cfg.update_period)
        else:
            snapshot = getattr(self.store, "snapshot", None)
            records = snapshot() if snapshot is not None else list(self.store.records())
        self._sweep_records(records, now_us, db_mode_2=False)

    def _sweep_records(self, records: Iterable[PuaRecord], now_us: int, db_mode_2: bool) -> None:
        """§5.2 (db_mode 0: the first failed refresh aborts the sweep, B10) and §5.8."""
        now = self.seconds(now_us)
        period = self.cfg.update_period
        min_exp = self.cfg.min_expires
        # a record is due when expires - update_period < now, i.e. expires < now + update_period;
        # db_mode 0: expires is unsigned, so expires < update_period wraps and never matches (§5.2)
        low = -math.inf if db_mode_2 else period
        high = now + period
        for p in records:
            if not (low <= p.expires < high):  # one test for the many records not due
                continue
            own_timer = self.cfg.client is not None  # the policy's timers refresh publications and dialogs
            if not own_timer and (p.desired_expires > p.expires + min_exp or p.desired_expires == 0):
                try:
                    rc = self.update_pua(p, now_us)
                except StoreError as exc:
                    self.log("error", f"refresh: database error: {exc}")
                    rc = -1
                if rc < 0 and not db_mode_2 and not self.cfg.repairs_("B10"):  # B10 (repair: go on)
                    self.log("error", "refresh failed: the rest of this sweep is skipped (B10)")
                    return
                continue
            if p.expires < now - 10:
                try:
                    self.delete_record(p, "expired", now_us, action="expired")
                except StoreError as exc:
                    self.log("error", f"clean: database error: {exc}")

    def update_pua(self, p: PuaRecord, now_us: int) -> int:
        """§5.3: what a refresh sends."""
        if p.is_publication:
            return publish.refresh_publication(self, p, now_us)
        return subscribe.refresh_dialog(self, p, now_us)

    # -- helpers for publish/subscribe -------------------------------------------------
    def make_tuple_id(self) -> str:
        """A pointer-shaped tuple id, as pua prints the request struct's address (§3.4.1)."""
        return f"0x7f{self.rng.getrandbits(40):010x}"

    @staticmethod
    def extra_header_fields(block: str) -> tuple[tuple[str, str], ...]:
        return split_header_block(block) if block else ()

    def send_out_of_dialog(
        self,
        h: Hentity,
        block: tuple[tuple[str, str], ...],
        body: bytes,
        next_hop: str,
        now_us: int,
        process: str,
        *,
        ruri: str | None = None,
        from_uri: str | None = None,
    ) -> tuple[str, str] | None:
        """Send ``h``'s request out of dialog; (Call-ID, From-tag), or None when tm refuses."""
        try:
            return self.tm.request_outside(
                method=h.method,
                ruri=ruri or h.pres_uri,
                to_uri=h.pres_uri,
                from_uri=from_uri or h.pres_uri,
                block=block,
                body=body,
                next_hop=next_hop,
                process=process,
                now=now_us,
                on_final=self._on_final,
                context=h,
            )
        except NextHopError as exc:
            self.log("error", f"tm: {exc}")
            return None

    def _on_final(self, reply: Response, faked: bool, txn: Any, now: int) -> None:
        h: Hentity = txn.context
        try:
            if h.method == "PUBLISH":
                publish.on_publish_reply(self, h, reply, faked, now)
            else:
                subscribe.on_subscribe_reply(self, h, reply, faked, txn.request, now)
        except StoreError as exc:  # the reply is dropped, no records change, no callbacks
            self.log("error", f"{h.method} reply {reply.status}: database error: {exc}")

    def shutdown(self, now: int, fixed: bool = False) -> None:
        """Module destroy (§5.7): no flush (B11) unless ``fixed`` or repair B11 is on."""
        if hasattr(self.store, "shutdown"):
            self.store.shutdown(self.seconds(now), self, fixed=fixed or self.cfg.repairs_("B11"))

    def run_callbacks(self, h: Hentity, reply: Response, faked: bool, now_us: int) -> None:
        """§7.3: only for REQ_OTHER transactions; every callback whose types match the flag."""
        if h.ua_flag != REQ_OTHER:
            return
        if self.defer_callbacks is not None:  # inside a SUBSCRIBE reply: run after the flag is restored
            self.defer_callbacks.append((h, reply, faked, now_us))
            return
        for types, fn in list(self.callbacks):
            if types & h.flag:
                self.outbox.emit(CallbackFired(h.flag, h.method, reply.status, faked, h.pres_uri, h.cb_param))
                fn(h, reply, faked, now_us)

    # -- records -----------------------------------------------------------------------
    def record_changed(self, action: str, rec: PuaRecord, now_us: int, reason: str = "") -> None:
        self.outbox.emit(
            RecordChanged(
                action, rec.kind, rec.pres_uri, rec.id, rec.event, rec.flag, rec.etag,
                rec.expires, rec.desired_expires, rec.version, rec.watcher_uri, rec.call_id, reason,
            )
        )

    def insert_record(self, rec: PuaRecord, now_us: int) -> None:
        from puasim.pua.constants import INSERTDB

        rec.db_flag = INSERTDB
        self.store.insert(rec)
        self.record_changed("created", rec, now_us)

    def delete_record(self, rec: PuaRecord, reason: str, now_us: int, action: str = "deleted") -> None:
        self.store.delete(rec)
        self.record_changed(action, rec, now_us, reason)

    def records(self) -> list[PuaRecord]:
        return list(self.store.records())

    # -- trace -------------------------------------------------------------------------
    def log(self, level: str, text: str) -> None:
        self.outbox.emit(Note(level, text))

    def api_event(self, name: str, info: Any, rc: Any) -> None:
        self.outbox.emit(ApiCalled(name, _short_args(info), rc))
