"""What the benchmarks share to measure this tree against another commit in the same run.

:func:`baseline_tree` checks a revision out into a temporary ``git worktree``
(removed afterwards); :func:`compile_tree` writes a tree's bytecode before
anything is timed.  Both stop the benchmark with a one-line message and exit
status 2 when they cannot do their job.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

REPO = Path(__file__).resolve().parents[1]


def fail(message: str, prog: str | None = None) -> NoReturn:
    """Print ``prog: message`` on stderr and exit 2."""
    print(f"{prog or Path(sys.argv[0]).stem}: {message}", file=sys.stderr)
    raise SystemExit(2)


@contextlib.contextmanager
def baseline_tree(rev: str, prefix: str = "bench_") -> Iterator[Path]:
    """A temporary git worktree of ``rev`` (removed afterwards)."""
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    path = tmp / "baseline"
    made = subprocess.run(
        ["git", "-C", str(REPO), "worktree", "add", "--detach", "--quiet", str(path), rev],
        check=False, capture_output=True, text=True,
    )
    if made.returncode != 0:
        tmp.rmdir()
        last = (made.stderr.strip().splitlines() or ["(no message)"])[-1]
        fail(f"--baseline {rev}: cannot check it out: {last}")
    try:
        yield path
    finally:
        subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(path)], check=False)
        with contextlib.suppress(OSError):
            tmp.rmdir()


def compile_tree(tree: Path) -> None:
    """Write the bytecode of ``tree``'s package before any run is measured.

    With ``PYTHONDONTWRITEBYTECODE`` set (as on the shared test machine) a
    tree without up-to-date ``__pycache__`` files, such as the freshly
    checked-out baseline or a module just edited, is compiled again by every
    run, about 1.1 G instructions (0.3 to 0.5 CPU-s) counted in its CPU time,
    while the other side may have its bytecode: the ratio would be off by
    several per cent either way.  ``compileall`` writes the files whatever
    that variable says, so both sides start equal.
    """
    out = subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(tree / "puasim")],
        check=False, capture_output=True, text=True,
    )
    if out.returncode != 0:
        last = ((out.stdout + out.stderr).strip().splitlines() or ["(no message)"])[-1]
        fail(f"cannot compile {tree / 'puasim'}: {last}")
