"""FAISS vector generations: the exact indexes, their files, and the HNSW graphs derived from them.

A ``Generation`` holds the two exact indexes (``IndexIDMap2`` over the storage of the index's
vector format, ``qa.store.formats``; ids = SQLite row ids) of one generation number. It is
replaced whole by a write, never edited in place, so a reader holding one keeps a consistent view
while a writer builds the next.

Above ``approximate_above`` vectors an exact scan costs tens of milliseconds per question on two
cores, so unfiltered searches of that index go through an HNSW graph instead (recall@10 against
exact search >= 0.98, measured by ``eval/bench.py``). The exact index stays the source of truth:
writes, deletes, vector look-ups and filtered searches use it, and the graph is derived from it.
The graph holds only links: its vectors are the exact index's own stored codes (its labels are
positions in that storage, mapped to ids through the exact index's id map), so it is saved
without them (``IO_FLAG_SKIP_STORAGE``) and given them again when loaded; float32 vectors are no
longer kept twice, and a compressed format's graph searches the same codes an exact search does.
The graph is built on the first search that needs it (never by a write, which would rebuild it
for every batch) and saved beside its generation, so later processes load it instead of
building it again.

Damaged vectors (bytes overwritten inside a file: NaN, infinities, huge floats) must never
reach the reader as scores: a search drops hits whose score is not finite or lies beyond what a
unit vector can score against the query, and vectors read back that are not finite or longer
than unit length come back as zeros (they then score 0, like a missing vector). ``qa check``
finds such damage through the files' checksums and a fresh embedding of a sample
(``qa.store.check``); ``qa rebuild`` repairs it.

faiss is imported inside the functions that use it, so ``import qa`` stays light.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from qa.errors import IndexCorruptError, rebuild_hint
from qa.store import checksums, failures, formats
from qa.store.files import fsync_dir, graph_file, temp_file, vector_file, vectors_hint

if TYPE_CHECKING:
    from qa.embedding import Vectors
    from qa.models import VectorFormat

# faiss is a SWIG module whose partial stubs disagree with its API, so it is typed as Any here.
FaissIndex = Any
Hits = tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]  # scores, ids: (n_q, <=k) each
KINDS = ("chunks", "sentences")
# HNSW shape, tuned on the bench's 100x index (122k chunks, 478k sentences, many near-duplicate
# vectors): 48 links and a construction beam of 128 build 122k vectors in ~10 s on two cores; a
# search beam of 1,024 (or k, if larger) gave recall@10 1.000 against exact search at 0.5 ms a
# question, where a beam of 256 gave 0.98 (and 32 links with a beam of 64 only 0.95). 32 links
# with the beam of 1,024 keep recall@10 >= 0.98 over sq8 (``python -m qa_eval.vector_formats``)
# and a third less graph: at 100x the links are the largest part of the vector files.
_HNSW_LINKS = 32
_HNSW_EF_CONSTRUCTION = 128
_HNSW_EF_SEARCH = 1024
_HNSW_BUILD_SLICE = 65_536  # vectors decoded at a time while a graph is built
# Stored vectors are unit length; float32 rounding stays far inside this margin, damage does not
# (pq's decoded vectors stray further: ``formats.unit_slack``).
_UNIT_SLACK = 1e-2


class Generation:
    """The two exact FAISS indexes of one generation, and the HNSW graphs built from them."""

    def __init__(self, directory: Path, number: int, chunks: FaissIndex, sentences: FaissIndex) -> None:
        self.directory = directory
        self.number = number
        self.chunks = chunks
        self.sentences = sentences
        self._graphs: dict[str, Graph] = {}
        self._building = threading.Lock()

    @classmethod
    def empty(cls, directory: Path, dimension: int, vector_format: VectorFormat = "float32") -> Generation:
        """Generation 0 of a new index: no vectors yet."""
        return cls(directory, 0, new_index(dimension, vector_format), new_index(dimension, vector_format))

    @classmethod
    def load(cls, directory: Path, number: int) -> Generation:
        """Read the files of generation ``number``.

        Sizes are compared with the generation's checksum record first (no hashing: that is
        ``qa check``'s work).

        Raises:
            IndexCorruptError: a file is missing or damaged (names the file).
            IndexUnusableError: a file may not be read by this user (names the file).
        """
        faiss = _faiss()
        checksums.check_sizes(directory, number, KINDS)
        loaded = []
        for kind in KINDS:
            file = vector_file(directory, kind, number)
            try:
                with file.open("rb"):  # the operating system's reason, which faiss would fold away
                    pass
                loaded.append(faiss.read_index(str(file)))
            except PermissionError as e:
                raise failures.denied_reading(file) from e
            except (RuntimeError, OSError, MemoryError) as e:
                raise IndexCorruptError(
                    f"The vector file {file} is missing or damaged. {vectors_hint(directory)} "
                    f"{rebuild_hint(directory)}") from e
        return cls(directory, number, loaded[0], loaded[1])

    def index(self, kind: str) -> FaissIndex:
        return self.chunks if kind == "chunks" else self.sentences

    def successor(self) -> Generation:
        """Copies of both indexes under the next generation number, for a writer to change."""
        faiss = _faiss()
        return Generation(self.directory, self.number + 1, faiss.clone_index(self.chunks),
                          faiss.clone_index(self.sentences))

    def save(self) -> None:
        """Write both files durably (temp file, fsync, rename) with their checksum record, then
        sync the directory.

        Raises:
            IndexUnusableError: the disk is full or refuses the write (``IndexReadOnlyError``).
        """
        sums = {}
        for kind in KINDS:
            target = vector_file(self.directory, kind, self.number)
            sums[target.name] = checksums.write_index(self.index(kind), target)
        checksums.save_record(self.directory, self.number, sums)
        fsync_dir(self.directory)

    def search(self, kind: str, query: Vectors, k: int, allowed: Sequence[int] | None,
               exact: bool, approximate_above: int) -> Hits:
        """Top-k of one kind by inner product; through HNSW when the index is above the threshold.

        A filter keeps the exact scan: HNSW restricted to a few ids loses recall, and the scan
        only scores the allowed vectors.
        """
        index = self.index(kind)
        if exact or allowed is not None or index.ntotal <= approximate_above:
            return search(index, query, k, allowed)
        return search_approximate(self._graph(kind), query, k)

    def _graph(self, kind: str) -> Graph:
        """The HNSW graph of one index: cached in memory, else loaded from disk, else built.

        Readers may build it, so it is saved without the write lock: a unique temporary name,
        then a rename. Failing to save (read-only directory, a writer cleaning up meanwhile)
        only costs a rebuild in the next process. A file that is not a links-only graph of as
        many vectors (one written by an earlier version, with its own vectors) is built again.
        """
        graph = self._graphs.get(kind)
        if graph is not None:
            return graph
        with self._building:
            graph = self._graphs.get(kind)
            if graph is not None:
                return graph
            faiss = _faiss()
            exact = self.index(kind)
            file = graph_file(self.directory, kind, self.number)
            graph = load_hnsw(file, exact)
            if graph is None:
                graph = build_hnsw(exact)
                # A temp name, so a writer's clean-up removes it if this process dies.
                tmp = temp_file(file, unique=f"{os.getpid()}-{threading.get_ident()}")
                try:
                    faiss.write_index(graph.hnsw, str(tmp), faiss.IO_FLAG_SKIP_STORAGE)
                    os.replace(tmp, file)
                except (RuntimeError, OSError):
                    with contextlib.suppress(OSError):
                        tmp.unlink()
            self._graphs[kind] = graph
            return graph


class Graph:
    """An HNSW graph over an exact index's own storage: its labels are positions there, ``ids``
    maps them to row ids. ``exact`` is kept so the storage lives as long as the graph."""

    def __init__(self, hnsw: FaissIndex, exact: FaissIndex) -> None:
        self.hnsw = hnsw
        self.exact = exact
        self.ids = index_ids(exact)  # (ntotal,): row id of each position

    @property
    def ntotal(self) -> int:
        return int(self.hnsw.ntotal)


def new_index(dimension: int, vector_format: VectorFormat = "float32") -> FaissIndex:
    """An empty exact index in ``vector_format``: inner product over unit vectors (cosine),
    with explicit ids (``qa.store.formats``)."""
    return formats.new_index(dimension, vector_format)


def add(index: FaissIndex, vectors: Vectors, ids: Sequence[int]) -> None:
    """Add vectors under ``ids``; the first vectors of a trained format train it, and sq8
    widens its ranges for vectors outside them (``qa.store.formats``)."""
    if ids:
        formats.ensure_trained(index, vectors)
        formats.make_room(index, np.asarray(vectors, dtype=np.float32))
        index.add_with_ids(vectors, np.asarray(ids, dtype=np.int64))


def remove(index: FaissIndex, ids: Sequence[int]) -> None:
    if ids:
        index.remove_ids(np.asarray(ids, dtype=np.int64))


def index_ids(index: FaissIndex) -> npt.NDArray[np.int64]:
    """The ids an exact index holds, in insertion order."""
    faiss = _faiss()
    ids: npt.NDArray[np.int64] = faiss.vector_to_array(index.id_map).astype(np.int64)
    return ids


def stored(index: FaissIndex, ids: Sequence[int], dimension: int) -> Vectors:
    """The vectors under ``ids`` exactly as stored, damage included: (len(ids), dimension)."""
    if not ids:
        return np.zeros((0, dimension), dtype=np.float32)
    return np.asarray(index.reconstruct_batch(np.asarray(ids, dtype=np.int64)), dtype=np.float32)


def reconstruct(index: FaissIndex, ids: Sequence[int], dimension: int) -> Vectors:
    """The stored vectors under ``ids``, (len(ids), dimension), with any damaged one (not finite,
    or longer than unit length) replaced by zeros so that it scores 0 instead of NaN or 1e38."""
    vectors = stored(index, ids, dimension)
    with np.errstate(all="ignore"):
        longest = 1 + formats.unit_slack(index, _UNIT_SLACK)
        bad = ~np.isfinite(vectors).all(axis=1) | (np.linalg.norm(vectors, axis=1) > longest)
    if bad.any():
        vectors[bad] = 0.0
    return vectors


def sane_hits(scores: npt.NDArray[np.float32], ids: npt.NDArray[np.int64], query: Vectors,
              k: int, slack: float = _UNIT_SLACK) -> tuple[Hits, bool]:
    """The first ``k`` hits of each row without the scores only a damaged vector gives (not
    finite, or beyond the query's length: the most a unit vector can score), rows padded with
    -1 ids as faiss pads them; and whether a search deeper could fill what damage emptied."""
    with np.errstate(all="ignore"):
        limit = np.linalg.norm(np.asarray(query, dtype=np.float32), axis=1, keepdims=True) * (1 + slack)
        good = np.isfinite(scores) & (np.abs(scores) <= limit) & (ids >= 0)
    if good[:, :k].all() or not (~good & (ids >= 0)).any():  # sound, or only faiss's own padding
        return (scores[:, :k], ids[:, :k]), False
    out_scores = np.full((len(scores), k), -np.finfo(np.float32).max, dtype=np.float32)
    out_ids = np.full((len(ids), k), -1, dtype=np.int64)
    for row in range(len(scores)):
        kept = np.flatnonzero(good[row])[:k]
        out_scores[row, :len(kept)] = scores[row, kept]
        out_ids[row, :len(kept)] = ids[row, kept]
    return (out_scores, out_ids), not bool((out_ids >= 0).all())


def _sane_search(run: Callable[[int], tuple[Any, Any]], query: Vectors, k: int, most: int,
                 slack: float = _UNIT_SLACK) -> Hits:
    """Top-k by ``run(depth)``, searching deeper while damaged vectors' hits were dropped (a
    damaged index still answers from its sound vectors, never from NaN or 1e38 scores)."""
    depth = k
    while True:
        scores, ids = run(depth)
        hits, deeper = sane_hits(np.asarray(scores, dtype=np.float32), np.asarray(ids, dtype=np.int64), query, k, slack)
        if not deeper or depth >= most:
            return hits
        depth = min(most, depth * 4)


def search(index: FaissIndex, query: Vectors, k: int, allowed: Sequence[int] | None = None) -> Hits:
    """Exact top-k, optionally only among ``allowed`` ids; -1 ids pad rows with fewer hits (or
    stand where a damaged vector's hit was dropped, see ``sane_hits``)."""
    faiss = _faiss()
    k = min(k, index.ntotal if allowed is None else len(allowed))
    if k <= 0:
        n = len(query)
        return np.zeros((n, 0), dtype=np.float32), np.zeros((n, 0), dtype=np.int64)
    query = np.ascontiguousarray(query, dtype=np.float32)
    if allowed is not None and not formats.filters_in_place(index):
        return _search_decoded(index, query, k, allowed)
    params = None
    if allowed is not None:
        params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(np.asarray(allowed, dtype=np.int64)))
    most = index.ntotal if allowed is None else len(allowed)
    return _sane_search(lambda depth: index.search(query, depth, params=params), query, k, most,
                        formats.unit_slack(index, _UNIT_SLACK))


