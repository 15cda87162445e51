"""Formats: Markdown and text, HTML, JSON/JSONL objects and SQuAD files to ``Article`` values.

PDF and Word files have their own modules (``pdf``, ``word``); ``document_article`` makes their
articles.

Each reader returns articles whose ``text`` is the clean text every later offset refers to,
with the metadata the format carries (title, author, date, URL).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import unicodedata
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from qa.errors import IngestError
from qa.ingest.decode import clean_chars
from qa.models import Article, content_hash

SQUAD_PARAGRAPH_GAP = "\n\n"  # joins a SQuAD article's paragraphs

_MONTHS = (
    "January|February|March|April|May|June|July|August|September|October|November|December"
)
_DATE_PATTERNS = (
    (re.compile(rf"^\s*((?:{_MONTHS})\.? \d{{1,2}}, \d{{4}})\s*$"), "%B %d, %Y"),
    (re.compile(r"^\s*(\d{4}-\d{2}-\d{2})"), "%Y-%m-%d"),
    (re.compile(rf"^\s*(\d{{1,2}} (?:{_MONTHS}) \d{{4}})\s*$"), "%d %B %Y"),
)
_URL_LINE = re.compile(r"^\s*Original url:\s*<?([^>\s]+)>?\s*$", re.IGNORECASE | re.MULTILINE)
_BYLINE = re.compile(r"^\s*By\s+(.+?)\s*$")
_MD_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_MD_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_MD_REF_LINK = re.compile(r"\[([^\]]+)\]\[[^\]]*\]")
_MD_BOLD = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*|(?<!\w)__(?=\S)(.+?)(?<=\S)__(?!\w)")
_MD_ITALIC = re.compile(r"(?<![\w*])([*_])(?!\s)(.+?)(?<!\s)\1(?![\w*])")
_MD_CODE = re.compile(r"`([^`]*)`")
_MD_ESCAPE = re.compile(r"\\+([\\`*_{}\[\]()#+\-.!$])")
_MD_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+")
_MD_LIST = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")
_MD_QUOTE = re.compile(r"^\s*>\s?")
_SENTENCE_END = re.compile(r"[.!?:;\"'\u201d\u2019)\]]$")


def markdown_article(text: str, path: Path) -> Article:
    """Read a Markdown/text article, pulling title, byline, date and URL out of its header.

    The byline ("By ...") stays in the text as well as in ``author``: it is the article's own
    statement of who wrote it, quotable like any other sentence.
    """
    url_match = _URL_LINE.search(text)
    url = url_match.group(1) if url_match else None
    text = _URL_LINE.sub("", text)
    blocks = [b.strip() for b in re.split(r"\n\s*\n", text) if b.strip()]
    title = author = None
    published: dt.date | None = None
    body: list[str] = []
    for index, block in enumerate(blocks):
        if index < 8:
            if title is None and block.startswith("# "):
                title = _inline(_MD_HEADING.sub("", block))
                continue
            byline = _BYLINE.match(_inline(block))
            if author is None and byline and len(block) < 200:
                author = byline.group(1)
                body.append(_markdown_block(block))  # the byline is also text a reader may quote
                continue
            date = _parse_date(_inline(block)) if len(block) < 40 else None
            if published is None and date is not None:
                published = date
                continue
        body.append(_markdown_block(block))
    clean = "\n\n".join(_join_broken_paragraphs(b for b in body if b))
    return _article(
        title=title or _title_from_path(path), author=author, published=published,
        url=url, source=str(path), text=clean, key=url or path.name,
    )


def _markdown_block(block: str) -> str:
    lines = []
    for line in block.splitlines():
        line = _MD_QUOTE.sub("", _MD_LIST.sub("", _MD_HEADING.sub("", line)))
        if line.strip():
            lines.append(line.strip())
    return _inline(" ".join(lines))


def _inline(text: str) -> str:
    """Reduce inline Markdown (links, emphasis, code, escapes) to its text."""
    text = _MD_IMAGE.sub(r"\1", text)
    text = _MD_LINK.sub(r"\1", text)
    text = _MD_REF_LINK.sub(r"\1", text)
    text = _MD_BOLD.sub(lambda m: m.group(1) or m.group(2), text)
    text = _MD_ITALIC.sub(r"\2", text)
    text = _MD_CODE.sub(r"\1", text)
    text = _MD_ESCAPE.sub(r"\1", text)
    return re.sub(r"[ \t]+", " ", text).strip()


def _join_broken_paragraphs(blocks: Iterable[str]) -> list[str]:
    """Join a block that stops mid-sentence with the block that continues it in lower case."""
    out: list[str] = []
    for block in blocks:
        if out and not _SENTENCE_END.search(out[-1]) and (block[0].islower() or block[0] in ",;"):
            out[-1] = f"{out[-1]} {block}" if block[0] not in ",;" else out[-1] + block
        else:
            out.append(block)
    return out


def _parse_date(text: str) -> dt.date | None:
    for pattern, fmt in _DATE_PATTERNS:
        match = pattern.match(text)
        if match:
            try:
                return dt.datetime.strptime(match.group(1).replace(".", ""), fmt).date()
            except ValueError:
                return None
    return None


def html_article(text: str, path: Path) -> Article:
    """Read the main text of an HTML page; scripts, styles and navigation are dropped."""
    from bs4 import BeautifulSoup

    try:
        soup = BeautifulSoup(text, "lxml")
    except Exception as e:  # lxml raises several types on pathological input
        raise IngestError(str(path), f"malformed HTML ({e})") from e
    for tag in soup(["script", "style", "noscript", "nav", "header", "footer", "aside", "form",
                     "iframe", "svg", "template", "button", "select"]):
        tag.decompose()

    def meta(*names: str) -> str | None:
        for n in names:
            tag = soup.find("meta", attrs={"name": n}) or soup.find("meta", attrs={"property": n})
            content = tag.get("content") if tag else None
            if isinstance(content, str) and content.strip():
                return content.strip()
        return None

    h1 = soup.find("h1")
    title = meta("og:title") or (soup.title.get_text(" ", strip=True) if soup.title else None)
    title = title or (h1.get_text(" ", strip=True) if h1 else None) or _title_from_path(path)
    canonical = soup.find("link", rel="canonical")
    url = meta("og:url") or (canonical.get("href") if canonical else None)
    time_tag = soup.find("time")
    date_text = meta("article:published_time", "date", "pubdate") or (
        time_tag.get("datetime") if time_tag else None
    )
    published = _parse_date(str(date_text)) if date_text else None
    root = soup.find("article") or soup.find("main") or soup.body or soup
    blocks = []
    block_tags = ["p", "h2", "h3", "h4", "h5", "h6", "li", "blockquote", "pre", "td", "dd", "dt"]
    for el in root.find_all(block_tags):
        if el.find(block_tags):
            continue  # its inner blocks are taken on their own
        words = re.sub(r"\s+", " ", el.get_text(" ", strip=True)).strip()
        if words:
            blocks.append(words)
    if not blocks:
        words = re.sub(r"\s+", " ", root.get_text(" ", strip=True)).strip()
        blocks = [words] if words else []
    if not blocks:
        raise IngestError(str(path), "HTML has no readable text")
    return _article(
        title=shorten(title), author=meta("author", "article:author"), published=published,
        url=url if isinstance(url, str) else None, source=str(path), text="\n\n".join(blocks),
        key=url if isinstance(url, str) else path.name,
    )


def json_articles(text: str, path: Path) -> list[Article]:
    try:
        data = json.loads(text, strict=False)
    except (json.JSONDecodeError, RecursionError) as e:
        raise IngestError(str(path), f"malformed JSON ({_json_reason(e)})") from e
    if isinstance(data, dict) and isinstance(data.get("data"), list):
        return _squad_articles(data["data"], path)
    items = data if isinstance(data, list) else [data]
    return [_object_article(item, path, i) for i, item in enumerate(items)]


def jsonl_articles(text: str, path: Path) -> list[Article]:
    articles = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line, strict=False)
        except (json.JSONDecodeError, RecursionError) as e:
            raise IngestError(str(path), f"malformed JSON on line {number} ({_json_reason(e)})") from e
        articles.append(_object_article(item, path, number))
    return articles


def _json_reason(e: Exception) -> str:
    return e.msg if isinstance(e, json.JSONDecodeError) else "nested too deeply"


def _object_article(item: Any, path: Path, index: int) -> Article:
    where = f"{path} (item {index})"
    if not isinstance(item, dict):
        raise IngestError(where, "each JSON item must be an object with 'text' or 'body'")
    body = item.get("text", item.get("body"))
    if not isinstance(body, str) or not body.strip():
        raise IngestError(where, "the object has no non-empty 'text' or 'body' string")
    title = item.get("title") if isinstance(item.get("title"), str) else None
    url = item.get("url") if isinstance(item.get("url"), str) else None
    author = item.get("author") if isinstance(item.get("author"), str) else None
    date = item.get("date", item.get("published"))
    paragraphs = [re.sub(r"[ \t]+", " ", p).strip() for p in re.split(r"\n\s*\n", clean_chars(body))]
    return _article(
        title=title or f"{_title_from_path(path)} #{index}", author=author,
        published=_parse_date(date) if isinstance(date, str) else None, url=url,
        source=str(path), text="\n\n".join(" ".join(p.split("\n")) for p in paragraphs if p),
        key=url or f"{path.name}#{title or index}",
    )


def _squad_articles(items: list[Any], path: Path) -> list[Article]:
    """Each SQuAD ``title`` is an article; its paragraph contexts are joined by blank lines."""
    articles = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("paragraphs"), list):
            raise IngestError(str(path), "SQuAD entries need 'title' and a 'paragraphs' list")
        contexts = [p.get("context", "") for p in item["paragraphs"] if isinstance(p, dict)]
        title = str(item.get("title", "")).replace("_", " ") or _title_from_path(path)
        text = squad_article_text(contexts)
        if text:
            articles.append(_article(title=title, author=None, published=None, url=None,
                                     source=str(path), text=text, key=squad_key(title)))
    return articles


def squad_key(title: str) -> str:
    """What identifies a SQuAD article (its id is ``article_id(title, squad_key(title))``)."""
    return f"squad#{title}"


def squad_article_text(contexts: list[str]) -> str:
    """Join SQuAD paragraph contexts as stored; see ``squad_paragraph_starts`` for the offsets.

    Contexts are kept verbatim (no normalisation) so gold answer offsets map exactly.
    """
    return SQUAD_PARAGRAPH_GAP.join(contexts)


def squad_paragraph_starts(contexts: list[str]) -> list[int]:
    """Where each paragraph of ``squad_article_text(contexts)`` starts in the article text."""
    starts, offset = [], 0
    for context in contexts:
        starts.append(offset)
        offset += len(context) + len(SQUAD_PARAGRAPH_GAP)
    return starts


def document_article(path: Path, text: str, title: str | None, author: str | None,
                     pages: list[int] | None = None) -> Article:
    """An article of a document format (PDF, Word) with the title and author its own metadata
    records, else a title from the file name; ``pages`` as ``Article.pages``."""
    return _article(title=title or _title_from_path(path), author=author, published=None, url=None,
                    source=str(path), text=text, key=path.name, pages=pages)


def _article(*, title: str, author: str | None, published: dt.date | None, url: str | None,
             source: str, text: str, key: str, pages: list[int] | None = None) -> Article:
    title = shorten(clean_chars(title))  # JSON is parsed before cleaning (see ``decode``)
    author = clean_chars(author).strip() or None if author else None
    for value in (title, author or "", url or "", text):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # JSON "\ud800" escapes decode to lone surrogates
            raise IngestError(source, "holds escaped characters that are not valid Unicode "
                                      "(lone surrogates)") from None
    return Article(
        id=article_id(title, key), title=title, author=author, published=published, url=url,
        source=source, text=text, content_hash=content_hash(title, author, published, url, text),
        pages=pages,
    )


def article_id(title: str, key: str) -> str:
    """A readable, stable id: the title's slug plus a hash of what identifies the article."""
    slug = re.sub(r"[^a-z0-9]+", "-", unicodedata.normalize("NFKD", title).lower()).strip("-")
    return f"{slug[:48].rstrip('-') or 'article'}-{hashlib.sha1(key.encode('utf-8')).hexdigest()[:8]}"


def _title_from_path(path: Path) -> str:
    return re.sub(r"[-_]+", " ", path.stem).strip().capitalize() or path.name


def shorten(text: str, limit: int = 300) -> str:
    """``text`` on one line, cut to ``limit`` characters with an ellipsis when longer."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
