"""PDF: the text layer of each page (pypdf), rebuilt into paragraphs, with where each page starts.

A PDF holds positioned lines, not paragraphs, so they are rebuilt here: a line is joined to the
next with a space, a word hyphenated at a line's end is joined again when the next line goes on
in lower case, and a paragraph ends at a short line that ends a sentence (or is followed by a
capital, as a heading is). Ligature glyphs (``ﬁ``, ``ﬀ`` ...) become their letters, so "ﬁnance"
is found by a search for "finance". ``Article.pages`` records where each page starts in the
text, so every chunk and citation can name its page.

pypdf was chosen over pdfminer.six by ``eval/compare_pdf.py`` (see ``eval/README.md``): it kept
the reading order of justified two-column pages, which pdfminer's layout analysis scrambled,
and read them faster.
"""

from __future__ import annotations

import io
import re
import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING

from qa.errors import IngestError
from qa.ingest.decode import clean_chars
from qa.ingest.formats import document_article
from qa.models import Article

if TYPE_CHECKING:
    from pypdf import PdfReader

# U+FB00-FB06: ff, fi, fl, ffi, ffl, long s t, st; NFKC spells each out in plain letters.
_LIGATURES = {c: unicodedata.normalize("NFKC", chr(c)) for c in range(0xFB00, 0xFB07)}
_SOFT_HYPHEN = "\u00ad"
_SENTENCE_END = re.compile(r"[.!?:;\"'\u201d\u2019)\]]$")
_HYPHENATED = re.compile(r"[^\W\d_]-$")  # a letter, then a hyphen at the end of the line
_WORD = re.compile(r"\w")
SHORT_LINE = 0.85  # a line shorter than this share of a full line may end a paragraph


def read_pdf(raw: bytes, name: str) -> tuple[list[str], str | None, str | None]:
    """The text of each page and the document's title and author (None where not recorded).

    Raises:
        IngestError: the file is not a readable PDF, needs a password, or has no text layer.
    """
    from pypdf.errors import DependencyError, FileNotDecryptedError, PyPdfError

    try:
        reader = _open(raw, name)
        pages = [page.extract_text() or "" for page in reader.pages]
        info = reader.metadata
        title, author = (info.title, info.author) if info is not None else (None, None)
    except (FileNotDecryptedError, DependencyError):
        raise IngestError(name, "is an encrypted PDF; save a copy without a password") from None
    except IngestError:
        raise
    except (PyPdfError, ValueError, TypeError, KeyError, IndexError, AttributeError, RecursionError) as e:
        # pypdf meets damage in many places; each surfaces as one of these
        raise IngestError(name, f"is not a readable PDF ({_gist(e)})") from e
    if not any(_WORD.search(page) for page in pages):
        raise IngestError(name, "is a PDF with no text layer (scanned pages?); run OCR on it first "
                                "(for example with ocrmypdf)")
    return pages, _metadata(title), _metadata(author)


def _open(raw: bytes, name: str) -> PdfReader:
    """A reader over ``raw``, decrypted when a PDF is encrypted with an empty user password
    (the "no copying" kind, which every viewer opens without asking)."""
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(raw))
    if reader.is_encrypted and not reader.decrypt(""):
        raise IngestError(name, "is an encrypted PDF that needs a password; save a copy without one")
    return reader


def _gist(error: Exception) -> str:
    return " ".join(str(error).split())[:120] or type(error).__name__


def _metadata(value: object) -> str | None:
    text = " ".join(clean_chars(value).split()) if isinstance(value, str) else ""
    return text or None


def pdf_text(pages: list[str]) -> tuple[str, list[int]]:
    """Join the pages' paragraphs into one text; returns it and where each page starts in it.

    A paragraph cut by a page break (the page ends mid-sentence, the next goes on in lower case)
    is joined again, so its sentences stay whole; the next page then starts inside it.
    """
    text = ""
    starts: list[int] = []
    for page in pages:
        paragraphs = page_paragraphs(page)
        if text and paragraphs and _continues(text, paragraphs[0]):
            text, gap = _line_join(text, paragraphs[0])
            starts.append(len(text) + len(gap))
            text += gap + paragraphs[0]
            paragraphs = paragraphs[1:]
        else:
            starts.append(len(text) + 2 if text else 0)
        for paragraph in paragraphs:
            text = f"{text}\n\n{paragraph}" if text else paragraph
    return text, starts


def page_paragraphs(page: str) -> list[str]:
    """One page's lines rebuilt into paragraphs (clean, one line each)."""
    lines = [line for line in (clean_line(raw) for raw in page.splitlines()) if line]
    if not lines:
        return []
    full = sorted(len(line) for line in lines)[int(len(lines) * 0.8)]  # a typical full line
    paragraphs: list[str] = []
    current = ""
    for i, line in enumerate(lines):
        if current:
            current, gap = _line_join(current, line)
            current += gap + line
        else:
            current = line
        following = lines[i + 1] if i + 1 < len(lines) else ""
        short = len(line) < SHORT_LINE * full
        if short and (_SENTENCE_END.search(line) or following[:1].isupper() or following[:1].isdigit()):
            paragraphs.append(current)
            current = ""
    if current:
        paragraphs.append(current)
    return paragraphs


def clean_line(line: str) -> str:
    """A line as readers see it: ligatures spelled out, clean characters, single spaces, and no
    soft hyphen but one that ends the line (where it split a word)."""
    line = " ".join(clean_chars("".join(_LIGATURES.get(ord(c), c) for c in line)).split())
    inner = line.rstrip(_SOFT_HYPHEN).replace(_SOFT_HYPHEN, "")
    return inner + _SOFT_HYPHEN if line.endswith(_SOFT_HYPHEN) else inner


def _continues(text: str, paragraph: str) -> bool:
    """Whether ``paragraph`` goes on from the end of ``text`` (cut mid-sentence)."""
    return not _SENTENCE_END.search(text) and paragraph[:1].islower()


def _line_join(before: str, after: str) -> tuple[str, str]:
    """``before`` (less a hyphen that split a word) and what goes between it and ``after``."""
    if before.endswith(_SOFT_HYPHEN):
        return before[:-1], ""
    if _HYPHENATED.search(before):  # "hyphen-|ated" was split; "anti-|Assad", "Su-|34" keep theirs
        return (before[:-1], "") if after[:1].islower() else (before, "")
    return before, " "


def pdf_article(raw: bytes, path: Path) -> Article:
    """A PDF file's bytes as an article whose ``pages`` say where each page starts.

    Raises:
        IngestError: see ``read_pdf``.
    """
    pages, title, author = read_pdf(raw, str(path))
    text, starts = pdf_text(pages)
    return document_article(path, text, title, author, starts)
