"""Indexing: read files, skip what is unchanged, chunk, embed and write in crash-safe batches.

This is the write path that ``qa ingest``, the app's upload and ``QA.ingest`` share.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Sequence

import numpy as np

from qa.chunking import chunk_article, split_sentences
from qa.embedding import Embedder
from qa.ingest import DEFAULT_MAX_BYTES, iter_paths, read_articles
from qa.models import Article, IngestReport, Rejection
from qa.store import Prepared, Store

# Articles are committed in batches of about this many vectors: a crash loses at most one batch
# of work, and each commit rewrites the FAISS files once.
_BATCH_VECTORS = 2048
_EMBED_SLICE = 64


def _batch_vectors() -> int:
    """Vectors per commit: ``$QA_BATCH_VECTORS`` when set (tests lower it to force many commits)."""
    try:
        return max(1, int(os.environ.get("QA_BATCH_VECTORS", _BATCH_VECTORS)))
    except ValueError:
        return _BATCH_VECTORS


Progress = Callable[[int, int], None]


def ingest_paths(
    store: Store, targets: Iterable[str | os.PathLike[str]], embedder: Embedder | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES, progress: bool | Progress = False,
) -> IngestReport:
    """Ingest files, directories or globs into ``store``; see ``ingest_articles``."""
    start = time.perf_counter()
    articles, rejected = read_articles(iter_paths(targets), max_bytes=max_bytes)
    report = ingest_articles(store, articles, embedder, progress=progress)
    return report.model_copy(update={
        "rejected": [*rejected, *report.rejected], "seconds": time.perf_counter() - start})


def ingest_articles(
    store: Store, articles: Sequence[Article], embedder: Embedder | None = None,
    progress: bool | Progress = False,
) -> IngestReport:
    """Add new articles, replace changed ones and skip unchanged ones (by content hash).

    Args:
        progress: True for a tqdm bar on stderr, or a callback ``(done, total)`` in vectors.
    """
    start = time.perf_counter()
    embedder = embedder or Embedder(store.settings.model_name)
    known = store.content_hashes()
    added: list[str] = []
    updated: list[str] = []
    unchanged: list[str] = []
    rejected: list[Rejection] = []
    todo: list[tuple[Article, list, list]] = []  # type: ignore[type-arg]
    seen: set[str] = set()
    for article in articles:
        if article.id in seen:
            rejected.append(Rejection(path=article.source,
                                      reason=f"a second article with id {article.id} in one batch"))
            continue
        seen.add(article.id)
        if known.get(article.id) == article.content_hash:
            unchanged.append(article.source + _title_note(article))
            continue
        sentences = split_sentences(article.text)
        chunks = chunk_article(article, sentences, store.settings)
        if not chunks:
            rejected.append(Rejection(path=article.source, reason="no text left after cleaning"))
            continue
        (updated if article.id in known else added).append(article.source + _title_note(article))
        todo.append((article, chunks, sentences))

    total = sum(len(c) + len(s) for _, c, s in todo)
    report_progress = _progress(progress, total)
    written = 0
    done = 0
    batch_vectors = _batch_vectors()
    batch: list[Prepared] = []
    size = 0
    for article, chunks, sentences in todo:
        texts = [c.text for c in chunks] + [article.text[s.start : s.end] for s in sentences]
        parts = []
        # Embedding in slices releases the model between them, so questions asked during a
        # long ingest wait for one slice, not for the whole article; progress moves per slice.
        for first in range(0, len(texts), _EMBED_SLICE):
            parts.append(embedder.encode_documents(texts[first : first + _EMBED_SLICE]))
            done += min(_EMBED_SLICE, len(texts) - first)
            report_progress(done)
        vectors = np.concatenate(parts)
        batch.append(Prepared(article, chunks, sentences, vectors[: len(chunks)], vectors[len(chunks) :]))
        size += len(texts)
        if size >= batch_vectors:
            written += len(store.write(batch))
            batch, size = [], 0
    if batch:
        written += len(store.write(batch))
    report_progress(-1)
    return IngestReport(added=added, updated=updated, unchanged=unchanged, rejected=rejected,
                        chunks_written=written, seconds=time.perf_counter() - start)


def _title_note(article: Article) -> str:
    return "" if article.source.endswith((".md", ".txt", ".html", ".htm")) else f" ({article.title})"


def _progress(progress: bool | Progress, total: int) -> Callable[[int], None]:
    """Adapt the caller's wish (nothing, a bar, a callback) to one ``update(done)`` function."""
    if callable(progress):
        callback = progress
        return lambda done: callback(total if done < 0 else done, total)
    if not progress or total == 0:
        return lambda done: None
    from tqdm import tqdm

    bar = tqdm(total=total, unit="vec", desc="Embedding", dynamic_ncols=True)

    def update(done: int) -> None:
        if done < 0:
            bar.close()
        else:
            bar.update(done - bar.n)

    return update
