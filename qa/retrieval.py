"""Retrieval: dense (FAISS), lexical (SQLite FTS5 BM25) and their fusion, as citable passages.

Fusion is a weighted sum of normalised scores: the cosine of the question with the chunk and
with the chunk's best sentence, and BM25 divided by the best BM25 of the query. The weights were
chosen on the shared SQuAD dev split (see ``eval/README.md``); ``RetrievalSettings`` exposes them.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Literal, Protocol

from pydantic import BaseModel, ConfigDict

from qa.models import ChunkText, Passage, RetrievalMode
from qa.settings import LexicalSettings, RetrievalSettings

if TYPE_CHECKING:
    from qa.embedding import Embedder, Vectors
    from qa.store.vectors import Hits

_WORD = re.compile(r"\w+", re.UNICODE)
# The one BM25 query that scores every candidate goes this many times deeper than each list.
_LEXICAL_DEPTH = 4
MAX_QUERY_WORDS = 64  # words of a question that reach the BM25 query
# Function words match nearly every chunk; leaving them out keeps OR queries selective and fast.
STOPWORDS = frozenset(
    "a an and are as at be been but by did do does for from had has have he her his how i if in "
    "into is it its me my no not of on or our she so than that the their them then there these "
    "they this to was we were what when where which who whom whose why will with would you your"
    .split()
)


class Filters(BaseModel):
    """Restrict a search to some articles: every given condition must hold.

    ``title_contains`` and ``author_contains`` match case-insensitively; the dates bound
    ``published`` inclusively, and an article without a date passes no date bound.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    article_ids: list[str] | None = None
    title_contains: str | None = None
    author_contains: str | None = None
    published_from: dt.date | None = None
    published_to: dt.date | None = None


def query_words(text: str) -> list[str]:
    """The question's distinct lower-cased words, stopwords dropped unless nothing else is left."""
    words = [w.lower() for w in _WORD.findall(text)]
    kept = [w for w in words if w not in STOPWORDS] or words
    return list(dict.fromkeys(kept))[:MAX_QUERY_WORDS]


def fts_query(text: str, common: Collection[str] = ()) -> str:
    """An FTS5 MATCH expression that ORs the question's words, each quoted as a string.

    Quoting every term means no user text (quotes, NEAR, *, :, column names) can change the
    query's syntax. Words in ``common`` are left out unless nothing else is left.
    """
    words = query_words(text)
    return " OR ".join(f'"{w}"' for w in [w for w in words if w not in common] or words)


class TermStatistics(Protocol):
    """Row counts of the lexical tables (``qa.store.Store`` provides them)."""

    def term_documents(self, words: Sequence[str], kind: Literal["chunks", "sentences"] = "sentences",
                       ) -> tuple[int, dict[str, int]]: ...


class PassageIndex(TermStatistics, Protocol):
    """The reads of an index the retriever makes: ``qa.store.Store`` for one index directory,
    ``qa.shards.Shards`` for several searched as one."""

    def dense_chunks(self, query: Vectors, k: int, allowed: Sequence[int] | None = None) -> Hits: ...

    def dense_sentences(self, query: Vectors, k: int) -> Hits: ...

    def lexical_chunks(self, match: str, k: int, allowed: Sequence[int] | None = None,
                       ) -> list[tuple[int, float]]: ...

    def chunk_vectors(self, ids: Sequence[int]) -> Vectors: ...

    def chunks_of_sentences(self, sentence_ids: Sequence[int]) -> list[tuple[int, int]]: ...

    def chunk_ids_where(
        self, article_ids: Sequence[str] | None = None, title_contains: str | None = None,
        author_contains: str | None = None, published_from: dt.date | None = None,
        published_to: dt.date | None = None,
    ) -> list[int]: ...

    def chunks(self, ids: Sequence[int]) -> dict[int, ChunkText]: ...


def common_words(stats: TermStatistics, text: str, kind: Literal["chunks", "sentences"],
                 lexical: LexicalSettings | None = None) -> set[str]:
    """The question's words held by more than ``common_fraction`` of the chunks or sentences,
    when there are more than ``common_above`` of them (else none).

    FTS5 scores every row holding any query word, so in a large index a word in a tenth of the
    rows costs more than all the others while adding little (its IDF is below log 9). On the
    bench's 100x index (122k chunks, 478k sentences) leaving such words out cut the chunk BM25
    query from 64 to 30 ms at p95 and answer() from 109 to 75 ms. Small indexes keep every
    word: their queries take under a millisecond, and forcing the cut on the dev split cost
    R@1 0.828 -> 0.822 and R@5 0.965 -> 0.964 (eval/README.md).
    """
    lexical = lexical or LexicalSettings()
    if stats.term_documents([], kind)[0] <= lexical.common_above:  # the row count alone: no stemming
        return set()
    words = query_words(text)
    total, counts = stats.term_documents(words, kind)
    return {w for w in words if counts[w] > lexical.common_fraction * total}


