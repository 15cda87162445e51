"""Shards: one corpus split over several index directories, searched and written as one index.

A shard is an ordinary index directory. A shard set is a directory that holds its shards
(``shard-00``, ``shard-01``, ...) and ``shards.json`` (``ShardManifest``), which names them in
routing order; the manifest is written last and atomically, so a directory without one is not
yet a shard set. ``QA`` opens a shard set, or a list of index directories, as ``Shards``: a view
that presents the shards to the retriever and the reader as one index, so that both run
unchanged and answer as one index holding every shard's articles would:

- row ids are made global: the shard's number above bit ``SHARD_BITS``, its own id below, so a
  passage's chunk id, a sentence id and the vectors they name stay unambiguous;
- dense searches ask every shard for its top k and keep the best k (cosines of unit vectors
  from one model are comparable across shards as they are);
- BM25 is FTS5's own formula with the statistics of all shards added up (``qa.store.bm25``),
  not each shard's FTS5 ``bm25()``: a shard's FTS5 scores its rows with its own row count,
  mean length and document frequencies, and a word that one shard's articles use often weighs
  little there and much in another (on the dev half in 4 shards that cost R@1, see
  ``eval/shard_eval.py``);
- term counts (the common words left out of a query, the reader's IDF) are the shards' sums.

Articles go to a shard by a stable hash of their id (``shard_of``: SHA-256, never Python's
salted ``hash()``), so re-ingesting an article replaces it in the shard it was written to; a
delete asks every shard, so it finds the article wherever it is. Each shard commits its own
writes, crash-safely as one index does; an ingest that spans shards is one commit per shard and
batch, and a re-run of one cut off between them skips what was committed.

The shards are asked one after another in this process (a snapshot is per thread, and on two
cores threads would gain little); the cost per shard is measured in ``eval/shard_eval.py``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from qa.errors import IndexMismatchError, IndexNotFoundError, rebuild_hint
from qa.indexing import BATCH_VECTORS, ingest_articles
from qa.ingest import DEFAULT_MAX_BYTES, iter_paths, read_articles
from qa.models import Article, ArticleInfo, AuditEntry, ChunkText, IndexSettings, IndexStats, IngestReport
from qa.progress import Progress
from qa.store import DEFAULT_APPROXIMATE_ABOVE, MANIFEST, CheckReport, Kind, SentenceRow, Store, bm25, read_manifest
from qa.store.check import DEFAULT_SAMPLE
from qa.store.files import atomic_write, present
from qa.store.rebuild import DocumentEncoder

if TYPE_CHECKING:
    from qa.embedding import Vectors
    from qa.store.vectors import Hits

SHARDS_MANIFEST = "shards.json"
SHARD_BITS = 40  # a shard's own row ids stay below 2**40; its number goes above
_LOCAL = (1 << SHARD_BITS) - 1
IndexLocation = str | os.PathLike[str] | Sequence[str | os.PathLike[str]]


class ShardManifest(BaseModel):
    """``shards.json``: the shards of a set, relative to its directory, in routing order."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: Literal[1] = 1
    routing: Literal["sha256"] = "sha256"  # shard_of: SHA-256 of the article id, modulo the count
    shards: list[str] = Field(min_length=1)


def shard_name(number: int) -> str:
    """The directory of shard ``number`` inside a shard set."""
    return f"shard-{number:02d}"


def shard_of(article_id: str, count: int) -> int:
    """The shard an article belongs in: the first 8 bytes of the SHA-256 of its id, modulo
    ``count``; the same in every process and on every machine.

    Raises:
        ValueError: ``count`` is below 1.
    """
    if count < 1:
        raise ValueError(f"a shard set needs at least one shard, got {count}")
    return int.from_bytes(hashlib.sha256(article_id.encode("utf-8")).digest()[:8], "big") % count


def global_id(shard: int, local: int) -> int:
    """The id a shard's row has in the merged view."""
    return (shard << SHARD_BITS) | local


def split_id(row: int) -> tuple[int, int]:
    """(shard, the shard's own id) of a global row id."""
    return row >> SHARD_BITS, row & _LOCAL


