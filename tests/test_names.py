"""Names a question asks about, and whether an article mentions them (``qa.reader.names``)."""

from __future__ import annotations

import pytest

from qa.reader.names import names, unmentioned

TESLA = ("Nikola Tesla (10 July 1856 – 7 January 1943) was a Serbian American inventor. Tesla's "
         "Wardenclyffe tower was erected to its full 187 feet (57 m). The Lutheran church stood near "
         "the Céloron expedition's route across Asia.")


@pytest.mark.parametrize(("question", "expected"), [
    ("How tall is the Eiffel Tower?", ["eiffel", "tower"]),
    ("Where did Nikola Tesla's family live?", ["nikola", "tesla"]),  # the possessive dropped
    ("Who elects the members of the American Parliament?", ["american", "parliament"]),
    ("Which TV network broadcast Super Bowl 50 in the USA?", ["super", "bowl"]),  # acronyms are not names
    ("Tesla was born when?", []),  # the first word is capitalised anyway
    ("Where Did Tesla Die?", []),  # every word capitalised: capitals say nothing
    ("where did tesla die", []),
    ("What did Céloron bury?", ["celoron"]),
    ("Who is Conan O’Brien?", ["conan", "o'brien"]),
])
def test_the_names_of_a_question(question: str, expected: list[str]) -> None:
    assert names(question) == expected


@pytest.mark.parametrize(("question", "missing"), [
    ("How tall is the Eiffel Tower?", ["eiffel"]),  # "tower" is in the text
    ("How tall was Tesla's Wardenclyffe tower?", []),
    ("When did Nikola Tesla die?", []),
    ("Which Lutherans lived near the tower?", []),  # the text's word less a suffix
    ("Who was Luther?", []),  # the start of the text's "Lutheran"
    ("Where did the Asian route of the expedition go?", []),  # "Asia" and a suffix
    ("Where did the Celoron expedition go?", []),  # accents aside
    ("What did the Canadian Parliament decide?", ["canadian", "parliament"]),
    ("What did the TV network pay for the tower?", []),
    ("Did Tesla work for Edison?", ["edison"]),
])
def test_what_an_article_never_mentions(question: str, missing: list[str]) -> None:
    assert unmentioned(names(question), TESLA) == missing


def test_a_short_word_is_not_matched_by_a_shorter_stem() -> None:
    """"Asians" counts as "Asia" with a suffix, but "Ash" is not mentioned by "As" or "Asia"."""
    assert unmentioned(names("Where did the Ash tree grow?"), "As the route crossed Asia.") == ["ash"]
