"""Key spans by rule: the short phrase inside a sentence that answers a factoid question.

The extractor (``qa.reader.extractor``) marks spans too; this rule wins where the question's
own word order says which subject it names (see ``ReaderSettings.hint_words``). The extractor's
decoding also reads here how much of a span the question repeats (``repeated_share``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import NamedTuple

from qa.reader.features import content_stems, question_type, stem, type_match
from qa.retrieval import STOPWORDS

_TOKEN = re.compile(r"[\w$£€%][\w'’.,$%-]*[\w%]|[\w$£€%]", re.UNICODE)


class SpanWeights(NamedTuple):
    """Weights of the key-span score (chosen on the dev split, eval/README.md)."""

    type: float = 2.0  # the phrase is of the asked-for kind (a date, a number, a name)
    name: float = 1.0  # penalty: a who/where answer that is not a name
    distance: float = 0.1  # penalty per word away from the words question and sentence share
    order: float = 0.2  # per question word leading up to the phrase in the question's order
    length: float = 0.05  # penalty per word of the phrase
    verb: float = 1.0  # penalty: a lone lower-case word ending like a verb or an adverb
    capital: float = 0.9  # bonus: a name or number answering a what/which question


LEAD_WORDS = 6  # words before a phrase that may lead up to it in the question's order
PHRASE_WORDS = 6  # longest candidate phrase, in words
# Prepositions that close the clause a question opens with ("What did Iran need | from Russia").
_CLAUSE_END = frozenset({"about", "after", "as", "at", "before", "by", "during", "for", "from", "in", "into",
                         "of", "on", "since", "than", "to", "with"})


SPAN_WEIGHTS = SpanWeights()


def key_span(question: str, sentence: str, weights: SpanWeights = SPAN_WEIGHTS) -> tuple[int, int] | None:
    """The short phrase inside ``sentence`` that answers a factoid question, as offsets.

    Candidate phrases are runs of content words (with a leading article), dates, numbers and
    capitalised names that the question does not already contain; the one closest after the
    words the question and sentence share, and of the asked-for kind, wins. Why/how questions
    get none: their reason is a clause, not a phrase of a kind, and the extractor alone finds it.
    """
    kind = question_type(question)
    if kind == "reason":
        return None
    q_order = [stem(w) for w in re.findall(r"\w+", question.lower()) if w not in STOPWORDS]
    q_words = set(q_order)
    tokens = [(m.start(), m.end(), m.group()) for m in _TOKEN.finditer(sentence)]
    if not tokens:
        return None
    matched = [i for i, (_, _, t) in enumerate(tokens) if stem(t.lower()) in q_words]
    best: tuple[float, int, int] | None = None
    for a, b in _phrases(tokens, sentence):
        # Question words at the edges are trimmed ("1973" of "October 1973" stays inside).
        while a < b and stem(tokens[a][2].lower()) in q_words:
            a += 1
        while b > a and stem(tokens[b - 1][2].lower()) in q_words:
            b -= 1
        words = [tokens[i][2] for i in range(a, b)]
        if not words or sum(stem(w.lower()) in q_words for w in words) * 2 >= len(words):
            continue
        text = sentence[tokens[a][0] : tokens[b - 1][1]]
        score = weights.type * type_match(kind, text)
        proper = words[0][0].isupper() or words[0].lower() in ("the", "a", "an")
        if kind in ("person", "place") and not proper:
            score -= weights.name
        if len(words) == 1 and words[0].islower() and words[0].endswith(("ed", "ing", "ly")):
            score -= weights.verb  # most likely a verb or an adverb, not an answer
        if kind == "other" and any(w[0].isupper() or w[0].isdigit() for w in words):
            score += weights.capital
        if matched:
            distance = min(abs(a - m) if a > m else abs(m - b + 1) + 2 for m in matched)
            score -= weights.distance * distance
            # Question words just before the phrase, in the question's order: "Iran badly needed
            # | the expertise" answers "What did Iran badly need ...", not "Russia badly needed".
            window = [stem(tokens[i][2].lower()) for i in range(max(0, a - LEAD_WORDS), a)]
            score += weights.order * ordered_overlap(q_order, window)
        score -= weights.length * (b - a)
        if best is None or score > best[0]:
            best = (score, tokens[a][0], tokens[b - 1][1])
    return (best[1], best[2]) if best else None


def clause_words(question: str) -> int:
    """How many content words the question's opening clause holds: those after its first word, up
    to the first preposition after one of them. "What did Iran need from Russia to build ..." has
    two (Iran, need): its subject and verb, which must lead up to the phrase that answers it."""
    count = 0
    for word in re.findall(r"\w+", question.lower())[1:]:
        if count and word in _CLAUSE_END:
            break
        count += word not in STOPWORDS
    return count


def repeated_share(question: str) -> Callable[[str], float]:
    """A function giving the share of a phrase's content words the question already holds (1.0
    for a phrase of function words alone). SQuAD's answers rarely repeat their question, and the
    extractor's spans often do ("Which NFL team represented the AFC" -> "The American Football
    Conference (AFC) champion Denver Broncos"), so the extractor's decoding subtracts it."""
    asked = content_stems(question)

    def share(phrase: str) -> float:
        words = [stem(w) for w in re.findall(r"\w+", phrase.lower()) if w not in STOPWORDS]
        return sum(w in asked for w in words) / len(words) if words else 1.0

    return share


def ordered_overlap(a: list[str], b: list[str]) -> int:
    """Length of the longest common subsequence of two short word lists."""
    table = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i, x in enumerate(a):
        for j, y in enumerate(b):
            table[i + 1][j + 1] = table[i][j] + 1 if x == y else max(table[i][j + 1], table[i + 1][j])
    return table[-1][-1]


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
                r"[,;:()\"“”]", sentence[tokens[j - 1][1]:tokens[j][0]]) and j - i < PHRASE_WORDS:
            j += 1
        if word in ("the", "a", "an") and j == i + 1:
            i += 1
            continue
        spans.append((i, j))
        i = j
    return spans
