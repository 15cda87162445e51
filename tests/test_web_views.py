"""The chat's reading aids without a browser: authors and dates on passages and citations, the
filter (``qa.web.scope``, ``Filters.author_contains``), the article view's HTML, the numbering of
the sources panel and the corpus table's order. No model loads: the index uses a hashing embedder."""

from __future__ import annotations

import datetime as dt
import html
import re
import time
from pathlib import Path

import pytest
from embedders import HashingEmbedder

from qa import QA
from qa.errors import QueryError
from qa.models import Answer, Article, ArticleInfo, Citation, Passage, Span
from qa.retrieval import Filters
from qa.web.render import (
    parse_open,
    render_answer,
    render_article,
    render_delete_question,
    render_sources,
)
from qa.web.scope import check_articles, describe, filters_from_form

HOSTILE = '<script>window.pwned=1</script><img src=x onerror="alert(1)"> ${x} {{y}}'
LANTERNS = """# Lanterns of Quenby

By Mara Oduya

March 3, 2021

The lantern festival is held every year in the town of Quenby. Visitors bring lanterns of blue paper.
"""
MILLS = """# The Mills of Harrow

By Tomas Reyl

June 9, 2019

The old mills of Harrow ground wheat for the town until the river changed its course.
"""


@pytest.fixture
def two_authors(tmp_path: Path) -> QA:
    for name, text in (("lanterns.md", LANTERNS), ("mills.md", MILLS)):
        (tmp_path / name).write_text(text, encoding="utf-8")
    qa = QA(tmp_path / "index", sample=False, embedder=HashingEmbedder())
    qa.ingest([tmp_path / "lanterns.md", tmp_path / "mills.md"])
    return qa


def _ids(qa: QA) -> dict[str, str]:
    return {a.title: a.id for a in qa.articles()}


# ----------------------------------------------------------------------------- metadata, filters
def test_passages_name_their_author_and_date(two_authors: QA) -> None:
    passages = two_authors.search("lanterns festival town", k=2)
    by_title = {p.title: p for p in passages}
    assert by_title["Lanterns of Quenby"].author == "Mara Oduya"
    assert by_title["Lanterns of Quenby"].published == dt.date(2021, 3, 3)
    assert by_title["The Mills of Harrow"].author == "Tomas Reyl"


def test_author_filter_keeps_only_that_authors_articles(two_authors: QA) -> None:
    only = two_authors.search("town", k=5, filters=Filters(author_contains="REYL"))
    assert only and {p.author for p in only} == {"Tomas Reyl"}
    assert two_authors.search("town", k=5, filters=Filters(author_contains="nobody")) == []
    # Conditions hold together: an article picked by id and written by someone else gives nothing.
    lanterns = _ids(two_authors)["Lanterns of Quenby"]
    assert two_authors.search("town", k=5, filters=Filters(article_ids=[lanterns], author_contains="reyl")) == []


def test_date_and_article_filters_from_the_form(two_authors: QA) -> None:
    ids = _ids(two_authors)
    since_2020 = filters_from_form([], "2020", "", "")
    assert since_2020 == Filters(published_from=dt.date(2020, 1, 1))
    assert {p.title for p in two_authors.search("town", k=5, filters=since_2020)} == {"Lanterns of Quenby"}
    picked = filters_from_form([ids["The Mills of Harrow"]], "", "2019-12-31", " ")
    assert {p.title for p in two_authors.search("town", k=5, filters=picked)} == {"The Mills of Harrow"}
    assert filters_from_form([], "", "", "") is None  # an empty form asks everything
    with pytest.raises(QueryError, match="YYYY-MM-DD"):
        filters_from_form([], "3 March", "", "")
    with pytest.raises(QueryError, match="before it starts"):
        filters_from_form([], "2021-01-01", "2020-01-01", "")


def test_a_filter_naming_no_indexed_article_is_refused() -> None:
    titles = {"alpha-1": "Alpha"}
    check_articles(Filters(article_ids=["alpha-1"]), titles)
    check_articles(None, titles)  # no filter, nothing to check
    with pytest.raises(QueryError, match="“Tesla” is not the id of an indexed article"):
        check_articles(Filters(article_ids=["alpha-1", "Tesla"]), titles)


def test_the_filter_in_words_names_titles_authors_and_dates() -> None:
    filters = Filters(article_ids=["a", "b", "c", "d"], author_contains="Reyl",
                      published_from=dt.date(2019, 1, 1), published_to=dt.date(2020, 6, 30))
    said = describe(filters, {"a": "Alpha", "b": "Beta", "c": "Gamma"})
    assert said.startswith("Asked only: ")
    assert "“Alpha”, “Beta”, “Gamma” and 1 more" in said
    assert "“Reyl”" in said and "2019-01-01 to 2020-06-30" in said
    assert describe(None, {}) == ""


