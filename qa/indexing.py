"""Indexing: read files, skip what is unchanged, chunk, embed and write in crash-safe batches.

This is the write path that ``qa ingest``, the app's upload, ``QA.ingest`` and the bench share.
The encoder is the caller's (the index's embedder, or the bench's synthetic one), and a
``StageSeconds`` passed in collects where the time went.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from qa.chunking import chunk_article, split_sentences
from qa.embedding import Vectors
from qa.ingest import DEFAULT_MAX_BYTES, iter_paths, read_articles
from qa.models import Article, Chunk, IngestedArticle, IngestReport, Rejection, Replacement, Sentence
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
    known = store.content_hashes()
    added: list[IngestedArticle] = []
    updated: list[IngestedArticle] = []
    unchanged: list[IngestedArticle] = []
    rejected: list[Rejection] = []
    held: list[Replacement] = []
    todo: list[tuple[Article, list[Chunk], list[Sentence]]] = []
    seen: set[str] = set()
    for article in articles:
        if article.id in seen:
            rejected.append(Rejection(path=article.source,
                                      reason=f"a second article with id {article.id} in one batch"))
            continue
        seen.add(article.id)
        if known.get(article.id) == article.content_hash:
            unchanged.append(_ingested(article))
            continue
        if not replace and article.id in known and (stored := store.article(article.id)) is not None:
            held.append(_replacement(stored, article))
            continue
        started = time.perf_counter()
        sentences = split_sentences(article.text)
        chunks = chunk_article(article, sentences, store.settings)
        stages.chunk += time.perf_counter() - started
        if not chunks:
            rejected.append(Rejection(path=article.source, reason="no text left after cleaning"))
            continue
        (updated if article.id in known else added).append(_ingested(article))
        todo.append((article, chunks, sentences))

    total = sum(len(c) + len(s) for _, c, s in todo)
    report_progress = reporter(progress, total, "Embedding")
    try:
        written = _embed_and_write(store, todo, encoder, batch_vectors, stages, report_progress, actor)
    finally:
        report_progress(-1)  # the bar closes before any error is printed below it
    return IngestReport(added=added, updated=updated, unchanged=unchanged, rejected=rejected, held=held,
                        chunks_written=written, seconds=time.perf_counter() - start)


def _embed_and_write(store: Store, todo: list[tuple[Article, list[Chunk], list[Sentence]]],
                     encoder: DocumentEncoder, batch_vectors: int, stages: StageSeconds,
                     report_progress: Callable[[int], None], actor: str | None) -> int:
    """Embed each article in slices and commit about ``batch_vectors`` vectors at a time."""
    written = size = 0
    batch: list[Prepared] = []
    for article, chunks, sentences in todo:
        texts = [c.text for c in chunks] + [article.text[s.start : s.end] for s in sentences]
        parts = []
        for first in range(0, len(texts), _EMBED_SLICE):
            started = time.perf_counter()
            parts.append(encoder.encode_documents(texts[first : first + _EMBED_SLICE]))
            stages.embed += time.perf_counter() - started
            report_progress(min(_EMBED_SLICE, len(texts) - first))
        vectors = np.concatenate(parts)
        batch.append(Prepared(article, chunks, sentences, vectors[: len(chunks)], vectors[len(chunks) :]))
        size += len(texts)
        if size >= batch_vectors:
            written += _write(store, batch, stages, actor)
            batch, size = [], 0
    if batch:
        written += _write(store, batch, stages, actor)
    return written


def _write(store: Store, batch: list[Prepared], stages: StageSeconds, actor: str | None) -> int:
    """Commit ``batch``; returns the chunks written."""
    started = time.perf_counter()
    written = len(store.write(batch, actor=actor))
    stages.write += time.perf_counter() - started
    return written


def _replacement(stored: Article, new: Article) -> Replacement:
    return Replacement(id=new.id, source=new.source, old_title=stored.title, new_title=new.title,
                       old_chars=len(stored.text), new_chars=len(new.text), old_hash=stored.content_hash,
                       new_hash=new.content_hash)


def _ingested(article: Article) -> IngestedArticle:
    return IngestedArticle(id=article.id, title=article.title, source=article.source)
