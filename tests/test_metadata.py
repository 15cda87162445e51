"""Answers from article metadata: which questions ask for a field, and the cited answer."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from embedders import HashingEmbedder
from pydantic import ValidationError

from qa import QA, Citation
from qa.reader.metadata import asked_field, is_title, titled_field
from qa.reader.reader import Candidate, Mentions


@pytest.mark.parametrize(("question", "field"), [
    ("Who wrote the article about Putin and the Ayatollah?", "author"),
    ("Who wrote it?", "author"),
    ("Who is the author?", "author"),
    ("Who's the author of this piece?", "author"),
    ("When was the article about Putin published?", "published"),
    ("When was it written?", "published"),
    ("What is the publication date of the article?", "published"),
    ("Which newspaper published the article about Iran and Russia?", "url"),
    ("Who published the story?", "url"),
    ("What is the title of the article about Bushehr?", "title"),
    ('who is the author of "Putin and the Ayatollah: A Bromance to Watch"', "author"),
    ("When was the Putin and the Ayatollah article published?", "published"),
    ("What date did the piece on the Russian-Iranian bromance come out?", "published"),
    ("Where can I read the original of the article?", "url"),
    ("What year did the story of Tesla begin?", None),
    ("Who wrote the Declaration of Independence?", None),
    ("Who was the author of the Ninety-five Theses?", None),
    ("When was the Bushehr plant built?", None),
    ("Which newspaper did Tesla read?", None),
    ("What did Iran badly need from Russia?", None),
    ("What is the article called?", "title"),
    ("What is it titled?", "title"),
    # a SQuAD question that got the article's title as its answer (eval, 2026-11-26)
    ("When the law is a direct target of the protest, what is this called?", None),
])
def test_questions_that_ask_for_a_field(question: str, field: str | None) -> None:
    assert asked_field(question) == field


def test_a_metadata_citation_names_its_field_and_no_span() -> None:
    fields = {"number": 1, "article_id": "a", "title": "T", "url": None, "quote": "Ann"}
    assert Citation(**fields, start=0, end=0, kind="metadata", field="author").where() == (
        "the article's metadata (author)")
    with pytest.raises(ValidationError):
        Citation(**fields, start=3, end=6, kind="metadata", field="author")
    with pytest.raises(ValidationError):
        Citation(**fields, start=0, end=0, kind="metadata")
    with pytest.raises(ValidationError):
        Citation(**fields, start=0, end=3, field="author")


@pytest.fixture
def two_articles(tmp_path: Path, seed_path: Path) -> QA:
    other = tmp_path / "fair.json"
    other.write_text(json.dumps({
        "title": "The Zorblat Fair", "author": "Mina Okafor", "date": "2024-05-04",
        "text": "The Zorblat Fair is held every May in the town of Quill. Its prize is a copper kettle."}))
    qa = QA(tmp_path / "idx", sample=False, embedder=HashingEmbedder())
    assert not qa.ingest([seed_path, other]).rejected
    return qa


PUTIN_TITLE = "Putin and the Ayatollah: A Bromance to Watch"


@pytest.mark.parametrize(("question", "asked", "titled"), [
    ("Who wrote Putin and the Ayatollah?", ("author", "Putin and the Ayatollah"), True),
    ("who wrote putin and the ayatollah", ("author", "putin and the ayatollah"), True),
    ("Who is the author of “Putin and the Ayatollah: A Bromance to Watch”?",
     ("author", "“Putin and the Ayatollah: A Bromance to Watch”"), True),
    ("When was Putin and the Ayatollah published?", ("published", "Putin and the Ayatollah"), True),
    ("Who wrote Putin?", ("author", "Putin"), False),  # part of a title names no article
    ("Who wrote A Bromance to Watch?", ("author", "A Bromance to Watch"), False),
    ("Who wrote the Declaration of Independence?", ("author", "the Declaration of Independence"), False),
    ("When was the Bushehr plant built?", None, False),
    ("Who did Putin meet?", None, False),
])
def test_a_field_asked_of_a_work_named_by_its_title(question: str, asked: tuple[str, str] | None,
                                                     titled: bool) -> None:
    """"Who wrote X?" asks for the metadata only when X is an article's title (or its main title,
    before the colon), which the pipeline checks against the retrieved articles."""
    assert titled_field(question) == asked
    assert (asked is not None and is_title(asked[1], PUTIN_TITLE)) == titled


def test_a_question_naming_the_article_by_its_title_is_answered_from_metadata(two_articles: QA) -> None:
    """"Who wrote Putin and the Ayatollah?" quoted "Russia's President Vladimir Putin (L) ..." at
    0.74 on the sample corpus: it names the article by its title, not as "the article"."""
    for question, field, value in (
        ("Who wrote Putin and the Ayatollah?", "author", "David Patrikarakos"),
        ("who is the author of putin and the ayatollah", "author", "David Patrikarakos"),
        ("When was Putin and the Ayatollah: A Bromance to Watch published?", "published", "2016-08-26"),
        ("Who wrote The Zorblat Fair?", "author", "Mina Okafor"),
    ):
        a = two_articles.answer(question)
        assert a.found and a.text == value, (question, a.text)
        (c,) = a.citations
        assert (c.kind, c.field, c.quote) == ("metadata", field, value)


def test_author_date_and_source_questions_are_answered_from_metadata(two_articles: QA) -> None:
    qa = two_articles
    for question, field, value in (
        ("Who wrote the article about Putin and the Ayatollah?", "author", "David Patrikarakos"),
        ("When was the article about Putin and the Ayatollah published?", "published", "2016-08-26"),
        ("Who wrote the article about the Zorblat Fair?", "author", "Mina Okafor"),
        ("Which newspaper published the article about Putin?", "url",
         "https://www.themoscowtimes.com/2016/08/26/rebel-love-affair-a55104"),
    ):
        a = qa.answer(question)
        assert a.found and a.text == value, (question, a.text)
        (c,) = a.citations
        assert (c.kind, c.field, c.quote) == ("metadata", field, value)
        article = qa.article(c.article_id)
        assert article is not None
        stored = getattr(article, field)
        assert (stored.isoformat() if isinstance(stored, dt.date) else stored) == c.quote
        assert "the article's metadata" in a.to_markdown()


def test_who_wrote_it_names_the_article_of_the_turn_before(two_articles: QA) -> None:
    """The answer is that article's author, and the question is shown naming the article, not
    the earlier turn's topic ("Who wrote Iran?" was shown before)."""
    putin = "Putin and the Ayatollah: A Bromance to Watch"
    for earlier, author, title in (("Where is the Zorblat Fair held?", "Mina Okafor", "The Zorblat Fair"),
                                   ("What did Iran badly need from Russia?", "David Patrikarakos", putin)):
        for question, shown in (("Who wrote that article?", f"Who wrote “{title}”?"),
                                ("Who wrote it?", f"Who wrote “{title}”?"),
                                ("When was it published?", f"When was “{title}” published?")):
            a = two_articles.answer(question, history=[earlier])
            assert a.found and a.citations[0].kind == "metadata", (earlier, question, a.text)
            assert a.text == author or question.startswith("When"), (earlier, a.text)
            assert a.resolved_question == shown


