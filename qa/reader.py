"""Reader: choose the sentence that answers, narrow it to the key span, score, or abstain.

Candidates are the stored sentences of the retrieved passages; their vectors were computed at
index time, so a question costs one embedding. A sentence's score mixes its cosine with the
question, its BM25 against the question, its passage's retrieval score and whether it holds
the kind of thing the question asks for (a person, a date, a number, a place). The confidence
is a logistic function of that score, calibrated on the SQuAD dev split (``eval/``).
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from qa.embedding import Vectors
from qa.errors import QueryError
from qa.models import Answer, Citation, Passage, RetrievalMode, Span, Turn
from qa.retrieval import STOPWORDS, Filters, fts_query
from qa.store import SentenceRow, Store

if TYPE_CHECKING:
    from qa.retrieval import Retriever

DECLINE = "The articles don't say. These passages came closest:"
_TOKEN = re.compile(r"[\w$£€%][\w'’.,$%-]*[\w%]|[\w$£€%]", re.UNICODE)
_YEAR = re.compile(r"\b(1[0-9]{3}|20[0-9]{2})s?\b")
_NUMBER = re.compile(r"\d")
_MONTH = re.compile(
    r"\b(January|February|March|April|May|June|July|August|September|October|November|December)\b")
_PRONOUN_START = re.compile(
    r"^(and|but|what about|how about|so|also)\b|\b(he|she|it|they|him|her|them|his|its|their|that|"
    r"this|there|then)\b", re.IGNORECASE)


class ReaderSettings(BaseModel):
    """Weights of the sentence score and the abstention threshold (calibrated in ``eval/``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    k: int = Field(default=5, ge=1, le=50, description="passages read per question")
    cosine_weight: float = 1.0
    lexical_weight: float = 0.6
    passage_weight: float = 0.4
    type_weight: float = 0.15
    calibration_slope: float = 6.0
    calibration_offset: float = -4.0
    threshold: float = Field(default=0.5, ge=0.0, le=1.0)
    max_question_chars: int = Field(default=2000, ge=1)


@dataclass(frozen=True)
class _Candidate:
    sentence: SentenceRow
    passage: Passage
    score: float


class Reader:
    """Turns retrieved passages into an ``Answer``."""

    def __init__(self, store: Store, settings: ReaderSettings | None = None) -> None:
        self.store = store
        self.settings = settings or ReaderSettings()

    def answer(
        self, question: str, retriever: Retriever, k: int | None = None,
        history: Sequence[Turn | str] = (), mode: RetrievalMode | None = None,
        filters: Filters | None = None,
    ) -> Answer:
        """Retrieve, read and answer; see ``QA.answer``.

        Raises:
            QueryError: the question is empty or longer than ``max_question_chars``.
        """
        started = time.perf_counter()
        question = " ".join(question.split())
        if not _WORDLIKE.search(question):
            raise QueryError("Please ask a question: it has no words in it.")
        if len(question) > self.settings.max_question_chars:
            raise QueryError(
                f"The question is {len(question):,} characters long; the limit is "
                f"{self.settings.max_question_chars:,}. Please shorten it.")
        resolved = resolve_followup(question, history)
        query_vector = retriever.embedder.encode_queries([resolved])
        t_embed = time.perf_counter()
        passages = retriever.search(resolved, k=k or self.settings.k, mode=mode, filters=filters,
                                    query_vector=query_vector)
        t_retrieve = time.perf_counter()
        best = self._best(resolved, query_vector, passages)
        timings = {"embed_ms": (t_embed - started) * 1000, "retrieve_ms": (t_retrieve - t_embed) * 1000}
        if best is None:
            return self._decline(question, resolved, passages, 0.0, timings, started)
        confidence = _sigmoid(self.settings.calibration_slope * best.score + self.settings.calibration_offset)
        if confidence < self.settings.threshold:
            return self._decline(question, resolved, passages, confidence, timings, started)
        sentence = best.sentence
        text = sentence.text
        start, end = sentence.start, sentence.end
        highlight = key_span(resolved, text)
        citation = Citation(number=1, article_id=sentence.article_id, title=best.passage.title,
                            url=best.passage.url, start=start, end=end, quote=text)
        timings["total_ms"] = (time.perf_counter() - started) * 1000
        return Answer(
            question=question, found=True, text=text,
            highlight=Span(start=highlight[0], end=highlight[1]) if highlight else None,
            confidence=round(confidence, 4), citations=[citation], passages=passages,
            resolved_question=resolved if resolved != question else None, timings_ms=timings,
        )

    def _best(self, question: str, query_vector: Vectors, passages: list[Passage]) -> _Candidate | None:
        """The highest scoring sentence of the passages, or None when there are none."""
        sentences: dict[int, tuple[SentenceRow, Passage]] = {}
        for p in passages:
            for s in self.store.sentences_in(p.article_id, p.start, p.end):
                if s.id not in sentences and s.start >= p.start and s.end <= p.end:
                    sentences[s.id] = (s, p)
        if not sentences:
            return None
        ids = list(sentences)
        cos = self.store.sentence_vectors(ids) @ query_vector[0]  # (n,)
        bm25 = self.store.lexical_sentences(fts_query(question), ids)
        top_bm25 = max(bm25.values(), default=0.0) or 1.0
        top_passage = max((p.score for p in passages), default=0.0) or 1.0
        wanted = question_type(question)
        w = self.settings
        best: _Candidate | None = None
        for sentence_id, similarity in zip(ids, cos.tolist(), strict=True):
            row, passage = sentences[sentence_id]
            score = (
                w.cosine_weight * similarity
                + w.lexical_weight * bm25.get(sentence_id, 0.0) / top_bm25 * min(1.0, top_bm25 / 8.0)
                + w.passage_weight * passage.score / top_passage
                + w.type_weight * _type_match(wanted, row.text)
            ) / (w.cosine_weight + w.lexical_weight + w.passage_weight)
            if best is None or score > best.score:
                best = _Candidate(row, passage, score)
        return best

    def _decline(self, question: str, resolved: str, passages: list[Passage], confidence: float,
                 timings: dict[str, float], started: float) -> Answer:
        timings["total_ms"] = (time.perf_counter() - started) * 1000
        return Answer(
            question=question, found=False, text=DECLINE if passages else "The articles don't say.",
            confidence=round(confidence, 4), passages=passages,
            resolved_question=resolved if resolved != question else None, timings_ms=timings,
        )


_WORDLIKE = re.compile(r"\w", re.UNICODE)


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def question_type(question: str) -> str:
    """The kind of answer a question asks for: person, date, number, place, or other."""
    q = question.lower()
    if re.search(r"\b(what|which) (year|decade|century|month|day|date)\b|\bwhen\b", q):
        return "date"
    if re.search(r"\bhow (many|much|long|far|old|large|big|tall|high)\b"
                 r"|\bwhat (percentage|percent|number|amount)\b", q):
        return "number"
    if re.search(r"\bwho(m|se)?\b", q):
        return "person"
    if re.search(r"\bwhere\b|\bwhat (city|country|state|place|region|continent)\b", q):
        return "place"
    if re.search(r"\b(why|how)\b", q):
        return "reason"
    return "other"


def _type_match(kind: str, text: str) -> float:
    if kind == "date":
        return 1.0 if _YEAR.search(text) or _MONTH.search(text) else 0.0
    if kind == "number":
        return 1.0 if _NUMBER.search(text) else 0.0
    if kind in ("person", "place"):
        return 1.0 if re.search(r"(?<!^)(?<![.!?] )\b[A-Z][a-z]+", text) else 0.0
    return 0.0


def resolve_followup(question: str, history: Sequence[Turn | str]) -> str:
    """Carry the previous question's topic words into a short or pronoun-led follow-up.

    "and Iran?" after "What did Russia need?" becomes "and Iran? Russia need" for retrieval.
    """
    if not history:
        return question
    previous = history[-1]
    previous_q = previous.question if isinstance(previous, Turn) else previous
    words = re.findall(r"\w+", question)
    if len(words) > 6 and not _PRONOUN_START.search(question):
        return question
    mine = {w.lower() for w in words}
    topic = [w for w in re.findall(r"\w+", previous_q)
             if w.lower() not in STOPWORDS and w.lower() not in mine]
    return f"{question} {' '.join(dict.fromkeys(topic))}".strip() if topic else question


def key_span(question: str, sentence: str) -> tuple[int, int] | None:
    """The short phrase inside ``sentence`` that answers a factoid question, as offsets.

    Candidate phrases are runs of content words (with a leading article), dates, numbers and
    capitalised names that the question does not already contain; the one closest after the
    words the question and sentence share, and of the asked-for kind, wins. Why/how questions
    get no key span: the sentence is the answer.
    """
    kind = question_type(question)
    if kind == "reason":
        return None
    q_words = {_stem(w) for w in re.findall(r"\w+", question.lower())} - STOPWORDS
    tokens = [(m.start(), m.end(), m.group()) for m in _TOKEN.finditer(sentence)]
    if not tokens:
        return None
    matched = [i for i, (_, _, t) in enumerate(tokens) if _stem(t.lower()) in q_words]
    best: tuple[float, int, int] | None = None
    for a, b in _phrases(tokens, sentence):
        words = [tokens[i][2] for i in range(a, b)]
        if any(_stem(w.lower()) in q_words for w in words):
            continue
        text = sentence[tokens[a][0] : tokens[b - 1][1]]
        score = _type_match(kind, text) * 2.0 if kind != "other" else 0.0
        proper = words[0][0].isupper() or words[0].lower() in ("the", "a", "an")
        if kind in ("person", "place") and not proper:
            score -= 1.0
        if matched:
            distance = min(abs(a - m) if a > m else abs(m - b + 1) + 2 for m in matched)
            score -= 0.25 * distance
        score -= 0.05 * (b - a)
        if best is None or score > best[0]:
            best = (score, tokens[a][0], tokens[b - 1][1])
    return (best[1], best[2]) if best else None


def _phrases(tokens: list[tuple[int, int, str]], sentence: str) -> list[tuple[int, int]]:
    """Token ranges of candidate answer phrases: maximal runs of non-function words,
    optionally led by an article, split at punctuation."""
    spans = []
    i = 0
    n = len(tokens)
    while i < n:
        word = tokens[i][2].lower()
        if word in STOPWORDS and word not in ("the", "a", "an"):
            i += 1
            continue
        j = i + 1
        while j < n and tokens[j][2].lower() not in STOPWORDS and not re.search(
                r"[,;:()\"“”]", sentence[tokens[j - 1][1]:tokens[j][0]]) and j - i < 6:
            j += 1
        if word in ("the", "a", "an") and j == i + 1:
            i += 1
            continue
        spans.append((i, j))
        i = j
    return spans


def _stem(word: str) -> str:
    """A crude suffix stripper, enough to match 'needed' with 'need' and 'built' with 'build'."""
    for suffix in ("ing", "ed", "es", "s"):
        if len(word) > len(suffix) + 2 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word
