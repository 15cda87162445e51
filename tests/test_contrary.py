"""A quote that says the opposite of a word of the question or another year, or lacks its
negation (``qa.reader.contrary``)."""

from __future__ import annotations

import pytest

from qa.reader.contrary import OPPOSITES, opposite, other_year, unnegated

COURT = "The European Court of Justice is the highest court able to interpret European Union law."


@pytest.mark.parametrize(("question", "quote", "expected"), [
    ("What is the lowest court in the European Union?", COURT, ("lowest", "highest")),
    ("What is the highest court in the European Union?", COURT, None),
    ("Which is the Lowest court?", COURT, ("lowest", "highest")),  # letter case aside
    ("Is it the highest or the lowest court?", COURT, None),  # the question holds both words
    ("What is the lowest court?", "The highest court sits above the lowest court.", None),  # both in the quote
    ("When is the latest known reference to immunity?",
     "The earliest known reference to immunity was during the plague of Athens in 430 BC.", ("latest", "earliest")),
    ("What did Tesla do after leaving Edison?", "Before leaving Edison, Tesla worked on arc lighting.",
     ("after", "before")),
    ("Where did more people die?", "Moreover, the city lost fewer people.", None),  # "more" is not in "Moreover"
    ("Who won the final?", "They lost the final.", None),  # won/lost is not a pair: it was left out
    ("", COURT, None),
])
def test_opposite(question: str, quote: str, expected: tuple[str, str] | None) -> None:
    assert opposite(question, quote) == expected


def test_every_pair_is_two_lower_case_words_listed_once() -> None:
    assert all(a.isalpha() and a.islower() and b.isalpha() and b.islower() and a != b for a, b in OPPOSITES)
    assert len(set(OPPOSITES)) == len(OPPOSITES)


@pytest.mark.parametrize(("a", "b"), OPPOSITES)
def test_each_pair_works_both_ways(a: str, b: str) -> None:
    assert opposite(f"Which one is {a}?", f"This one is {b}.") == (a, b)
    assert opposite(f"Which one is {b}?", f"This one is {a}.") == (b, a)


@pytest.mark.parametrize(("question", "quote", "expected"), [
    ("What does the TEU not do?", "The TEU provides that commitments entered into before the treaty apply.", "not"),
    ("What does the TEU do?", "The TEU provides that commitments entered into before the treaty apply.", None),
    ("What does the TEU not do?", "The TEU does not override the member states.", None),
    ("Why didn't the NFL use Roman numerals?", "The NFL used Arabic numerals.", "didn't"),
    ("Why didn’t the NFL use Roman numerals?", "The NFL used Arabic numerals.", "didn’t"),  # typographic apostrophe
    ("Who never lost a game?", "The team won every game it played.", "never"),
    ("Who never lost a game?", "The team won every game; it never lost.", None),
    ("What can't be funded?", "Funding cannot cover the costs.", None),  # any negation of the list will do
    ("Which is Nothing Hill?", "Notting Hill is in London.", None),  # "nothing" and "Notting" are not "not"
    ("Who were the nominees?", "No nominee was named.", None),  # a negation in the quote alone is no reason
])
def test_unnegated(question: str, quote: str, expected: str | None) -> None:
    assert unnegated(question, quote) == expected


@pytest.mark.parametrize(("question", "quote", "expected"), [
    ("What did Priestley publish in 1774?", "Priestley published his findings in 1775 in a paper.", ("1774", "1775")),
    ("What did Priestley publish in 1775?", "Priestley published his findings in 1775 in a paper.", None),
    ("What did Priestley publish in 1774?", "Priestley published his findings in a paper.", None),  # no year said
    ("What did the Department of Energy end in 1974?",
     "Development of the reserve began in 1975, and in 1977 the Department of Energy was created.", ("1974", "1975")),
    ("Who recorded the theme in the 1970s?", "In 1972 Jon Pertwee recorded the theme.", None),  # a decade
    ("Who recorded the theme in the 1970's?", "In 1972 Jon Pertwee recorded the theme.", None),
    ("Which bars opened in 1990?", "Oxygen bars opened in the late 1990s.", None),  # "1990s" holds 1990
    ("In 2013-14, where did NBC finish?", "NBC finished first in 2013–14.", None),
    ("How many died in 1348 or 1349?", "The plague reached Antioch in 1348–49.", None),  # one of them will do
    ("What happened in 1348.5?", "It happened in 1350.", None),  # a decimal is no year in a question
    ("What happened in 1348?", "It cost 1348.5 florins in 1350.", None),  # in a quote any four digits count
    ("How many people lived there?", "In 1775 there were 300.", None),  # the question names no year
])
def test_other_year(question: str, quote: str, expected: tuple[str, str] | None) -> None:
    assert other_year(question, quote) == expected
