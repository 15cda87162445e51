"""The reader: choose the sentence that answers, narrow it to the key span, score, or abstain.

It receives the question, its vector and the retrieved passages, plus a read-only view of the
stored sentences (``SentenceView``); it never searches. Candidates are the stored sentences of
the passages whose article mentions every name and number the question asks about
(``qa.reader.names``); their vectors were computed at index time, so scoring them costs no model
call. A sentence's score mixes its cosine with the question, its BM25 against the question, its
passage's retrieval score and whether it holds the kind of thing the question asks for (a
person, a date, a number, a place). The few best are then read by the span extractor, whose
has-answer score joins theirs and whose span becomes the highlight. The confidence is a logistic
function of the chosen sentence's scores, calibrated on the SQuAD dev split (``eval/``). A
question asking what a name is ("Who is X?") is answered from the sentence that defines X, when
one does (``Reader.defined``), at a fixed confidence. A quote that uses the opposite of a word of
the question, dates itself by another year, negates nothing where the question does or negates
the question's words where it does not, or whose answering sentence has another name where the
question has one it never mentions, or whose key span holds the role the question asks about for
another name, is declined (``qa.reader.contrary``). Those checks find a question's names by
their capitals, so a question typed without any is first read with the capitals the articles of
its passages give its words (``qa.reader.casing``).
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from itertools import islice
from typing import Protocol

from qa.embedding import Vectors
from qa.models import Passage
from qa.reader.casing import cased, uncased
from qa.reader.contrary import negated, negative_prefix, opposite, other_name, other_owner, other_year, unnegated
from qa.reader.definition import defined_term, definition
from qa.reader.extractor import Extractor, Guess
from qa.reader.features import BM25_HALF, content_stems, question_type, stem, type_match
from qa.reader.names import asked, respelled, spelled, unmentioned
from qa.reader.spans import LEAD_WORDS, clause_words, key_span, ordered_overlap
from qa.retrieval import STOPWORDS, TermStatistics, common_words, fts_query
from qa.settings import FEATURES, LexicalSettings, ReaderSettings
from qa.store import SentenceRow

# The confidence of a quote that defines the name a "Who/What is X?" question asks about: the
# sentence says what X is in one of a few fixed shapes (``qa.reader.definition``), so what can
# still be wrong is which X retrieval found; below 1 for that, above the threshold (as a metadata
# answer's). It held the answer for every SQuAD dev question it answered (eval/README.md).
DEFINITION_CONFIDENCE = 0.9
# Sentences of one paragraph are separated by at most this many characters (a space, or a
# space and a citation mark's leftover); further apart, they are not neighbours.
NEIGHBOUR_GAP = 2
# A title's initials count as its words from this many letters: "IPCC" for "Intergovernmental
# Panel on Climate Change", "ABC" for "American Broadcasting Company" (two letters match words).
ACRONYM_LETTERS = 3


class SentenceView(TermStatistics, Protocol):
    """The read-only view of the index the reader needs (``qa.store.Store`` provides it)."""

    def sentences_in(self, article_id: str, start: int, end: int) -> list[SentenceRow]: ...

    def sentence_vectors(self, ids: Sequence[int]) -> Vectors: ...

    def article_text(self, article_id: str) -> str: ...

    def lexical_sentences(self, match: str, ids: Sequence[int]) -> dict[int, float]: ...


@dataclass(frozen=True)
class Candidate:
    """A sentence of a retrieved passage, its features (named in ``FEATURES``) and its score."""

    sentence: SentenceRow
    passage: Passage
    features: tuple[float, ...]
    score: float


@dataclass(frozen=True)
class Reading:
    """What the reader concluded, for the pipeline to cite.

    ``quote`` is the chosen sentence (or joined neighbours) as (article id, start, end) in the
    article; ``highlight`` is the key span's offsets inside the quote. Both are None when the
    reader declines. ``unmentioned`` holds, as the question spells them, the names and numbers
    of the question that no article of the passages mentions, when that is why it declined, and
    ``respelled`` the names of those articles that some of them likely misspell ("Telsa": "Tesla");
    ``contrary`` the question's word and what the best quote says instead (its opposite, another
    year, another name), and ``unnegated`` the question's negation that the best quote lacks, when
    that is why (``qa.reader.contrary``).
    """

    confidence: float
    quote: tuple[str, int, int] | None = None
    passage: Passage | None = None
    highlight: tuple[int, int] | None = None
    unmentioned: tuple[str, ...] = ()
    respelled: dict[str, str] = field(default_factory=dict)
    contrary: tuple[str, str] | None = None
    unnegated: str | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class _Choice:
    """The chosen candidate, the extractor's guess for it and its final score, and every
    candidate the extractor re-read with its guess."""

    candidate: Candidate
    guess: Guess
    score: float
    reread: tuple[tuple[Candidate, Guess], ...]


class Reader:
    """Turns retrieved passages into a ``Reading``.

    Args:
        extractor: reads the best few sentences for the key span (any ``Extractor``).
        settings: weights, re-read width, calibration and threshold.
        lexical: when the sentence BM25 query leaves common words out.
    """

    def __init__(self, extractor: Extractor, settings: ReaderSettings | None = None,
                 lexical: LexicalSettings | None = None) -> None:
        self.extractor = extractor
        self.settings = settings or ReaderSettings()
        self.lexical = lexical or LexicalSettings()

    def read(self, question: str, query_vector: Vectors, passages: list[Passage],
             view: SentenceView) -> Reading:
        """Choose the answering sentence of ``passages`` and its key span, or decline.

        Args:
            query_vector: the question's embedding, (1, dim).
        """
        started = time.perf_counter()
        fetched: dict[str, str] = {}  # article id -> text, for a question typed in lower case only
        typed_case = not uncased(question)
        if not typed_case:
            fetched = {a: view.article_text(a) for a in dict.fromkeys(p.article_id for p in passages)}
            question = cased(question, list(fetched.values()))
        scored = [Candidate(row, p, f, self.score(f))
                  for row, p, f in self.candidates(question, query_vector, passages, view)]
        mentions = Mentions(question, view, fetched)
        defined = self.defined(question, scored, mentions)
        if defined is not None:
            return _unless_contrary(question, defined, scored, None, mentions, typed_case,
                                    {"score_ms": (time.perf_counter() - started) * 1000})
        t_read = time.perf_counter()
        choice = self.choose(question, scored, view, mentions)
        timings = {"score_ms": (t_read - started) * 1000, "extract_ms": (time.perf_counter() - t_read) * 1000}
        if choice is None:
            return Reading(confidence=0.0, unmentioned=mentions.nowhere(), respelled=mentions.respelled(),
                           timings_ms=timings)
        best = choice.candidate
        confidence = self.confidence(best.features, choice.score, choice.guess)
        if confidence < self.settings.threshold:
            return Reading(confidence=confidence, timings_ms=timings)
        start, end = self._joined(best, scored)
        source, guess = self._surest(choice, start, end)
        shift = source.sentence.start - start
        # Why/how questions are highlighted too: the extractor's span is the clause that gives the
        # reason more often than the whole sentence is (key-span EM and F1 rose on five of five
        # article folds: eval/README.md, "Numbers written as words, the question word that asks").
        highlight = (guess.start + shift, guess.end + shift) if guess.end > guess.start else None
        return _unless_contrary(question, Reading(
            confidence=confidence, quote=(best.sentence.article_id, start, end), passage=best.passage,
            highlight=highlight), scored, (source.sentence.text, guess.start if highlight else None), mentions,
            typed_case, timings)

    @staticmethod
    def defined(question: str, scored: list[Candidate], mentions: Mentions) -> Reading | None:
        """For a "Who/What is X?" question, the best-scored sentence that says what X is, quoted
        with that description highlighted; None when the question is of another kind or no
        sentence defines X. The sentence score and the confidence miss such a sentence when it
        is long and about something else ("...," explains Meir Javedanfar, Iran lecturer at the
        IDC Herzliya in Israel), and the extractor often highlights another name in it."""
        term = defined_term(question)
        if term is None:
            return None
        for c in sorted(scored, key=lambda c: c.score, reverse=True):
            span = definition(term, c.sentence.text)
            if span is not None and mentions(c):
                r = c.sentence
                return Reading(confidence=DEFINITION_CONFIDENCE, quote=(r.article_id, r.start, r.end),
                               passage=c.passage, highlight=span)
        return None

    def candidates(
        self, question: str, query_vector: Vectors, passages: list[Passage], view: SentenceView,
    ) -> list[tuple[SentenceRow, Passage, tuple[float, ...]]]:
        """Every sentence of the passages with its features (named in ``FEATURES``)."""
        sentences: dict[int, tuple[SentenceRow, Passage]] = {}
        for p in passages:
            for s in view.sentences_in(p.article_id, p.start, p.end):
                if s.id not in sentences and s.start >= p.start and s.end <= p.end:
                    sentences[s.id] = (s, p)
        if not sentences:
            return []
        ids = list(sentences)
        rows = [sentences[i][0] for i in ids]
        cos = (view.sentence_vectors(ids) @ query_vector[0]).tolist()  # (n,)
        # Neighbours by position: the sentence starting just after one ends, and the reverse.
        starting = {(r.article_id, r.start): (c, r.text) for r, c in zip(rows, cos, strict=True)}
        ending = {(r.article_id, r.end): (c, r.text) for r, c in zip(rows, cos, strict=True)}
        common = common_words(view, question, "sentences", self.lexical)
        bm25 = view.lexical_sentences(fts_query(question, common), ids)
        top_bm25 = max(bm25.values(), default=0.0) or 1.0
        top_passage = max((p.score for p in passages), default=0.0) or 1.0
        wanted = question_type(question)
        q_stems = content_stems(question)
        idf = self._idf(question, view)
        idf_total = sum(idf.values()) or 1.0
        titles = {p.article_id: q_stems & _title_words(p.title) for p in passages}
        out: list[tuple[SentenceRow, Passage, tuple[float, ...]]] = []
        for sid, similarity in zip(ids, cos, strict=True):
            row, passage = sentences[sid]
            after = _neighbour(starting, row.article_id, row.end, +1)
            before = _neighbour(ending, row.article_id, row.start, -1)
            raw = bm25.get(sid, 0.0)
            # Every sentence of an article is about its title: the question's words in the title
            # count as covered (``_title_words``), so "He died in 1227" covers "When did Genghis
            # Khan die?" as well as a sentence that repeats the name (eval/README.md, "The title's words").
            stems = content_stems(row.text) | titles[row.article_id]
            window = stems | content_stems(f"{after[1]} {before[1]}")
            out.append((row, passage, (
                similarity, raw / top_bm25, passage.score / top_passage,
                type_match(wanted, row.text, q_stems),
                len(q_stems & stems) / len(q_stems) if q_stems else 0.0,
                max(before[0], after[0]), 1.0 / passage.rank, raw / (raw + BM25_HALF),
                sum(v for t, v in idf.items() if t in stems) / idf_total,
                sum(v for t, v in idf.items() if t in window) / idf_total,
            )))
        return out

    def _idf(self, question: str, view: SentenceView) -> dict[str, float]:
        """Inverse sentence frequency of each content word of the question, keyed by its stem."""
        words = {w for w in re.findall(r"\w+", question.lower()) if w not in STOPWORDS}
        total, counts = view.term_documents(sorted(words), "sentences")
        idf: dict[str, float] = {}
        for word, n in counts.items():
            key = stem(word)
            idf[key] = max(idf.get(key, 0.0), math.log((total + 1) / (n + 0.5)))
        return idf

    def score(self, features: tuple[float, ...]) -> float:
        """The sentence score: the fitted weights dotted with its features."""
        weights = self.settings.sentence_weights
        return sum(weights[name] * f for name, f in zip(FEATURES, features, strict=True))

    def choose(self, question: str, scored: list[Candidate], view: SentenceView,
               mentions: Mentions) -> _Choice | None:
        """The best sentence once the extractor has re-scored the ``rerank`` best (``rerank_large``
        in a large index) that score within ``rerank_margin`` of the best, with its span; of the
        candidates whose article mentions the question's names and numbers (``Mentions``), None
        when there are none."""
        large = view.term_documents([], "sentences")[0] > self.settings.large_above
        width = self.settings.rerank_large if large else self.settings.rerank
        ranked = list(islice(filter(mentions, sorted(scored, key=lambda c: c.score, reverse=True)), width))
        if not ranked:
            return None
        top = [c for c in ranked if c.score >= ranked[0].score - self.settings.rerank_margin]
        texts = [c.sentence.text for c in top]
        hints = [self.hint(question, t) for t in texts]
        guesses = self.extractor.spans(question, texts, hints, self.settings.hint_margin,
                                       [c.passage.title for c in top])
        w = self.settings.extractor_weight
        reread = tuple(zip(top, guesses, strict=True))
        best = max(reread, key=lambda cg: cg[0].score + w * cg[1].has_answer)
        return _Choice(best[0], best[1], best[0].score + w * best[1].has_answer, reread)

    @staticmethod
    def _surest(choice: _Choice, start: int, end: int) -> tuple[Candidate, Guess]:
        """The sentence of the quote ``[start, end)`` whose key span is the highlight: the one the
        extractor re-read with the highest has-answer score (the chosen one on a tie). A joined
        neighbour often holds the answer the chosen sentence only leads up to (what Iran and Russia
        each needed, after the sentence about the Bushehr reactor); chosen over the chosen
        sentence's own span on each of five article folds (``qa_eval.fit_reader.highlight_by_folds``)."""
        best = choice.candidate
        source, guess = best, choice.guess
        for c, g in choice.reread:
            r = c.sentence
            if (r.article_id == best.sentence.article_id and start <= r.start and r.end <= end
                    and g.has_answer > guess.has_answer):
                source, guess = c, g
        return source, guess

    def hint(self, question: str, sentence: str) -> tuple[int, int] | None:
        """``key_span``'s phrase when the question's opening clause (at least ``hint_words`` of its
        words) leads up to it in order: "Iran badly needed | the expertise", not "Russia badly
        needed | the cash", for "What did Iran need from Russia ...?". None for why/how questions,
        which ``key_span`` gives no phrase."""
        span = key_span(question, sentence)
        if span is None:
            return None
        q_order = [stem(w) for w in re.findall(r"\w+", question.lower()) if w not in STOPWORDS]
        before = [stem(w) for w in re.findall(r"\w+", sentence[: span[0]].lower())][-LEAD_WORDS:]
        needed = max(self.settings.hint_words, clause_words(question))
        return span if ordered_overlap(q_order, before) >= needed else None

    def confidence(self, features: tuple[float, ...], score: float, guess: Guess) -> float:
        """P(the chosen sentence answers), from the calibrated logistic model over the inputs
        its calibration names (some of ``CONFIDENCE_FEATURES``, which the settings check)."""
        named = dict(zip(FEATURES, features, strict=True)) | {
            "score": score, "has_answer": guess.has_answer, "null": guess.null, "bias": 1.0}
        return _sigmoid(sum(w * named[n] for n, w in self.settings.calibration.items()))

    def _joined(self, best: Candidate, scored: list[Candidate]) -> tuple[int, int]:
        """The span of the best sentence, widened by adjacent same-paragraph sentences that score
        within ``join_margin`` of it (the text between them is whitespace, never other text)."""
        s, e = best.sentence.start, best.sentence.end
        for c in scored:
            r = c.sentence
            if (r.article_id == best.sentence.article_id and r.paragraph == best.sentence.paragraph
                    and c.score >= best.score - self.settings.join_margin
                    and (0 <= r.start - best.sentence.end <= NEIGHBOUR_GAP
                         or 0 <= best.sentence.start - r.end <= NEIGHBOUR_GAP)):
                s, e = min(s, r.start), max(e, r.end)
        return s, e


