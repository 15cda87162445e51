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
# Numbers written as words: "eight counties" answers "How many counties ...?" as "8 counties" does.
_NUMBER_WORD = re.compile(
    r"(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen"
    r"|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|hundreds?"
    r"|thousands?|millions?|billions?|dozens?|half|twice|once|single|double|triple|first|second|third)")
# A century is a date: "the 12th century", "the twelfth century".
_CENTURY = re.compile(
    r"\b(\d{1,2}(?:st|nd|rd|th)|first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|eleventh"
    r"|twelfth|thirteenth|fourteenth|fifteenth|sixteenth|seventeenth|eighteenth|nineteenth|twentieth"
    r"|twenty-first)[\s-]+centur", re.IGNORECASE)
QUESTION_WORD = re.compile(r"\b(what|which|when|where|who|whom|whose|why|how)\b")
BM25_HALF = 5.0  # the raw BM25 at which ``bm25_absolute`` reaches one half


def question_type(question: str) -> str:
    """The kind of answer a question asks for: person, date, number, place, reason or other.

    Read from the question word that asks (``_asking_word``), not from any "when" or "who" in the
    question: "How old was Katharina when she married Luther?" asks a number, and "What Doctor
    Who spin-off ...?" a thing, not a person.
    """
    q = question.lower()
    asking = _asking_word(q)
    if asking is None:
        return "other"
    word, rest = asking.group(), q[asking.start():]
    if word == "when" or re.match(r"(what|which) (year|decade|century|month|day|date)\b", rest):
        return "date"
    if re.match(r"how (many|much|long|far|old|large|big|tall|high)\b|(what|which) (percentage|percent|number|amount)\b",
                rest):
        return "number"
    if word in ("who", "whom", "whose"):
        return "person"
    if word == "where" or re.match(r"what (city|country|state|place|region|continent)\b", rest):
        return "place"
    if word in ("why", "how"):
        return "reason"
    return "other"


def _asking_word(question: str) -> re.Match[str] | None:
    """The question word that asks, in a lower-cased question: the first, unless the question
    opens with a "When ..." clause that a later one follows ("When many people are arrested,
    what is a common tactic?")."""
    words = list(QUESTION_WORD.finditer(question))
    if not words:
        return None
    comma = question.find(",")
    if words[0].group() == "when" and words[0].start() == 0 and comma > 0:
        return next((m for m in words if m.start() > comma), words[0])
    return words[0]


def type_match(kind: str, text: str, exclude: set[str] = frozenset()) -> float:  # type: ignore[assignment]
    """1.0 when ``text`` holds something of the asked-for kind that the question does not: for
    a date a year, a month or a century; for a number digits or a number written as a word;
    for a person or place a capitalised word after the first. Numbers as words and centuries
    put the answering sentence first more often on each of five article folds, and four of the
    five chose them end to end (eval/README.md, "Numbers written as words")."""
    if kind == "other" or kind == "reason":
        return 0.0
    if kind == "date" and any(stem(m.group(1).lower()) not in exclude for m in _CENTURY.finditer(text)):
        return 1.0
    for m in re.finditer(r"\b[\w$£€%][\w'’.,$%-]*", text):
        word = m.group()
        if stem(word.lower()) in exclude:
            continue
        bare = word.rstrip(".,")
        if kind == "date" and (_YEAR.fullmatch(bare) or _MONTH.fullmatch(bare)):
            return 1.0
        if kind == "number" and (_NUMBER.search(word) or _NUMBER_WORD.fullmatch(bare.lower())):
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
