"""BM25 exactly as FTS5's ``bm25()`` computes it, from statistics summed over several indexes.

FTS5 scores a row with the statistics of its own table: the row count, the mean row length and,
for each phrase of the query, how many rows hold it. A corpus split into shards has one table
per shard, so FTS5's scores from two shards are not comparable: a word that one shard's
articles use often weighs little there and much in a shard where it is rare. Here each shard
hands over its part of a query (``Postings``: its counts, and each phrase's hits per row with
the column weights applied) and ``scores`` applies FTS5's formula with the counts of all shards
added up, so every row gets the score it would have in one index holding every shard's rows
(``tests/test_shards.py`` compares it with FTS5 itself, to 1e-9).

FTS5's formula (``fts5_aux.c``), with k1 = 1.2 and b = 0.75, for a row D and phrases q::

    score(D) = sum over q of IDF(q) * f(q, D) * (k1 + 1) / (f(q, D) + k1 * (1 - b + b * |D| / avgdl))
    IDF(q) = log((N - n(q) + 0.5) / (n(q) + 0.5)), or 1e-6 where that is not positive

where f is the phrase's hits in the row, each weighted by its column's weight, |D| the row's
tokens in all columns, avgdl the table's tokens over its rows N, and n(q) the rows holding q.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

K1 = 1.2
B = 0.75
MIN_IDF = 1e-6  # FTS5's floor for a phrase held by more than half the rows
_PHRASE = re.compile(r'"((?:[^"]|"")*)"')


@dataclass(frozen=True)
class Postings:
    """One index's part of a BM25 query: what FTS5's ``bm25()`` reads of its table.

    ``frequencies[i]`` maps each row holding phrase ``i`` to its weighted hits; ``sizes`` holds
    the tokens of every such row. ``holding[i]``, when given, is how many rows of the table hold
    phrase ``i``: then ``frequencies`` may list only some of them (the rows to be scored), and
    only those are scored.
    """

    rows: int
    tokens: int
    frequencies: tuple[dict[int, float], ...]
    sizes: dict[int, int]
    holding: tuple[int, ...] | None = None

    def held(self, phrase: int) -> int:
        """How many rows of the table hold the ``phrase``-th phrase."""
        return self.holding[phrase] if self.holding is not None else len(self.frequencies[phrase])


def phrases(match: str) -> list[str]:
    """The quoted phrases of an FTS5 MATCH expression as ``qa.retrieval.fts_query`` writes it
    (``"a" OR "b"``), unquoted."""
    return [m.group(1).replace('""', '"') for m in _PHRASE.finditer(match)]


def varints(blob: bytes) -> list[int]:
    """The SQLite varints of an FTS5 record (``%_docsize.sz``, the averages row of ``%_data``)."""
    values: list[int] = []
    value = 0
    for byte in blob:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            values.append(value)
            value = 0
    return values


def scores(parts: Sequence[Postings]) -> list[dict[int, float]]:
    """Each part's rows that hold any phrase, with their BM25 (higher is better) under the
    statistics of all parts together.

    Returns one dict per part, row id -> score, in ``parts``' order.
    """
    rows = sum(p.rows for p in parts)
    if rows == 0:
        return [{} for _ in parts]
    mean_length = sum(p.tokens for p in parts) / rows
    width = max((len(p.frequencies) for p in parts), default=0)
    holding = [sum(p.held(i) for p in parts) for i in range(width)]
    idf = [max(math.log((rows - n + 0.5) / (n + 0.5)), 0.0) or MIN_IDF for n in holding]
    out: list[dict[int, float]] = []
    for part in parts:
        scored: dict[int, float] = {}
        for weight, hits in zip(idf, part.frequencies, strict=True):
            for row, f in hits.items():
                norm = K1 * (1 - B + B * part.sizes[row] / mean_length)
                scored[row] = scored.get(row, 0.0) + weight * f * (K1 + 1) / (f + norm)
        out.append(scored)
    return out
