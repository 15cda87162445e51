"""Reader and answer(): grounded quotes, highlight, abstention, follow-ups, JSON round trip."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import pytest
from qa_eval.squad import load_questions

from qa import QA, Answer, QueryError, Turn
from qa.conversation import resolve_followup
from qa.reader import BundledExtractor, Guess, key_span, question_type
from qa.settings import ReaderSettings, Settings

SEED_SENTENCE = "Russia badly needed the cash; Iran badly needed the expertise: It was the perfect match."


@pytest.fixture(scope="module")
def qa(built_index: Path, embedder: object) -> QA:
    return QA(built_index, sample=False)


def _assert_grounded(qa: QA, answer: Answer) -> None:
    for c in answer.citations:
        article = qa.article(c.article_id)
        assert article is not None
        assert article.text[c.start : c.end] == c.quote
    if answer.found:
        assert answer.citations and answer.text == answer.citations[0].quote
        assert answer.highlight is None or 0 <= answer.highlight.start < answer.highlight.end <= len(answer.text)
    else:
        assert not answer.citations and answer.highlight is None


def test_key_span_unit() -> None:
    span = key_span("What did Iran badly need from Russia?", SEED_SENTENCE)
    assert span is not None and SEED_SENTENCE[span[0] : span[1]] == "the expertise"
    assert key_span("Why did Russia need Iran?", SEED_SENTENCE) is None
    assert question_type("In what year did it happen?") == "date"
    assert question_type("How many people died?") == "number"
    assert question_type("Who built it?") == "person"


@pytest.mark.slow
def test_seed_question_quotes_the_sentence_and_highlights_expertise(qa: QA) -> None:
    a = qa.answer("What did Iran badly need from Russia?")
    assert a.found
    assert SEED_SENTENCE in a.text
    assert a.highlight is not None and a.text[a.highlight.start : a.highlight.end] == "the expertise"
    assert a.citations[0].title == "Putin and the Ayatollah: A Bromance to Watch"
    _assert_grounded(qa, a)


class _CountingExtractor(BundledExtractor):
    """The real extractor, recording how many sentences each question makes it read."""

    def __init__(self) -> None:
        super().__init__()
        self.widths: list[int] = []

    def spans(self, question: str, texts: list[str], hints: Sequence[tuple[int, int] | None] = (),
              margin: float = 0.0, titles: Sequence[str] = ()) -> list[Guess]:
        self.widths.append(len(texts))
        return super().spans(question, texts, hints, margin, titles)


@pytest.mark.slow
def test_large_index_rereads_fewer_sentences(built_index: Path, embedder: object) -> None:
    for settings, width in ((ReaderSettings(rerank_margin=math.inf), 6),
                            (ReaderSettings(large_above=0, rerank_large=2, rerank_margin=math.inf), 2)):
        counting = _CountingExtractor()
        qa = QA(built_index, sample=False, settings=Settings(reader=settings), extractor=counting)
        a = qa.answer("What did Iran badly need from Russia?")
        assert counting.widths == [width]
        assert a.found and SEED_SENTENCE in a.text
        _assert_grounded(qa, a)


@pytest.mark.slow
def test_only_sentences_scoring_near_the_best_are_reread(built_index: Path, embedder: object) -> None:
    """The extractor reads the best sentence and those within ``rerank_margin`` of its score; a
    margin of 0 reads the best alone, and the shipped one reads fewer than all six here while
    answering the same."""
    question = "What did Iran badly need from Russia?"
    read = {}
    for margin in (0.0, ReaderSettings().rerank_margin, math.inf):
        counting = _CountingExtractor()
        qa = QA(built_index, sample=False, settings=Settings(reader=ReaderSettings(rerank_margin=margin)),
                extractor=counting)
        a = qa.answer(question)
        read[margin] = counting.widths[0]
        assert a.found and SEED_SENTENCE in a.text
    assert read[0.0] == 1 and read[math.inf] == 6
    assert read[0.0] <= read[ReaderSettings().rerank_margin] < 6


class _RecordingExtractor(BundledExtractor):
    """The real extractor, keeping what it read and what it guessed."""

    def __init__(self) -> None:
        super().__init__()
        self.read: list[tuple[str, Guess]] = []

    def spans(self, question: str, texts: list[str], hints: Sequence[tuple[int, int] | None] = (),
              margin: float = 0.0, titles: Sequence[str] = ()) -> list[Guess]:
        guesses = super().spans(question, texts, hints, margin, titles)
        self.read += list(zip(texts, guesses, strict=True))
        return guesses


@pytest.mark.slow
def test_a_joined_quote_is_highlighted_in_the_sentence_the_extractor_is_surest_of(
        built_index: Path, embedder: object) -> None:
    """The quote joins the Bushehr sentence (chosen) and the one saying what Iran needed; the
    highlight comes from whichever of them the extractor scored likelier to hold the answer, not
    from the chosen one's long span about Bushehr, and the question's opening clause ("Iran
    need") names whose need: Iran's, not Russia's "the cash"."""
    recording = _RecordingExtractor()
    qa = QA(built_index, sample=False, extractor=recording)
    a = qa.answer("What did Iran need from Russia to build its nuclear program?")
    assert a.found and a.highlight is not None
    _assert_grounded(qa, a)
    quoted = [(text, g) for text, g in recording.read if text in a.text]
    assert len(quoted) >= 2  # a joined quote, each sentence re-read
    surest, guess = max(quoted, key=lambda tg: tg[1].has_answer)
    offset = a.text.index(surest)
    assert (a.highlight.start, a.highlight.end) == (offset + guess.start, offset + guess.end)
    assert a.text[a.highlight.start:a.highlight.end] == "the expertise"


@pytest.mark.slow
def test_a_question_about_who_someone_is_quotes_the_sentence_that_introduces_them(qa: QA) -> None:
    """Issue 14: "Who is Meir Javedanfar?" was declined: the sentence that says who he is, a long
    quotation with the attribution at its end, has a cosine of 0.09 with the question. Asked
    after an unrelated turn, it is read as asked and answered the same."""
    spent = Turn(question="How much has the United States spent in Iraq and Afghanistan?",
                 answer="Better them than the United States, which has spent at least $4 trillion.")
    for history in ((), (spent,)):
        a = qa.answer("Who is Meir Javedanfar?", history=history)
        assert a.found and a.highlight is not None, a
        assert a.text[a.highlight.start:a.highlight.end] == "Iran lecturer at the IDC Herzliya in Israel"
        assert a.resolved_question is None
        _assert_grounded(qa, a)


@pytest.mark.slow
def test_off_topic_question_is_declined(qa: QA) -> None:
    a = qa.answer("What is the boiling point of tungsten in kelvin?")
    assert not a.found
    assert "don't say" in a.text
    assert a.passages and not a.citations
    assert a.text == "The articles don't say."
    assert a.to_markdown().count("came closest") == 1


@pytest.mark.slow
def test_a_question_about_a_name_no_article_mentions_is_declined(qa: QA) -> None:
    """"How tall is the Eiffel Tower?" was answered with the height of Tesla's Wardenclyffe tower:
    the Tesla article never mentions the Eiffel Tower, so its sentences are not candidates. The
    same question about the tower it does mention is still answered."""
    a = qa.answer("How tall is the Eiffel Tower?")
    assert not a.found and a.confidence == 0.0, a
    assert a.unmentioned == ["Eiffel"]  # "Tower" is in the articles found: only the missing name is named
    assert "No article found for this question mentions “Eiffel”." in a.to_markdown()
    a = qa.answer("How tall was the tower at Wardenclyffe?")
    assert a.found and "187 feet" in a.text and a.unmentioned == [], a
    _assert_grounded(qa, a)
    a = qa.answer("What is the best way to cook rice?")  # declined, but not for a missing name
    assert not a.found and a.unmentioned == [], a


@pytest.mark.slow
def test_a_decline_for_a_misspelled_name_says_how_the_articles_spell_it(qa: QA) -> None:
    """"Where did Nikola Telsa die?" is declined, since no article mentions "Telsa", and the
    decline says the articles mention "Tesla", so the user can ask again; it does not answer."""
    a = qa.answer("Where did Nikola Telsa die?")
    assert not a.found and a.unmentioned == ["Telsa"] and a.respelled == {"Telsa": "Tesla"}, a
    assert "mentions “Telsa”, though they mention “Tesla”." in a.to_markdown()
    a = qa.answer("How tall is the Eiffel Tower?")  # no name close to "Eiffel"
    assert a.unmentioned == ["Eiffel"] and a.respelled == {}, a


@pytest.mark.slow
def test_a_quote_saying_the_opposite_or_another_year_or_name_or_lacking_the_negation_is_declined(qa: QA) -> None:
    """Near-misses that turn a word of the article into its opposite ("smallest" for "largest"),
    change a year or a name, or add a negation share every other word with the sentence, which was
    quoted as their answer; the decline now says which word. The questions as the article words
    them are still answered."""
    a = qa.answer("What was the smallest age difference between opposing Super Bowl quarterbacks?")
    assert not a.found and a.confidence == 0.0 and a.contrary == ("smallest", "largest") and a.unnegated is None, a
    assert "The closest sentence says “largest” where the question asks “smallest”." in a.to_markdown()
    a = qa.answer("What was the largest age difference between opposing Super Bowl quarterbacks?")
    assert a.found and "13 years and 48 days" in a.text and a.contrary is None, a
    _assert_grounded(qa, a)
    a = qa.answer("Where did Tesla move in 1874 to attend school?")  # the article says 1870, and 1874 elsewhere
    assert not a.found and a.contrary == ("1874", "1870"), a
    assert "The closest sentence says “1870” where the question asks “1874”." in a.to_markdown()
    a = qa.answer("Where did Tesla move in 1870 to attend school?")
    assert a.found and "Karlovac" in a.text and a.contrary is None, a
    a = qa.answer("When did Tesla enroll at German Polytechnic?")  # the article says Austrian, and German elsewhere
    assert not a.found and a.contrary == ("German", "Austrian"), a
    assert "The closest sentence says “Austrian” where the question asks “German”." in a.to_markdown()
    a = qa.answer("When did Tesla enroll at Austrian Polytechnic?")
    assert a.found and "1875" in a.text and a.contrary is None, a
    _assert_grounded(qa, a)
    a = qa.answer("What did Iran not need from Russia?")
    assert not a.found and a.confidence == 0.0 and a.unnegated == "not" and a.contrary is None, a
    assert "The question says “not”, but the closest sentence has no negation." in a.to_markdown()
    a = qa.answer("What did Iran badly need from Russia?")
    assert a.found and a.unnegated is None and a.text == SEED_SENTENCE, a


@pytest.mark.slow
def test_another_countrys_head_of_state_or_another_events_mvp_is_declined(qa: QA) -> None:
    """The seed article names no Syrian president; "U.S. President Barack Obama's policy on Syria"
    was quoted for one at 0.95. Super Bowl V's MVP is no MVP of Super Bowl 50. The article's
    head of Iran is still answered."""
    for question in ("Who is the president of Syria?", "Who is Syria's leader?"):
        a = qa.answer(question)
        assert not a.found and a.contrary == ("Syria", "U.S."), a
    a = qa.answer("Who is the MVP of Super Bowl 50?")  # "Chuck Howley (MVP of Super Bowl V)" at 0.94
    assert not a.found and a.contrary == ("Super Bowl 50", "Super Bowl V"), a
    a = qa.answer("Who is Iran's leader?")
    assert a.found and a.highlight is not None and a.contrary is None, a
    assert a.text[a.highlight.start : a.highlight.end] == "Ayatollah Ali Khamenei", a
    _assert_grounded(qa, a)


@pytest.mark.slow
def test_citations_are_valid_on_many_questions(qa: QA, small_squad: Path) -> None:
    questions = load_questions(small_squad)[::8]
    found = 0
    for q in questions:
        a = qa.answer(q.text)
        _assert_grounded(qa, a)
        found += a.found
    assert found >= len(questions) * 0.8


@pytest.mark.slow
def test_answer_json_round_trip_and_markdown(qa: QA) -> None:
    # Not "Which team won Super Bowl 50?": its best sentence on this index ("Super Bowl 50 featured
    # numerous records from individuals and teams") is a wrong answer at confidence 0.31, so
    # whether it is given turns on the threshold (0.34 at stop 31, 0.29 from stop 33, 0.3 since
    # stop 37).
    a = qa.answer("Who won Super Bowl 50?")
    assert a.found and "Broncos" in a.text, a.text
    assert Answer.model_validate_json(a.model_dump_json()) == a
    assert "[1]" in a.to_markdown() and "**" in a.to_markdown()
    declined = qa.answer("What is the boiling point of tungsten in kelvin?")
    assert not declined.found
    assert Answer.model_validate_json(declined.model_dump_json()) == declined


def test_followup_resolution_carries_topic() -> None:
    """A fragment is read into the previous question as a sentence; a question of its own is left alone."""
    assert resolve_followup("and Iran?", [Turn(question="What did Russia badly need?")]) == "What did Iran badly need?"
    long_question = "Where did Nikola Tesla spend the last years of his life in New York?"
    assert resolve_followup(long_question, ["Who was Tesla?"]) == long_question
    assert resolve_followup("Who built it?", []) == "Who built it?"
    assert resolve_followup("And what did Russia need?", ["What did Iran badly need from Russia?"]) \
        == "And what did Russia need?"


@pytest.mark.slow
def test_followup_answer_uses_history(qa: QA) -> None:
    """Issue 14: a follow-up that names its own subject is read as asked and highlights its own answer."""

    def highlighted(a: Answer) -> str:
        assert a.found and a.highlight is not None, a.text
        return a.text[a.highlight.start : a.highlight.end]

    for first, then, expected, other in [
            ("What did Russia badly need from Iran?", "and what did Iran need?", "expertise", "cash"),
            ("What did Iran badly need from Russia?", "And what did Russia need?", "cash", "expertise")]:
        before = qa.answer(first)
        follow = qa.answer(then, history=[Turn(question=before.question, answer=before.text)])
        assert follow.resolved_question is None and follow.question == then
        span = highlighted(follow)
        assert expected in span and other not in span, (then, span, follow.text)
    fragment = qa.answer("And Iran?", history=[Turn(question="What did Russia badly need from Iran?")])
    assert fragment.resolved_question == "What did Iran badly need from Russia?"
    assert "expertise" in highlighted(fragment), fragment.text


@pytest.mark.slow
@pytest.mark.parametrize("question", ["", "   ", "?!", "x" * 5000])
def test_bad_questions_get_clear_errors(qa: QA, question: str) -> None:
    with pytest.raises(QueryError):
        qa.answer(question)
