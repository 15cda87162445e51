"""Re-embedding every vector from the text the database already holds (``qa rebuild``).

SQLite keeps each article's full text and each chunk's and sentence's offsets, so the vector
files can always be made again without the original files (which for web uploads live only in
a temp folder). ``Store.rebuild`` embeds every row into fresh indexes outside the write lock (a
long job must not stop other writers for its whole length), then, under the lock, drops the rows
deleted meanwhile, embeds the rows added meanwhile and commits the new generation the way every
write does: files and checksum record first, then the SQLite commit that puts them in force. A
crash or failure at any point before that commit leaves the old generation in force.

Row ids are never reused (``AUTOINCREMENT``) and a row's text never changes (an update deletes
and re-inserts), so a vector embedded before the lock still belongs to its id after it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

from qa.models import IndexSettings
from qa.store import vectors
from qa.store.rows import Rows

if TYPE_CHECKING:
    from qa.embedding import Vectors

# Rows embedded per call: the same slice ingest embeds in, so progress moves as often.
SLICE = 64


class DocumentEncoder(Protocol):
    """The index's embedder, as ingest uses it: vectors of texts, in order."""

    def encode_documents(self, texts: Sequence[str]) -> Vectors: ...


@dataclass(frozen=True)
class RebuildReport:
    """What ``Store.rebuild`` did: rows re-embedded, the generation now in force, seconds taken."""

    articles: int
    chunks: int
    sentences: int
    generation: int
    seconds: float


def embed_rows(rows: Rows, kind: str, ids: Sequence[int], encoder: DocumentEncoder,
               index: vectors.FaissIndex, advance: Callable[[int], None], settings: IndexSettings) -> None:
    """Embed the stored text of ``ids`` (chunks or sentences, as an index of ``settings`` embeds
    them) into ``index`` under the same ids.

    A row deleted since ``ids`` were listed is skipped; the caller reconciles under the lock.

    Raises:
        ValueError: the encoder's vectors are not as wide as the index's.
    """
    for first in range(0, len(ids), SLICE):
        part = ids[first:first + SLICE]
        texts = rows.texts(kind, part, settings)
        present = [i for i in part if i in texts]
        if present:
            embedded = np.asarray(encoder.encode_documents([texts[i] for i in present]), dtype=np.float32)
            if embedded.shape != (len(present), index.d):
                raise ValueError(f"the encoder gave vectors of shape {embedded.shape}; the index holds "
                                 f"{index.d} dimensions: rebuild with the embedder the index was built with")
            vectors.add(index, embedded, present)
        advance(len(part))


def catch_up(rows: Rows, planned: dict[str, list[int]], built: dict[str, vectors.FaissIndex],
             encoder: DocumentEncoder, settings: IndexSettings) -> None:
    """Bring indexes embedded from the rows ``planned`` listed up to the rows there are now (the
    caller holds the write lock): drop the deleted rows' vectors, embed the added rows."""
    for kind, index in built.items():
        now, before = rows.row_ids(kind), set(planned[kind])
        vectors.remove(index, sorted(before - set(now)))
        embed_rows(rows, kind, [i for i in now if i not in before], encoder, index, lambda n: None, settings)