class Mentions:
    """Whether a candidate's article (its text, title, author or date) mentions every name and
    number the question asks about (``qa.reader.names``): an article that never mentions the
    Eiffel Tower does not say how tall it is, whichever of its sentences shares the question's
    other words. Each article is looked up once, and only when a candidate of it is about to be
    read, so the many articles a large index's passages come from are mostly never fetched;
    ``fetched`` holds the texts of those already fetched (``qa.reader.casing`` reads them first).
    """

    def __init__(self, question: str, view: SentenceView, fetched: Mapping[str, str] | None = None) -> None:
        self.question = question
        self.terms = asked(question)
        self.view = view
        self.fetched = fetched or {}
        self.missing: dict[str, list[str]] = {}  # article id -> the terms it never mentions
        self.texts: dict[str, str] = {}  # article id -> its text with its metadata

    def __call__(self, candidate: Candidate) -> bool:
        if not self.terms:
            return True
        article = candidate.sentence.article_id
        if article not in self.missing:
            self.missing[article] = unmentioned(self.terms, self.text(candidate))
        return not self.missing[article]

    def text(self, candidate: Candidate) -> str:
        """The text of the candidate's article after its title, author and date (fetched once)."""
        article = candidate.sentence.article_id
        if article not in self.texts:
            p = candidate.passage
            body = self.fetched[article] if article in self.fetched else self.view.article_text(article)
            self.texts[article] = f"{p.title}\n{p.author or ''}\n{p.published or ''}\n{body}"
        return self.texts[article]

    def nowhere(self) -> tuple[str, ...]:
        """The terms that no article looked up mentions, as the question spells them: what to
        tell a user whose question every candidate failed (none when no article was looked up)."""
        return tuple(spelled(self.question, t) for t in self._nowhere())

    def respelled(self) -> dict[str, str]:
        """For each term of ``nowhere`` that likely misspells a name of the articles looked up,
        that name as they spell it, keyed by the term as the question spells it."""
        texts = list(self.texts.values())
        found = {spelled(self.question, t): respelled(t, texts) for t in self._nowhere()}
        return {term: name for term, name in found.items() if name is not None}

    def _nowhere(self) -> list[str]:
        """The terms no article looked up mentions, as ``asked`` gives them (none when no article
        was looked up)."""
        if not self.missing:
            return []
        return [t for t in self.terms if all(t in gone for gone in self.missing.values())]


