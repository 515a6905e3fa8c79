"""Statistical expectations (``stat:``): counts, rates and percentiles of the report metrics.

Populations are judged by numbers, not by message sequences: how many
PUBLISH requests left, how many per second, the 99th percentile of the
PUBLISH latency, how many 412 rounds.  The metrics are those of the report
(definitions in ``docs/metrics.md``).  They are computed by one pass of
:class:`puasim.report.running.RunningMetrics` over the trace (at the
``metrics`` level, by the run's own observer), once per run and only when a
``stat`` expectation exists, without a pandas frame; the busy-lamp series
(``lamp_wrong_s``, ``lamp_lag_s``) come from the same rows the lamp frames
are made of (:mod:`puasim.report.lamprows`).  ``stat_value(...,
frames=True)`` computes every value from the report frames instead: the
tests compare both on every scenario that has ``stat`` expectations.

A spec has ``metric`` and bounds (``equals``, ``min``, ``max`` or
``between: [a, b]``, inclusive); counts take ``per_second: true`` (divided by
the scenario's duration); series need ``percentile: p`` (0..100) or
``agg`` (``mean``, ``median``, ``min``, ``max``, ``count``).
"""

from __future__ import annotations

import math
from typing import Any

from puasim.effects import SECOND
from puasim.scenario.loader import Source as Doc

#: count metrics besides the summary: requests of one method (first transmissions)
METHOD_COUNTS = {"publish_requests": "PUBLISH", "subscribe_requests": "SUBSCRIBE", "notify_requests": "NOTIFY"}
#: keys of puasim.report.metrics.summary() (docs/metrics.md "Summary")
SUMMARY = (
    "duration_s", "messages", "requests", "retransmissions", "dropped", "transactions", "timeouts",
    "failures", "refreshes", "lead_min_s", "lead_median_s", "lead_max_s", "late_refreshes", "gaps",
    "gap_none_s", "gap_stale_s", "longest_gap_s", "orphan_s", "rounds_412", "latency_p50_ms",
    "latency_p99_ms", "peak_rate",
)
#: summary values that are counts or sums over the run (meaningful per second)
SUMMABLE = {
    "messages", "requests", "retransmissions", "dropped", "transactions", "timeouts", "failures",
    "refreshes", "late_refreshes", "gaps", "rounds_412",
}
#: series metrics: one value per transaction, refresh, gap, round or load bin
SERIES = {
    "latency_ms": "answered transactions' latency (final reply - first send), ms",
    "lead_s": "refresh lead times (record expiry - send time), s",
    "gap_s": "presence gap durations, s",
    "recovery_s": "412 round recovery times, s",
    "rate": "requests per second in 1 s bins from 0 to the scenario's duration (the load curve)",
    "lamp_wrong_s": "durations of the intervals a watcher's busy lamp was wrong, s",
    "lamp_lag_s": "busy-lamp lag: true lamp change to the watcher showing it, s",
}
AGGS = ("mean", "median", "min", "max", "count")
STAT_KEYS = {"metric", "method", "from", "status", "state", "cause", "watcher", "percentile", "agg", "per_second",
             "equals", "min", "max", "between", "why"}
FILTERS = {"method", "from", "status", "state", "cause", "watcher"}


def metric_names() -> list[str]:
    return sorted({*SUMMARY, *METHOD_COUNTS, *SERIES})


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def validate_stat(spec: Any, doc: Doc, path: tuple) -> None:
    if not isinstance(spec, dict):
        raise doc.error(path, f"expected a mapping, got {type(spec).__name__}")
    for key in spec:
        if key not in STAT_KEYS:
            raise doc.error((*path, key), f"unknown field (allowed: {', '.join(sorted(STAT_KEYS))})")
    metric = spec.get("metric")
    if metric not in metric_names():
        raise doc.error((*path, "metric"), f"unknown metric {metric!r} (one of: {', '.join(metric_names())})")
    series = metric in SERIES
    if series and ("percentile" in spec) == ("agg" in spec):
        raise doc.error(path, f"{metric} is a series: give percentile (0..100) or agg ({', '.join(AGGS)})")
    if not series and ("percentile" in spec or "agg" in spec):
        raise doc.error((*path, "percentile" if "percentile" in spec else "agg"), f"{metric} is one number, not a series")
    if "percentile" in spec and not (_is_number(spec["percentile"]) and 0 <= spec["percentile"] <= 100):
        raise doc.error((*path, "percentile"), f"must be a number in 0..100, got {spec['percentile']!r}")
    if "agg" in spec and spec["agg"] not in AGGS:
        raise doc.error((*path, "agg"), f"agg must be one of {', '.join(AGGS)}")
    if "per_second" in spec:
        if not isinstance(spec["per_second"], bool):
            raise doc.error((*path, "per_second"), "per_second must be true or false")
        if spec["per_second"] and metric not in SUMMABLE and metric not in METHOD_COUNTS:
            raise doc.error((*path, "per_second"), f"{metric} is not a count; per_second needs a count metric")
    allowed = {
        "latency_ms": {"method", "from"}, "lead_s": {"method"}, "gap_s": {"state"}, "rate": {"method"},
        "lamp_wrong_s": {"cause", "watcher"}, "lamp_lag_s": {"watcher"},
        **{m: {"from", "status"} for m in METHOD_COUNTS},
    }.get(metric, set())
    for key in FILTERS & set(spec):
        if key not in allowed:
            raise doc.error((*path, key), f"{metric} takes no {key} filter" + (f" (it takes: {', '.join(sorted(allowed))})" if allowed else ""))
    if "state" in spec and spec["state"] not in ("none", "stale"):
        raise doc.error((*path, "state"), "state must be none or stale")
    if "cause" in spec:
        from puasim.report.causes import CAUSES

        if spec["cause"] not in CAUSES:
            raise doc.error((*path, "cause"), f"cause must be one of {', '.join(CAUSES)}, got {spec['cause']!r}")
    if "watcher" in spec and not isinstance(spec["watcher"], str):
        raise doc.error((*path, "watcher"), "watcher is a phone name or a subscriber's sip:user@host")
    if "status" in spec and not isinstance(spec["status"], int):
        raise doc.error((*path, "status"), "status must be an integer")
    bounds = [k for k in ("equals", "min", "max", "between") if k in spec]
    if not bounds:
        raise doc.error(path, "give equals, min, max or between")
    for key in bounds:
        value = spec[key]
        if key == "between":
            if not (isinstance(value, list) and len(value) == 2 and all(_is_number(v) for v in value) and value[0] <= value[1]):
                raise doc.error((*path, key), f"between takes [low, high] with low <= high, got {value!r}")
        elif not _is_number(value):
            raise doc.error((*path, key), f"must be a number, got {value!r}")


