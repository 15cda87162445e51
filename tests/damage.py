"""Damage as the issue found it, for the tests of checks, rebuilds and reads of damaged vectors."""

from __future__ import annotations

import random
from pathlib import Path


def overwrite_inside(file: Path, length: int = 40_000) -> None:
    """Overwrite ``length`` bytes in the middle of ``file`` (its size kept) as the issue's 40 KB
    did: a run of NaN floats, then seeded random bytes (huge, tiny and infinite floats)."""
    size = file.stat().st_size
    length = min(length, size // 3)
    with file.open("r+b") as f:
        f.seek(size // 3)
        f.write(b"\xff" * (length // 2) + random.Random(0).randbytes(length - length // 2))
    assert file.stat().st_size == size
