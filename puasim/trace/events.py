"""The typed events a run records.

Each event is a frozen, slotted dataclass.  A driver wraps every event in a
:class:`~puasim.trace.trace.Record` that adds the sequence number, the time
(integer microseconds) and the node that produced it.  Reports, assertions,
pcap export and digests read these records and nothing else.

``EVENT_TYPES`` maps the ``type`` name used in JSON-lines files to the class.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from puasim.frozen import quick_init

Address = tuple[str, int]


@dataclass(frozen=True, slots=True)
class MessageSent:
    """A SIP message left ``src`` for ``dst`` (``retransmission`` for timer E/A resends)."""

    src: Address
    dst: Address
    message: Any
    retransmission: bool = False


@dataclass(frozen=True, slots=True)
class MessageDelivered:
    """The network handed a message to the node at ``dst``."""

    src: Address
    dst: Address
    message: Any


@dataclass(frozen=True, slots=True)
class MessageDropped:
    """The network lost a message (``reason``: loss, partition, no-listener, crashed)."""

    src: Address
    dst: Address
    message: Any
    reason: str


@dataclass(frozen=True, slots=True)
class MessageDuplicated:
    """The network made an extra copy of a message."""

    src: Address
    dst: Address
    message: Any


@dataclass(frozen=True, slots=True)
class MessageRejected:
    """A node could not handle a message it received; that message alone paid for it.

    ``reason`` says what was wrong (the parse error, with header and offset);
    ``status`` is the reply the node sent instead of handling it (400, 505),
    or 0 when it dropped the message without a reply.
    """

    src: Address
    message: Any
    reason: str
    status: int = 0


@dataclass(frozen=True, slots=True)
class NodeStartFailed:
    """A node did not come up (module initialisation failed); it stays down.

    ``reason`` is what Kamailio logs for the failure (e.g. the database
    connection that mod_init or child_init could not open).
    """

    reason: str


@dataclass(frozen=True, slots=True)
class TimerFired:
    """A timer of a model fired (``name`` is a readable form of its key)."""

    name: str


@dataclass(frozen=True, slots=True)
class ApiCalled:
    """An API entry point of a model was called (e.g. ``send_publish``) and returned ``rc``."""

    name: str
    args: tuple[tuple[str, Any], ...]
    rc: Any


@dataclass(frozen=True, slots=True)
class CallbackFired:
    """An application callback ran for a final reply (pua-reference §7.3)."""

    flag: int
    method: str
    status: int
    faked: bool
    pres_uri: str
    cb_param: Any = None


@dataclass(frozen=True, slots=True)
class TransactionFinished:
    """A client transaction ended: final ``status`` (``faked`` = local timeout reply)."""

    method: str
    call_id: str
    branch: str
    status: int
    faked: bool
    retransmissions: int
    started: int


@dataclass(frozen=True, slots=True)
class RecordChanged:
    """A PUA record was created, updated, refreshed, expired or deleted.

    ``kind`` is ``publication``, ``temporary`` or ``dialog``; the remaining
    fields are the record's state after the change (before it, for deletes).
    Times ``expires`` and ``desired_expires`` are absolute epoch seconds as
    Kamailio stores them.
    """

    action: str
    kind: str
    pres_uri: str
    id: str
    event: int
    flag: int
    etag: str
    expires: int
    desired_expires: int
    version: int
    watcher_uri: str = ""
    call_id: str = ""
    reason: str = ""


@dataclass(frozen=True, slots=True)
class ContactChanged:
    """A usrloc contact callback fired (``event``: insert, update, delete, expire).

    ``expires`` is the contact's absolute epoch second (0 = permanent), as
    usrloc stores it; the fields are the contact as the callback saw it.
    """

    event: str
    domain: str
    aor: str
    uri: str
    call_id: str
    cseq: int
    expires: int
    cflags: int = 0


@dataclass(frozen=True, slots=True)
class StoreWrite:
    """The record store wrote to SQL: ``op`` (insert, update, delete, ...), ``rows`` touched."""

    op: str
    table: str
    rows: int
    detail: str = ""


@dataclass(frozen=True, slots=True)
class ServerStateChanged:
    """A simulated server's event state for a presentity changed.

    ``action`` is ``created``, ``modified``, ``refreshed``, ``removed`` or
    ``expired``; ``expires`` is absolute virtual time in microseconds at which
    the state lapses (0 when removed).
    """

    action: str
    presentity: str
    event: str
    etag: str
    expires: int


@dataclass(frozen=True, slots=True)
class FaultInjected:
    """A scenario or network injected a fault (``kind``, free-form ``detail``)."""

    kind: str
    detail: str


@dataclass(frozen=True, slots=True)
class NodeCrashed:
    """The node lost its in-memory state."""

    reason: str


@dataclass(frozen=True, slots=True)
class NodeRestarted:
    """The node started again from its durable store."""

    detail: str = ""


@dataclass(frozen=True, slots=True)
class RunError:
    """The run hit an error; the trace up to here is kept.  ``where`` names the input."""

    where: str
    error: str


@dataclass(frozen=True, slots=True)
class Note:
    """A free-form annotation (scenario step markers, warnings a model would log)."""

    level: str
    text: str


EVENT_TYPES: dict[str, type] = {
    cls.__name__: cls
    for cls in (
        MessageSent,
        MessageDelivered,
        MessageDropped,
        MessageDuplicated,
        MessageRejected,
        TimerFired,
        ApiCalled,
        CallbackFired,
        TransactionFinished,
        RecordChanged,
        ContactChanged,
        StoreWrite,
        ServerStateChanged,
        FaultInjected,
        NodeCrashed,
        NodeRestarted,
        NodeStartFailed,
        RunError,
        Note,
    )
}

# every event is made once per happening: construction kept cheap (puasim.frozen)
for _cls in EVENT_TYPES.values():
    quick_init(_cls)
del _cls

MESSAGE_EVENTS = (MessageSent, MessageDelivered, MessageDropped, MessageDuplicated)