def _data(ctx: Any) -> Any:
    data = ctx.cache.get("report")
    if data is None:
        from puasim.report.frames import from_trace

        data = ctx.cache["report"] = from_trace(ctx.trace)
    return data


def _running(ctx: Any) -> Any:
    """The trace's RunningMetrics: the run's observer (``metrics`` level), else one pass over the records."""
    value = ctx.cache.get("running")
    if value is None:
        observer = getattr(ctx.trace, "observer", None)
        if observer is not None:
            value = observer
        else:
            from puasim.report.running import RunningMetrics

            value = RunningMetrics(ctx.epoch, series=True)
            value.observe_batch(ctx.trace.records)
        ctx.cache["running"] = value
    return value


def _summary(ctx: Any, frames: bool) -> dict[str, Any]:
    key = "summary-frames" if frames else "summary"
    value = ctx.cache.get(key)
    if value is None:
        if frames:
            from puasim.report.metrics import summary

            value = summary(_data(ctx))
        else:
            value = _running(ctx).summary()
        ctx.cache[key] = value
    return value


def _lamp_series(metric: str, spec: dict, ctx: Any, frames: bool) -> Any:
    import numpy as np

    if frames:
        tables = ctx.cache.get("lamps-frames")
        if tables is None:
            from puasim.report.lamps import lamps

            tables = ctx.cache["lamps-frames"] = lamps(_data(ctx))
        frame = tables.wrong if metric == "lamp_wrong_s" else tables.lag
        if "watcher" in spec:  # a phone name, or the subscriber's sip:user@host
            frame = frame[(frame["watcher"] == spec["watcher"]) | (frame["watcher_uri"] == spec["watcher"])]
        if "cause" in spec:
            frame = frame[frame["cause"] == spec["cause"]]
        return (frame["duration"] if metric == "lamp_wrong_s" else frame["lag"]).dropna().to_numpy(dtype=float)
    rows = ctx.cache.get("lamps")
    if rows is None:
        from puasim.report.lamprows import lamp_rows

        rows = ctx.cache["lamps"] = lamp_rows(ctx.trace, _running(ctx).transaction_rows())
    table = rows.wrong if metric == "lamp_wrong_s" else rows.lag
    if "watcher" in spec:
        table = [r for r in table if spec["watcher"] in (r["watcher"], r["watcher_uri"])]
    if "cause" in spec:
        table = [r for r in table if r["cause"] == spec["cause"]]
    column = "duration" if metric == "lamp_wrong_s" else "lag"
    return np.asarray([r[column] for r in table if r[column] == r[column]], dtype=float)


