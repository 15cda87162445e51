"""Names and numbers a question asks about that an article never mentions.

A question that names something ("How tall is the Eiffel Tower?", "Who elects the members of
the American Parliament?") is not answered by an article that never mentions that name, however
well one of its sentences matches the question's other words. The sentence score cannot see
this: it weighs every shared word, and a near-miss shares all but one. SQuAD 2.0's unanswerable
questions are often written just so, by swapping a name of the paragraph for another, and a
user asking about something the corpus lacks gets the closest article's sentence. So the reader
leaves out the sentences of articles that never mention a name of the question (measured out
of fold: ``eval/README.md``, "Names and numbers the article never mentions").

A name is a capitalised word after the question's first word, not a stopword and not an
acronym: "TV" or "NYC" is often spelled out in the text ("television", "New York City"). In a
question whose every word is capitalised, capitals say nothing, so it has no names. An article
mentions a name when one of its words (or its title's, author's or date's) starts with it ("Luther" in
"Lutheran"), or is it less a suffix of at most three letters ("Asian" by "Asia", "Germans" by
"German"), letter case and accents aside ("Celoron" is "Céloron", "Sklodowska" "Skłodowska").

Numbers are the other half of a question's particulars, and near-misses change them as often
("What battle involved the Confederate cavalry in 1862?"): a number of two characters or more
("50", "1862", "11.6"; "1,000" is "1000") must be in the article as a number, not as part of a
longer one ("1862" is in "1862s" and "in 1862," but not in "18620" or "1862.5").
"""

from __future__ import annotations

import re
import unicodedata
from collections import ChainMap
from collections.abc import Sequence
from functools import lru_cache

from rapidfuzz import process
from rapidfuzz.distance import OSA

from qa.retrieval import STOPWORDS

_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)*")
_POSSESSIVE = re.compile(r"'s$")
_ACCENTS = re.compile(r"[\u0300-\u036f]")  # the combining marks NFKD splits off letters
# Latin letters NFKD leaves whole, as a reader typing without them spells them ("Sklodowska" for
# "Skłodowska", "Bolesław" is "Boleslaw"). A table rather than a transliteration library, which
# would also turn other scripts into Latin letters that then match unrelated words.
_UNSPLIT = str.maketrans({"ł": "l", "Ł": "L", "ø": "o", "Ø": "O", "đ": "d", "Đ": "D", "ħ": "h", "Ħ": "H",
                          "ı": "i", "ŧ": "t", "Ŧ": "T", "æ": "ae", "Æ": "Ae", "œ": "oe", "Œ": "Oe",
                          "ß": "ss", "þ": "th", "Þ": "Th", "ð": "d", "Ð": "D"})
# How many letters a question's word may have past an article's word that it extends, and the
# fewest letters that article word must have ("Germans" -> "German", never "Ge").
SUFFIX_LETTERS = 3
SHORTEST_STEM = 4
NUMBER = re.compile(r"\d[\d,.]*\d|\d")  # a numeral, with its inner commas and points
SHORTEST_NUMBER = 2  # characters: a single digit is too common to tell articles apart
# Letters: a name shorter than SHORTEST_RESPELLED has no respelling, since one edit turns such a
# name into another ("Bach", "Bath"); from TWO_EDITS_FROM letters, two edits are allowed.
SHORTEST_RESPELLED = 5
TWO_EDITS_FROM = 7


def asked(question: str) -> list[str]:
    """What the question names (``names``) and its numbers (``numbers``), in that order."""
    return names(question) + numbers(question)


def names(question: str) -> list[str]:
    """The question's names, folded (lower case, no accents, no possessive), in order."""
    words = list(_WORD.finditer(_folded_case(question)))
    if all(m.group()[0].isupper() for m in words):
        return []
    found = []
    for m in words[1:]:
        word = _POSSESSIVE.sub("", m.group())
        if capitalised(word) and word.lower() not in STOPWORDS:
            found.append(word.lower())
    return found


def capitalised(word: str) -> bool:
    """Whether ``word`` is capitalised as a name is: a capital first, and not an acronym ("TV",
    "NYCs"), which the text often spells out."""
    return word[0].isupper() and not word.rstrip("s").isupper()


def numbers(question: str) -> list[str]:
    """The question's numbers of at least ``SHORTEST_NUMBER`` characters, without commas."""
    found = (n.replace(",", "") for n in NUMBER.findall(question))
    return [n for n in found if len(n) >= SHORTEST_NUMBER]


def spelled(question: str, term: str) -> str:
    """``term`` (as ``asked`` gives it) as the question spells it, for telling the user which of
    their words no article mentions ("Eiffel", not "eiffel")."""
    if term[0].isdigit():
        return next((n for n in NUMBER.findall(question) if n.replace(",", "") == term), term)
    for m in _WORD.finditer(question):
        word = _POSSESSIVE.sub("", m.group())
        if _folded_case(word).lower() == term:
            return word
    return term