@pytest.mark.slow  # the question goes on to the reader, whose extractor loads a model
def test_a_topic_the_first_article_does_not_hold_is_not_answered_from_its_metadata(two_articles: QA) -> None:
    a = two_articles.answer("Who wrote the article about quantum chromodynamics?")
    assert not any(c.kind == "metadata" for c in a.citations)


def test_a_name_only_in_the_articles_metadata_counts_as_mentioned(two_articles: QA) -> None:
    """The reader leaves out articles that never mention a name of the question
    (``qa.reader.names``); the fair's author and date are in its metadata, not its text, and
    still count."""
    (passage,) = two_articles.search("Zorblat Fair prize", k=1)
    sentence = two_articles.store.sentences_in(passage.article_id, passage.start, passage.end)[0]
    candidate = Candidate(sentence, passage, (), 0.0)
    assert Mentions("What prize does the fair Mina Okafor wrote about give?", two_articles.store)(candidate)
    assert not Mentions("What prize does the fair Tomas Quimby wrote about give?", two_articles.store)(candidate)
    assert Mentions("What prize did the fair of May 2024 give?", two_articles.store)(candidate)  # its date
    assert not Mentions("What prize did the fair of May 2023 give?", two_articles.store)(candidate)


def test_the_byline_is_quotable_text(two_articles: QA) -> None:
    seed = next(a for a in two_articles.articles() if a.author == "David Patrikarakos")
    article = two_articles.article(seed.id)
    assert article is not None and "By David Patrikarakos" in article.text
