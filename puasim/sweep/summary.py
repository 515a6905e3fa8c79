"""The HTML summary of a sweep: each metric against each swept parameter, with the spread over seeds.

For a parameter ``p`` and a metric ``m`` the picture shows, for every value of
``p``, the median of ``m`` over the seeds (a line per combination of the other
parameters) and a band from the lowest to the highest seed.  A table lists the
runs that did not pass.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any

from puasim.sweep.plan import Sweep

#: metrics pictured first when the sweep collects them (docs/metrics.md)
HEADLINE = ("gap_none_s", "longest_gap_s", "gaps", "requests", "peak_rate", "rounds_412", "failures",
            "latency_p99_ms", "lead_min_s")
MAX_PICTURES = 24


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def bands(table: Any, param: str, metric: str, others: list[str]) -> Any:
    """Median, min and max of ``metric`` over seeds by ``param`` (and the other parameters)."""
    ok = table[table["verdict"] != "error"]
    keys = [param, *others]
    return ok.groupby(keys, sort=True)[metric].agg(["median", "min", "max"]).reset_index()


def picture(table: Any, param: str, metric: str, others: list[str]) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.0, 3.2))
    b = bands(table, param, metric, others)
    groups = b.groupby(others, sort=True) if others else [((), b)]
    for key, g in groups:
        label = ", ".join(f"{o}={v}" for o, v in zip(others, key if isinstance(key, tuple) else (key,), strict=False))
        numeric = g[param].dtype.kind in "iuf"
        x = g[param] if numeric else g[param].astype(str)
        line = ax.plot(x, g["median"], marker="o", label=label or None)[0]
        ax.fill_between(x, g["min"], g["max"], alpha=0.2, color=line.get_color())
    ax.set_xlabel(param)
    ax.set_ylabel(metric)
    ax.set_title(f"{metric} by {param} (median, band: min-max over seeds)", fontsize=9)
    if others:
        ax.legend(fontsize=7)
    fig.tight_layout()
    data = _png(fig)
    plt.close(fig)
    return data


def write_summary(table: Any, sweep: Sweep, out: Path) -> Path:
    """``out/summary.html``: counts, pictures, the runs that did not pass."""
    names = list(sweep.names)
    metrics = [m for m in HEADLINE if m in sweep.metrics] + [m for m in sweep.metrics if m not in HEADLINE]
    parts = [
        "<!doctype html><meta charset='utf-8'><title>puasim sweep</title>",
        "<style>body{font-family:sans-serif;margin:2em}img{margin:4px}td,th{padding:2px 8px;text-align:left}</style>",
        f"<h1>Sweep of {html.escape(Path(sweep.base_file).name)}</h1>",
        f"<p>{len(table)} runs: {int((table['verdict'] == 'pass').sum())} pass, "
        f"{int((table['verdict'] == 'fail').sum())} fail, {int((table['verdict'] == 'error').sum())} error; "
        f"seeds {html.escape(_seed_text(sweep.seeds))}; parameters: {html.escape(', '.join(names) or '(none)')}.</p>",
    ]
    shown = 0
    if names and len(table):
        parts.append("<h2>Metrics against parameters</h2>")
        for metric in metrics:
            for param in names:
                if shown >= MAX_PICTURES:
                    break
                others = [n for n in names if n != param]
                parts.append(f"<img alt='{html.escape(metric)} by {html.escape(param)}' "
                             f"src='data:image/png;base64,{picture(table, param, metric, others)}'>")
                shown += 1
    elif len(table):
        parts.append("<h2>Spread over seeds</h2><table><tr><th>metric</th><th>min</th><th>median</th><th>max</th></tr>")
        for metric in metrics:
            s = table[metric]
            parts.append(f"<tr><td>{metric}</td><td>{s.min():g}</td><td>{s.median():g}</td><td>{s.max():g}</td></tr>")
        parts.append("</table>")
    bad = table[table["verdict"] != "pass"]
    if len(bad):
        parts.append("<h2>Runs that did not pass</h2><table><tr><th>run</th>"
                     + "".join(f"<th>{html.escape(n)}</th>" for n in [*names, "seed", "verdict", "expectations failed", "error"])
                     + "</tr>")
        for _, r in bad.head(200).iterrows():
            cells = [r["run"], *(r[n] for n in names), r["seed"], r["verdict"], r["expectations_failed"], r["error"]]
            parts.append("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>")
        parts.append("</table>")
    parts.append("<p>The table: results.parquet (one row per run; columns in docs/sweeps.md).</p>")
    path = out / "summary.html"
    path.write_text("\n".join(parts) + "\n", encoding="utf-8")
    return path


def _seed_text(seeds: tuple[int, ...]) -> str:
    if len(seeds) > 2 and list(seeds) == list(range(seeds[0], seeds[-1] + 1)):
        return f"{seeds[0]}-{seeds[-1]}"
    return ",".join(map(str, seeds))


__all__ = ["bands", "picture", "write_summary"]
