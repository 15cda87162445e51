"""SQLite rows: the schema, one connection per thread, and the SQL for articles, chunks, sentences.

Reads run on the calling thread's connection (WAL lets them go on while a writer commits).
Writes happen only inside ``Rows.transaction()``, which ``Store.write`` opens once per write,
under the directory's write lock.

An index this process cannot write (read-only media, no permission) is opened read-only: a
WAL database needs its ``-shm`` file, which a read-only directory cannot hold, so SQLite is told
the file is immutable, which on read-only media it is. What SQLite reports goes through
``failures.sqlite_error`` first: a full disk or a denied permission is said as such, and only
what remains (a malformed file) is called damage, with the rebuild hint.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

from qa.errors import IndexCorruptError, IndexUnusableError, rebuild_hint
from qa.models import Article, ArticleInfo, Chunk, ChunkText, IndexSettings, Sentence
from qa.store import audit, failures
from qa.store.files import DATABASE

if TYPE_CHECKING:
    from qa.embedding import Vectors

Kind = Literal["chunks", "sentences"]
TOKENIZER = "porter unicode61 remove_diacritics 2"  # FTS5's; term_documents stems with it too
SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS articles (
    id TEXT PRIMARY KEY, title TEXT NOT NULL, author TEXT, published TEXT, url TEXT,
    source TEXT NOT NULL, text TEXT NOT NULL, content_hash TEXT NOT NULL, added_at TEXT NOT NULL,
    pages TEXT
);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    article_id TEXT NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
    ordinal INTEGER NOT NULL, start INTEGER NOT NULL, "end" INTEGER NOT NULL,
    text TEXT NOT NULL, token_count INTEGER NOT NULL, page INTEGER
);
CREATE INDEX IF NOT EXISTS chunks_article ON chunks(article_id, ordinal);
CREATE TABLE IF NOT EXISTS sentences (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    article_id TEXT NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
    start INTEGER NOT NULL, "end" INTEGER NOT NULL, paragraph INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS sentences_article ON sentences(article_id, start);
CREATE VIRTUAL TABLE IF NOT EXISTS chunk_fts USING fts5(title, body, tokenize = '{TOKENIZER}');
CREATE VIRTUAL TABLE IF NOT EXISTS sentence_fts USING fts5(body, tokenize = '{TOKENIZER}');
"""
# Columns added since the first release: ``migrate`` adds them to an older index (NULL in its
# rows, which is what they hold for an article without pages), and reads of an older index this
# process may not write read NULL in their place. ``articles.pages``: where each page starts
# (a JSON list, ``Article.pages``); ``chunks.page``: the page a chunk starts on.
ADDED_COLUMNS = (("articles", "pages", "TEXT"), ("chunks", "page", "INTEGER"))
# The order ``Store.ids_by_article`` lists each kind in: chunks as written, sentences by position.
_ARTICLE_ORDER = {"chunks": "ordinal", "sentences": "start"}


@dataclass(frozen=True)
class Prepared:
    """An article ready to write: its chunks and sentences with their vectors (same order)."""

    article: Article
    chunks: list[Chunk]
    sentences: list[Sentence]
    chunk_vectors: Vectors
    sentence_vectors: Vectors


@dataclass(frozen=True)
class SentenceRow:
    """A stored sentence with its text (cut from its article's text at its offsets)."""

    id: int
    article_id: str
    start: int
    end: int
    paragraph: int
    text: str


@dataclass(frozen=True)
class Inserted:
    """What inserting one article wrote: its chunks with their new ids, and its row ids."""

    chunks: list[Chunk]
    chunk_ids: list[int]
    sentence_ids: list[int]


def stored_date(value: str | None) -> dt.date | None:
    """A ``published`` column value (ISO date or NULL) as a date.

    Raises:
        ValueError: the value is not an ISO date (the row was edited outside article-qa).
    """
    return dt.date.fromisoformat(value) if value else None


