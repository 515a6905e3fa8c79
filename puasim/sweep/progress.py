"""The progress display of a sweep: runs done of total, runs failed, ETA (tqdm, on a terminal only)."""

from __future__ import annotations

import sys
from typing import IO, Any


class SweepProgress:
    """A bar over runs; ``enabled=False`` (not a terminal, or ``--quiet``) makes it silent."""

    def __init__(self, total: int, done: int = 0, enabled: bool = True, stream: IO[str] | None = None) -> None:
        self.failed = 0
        self.bar: Any = None
        if enabled:
            from tqdm import tqdm

            self.bar = tqdm(
                total=total, initial=done, desc="sweep", unit="run", file=sys.stderr if stream is None else stream,
                dynamic_ncols=True, bar_format="{desc} {n}/{total} runs|{bar}| [{elapsed}<{remaining}{postfix}]",
            )
            self.bar.set_postfix_str("0 failed")

    def update(self, row: dict[str, Any]) -> None:
        if row.get("verdict") != "pass":
            self.failed += 1
        if self.bar is not None:
            self.bar.set_postfix_str(f"{self.failed} failed", refresh=False)
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


__all__ = ["SweepProgress"]