class Retriever:
    """Finds the passages most likely to answer a question.

    Example:
        >>> retriever = Retriever(Store.open("index"), BundledEmbedder())
        >>> [p.title for p in retriever.search("Who built Bushehr?", k=1)]
        ['Putin and the Ayatollah: A Bromance to Watch']
    """

    def __init__(self, store: PassageIndex, embedder: Embedder, settings: RetrievalSettings | None = None) -> None:
        self.store = store
        self.embedder = embedder
        self.settings = settings or RetrievalSettings()

    def search(
        self, question: str, k: int | None = None, mode: RetrievalMode | None = None,
        filters: Filters | None = None, query_vector: Vectors | None = None,
    ) -> list[Passage]:
        """Best-first passages for ``question``.

        Args:
            k: passages to return (default ``settings.k``); must be positive.
            query_vector: the question's embedding, when the caller already has it: (1, dim).

        Raises:
            ValueError: ``k`` is not positive.
        """
        k = self.settings.k if k is None else k
        if k <= 0:
            raise ValueError(f"k must be positive, got {k}")
        mode = mode or self.settings.mode
        allowed = self._allowed(filters)
        depth = max(self.settings.candidates, k)
        if mode == "lexical":
            fused = dict(self.store.lexical_chunks(self.match(question), depth, allowed))
            dense: dict[int, float] = {}
            lexical = fused
        else:
            if query_vector is None:
                query_vector = self.embedder.encode_queries([question])
            if mode == "dense":
                fused = dense = self._dense(query_vector, depth, allowed)
                lexical = {}
            else:
                scores = self.candidate_scores(question, query_vector, depth, allowed)
                fused = {c: self.fuse(*v) for c, v in scores.items()}
                dense = {c: v[0] for c, v in scores.items()}
                lexical = {c: v[2] for c, v in scores.items() if v[2] > 0}
        ranked = sorted(fused, key=lambda i: fused[i], reverse=True)[:k]
        rows = self.store.chunks(ranked)
        return [
            _passage(rows[cid], rank, dense.get(cid), lexical.get(cid), fused[cid])
            for rank, cid in enumerate((c for c in ranked if c in rows), start=1)
        ]

    def fuse(self, dense: float, sentence: float, lexical: float) -> float:
        """The fused score of one chunk from its normalised component scores."""
        s = self.settings
        return (s.dense_weight * ((1 - s.sentence_weight) * dense + s.sentence_weight * sentence)
                + (1 - s.dense_weight) * lexical)

    def candidate_scores(
        self, question: str, query_vector: Vectors, depth: int, allowed: list[int] | None = None,
    ) -> dict[int, tuple[float, float, float]]:
        """Component scores of every candidate chunk: (dense cosine, best-sentence cosine, BM25 / top BM25).

        Candidates are the union of the dense, best-sentence and lexical top ``depth``; each gets
        all three scores (a chunk without a matching term has BM25 0).
        """
        match = self.match(question)
        dense = self._dense(query_vector, depth, allowed)
        sentence_best = self._sentence_best(query_vector, depth, allowed)
        # One deeper BM25 query scores the other lists' candidates too: asking FTS5 for the BM25
        # of given rowids costs a full MATCH per call (93 ms at 120k chunks). A candidate below
        # this depth gets BM25 0.
        deep = dict(self.store.lexical_chunks(match, depth * _LEXICAL_DEPTH, allowed))
        lexical = dict(list(deep.items())[:depth])
        candidates = sorted(set(dense) | set(lexical) | set(sentence_best))
        missing_dense = [c for c in candidates if c not in dense]
        if missing_dense:
            vectors = self.store.chunk_vectors(missing_dense)
            dense.update(zip(missing_dense, (vectors @ query_vector[0]).tolist(), strict=True))
        top_lexical = max(lexical.values(), default=0.0) or 1.0
        lexical = {c: deep[c] for c in candidates if c in deep}
        # A chunk whose sentences missed the sentence top list scores as the weakest that made it.
        floor = min(sentence_best.values(), default=0.0)
        return {c: (dense[c], sentence_best.get(c, floor), lexical.get(c, 0.0) / top_lexical)
                for c in candidates}

    def match(self, question: str) -> str:
        """The BM25 query of ``question`` against chunks, common words left out."""
        return fts_query(question, common_words(self.store, question, "chunks", self.settings.lexical))

    def _allowed(self, filters: Filters | None) -> list[int] | None:
        if filters is None or filters == Filters():
            return None
        return self.store.chunk_ids_where(
            article_ids=filters.article_ids, title_contains=filters.title_contains,
            author_contains=filters.author_contains,
            published_from=filters.published_from, published_to=filters.published_to,
        )

    def _dense(self, query: Vectors, depth: int, allowed: list[int] | None) -> dict[int, float]:
        scores, ids = self.store.dense_chunks(query, depth, allowed)
        return {int(i): float(s) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0}

    def _sentence_best(self, query: Vectors, depth: int, allowed: list[int] | None) -> dict[int, float]:
        """Each chunk's best sentence cosine, from the top sentences of the whole index."""
        scores, ids = self.store.dense_sentences(query, depth * 2)
        best: dict[int, float] = {}
        pairs = self.store.chunks_of_sentences([int(i) for i in ids[0] if i >= 0])
        score_of = {int(i): float(s) for i, s in zip(ids[0], scores[0], strict=True)}
        allowed_set = set(allowed) if allowed is not None else None
        for sentence_id, chunk_id in pairs:
            if allowed_set is None or chunk_id in allowed_set:
                best[chunk_id] = max(best.get(chunk_id, -1.0), score_of[sentence_id])
        return best


def _passage(row: ChunkText, rank: int, dense: float | None, lexical: float | None, score: float) -> Passage:
    return Passage(**row.model_dump(), rank=rank, dense_score=dense, lexical_score=lexical, score=score)

