"""A question typed in lower case is read with the capitals its articles give its words, so the
near-miss checks that find names by their capitals work for it as for the question typed with
them."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa import QA
from qa.reader.casing import cased, uncased

TEXT = ("Tesla moved to New York City in 1884. In 1884, Tesla moved again. The NFL said so. Nintendo "
        "and The Pokémon Company made their debut. Newton was sacked by the Denver defense.")


@pytest.mark.parametrize(("asked", "read"), [
    ("where did tesla die?", "where did Tesla die?"),
    ("Where did tesla die?", "Where did Tesla die?"),  # a capital first says nothing
    ("what did the nfl say?", "what did the NFL say?"),  # as the article spells it
    ("what does new york have?", "what does New York have?"),  # a name of several words
    ("what did the pokémon company make?", "what did the Pokémon Company make?"),
])
def test_a_lowercase_question_takes_its_articles_capitals(asked: str, read: str) -> None:
    assert cased(asked, [TEXT]) == read


@pytest.mark.parametrize("asked", [
    "what company made its debut?",  # "Company" only in a name the question does not say
    "what is new?",  # "New" only in "New York": "york" is not asked
    "who did the defense sack?",  # lower case in the text more often than not
    "in 1884 what did nintendo do?",  # "Nintendo" only starts a sentence
    "newton did what?",  # a question's first word is never read as a name
    " newton did what?",
    "",
    "Where did Tesla die in new york?",  # its writer chose its capitals
])
def test_other_words_and_questions_with_capitals_are_read_as_asked(asked: str) -> None:
    assert cased(asked, [TEXT]) == asked


def test_a_question_is_uncased_without_a_capital_past_its_first_letter() -> None:
    assert uncased("Where did tesla die?") and uncased("where did tesla die?")
    assert not uncased("Where did Tesla die?")


@pytest.fixture(scope="module")
def qa(built_index: Path, embedder: object) -> QA:
    return QA(built_index, sample=False)


@pytest.mark.slow
@pytest.mark.parametrize("question", [
    "Who is Meir Javedanfar?",  # a definition question: the name must read as one
    "When did Edison move to Budapest?",  # Edison is no name of the sentence about Budapest
    "What did Edison study at Graz?",
    "Where did Tesla die?",
    "Which NFL team represented the AFC at Super Bowl 50?",
])
def test_a_lowercase_question_gets_the_answer_of_the_question_with_capitals(qa: QA, question: str) -> None:
    """Typed in lower case, "who is meir javedanfar?" was declined (no name to define) and "when
    did edison move to budapest?" quoted Tesla's move there, while the same questions with
    their capitals were answered from the definition, and declined."""
    with_capitals = qa.answer(question)
    lower = qa.answer(question.lower())
    assert (lower.found, lower.text, lower.highlight) == (with_capitals.found, with_capitals.text,
                                                          with_capitals.highlight)
    assert lower.question == question.lower()  # shown as asked
