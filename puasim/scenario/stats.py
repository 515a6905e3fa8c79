"""Statistical expectations (``stat:``): counts, rates and percentiles of the report metrics.

Populations are judged by numbers, not by message sequences: how many
PUBLISH requests left, how many per second, the 99th percentile of the
PUBLISH latency, how many 412 rounds.  Values come from the report frames
(:mod:`puasim.report`, metric definitions in ``docs/metrics.md``), computed
from the trace once per run and only when a ``stat`` expectation exists, so
pandas stays an optional dependency for everything else.

A spec has ``metric`` and bounds (``equals``, ``min``, ``max`` or
``between: [a, b]``, inclusive); counts take ``per_second: true`` (divided by
the scenario's duration); series need ``percentile: p`` (0..100) or
``agg`` (``mean``, ``median``, ``min``, ``max``, ``count``).
"""

from __future__ import annotations

import math
from typing import Any

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
        from puasim.report.lamps import CAUSES

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


def _summary(ctx: Any) -> dict[str, Any]:
    value = ctx.cache.get("summary")
    if value is None:
        observer = getattr(ctx.trace, "observer", None)
        if observer is not None:  # trace level 'metrics': computed as the run went, no records
            value = ctx.cache["summary"] = observer.summary()
            return value
        from puasim.report.metrics import summary

        value = ctx.cache["summary"] = summary(_data(ctx))
    return value


def _series(metric: str, spec: dict, ctx: Any, duration_s: float) -> Any:
    from puasim.report.metrics import load_curve, refresh_lead_times, rounds_412

    data = _data(ctx)
    if metric == "latency_ms":
        tx = data.transactions
        tx = tx[tx["outcome"].isin(["success", "failure"])]
        if "method" in spec:
            tx = tx[tx["method"] == spec["method"]]
        if "from" in spec:
            tx = tx[tx["node"] == spec["from"]]
        return tx["latency"].dropna() * 1000.0
    if metric == "lead_s":
        lead = refresh_lead_times(data)
        if "method" in spec:
            lead = lead[lead["method"] == spec["method"]]
        return lead["lead"].dropna()
    if metric == "gap_s":
        gaps = data.gaps()
        if "state" in spec:
            gaps = gaps[gaps["state"] == spec["state"]]
        return gaps["duration"]
    if metric == "recovery_s":
        return rounds_412(data)["recovery"].dropna()
    if metric in ("lamp_wrong_s", "lamp_lag_s"):
        frames = ctx.cache.get("lamps")
        if frames is None:
            from puasim.report.lamps import lamps

            frames = ctx.cache["lamps"] = lamps(data)
        frame = frames.wrong if metric == "lamp_wrong_s" else frames.lag
        if "watcher" in spec:  # a phone name, or the subscriber's sip:user@host
            frame = frame[(frame["watcher"] == spec["watcher"]) | (frame["watcher_uri"] == spec["watcher"])]
        if "cause" in spec:
            frame = frame[frame["cause"] == spec["cause"]]
        return (frame["duration"] if metric == "lamp_wrong_s" else frame["lag"]).dropna()
    curve = load_curve(data, by="method" if "method" in spec else None, start=0.0, end=duration_s or None)
    if "method" in spec:
        curve = curve[curve["series"] == spec["method"]]
    return curve["rate"]


def stat_value(spec: dict, ctx: Any, duration_s: float) -> tuple[float, str]:
    """The measured value and a short description of what was measured."""
    metric = spec["metric"]
    if metric in SERIES:
        values = _series(metric, spec, ctx, duration_s)
        if "percentile" in spec:
            import numpy as np

            what = f"p{spec['percentile']:g} of {len(values)} {metric} values"
            return (float(np.percentile(values, spec["percentile"])) if len(values) else math.nan), what
        agg = spec["agg"]
        what = f"{agg} of {len(values)} {metric} values"
        if agg == "count":
            return float(len(values)), what
        return (float(getattr(values, agg)()) if len(values) else math.nan), what
    observer = getattr(ctx.trace, "observer", None)
    if metric in METHOD_COUNTS and observer is not None:  # trace level 'metrics'
        value = float(observer.transaction_count(METHOD_COUNTS[metric], spec.get("from"), spec.get("status")))
    elif metric in METHOD_COUNTS:
        tx = _data(ctx).transactions
        tx = tx[tx["method"] == METHOD_COUNTS[metric]]
        if "from" in spec:
            tx = tx[tx["node"] == spec["from"]]
        if "status" in spec:
            tx = tx[tx["status"] == spec["status"]]
        value = float(len(tx))
    else:
        value = float(_summary(ctx)[metric])
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
