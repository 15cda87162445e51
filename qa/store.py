"""Index store: SQLite (articles, chunks, sentences, FTS5) beside FAISS vector files.

Layout of an index directory::

    manifest.json            IndexSettings that shaped the index (checked on open)
    qa.sqlite3               articles, chunks, sentences, chunk_fts, sentence_fts, meta
    chunks-<gen>.faiss       IndexIDMap2 of chunk vectors, ids = chunks.id
    sentences-<gen>.faiss    IndexIDMap2 of sentence vectors, ids = sentences.id
    <kind>-<gen>.hnsw.faiss  HNSW graph over a large <kind>-<gen>.faiss (a rebuildable cache)
    .lock                    flock held by the one writer

Crash safety comes from generations: a write builds new FAISS files under the next generation
number (temp file, fsync, rename), then commits the SQLite transaction that records that number.
A crash before the commit leaves the old generation in force (the new files are strays, removed
by the next writer); a crash after it leaves the new one complete. SQLite and FAISS therefore
always agree on the generation SQLite names.

Above ``approximate_above`` vectors (``$QA_APPROXIMATE_ABOVE``, default 100,000) an exact scan
costs tens of milliseconds per question on two cores, so unfiltered searches of that index go
through an HNSW graph instead (recall@10 against exact search >= 0.98, measured by
``eval/bench.py``). The exact IndexIDMap2 stays the source of truth: writes, deletes, vector
look-ups and filtered searches use it, and the graph is derived from it. The graph is built on
the first search that needs it (never by a write, which would rebuild it for every batch) and
saved beside its generation, so later processes load it instead of building it again.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import re
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from qa.errors import IndexBusyError, IndexCorruptError, IndexError_, IndexMismatchError
from qa.models import SCHEMA_VERSION, Article, ArticleInfo, Chunk, IndexSettings, IndexStats, Sentence

if TYPE_CHECKING:
    from qa.embedding import Vectors

# faiss is a SWIG module whose partial stubs disagree with its API, so it is typed as Any here.
FaissIndex = Any

MANIFEST = "manifest.json"
DATABASE = "qa.sqlite3"
_FAISS_FILE = re.compile(r"^(chunks|sentences)-(\d+)(?:\.hnsw)?\.faiss$")
APPROXIMATE_ENV = "QA_APPROXIMATE_ABOVE"
DEFAULT_APPROXIMATE_ABOVE = 100_000
# HNSW shape, tuned on the bench's 100x index (122k chunks, 478k sentences, many near-duplicate
# vectors): 48 links and a construction beam of 128 build 122k vectors in ~10 s on two cores; a
# search beam of 1,024 (or k, if larger) gave recall@10 1.000 against exact search at 0.5 ms a
# question, where a beam of 256 gave 0.98 (and 32 links with a beam of 64 only 0.95).
_HNSW_LINKS = 48
_HNSW_EF_CONSTRUCTION = 128
_HNSW_EF_SEARCH = 1024
_TOKENIZER = "porter unicode61 remove_diacritics 2"  # FTS5's; term_documents stems with it too
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS articles (
    id TEXT PRIMARY KEY, title TEXT NOT NULL, author TEXT, published TEXT, url TEXT,
    source TEXT NOT NULL, text TEXT NOT NULL, content_hash TEXT NOT NULL, added_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    article_id TEXT NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
    ordinal INTEGER NOT NULL, start INTEGER NOT NULL, "end" INTEGER NOT NULL,
    text TEXT NOT NULL, token_count INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_article ON chunks(article_id, ordinal);
CREATE TABLE IF NOT EXISTS sentences (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    article_id TEXT NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
    start INTEGER NOT NULL, "end" INTEGER NOT NULL, paragraph INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS sentences_article ON sentences(article_id, start);
CREATE VIRTUAL TABLE IF NOT EXISTS chunk_fts USING fts5(title, body, tokenize = '{_TOKENIZER}');
CREATE VIRTUAL TABLE IF NOT EXISTS sentence_fts USING fts5(body, tokenize = '{_TOKENIZER}');
"""


@dataclass(frozen=True)
class Prepared:
    """An article ready to write: its chunks and sentences with their vectors (same order)."""

    article: Article
    chunks: list[Chunk]
    sentences: list[Sentence]
    chunk_vectors: Vectors
    sentence_vectors: Vectors


