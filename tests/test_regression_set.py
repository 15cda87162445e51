"""The hand-written regression set on the sample corpus (eval/data/regression-sample.json) and its
grading (qa_eval.regression): the file is valid, covers every kind of question, its gold answers
are really in the articles, it holds the app's examples; grading is checked on hand-made answers.
Only the slow tests at the end load a model: some of the set's questions asked on a real index."""

from __future__ import annotations

import ast
import datetime as dt
import json
from pathlib import Path

import pytest
from pydantic import ValidationError
from qa_eval import defaults
from qa_eval.regression import (
    CATEGORIES,
    Entry,
    RegressionSet,
    SetError,
    contains,
    grade,
    load_set,
    metadata_values,
    summarize,
)
from qa_eval.reports import RegressionReport

import qa
from qa import Answer, Article, Citation, Span, sample_corpus
from qa.cli import main
from qa.ingest import iter_paths, read_articles
from qa.metrics import normalize_answer

ROOT = Path(__file__).resolve().parents[1]
SET = ROOT / "eval" / "data" / "regression-sample.json"
SQUAD = ROOT / "eval" / "data" / "squad-dev-v1.1-half.json"
PUTIN = "Putin and the Ayatollah: A Bromance to Watch"


@pytest.fixture(scope="module")
def regression() -> RegressionSet:
    return load_set(SET)


@pytest.fixture(scope="module")
def articles() -> dict[str, Article]:
    """The sample corpus as ingest reads it, by title."""
    read, rejected = read_articles(iter_paths([sample_corpus()]))
    assert not rejected
    return {a.title: a for a in read}


def app_examples() -> tuple[str, ...]:
    """The web app's example questions, read from its source (importing it would load gradio)."""
    source = Path(qa.__file__).parent / "web" / "app.py"
    for node in ast.parse(source.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "EXAMPLES" for t in node.targets):
            return tuple(ast.literal_eval(node.value))
    raise AssertionError("qa/web/app.py defines no EXAMPLES")


# --------------------------------------------------------------------------------- the file
def test_the_set_loads_and_says_how_it_was_written(regression: RegressionSet) -> None:
    assert defaults.REGRESSION_SET == SET
    assert len(regression.questions) >= 80
    assert regression.written == dt.date(2026, 11, 26)
    assert "by hand" in regression.how_written and "never by running" in regression.how_written
    assert "not used to fit" in regression.not_for_tuning


def test_every_kind_of_question_is_there(regression: RegressionSet) -> None:
    by_category = {c: [e for e in regression.questions if e.category == c] for c in CATEGORIES}
    assert {c: len(v) >= 5 for c, v in by_category.items()} == dict.fromkeys(CATEGORIES, True)
    assert sum(1 for e in regression.questions if e.expect == "decline") >= 20
    follow_ups = [e for e in regression.questions if e.history]
    assert len(follow_ups) >= 10
    assert any(e.expect == "decline" for e in follow_ups) and any(e.expect == "metadata" for e in follow_ups)
    assert {e.field for e in regression.questions if e.expect == "metadata"} == {"author", "published", "url", "title"}


def test_every_gold_answer_is_in_its_article(regression: RegressionSet, articles: dict[str, Article]) -> None:
    for e in regression.questions:
        if e.expect == "answer":
            assert e.article in articles, e.id
            text = articles[e.article].text
            missing = [g for g in e.gold if g not in text or not contains(text, g)]
            assert not missing, f"{e.id}: {missing} not in {e.article!r}"


def test_metadata_answers_are_the_articles_metadata(regression: RegressionSet, articles: dict[str, Article]) -> None:
    putin = articles[PUTIN]
    assert (putin.author, putin.published) == ("David Patrikarakos", dt.date(2016, 8, 26))
    for e in regression.questions:
        if e.expect == "metadata":
            assert e.article is not None and e.field is not None
            values = metadata_values(getattr(articles[e.article], e.field))
            assert any(contains(v, g) or contains(g, v) for g in e.gold for v in values), e.id


def test_the_apps_examples_are_in_the_set(regression: RegressionSet) -> None:
    examples = app_examples()
    assert len(examples) >= 4
    marked = {e.question: e for e in regression.questions if e.app_example}
    assert set(marked) == set(examples)
    afc = marked["Which NFL team represented the AFC at Super Bowl 50?"]
    assert "Denver Broncos" in afc.gold and afc.expect == "answer"