@dataclass(frozen=True)
class ShardLayout:
    """Where a shard set lives: ``root`` (the directory of ``shards.json``, or the common parent
    of a list of shards) and its shard directories in routing order."""

    root: Path
    directories: tuple[Path, ...]
    manifest: bool  # root holds (or, once made, will hold) shards.json

    def new(self) -> bool:
        """Whether no shard of the set holds an index yet."""
        if self.manifest:
            return not present(self.root / SHARDS_MANIFEST)
        return not any(present(d / MANIFEST) for d in self.directories)

    def recorded(self) -> IndexSettings | None:
        """The settings the first existing shard's manifest records (the others must agree)."""
        for directory in self.directories:
            if present(directory / MANIFEST):
                return read_manifest(directory)
        return None


def locate(index: IndexLocation, shards: int | None = None) -> Path | ShardLayout:
    """The one index directory ``index`` names, or the shard set it names: a list of index
    directories, a directory holding ``shards.json``, or (``shards`` given) a new set there.

    Raises:
        ValueError: an empty list, or ``shards`` below 1 or unlike the list's length.
        IndexMismatchError: ``shards`` differs from the set's count, or the directory holds one
            index, not a shard set.
    """
    if shards is not None and shards < 1:
        raise ValueError(f"a shard set needs at least one shard, got {shards}")
    if not isinstance(index, (str, os.PathLike)):
        directories = tuple(Path(d) for d in index)
        if not directories:
            raise ValueError("give at least one shard directory")
        if shards is not None and shards != len(directories):
            raise ValueError(f"{len(directories)} shard directories given, but shards={shards}")
        root = Path(os.path.commonpath([d.resolve() for d in directories]))
        return ShardLayout(root, directories, manifest=False)
    root = Path(index)
    if present(root / SHARDS_MANIFEST):
        manifest = read_shard_manifest(root)
        if shards is not None and shards != len(manifest.shards):
            raise IndexMismatchError(
                f"The index in {root} is split into {len(manifest.shards)} shards, not {shards}: ingest "
                f"with --shard-by {len(manifest.shards)} (or without it), or rebuild it into {shards}. "
                f"{rebuild_hint(root)}")
        return ShardLayout(root, tuple(root / name for name in manifest.shards), manifest=True)
    if shards is None:
        return root
    if present(root / MANIFEST):
        raise IndexMismatchError(
            f"The index in {root} is one index, not a shard set: ingest into it without --shard-by, "
            f"or build the shards in a new directory.")
    return ShardLayout(root, tuple(root / shard_name(i) for i in range(shards)), manifest=True)


def read_shard_manifest(root: Path) -> ShardManifest:
    """The shard set's manifest.

    Raises:
        IndexMismatchError: it is unreadable, or names a shard outside the set's directory.
    """
    path = root / SHARDS_MANIFEST
    try:
        manifest = ShardManifest.model_validate_json(path.read_bytes())
    except (OSError, ValidationError) as e:
        raise IndexMismatchError(
            f"The shard manifest {path} is unreadable or from another version of article-qa "
            f"({str(e).splitlines()[0]}). {rebuild_hint(root)}") from e
    for name in manifest.shards:
        if Path(name).name != name or name in ("", ".", ".."):
            raise IndexMismatchError(f"The shard manifest {path} names {name!r}, which is not a directory "
                                     f"inside {root}. {rebuild_hint(root)}")
    return manifest