def respelled(term: str, texts: Sequence[str]) -> str | None:
    """The name of ``texts`` (a capitalised word) that ``term``, a name as ``asked`` gives it,
    most likely misspells, as the text spells it; None when ``term`` is a number or short or no
    name is close. Close is one edit (a letter added, dropped or changed, or two letters swapped:
    "Telsa" for "Tesla"), or two from a name of ``TWO_EDITS_FROM`` letters ("Ghengis" for
    "Genghis"). Optimal string alignment distance (``rapidfuzz``), so a swap of two letters is one
    edit.

    A decline for a name no article mentions offers it, so that the user can ask again; the
    answer is not guessed from it: SQuAD 2.0's near-misses misspell names as often as its
    answerable questions do (``eval/README.md``, "Misspelled names")."""
    if term[0].isdigit() or len(term) < SHORTEST_RESPELLED:
        return None
    spellings = ChainMap(*map(_spellings, texts))  # the first text's spelling of a name wins
    limit = 1 if len(term) < TWO_EDITS_FROM else 2
    found = process.extractOne(term, list(spellings), scorer=OSA.distance, score_cutoff=limit)
    return None if found is None else spellings[found[0]]


@lru_cache(maxsize=64)
def _spellings(text: str) -> dict[str, str]:
    """The names of ``text`` (its capitalised words but stopwords, which a sentence's start
    capitalises: "There" is no name for "Thera"), folded, each with its first spelling there;
    cached as ``_folded`` is."""
    spellings: dict[str, str] = {}
    for m in _WORD.finditer(text):
        word = _POSSESSIVE.sub("", m.group())
        key = fold(word)
        if word[0].isupper() and key not in STOPWORDS:
            spellings.setdefault(key, word)
    return spellings


def unmentioned(terms: Sequence[str], text: str) -> list[str]:
    """The ``terms`` (as ``asked`` gives them) that ``text``, an article with its metadata,
    never mentions. Most names are found in the text as it is; only the rest are looked
    for again with its accents folded away, which costs about a millisecond for an article of
    30,000 characters."""
    digits = text.replace(",", "") if any(t[0].isdigit() for t in terms) else ""
    lower = text.lower()
    missing = [t for t in terms if not (_number_at(digits, t) if t[0].isdigit() else _mentions(lower, t))]
    if not text.isascii() and any(not t[0].isdigit() for t in missing):
        folded = _folded(text)
        missing = [t for t in missing if t[0].isdigit() or not _mentions(folded, t)]
    return missing


def _mentions(folded: str, name: str) -> bool:
    if _word_at(folded, name, whole=False):
        return True
    shortest = max(SHORTEST_STEM, len(name) - SUFFIX_LETTERS)
    return any(_word_at(folded, name[:n], whole=True) for n in range(len(name) - 1, shortest - 1, -1))


def _word_at(folded: str, letters: str, whole: bool) -> bool:
    """Whether a word of ``folded`` starts with ``letters`` (is them, when ``whole``). Found with
    ``str.find``, which is many times faster than a regular expression over a whole article."""
    at = folded.find(letters)
    while at >= 0:
        end = at + len(letters)
        if starts_word(folded, at) and (not whole or ends_word(folded, end)):
            return True
        at = folded.find(letters, at + 1)
    return False


def _number_at(digits: str, number: str) -> bool:
    """Whether ``digits`` (a text without commas) holds ``number`` whole: no digit right before
    it, and no digit, or point and digit, right after it."""
    at = digits.find(number)
    while at >= 0:
        end = at + len(number)
        before = digits[at - 1] if at else " "
        after = digits[end:end + 2]
        if not before.isdigit() and not after[:1].isdigit() and not (after[:1] == "." and after[1:].isdigit()):
            return True
        at = digits.find(number, at + 1)
    return False


def starts_word(text: str, at: int) -> bool:
    """Whether a word of ``text`` may start at ``at``: no letter, digit or underscore before it."""
    return at == 0 or not _is_word(text[at - 1])


def ends_word(text: str, end: int) -> bool:
    """Whether a word of ``text`` may end at ``end``: no letter, digit or underscore after it."""
    return end == len(text) or not _is_word(text[end])


def _is_word(char: str) -> bool:
    return char.isalnum() or char == "_"


def fold(text: str) -> str:
    """``text`` in lower case without accents, as names are compared ("Céloron" is "celoron",
    "Skłodowska" "sklodowska")."""
    return _folded_case(text).lower()


@lru_cache(maxsize=64)
def _folded(text: str) -> str:
    """``fold(text)``, cached, since the same few articles are asked of question after question."""
    return fold(text)


def _folded_case(text: str) -> str:
    return _ACCENTS.sub("", unicodedata.normalize("NFKD", text.replace("’", "'").translate(_UNSPLIT)))