def table(kind: str) -> Kind:
    """``kind`` checked before it is put into SQL as a table name."""
    if kind in ("chunks", "sentences"):
        return cast(Kind, kind)
    raise ValueError(f"kind must be 'chunks' or 'sentences', got {kind!r}")


class Rows:
    """The database of one index directory, read and written through per-thread connections."""

    def __init__(self, directory: Path, read_only: bool = False) -> None:
        self.directory = directory
        self.read_only = read_only
        self._local = threading.local()
        self._paged: bool | None = None  # whether the database has ADDED_COLUMNS (read once)

    @property
    def path(self) -> Path:
        return self.directory / DATABASE

    def connection(self) -> sqlite3.Connection:
        """A connection for this thread: WAL lets readers go on while a writer commits.

        Raises:
            IndexCorruptError: the database file cannot be opened.
        """
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            try:
                if self.read_only:
                    conn = self._read_only()
                else:
                    conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None,
                                           check_same_thread=False)
                    conn.execute("PRAGMA journal_mode=WAL")
                    conn.execute("PRAGMA synchronous=FULL")
                conn.execute("PRAGMA foreign_keys=ON")
            except sqlite3.DatabaseError as e:
                raise self.failure(e, "opened") from e
            self._local.conn = conn
        return conn

    def _read_only(self) -> sqlite3.Connection:
        """A read-only connection: ``mode=ro`` where SQLite can use the WAL files already there,
        else ``immutable=1`` (no WAL index needed; true of a read-only mount).

        ``immutable`` ignores a write-ahead log, so it is refused while one holds commits: they
        would be silently missing.
        """
        uri = self.path.resolve().as_uri()
        wal = self.path.with_name(DATABASE + "-wal")
        for options in ("mode=ro", "mode=ro&immutable=1"):
            conn = sqlite3.connect(f"{uri}?{options}", uri=True, timeout=30.0, isolation_level=None,
                                   check_same_thread=False)
            try:
                conn.execute("SELECT count(*) FROM sqlite_master").fetchall()
                return conn
            except sqlite3.OperationalError:
                conn.close()
                if wal.exists() and wal.stat().st_size > 0:
                    raise IndexUnusableError(
                        f"The index in {self.directory} cannot be read here: its write-ahead log {wal} holds "
                        f"commits that SQLite cannot read from read-only media without {DATABASE}-shm. "
                        "Copy the index here again with every file of its directory.") from None
                if "immutable" in options:
                    raise
        raise AssertionError("unreachable")

    def failure(self, error: sqlite3.Error, doing: str) -> Exception:
        """What to raise for ``error``: the environment's refusal if it was one, else damage."""
        translated = failures.sqlite_error(error, self.path, writing=False)
        if translated is not None:
            return translated
        return IndexCorruptError(
            f"The database {self.path} cannot be {doing}: it is damaged ({error}). "
            f"{rebuild_hint(self.directory)}")

    def close(self) -> None:
        """Close this thread's connection; the next use opens another."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """Rows of one statement; a damaged database is an ``IndexCorruptError``."""
        try:
            cursor = self.connection().execute(sql, params)
            return cursor.fetchall()
        except sqlite3.DatabaseError as e:
            raise self.failure(e, "read") from e

    @contextlib.contextmanager
    def read_transaction(self) -> Iterator[None]:
        """One read transaction: every query of this thread inside sees the same committed state
        (under WAL, the state as of its first read). A thread already in one shares it."""
        conn = self.connection()
        if conn.in_transaction:
            yield
            return
        try:
            conn.execute("BEGIN")
        except sqlite3.DatabaseError as e:
            raise self.failure(e, "read") from e
        try:
            yield
        finally:
            if conn.in_transaction:
                # Commit, not roll back: the main database was only read, but the lexical
                # statistics' temporary tables (made on first use) were written and must stay.
                conn.commit()

    # ----------------------------------------------------------------------------- writing
    def create(self) -> None:
        """Make the tables of a new index, at generation 0."""
        conn = self.connection()
        with conn:
            conn.executescript(SCHEMA)
            audit.create(conn)
            conn.execute("INSERT OR IGNORE INTO meta VALUES ('generation', '0')")

    def migrate(self) -> None:
        """Add what an index made by an older version lacks (the audit table, the page columns);
        nothing is lost."""
        with failures.writing(self.path, self.directory):
            audit.ensure(self.connection())
            self._add_columns()

    def _add_columns(self) -> None:
        """Add the ``ADDED_COLUMNS`` an older index lacks, in one transaction (checked first, so
        opening an up-to-date index takes no lock)."""
        conn = self.connection()
        if self._missing_columns():
            conn.execute("BEGIN IMMEDIATE")
            try:
                # asked again under the lock: another process may have added them meanwhile
                for name, column, kind in self._missing_columns():
                    conn.execute(f"ALTER TABLE {name} ADD COLUMN {column} {kind}")
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        self._paged = True

    def _missing_columns(self) -> list[tuple[str, str, str]]:
        present = {(name, str(r[1])) for name in ("articles", "chunks")
                   for r in self.query(f"PRAGMA table_info({name})")}
        return [added for added in ADDED_COLUMNS if (added[0], added[1]) not in present]

    def _page_columns(self) -> tuple[str, str]:
        """What to select for ``articles.pages`` and ``chunks.page``: the columns, or NULL in a
        database made before they existed and opened read-only (so never migrated)."""
        if self._paged is None:
            self._paged = not self._missing_columns()
        return ("a.pages", "c.page") if self._paged else ("NULL", "NULL")

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """One write transaction: committed when the block ends, rolled back if it raises."""
        conn = self.connection()
        with failures.writing(self.path, self.directory):
            conn.execute("BEGIN IMMEDIATE")
        try:
            yield
            with failures.writing(self.path, self.directory):
                conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:  # SQLite rolls back by itself after some failed commits
                conn.execute("ROLLBACK")
            raise

    def delete_articles(self, article_ids: Sequence[str]) -> tuple[list[int], list[int]]:
        """Delete articles with their chunks, sentences and FTS rows (inside a transaction).

        Returns the ids of the chunks and sentences deleted, for their vectors to follow.
        """
        if not article_ids:
            return [], []
        conn = self.connection()
        marks = ",".join("?" * len(article_ids))
        chunk_ids = [int(r[0]) for r in conn.execute(
            f"SELECT id FROM chunks WHERE article_id IN ({marks})", article_ids)]
        sentence_ids = [int(r[0]) for r in conn.execute(
            f"SELECT id FROM sentences WHERE article_id IN ({marks})", article_ids)]
        conn.executemany("DELETE FROM chunk_fts WHERE rowid = ?", [(i,) for i in chunk_ids])
        conn.executemany("DELETE FROM sentence_fts WHERE rowid = ?", [(i,) for i in sentence_ids])
        conn.execute(f"DELETE FROM articles WHERE id IN ({marks})", article_ids)  # cascades
        return chunk_ids, sentence_ids

    def insert(self, p: Prepared) -> Inserted:
        """Insert an article, its chunks and sentences and their FTS rows (inside a transaction)."""
        conn = self.connection()
        a = p.article
        conn.execute(
            "INSERT INTO articles (id, title, author, published, url, source, text, content_hash, added_at, "
            "pages) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (a.id, a.title, a.author, a.published.isoformat() if a.published else None, a.url,
             a.source, a.text, a.content_hash, dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
             json.dumps(a.pages) if a.pages is not None else None),
        )
        inserted = Inserted([], [], [])
        for c in p.chunks:
            cursor = conn.execute(
                'INSERT INTO chunks (article_id, ordinal, start, "end", text, token_count, page) '
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (a.id, c.ordinal, c.start, c.end, c.text, c.token_count, c.page),
            )
            chunk_id = int(cursor.lastrowid or 0)
            inserted.chunk_ids.append(chunk_id)
            conn.execute("INSERT INTO chunk_fts (rowid, title, body) VALUES (?, ?, ?)",
                         (chunk_id, a.title, c.text))
            inserted.chunks.append(c.model_copy(update={"id": chunk_id}))
        for s in p.sentences:
            cursor = conn.execute(
                'INSERT INTO sentences (article_id, start, "end", paragraph) VALUES (?, ?, ?, ?)',
                (a.id, s.start, s.end, s.paragraph),
            )
            sentence_id = int(cursor.lastrowid or 0)
            inserted.sentence_ids.append(sentence_id)
            conn.execute("INSERT INTO sentence_fts (rowid, body) VALUES (?, ?)",
                         (sentence_id, a.text[s.start : s.end]))
        return inserted

    def set_generation(self, generation: int) -> None:
        self.connection().execute("UPDATE meta SET value = ? WHERE key = 'generation'", (str(generation),))

    # ----------------------------------------------------------------------------- reading
    def generation(self) -> int:
        rows = self.query("SELECT value FROM meta WHERE key = 'generation'")
        if not rows:
            raise IndexCorruptError(f"The database in {self.directory} has no generation record.")
        return int(rows[0][0])

    def count(self, kind: str) -> int:
        return int(self.query(f"SELECT count(*) FROM {table(kind)}")[0][0])

    def counts(self) -> tuple[int, int, int]:
        """Articles, chunks and sentences, counted in one statement (one snapshot)."""
        r = self.query("SELECT (SELECT count(*) FROM articles), (SELECT count(*) FROM chunks), "
                       "(SELECT count(*) FROM sentences)")[0]
        return int(r[0]), int(r[1]), int(r[2])

    def texts(self, kind: str, ids: Sequence[int], index: IndexSettings) -> dict[int, str]:
        """The text each chunk or sentence was embedded from in an index of settings ``index``
        (``qa.indexing.texts_of``), by id (unknown ids left out)."""
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        if table(kind) == "chunks":
            sql = f"SELECT id, text FROM chunks WHERE id IN ({marks})"
            return {int(r[0]): str(r[1]) for r in self.query(sql, list(ids))}
        sql = ('SELECT s.id, a.title, substr(a.text, s.start + 1, s."end" - s.start) FROM sentences s '
               f"JOIN articles a ON a.id = s.article_id WHERE s.id IN ({marks})")
        return {int(r[0]): index.sentence_input(str(r[1]), str(r[2])) for r in self.query(sql, list(ids))}

    def has_article(self, article_id: str) -> bool:
        return bool(self.query("SELECT 1 FROM articles WHERE id = ?", (article_id,)))

    def content_hashes(self) -> dict[str, str]:
        return {r[0]: r[1] for r in self.query("SELECT id, content_hash FROM articles")}

    def row_ids(self, kind: str) -> list[int]:
        return [int(r[0]) for r in self.query(f"SELECT id FROM {table(kind)} ORDER BY id")]

    def ids_by_article(self, kind: str) -> dict[str, list[int]]:
        name = table(kind)
        ids: dict[str, list[int]] = {}
        for r in self.query(f"SELECT id, article_id FROM {name} ORDER BY article_id, {_ARTICLE_ORDER[name]}"):
            ids.setdefault(r[1], []).append(int(r[0]))
        return ids

    def chunk_spans(self) -> dict[str, list[tuple[int, int]]]:
        spans: dict[str, list[tuple[int, int]]] = {}
        for r in self.query('SELECT article_id, start, "end" FROM chunks ORDER BY id'):
            spans.setdefault(r[0], []).append((int(r[1]), int(r[2])))
        return spans

    def mean_chunk_tokens(self) -> float:
        return float(self.query("SELECT avg(token_count) FROM chunks")[0][0] or 0.0)

    def chunks_of_sentences(self, sentence_ids: Sequence[int]) -> list[tuple[int, int]]:
        if not sentence_ids:
            return []
        marks = ",".join("?" * len(sentence_ids))
        rows = self.query(
            "SELECT s.id, c.id FROM sentences s JOIN chunks c ON c.article_id = s.article_id "
            f'AND c.start <= s.start AND c."end" >= s."end" WHERE s.id IN ({marks})',
            list(sentence_ids))
        return [(int(r[0]), int(r[1])) for r in rows]

    def chunk_ids_where(
        self, article_ids: Sequence[str] | None, title_contains: str | None, author_contains: str | None,
        published_from: dt.date | None, published_to: dt.date | None,
    ) -> list[int]:
        where: list[str] = ["1"]
        params: list[str] = []
        if article_ids is not None:
            where.append(f"a.id IN ({','.join('?' * len(article_ids))})")
            params.extend(article_ids)
        if title_contains:
            where.append("instr(lower(a.title), lower(?)) > 0")
            params.append(title_contains)
        if author_contains:  # an article without an author never matches
            where.append("instr(lower(a.author), lower(?)) > 0")
            params.append(author_contains)
        if published_from:
            where.append("a.published >= ?")  # ISO dates order as strings
            params.append(published_from.isoformat())
        if published_to:
            where.append("a.published <= ?")
            params.append(published_to.isoformat())
        rows = self.query(
            f"SELECT c.id FROM chunks c JOIN articles a ON a.id = c.article_id WHERE {' AND '.join(where)}",
            params)
        return [int(r[0]) for r in rows]

    def chunks(self, ids: Sequence[int]) -> dict[int, ChunkText]:
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self.query(
            f'SELECT c.id, c.article_id, a.title, a.url, a.published, c.start, c."end", c.text, a.author, '
            f"{self._page_columns()[1]} FROM chunks c JOIN articles a ON a.id = c.article_id "
            f"WHERE c.id IN ({marks})", list(ids))
        return {
            int(r[0]): ChunkText(chunk_id=int(r[0]), article_id=r[1], title=r[2], url=r[3],
                                 published=stored_date(r[4]), start=r[5], end=r[6], text=r[7], author=r[8],
                                 page=r[9])
            for r in rows
        }

    def sentences_in(self, article_id: str, start: int, end: int) -> list[SentenceRow]:
        rows = self.query(
            'SELECT s.id, s.start, s."end", s.paragraph, substr(a.text, s.start + 1, s."end" - s.start) '
            "FROM sentences s JOIN articles a ON a.id = s.article_id "
            'WHERE s.article_id = ? AND s."end" > ? AND s.start < ? ORDER BY s.start',
            (article_id, start, end))
        return [SentenceRow(int(r[0]), article_id, r[1], r[2], r[3], r[4]) for r in rows]

    def article_text(self, article_id: str) -> str:
        rows = self.query("SELECT text FROM articles WHERE id = ?", (article_id,))
        return str(rows[0][0]) if rows else ""

    def article(self, article_id: str) -> Article | None:
        rows = self.query(
            "SELECT a.id, a.title, a.author, a.published, a.url, a.source, a.text, a.content_hash, "
            f"{self._page_columns()[0]} FROM articles a WHERE a.id = ?", (article_id,))
        if not rows:
            return None
        r = rows[0]
        return Article(id=r[0], title=r[1], author=r[2], published=stored_date(r[3]), url=r[4],
                       source=r[5], text=r[6], content_hash=r[7], pages=json.loads(r[8]) if r[8] else None)

    def articles(self) -> list[ArticleInfo]:
        rows = self.query(
            "SELECT a.id, a.title, a.author, a.published, a.url, a.source, count(c.id) "
            "FROM articles a LEFT JOIN chunks c ON c.article_id = a.id GROUP BY a.id ORDER BY a.title")
        return [ArticleInfo(id=r[0], title=r[1], author=r[2], published=stored_date(r[3]), url=r[4],
                            source=r[5], chunks=r[6]) for r in rows]
