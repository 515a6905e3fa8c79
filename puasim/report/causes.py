"""Why a busy lamp was wrong: the cause names of the ``lamp_wrong`` frame.

Kept apart from :mod:`puasim.report.lamps` (which needs pandas) so that a
scenario file's ``stat`` filter ``cause:`` is checked without importing it.
"""

#: causes in the order the rules try them (docs/metrics.md, "Busy lamps")
CAUSES = ("lost_notify", "sweep_delete", "expired_publication", "412_round", "ahead", "stale_state",
          "not_published", "publish_in_flight", "server_delay", "notify_in_flight")

__all__ = ["CAUSES"]