# ----------------------------------------------------------------------------- rendering
def _passage(chunk_id: int, rank: int, start: int, text: str, article_id: str = "a",
             title: str = "Alpha") -> Passage:
    return Passage(chunk_id=chunk_id, article_id=article_id, title=title, url=None,
                   published=dt.date(2016, 8, 26), author="David Patrikarakos", start=start,
                   end=start + len(text), text=text, rank=rank, dense_score=0.5, lexical_score=None,
                   score=0.4)


def _answer_citing_rank_two() -> Answer:
    passages = [_passage(10, 1, 0, "First passage here."), _passage(11, 2, 100, "The quoted one. More."),
                _passage(12, 3, 300, "Third passage.", "b", "Beta")]
    quote = "The quoted one."
    citation = Citation(number=1, article_id="a", title="Alpha", url=None, start=100, end=100 + len(quote),
                        quote=quote, author="David Patrikarakos", published=dt.date(2016, 8, 26))
    return Answer(question="q", found=True, text=quote, confidence=0.8, citations=[citation],
                  passages=passages)


def test_other_passages_are_numbered_on_from_the_citations() -> None:
    """The cited passage was rank 2: the others are #2 and #3, never a second #1."""
    sources = render_sources(_answer_citing_rank_two())
    assert re.findall(r'class="qa-rank">#(\d+)<', sources) == ["2", "3"]
    assert sources.count('<span class="qa-num">[1]</span>') == 1


def test_citations_and_cards_show_author_date_and_open_the_article() -> None:
    answer = _answer_citing_rank_two()
    shown = render_answer(answer, turn=4, scope="Asked only: “Alpha”.")
    assert "by David Patrikarakos · 26 August 2016" in shown
    assert shown.count("qa-open qa-ref-4-c-1") == 2  # the [1] marker and "in the article"
    assert '<div class="qa-scope">Asked only: “Alpha”.</div>' in shown
    sources = render_sources(answer, turn=4)
    assert sources.count("by David Patrikarakos") == 3
    assert "qa-ref-4-p-10" in sources and "qa-ref-4-p-12" in sources and "qa-ref-4-c-1" in sources
    assert "qa-open" not in render_sources(answer)  # without a turn nothing claims to open
    assert parse_open("qa-ref-4-p-12") == (4, "p", 12)
    for forged in ("qa-ref-4-x-1", "qa-ref--1-c-1", "4|c|1", "qa-ref-4-c-1 qa-ref-5-c-1"):
        assert parse_open(forged) is None
    assert "by David Patrikarakos (2016-08-26)" not in answer.to_markdown()
    assert "[1] Alpha (by David Patrikarakos, 2016-08-26)" in answer.to_markdown()


def test_a_decline_names_what_no_article_found_mentions() -> None:
    plain = Answer(question="q", found=False, text="The articles don't say.", confidence=0.1)
    assert "answers this confidently" in render_answer(plain) and "mentions" not in render_answer(plain)
    named = plain.model_copy(update={"unmentioned": ["Eiffel", "1889", HOSTILE]})
    shown = render_answer(named)
    assert "No article found for this question mentions “Eiffel”, “1889” or “&lt;script&gt;" in shown
    assert "<script>" not in shown and "answers this confidently" not in shown
    assert "No article found for this question mentions “Eiffel”, “1889” or" in named.to_markdown()
    assert named.model_dump(mode="json")["unmentioned"] == ["Eiffel", "1889", HOSTILE]
    respelled = plain.model_copy(update={"unmentioned": ["Telsa", "Ghengis"],
                                          "respelled": {"Telsa": "Tesla", "Ghengis": HOSTILE}})
    shown = render_answer(respelled)
    assert "mentions “Telsa” or “Ghengis”, though they mention “Tesla” and “&lt;script&gt;" in shown
    assert "<script>" not in shown
    assert "mentions “Telsa” or “Ghengis”, though they mention “Tesla” and" in respelled.to_markdown()


def test_a_decline_names_the_word_its_closest_quote_contradicts() -> None:
    plain = Answer(question="q", found=False, text="The articles don't say.", confidence=0.0)
    opposed = plain.model_copy(update={"contrary": ("lowest", "highest")})
    shown = render_answer(opposed)
    assert "The closest sentence says “highest” where the question asks “lowest”, so there is nothing" in shown
    assert "answers this confidently" not in shown
    assert "The closest sentence says “highest” where the question asks “lowest”." in opposed.to_markdown()
    assert Answer.model_validate_json(opposed.model_dump_json()).contrary == ("lowest", "highest")
    unnegated = plain.model_copy(update={"unnegated": "didn't"})
    shown = render_answer(unnegated)
    assert "The question says “didn&#x27;t”, but the closest sentence has no negation, so there is nothing" in shown
    assert "The question says “didn't”, but the closest sentence has no negation." in unnegated.to_markdown()
    assert plain.contrary is None and plain.unnegated is None and "closest sentence" not in plain.to_markdown()