@dataclass(frozen=True)
class ChunkRow:
    """A chunk joined with the metadata of its article, as the retriever needs it."""

    id: int
    article_id: str
    title: str
    url: str | None
    published: dt.date | None
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class SentenceRow:
    id: int
    article_id: str
    start: int
    end: int
    paragraph: int
    text: str


class _Vectors:
    """The two FAISS indexes of one generation; replaced whole, never edited in place.

    ``approximate`` caches the HNSW graph of each kind once built or loaded (see ``Store``).
    """

    def __init__(self, generation: int, chunks: FaissIndex, sentences: FaissIndex) -> None:
        self.generation = generation
        self.chunks = chunks
        self.sentences = sentences
        self.approximate: dict[str, FaissIndex] = {}
        self.building = threading.Lock()


class Store:
    """An index directory opened for reading and (under a lock) writing.

    Args:
        approximate_above: an index of more vectors than this is searched through HNSW;
            default ``$QA_APPROXIMATE_ABOVE`` or ``DEFAULT_APPROXIMATE_ABOVE``.

    Example:
        >>> store = Store.open("index", IndexSettings(), create=True)
        >>> store.stats().chunks
        0
    """

    def __init__(self, directory: Path, settings: IndexSettings, approximate_above: int | None = None) -> None:
        self.directory = directory
        self.settings = settings
        self.approximate_above = _approximate_above() if approximate_above is None else approximate_above
        if self.approximate_above < 0:
            raise ValueError(f"approximate_above must be >= 0, got {self.approximate_above}")
        self._local = threading.local()
        self._swap = threading.Lock()
        self._write = threading.Lock()
        self._vectors: _Vectors | None = None
        # (generation, rows per kind, (kind, word) -> rows holding it): IDF and common-word counts.
        self._documents: tuple[int, dict[str, int], dict[tuple[str, str], int]] = (-1, {}, {})

    # ----------------------------------------------------------------------------- opening
    @classmethod
    def open(
        cls, directory: str | os.PathLike[str], settings: IndexSettings | None = None,
        create: bool = False, approximate_above: int | None = None,
    ) -> Store:
        """Open (or with ``create`` make) the index in ``directory``; see ``Store`` for the rest.

        Raises:
            IndexError_: no index is there and ``create`` is false.
            IndexMismatchError: the index was built with other settings.
            IndexCorruptError: a file of the index is missing or damaged.
        """
        path = Path(directory)
        manifest = path / MANIFEST
        if not manifest.exists():
            if not create:
                raise IndexError_(
                    f"No index in {path}: build one with `qa ingest PATH --index {path}`."
                )
            path.mkdir(parents=True, exist_ok=True)
            store = cls(path, settings or IndexSettings(), approximate_above)
            store._create()
            return store
        recorded = _read_manifest(path)
        if settings is not None and settings != recorded:
            diffs = ", ".join(
                f"{k}: index has {getattr(recorded, k)!r}, asked for {getattr(settings, k)!r}"
                for k in IndexSettings.model_fields
                if getattr(recorded, k) != getattr(settings, k)
            )
            raise IndexMismatchError(
                f"The index in {path} was built with other settings ({diffs}). Rebuild it with "
                f"`qa ingest PATH --index {path} --rebuild`, or open it with its own settings."
            )
        store = cls(path, recorded, approximate_above)
        if not (path / DATABASE).exists():
            raise IndexCorruptError(
                f"The database {path / DATABASE} is missing. Rebuild the index with "
                f"`qa ingest PATH --index {path} --rebuild`."
            )
        store._vectors_now()
        store._tidy()
        return store

    def _tidy(self) -> None:
        """Remove files a killed writer left behind (older generations, temp files), if no
        writer is at work; a crash after a commit but before its cleanup leaves such files."""
        if not self._stray_files(self.generation()):
            return  # the usual case: no lock is taken just to open an index
        try:
            with self._locked(wait_seconds=0):
                self._remove_stray_files(self.generation())
        except (IndexBusyError, OSError):
            pass  # a writer is at work; it tidies when it commits

    def _create(self) -> None:
        with self._locked():
            conn = self._conn()
            with conn:
                conn.executescript(_SCHEMA)
                conn.execute("INSERT OR IGNORE INTO meta VALUES ('generation', '0')")
            dim = self.settings.dimension
            empty = _Vectors(0, _new_index(dim), _new_index(dim))
            self._save_vectors(empty)
            # The manifest comes last: a directory without one is not yet an index.
            _atomic_write(self.directory / MANIFEST, self.settings.model_dump_json(indent=2).encode())
            self._vectors = empty

    # ----------------------------------------------------------------------------- plumbing
    def _conn(self) -> sqlite3.Connection:
        """A connection for this thread: WAL lets readers go on while a writer commits."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = sqlite3.connect(self.directory / DATABASE, timeout=30.0,
                                       isolation_level=None, check_same_thread=False)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=FULL")
                conn.execute("PRAGMA foreign_keys=ON")
            except sqlite3.DatabaseError as e:
                raise IndexCorruptError(
                    f"The database {self.directory / DATABASE} cannot be opened ({e}). Rebuild "
                    f"the index with `qa ingest PATH --index {self.directory} --rebuild`."
                ) from e
            self._local.conn = conn
        return conn

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        try:
            cursor = self._conn().execute(sql, params)
            return cursor.fetchall()
        except sqlite3.DatabaseError as e:
            raise IndexCorruptError(
                f"The database in {self.directory} cannot be read ({e}). Check it with `qa check`."
            ) from e

    def generation(self) -> int:
        rows = self._query("SELECT value FROM meta WHERE key = 'generation'")
        if not rows:
            raise IndexCorruptError(f"The database in {self.directory} has no generation record.")
        return int(rows[0][0])

    def _vectors_now(self) -> _Vectors:
        """The FAISS indexes of the generation SQLite names, reloaded if a writer moved on.

        Generations only grow: vectors newer than the generation just read are kept (a writer in
        this process committed meanwhile, and removed the older files). If a writer commits and
        removes the files of the generation just read before they load, the load is retried.
        """
        attempts = 5
        while True:
            generation = self.generation()
            current = self._vectors
            if current is not None and current.generation >= generation:
                return current
            with self._swap:
                if self._vectors is not None and self._vectors.generation >= generation:
                    return self._vectors
                try:
                    self._vectors = self._load_vectors(generation)
                    return self._vectors
                except IndexCorruptError:
                    attempts -= 1
                    if attempts == 0 or self.generation() == generation:
                        raise

    def _load_vectors(self, generation: int) -> _Vectors:
        faiss = _faiss()

        loaded = []
        for kind in ("chunks", "sentences"):
            file = self.directory / f"{kind}-{generation}.faiss"
            try:
                loaded.append(faiss.read_index(str(file)))
            except (RuntimeError, OSError) as e:
                raise IndexCorruptError(
                    f"The vector file {file} is missing or damaged. Rebuild the index with "
                    f"`qa ingest PATH --index {self.directory} --rebuild`."
                ) from e
        vectors = _Vectors(generation, loaded[0], loaded[1])
        counts = self._query("SELECT (SELECT count(*) FROM chunks), (SELECT count(*) FROM sentences)")[0]
        if (vectors.chunks.ntotal, vectors.sentences.ntotal) != (counts[0], counts[1]):
            raise IndexCorruptError(
                f"The index in {self.directory} is inconsistent: SQLite holds {counts[0]} chunks "
                f"and {counts[1]} sentences, FAISS {vectors.chunks.ntotal} and "
                f"{vectors.sentences.ntotal}. Rebuild it with `qa ingest PATH --rebuild`."
            )
        return vectors

    def _save_vectors(self, vectors: _Vectors) -> None:
        faiss = _faiss()

        for kind, index in (("chunks", vectors.chunks), ("sentences", vectors.sentences)):
            target = self.directory / f"{kind}-{vectors.generation}.faiss"
            tmp = target.with_suffix(".faiss.tmp")
            faiss.write_index(index, str(tmp))
            with tmp.open("rb") as f:
                os.fsync(f.fileno())
            os.replace(tmp, target)
        _fsync_dir(self.directory)

    @contextlib.contextmanager
    def _locked(self, wait_seconds: float = 30.0) -> Iterator[None]:
        """Hold the directory's write lock: one writer at a time, across processes."""
        with self._write:
            fd = os.open(self.directory / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
            try:
                deadline = time.monotonic() + wait_seconds
                while True:
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        break
                    except BlockingIOError:
                        if time.monotonic() >= deadline:
                            raise IndexBusyError(
                                f"The index in {self.directory} is busy: another process is "
                                "writing to it. Try again when it has finished."
                            ) from None
                        time.sleep(0.1)
                yield
            finally:
                os.close(fd)  # closing releases the flock

    # ----------------------------------------------------------------------------- writing
    def write(self, upserts: Sequence[Prepared], deletes: Sequence[str] = (),
              wait_seconds: float = 30.0) -> list[Chunk]:
        """Replace or add articles and delete others in one crash-safe step.

        Returns the written chunks with their new ids.

        Raises:
            IndexBusyError: another writer held the lock for ``wait_seconds``.
        """
        with self._locked(wait_seconds):
            old = self._vectors_now()
            conn = self._conn()
            chunks_index = _clone(old.chunks)
            sentences_index = _clone(old.sentences)
            written: list[Chunk] = []
            conn.execute("BEGIN IMMEDIATE")
            try:
                gone = [*deletes, *(p.article.id for p in upserts)]
                self._delete_rows(conn, gone, chunks_index, sentences_index)
                for prepared in upserts:
                    written.extend(self._insert(conn, prepared, chunks_index, sentences_index))
                generation = old.generation + 1
                new = _Vectors(generation, chunks_index, sentences_index)
                self._save_vectors(new)
                conn.execute("UPDATE meta SET value = ? WHERE key = 'generation'", (str(generation),))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            with self._swap:
                self._vectors = new
            self._remove_stray_files(generation)
            return written

    def _delete_rows(self, conn: sqlite3.Connection, article_ids: Sequence[str],
                     chunks_index: FaissIndex, sentences_index: FaissIndex) -> None:
        if not article_ids:
            return
        marks = ",".join("?" * len(article_ids))
        chunk_ids = [r[0] for r in conn.execute(
            f"SELECT id FROM chunks WHERE article_id IN ({marks})", article_ids)]
        sentence_ids = [r[0] for r in conn.execute(
            f"SELECT id FROM sentences WHERE article_id IN ({marks})", article_ids)]
        conn.executemany("DELETE FROM chunk_fts WHERE rowid = ?", [(i,) for i in chunk_ids])
        conn.executemany("DELETE FROM sentence_fts WHERE rowid = ?", [(i,) for i in sentence_ids])
        conn.execute(f"DELETE FROM articles WHERE id IN ({marks})", article_ids)
        if chunk_ids:
            chunks_index.remove_ids(np.asarray(chunk_ids, dtype=np.int64))
        if sentence_ids:
            sentences_index.remove_ids(np.asarray(sentence_ids, dtype=np.int64))

    def _insert(self, conn: sqlite3.Connection, p: Prepared, chunks_index: FaissIndex,
                sentences_index: FaissIndex) -> list[Chunk]:
        a = p.article
        conn.execute(
            "INSERT INTO articles VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (a.id, a.title, a.author, a.published.isoformat() if a.published else None, a.url,
             a.source, a.text, a.content_hash, dt.datetime.now(dt.UTC).isoformat(timespec="seconds")),
        )
        chunk_ids = []
        written = []
        for c in p.chunks:
            cursor = conn.execute(
                'INSERT INTO chunks (article_id, ordinal, start, "end", text, token_count) '
                "VALUES (?, ?, ?, ?, ?, ?)",
                (a.id, c.ordinal, c.start, c.end, c.text, c.token_count),
            )
            chunk_id = int(cursor.lastrowid or 0)
            chunk_ids.append(chunk_id)
            conn.execute("INSERT INTO chunk_fts (rowid, title, body) VALUES (?, ?, ?)",
                         (chunk_id, a.title, c.text))
            written.append(c.model_copy(update={"id": chunk_id}))
        sentence_ids = []
        for s in p.sentences:
            cursor = conn.execute(
                'INSERT INTO sentences (article_id, start, "end", paragraph) VALUES (?, ?, ?, ?)',
                (a.id, s.start, s.end, s.paragraph),
            )
            sentence_id = int(cursor.lastrowid or 0)
            sentence_ids.append(sentence_id)
            conn.execute("INSERT INTO sentence_fts (rowid, body) VALUES (?, ?)",
                         (sentence_id, a.text[s.start : s.end]))
        if chunk_ids:
            chunks_index.add_with_ids(p.chunk_vectors, np.asarray(chunk_ids, dtype=np.int64))
        if sentence_ids:
            sentences_index.add_with_ids(p.sentence_vectors, np.asarray(sentence_ids, dtype=np.int64))
        return written

    def _stray_files(self, keep: int) -> list[Path]:
        """FAISS files of generations other than ``keep``, and temp files."""
        strays = []
        for file in self.directory.iterdir():
            match = _FAISS_FILE.match(file.name)
            if (match and int(match.group(2)) != keep) or file.name.endswith(".faiss.tmp"):
                strays.append(file)
        return strays

    def _remove_stray_files(self, keep: int) -> None:
        for file in self._stray_files(keep):
            with contextlib.suppress(OSError):
                file.unlink()

    def delete(self, article_id: str) -> bool:
        """Remove an article everywhere; returns whether it was there."""
        if not self._query("SELECT 1 FROM articles WHERE id = ?", (article_id,)):
            return False
        self.write([], [article_id])
        return True

    # ----------------------------------------------------------------------------- reading
    def content_hashes(self) -> dict[str, str]:
        return {r[0]: r[1] for r in self._query("SELECT id, content_hash FROM articles")}

    def dense_chunks(
        self, query: Vectors, k: int, allowed: Sequence[int] | None = None, exact: bool = False,
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
        """Top-k chunks by inner product, optionally only among ``allowed`` ids.

        Args:
            exact: scan every vector even above ``approximate_above`` (the bench's ground truth).

        Returns scores, ids: (n_q, <=k); -1 ids (fewer hits than k) are left in for the caller.
        """
        return self._dense("chunks", query, k, allowed, exact)

    def dense_sentences(
        self, query: Vectors, k: int, exact: bool = False,
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
        """Top-k sentences by inner product (``exact`` as above). Returns scores, ids: (n_q, <=k)."""
        return self._dense("sentences", query, k, None, exact)

    def _dense(
        self, kind: str, query: Vectors, k: int, allowed: Sequence[int] | None, exact: bool,
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
        vectors = self._vectors_now()
        index = vectors.chunks if kind == "chunks" else vectors.sentences
        # A filter keeps the exact scan: HNSW restricted to a few ids loses recall, and the
        # scan only scores the allowed vectors.
        if exact or allowed is not None or index.ntotal <= self.approximate_above:
            return _search(index, query, k, allowed)
        return _search_approximate(self._approximate(vectors, kind, index), query, k)

    def _approximate(self, vectors: _Vectors, kind: str, exact: FaissIndex) -> FaissIndex:
        """The HNSW graph of one index: cached in memory, else loaded from disk, else built.

        Readers may build it, so it is saved without the write lock: a unique temporary name,
        then a rename. Failing to save (read-only directory, a writer cleaning up meanwhile)
        only costs a rebuild in the next process.
        """
        graph = vectors.approximate.get(kind)
        if graph is not None:
            return graph
        with vectors.building:
            graph = vectors.approximate.get(kind)
            if graph is not None:
                return graph
            faiss = _faiss()
            file = self.directory / f"{kind}-{vectors.generation}.hnsw.faiss"
            try:
                graph = faiss.read_index(str(file))
            except (RuntimeError, OSError):
                graph = None
            if graph is None or graph.ntotal != exact.ntotal:
                graph = _build_hnsw(exact)
                # Named *.faiss.tmp so a writer's clean-up removes it if this process dies.
                unique = f"{os.getpid()}-{threading.get_ident()}"
                tmp = file.with_name(f"{kind}-{vectors.generation}.hnsw.{unique}.faiss.tmp")
                try:
                    faiss.write_index(graph, str(tmp))
                    os.replace(tmp, file)
                except (RuntimeError, OSError):
                    with contextlib.suppress(OSError):
                        tmp.unlink()
            vectors.approximate[kind] = graph
            return graph

    def chunk_vectors(self, ids: Sequence[int]) -> Vectors:
        """Stored vectors of the given chunks: (len(ids), dim)."""
        return _reconstruct(self._vectors_now().chunks, ids, self.settings.dimension)

    def sentence_vectors(self, ids: Sequence[int]) -> Vectors:
        """Stored vectors of the given sentences: (len(ids), dim)."""
        return _reconstruct(self._vectors_now().sentences, ids, self.settings.dimension)

    def chunks_of_sentences(self, sentence_ids: Sequence[int]) -> list[tuple[int, int]]:
        """(sentence id, chunk id) for every chunk that holds each given sentence."""
        if not sentence_ids:
            return []
        marks = ",".join("?" * len(sentence_ids))
        rows = self._query(
            "SELECT s.id, c.id FROM sentences s JOIN chunks c ON c.article_id = s.article_id "
            f'AND c.start <= s.start AND c."end" >= s."end" WHERE s.id IN ({marks})',
            list(sentence_ids))
        return [(int(r[0]), int(r[1])) for r in rows]

    def chunk_ids_where(
        self, article_ids: Sequence[str] | None = None, title_contains: str | None = None,
        published_from: dt.date | None = None, published_to: dt.date | None = None,
    ) -> list[int]:
        """Ids of the chunks whose article passes every given filter."""
        where, params = ["1"], []  # type: ignore[var-annotated]
        if article_ids is not None:
            where.append(f"a.id IN ({','.join('?' * len(article_ids))})")
            params.extend(article_ids)
        if title_contains:
            where.append("instr(lower(a.title), lower(?)) > 0")
            params.append(title_contains)
        if published_from:
            where.append("a.published >= ?")
            params.append(published_from.isoformat())
        if published_to:
            where.append("a.published <= ?")
            params.append(published_to.isoformat())
        rows = self._query(
            f"SELECT c.id FROM chunks c JOIN articles a ON a.id = c.article_id WHERE {' AND '.join(where)}",
            params)
        return [int(r[0]) for r in rows]

    def lexical_chunks(
        self, match: str, k: int, allowed: Sequence[int] | None = None
    ) -> list[tuple[int, float]]:
        """Top-k chunks for an FTS5 MATCH expression as (id, score), score = -bm25 (higher better).

        The title column weighs half as much as the body: it is repeated on every chunk.
        """
        if not match or (allowed is not None and not allowed):
            return []
        restrict = "" if allowed is None else f" AND rowid IN ({','.join('?' * len(allowed))})"
        rows = self._query(
            "SELECT rowid, -bm25(chunk_fts, 0.5, 1.0) AS s FROM chunk_fts WHERE chunk_fts MATCH ?"
            f"{restrict} ORDER BY s DESC LIMIT ?", (match, *(allowed or ()), k))
        return [(int(r[0]), float(r[1])) for r in rows]

    def lexical_sentences(self, match: str, ids: Sequence[int]) -> dict[int, float]:
        """BM25 of the given sentences for an FTS5 MATCH expression (higher is better)."""
        if not match or not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self._query(
            f"SELECT rowid, -bm25(sentence_fts) FROM sentence_fts WHERE sentence_fts MATCH ? "
            f"AND rowid IN ({marks})", (match, *ids))
        return {int(r[0]): float(r[1]) for r in rows}

    def term_documents(self, words: Sequence[str], kind: str = "sentences") -> tuple[int, dict[str, int]]:
        """Rows of the ``kind`` ("chunks" or "sentences") FTS5 table, and how many hold each word.

        A word counts by its FTS5 stem: a temporary FTS5 table with the same tokenizer stems it,
        and fts5vocab gives the stem's row count, which is cheap where a MATCH would read every
        row holding a common word. A word FTS5 splits in two counts as its rarer half.
        """
        table = {"chunks": "chunk_fts", "sentences": "sentence_fts"}[kind]
        generation = self.generation()
        if self._documents[0] != generation:  # counts stay valid until the next write
            self._documents = (generation, {}, {})
        _, totals, cache = self._documents
        if kind not in totals:
            totals[kind] = int(self._query(f"SELECT count(*) FROM {kind}")[0][0])
        conn = self._conn()
        if not getattr(self._local, "stemmer", False):
            conn.execute(f"CREATE VIRTUAL TABLE IF NOT EXISTS temp.stem USING fts5(x, tokenize = {_TOKENIZER!r})")
            conn.execute("CREATE VIRTUAL TABLE IF NOT EXISTS temp.stem_vocab USING fts5vocab(temp, stem, 'row')")
            for name in ("chunk_fts", "sentence_fts"):
                conn.execute(f"CREATE VIRTUAL TABLE IF NOT EXISTS temp.{name}_vocab "
                             f"USING fts5vocab(main, {name}, 'row')")
            self._local.stemmer = True
        for word in words:
            if (kind, word) in cache:
                continue
            self._query("DELETE FROM temp.stem")
            self._query("INSERT INTO temp.stem(x) VALUES (?)", (word,))
            stems = [r[0] for r in self._query("SELECT term FROM temp.stem_vocab")]
            counts = [self._query(f"SELECT doc FROM temp.{table}_vocab WHERE term = ?", (t,)) for t in stems]
            cache[(kind, word)] = min((int(c[0][0]) if c else 0 for c in counts), default=0)
        return totals[kind], {w: cache[(kind, w)] for w in words}

    def chunks(self, ids: Sequence[int]) -> dict[int, ChunkRow]:
        """Chunks by id with their article's metadata; unknown ids are left out."""
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self._query(
            f'SELECT c.id, c.article_id, a.title, a.url, a.published, c.start, c."end", c.text '
            f"FROM chunks c JOIN articles a ON a.id = c.article_id WHERE c.id IN ({marks})",
            list(ids))
        return {
            int(r[0]): ChunkRow(int(r[0]), r[1], r[2], r[3],
                                dt.date.fromisoformat(r[4]) if r[4] else None, r[5], r[6], r[7])
            for r in rows
        }

    def sentences_in(self, article_id: str, start: int, end: int) -> list[SentenceRow]:
        """Sentences of an article that overlap ``[start, end)``, in order, with their text."""
        rows = self._query(
            'SELECT s.id, s.start, s."end", s.paragraph, substr(a.text, s.start + 1, s."end" - s.start) '
            "FROM sentences s JOIN articles a ON a.id = s.article_id "
            'WHERE s.article_id = ? AND s."end" > ? AND s.start < ? ORDER BY s.start',
            (article_id, start, end))
        return [SentenceRow(int(r[0]), article_id, r[1], r[2], r[3], r[4]) for r in rows]

    def article_text(self, article_id: str) -> str:
        rows = self._query("SELECT text FROM articles WHERE id = ?", (article_id,))
        return str(rows[0][0]) if rows else ""

    def article(self, article_id: str) -> Article | None:
        rows = self._query(
            "SELECT id, title, author, published, url, source, text, content_hash "
            "FROM articles WHERE id = ?", (article_id,))
        if not rows:
            return None
        r = rows[0]
        return Article(id=r[0], title=r[1], author=r[2],
                       published=dt.date.fromisoformat(r[3]) if r[3] else None, url=r[4],
                       source=r[5], text=r[6], content_hash=r[7])

    def articles(self) -> list[ArticleInfo]:
        rows = self._query(
            "SELECT a.id, a.title, a.author, a.published, a.url, a.source, count(c.id) "
            "FROM articles a LEFT JOIN chunks c ON c.article_id = a.id GROUP BY a.id ORDER BY a.title")
        return [ArticleInfo(id=r[0], title=r[1], author=r[2],
                            published=dt.date.fromisoformat(r[3]) if r[3] else None, url=r[4],
                            source=r[5], chunks=r[6]) for r in rows]

    def stats(self) -> IndexStats:
        vectors = self._vectors_now()
        counts = self._query(
            "SELECT (SELECT count(*) FROM articles), (SELECT count(*) FROM chunks), "
            "(SELECT count(*) FROM sentences)")[0]
        size = sum(f.stat().st_size for f in self.directory.iterdir() if f.is_file())
        return IndexStats(
            directory=str(self.directory), articles=counts[0], chunks=counts[1],
            sentences=counts[2], chunk_vectors=vectors.chunks.ntotal,
            sentence_vectors=vectors.sentences.ntotal, settings=self.settings,
            approximate=max(vectors.chunks.ntotal, vectors.sentences.ntotal) > self.approximate_above,
            size_bytes=size,
        )

    def check(self) -> list[str]:
        """Verify the index; returns the problems found (empty when healthy)."""
        import hashlib

        problems: list[str] = []
        try:
            vectors = self._vectors_now()
        except IndexError_ as e:
            return [str(e)]
        integrity = self._query("PRAGMA integrity_check")[0][0]
        if integrity != "ok":
            problems.append(f"SQLite integrity check failed: {integrity}")
        for kind, index in (("chunks", vectors.chunks), ("sentences", vectors.sentences)):
            stored = {int(r[0]) for r in self._query(f"SELECT id FROM {kind}")}
            in_faiss = set(_ids(index))
            if stored != in_faiss:
                problems.append(
                    f"{kind}: {len(stored - in_faiss)} ids in SQLite lack a vector and "
                    f"{len(in_faiss - stored)} vectors have no row")
            fts = {int(r[0]) for r in self._query(f"SELECT rowid FROM {kind[:-1]}_fts")}
            if fts != stored:
                problems.append(f"{kind}: the full-text table disagrees with the {kind} table")
        for r in self._query('SELECT c.id, c.start, c."end", c.text, a.text FROM chunks c '
                             "JOIN articles a ON a.id = c.article_id"):
            if r[4][r[1]:r[2]] != r[3]:
                problems.append(f"chunk {r[0]}: its text no longer matches its article at its offsets")
        for r in self._query("SELECT id, title, author, published, url, text, content_hash FROM articles"):
            published = r[3] if r[3] else "None"
            digest = hashlib.sha256(
                json.dumps([r[1], r[2], published, r[4], r[5]]).encode("utf-8")).hexdigest()
            if digest != r[6]:
                problems.append(f"article {r[0]}: its content hash does not match its text")
        return problems


def _read_manifest(path: Path) -> IndexSettings:
    try:
        settings = IndexSettings.model_validate_json((path / MANIFEST).read_bytes())
    except (OSError, ValueError) as e:
        raise IndexMismatchError(
            f"The manifest {path / MANIFEST} is unreadable or from another version of article-qa "
            f"({str(e).splitlines()[0]}). Rebuild with `qa ingest PATH --index {path} --rebuild`."
        ) from e
    if settings.schema_version != SCHEMA_VERSION:
        raise IndexMismatchError(
            f"The manifest {path / MANIFEST} is from another version of article-qa (schema "
            f"{settings.schema_version}, this version reads {SCHEMA_VERSION}). Rebuild with "
            f"`qa ingest PATH --index {path} --rebuild`.")
    return settings


def _new_index(dimension: int) -> FaissIndex:
    faiss = _faiss()

    return faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))


def _clone(index: FaissIndex) -> FaissIndex:
    faiss = _faiss()

    return faiss.clone_index(index)


def _ids(index: FaissIndex) -> npt.NDArray[np.int64]:
    faiss = _faiss()

    ids: npt.NDArray[np.int64] = faiss.vector_to_array(index.id_map).astype(np.int64)
    return ids


def _search(
    index: FaissIndex, query: Vectors, k: int, allowed: Sequence[int] | None = None
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
    faiss = _faiss()

    k = min(k, index.ntotal if allowed is None else len(allowed))
    if k <= 0:
        n = len(query)
        return np.zeros((n, 0), dtype=np.float32), np.zeros((n, 0), dtype=np.int64)
    query = np.ascontiguousarray(query, dtype=np.float32)
    params = None
    if allowed is not None:
        params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(np.asarray(allowed, dtype=np.int64)))
    scores, ids = index.search(query, k, params=params)
    return np.asarray(scores, dtype=np.float32), np.asarray(ids, dtype=np.int64)


def _search_approximate(
    graph: FaissIndex, query: Vectors, k: int
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
    """Top-k through an HNSW graph (an IndexIDMap over IndexHNSWFlat); shapes as ``_search``."""
    faiss = _faiss()

    k = min(k, graph.ntotal)
    query = np.ascontiguousarray(query, dtype=np.float32)
    params = faiss.SearchParametersHNSW(efSearch=max(_HNSW_EF_SEARCH, k))
    scores, ids = graph.search(query, k, params=params)
    return np.asarray(scores, dtype=np.float32), np.asarray(ids, dtype=np.int64)


def _build_hnsw(exact: FaissIndex) -> FaissIndex:
    """An HNSW graph holding the vectors and ids of an exact IndexIDMap2(IndexFlatIP)."""
    faiss = _faiss()

    flat = faiss.downcast_index(exact.index)
    hnsw = faiss.IndexHNSWFlat(flat.d, _HNSW_LINKS, faiss.METRIC_INNER_PRODUCT)
    hnsw.hnsw.efConstruction = _HNSW_EF_CONSTRUCTION
    graph = faiss.IndexIDMap(hnsw)
    graph.add_with_ids(flat.reconstruct_n(0, flat.ntotal), _ids(exact))  # (n, dim), (n,)
    return graph


def _approximate_above() -> int:
    """``$QA_APPROXIMATE_ABOVE`` when set, else ``DEFAULT_APPROXIMATE_ABOVE``.

    Raises:
        ValueError: the variable is not a whole number.
    """
    raw = os.environ.get(APPROXIMATE_ENV)
    if not raw:
        return DEFAULT_APPROXIMATE_ABOVE
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"${APPROXIMATE_ENV} must be a whole number of vectors, got {raw!r}") from None


def _reconstruct(index: FaissIndex, ids: Sequence[int], dimension: int) -> Vectors:
    if not ids:
        return np.zeros((0, dimension), dtype=np.float32)
    return np.asarray(index.reconstruct_batch(np.asarray(ids, dtype=np.int64)), dtype=np.float32)


def _atomic_write(target: Path, data: bytes) -> None:
    tmp = target.with_name(target.name + ".tmp")
    with tmp.open("wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, target)
    _fsync_dir(target.parent)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _faiss() -> Any:
    """Import faiss where it is needed, so ``import qa`` stays light."""
    import faiss

    return faiss