def _unless_contrary(question: str, reading: Reading, scored: list[Candidate],
                     answering: tuple[str, int | None] | None, mentions: Mentions, typed_case: bool,
                     timings: dict[str, float]) -> Reading:
    """``reading`` with ``timings``, or a decline when its quote uses the opposite of a word of
    the question, names other years than the question's, negates nothing where the question does
    or negates two of its words in a row where it does not, or when ``answering`` (the quote's
    sentence holding the answer, with where its key span starts, if it has one; None for a
    definition) has another name in the place of one it never mentions, or its key span names
    who holds the role the question asks about, but for another name ("Russia's President
    Vladimir Putin" for "Iran's president") (``qa.reader.contrary``). The quote's text is that of the
    candidates it spans, and its article's text is read from ``mentions`` only when a name is
    swapped; ``typed_case`` is false for a question typed in lower case."""
    assert reading.quote is not None  # both callers pass an answer
    article_id, start, end = reading.quote
    within = [c for c in scored
              if c.sentence.article_id == article_id and start <= c.sentence.start and c.sentence.end <= end]
    quote = " ".join(c.sentence.text for c in within)
    sentence, key_at = answering or (quote, None)
    said = (opposite(question, quote) or negative_prefix(question, quote) or other_year(question, quote)
            or other_name(question, sentence, lambda: mentions.text(within[0]), typed_case)
            or (other_owner(question, sentence, key_at) if key_at is not None else None)
            or negated(question, quote))
    negation = unnegated(question, quote)
    if said is not None or negation is not None:
        return Reading(confidence=0.0, contrary=said, unnegated=negation, timings_ms=timings)
    return replace(reading, timings_ms=timings)


