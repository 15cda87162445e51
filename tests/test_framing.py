"""How a question is put: "according to the article" and its kin are dropped, and the question
ends in a question mark, before retrieval and the reader."""

from __future__ import annotations

from pathlib import Path

import pytest
from qa_eval.defaults import DEV_SET
from qa_eval.framing import framings
from qa_eval.squad import load_questions

from qa import QA
from qa.framing import read_as, unframed


@pytest.mark.parametrize(("asked", "read"), [
    ("According to the article, who is Iran's president?", "Who is Iran's president?"),
    ("according to the author why did Russia need the cash", "Why did Russia need the cash"),
    ("Based on this piece, what did Iran need?", "What did Iran need?"),
    ("In the article, what did Tesla die of?", "What did Tesla die of?"),
    ("How does Obama see Syria, according to the piece?", "How does Obama see Syria?"),
    ("Who is Iran's president in the article?", "Who is Iran's president?"),
    ("Who, according to the text, caused Cam Newton to fumble?", "Who caused Cam Newton to fumble?"),
    ("When did Tesla die according to these articles?", "When did Tesla die?"),
])
def test_a_framing_is_dropped(asked: str, read: str) -> None:
    assert unframed(asked) == read


@pytest.mark.parametrize("asked", [
    "Who wrote the article?",  # the metadata check reads it as asked, and so does retrieval
    "Who wrote the article about Putin and the Ayatollah?",
    "In the article's title, what did the machine hope to end?",  # the title is what it asks about
    "What did the IPCC conclude in the report?",  # a report, a story: more often the topic
    "Who is the villain in the story?",
    "In the article who won?",  # "in ..." frames only when a comma closes it
    "What is in the article?",  # nothing would be left to ask
    "What did Iran badly need from Russia?",
])
def test_a_question_without_framing_is_read_as_asked(asked: str) -> None:
    assert unframed(asked) == asked


def test_each_measured_framing_of_every_dev_question_is_dropped_whole() -> None:
    """``qa_eval.framing`` puts SQuAD's questions six ways (and in lower case): every copy of every dev question
    (5,665 shapes of question) must read as the question itself, the first letter's case aside
    (the embedder and the extractor are uncased, and a first word is never taken for a name)."""
    def folded(text: str) -> str:
        return text[:1].lower() + text[1:]

    for q in load_questions(DEV_SET):
        expected = folded(read_as(q.text))
        for name, framed in framings(q.text).items():
            if name == "no_question_mark" and framed.endswith("."):
                continue  # "... an area of 76 ha." without its "?" ends as a full stop would
            if name == "lower_case":
                continue  # the reader, not read_as, gives it capitals (tests/test_casing.py)
            assert folded(read_as(framed)) == expected, (name, framed)


@pytest.mark.parametrize(("asked", "read"), [
    ("where is the Nojeh airbase", "where is the Nojeh airbase?"),
    ("where is the Nojeh airbase  ", "where is the Nojeh airbase?"),
    ("In the article, what did Iran need", "What did Iran need?"),
    ("Who built Bushehr?", "Who built Bushehr?"),
    ("Who built Bushehr ?!", "Who built Bushehr?"),
    ("What is Luther's opinion of what the law covers??", "What is Luther's opinion of what the law covers?"),
    ("Name a luxury division of Toyota.", "Name a luxury division of Toyota."),  # SQuAD's imperatives end so
    ("Which network broadcast Super Bowl 50 in the U.S.", "Which network broadcast Super Bowl 50 in the U.S.?"),
    ('Are currencies left to "float?"', 'Are currencies left to "float?"'),  # the mark inside the quotes
])
def test_a_question_is_read_ending_in_one_question_mark_unless_a_full_stop(asked: str, read: str) -> None:
    assert read_as(asked) == read


@pytest.fixture(scope="module")
def qa(built_index: Path, embedder: object) -> QA:
    return QA(built_index, sample=False)


@pytest.mark.slow
@pytest.mark.parametrize("question", [
    "What health issue did Tesla suffer?",
    "At what speed did the turbine operate?",
    "When did Tesla make the induction motor?",
    "What did Iran badly need from Russia?",
])
def test_a_framed_question_gets_the_plain_questions_answer(qa: QA, question: str) -> None:
    """Before framing was dropped, "article" and "piece" were question words: on these questions
    (SQuAD's and the seed article's) a framed copy quoted another sentence, or declined. Without
    its question mark, a question is read as with it."""
    plain = qa.answer(question)
    body = question.rstrip("?")
    for framed in (f"According to the article, {body[0].lower()}{body[1:]}?", f"{body} in the article?",
                   f"{body}, according to the piece?", body):
        a = qa.answer(framed)
        assert (a.found, a.text, a.highlight, a.confidence) == (plain.found, plain.text, plain.highlight,
                                                                plain.confidence), framed
        assert a.question == framed and a.resolved_question is None  # shown as asked, not rewritten


@pytest.mark.slow
def test_a_framed_search_finds_the_plain_searchs_passages(qa: QA) -> None:
    """``QA.search`` reads a query as ``answer`` does: without the source's name in it."""
    plain = qa.search("What did Iran badly need from Russia?")
    for framed in ("According to the article, what did Iran badly need from Russia?",
                   "What did Iran badly need from Russia, according to the piece?"):
        assert qa.search(framed) == plain, framed
