"""Lexical search over the FTS5 tables: BM25 queries and term statistics with FTS5's own stemming.

Retrieval and the reader use these for BM25 scores, IDF and the words common enough to leave out
of a query; they count words exactly as FTS5 matches them, by the stem of the same tokenizer.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections import defaultdict
from collections.abc import Sequence

from qa.store.bm25 import Postings, phrases, varints
from qa.store.rows import TOKENIZER, Rows, table

# Column weights of each FTS5 table's BM25 (see ``Lexical.chunks``).
WEIGHTS = {"chunks": {"title": 0.5, "body": 1.0}, "sentences": {"body": 1.0}}
# Up to this many allowed chunks a filtered BM25 query names them (``Lexical.chunks``); at 130 on
# the bench's 100x index the two ways took about as long.
FEW_ALLOWED = 100


class Lexical:
    """FTS5 queries and per-generation term counts over one index's database."""

    def __init__(self, rows: Rows) -> None:
        self._rows = rows
        self._local = threading.local()  # the connection whose temp tokenising tables exist
        # (generation, rows per kind, (kind, word) -> rows holding it): IDF and common-word counts.
        self._documents: tuple[int, dict[str, int], dict[tuple[str, str], int]] = (-1, {}, {})

    def chunks(self, match: str, k: int, allowed: Sequence[int] | None = None) -> list[tuple[int, float]]:
        """Top-k chunks for an FTS5 MATCH expression as (id, score), score = -bm25 (higher better).

        The title column weighs half as much as the body: it is repeated on every chunk. Only
        the ``allowed`` ids, when given: a few (up to ``FEW_ALLOWED``) through ``rowid IN``,
        which SQLite runs once per id, each time with FTS5's ``bm25()`` counting every phrase's
        rows again; more by scoring every row the query matches once and keeping the allowed.
        On the bench's 100x index (122k chunks) a filter allowing 1,309 chunks took 47 to 168 ms
        the first way and 3 to 20 ms the second, and all 121,921 took 5 to 23 s against 8 to 26
        ms; 26 chunks took 1 to 7 ms the first way and 4 to 27 ms the second (same results).
        """
        if not match or (allowed is not None and not allowed):
            return []
        weights = ", ".join(map(str, WEIGHTS["chunks"].values()))
        if allowed is None or len(allowed) <= FEW_ALLOWED:
            restrict = "" if allowed is None else f" AND rowid IN ({','.join('?' * len(allowed))})"
            rows = self._rows.query(
                f"SELECT rowid, -bm25(chunk_fts, {weights}) AS s FROM chunk_fts WHERE chunk_fts MATCH ?"
                f"{restrict} ORDER BY s DESC LIMIT ?", (match, *(allowed or ()), k))
        else:
            rows = self._rows.query(
                f"WITH scored AS MATERIALIZED (SELECT rowid AS id, -bm25(chunk_fts, {weights}) AS s "
                "FROM chunk_fts WHERE chunk_fts MATCH ?) "
                "SELECT id, s FROM scored WHERE id IN (SELECT value FROM json_each(?)) ORDER BY s DESC LIMIT ?",
                (match, json.dumps(list(allowed)), k))
        return [(int(r[0]), float(r[1])) for r in rows]

    def sentences(self, match: str, ids: Sequence[int]) -> Postings:
        """The given sentences' part of the BM25 of an FTS5 MATCH expression: the table's counts,
        and these rows' hits of each phrase (``qa.store.bm25.scores`` turns them into the scores
        FTS5's ``bm25()`` gives, to 1e-9).

        Not ``MATCH ? AND rowid IN (...)``: SQLite runs that once per id, and each time FTS5's
        ``bm25()`` counts every phrase's rows again, which took the reader's twenty-odd
        candidates 14 ms at the median and 41 ms at p95 on the bench's 100x index (478k
        sentences). FTS5 still tokenises and counts here: the candidates' texts and the phrases
        go through a temporary table with the same tokenizer, and a phrase's rows are its
        token's row count in the table's vocabulary (1.8 / 3.0 ms there, 1.0 / 1.3 ms at 1x).
        """
        fts = "sentence_fts"
        wanted = phrases(match)
        texts = [(int(r[0]), str(r[1])) for r in self._rows.query(
            f"SELECT rowid, body FROM {fts} WHERE rowid IN (SELECT value FROM json_each(?))",
            (json.dumps(list(ids)),))] if wanted else []
        places = self._tokens([*((-1 - i, p) for i, p in enumerate(wanted)), *texts])
        tokens = [_in_order(places[-1 - i]) for i in range(len(wanted))]
        frequencies = tuple({row: float(n) for row, _ in texts if (n := _hits(places[row], phrase))}
                            for phrase in tokens)
        rows, total = self._totals(fts)
        return Postings(rows=rows, tokens=total, frequencies=frequencies,
                        sizes=self._sizes(fts, {row for hits in frequencies for row in hits}),
                        holding=tuple(self._holding(fts, text, phrase)
                                      for text, phrase in zip(wanted, tokens, strict=True)))

    def term_documents(self, words: Sequence[str], kind: str, generation: int) -> tuple[int, dict[str, int]]:
        """Rows of the ``kind`` ("chunks" or "sentences") FTS5 table, and how many hold each word.

        A word counts by its FTS5 stem: a temporary FTS5 table with the same tokenizer stems it,
        and fts5vocab gives the stem's row count, which is cheap where a MATCH would read every
        row holding a common word. A word FTS5 splits in two counts as its rarer half. Counts
        are cached until ``generation`` (the caller's current one) moves on.
        """
        kind = table(kind)
        fts = f"{kind[:-1]}_fts"
        if self._documents[0] != generation:  # counts stay valid until the next write
            self._documents = (generation, {}, {})
        _, totals, cache = self._documents
        if kind not in totals:
            totals[kind] = self._rows.count(kind)
        self._stemmer(self._rows.connection())
        for word in words:
            if (kind, word) in cache:
                continue
            cache[(kind, word)] = min((self._rows_with(fts, t) for t in dict.fromkeys(self._phrase(word))), default=0)
        return totals[kind], {w: cache[(kind, w)] for w in words}

    def postings(self, match: str, kind: str) -> Postings:
        """This table's part of the BM25 of an FTS5 MATCH expression (``qa.store.bm25``): its row
        and token counts, and every row holding each phrase with its weighted hits and length.

        Read from FTS5's own index (the ``instance`` vocabulary: every token's rows, columns and
        positions) and records (row lengths, table totals), so the counts are FTS5's.
        """
        kind = table(kind)
        fts = f"{kind[:-1]}_fts"
        weights = WEIGHTS[kind]
        self._stemmer(self._rows.connection())
        frequencies = tuple(self._phrase_hits(fts, phrase, weights) for phrase in phrases(match))
        rows, tokens = self._totals(fts)
        return Postings(rows=rows, tokens=tokens, frequencies=frequencies,
                        sizes=self._sizes(fts, {row for hits in frequencies for row in hits}))

    def _totals(self, fts: str) -> tuple[int, int]:
        """The FTS5 table's rows and tokens in all columns, from its averages record."""
        averages = self._rows.query(f"SELECT block FROM {fts}_data WHERE id = 1")
        counts = varints(bytes(averages[0][0])) if averages else []  # empty in a table never written
        return (counts[0], sum(counts[1:])) if counts else (0, 0)

    def _sizes(self, fts: str, rows: set[int]) -> dict[int, int]:
        """The tokens of each of the FTS5 table's ``rows``, in all columns."""
        return {int(r[0]): sum(varints(bytes(r[1]))) for r in self._rows.query(
            f"SELECT id, sz FROM {fts}_docsize WHERE id IN (SELECT value FROM json_each(?))",
            (json.dumps(sorted(rows)),))}

    def _holding(self, fts: str, text: str, phrase: list[str]) -> int:
        """How many rows of the FTS5 table hold the phrase ``text`` (tokenised as ``phrase``): a
        token's count from the vocabulary, a longer phrase's from a MATCH on it alone."""
        if len(phrase) <= 1:
            return self._rows_with(fts, phrase[0]) if phrase else 0
        quoted = '"' + text.replace('"', '""') + '"'
        found = self._rows.query(f"SELECT count(*) FROM {fts} WHERE {fts} MATCH ?", (quoted,))
        return int(found[0][0])

    def _rows_with(self, fts: str, token: str) -> int:
        """How many rows of the FTS5 table hold ``token`` (a stem), from its vocabulary."""
        found = self._rows.query(f"SELECT doc FROM temp.{fts}_vocab WHERE term = ?", (token,))
        return int(found[0][0]) if found else 0

    def _phrase(self, text: str) -> list[str]:
        """The tokens of ``text`` in order, as the tables' tokenizer makes them (stemmed)."""
        return _in_order(self._tokens([(0, text)])[0])

    def _tokens(self, texts: Sequence[tuple[int, str]]) -> dict[int, dict[int, str]]:
        """Each text's tokens by position, as the tables' tokenizer makes them (through the
        contentless temporary table ``tokens``, emptied first)."""
        conn = self._rows.connection()
        self._stemmer(conn)
        places: dict[int, dict[int, str]] = defaultdict(dict)
        try:
            conn.execute("INSERT INTO temp.tokens(tokens) VALUES ('delete-all')")
            conn.executemany("INSERT INTO temp.tokens(rowid, x) VALUES (?, ?)", texts)
            for row, term, offset in conn.execute("SELECT doc, term, offset FROM temp.tokens_instances"):
                places[int(row)][int(offset)] = str(term)
        except sqlite3.DatabaseError as e:
            raise self._rows.failure(e, "read") from e
        return places

    def _phrase_hits(self, fts: str, phrase: str, weights: dict[str, float]) -> dict[int, float]:
        """Row -> weighted hits of ``phrase`` (its tokens at consecutive positions of one column)."""
        tokens = self._phrase(phrase)
        if not tokens:
            return {}
        places = [{(int(r[0]), str(r[1]), int(r[2])) for r in self._rows.query(
            f"SELECT doc, col, offset FROM temp.{fts}_instances WHERE term = ?", (token,))} for token in tokens]
        hits: dict[int, float] = defaultdict(float)
        for row, column, offset in places[0]:
            if all((row, column, offset + i) in later for i, later in enumerate(places[1:], start=1)):
                hits[row] += weights[column]
        return dict(hits)

    def _stemmer(self, conn: sqlite3.Connection) -> None:
        """Create the temporary tokenising and vocabulary tables once per connection."""
        if getattr(self._local, "conn", None) is conn:
            return
        conn.execute("CREATE VIRTUAL TABLE IF NOT EXISTS temp.tokens "
                     f"USING fts5(x, content='', tokenize = {TOKENIZER!r})")
        conn.execute("CREATE VIRTUAL TABLE IF NOT EXISTS temp.tokens_instances "
                     "USING fts5vocab(temp, tokens, 'instance')")
        for name in ("chunk_fts", "sentence_fts"):
            conn.execute(f"CREATE VIRTUAL TABLE IF NOT EXISTS temp.{name}_vocab USING fts5vocab(main, {name}, 'row')")
            conn.execute(f"CREATE VIRTUAL TABLE IF NOT EXISTS temp.{name}_instances "
                         f"USING fts5vocab(main, {name}, 'instance')")
        self._local.conn = conn


def _hits(places: dict[int, str], phrase: list[str]) -> int:
    """How often the tokens of ``phrase`` stand at consecutive ``places`` (position -> token)."""
    if not phrase:
        return 0
    return sum(1 for at, token in places.items() if token == phrase[0]
               and all(places.get(at + i) == t for i, t in enumerate(phrase[1:], start=1)))


def _in_order(places: dict[int, str]) -> list[str]:
    """The tokens of one text (position -> token) in order."""
    return [places[at] for at in sorted(places)]