def _title_words(title: str) -> set[str]:
    """The stems of a title that every sentence of its article counts as saying: its content
    words, not its numbers. A number in a title names one of a series ("Super Bowl 50", "1973 oil
    crisis"), and the article's sentences often speak of others ("Super Bowl XIX ... won by the
    home team 49ers" is no answer to who won Super Bowl 50), so a number counts only where a
    sentence says it. The initials of its capitalised words count too, from ``ACRONYM_LETTERS``:
    a question about "Intergovernmental Panel on Climate Change" names it "IPCC" (out of fold, 6
    more right answers and none lost: eval/README.md, "A title's initials"); initials that spell
    no word a question uses ("PAABW") cost nothing."""
    words = {s for s in content_stems(title) if not any(c.isdigit() for c in s)}
    initials = "".join(w[0] for w in re.findall(r"[^\W\d_]+", title) if w[0].isupper()).lower()
    return words | {stem(initials)} if len(initials) >= ACRONYM_LETTERS else words


def _neighbour(by_edge: dict[tuple[str, int], tuple[float, str]], article_id: str, edge: int,
               step: int) -> tuple[float, str]:
    """The (cosine, text) of the candidate whose edge lies 1 or 2 characters from ``edge`` in
    direction ``step``, nearest first; (0.0, "") when no candidate sits there."""
    for gap in range(1, NEIGHBOUR_GAP + 1):
        found = by_edge.get((article_id, edge + step * gap))
        if found is not None:
            return found
    return 0.0, ""


def _sigmoid(x: float) -> float:
    """The logistic function, never NaN and never overflowing, whatever damaged inputs give it."""
    if math.isnan(x):
        return 0.0
    return 1.0 / (1.0 + math.exp(-min(max(x, -60.0), 60.0)))
