"""A quote that shares the question's words and still says something else: an opposite word
("highest" for "lowest"), another year, or no negation where the question has one.

SQuAD 2.0's unanswerable questions are often written from a paragraph by turning one of its words
into its opposite ("What is the lowest court in the European Union?" of "The European Court of
Justice is the highest court able to interpret European Union law") or by adding a negation
("What does the TEU not do?") or by changing a year ("What did Priestley publish in 1774?" of
"Priestley published his findings in 1775"). Such a near-miss shares every other word with the
sentence, so the sentence score, the dense cosine and the extractor all rank it first, and the
reader would quote the highest court as the lowest. So the reader declines a quote that uses the
opposite of a word of the question and never the word itself (``opposite``), that dates itself by
other years than the question's (``other_year``), or that negates nothing when the question asks
with "not", "never", "without" or another negation (``unnegated``), and says which.

All three were measured on the out-of-fold SQuAD answers (``eval/README.md``, "Opposite words,
other years and missing negations"):
- ``OPPOSITES`` are those pairs of a list written before any was measured (63 pairs of
  superlatives, comparatives, directions and contraries) that, each on its own, brought the whole
  reader closer to issue 14's targets; chosen on four article folds and graded on the fifth, then
  chosen on all five. Pairs such as start/end, win/lose and first/last were left out there: a
  sentence may say when something ended to answer when it started.
- Years: a year the question names on its own (not a decade, "1970s" or "1970's") against the
  years anywhere in the quote ("1775", "1970s", "2013–14"); the folds chose it, and between this
  and matching both by whole words alone, three of five chose this.
- The negations are those of the near-miss checks measured at stop 15 (``qa_eval.fit_reader``),
  with the typographic apostrophe. A question with a negation is rare among answerable ones (2.6%
  of SQuAD v1.1's) and common among near-misses (14.5% of v2.0's unanswerable ones); the answers
  this declines wrongly say it without a negation word ("refused", "lacked", "with the exception
  of").
"""

from __future__ import annotations

import re

OPPOSITES: tuple[tuple[str, str], ...] = (
    ("largest", "smallest"), ("most", "least"), ("highest", "lowest"), ("before", "after"),
    ("increased", "decreased"), ("more", "less"), ("larger", "smaller"), ("earliest", "latest"),
    ("maximum", "minimum"), ("north", "south"), ("rise", "fall"), ("above", "below"),
    ("inside", "outside"), ("accepted", "rejected"), ("higher", "lower"), ("open", "closed"),
    ("opened", "closed"), ("strong", "weak"), ("stronger", "weaker"), ("success", "failure"),
    ("ancient", "modern"), ("male", "female"), ("men", "women"), ("internal", "external"),
    ("private", "public"), ("beginning", "end"),
)
NEGATION = re.compile(r"\b(?:not|never|no|none|without|cannot|neither|nor)\b|\b\w*n['’]t\b", re.IGNORECASE)
_WORD = re.compile(r"[a-z]+")
_YEAR = re.compile(r"(?<!\d)(1\d{3}|20\d{2})(?!\d)")  # anywhere: "1775", "1970s", "2013–14"
_WHOLE_YEAR = re.compile(r"(?<![\w.,])(1\d{3}|20\d{2})(?![\w'’]|[.,]\d)")  # on its own: not "1970s", "1970's", "1862.5"


def _by_word() -> dict[str, tuple[str, ...]]:
    """Each word of ``OPPOSITES`` with its opposites ("closed" has two: "open" and "opened")."""
    found: dict[str, tuple[str, ...]] = {}
    for a, b in OPPOSITES:
        found[a] = (*found.get(a, ()), b)
        found[b] = (*found.get(b, ()), a)
    return found


_OPPOSITE = _by_word()


def opposite(question: str, quote: str) -> tuple[str, str] | None:
    """(the question's word, the quote's opposite of it) when the quote uses an opposite of a
    word of the question and neither uses the other's word; None when it does not.

    Whole words, letter case aside ("more" is not in "moreover"; "highest-paid" holds
    "highest"). A question using both words of a pair ("higher or lower") is never contrary to
    a quote.
    """
    asked = set(_WORD.findall(question.lower()))
    said = set(_WORD.findall(quote.lower()))
    for word in sorted(asked & _OPPOSITE.keys()):
        if word in said:
            continue
        for other in _OPPOSITE[word]:
            if other in said and other not in asked:
                return word, other
    return None


def other_year(question: str, quote: str) -> tuple[str, str] | None:
    """(the question's year, the quote's first year) when the question names a year on its own,
    the quote names years and none of them is one of the question's; None otherwise."""
    asked = _WHOLE_YEAR.findall(question)
    said = _YEAR.findall(quote)
    if not asked or not said or set(asked) & set(said):
        return None
    return asked[0], said[0]


def unnegated(question: str, quote: str) -> str | None:
    """The question's first negation ("not", "didn't"), as it spells it, when the quote has
    none; None when the question has none or the quote has one too."""
    found = NEGATION.search(question)
    if found is None or NEGATION.search(quote):
        return None
    return found.group()
