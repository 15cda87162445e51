"""Names and numbers a question asks about, and whether an article mentions them (``qa.reader.names``)."""

from __future__ import annotations

import pytest

from qa.reader.names import asked, names, numbers, respelled, spelled, unmentioned

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


@pytest.mark.parametrize(("question", "text"), [
    ("How many beds does the Maria Sklodowska-Curie Institute have?", "The Maria Skłodowska-Curie Institute"),
    ("Who was Boleslaw II of Masovia?", "Bolesław II of Masovia made Warsaw his seat."),
    ("Who was Bolesław II of Masovia?", "Boleslaw II of Masovia made Warsaw his seat."),
    ("Where is the Oresund bridge?", "The Øresund Bridge links Copenhagen and Malmö."),
    ("What is the Strasse des 17. Juni?", "The Straße des 17. Juni crosses the Tiergarten."),
])
def test_letters_that_have_no_accent_to_strip_are_folded_too(question: str, text: str) -> None:
    """A reader typing without "ł", "ø" or "ß" spells the name with the letter they stand for:
    Unicode's decomposition leaves those letters whole, so the fold maps them."""
    assert unmentioned(names(question), text) == []


def test_a_short_word_is_not_matched_by_a_shorter_stem() -> None:
    """"Asians" counts as "Asia" with a suffix, but "Ash" is not mentioned by "As" or "Asia"."""
    assert unmentioned(names("Where did the Ash tree grow?"), "As the route crossed Asia.") == ["ash"]


@pytest.mark.parametrize(("question", "expected"), [
    ("Who won Super Bowl 50?", ["50"]),
    ("What happened in 1,862 or 2.5 or 3 cases?", ["1862", "2.5"]),  # commas dropped; one digit is too common
    ("How many people lived there?", []),
])
def test_the_numbers_of_a_question(question: str, expected: list[str]) -> None:
    assert numbers(question) == expected


@pytest.mark.parametrize(("question", "missing"), [
    ("What was Tesla's tower's height in 1856?", []),
    ("What did Tesla build in 1943?", []),  # "1943)"
    ("What did Tesla do in the 1850s?", ["1850"]),
    ("How tall was the tower, 187 feet?", []),
    ("How tall was the tower, 18 feet?", ["18"]),  # not part of "187"
    ("Was it 57 or 5.7 metres?", ["5.7"]),
    ("What did Tesla do in 1886?", ["1886"]),
    ("What did the Eiffel Tower cost in 1889?", ["eiffel", "1889"]),
])
def test_what_numbers_an_article_never_mentions(question: str, missing: list[str]) -> None:
    assert unmentioned(asked(question), TESLA) == missing


def test_a_number_with_a_thousands_comma_is_the_same_number() -> None:
    assert unmentioned(["366233", "11"], "There were 366,233 people, 11.6% of them young.") == ["11"]


@pytest.mark.parametrize(("question", "term", "shown"), [
    ("How tall is the Eiffel Tower?", "eiffel", "Eiffel"),
    ("What was Céloron's expedition?", "celoron", "Céloron"),
    ("Who won in 1,000 B.C.?", "1000", "1,000"),
    ("How tall is it?", "eiffel", "eiffel"),  # not in the question: as given
])
def test_a_term_is_shown_as_the_question_spells_it(question: str, term: str, shown: str) -> None:
    assert term in asked(question) or shown == term
    assert spelled(question, term) == shown


@pytest.mark.parametrize(("term", "name"), [
    ("telsa", "Tesla"),  # two letters swapped: one edit
    ("teslas", "Tesla"),
    ("celeron", "Céloron"),  # accents aside, one letter changed; shown as the text spells it
    ("wardencliff", "Wardenclyffe"),  # two edits from a name of seven letters or more
    ("serbain", "Serbian"),
    ("lutherran", "Lutheran"),
    ("asai", None),  # under five letters: one edit makes another name
    ("wardenclif", None),  # three edits
    ("edison", None),  # nothing close
    ("1856", None),  # a number has no spelling
    ("towers", None),  # one edit from the text's "tower", which is lower-case and so no name
])
def test_the_name_a_misspelled_one_stands_for(term: str, name: str | None) -> None:
    assert respelled(term, [TESLA]) == name


def test_a_respelling_is_looked_for_in_every_text() -> None:
    assert respelled("ghengis", [TESLA, "Genghis Khan was born in 1162."]) == "Genghis"
    assert respelled("ghengis", [TESLA]) is None


def test_a_stopword_a_sentence_starts_with_is_no_name_to_respell() -> None:
    assert respelled("thera", ["There were many. Tesla came."]) is None
    assert respelled("thera", ["There were many. Thira came."]) == "Thira"
