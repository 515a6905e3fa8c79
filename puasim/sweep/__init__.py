"""Parameter sweeps: many independent runs of one scenario, on a local process pool or Dask.

A sweep is a base scenario, overrides (a grid or a list of cases) and a seed
range.  Each run is the base scenario with its overrides applied through the
scenario layer (so a bad override is reported like a bad field of the file),
run at the ``metrics`` trace level when its expectations allow it.  The
merged results are one tidy table (one row per run) written as Parquet beside
an HTML summary.  The format is documented in ``docs/sweeps.md``.

This layer knows no protocol: it only builds scenarios, runs them and
collects their digests and summary metrics.
"""

from puasim.sweep.overrides import Override, OverrideError, resolve
from puasim.sweep.plan import Run, Sweep, plan_runs
from puasim.sweep.seeds import parse_seeds

__all__ = ["Override", "OverrideError", "Run", "Sweep", "parse_seeds", "plan_runs", "resolve"]
