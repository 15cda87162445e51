"""PDF and Word ingest: text, metadata, page starts, page numbers on chunks and citations, and
one-line rejections of scanned, encrypted and damaged files that never stop a batch."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from documents import AUTHOR, PAGES, TITLE, docx_bytes, pdf_bytes, scanned_pdf_bytes, write
from embedders import HashingEmbedder

from qa import QA
from qa.ingest import iter_paths, read_articles, read_file
from qa.ingest.pdf import clean_line, page_paragraphs, pdf_text
from qa.models import page_at


def test_pdf_text_metadata_and_pages(tmp_path: Path) -> None:
    [article] = read_file(write(tmp_path / "bushehr.pdf", pdf_bytes()))
    assert (article.title, article.author) == (TITLE, AUTHOR)
    assert article.pages is not None and len(article.pages) == len(PAGES)
    for number, (heading, *sentences) in enumerate(PAGES, start=1):
        for line in (heading, *sentences):
            start = article.text.index(line)
            assert article.page_at(start) == article.page_at(start + len(line) - 1) == number
    assert article.text.split("\n\n")[0] == PAGES[0][0]  # a heading is a paragraph of its own


def test_pdf_without_metadata_is_titled_by_its_file(tmp_path: Path) -> None:
    [article] = read_file(write(tmp_path / "annual-report.pdf", pdf_bytes(title=None, author=None)))
    assert (article.title, article.author) == ("Annual report", None)


def test_pdf_encrypted_for_owner_only_is_read(tmp_path: Path) -> None:
    """An empty user password (copy protection only) opens in every viewer, so here too."""
    [article] = read_file(write(tmp_path / "protected.pdf", pdf_bytes(owner_password="owner")))
    assert PAGES[2][1] in article.text


def test_bad_documents_are_rejected_in_one_line_each(tmp_path: Path) -> None:
    good = pdf_bytes()
    bad = {
        "scan.pdf": (scanned_pdf_bytes(), "no text layer"),
        "locked.pdf": (pdf_bytes(owner_password="o", user_password="secret"), "encrypted"),
        "cut.pdf": (good[: len(good) // 3], "not a readable PDF"),
        "fake.pdf": (b"%PDF-1.7 not really", "not a readable PDF"),
        "broken.docx": (b"PK\x03\x04 not a zip", "not a readable .docx"),
        "old.docx": (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600), "old-format (.doc)"),
        "empty.docx": (docx_bytes(()), "no text"),
    }
    for name, (data, _) in bad.items():
        write(tmp_path / name, data)
    write(tmp_path / "good.pdf", good)
    write(tmp_path / "good.docx", docx_bytes(("A paragraph of words.",)))
    articles, rejected = read_articles(iter_paths([tmp_path]))
    assert sorted(Path(a.source).name for a in articles) == ["good.docx", "good.pdf"]
    reasons = {Path(r.path).name: r.reason for r in rejected}
    assert set(reasons) == set(bad)
    for name, (_, expected) in bad.items():
        assert expected in reasons[name] and "\n" not in reasons[name], (name, reasons[name])


def test_docx_paragraphs_tables_and_metadata(tmp_path: Path) -> None:
    data = docx_bytes(("First paragraph, with words.", "", "Second paragraph."),
                      table=(("Year", "Event"), ("1995", "Engineers arrive")))
    [article] = read_file(write(tmp_path / "notes.docx", data))
    assert article.text == ("First paragraph, with words.\n\nSecond paragraph.\n\n"
                            "Year | Event\n\n1995 | Engineers arrive")
    assert (article.title, article.author, article.pages) == (TITLE, AUTHOR, None)


def test_ligatures_soft_hyphens_and_hyphenation() -> None:
    assert clean_line("the \ufb01nal e\ufb00ort, re\u00adﬂow") == "the final effort, reflow"
    lines = "An inter-\nnational study of anti-\nAssad groups and Sukhoi-\n34 jets.\n"
    assert page_paragraphs(lines) == ["An international study of anti-Assad groups and Sukhoi-34 jets."]


def test_paragraph_cut_by_a_page_break_is_joined() -> None:
    text, starts = pdf_text(["Heading\nThe sentence runs on over\n", "the page break. Next one.\n"])
    assert text == "Heading\n\nThe sentence runs on over the page break. Next one."
    assert page_at(starts, text.index("over")) == 1
    assert page_at(starts, text.index("the page")) == 2


def test_page_at_empty_pages() -> None:
    # page 2 is empty: it starts where page 3 does, and holds no offset
    assert [page_at([0, 10, 10], offset) for offset in (0, 9, 10, 15)] == [1, 1, 3, 3]
    assert page_at(None, 5) is None


def test_pdf_chunks_and_citations_carry_pages(tmp_path: Path) -> None:
    """Every chunk of a PDF has the page it starts on, stored; a citation has the quote's page."""
    write(tmp_path / "bushehr.pdf", pdf_bytes())
    qa = QA(tmp_path / "index", sample=False, embedder=HashingEmbedder(),
            index_settings=None)
    report = qa.ingest([tmp_path / "bushehr.pdf"])
    assert len(report.added) == 1
    article = qa.article(report.added[0].id)
    assert article is not None and article.pages is not None
    passages = qa.search("grid September 2011", k=10)
    assert passages and all(p.page == article.page_at(p.start) for p in passages)
    assert {p.page for p in passages} <= {1, 2, 3}


def test_index_made_before_pages_opens_and_gains_the_columns(tmp_path: Path) -> None:
    """An index whose tables lack the page columns (an older version's) still opens, reads and
    takes PDFs: the columns are added on opening, the old rows keep NULL."""
    write(tmp_path / "a.md", b"# Old\n\nAn article from before pages existed.\n")
    QA(tmp_path / "index", sample=False, embedder=HashingEmbedder()).ingest([tmp_path / "a.md"])
    database = tmp_path / "index" / "qa.sqlite3"
    with sqlite3.connect(database) as conn:
        conn.execute("ALTER TABLE chunks DROP COLUMN page")
        conn.execute("ALTER TABLE articles DROP COLUMN pages")
    qa = QA(tmp_path / "index", sample=False, embedder=HashingEmbedder())
    assert [p.page for p in qa.search("article before pages")] == [None]
    write(tmp_path / "b.pdf", pdf_bytes())
    qa.ingest([tmp_path / "b.pdf"])
    assert {p.page for p in qa.search("reactor fuel Rosatom", k=10)} - {None}


@pytest.mark.parametrize("name", ["notes.doc", "slides.pptx"])
def test_other_office_formats_stay_unsupported(tmp_path: Path, name: str) -> None:
    articles, rejected = read_articles([write(tmp_path / name, b"words")])
    assert not articles and "unsupported" in rejected[0].reason
