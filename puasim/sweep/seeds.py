"""Seed ranges as users write them: ``1-20``, ``1,4,9``, ``1-5,10`` (also lists from YAML)."""

from __future__ import annotations

from typing import Any

#: a sweep of more seeds than this is surely a typo (``1-100000000``)
MAX_SEEDS = 1_000_000


def parse_seeds(value: Any) -> tuple[int, ...]:
    """The seeds of ``value``: a text range/list, an integer or a list of integers.

    Raises :class:`ValueError` with a one-line reason.  Order is kept and
    duplicates are dropped.
    """
    items: list[int] = []
    if isinstance(value, bool):
        raise ValueError(f"expected seeds like 1-20 or 1,2,3, got {value!r}")
    if isinstance(value, int):
        items = [value]
    elif isinstance(value, list):
        for v in value:
            if isinstance(v, bool) or not isinstance(v, int):
                raise ValueError(f"seeds must be integers, got {v!r}")
            items.append(v)
    elif isinstance(value, str):
        for part in value.replace(" ", "").split(","):
            if not part:
                raise ValueError(f"empty item in seeds {value!r}")
            lo, dash, hi = part.partition("-")
            try:
                if dash:
                    a, b = int(lo), int(hi)
                    if b < a:
                        raise ValueError(f"seed range {part!r} runs backwards")
                    if b - a >= MAX_SEEDS:
                        raise ValueError(f"seed range {part!r} has more than {MAX_SEEDS} seeds")
                    items.extend(range(a, b + 1))
                else:
                    items.append(int(part))
            except ValueError as exc:
                if "seed range" in str(exc):
                    raise
                raise ValueError(f"expected seeds like 1-20 or 1,2,3, got {value!r}") from None
    else:
        raise ValueError(f"expected seeds like 1-20 or 1,2,3, got {value!r}")
    if not items:
        raise ValueError("no seeds")
    return tuple(dict.fromkeys(items))


__all__ = ["MAX_SEEDS", "parse_seeds"]
