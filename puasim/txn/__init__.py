"""RFC 3261 transactions (non-INVITE and INVITE), sans-IO."""

from puasim.txn.invite import (
    INVITE_CLIENT_TRANSITIONS,
    INVITE_SERVER_TRANSITIONS,
    InviteClientTransaction,
    InviteServerTransaction,
    InviteState,
    ack_for,
    cancel_for,
)
from puasim.txn.layer import BRANCH_MAGIC, TransactionLayer
from puasim.txn.timers import KAMAILIO_TM, RFC3261, TimerConfig
from puasim.txn.transactions import (
    CLIENT_TRANSITIONS,
    SERVER_TRANSITIONS,
    ClientTransaction,
    ServerTransaction,
    State,
    TransactionError,
    local_timeout_response,
)

__all__ = [
    "INVITE_CLIENT_TRANSITIONS", "INVITE_SERVER_TRANSITIONS", "InviteClientTransaction",
    "InviteServerTransaction", "InviteState", "ack_for", "cancel_for",
    "BRANCH_MAGIC", "CLIENT_TRANSITIONS", "KAMAILIO_TM", "RFC3261", "SERVER_TRANSITIONS",
    "ClientTransaction", "ServerTransaction", "State", "TimerConfig", "TransactionError",
    "TransactionLayer", "local_timeout_response",
]
