"""Sentence features the reader scores: the kind of answer asked for, word overlap, stems.

Cheap text signals computed for every candidate sentence before any model reads it; their
weights are fitted by ``eval/tune_reader.py`` (``qa/data/reader/weights.json``).
"""

from __future__ import annotations

import re
from functools import lru_cache

import snowballstemmer

from qa.retrieval import STOPWORDS

_YEAR = re.compile(r"\b(1[0-9]{3}|20[0-9]{2})s?\b")
_NUMBER = re.compile(r"\d")
_MONTH = re.compile(
    r"\b(January|February|March|April|May|June|July|August|September|October|November|December)\b")
BM25_HALF = 5.0  # the raw BM25 at which ``bm25_absolute`` reaches one half


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


def type_match(kind: str, text: str, exclude: set[str] = frozenset()) -> float:  # type: ignore[assignment]
    """1.0 when ``text`` holds something of the asked-for kind that the question does not."""
    if kind == "other" or kind == "reason":
        return 0.0
    for m in re.finditer(r"\b[\w$£€%][\w'’.,$%-]*", text):
        word = m.group()
        if stem(word.lower()) in exclude:
            continue
        if kind == "date" and (_YEAR.fullmatch(word.rstrip(".,")) or _MONTH.fullmatch(word.rstrip(".,"))):
            return 1.0
        if kind == "number" and _NUMBER.search(word):
            return 1.0
        if kind in ("person", "place") and m.start() > 0 and word[0].isupper():
            return 1.0
    return 0.0


def content_stems(text: str) -> set[str]:
    """The stems of the words of ``text`` that are not function words."""
    return {stem(w) for w in re.findall(r"\w+", text.lower()) if w not in STOPWORDS}


@lru_cache(maxsize=1 << 16)
def stem(word: str) -> str:
    """The Snowball (Porter2) English stem of a lower-cased word: 'died' and 'dies' meet 'die',
    'needed' meets 'need'. Snowball rather than FTS5's original Porter, which leaves 'died' as
    'di' apart from 'die'; cached, since a few thousand words make up most questions and
    sentences (a stem costs about 50 microseconds)."""
    return str(_ENGLISH.stemWord(word))


_ENGLISH = snowballstemmer.stemmer("english")
