"""The live side: the sans-IO models over real sockets, against real SIP servers.

* :mod:`.driver` — :class:`LiveDriver`: asyncio UDP sockets + the wall clock
  driving sans-IO endpoints; loopback-only unless told otherwise;
* :mod:`.scenario` — :func:`run_live`: a scenario file against a real server
  (``puasim live``);
* :mod:`.phones` — :func:`run_phones`: a scenario's phones, each on its own
  socket, against a real edge node (``puasim live --node``);
* :mod:`.result` — :class:`LiveResult`, what both of those return
  (:class:`PhonesResult` adds the phones' fields); :mod:`.steprun` — the
  step bookkeeping and capture start both share;
* :mod:`.edgediff` — the PUBLISHes of a real edge node against the model's;
* :mod:`.replay` — :class:`Replayer` / :func:`replay_live`: the PUA side of a
  captured flow replayed against a live server, ETags/tags/Call-IDs substituted;
* :mod:`.sniff` — :class:`LoopbackCapture`: scapy's AsyncSniffer on ``lo``;
* :mod:`.kamailio` — start/stop real Kamailio presence servers, pua nodes and
  edge nodes with puasim's own configs (``kamailio/*.cfg``), and a JSON-RPC
  client;
* :mod:`.lab` — ``puasim lab presence`` / ``puasim lab edge``.
"""

from puasim.live.driver import (
    LiveDriver,
    LiveNode,
    LiveSafetyError,
    WallClock,
    check_target,
    is_loopback,
)
from puasim.live.phones import PhonesResult, run_phones, run_phones_async
from puasim.live.replay import Replayer, ReplayReport, replay_live
from puasim.live.scenario import LiveResult, run_live, run_live_async

__all__ = [
    "LiveDriver",
    "LiveNode",
    "LiveResult",
    "LiveSafetyError",
    "PhonesResult",
    "ReplayReport",
    "Replayer",
    "WallClock",
    "check_target",
    "is_loopback",
    "replay_live",
    "run_phones",
    "run_phones_async",
    "run_live",
    "run_live_async",
]
