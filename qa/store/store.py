"""The ``Store`` facade: opening an index, its one write transaction, and every read the rest uses.

The parts it joins: ``rows`` (SQLite), ``vectors`` (FAISS generations and HNSW graphs),
``lexical`` (FTS5 queries and term statistics), ``check`` (the integrity check) and ``files``
(manifest, durable writes, write lock). The package docstring tells how they stay in step.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from qa.errors import IndexBusyError, IndexCorruptError, IndexMismatchError, IndexUnusableError, rebuild_hint
from qa.models import Article, ArticleInfo, Chunk, ChunkText, IndexSettings, IndexStats
from qa.settings import Settings
from qa.store import files, vectors
from qa.store.check import find_problems
from qa.store.files import DATABASE, MANIFEST, WriteLock, read_manifest
from qa.store.lexical import Lexical
from qa.store.rows import Kind, Prepared, Rows, SentenceRow
from qa.store.vectors import Generation, Hits

if TYPE_CHECKING:
    from qa.embedding import Vectors

DEFAULT_APPROXIMATE_ABOVE: int = Settings.model_fields["approximate_above"].default


class Store:
    """An index directory opened for reading and (under a lock) writing.

    Args:
        approximate_above: an index of more vectors than this is searched through HNSW
            (``Settings.approximate_above``, from ``$QA_APPROXIMATE_ABOVE``, passes it in).

    Example:
        >>> store = Store.open("index", IndexSettings(), create=True)
        >>> store.stats().chunks
        0
    """

    def __init__(self, directory: Path, settings: IndexSettings,
                 approximate_above: int = DEFAULT_APPROXIMATE_ABOVE) -> None:
        if approximate_above < 0:
            raise ValueError(f"approximate_above must be >= 0, got {approximate_above}")
        self.directory = directory
        self.settings = settings
        self.approximate_above = approximate_above
        self._rows = Rows(directory)
        self._lexical = Lexical(self._rows)
        self._lock = WriteLock(directory)
        self._swap = threading.Lock()
        self._vectors: Generation | None = None

    # ----------------------------------------------------------------------------- opening
    @classmethod
    def open(
        cls, directory: str | os.PathLike[str], settings: IndexSettings | None = None,
        create: bool = False, approximate_above: int = DEFAULT_APPROXIMATE_ABOVE,
    ) -> Store:
        """Open (or with ``create`` make) the index in ``directory``; see ``Store`` for the rest.

        Raises:
            IndexNotFoundError: no index is there and ``create`` is false.
            IndexMismatchError: the index was built with other settings.
            IndexCorruptError: a file of the index is missing or damaged.
        """
        path = Path(directory)
        if create and not (path / MANIFEST).exists():
            path.mkdir(parents=True, exist_ok=True)
            store = cls(path, settings or IndexSettings(), approximate_above)
            store._create()
            return store
        recorded = read_manifest(path)
        if settings is not None and settings != recorded:
            diffs = ", ".join(
                f"{k}: index has {getattr(recorded, k)!r}, asked for {getattr(settings, k)!r}"
                for k in IndexSettings.model_fields
                if getattr(recorded, k) != getattr(settings, k)
            )
            raise IndexMismatchError(
                f"The index in {path} was built with other settings ({diffs}): open it with its "
                f"own settings, or rebuild it. {rebuild_hint(path)}"
            )
        store = cls(path, recorded, approximate_above)
        if not (path / DATABASE).exists():
            raise IndexCorruptError(f"The database {path / DATABASE} is missing. {rebuild_hint(path)}")
        store._vectors_now()
        store._tidy()
        return store

    def _create(self) -> None:
        with self._lock.held():
            self._rows.create()
            empty = Generation.empty(self.directory, self.settings.dimension)
            empty.save()
            # The manifest comes last: a directory without one is not yet an index.
            files.write_manifest(self.directory, self.settings)
            self._vectors = empty

    def _tidy(self) -> None:
        """Remove files a killed writer left behind (older generations, temp files), if no
        writer is at work; a crash after a commit but before its cleanup leaves such files."""
        if not files.stray_files(self.directory, self.generation()):
            return  # the usual case: no lock is taken just to open an index
        try:
            with self._lock.held(wait_seconds=0):
                files.remove_stray_files(self.directory, self.generation())
        except (IndexBusyError, OSError):
            pass  # a writer is at work; it tidies when it commits

    def close(self) -> None:
        """Close this thread's database connection (using the store again opens another)."""
        self._rows.close()

    # ----------------------------------------------------------------------------- generations
    def generation(self) -> int:
        """The generation SQLite names: the FAISS files in force are ``<kind>-<generation>.faiss``."""
        return self._rows.generation()

    def _vectors_now(self) -> Generation:
        """The FAISS indexes of the generation SQLite names, reloaded if a writer moved on.

        Generations only grow: vectors newer than the generation just read are kept (a writer in
        this process committed meanwhile, and removed the older files). If a writer commits and
        removes the files of the generation just read before they load, the load is retried.
        """
        attempts = 5
        while True:
            generation = self.generation()
            current = self._vectors
            if current is not None and current.number >= generation:
                return current
            with self._swap:
                if self._vectors is not None and self._vectors.number >= generation:
                    return self._vectors
                try:
                    self._vectors = self._load(generation)
                    return self._vectors
                except IndexCorruptError:
                    attempts -= 1
                    if attempts == 0 or self.generation() == generation:
                        raise

    def _load(self, generation: int) -> Generation:
        """Generation ``generation`` from disk, checked against the row counts of SQLite."""
        loaded = Generation.load(self.directory, generation)
        _, chunks, sentences = self._rows.counts()
        if (loaded.chunks.ntotal, loaded.sentences.ntotal) != (chunks, sentences):
            raise IndexCorruptError(
                f"The index in {self.directory} is inconsistent: SQLite ({DATABASE}) holds {chunks} "
                f"chunks and {sentences} sentences, the vector files of generation {generation} "
                f"{loaded.chunks.ntotal} and {loaded.sentences.ntotal}. {rebuild_hint(self.directory)}"
            )
        return loaded

    # ----------------------------------------------------------------------------- writing
    def write(self, upserts: Sequence[Prepared], deletes: Sequence[str] = (),
              wait_seconds: float = 30.0) -> list[Chunk]:
        """Replace or add articles and delete others in one crash-safe step.

        New FAISS files are saved under the next generation number before the SQLite
        transaction that names it commits (see the package docstring). Returns the written
        chunks with their new ids.

        Raises:
            IndexBusyError: another writer held the lock for ``wait_seconds``.
        """
        with self._lock.held(wait_seconds):
            new = self._vectors_now().successor()
            written: list[Chunk] = []
            with self._rows.transaction():
                chunk_ids, sentence_ids = self._rows.delete_articles([*deletes, *(p.article.id for p in upserts)])
                vectors.remove(new.chunks, chunk_ids)
                vectors.remove(new.sentences, sentence_ids)
                for prepared in upserts:
                    inserted = self._rows.insert(prepared)
                    vectors.add(new.chunks, prepared.chunk_vectors, inserted.chunk_ids)
                    vectors.add(new.sentences, prepared.sentence_vectors, inserted.sentence_ids)
                    written.extend(inserted.chunks)
                new.save()
                self._rows.set_generation(new.number)
            with self._swap:
                self._vectors = new
            files.remove_stray_files(self.directory, new.number)
            return written

    def delete(self, article_id: str) -> bool:
        """Remove an article everywhere; returns whether it was there."""
        if not self._rows.has_article(article_id):
            return False
        self.write([], [article_id])
        return True

    # ----------------------------------------------------------------------------- vectors
    def dense_chunks(
        self, query: Vectors, k: int, allowed: Sequence[int] | None = None, exact: bool = False,
    ) -> Hits:
        """Top-k chunks by inner product, optionally only among ``allowed`` ids.

        Args:
            exact: scan every vector even above ``approximate_above`` (the bench's ground truth).

        Returns scores, ids: (n_q, <=k); -1 ids (fewer hits than k) are left in for the caller.
        """
        return self._vectors_now().search("chunks", query, k, allowed, exact, self.approximate_above)

    def dense_sentences(self, query: Vectors, k: int, exact: bool = False) -> Hits:
        """Top-k sentences by inner product (``exact`` as above). Returns scores, ids: (n_q, <=k)."""
        return self._vectors_now().search("sentences", query, k, None, exact, self.approximate_above)

    def chunk_vectors(self, ids: Sequence[int]) -> Vectors:
        """Stored vectors of the given chunks: (len(ids), dim)."""
        return vectors.reconstruct(self._vectors_now().chunks, ids, self.settings.dimension)

    def sentence_vectors(self, ids: Sequence[int]) -> Vectors:
        """Stored vectors of the given sentences: (len(ids), dim)."""
        return vectors.reconstruct(self._vectors_now().sentences, ids, self.settings.dimension)

    # ----------------------------------------------------------------------------- lexical
    def lexical_chunks(self, match: str, k: int, allowed: Sequence[int] | None = None) -> list[tuple[int, float]]:
        """Top-k chunks for an FTS5 MATCH expression as (id, score), score = -bm25 (higher better)."""
        return self._lexical.chunks(match, k, allowed)

    def lexical_sentences(self, match: str, ids: Sequence[int]) -> dict[int, float]:
        """BM25 of the given sentences for an FTS5 MATCH expression (higher is better)."""
        return self._lexical.sentences(match, ids)

    def term_documents(self, words: Sequence[str], kind: Kind = "sentences") -> tuple[int, dict[str, int]]:
        """Rows of the ``kind`` ("chunks" or "sentences") FTS5 table, and how many hold each word
        (counted by FTS5 stem, as a MATCH would; see ``Lexical.term_documents``)."""
        return self._lexical.term_documents(words, kind, self.generation())

    # ----------------------------------------------------------------------------- rows
    def content_hashes(self) -> dict[str, str]:
        """Article id -> content hash of every stored article (ingest skips unchanged ones)."""
        return self._rows.content_hashes()

    def chunks_of_sentences(self, sentence_ids: Sequence[int]) -> list[tuple[int, int]]:
        """(sentence id, chunk id) for every chunk that holds each given sentence."""
        return self._rows.chunks_of_sentences(sentence_ids)

    def chunk_ids_where(
        self, article_ids: Sequence[str] | None = None, title_contains: str | None = None,
        published_from: dt.date | None = None, published_to: dt.date | None = None,
    ) -> list[int]:
        """Ids of the chunks whose article passes every given filter."""
        return self._rows.chunk_ids_where(article_ids, title_contains, published_from, published_to)

    def chunks(self, ids: Sequence[int]) -> dict[int, ChunkText]:
        """Chunks by id with their article's metadata; unknown ids are left out."""
        return self._rows.chunks(ids)

    def sentences_in(self, article_id: str, start: int, end: int) -> list[SentenceRow]:
        """Sentences of an article that overlap ``[start, end)``, in order, with their text."""
        return self._rows.sentences_in(article_id, start, end)

    def article_text(self, article_id: str) -> str:
        """The article's text ("" for an unknown id)."""
        return self._rows.article_text(article_id)

    def article(self, article_id: str) -> Article | None:
        return self._rows.article(article_id)

    def articles(self) -> list[ArticleInfo]:
        """Every article with its chunk count, by title."""
        return self._rows.articles()

    def count(self, kind: Kind) -> int:
        """How many chunks or sentences the index holds."""
        return self._rows.count(kind)

    def row_ids(self, kind: Kind) -> list[int]:
        """Ids of every chunk or sentence, ascending."""
        return self._rows.row_ids(kind)

    def ids_by_article(self, kind: Kind) -> dict[str, list[int]]:
        """Article id -> ids of its chunks (by ordinal) or sentences (by start), articles by id."""
        return self._rows.ids_by_article(kind)

    def chunk_spans(self) -> dict[str, list[tuple[int, int]]]:
        """Article id -> (start, end) of each of its chunks, in the order they were written."""
        return self._rows.chunk_spans()

    def mean_chunk_tokens(self) -> float:
        """Mean tokens per chunk (0.0 for an empty index), unrounded."""
        return self._rows.mean_chunk_tokens()

    # ----------------------------------------------------------------------------- whole index
    def stats(self) -> IndexStats:
        loaded = self._vectors_now()
        articles, chunks, sentences = self._rows.counts()
        size = sum(f.stat().st_size for f in self.directory.iterdir() if f.is_file())
        return IndexStats(
            directory=str(self.directory), articles=articles, chunks=chunks,
            sentences=sentences, chunk_vectors=loaded.chunks.ntotal,
            sentence_vectors=loaded.sentences.ntotal, settings=self.settings,
            approximate=max(loaded.chunks.ntotal, loaded.sentences.ntotal) > self.approximate_above,
            size_bytes=size,
        )

    def check(self) -> list[str]:
        """Verify the index; returns the problems found (empty when healthy)."""
        try:
            loaded = self._vectors_now()
        except IndexUnusableError as e:
            return [str(e)]
        return find_problems(self._rows, loaded)