def test_questions_do_not_copy_squads_wording(regression: RegressionSet) -> None:
    if not SQUAD.is_file():
        pytest.skip("no SQuAD dev file in this checkout")
    data = json.loads(SQUAD.read_text(encoding="utf-8"))
    squad = {normalize_answer(q["question"]) for a in data["data"] for p in a["paragraphs"] for q in p["qas"]}
    copied = [e.id for e in regression.questions if not e.app_example and normalize_answer(e.question) in squad]
    assert not copied


@pytest.mark.parametrize(("entry", "problem"), [
    ({"expect": "decline", "category": "near_miss", "gold": ["x"]}, "has no gold"),
    ({"expect": "answer", "category": "off_topic", "gold": ["x"], "article": "A"}, "expects decline"),
    ({"expect": "answer", "category": "who", "gold": [], "article": "A"}, "needs gold"),
    ({"expect": "answer", "category": "who", "gold": ["x"]}, "names the article"),
    ({"expect": "metadata", "category": "metadata", "gold": ["x"], "article": "A"}, "name a field"),
    ({"expect": "answer", "category": "follow_up", "gold": ["x"], "article": "A"}, "history"),
])
def test_an_inconsistent_entry_is_refused(entry: dict[str, object], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        Entry.model_validate({"id": "bad", "question": "q?", **entry})


def test_a_bad_set_file_is_said_in_one_sentence(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = json.loads(SET.read_text(encoding="utf-8"))
    data["questions"].append(data["questions"][0])
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(SetError, match="more than once: app-iran-needed"):
        load_set(bad)
    out = ["--out", str(tmp_path / "reports"), "--cache", str(tmp_path / "cache")]
    assert main(["eval", "regression", str(bad), *out]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: the regression set at {bad} is not valid") and err.count("\n") == 1
    assert main(["eval", "regression", str(tmp_path / "none.json"), *out]) == 1
    assert capsys.readouterr().err == f"error: no regression set at {tmp_path / 'none.json'}\n"
    assert main(["eval", "regression", str(SET), "--index", str(tmp_path / "no-index"), *out]) == 1
    assert capsys.readouterr().err == f"error: no index at {tmp_path / 'no-index'}\n"
    assert not (tmp_path / "reports").exists() and not (tmp_path / "cache").exists()


# --------------------------------------------------------------------------------- grading
def test_gold_strings_match_as_whole_normalised_words() -> None:
    assert contains("The Broncos practiced at Stanford University.", "stanford university")
    assert contains('"Tesla, you don\'t understand our American humor.":64', "you don't understand our American humor")
    assert contains("They won 24–10 to earn", "24–10")
    assert not contains("Mr Eighteen", "eight") and not contains("in 1988", "8") and not contains("x", "the")


def _answer(article: Article, sentence: str, key: str | None, *, question: str = "q?",
            start_shift: int = 0) -> Answer:
    """A found answer quoting ``sentence`` of ``article`` with ``key`` highlighted."""
    start = article.text.index(sentence)
    highlight = None if key is None else Span(start=sentence.index(key), end=sentence.index(key) + len(key))
    citation = Citation(number=1, article_id=article.id, title=article.title, url=article.url,
                        start=start + start_shift, end=start + start_shift + len(sentence), quote=sentence)
    return Answer(question=question, found=True, text=sentence, highlight=highlight, confidence=0.9,
                  citations=[citation])


def _declined(question: str = "q?") -> Answer:
    return Answer(question=question, found=False, text="The articles don't say.", confidence=0.1)


def _entry(regression: RegressionSet, entry_id: str) -> Entry:
    return next(e for e in regression.questions if e.id == entry_id)


def test_grading_answers_declines_and_citations(regression: RegressionSet, articles: dict[str, Article]) -> None:
    by_id = {a.id: a for a in articles.values()}
    putin = articles[PUTIN]
    needed = _entry(regression, "app-iran-needed")
    sentence = "Russia badly needed the cash; Iran badly needed the expertise: It was the perfect match."

    right = grade(needed, _answer(putin, sentence, "the expertise"), by_id.get)
    assert (right.ok, right.quote_ok, right.key_span_ok, right.key_span_f1) == (True, True, True, 1.0)
    assert (right.citations, right.citations_valid, right.cited, right.key_span) == (1, 1, PUTIN, "the expertise")

    wrong_span = grade(needed, _answer(putin, sentence, "the cash"), by_id.get)
    assert (wrong_span.ok, wrong_span.quote_ok, wrong_span.key_span_ok) == (True, True, False)
    assert wrong_span.key_span_f1 == 0.0

    other = "Of all today's political bromances, perhaps the most interesting is between Russian President"
    wrong = grade(needed, _answer(putin, other, "Russian President"), by_id.get)
    assert (wrong.ok, wrong.quote_ok, wrong.key_span_ok) == (False, False, False)

    shifted = grade(needed, _answer(putin, sentence, "the expertise", start_shift=1), by_id.get)
    assert (shifted.ok, shifted.citations, shifted.citations_valid) == (True, 1, 0)

    missed = grade(needed, _declined(), by_id.get)
    assert (missed.ok, missed.found, missed.got, missed.key_span) == (False, False, "declined", None)

    near_miss = _entry(regression, "nm-bushehr-price")
    assert grade(near_miss, _declined(), by_id.get).ok
    bushehr = "Russia and Iran have enjoyed strong economic links since 1991"
    answered = grade(near_miss, _answer(putin, bushehr, "1991"), by_id.get)
    assert not answered.ok and answered.expected == "decline"

    capital = _entry(regression, "aus-capital")  # a decline is accepted, so is the Canberra sentence
    assert capital.accept_decline and grade(capital, _declined(), by_id.get).ok
    victoria = articles["Victoria (Australia)"]
    assert grade(capital, _answer(victoria, 'described as the "sporting capital of Australia"',
                                  "sporting capital of Australia"), by_id.get).ok is False
    assert grade(capital, _answer(victoria, "until the construction of Canberra in 1927", "Canberra"), by_id.get).ok


def test_grading_metadata_questions(regression: RegressionSet, articles: dict[str, Article]) -> None:
    by_id = {a.id: a for a in articles.values()}
    putin = articles[PUTIN]
    author = _entry(regression, "meta-putin-author")
    byline = grade(author, _answer(putin, "David Patrikarakos is the author of", "David Patrikarakos"), by_id.get)
    assert byline.ok and byline.key_span_ok and byline.expected == "author: David Patrikarakos"
    # Which field a citation cites is reported once citations say what kind of source they are.
    assert byline.metadata_cited is (False if "kind" in Citation.model_fields else None)
    unrelated = grade(author, _answer(putin, "Relations appear to have grown even closer.", "closer"), by_id.get)
    assert not unrelated.ok
    assert metadata_values(dt.date(2016, 8, 26)) == ["2016-08-26", "August 26, 2016", "26 August 2016"]


def test_summary_figures_over_graded_rows(regression: RegressionSet, articles: dict[str, Article]) -> None:
    by_id = {a.id: a for a in articles.values()}
    putin, bowl = articles[PUTIN], articles["Super Bowl 50"]
    picked = RegressionSet.model_validate({**regression.model_dump(), "questions": [
        _entry(regression, i).model_dump() for i in ("app-iran-needed", "app-afc-team", "nm-bushehr-price",
                                                    "fu-russia-needed", "meta-putin-author")]})
    needed = "Russia badly needed the cash; Iran badly needed the expertise: It was the perfect match."
    afc = "The American Football Conference (AFC) champion Denver Broncos defeated"
    answers = [_answer(putin, needed, "the expertise"), _answer(bowl, afc, "American Football Conference"),
               _declined(), _answer(putin, needed, "the cash"), _declined()]
    rows = [grade(e, a, by_id.get) for e, a in zip(picked.questions, answers, strict=True)]
    report = summarize(picked, rows, dataset="set.json", index="ix", latencies_ms=[10.0, 20.0, 30.0, 40.0, 50.0])
    assert report.correct == 0.8 and report.questions == 5
    assert (report.answerable.questions, report.answerable.correct, report.answerable.key_span_em) == (3, 1.0, 0.6667)
    assert report.answerable.cited_expected_article == 1.0
    assert (report.declines.questions, report.declines.correct) == (1, 1.0)
    assert (report.metadata.questions, report.metadata.correct) == (1, 0.0)
    assert (report.follow_ups.questions, report.follow_ups.correct) == (1, 1.0)
    # The AFC example's quote holds the answer but the key span misses it: not all examples correct.
    assert (report.app_examples.questions, report.app_examples.correct) == (2, 1.0)
    assert report.app_examples.key_span_correct == 0.5 and report.app_examples.all_correct is False
    assert set(report.categories) == {"what", "who", "near_miss", "follow_up", "metadata"}
    assert report.citation_validity == 1.0 and report.latency_ms_p50 == 30.0
    assert RegressionReport.model_validate_json(report.to_json()) == report
    markdown = report.markdown()
    assert markdown.count("\n| app-") == 2 and "| **no** |" in markdown and "What did Iran badly need" in markdown
    assert "| no (1.0 quote, 0.5 key span, 2 examples) |" in markdown
    assert "rows" not in report.scores().model_dump() and report.scores().correct == 0.8


@pytest.mark.slow
def test_the_set_runs_end_to_end_on_an_index(regression: RegressionSet, index_copy: Path, tmp_path: Path) -> None:
    """A few of the set's questions asked on a real index (the seed article, Super Bowl 50 and
    Nikola Tesla): the reports are written and every citation checks out. Correctness is what
    ``qa eval regression`` measures, not what this test asserts."""
    from qa_eval.regression import evaluate_regression

    ids = ("app-iran-needed", "app-afc-team", "app-tesla-died", "fu-russia-needed", "meta-putin-author",
           "ot-world-cup")
    small = tmp_path / "small-set.json"
    data = json.loads(SET.read_text(encoding="utf-8"))
    data["questions"] = [q for q in data["questions"] if q["id"] in ids]
    small.write_text(json.dumps(data), encoding="utf-8")
    out = tmp_path / "reports"
    report = evaluate_regression(small, None, out=out, index=index_copy)
    assert [r.id for r in report.rows] == [q["id"] for q in data["questions"]]
    assert json.loads((out / "regression.json").read_text()) == json.loads(report.to_json())
    assert report.citation_validity == 1.0 and report.app_examples.questions == 3
    assert (out / "regression.md").read_text().count("\n| app-") == 3


@pytest.mark.slow
def test_the_apps_examples_quote_and_highlight_their_answers(regression: RegressionSet, index_copy: Path) -> None:
    """Issue 14's first listed failures were the app's own examples ("Pittsburgh Steelers" at 81%
    for the AFC team; the Tesla Museum for where Tesla died): each example, asked on an index of
    the seed article and the two SQuAD articles they are about, quotes a gold answer and
    highlights one exactly (the regression report's "app examples all correct")."""
    asked = qa.QA(index_copy, sample=False, create=False)
    examples = [e for e in regression.questions if e.question in app_examples()]
    assert len(examples) == len(app_examples())
    for entry in examples:
        row = grade(entry, asked.answer(entry.question), asked.article)
        assert row.ok and row.key_span_ok, (entry.question, row.got, row.key_span)


@pytest.mark.slow
def test_a_follow_up_is_asked_after_its_conversation_as_the_web_chat_keeps_it(index_copy: Path) -> None:
    """The harness asks a follow-up's earlier questions first and passes each with its answer's
    quote (``Turn.answer``), as the web chat does; questions alone would leave "he" with nothing
    to stand for but the earlier question's words."""
    from qa_eval.regression import replayed

    asked = qa.QA(index_copy, sample=False, create=False)
    first, then = "What did Iran badly need from Russia?", "And what did Russia need?"
    turns = replayed(asked, [first, then])
    assert [t.question for t in turns] == [first, then]
    assert turns[0].answer == asked.answer(first).text and "expertise" in turns[0].answer
    assert turns[1].answer == asked.answer(then, history=turns[:1]).text and "cash" in turns[1].answer
    declined = replayed(asked, ["Who won the 2018 FIFA World Cup?"])
    assert declined[0].answer == ""  # a decline leaves nothing for a pronoun to stand for, as in the chat
