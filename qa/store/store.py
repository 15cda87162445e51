"""The ``Store`` facade: opening an index, its one write transaction, and every read the rest uses.

The parts it joins: ``rows`` (SQLite), ``vectors`` (FAISS generations and HNSW graphs),
``lexical`` (FTS5 queries and term statistics), ``check`` (the integrity check), ``checksums``
(of the vector files), ``rebuild`` (re-embedding from the stored text), ``failures`` (the
operating system's refusals as one-line errors) and ``files`` (manifest, durable writes, write
lock). The package docstring tells how they stay in step.

An index this process cannot write (read-only media, no permission) opens read-only: every read
works, and every write is refused with ``IndexReadOnlyError`` before anything is touched.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from qa.errors import ConfigError, IndexBusyError, IndexCorruptError, IndexMismatchError, rebuild_hint
from qa.models import Article, ArticleInfo, AuditEntry, Chunk, ChunkText, IndexSettings, IndexStats, VectorFormat
from qa.progress import Progress, reporter
from qa.settings import Settings
from qa.store import audit, checksums, failures, files, formats, vectors
from qa.store.bm25 import Postings, scores
from qa.store.check import DEFAULT_SAMPLE, CheckReport, database_problems, inspect
from qa.store.files import CREATING, DATABASE, LOCK, MANIFEST, WriteLock, read_manifest
from qa.store.generations import Generations
from qa.store.lexical import Lexical
from qa.store.rebuild import DocumentEncoder, RebuildReport, catch_up, embed_rows
from qa.store.rows import Kind, Prepared, Rows, SentenceRow
from qa.store.vectors import KINDS, Generation, Hits

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
                 approximate_above: int = DEFAULT_APPROXIMATE_ABOVE, read_only: str | None = None) -> None:
        if approximate_above < 0:
            raise ValueError(f"approximate_above must be >= 0, got {approximate_above}")
        self.directory = directory
        self.settings = settings
        self.approximate_above = approximate_above
        self.read_only = read_only  # why this process cannot write the index; None if it can
        self._rows = Rows(directory, read_only=read_only is not None)
        self._lexical = Lexical(self._rows)
        self._lock = WriteLock(directory)
        self._generations = Generations(directory, self._rows)

    # ----------------------------------------------------------------------------- opening
    @classmethod
    def open(
        cls, directory: str | os.PathLike[str], settings: IndexSettings | None = None,
        create: bool = False, approximate_above: int = DEFAULT_APPROXIMATE_ABOVE, vectors: bool = True,
    ) -> Store:
        """Open (or with ``create`` make) the index in ``directory``; see ``Store`` for the rest.

        Args:
            vectors: load (and size-check) the vector files now; False opens an index whose
                vector files are damaged, for ``rebuild`` to replace them.

        Raises:
            IndexNotFoundError: no index is there and ``create`` is false.
            IndexMismatchError: the index was built with other settings.
            IndexCorruptError: a file of the index is missing or damaged.
            IndexReadOnlyError: ``create`` was asked where nothing can be written.
        """
        path = Path(directory)
        if create and not files.present(path / MANIFEST):
            try:
                path.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise failures.cannot_create(path, e.strerror or str(e)) from e
            if (why := failures.probe_read_only(path, path / DATABASE, path / LOCK)) is not None:
                raise failures.cannot_create(path, why)
            store = cls(path, settings or IndexSettings(), approximate_above)
            if store._create():
                return store
            # Another process made the index while this one waited for the lock: open theirs.
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
        if not files.present(path / DATABASE):
            raise IndexCorruptError(f"The database {path / DATABASE} is missing. {rebuild_hint(path)}")
        store = cls(path, recorded, approximate_above, failures.probe_read_only(path, path / DATABASE, path / LOCK))
        if store.read_only is None:
            store._rows.migrate()
        if vectors:
            store._generations.now()
        store._tidy()
        return store

    def _create(self) -> bool:
        """Make a new index here; False when another process made one while this waited.

        The ``CREATING`` marker is written before anything else and removed after the manifest,
        so a creation killed half way (a database, no manifest) is cleared and made again here,
        while a folder of index files with neither (a lost manifest) is refused
        (``files.refuse_lost_manifest``, which ``QA`` also asks before any model loads).
        """
        marker = self.directory / CREATING
        with self._lock.held():
            if files.present(self.directory / MANIFEST):
                return False
            files.refuse_lost_manifest(self.directory)
            with failures.writing(marker, self.directory):
                files.atomic_write(marker, b"")
                for leftover in files.index_files(self.directory):
                    if leftover != marker:
                        leftover.unlink()  # a killed creation's: the marker is written first
                with failures.writing(self.directory / DATABASE, self.directory):
                    self._rows.create()
                empty = Generation.empty(self.directory, self.settings.dimension, self.settings.vector_format)
                empty.save()
                # The manifest comes last: a directory without one is not yet an index.
                with failures.writing(self.directory / MANIFEST, self.directory):
                    files.write_manifest(self.directory, self.settings)
                marker.unlink()
                files.fsync_dir(self.directory)
            self._generations.replace(empty)
        return True

    def writable(self) -> None:
        """Refuse, before any work, a write this process cannot make.

        Raises:
            IndexReadOnlyError: the index is on read-only media or this user may not write it.
        """
        if self.read_only is not None:
            raise failures.read_only(self.directory, self.read_only)

    def _tidy(self) -> None:
        """Remove files a killed writer left behind (older generations, temp files), if no
        writer is at work; a crash after a commit but before its cleanup leaves such files."""
        if self.read_only is not None or not files.stray_files(self.directory, self.generation()):
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
        """The generation this read uses (see ``qa.store.generations``)."""
        return self._generations.now()

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[None]:
        """Every read of this thread inside the block sees one committed state of the index.

        SQLite's reads run in one read transaction (under WAL: the state as of its first read,
        whatever writers commit meanwhile), and the vectors are those of the generation that
        state names. Blocks nest (the outer one holds).

        Raises:
            IndexBusyError: writers moved on so fast that this state's vector files are gone;
                ask again.
        """
        with self._rows.read_transaction(), self._generations.pinned():
            yield

    # ----------------------------------------------------------------------------- writing
    def write(self, upserts: Sequence[Prepared], deletes: Sequence[str] = (),
              wait_seconds: float = 30.0, actor: str | None = None) -> list[Chunk]:
        """Replace or add articles and delete others in one crash-safe step.

        New FAISS files are saved under the next generation number before the SQLite
        transaction that names it commits (see the package docstring); the audit log gets one
        row per article added, replaced or deleted in that same transaction, by ``actor``
        (default ``audit.local_actor()``). Returns the written chunks with their new ids.

        Raises:
            IndexBusyError: another writer held the lock for ``wait_seconds``.
            IndexReadOnlyError: the index cannot be written (read-only media, permissions).
            IndexUnusableError: the disk is full (the index stays as it was).
        """
        self.writable()
        with self._lock.held(wait_seconds):
            new = self._vectors_now().successor()
            written: list[Chunk] = []

            def change() -> None:
                before = audit.previous(self._rows.connection(), [*deletes, *(p.article.id for p in upserts)])
                chunk_ids, sentence_ids = self._rows.delete_articles([*deletes, *(p.article.id for p in upserts)])
                vectors.remove(new.chunks, chunk_ids)
                vectors.remove(new.sentences, sentence_ids)
                for prepared in upserts:
                    inserted = self._rows.insert(prepared)
                    vectors.add(new.chunks, prepared.chunk_vectors, inserted.chunk_ids)
                    vectors.add(new.sentences, prepared.sentence_vectors, inserted.sentence_ids)
                    written.extend(inserted.chunks)
                audit.record(self._rows.connection(), _audit_entries(actor or audit.local_actor(), before,
                                                                     upserts, deletes))

            self._commit(new, change)
            return written

    def _commit(self, new: Generation, change: Callable[[], None], settings: IndexSettings | None = None) -> None:
        """In one SQLite transaction (under the write lock): ``change`` the rows, save ``new``'s
        files, record its number and commit. Whatever fails first leaves the old generation in
        force and the new one's files removed.

        ``settings`` (a new vector format) go to the manifest after the files and before the
        commit; a failure puts the old manifest back. Only a crash in between leaves the
        manifest ahead of the files, which ``qa check`` reports and ``qa rebuild`` repairs.
        """
        try:
            with self._rows.transaction():
                change()
                new.save()
                if settings is not None:
                    with failures.writing(self.directory / MANIFEST, self.directory):
                        files.write_manifest(self.directory, settings)
                self._rows.set_generation(new.number)
        except BaseException:
            files.remove_generation(self.directory, new.number)
            if settings is not None:
                with contextlib.suppress(OSError):
                    files.write_manifest(self.directory, self.settings)
            raise
        self._generations.replace(new)
        if settings is not None:
            self.settings = settings
        files.remove_stray_files(self.directory, new.number)

    def delete(self, article_id: str, actor: str | None = None) -> bool:
        """Remove an article everywhere (logged as by ``actor``); returns whether it was there."""
        if not self._rows.has_article(article_id):
            return False
        self.write([], [article_id], actor=actor)
        return True

    def audit_log(self, limit: int | None = None) -> list[AuditEntry]:
        """Every write the audit log holds, newest first (at most ``limit``); see ``qa.store.audit``."""
        try:
            return audit.read(self._rows.connection(), limit)
        except sqlite3.DatabaseError as e:
            raise self._rows.failure(e, "read") from e

    def rebuild(self, encoder: DocumentEncoder, progress: bool | Progress = False,
                wait_seconds: float = 30.0, vector_format: VectorFormat | None = None) -> RebuildReport:
        """Re-embed every chunk and sentence from the stored text into a new generation, which
        replaces the old one in one commit (see ``qa.store.rebuild``); the old vector files are
        never read, so damaged ones are repaired. ``encoder`` must be the index's embedder.

        Vectors are embedded as float32 (the 100x bench's 600k vectors hold 0.9 GB meanwhile),
        then stored in ``vector_format`` (default: the manifest's), a trained format learning
        from them (``formats.convert``); a new format is recorded in the manifest with the commit.

        Raises:
            IndexBusyError: another writer held the lock for ``wait_seconds`` after the embedding.
            IndexReadOnlyError: the index cannot be written.
            ConfigError: ``pq`` was asked for an index too small to train it.
        """
        self.writable()
        started = time.perf_counter()
        target = vector_format or self.settings.vector_format
        planned = {kind: self._rows.row_ids(kind) for kind in KINDS}
        advance = reporter(progress, sum(len(ids) for ids in planned.values()), "Re-embedding")
        built = {kind: vectors.new_index(self.settings.dimension) for kind in KINDS}
        try:
            for kind in KINDS:
                embed_rows(self._rows, kind, planned[kind], encoder, built[kind], advance, self.settings)
        finally:
            advance(-1)
        built = {kind: formats.convert(index, target) for kind, index in built.items()}
        with self._lock.held(wait_seconds):
            catch_up(self._rows, planned, built, encoder, self.settings)  # the writes made while it embedded
            new = Generation(self.directory, self.generation() + 1, built["chunks"], built["sentences"])
            self._commit(new, lambda: None, self._with_format(target))
        articles, chunks, sentences = self._rows.counts()
        return RebuildReport(articles, chunks, sentences, new.number, time.perf_counter() - started)

    def convert(self, vector_format: VectorFormat, wait_seconds: float = 30.0) -> RebuildReport:
        """Store the vectors in ``vector_format`` without a model: the stored vectors, decoded,
        go into a new generation (``qa rebuild --vector-format F --reuse-vectors``). From a
        compressed format they keep its rounding; ``rebuild`` re-embeds instead.

        Raises:
            IndexCorruptError: the vector files fail their checksums (re-embed with ``rebuild``).
            IndexBusyError: another writer held the lock for ``wait_seconds``.
            IndexReadOnlyError: the index cannot be written.
            ConfigError: ``pq`` was asked for an index too small to train it, or the index is pq
                (re-embed with ``rebuild`` to leave it).
        """
        self.writable()
        started = time.perf_counter()
        with self._lock.held(wait_seconds):
            current = self._vectors_now()
            if formats.format_of(current.chunks) == "pq" and vector_format != "pq":
                raise ConfigError(
                    f"The vectors of {self.directory} are pq codes, which keep too little of each vector "
                    f"to convert (cosine 0.9-0.99 to the original): re-embed them from the stored text "
                    f"instead: `qa rebuild --index {self.directory} --vector-format {vector_format}`.")
            problems, _ = checksums.verify(self.directory, current.number, KINDS)
            if problems:
                raise IndexCorruptError(
                    f"{problems[0]}, so its vectors cannot be converted. Re-embed them from the stored "
                    f"text instead: `qa rebuild --index {self.directory} --vector-format {vector_format}`.")
            new = Generation(self.directory, current.number + 1,
                             *(formats.convert(current.index(kind), vector_format) for kind in KINDS))
            self._commit(new, lambda: None, self._with_format(vector_format))
        articles, chunks, sentences = self._rows.counts()
        return RebuildReport(articles, chunks, sentences, new.number, time.perf_counter() - started)

    def _with_format(self, vector_format: VectorFormat) -> IndexSettings | None:
        """The settings to record for ``vector_format``; None when the manifest already says so."""
        if vector_format == self.settings.vector_format:
            return None
        return self.settings.model_copy(update={"vector_format": vector_format})

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
        """BM25 of the given sentences for an FTS5 MATCH expression (higher is better); those
        holding no phrase of it left out."""
        return scores([self._lexical.sentences(match, ids)])[0]

    def lexical_sentence_postings(self, match: str, ids: Sequence[int]) -> Postings:
        """The given sentences' part of the BM25 of an FTS5 MATCH expression, with this index's
        statistics, for scoring with other indexes' (``qa.store.bm25``; shards use it)."""
        return self._lexical.sentences(match, ids)

    def lexical_postings(self, match: str, kind: Kind) -> Postings:
        """This index's part of the BM25 of an FTS5 MATCH expression, for scoring with other
        indexes' statistics (``qa.store.bm25``; shards use it)."""
        return self._lexical.postings(match, kind)

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
        author_contains: str | None = None, published_from: dt.date | None = None,
        published_to: dt.date | None = None,
    ) -> list[int]:
        """Ids of the chunks whose article passes every given filter."""
        return self._rows.chunk_ids_where(article_ids, title_contains, author_contains, published_from,
                                          published_to)

    def chunks(self, ids: Sequence[int]) -> dict[int, ChunkText]:
        """Chunks by id with their article's metadata; unknown ids are left out."""
        return self._rows.chunks(ids)

    def sentences_in(self, article_id: str, start: int, end: int) -> list[SentenceRow]:
        """Sentences of an article that overlap ``[start, end)``, in order, with their text."""
        return self._rows.sentences_in(article_id, start, end)

    def has_article(self, article_id: str) -> bool:
        """Whether the index holds an article with this id (one primary-key lookup)."""
        return self._rows.has_article(article_id)

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

    def verify_database(self) -> None:
        """SQLite's ``quick_check``: about one read of the file (6 ms for the sample's 5.6 MB).

        Raises:
            IndexCorruptError: the file is damaged (with how to rebuild).
        """
        failed = database_problems(self._rows)
        if failed:
            raise IndexCorruptError(f"{failed}. {rebuild_hint(self.directory)}")

    def check(self, encoder: DocumentEncoder | None = None, sample: int = DEFAULT_SAMPLE, seed: int = 0) -> list[str]:
        """Verify the index; returns the problems found (empty when healthy). See ``inspect``."""
        return self.inspect(encoder, sample, seed).problems

    def inspect(self, encoder: DocumentEncoder | None = None, sample: int = DEFAULT_SAMPLE,
                seed: int = 0) -> CheckReport:
        """Verify the database, the vector files' checksums and, given the index's ``encoder``,
        ``sample`` seeded chunks and sentences re-embedded (``qa.store.check``)."""
        return inspect(self._rows, self._vectors_now, self.settings, encoder, sample, seed)


def _audit_entries(actor: str, before: dict[str, audit.Stored], upserts: Sequence[Prepared],
                   deletes: Sequence[str]) -> list[AuditEntry]:
    """The audit rows of one write: an add or replace per upsert, a delete per deleted article
    that was there (``before``: the articles as stored before the write)."""
    entries = [audit.entry(actor, "delete", article_id, old.title, old.source, old.content_hash, None)
               for article_id in dict.fromkeys(deletes) if (old := before.get(article_id)) is not None]
    for p in upserts:
        replaced = before.get(p.article.id)
        entries.append(audit.entry(actor, "add" if replaced is None else "replace", p.article.id, p.article.title,
                                   p.article.source, replaced.content_hash if replaced else None,
                                   p.article.content_hash))
    return entries
