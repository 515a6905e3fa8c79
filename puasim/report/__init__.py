"""Timing reports: a trace as pandas DataFrames, metrics, pictures and an HTML report.

=====================  ========================================================
module                 job
=====================  ========================================================
``source``             a Trace from a live object, a JSON-lines file (pcap: hook)
``sipinfo``            header fields of one message, never raising
``frames``             :func:`load` -> :class:`ReportData` (all the frames)
``messages``           the messages and transactions frames
``records``            PUA record and server publication life cycles
``coverage``           server state versus PUA belief; presence gaps
``metrics``            lead times, 412 rounds, load curve, latency percentiles,
                       state counts, the summary dict
``figures``            Figure creation without pyplot; PNG/SVG output; ``show``
``ladder``             sequence (ladder) diagrams
``timeline``           per-presentity timelines with gaps shaded
``lamps``              busy-lamp accuracy: true vs shown lamp, wrong intervals and
                       their causes, lamp lag
``lamprows``           the busy-lamp engine on plain rows (no pandas; ``stat:``)
``causes``             the names of the wrong-lamp causes
``running``            the summary metrics and ``stat:`` series in one pass, no pandas
``lampchart``          the busy-lamp timeline picture (its bands: ``lamp_bands``)
``charts``             load curve, lead-time histogram, presentities by state
``svgladder``          ladder pages as SVG text (the report's ladder)
``svgcharts``          load chart and lead-time histogram as SVG text (the report's)
``svgtimeline``        the per-presentity timeline as SVG text (the report's)
``svglamps``           the busy-lamp timeline as SVG text (the report's)
``html``               the self-contained HTML report (``write_report``)
``batch``              reports for a trace file or a run folder (``puasim report``)
=====================  ========================================================

pandas and matplotlib are optional dependencies of puasim (``pip install
puasim[report]``); nothing outside this package imports it.  The names
below are imported on first use: ``running``, ``lamprows``, ``causes`` and
``sipinfo`` need no pandas.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from puasim.report.frames import COLUMNS, ReportData, from_trace, load
    from puasim.report.lamps import (
        lag_percentiles,
        lamp_lag,
        lamp_shown,
        lamp_summary,
        lamp_truth,
        lamp_wrong,
        lamps,
    )
    from puasim.report.metrics import (
        latency_percentiles,
        load_curve,
        refresh_lead_times,
        rounds_412,
        rounds_per_publication,
        state_counts,
        summary,
    )

#: where each name of the package lives; imported on first use, so that the pandas-free
#: modules (``running``, ``lamprows``, ``sipinfo``) can be imported without pandas (``stat:`` values)
_HOMES = {
    **dict.fromkeys(("COLUMNS", "ReportData", "from_trace", "load"), "frames"),
    **dict.fromkeys(("lag_percentiles", "lamp_lag", "lamp_shown", "lamp_summary", "lamp_truth", "lamp_wrong",
                     "lamps"), "lamps"),
    **dict.fromkeys(("latency_percentiles", "load_curve", "refresh_lead_times", "rounds_412",
                     "rounds_per_publication", "state_counts", "summary"), "metrics"),
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'puasim.report' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"puasim.report.{home}"), name)
    globals()[name] = value
    return value


__all__ = [
    "COLUMNS",
    "ReportData",
    "from_trace",
    "lag_percentiles",
    "lamp_lag",
    "lamp_shown",
    "lamp_summary",
    "lamp_truth",
    "lamp_wrong",
    "lamps",
    "latency_percentiles",
    "load",
    "load_curve",
    "refresh_lead_times",
    "rounds_412",
    "rounds_per_publication",
    "state_counts",
    "summary",
]