class Shards:
    """Several shard ``Store``s presented as one index (see the module docstring).

    Example:
        >>> shards = Shards.open(locate("big-index"))
        >>> shards.stats().chunks == sum(s.stats().chunks for s in shards.stores)
        True
    """

    def __init__(self, root: Path, stores: Sequence[Store]) -> None:
        if not stores:
            raise ValueError("a shard set needs at least one shard")
        self.directory = root
        self.stores = list(stores)

    @classmethod
    def open(cls, layout: ShardLayout, settings: IndexSettings | None = None, create: bool = False,
             approximate_above: int = DEFAULT_APPROXIMATE_ABOVE) -> Shards:
        """Open every shard of ``layout`` (with ``create``, make the missing ones, then write
        ``shards.json`` last); the shards must share ``settings``.

        Raises:
            IndexNotFoundError: a shard holds no index and ``create`` is false.
            IndexMismatchError: a shard was built with other settings.
        """
        stores = [Store.open(d, settings, create=create, approximate_above=approximate_above)
                  for d in layout.directories]
        if layout.manifest and not present(layout.root / SHARDS_MANIFEST):
            if not create:
                raise IndexNotFoundError(f"No index in {layout.root}: build one with "
                                         f"`qa ingest PATH --index {layout.root} --shard-by N`.")
            names = [d.name for d in layout.directories]
            atomic_write(layout.root / SHARDS_MANIFEST, ShardManifest(shards=names).model_dump_json(indent=2).encode())
        return cls(layout.root, stores)

    @property
    def settings(self) -> IndexSettings:
        return self.stores[0].settings

    # ----------------------------------------------------------------------------- writing
    def writable(self) -> None:
        """Refuse, before any work, a write some shard cannot take (``Store.writable``)."""
        for store in self.stores:
            store.writable()

    def ingest(self, targets: Iterable[str | os.PathLike[str]], encoder: DocumentEncoder, *,
               max_bytes: int = DEFAULT_MAX_BYTES, progress: bool | Progress = False,
               batch_vectors: int = BATCH_VECTORS, replace: bool = True, actor: str | None = None) -> IngestReport:
        """Read files, directories or globs once and ingest each article into its shard
        (``shard_of``), as ``qa.indexing.ingest_articles`` does for one index; one report."""
        self.writable()
        started = time.perf_counter()
        articles, rejected = read_articles(iter_paths(targets), max_bytes=max_bytes)
        routed: list[list[Article]] = [[] for _ in self.stores]
        for article in articles:
            routed[shard_of(article.id, len(self.stores))].append(article)
        reports = [ingest_articles(store, group, encoder, progress=progress, batch_vectors=batch_vectors,
                                   replace=replace, actor=actor)
                   for store, group in zip(self.stores, routed, strict=True) if group]
        return IngestReport(
            added=[a for r in reports for a in r.added], updated=[a for r in reports for a in r.updated],
            unchanged=[a for r in reports for a in r.unchanged],
            rejected=[*rejected, *(x for r in reports for x in r.rejected)],
            held=[h for r in reports for h in r.held], chunks_written=sum(r.chunks_written for r in reports),
            seconds=time.perf_counter() - started)

    def delete(self, article_id: str, actor: str | None = None) -> bool:
        """Remove an article from whichever shard holds it; returns whether one did."""
        # Every shard is asked (a list, not a generator): a list of shards given to QA may hold
        # the article twice.
        return any([store.delete(article_id, actor=actor) for store in self.stores])

    # ----------------------------------------------------------------------------- whole index
    @contextlib.contextmanager
    def snapshot(self) -> Iterator[None]:
        """Every shard's ``Store.snapshot`` at once: each shard's reads see one committed state."""
        with contextlib.ExitStack() as stack:
            for store in self.stores:
                stack.enter_context(store.snapshot())
            yield

    def generation(self) -> int:
        """The sum of the shards' generations: it grows with every write to any shard."""
        return sum(store.generation() for store in self.stores)

    def stats(self) -> IndexStats:
        """The shards' counts and sizes added up."""
        parts = [store.stats() for store in self.stores]
        return IndexStats(
            directory=str(self.directory), articles=sum(p.articles for p in parts),
            chunks=sum(p.chunks for p in parts), sentences=sum(p.sentences for p in parts),
            chunk_vectors=sum(p.chunk_vectors for p in parts),
            sentence_vectors=sum(p.sentence_vectors for p in parts), settings=self.settings,
            approximate=any(p.approximate for p in parts), size_bytes=sum(p.size_bytes for p in parts))

    def verify_database(self) -> None:
        """Every shard's SQLite quick check (``Store.verify_database``)."""
        for store in self.stores:
            store.verify_database()

    def check(self, encoder: DocumentEncoder | None = None, sample: int = DEFAULT_SAMPLE, seed: int = 0) -> list[str]:
        """Verify every shard; the problems found, each naming its shard."""
        return self.inspect(encoder, sample, seed).problems

    def inspect(self, encoder: DocumentEncoder | None = None, sample: int = DEFAULT_SAMPLE,
                seed: int = 0) -> CheckReport:
        """Every shard's ``Store.inspect``, its problems and notes prefixed with the shard."""
        merged = CheckReport()
        for store in self.stores:
            report = store.inspect(encoder, sample, seed)
            merged.problems.extend(f"{store.directory}: {p}" for p in report.problems)
            merged.notes.extend(f"{store.directory}: {n}" for n in report.notes)
            merged.rebuild_repairs = merged.rebuild_repairs and report.rebuild_repairs
        return merged

    def audit_log(self, limit: int | None = None) -> list[AuditEntry]:
        """Every shard's writes, newest first (at most ``limit``)."""
        entries = sorted((e for store in self.stores for e in store.audit_log(limit)),
                         key=lambda e: e.at, reverse=True)
        return entries if limit is None else entries[:limit]

    # ----------------------------------------------------------------------------- articles
    def _holder(self, article_id: str) -> tuple[int, Store] | None:
        """The shard holding ``article_id``: the one it routes to first, then the others (a list
        of shards given to ``QA`` need not have been routed by ``shard_of``)."""
        first = shard_of(article_id, len(self.stores))
        for number in [first, *(n for n in range(len(self.stores)) if n != first)]:
            if self.stores[number].has_article(article_id):
                return number, self.stores[number]
        return None

    def article(self, article_id: str) -> Article | None:
        held = self._holder(article_id)
        return held[1].article(article_id) if held else None

    def article_text(self, article_id: str) -> str:
        held = self._holder(article_id)
        return held[1].article_text(article_id) if held else ""

    def articles(self) -> list[ArticleInfo]:
        """Every shard's articles, by title (as one index lists them)."""
        return sorted((a for store in self.stores for a in store.articles()), key=lambda a: a.title)

    def content_hashes(self) -> dict[str, str]:
        return {k: v for store in self.stores for k, v in store.content_hashes().items()}

    # ----------------------------------------------------------------------------- retrieval
    def dense_chunks(self, query: Vectors, k: int, allowed: Sequence[int] | None = None) -> Hits:
        """The best ``k`` of every shard's top ``k`` chunks; ids global. Shapes as ``Store.dense_chunks``."""
        local = self._by_shard(allowed) if allowed is not None else None
        return _best([(n, store.dense_chunks(query, k, local.get(n, []) if local is not None else None))
                      for n, store in enumerate(self.stores)], k)

    def dense_sentences(self, query: Vectors, k: int) -> Hits:
        """The best ``k`` of every shard's top ``k`` sentences; ids global."""
        return _best([(n, store.dense_sentences(query, k)) for n, store in enumerate(self.stores)], k)

    def lexical_chunks(self, match: str, k: int, allowed: Sequence[int] | None = None) -> list[tuple[int, float]]:
        """Top-k chunks by BM25 with every shard's statistics (``qa.store.bm25``); ids global."""
        if not match or (allowed is not None and not allowed):
            return []
        keep = set(allowed) if allowed is not None else None
        parts = bm25.scores([store.lexical_postings(match, "chunks") for store in self.stores])
        scored = [(global_id(n, row), s) for n, part in enumerate(parts) for row, s in part.items()]
        if keep is not None:
            scored = [(row, s) for row, s in scored if row in keep]
        return sorted(scored, key=lambda pair: pair[1], reverse=True)[:k]

    def lexical_sentences(self, match: str, ids: Sequence[int]) -> dict[int, float]:
        """BM25 of the given sentences with every shard's statistics; those without a hit left out."""
        if not match or not ids:
            return {}
        local = self._by_shard(ids)
        parts = bm25.scores([store.lexical_sentence_postings(match, local.get(n, []))
                             for n, store in enumerate(self.stores)])
        return {global_id(n, row): s for n, part in enumerate(parts) for row, s in part.items()}

    def term_documents(self, words: Sequence[str], kind: Kind = "sentences") -> tuple[int, dict[str, int]]:
        """Rows of all shards, and how many hold each word: the shards' counts added up."""
        total = 0
        counts = dict.fromkeys(words, 0)
        for store in self.stores:
            rows, held = store.term_documents(words, kind)
            total += rows
            for word, n in held.items():
                counts[word] += n
        return total, counts

    def chunk_ids_where(
        self, article_ids: Sequence[str] | None = None, title_contains: str | None = None,
        author_contains: str | None = None, published_from: dt.date | None = None,
        published_to: dt.date | None = None,
    ) -> list[int]:
        """Global ids of the chunks whose article passes every given filter."""
        return [global_id(n, i) for n, store in enumerate(self.stores) for i in store.chunk_ids_where(
            article_ids, title_contains, author_contains, published_from, published_to)]

    def chunks(self, ids: Sequence[int]) -> dict[int, ChunkText]:
        """Chunks by global id, each carrying that id; unknown ids left out."""
        found: dict[int, ChunkText] = {}
        for n, local in self._by_shard(ids).items():
            for i, chunk in self.stores[n].chunks(local).items():
                found[global_id(n, i)] = chunk.model_copy(update={"chunk_id": global_id(n, i)})
        return found

    def chunk_vectors(self, ids: Sequence[int]) -> Vectors:
        """Stored vectors of the given chunks, in the order of ``ids``: (len(ids), dim)."""
        return self._vectors(ids, "chunks")

    def sentence_vectors(self, ids: Sequence[int]) -> Vectors:
        """Stored vectors of the given sentences, in the order of ``ids``: (len(ids), dim)."""
        return self._vectors(ids, "sentences")

    def chunks_of_sentences(self, sentence_ids: Sequence[int]) -> list[tuple[int, int]]:
        """(sentence id, chunk id), both global, for every chunk that holds each given sentence."""
        return [(global_id(n, s), global_id(n, c)) for n, local in self._by_shard(sentence_ids).items()
                for s, c in self.stores[n].chunks_of_sentences(local)]

    def sentences_in(self, article_id: str, start: int, end: int) -> list[SentenceRow]:
        """The article's sentences that overlap ``[start, end)``, with global ids."""
        held = self._holder(article_id)
        if held is None:
            return []
        n, store = held
        return [replace(row, id=global_id(n, row.id)) for row in store.sentences_in(article_id, start, end)]

    def _by_shard(self, ids: Iterable[int]) -> dict[int, list[int]]:
        """Global ids grouped by shard as the shards' own ids (ids of no shard left out)."""
        grouped: dict[int, list[int]] = {}
        for row in ids:
            n, local = split_id(row)
            if n < len(self.stores):
                grouped.setdefault(n, []).append(local)
        return grouped

    def _vectors(self, ids: Sequence[int], kind: Kind) -> Vectors:
        out = np.zeros((len(ids), self.settings.dimension), dtype=np.float32)
        for n, local in self._by_shard(ids).items():
            store = self.stores[n]
            found = store.chunk_vectors(local) if kind == "chunks" else store.sentence_vectors(local)
            at = [i for i, row in enumerate(ids) if split_id(row)[0] == n]
            out[at] = found
        return out


def _best(parts: Sequence[tuple[int, Hits]], k: int) -> Hits:
    """The best ``k`` hits per query of several shards' top lists, ids made global; -1 ids (no
    hit) are dropped before merging and pad the rows again at the end. Shapes (n_q, <=k)."""
    n_q = parts[0][1][0].shape[0]
    scores = np.concatenate([hits[0] for _, hits in parts], axis=1)  # (n_q, sum of k_s)
    ids = np.concatenate([np.where(hits[1] >= 0, (n << SHARD_BITS) | hits[1], -1) for n, hits in parts], axis=1)
    ranked = np.where(ids >= 0, scores, -np.inf)
    width = min(k, ids.shape[1])
    order = np.argsort(-ranked, axis=1, kind="stable")[:, :width]  # (n_q, width)
    best_scores = np.take_along_axis(scores, order, axis=1).astype(np.float32)
    best_ids = np.take_along_axis(ids, order, axis=1).astype(np.int64)
    return best_scores.reshape(n_q, width), best_ids.reshape(n_q, width)
