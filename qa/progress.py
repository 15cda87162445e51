"""Progress of long work (ingest, rebuild): nothing, a tqdm bar on stderr, or the caller's callback."""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[int, int], None]  # a caller's callback: (done, total)


def reporter(progress: bool | Progress, total: int, desc: str) -> Callable[[int], None]:
    """``advance(n)`` after ``n`` more of ``total`` items; ``advance(-1)`` ends it, and a callback
    then hears ``(total, total)``: the work is done even if some items were skipped."""
    if callable(progress):
        callback = progress
        done = 0

        def call(n: int) -> None:
            nonlocal done
            done = total if n < 0 else done + n
            callback(done, total)

        return call
    if not progress or total == 0:
        return lambda n: None
    from tqdm import tqdm

    bar = tqdm(total=total, unit="vec", desc=desc, dynamic_ncols=True)

    def update(n: int) -> None:
        if n < 0:
            bar.close()
        else:
            bar.update(n)

    return update