def _search_decoded(index: FaissIndex, query: Vectors, k: int, allowed: Sequence[int]) -> Hits:
    """Exact top-k among ``allowed`` for a storage faiss cannot filter (pq): the allowed vectors
    are decoded and scored here, as ``search`` would score them."""
    wanted = np.unique(np.asarray(allowed, dtype=np.int64))
    present = wanted[np.isin(wanted, index_ids(index))]
    kept = stored(index, present.tolist(), index.d)  # (n_allowed, dim)
    with np.errstate(all="ignore"):
        scores = np.ascontiguousarray(query @ kept.T, dtype=np.float32)  # (n_q, n_allowed)
    order = np.argsort(-np.nan_to_num(scores, nan=-np.inf), axis=1, kind="stable")

    def run(depth: int) -> tuple[Any, Any]:
        top = order[:, :depth]
        return np.take_along_axis(scores, top, axis=1), present[top]

    return _sane_search(run, query, k, len(present), formats.unit_slack(index, _UNIT_SLACK))


def search_approximate(graph: Graph, query: Vectors, k: int) -> Hits:
    """Top-k through an HNSW graph (``build_hnsw``); shapes as ``search``."""
    faiss = _faiss()
    k = min(k, graph.ntotal)
    query = np.ascontiguousarray(query, dtype=np.float32)

    def run(depth: int) -> tuple[Any, Any]:
        scores, positions = graph.hnsw.search(
            query, depth, params=faiss.SearchParametersHNSW(efSearch=max(_HNSW_EF_SEARCH, depth)))
        return scores, np.where(positions >= 0, graph.ids[np.maximum(positions, 0)], -1)

    return _sane_search(run, query, k, graph.ntotal, formats.unit_slack(graph.exact, _UNIT_SLACK))


