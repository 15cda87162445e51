"""Framing: "according to the article" and its kin are dropped before retrieval and the reader."""

from __future__ import annotations

from pathlib import Path

import pytest
from qa_eval.defaults import DEV_SET
from qa_eval.framing import framings
from qa_eval.squad import load_questions

from qa import QA
from qa.framing import unframed


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
    """``qa_eval.framing`` frames SQuAD's questions five ways: every framed copy of every dev
    question (5,665 shapes of question) must read as the question itself, capitalised."""
    for q in load_questions(DEV_SET):
        body = q.text.strip().rstrip("?").rstrip()
        expected = unframed(f"{body[:1].upper()}{body[1:]}?")
        for name, framed in framings(q.text).items():
            if name != "plain":
                assert unframed(framed) == expected, (name, framed)


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
    (SQuAD's and the seed article's) a framed copy quoted another sentence, or declined."""
    plain = qa.answer(question)
    body = question.rstrip("?")
    for framed in (f"According to the article, {body[0].lower()}{body[1:]}?", f"{body} in the article?",
                   f"{body}, according to the piece?"):
        a = qa.answer(framed)
        assert (a.found, a.text, a.highlight, a.confidence) == (plain.found, plain.text, plain.highlight,
                                                                plain.confidence), framed
        assert a.question == framed and a.resolved_question is None  # shown as asked, not rewritten