def test_answer_json_carries_author_and_date() -> None:
    data = _answer_citing_rank_two().model_dump(mode="json")
    assert data["citations"][0]["author"] == "David Patrikarakos"
    assert data["citations"][0]["published"] == "2016-08-26"
    assert data["passages"][0]["author"] == "David Patrikarakos"


def _article(text: str, title: str = "Alpha", url: str | None = "https://example.org/a") -> Article:
    return Article(id="a", title=title, author="Ann Author", published=dt.date(2020, 1, 2), url=url,
                   source="a.md", text=text, content_hash="h")


def _body(shown: str) -> str:
    """The article view's text part (the legend above it holds sample marks)."""
    return shown.split('<div class="qa-article-text">', 1)[1].rsplit("</div></article>", 1)[0]


def test_article_view_marks_the_quote_and_the_retrieved_passages() -> None:
    text = "Opening line.\n\nThe quoted one. More text.\n\nLater passage here."
    quote = Span(start=text.index("The quoted"), end=text.index(" More"))
    passage = Span(start=quote.start, end=text.index("\n\nLater"))
    later = Span(start=text.index("Later"), end=len(text))
    shown = render_article(_article(text), [quote], [passage, later], focus=quote.start)
    body = _body(shown)
    assert re.findall(r'<mark class="qa-quoted">(.*?)</mark>', body) == ["The quoted one."]
    retrieved = re.findall(r'<span class="qa-retrieved">(.*?)</span>(?!</mark>)', body)
    assert retrieved == ['<mark class="qa-quoted">The quoted one.</mark>', " More text.", "Later passage here."]
    assert shown.index('<span class="qa-focus"></span>') < shown.index("The quoted")
    assert "by Ann Author · 2 January 2020" in shown and 'href="https://example.org/a"' in shown
    # Taking the markup away gives back the article's text exactly: nothing added, nothing lost.
    assert html.unescape(re.sub(r"<[^>]+>", "", body)) == text


def test_article_view_escapes_everything_and_drops_bad_spans() -> None:
    text = f"Intro {HOSTILE} outro."
    shown = render_article(_article(text, title=f"T {HOSTILE}", url="javascript:alert(1)"),
                           [Span(start=0, end=5), Span(start=0, end=10_000)], [], focus=99_999)
    assert "<script" not in shown and "<img" not in shown and "javascript:" not in shown
    assert "${" not in shown and "{{" not in shown and "<a " not in shown
    assert _body(shown).count('<mark class="qa-quoted">') == 1  # the span past the end marks nothing


def test_article_view_of_a_30000_word_article_is_one_quick_string() -> None:
    words = [f"word{i % 977}" for i in range(30_000)]
    text = "\n\n".join(" ".join(words[i:i + 120]) + "." for i in range(0, len(words), 120))
    middle = len(text) // 2
    started = time.perf_counter()
    shown = render_article(_article(text), [Span(start=middle, end=middle + 40)],
                           [Span(start=middle - 500, end=middle + 500)], focus=middle)
    assert time.perf_counter() - started < 0.5
    assert _body(shown).count("<mark") == 1 and len(shown) < len(text) + 2_000


def test_delete_question_names_the_article_escaped() -> None:
    info = ArticleInfo(id="x-1", title=f"Doomed {HOSTILE}", author=None, published=None, url=None,
                       source="x.md", chunks=3)
    asked = render_delete_question(info)
    assert "Delete “Doomed &lt;script&gt;" in asked and "x-1" in asked and "3 passages" in asked
    assert "<script" not in asked


def test_corpus_table_shows_authors() -> None:
    from qa.web.app import TABLE_HEADERS, _articles_table

    infos = [ArticleInfo(id=i, title=t, author=a, published=None, url=None, source="s", chunks=1)
             for i, t, a in (("a", "Alpha", "Ann"), ("b", "Beta", None))]
    assert TABLE_HEADERS == ["Title", "Author", "Date", "Chunks", "Id"]
    assert _articles_table(infos) == [["Alpha", "Ann", "", 1, "a"], ["Beta", "", "", 1, "b"]]


def test_the_table_points_out_the_rows_of_new_articles() -> None:
    """After an upload the page scrolls the table to the new articles' rows (``REVEAL_JS``)."""
    from qa.web.app import _reveal

    infos = [ArticleInfo(id=i, title=t, author=None, published=None, url=None, source="s", chunks=1)
             for i, t in (("a", "Alpha"), ("b", "Beta"), ("c", "Gamma"))]
    assert _reveal(infos, {"c", "b"}) == '[[1, "b"], [2, "c"]]'  # table order: the first is scrolled to
    assert _reveal(infos, set()) == "" and _reveal(infos, {"gone"}) == ""
