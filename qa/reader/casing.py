"""A question typed without capitals, read with the capitals its articles give its words.

People in a chat often type in lower case ("who won super bowl 50", "where did tesla die"). The
reader's near-miss checks find a question's names by their capitals (``qa.reader.names``,
``qa.reader.contrary``, ``qa.reader.definition``), so a question without them names nothing and
those checks pass whatever it asks. The articles its passages come from know which of its words
are names: a word they spell with a capital inside a sentence more often than without one is one
("bowl" in "Super Bowl 50", "tesla" in "In 1884, Tesla moved"). A capital counts only where the
word is a name alone or with another of the question's words: "company" is no name for a
question that never says "Pokémon", though the article writes "The Pokémon Company", while "new"
is one beside "york" in "New York City". The reader reads such a question with those words
spelled as the articles spell them most often ("NFL", "McDonald"). A question with any capital
past its first letter keeps its own: its writer chose them. A name no article read uses stays
lower case; whether such a word is a name cannot be told from the articles (measured:
``eval/README.md``, "Questions typed in lower case").
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from itertools import takewhile

from qa.reader.names import ends_word, starts_word
from qa.retrieval import STOPWORDS

_WORD = re.compile(r"[^\W\d_]+")
# What ends a sentence before a word, whose capital then says nothing about the word.
_SENTENCE_END = frozenset(".!?\n\"“”'‘’:")
# The capitalised words right before and after a word, each followed (or preceded) by one space
# or hyphen: the rest of the name it is part of ("The Pokémon" before "Company").
_NAME_BEFORE = re.compile(r"(?:[^\W\d_][\w'’]*[ -])+$")
_NAME_AFTER = re.compile(r"^(?:[ -][^\W\d_][\w'’]*)+")
_REACH = 60  # characters looked at on each side for the rest of a name


def uncased(question: str) -> bool:
    """Whether ``question`` has no capital past its first letter."""
    return not any(c.isupper() for c in question[1:])


def cased(question: str, texts: Sequence[str]) -> str:
    """``question`` with each word of an ``uncased`` question, past its first, spelled as
    ``texts`` spell it most often inside a sentence, where that spelling has a capital; any
    other question as it is.

    >>> cased("who won super bowl 50?", ["The Denver Broncos won Super Bowl 50."])
    'who won Super Bowl 50?'
    """
    if not uncased(question):
        return question
    found = list(_WORD.finditer(question))
    if not found:
        return question
    first = found[0].start()
    spellings = _spellings({m.group() for m in found[1:]} - STOPWORDS, texts)  # a stopword is never a name
    return _WORD.sub(lambda m: m.group() if m.start() == first else spellings.get(m.group(), m.group()), question)


def _spellings(words: set[str], texts: Sequence[str]) -> dict[str, str]:
    """For each of ``words`` (lower case) that ``texts`` spell inside a sentence more often with
    a capital, in a name that is the word alone or has another of ``words``, than without one: that
    capitalised spelling (the commonest)."""
    seen: dict[str, Counter[str]] = {}
    for text in texts:
        lower = text.lower()
        for word in words:
            for at in _occurrences(text, lower, word):
                spelling = text[at:at + len(word)]
                if _starts_sentence(text, at) or (spelling[0].isupper() and not _asked_name(text, at, word, words)):
                    continue
                seen.setdefault(word, Counter())[spelling] += 1
    found = {}
    for lower, counts in seen.items():
        spelling, n = counts.most_common(1)[0]
        if spelling != lower and n > counts[lower]:
            found[lower] = spelling
    return found


def _occurrences(text: str, lower: str, word: str) -> Iterator[int]:
    """Where ``word`` (lower case) stands whole in ``text``, whatever its case. Found with
    ``str.find`` in ``lower``, the text in lower case, several times faster than a regular
    expression that ignores case over a few long articles; by that expression in a text whose
    lower case is not as long ("İ")."""
    if len(lower) != len(text):
        yield from (m.start() for m in re.finditer(rf"\b{re.escape(word)}\b", text, re.IGNORECASE))
        return
    at = lower.find(word)
    while at >= 0:
        end = at + len(word)
        if starts_word(lower, at) and ends_word(lower, end):
            yield at
        at = lower.find(word, end)


def _asked_name(text: str, at: int, word: str, words: set[str]) -> bool:
    """Whether the name that ``word`` at ``at`` is part of in ``text`` (the capitalised words
    right before and after it, stopwords aside) is the word alone, or has another of ``words``."""
    before = _NAME_BEFORE.search(text[max(0, at - _REACH):at])
    after = _NAME_AFTER.search(text[at + len(word):at + len(word) + _REACH])
    named = [*_capitalised(reversed(_WORD.findall(before.group() if before else ""))),
             *_capitalised(_WORD.findall(after.group() if after else ""))]
    named = [w.lower() for w in named if w.lower() not in STOPWORDS]
    return not named or any(w in words for w in named)


def _capitalised(words: Iterable[str]) -> list[str]:
    """The leading words of ``words`` that start with a capital."""
    return list(takewhile(lambda w: w[0].isupper(), words))


def _starts_sentence(text: str, at: int) -> bool:
    """Whether the word at ``at`` is the first of its sentence, line or quotation."""
    i = at - 1
    while i >= 0 and text[i] in " \t":
        i -= 1
    return i < 0 or text[i] in _SENTENCE_END
