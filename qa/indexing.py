"""Indexing: read files, skip what is unchanged, chunk, embed and write in crash-safe batches.

This is the write path that ``qa ingest``, the app's upload, ``QA.ingest`` and the bench share.
The encoder is the caller's (the index's embedder, or the bench's synthetic one), and a
``StageSeconds`` passed in collects where the time went. ``qa.distributed`` runs the same stages
on a Ray cluster and decides and commits through the same ``Outcomes`` and ``BatchWriter``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from qa.chunking import chunk_article, split_sentences
from qa.embedding import Vectors
from qa.ingest import DEFAULT_MAX_BYTES, iter_paths, read_articles
from qa.models import Article, Chunk, IndexSettings, IngestedArticle, IngestReport, Rejection, Replacement, Sentence
from qa.progress import Progress, reporter
from qa.store import Prepared, Store

# Articles are committed in batches of about this many vectors: a crash loses at most one batch
# of work, and each commit rewrites the FAISS files once (``Settings.batch_vectors``).
BATCH_VECTORS = 2048
# Embedding in slices releases the model between them, and a waiting question takes it before the
# next slice (``qa.embedding.bundled.QueriesFirst``), so questions asked during a long ingest wait
# for one slice, not for the whole article; progress moves per slice. Slices of 16 rather than 64
# (eval/write_latency.py, a 227 KB upload, 4 clients, 2 cores): question p95 during the upload
# 1.7x idle instead of 6.1x, for an ingest 37% longer (it now shares the CPU with the questions).
_EMBED_SLICE = 16



class DocumentEncoder(Protocol):
    """What ingest needs of an embedder: the vectors of passages and sentences, in order."""

    def encode_documents(self, texts: Sequence[str]) -> Vectors:
        """(len(texts), dimension) float32 unit vectors."""
        ...


@dataclass
class StageSeconds:
    """Seconds spent per ingest stage, added to on every call that is given this object.

    ``parse`` reads files (``ingest_paths`` only), ``chunk`` splits sentences and chunks,
    ``embed`` is the encoder's time and ``write`` the store's commits (SQLite + FAISS).
    """

    parse: float = 0.0
    chunk: float = 0.0
    embed: float = 0.0
    write: float = 0.0

    def as_dict(self) -> dict[str, float]:
        """The stages in pipeline order."""
        return {"parse": self.parse, "chunk": self.chunk, "embed": self.embed, "write": self.write}


def ingest_paths(
    store: Store, targets: Iterable[str | os.PathLike[str]], encoder: DocumentEncoder, *,
    max_bytes: int = DEFAULT_MAX_BYTES, progress: bool | Progress = False,
    batch_vectors: int = BATCH_VECTORS, timings: StageSeconds | None = None,
    replace: bool = True, actor: str | None = None,
) -> IngestReport:
    """Ingest files, directories or globs into ``store``; see ``ingest_articles``."""
    start = time.perf_counter()
    articles, rejected = read_articles(iter_paths(targets), max_bytes=max_bytes)
    if timings is not None:
        timings.parse += time.perf_counter() - start
    report = ingest_articles(store, articles, encoder, progress=progress, batch_vectors=batch_vectors,
                             timings=timings, replace=replace, actor=actor)
    return report.model_copy(update={
        "rejected": [*rejected, *report.rejected], "seconds": time.perf_counter() - start})


def ingest_articles(
    store: Store, articles: Sequence[Article], encoder: DocumentEncoder, *,
    progress: bool | Progress = False, batch_vectors: int = BATCH_VECTORS,
    timings: StageSeconds | None = None, replace: bool = True, actor: str | None = None,
) -> IngestReport:
    """Add new articles, replace changed ones and skip unchanged ones (by content hash).

    Args:
        encoder: embeds every chunk and sentence; it must be the one the index was built with.
        progress: True for a tqdm bar on stderr, or a callback ``(done, total)`` in vectors.
        batch_vectors: commit once about this many vectors are ready (at least one article).
        timings: where to add the seconds of each stage.
        replace: False holds back every article whose id is stored with other content: it is
            listed in the report's ``held`` (old and new title, size, hash) and not written,
            so that a person can confirm the replacement first (the web upload does).
        actor: who the audit log names for these writes (default: this process's user).
    """
    start = time.perf_counter()
    stages = timings if timings is not None else StageSeconds()
    outcomes = Outcomes(store, store.content_hashes(), replace)
    todo: list[tuple[Article, list[Chunk], list[Sentence]]] = []
    for article in articles:
        if not outcomes.admit(article):
            continue
        started = time.perf_counter()
        sentences = split_sentences(article.text)
        chunks = chunk_article(article, sentences, store.settings)
        stages.chunk += time.perf_counter() - started
        if outcomes.accept(article, chunks):
            todo.append((article, chunks, sentences))

    total = sum(len(c) + len(s) for _, c, s in todo)
    report_progress = reporter(progress, total, "Embedding")
    try:
        written = _embed_and_write(store, todo, encoder, batch_vectors, stages, report_progress, actor)
    finally:
        report_progress(-1)  # the bar closes before any error is printed below it
    return outcomes.report(written, time.perf_counter() - start)


def unchanged(known: Mapping[str, str], article: Article) -> bool:
    """Whether the index holds ``article`` as it is (``known``: content hash by article id)."""
    return known.get(article.id) == article.content_hash


def texts_of(article: Article, chunks: Sequence[Chunk], sentences: Sequence[Sentence],
             index: IndexSettings) -> list[str]:
    """What is embedded for an article, in the order ``prepare`` splits the vectors: chunks, then
    sentences (each as ``index.sentence_input`` has it)."""
    return [c.text for c in chunks] + [index.sentence_input(article.title, article.text[s.start : s.end])
                                       for s in sentences]


def prepare(article: Article, chunks: list[Chunk], sentences: list[Sentence], vectors: Vectors) -> Prepared:
    """An article ready to write, from the vectors of ``texts_of`` its chunks and sentences."""
    return Prepared(article, chunks, sentences, vectors[: len(chunks)], vectors[len(chunks) :])


@dataclass
class Outcomes:
    """What an ingest did with each article, decided in the order the articles come: the report's lists.

    The local path and the distributed one (``qa.distributed``) decide alike through this, so
    both skip, reject and replace the same articles.
    """

    store: Store
    known: dict[str, str]  # content hash by article id, as stored when the ingest began
    replace: bool = True
    added: list[IngestedArticle] = field(default_factory=list)
    updated: list[IngestedArticle] = field(default_factory=list)
    unchanged: list[IngestedArticle] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    held: list[Replacement] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)

    def admit(self, article: Article) -> bool:
        """Whether ``article`` is to be chunked; if not, it is filed as a second copy of an id seen
        in this run (rejected), as unchanged, or as held for a person to confirm (``replace=False``)."""
        if article.id in self.seen:
            self.rejected.append(Rejection(path=article.source,
                                           reason=f"a second article with id {article.id} in one batch"))
            return False
        self.seen.add(article.id)
        if unchanged(self.known, article):
            self.unchanged.append(_ingested(article))
            return False
        if not self.replace and article.id in self.known and (stored := self.store.article(article.id)) is not None:
            self.held.append(_replacement(stored, article))
            return False
        return True

    def accept(self, article: Article, chunks: Sequence[Chunk]) -> bool:
        """Whether the admitted, chunked ``article`` is written: one with no chunks is rejected."""
        if not chunks:
            self.rejected.append(Rejection(path=article.source, reason="no text left after cleaning"))
            return False
        (self.updated if article.id in self.known else self.added).append(_ingested(article))
        return True

    def report(self, written: int, seconds: float) -> IngestReport:
        """The report of this ingest, ``written`` chunks in ``seconds``."""
        return IngestReport(added=self.added, updated=self.updated, unchanged=self.unchanged,
                            rejected=self.rejected, held=self.held, chunks_written=written, seconds=seconds)


class BatchWriter:
    """Commits prepared articles about ``batch_vectors`` vectors at a time, whole articles only.

    Each commit is one crash-safe ``Store.write``: a crash loses at most the batch being
    gathered, and a re-run skips every article already committed (by content hash).
    """

    def __init__(self, store: Store, batch_vectors: int, stages: StageSeconds, actor: str | None) -> None:
        self.store = store
        self.batch_vectors = batch_vectors
        self.stages = stages
        self.actor = actor
        self.written = 0  # chunks committed so far
        self._batch: list[Prepared] = []
        self._size = 0

    def add(self, prepared: Prepared) -> None:
        """Gather ``prepared``; commit the batch once it holds ``batch_vectors`` vectors."""
        self._batch.append(prepared)
        self._size += len(prepared.chunk_vectors) + len(prepared.sentence_vectors)
        if self._size >= self.batch_vectors:
            self.flush()

    def flush(self) -> None:
        """Commit what is gathered (nothing when nothing is)."""
        if not self._batch:
            return
        started = time.perf_counter()
        self.written += len(self.store.write(self._batch, actor=self.actor))
        self.stages.write += time.perf_counter() - started
        self._batch, self._size = [], 0


def _embed_and_write(store: Store, todo: list[tuple[Article, list[Chunk], list[Sentence]]],
                     encoder: DocumentEncoder, batch_vectors: int, stages: StageSeconds,
                     report_progress: Callable[[int], None], actor: str | None) -> int:
    """Embed each article in slices and commit about ``batch_vectors`` vectors at a time."""
    writer = BatchWriter(store, batch_vectors, stages, actor)
    for article, chunks, sentences in todo:
        texts = texts_of(article, chunks, sentences, store.settings)
        parts = []
        for first in range(0, len(texts), _EMBED_SLICE):
            started = time.perf_counter()
            parts.append(encoder.encode_documents(texts[first : first + _EMBED_SLICE]))
            stages.embed += time.perf_counter() - started
            report_progress(min(_EMBED_SLICE, len(texts) - first))
        writer.add(prepare(article, chunks, sentences, np.concatenate(parts)))
    writer.flush()
    return writer.written


def _replacement(stored: Article, new: Article) -> Replacement:
    return Replacement(id=new.id, source=new.source, old_title=stored.title, new_title=new.title,
                       old_chars=len(stored.text), new_chars=len(new.text), old_hash=stored.content_hash,
                       new_hash=new.content_hash)


def _ingested(article: Article) -> IngestedArticle:
    return IngestedArticle(id=article.id, title=article.title, source=article.source)