def build_hnsw(exact: FaissIndex) -> Graph:
    """An HNSW graph over the vectors of an exact IndexIDMap2, sharing its storage.

    faiss adds to a graph's storage as it links, so the graph is linked over a scratch copy of
    the storage (the same format and training, filled with the decoded vectors a slice at a
    time; encoding them again gives the same codes; sq8 for pq) that then gives way to the exact
    index's own.
    """
    faiss = _faiss()
    storage = faiss.downcast_index(exact.index)
    if isinstance(storage, faiss.IndexPQ):
        # PQ links by a table of L2 distances between centroids, which inner-product linking mixes
        # with negated products (recall@10 0.955 at 6,000 vectors): link over sq8 codes of the
        # decoded vectors instead, then search the pq codes.
        holder = formats.new_index(storage.d, "sq8")
        formats.ensure_trained(holder, storage.reconstruct_n(0, min(storage.ntotal, _HNSW_BUILD_SLICE)))
    else:
        holder = faiss.clone_index(exact)  # its trained storage, emptied below
    scratch = faiss.downcast_index(holder.index)
    scratch.reset()
    hnsw = faiss.IndexHNSW(scratch, _HNSW_LINKS)
    hnsw.hnsw.efConstruction = _HNSW_EF_CONSTRUCTION
    for first in range(0, storage.ntotal, _HNSW_BUILD_SLICE):
        hnsw.add(storage.reconstruct_n(first, min(_HNSW_BUILD_SLICE, storage.ntotal - first)))  # (n, dim)
    return _attached(hnsw, exact)


def load_hnsw(file: Path, exact: FaissIndex) -> Graph | None:
    """The graph saved in ``file`` over ``exact``'s storage; None when it is absent, unreadable,
    of another size or not a links-only graph (one written by an earlier version)."""
    faiss = _faiss()
    try:
        hnsw = faiss.read_index(str(file), faiss.IO_FLAG_SKIP_STORAGE)
    except (RuntimeError, OSError):
        return None
    if not isinstance(hnsw, faiss.IndexHNSW) or hnsw.storage is not None or hnsw.ntotal != exact.ntotal:
        return None
    return _attached(hnsw, exact)


def _attached(hnsw: FaissIndex, exact: FaissIndex) -> Graph:
    """``hnsw`` searching ``exact``'s own storage (the scratch or missing one released)."""
    faiss = _faiss()
    storage = faiss.downcast_index(exact.index)
    hnsw.storage = storage
    hnsw.own_fields = False
    hnsw.referenced_objects = [storage]
    return Graph(hnsw, exact)


def _faiss() -> Any:
    """Import faiss where it is needed, so ``import qa`` stays light."""
    import faiss

    return faiss
