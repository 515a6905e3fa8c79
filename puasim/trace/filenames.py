"""File and folder names made from a scenario's name.

A scenario's name is text from a scenario file (``name:``) or from a trace
file's header (``meta["scenario"]``): neither is to be trusted as a path.
``../../x`` or ``a/b`` would put a trace or a report outside the folder it
belongs in.  :func:`safe_name` keeps the characters that are safe in a file
name on every platform and replaces the others; :func:`unique_names` gives
each of several names its own folder; :func:`inside` checks the result.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

#: longest name kept (a file name may have 255 bytes; room for ``.jsonl`` and a ``-N`` suffix)
MAX_LEN = 120

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def safe_name(name: str, fallback: str = "scenario") -> str:
    """``name`` as one path component: letters, digits, ``.``, ``_`` and ``-`` kept, anything
    else replaced by ``_``, no leading dot (so never ``.`` or ``..`` or a hidden file), at most
    :data:`MAX_LEN` characters.  A name that leaves nothing takes ``fallback`` (made safe the
    same way), and ``scenario`` if that leaves nothing either."""
    for text in (name, fallback, "scenario"):
        cleaned = _UNSAFE.sub("_", text).lstrip(".")[:MAX_LEN]
        if cleaned.strip("_"):
            return cleaned
    raise AssertionError("unreachable: 'scenario' is a safe name")  # pragma: no cover


def unique_names(names: Iterable[str]) -> list[str]:
    """``names`` (already safe) in order, the second and later of equal ones given ``-2``,
    ``-3``, ... (case-insensitively equal ones too, for case-insensitive file systems)."""
    taken: set[str] = set()
    result: list[str] = []
    for name in names:
        candidate, n = name, 1
        while candidate.lower() in taken:
            n += 1
            candidate = f"{name}-{n}"
        taken.add(candidate.lower())
        result.append(candidate)
    return result


def inside(base: Path, name: str) -> Path:
    """``base / name``, after checking that it is a direct child of ``base``
    (``ValueError`` otherwise: ``name`` was not made by :func:`safe_name`)."""
    path = base / name
    if path.parent != base or name in ("", ".", "..") or Path(name).name != name:
        raise ValueError(f"{name!r} is not a plain file name inside {base}")
    return path


__all__ = ["MAX_LEN", "inside", "safe_name", "unique_names"]