def _series_frames(metric: str, spec: dict, ctx: Any, duration_s: float) -> Any:
    """A series metric read from the report frames (the reference the online values are checked against)."""
    from puasim.report.metrics import load_curve, refresh_lead_times, rounds_412

    data = _data(ctx)
    if metric == "latency_ms":
        tx = data.transactions
        tx = tx[tx["outcome"].isin(["success", "failure"])]
        if "method" in spec:
            tx = tx[tx["method"] == spec["method"]]
        if "from" in spec:
            tx = tx[tx["node"] == spec["from"]]
        values = tx["latency"].dropna() * 1000.0
    elif metric == "lead_s":
        lead = refresh_lead_times(data)
        if "method" in spec:
            lead = lead[lead["method"] == spec["method"]]
        values = lead["lead"].dropna()
    elif metric == "gap_s":
        gaps = data.gaps()
        if "state" in spec:
            gaps = gaps[gaps["state"] == spec["state"]]
        values = gaps["duration"]
    elif metric == "recovery_s":
        values = rounds_412(data)["recovery"].dropna()
    else:  # rate
        curve = load_curve(data, by="method" if "method" in spec else None, start=0.0, end=duration_s or None)
        if "method" in spec:
            curve = curve[curve["series"] == spec["method"]]
        values = curve["rate"]
    return values.to_numpy(dtype=float)


def _series_running(metric: str, spec: dict, ctx: Any, duration_s: float) -> Any:
    """A series metric from one RunningMetrics pass, in the order the frames hold it."""
    import numpy as np

    run = _running(ctx)
    values: list[float]
    if metric == "latency_ms":
        rows = [r for r in run.transaction_rows() if r.outcome in ("success", "failure")]
        if "method" in spec:
            rows = [r for r in rows if r.method == spec["method"]]
        if "from" in spec:
            rows = [r for r in rows if r.node == spec["from"]]
        values = [r.latency for r in rows if r.latency == r.latency]
        return np.asarray(values, dtype=float) * 1000.0
    if metric == "lead_s":
        values = [lead for _seq, method, lead in sorted(run.lead_rows)
                  if "method" not in spec or method == spec["method"]]
    elif metric == "gap_s":
        values = [g[3] for g in run.gap_rows() if "state" not in spec or g[4] == spec["state"]]
    elif metric == "recovery_s":
        values = [v for v in run.recoveries() if v == v]
    else:  # rate
        end = duration_s if duration_s else run.last / SECOND  # load_curve's default end: the last record
        values = run.rates(spec.get("method"), 0.0, end)
    return np.asarray(values, dtype=float)


def _series(metric: str, spec: dict, ctx: Any, duration_s: float, frames: bool) -> Any:
    online = not frames and getattr(_running(ctx), "keep_series", False)
    if metric in ("lamp_wrong_s", "lamp_lag_s"):
        return _lamp_series(metric, spec, ctx, not online)
    return (_series_running if online else _series_frames)(metric, spec, ctx, duration_s)


def _method_count(metric: str, spec: dict, ctx: Any, frames: bool) -> float:
    if not frames:
        run = _running(ctx)
        return float(run.transaction_count(METHOD_COUNTS[metric], spec.get("from"), spec.get("status")))
    tx = _data(ctx).transactions
    tx = tx[tx["method"] == METHOD_COUNTS[metric]]
    if "from" in spec:
        tx = tx[tx["node"] == spec["from"]]
    if "status" in spec:
        tx = tx[tx["status"] == spec["status"]]
    return float(len(tx))


def stat_value(spec: dict, ctx: Any, duration_s: float, frames: bool = False) -> tuple[float, str]:
    """The measured value and a short description of what was measured.

    ``frames=True`` reads every metric from the report frames (pandas)
    instead of the one-pass computation; both give the same numbers.
    """
    import numpy as np

    metric = spec["metric"]
    if metric in SERIES:
        values = _series(metric, spec, ctx, duration_s, frames)
        n = len(values)
        if "percentile" in spec:
            what = f"p{spec['percentile']:g} of {n} {metric} values"
            return (float(np.percentile(values, spec["percentile"])) if n else math.nan), what
        agg = spec["agg"]
        what = f"{agg} of {n} {metric} values"
        if agg == "count":
            return float(n), what
        if not n:
            return math.nan, what
        if agg == "mean":  # as pandas sums a float column (numpy's pairwise sum) and divides
            return float(values.sum() / n), what
        return float(getattr(np, agg)(values)), what
    if metric in METHOD_COUNTS:
        value = _method_count(metric, spec, ctx, frames)
    else:
        value = float(_summary(ctx, frames)[metric])
    if spec.get("per_second"):
        return (value / duration_s if duration_s > 0 else math.nan), f"{metric} per second ({value:g} in {duration_s:g} s)"
    return value, metric


def check_stat(spec: dict, ctx: Any, duration_s: float) -> str | None:
    """None when the metric lies within the bounds, else why not."""
    value, what = stat_value(spec, ctx, duration_s)
    if math.isnan(value):
        return f"{what}: no value (nothing to measure in this run)"
    low = spec["between"][0] if "between" in spec else spec.get("min")
    high = spec["between"][1] if "between" in spec else spec.get("max")
    if "equals" in spec and value != spec["equals"]:
        return f"{what} = {value:g}, expected {spec['equals']}"
    if low is not None and value < low:
        return f"{what} = {value:g}, expected at least {low}"
    if high is not None and value > high:
        return f"{what} = {value:g}, expected at most {high}"
    return None


__all__ = ["METHOD_COUNTS", "SERIES", "SUMMARY", "check_stat", "metric_names", "stat_value", "validate_stat"]
