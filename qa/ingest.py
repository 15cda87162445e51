"""Ingestion: turn files into ``Article`` values with clean text and metadata.

Each reader returns articles whose ``text`` is the clean text every later offset refers to.
Files that cannot be read come back as ``Rejection`` values with a one-line reason naming the
file, so one bad file never stops a batch.
"""

from __future__ import annotations

import datetime as dt
import glob
import hashlib
import json
import os
import re
import unicodedata
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from qa.errors import IngestError
from qa.models import Article, Rejection, content_hash

SUPPORTED_SUFFIXES = frozenset({".md", ".markdown", ".txt", ".html", ".htm", ".json", ".jsonl"})
DEFAULT_MAX_BYTES = 20 * 1024 * 1024
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
_DROP_CHARS = dict.fromkeys(
    c for c in range(0x20) if chr(c) not in "\n\t"
) | {0x7F: None, 0xFEFF: None}


def iter_paths(targets: Iterable[str | os.PathLike[str]]) -> Iterator[Path]:
    """Expand files, directories (recursively) and glob patterns into file paths, sorted.

    Symlinked directories are not followed, so a symlink loop cannot make this run forever.
    """
    for target in targets:
        raw = os.fspath(target)
        path = Path(raw)
        if path.is_dir():
            for root, dirs, files in os.walk(path, followlinks=False):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(files):
                    if not name.startswith("."):
                        yield Path(root) / name
        elif path.exists() or path.is_symlink():
            yield path
        elif glob.has_magic(raw):
            yield from (Path(p) for p in sorted(glob.glob(raw, recursive=True)) if Path(p).is_file())
        else:
            yield path  # reported as missing by read_articles


def read_articles(
    paths: Iterable[Path], max_bytes: int = DEFAULT_MAX_BYTES
) -> tuple[list[Article], list[Rejection]]:
    """Read every path into articles; unreadable files become rejections, never exceptions."""
    articles: list[Article] = []
    rejected: list[Rejection] = []
    for path in paths:
        try:
            articles.extend(read_file(path, max_bytes=max_bytes))
        except IngestError as e:
            rejected.append(Rejection(path=e.path, reason=e.reason))
    return articles, rejected


def read_file(path: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> list[Article]:
    """Read one file into one or more articles.

    Raises:
        IngestError: the file is missing, empty, binary, too large, badly encoded or malformed.
    """
    name = str(path)
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # undecodable bytes in the name: it could not be shown or stored
        raise IngestError(os.fsencode(path).decode("utf-8", "backslashreplace"),
                          "the file name is not valid UTF-8; rename the file") from None
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise IngestError(name, f"unsupported file type '{suffix or path.name}'")
    raw = _read_bytes(path, max_bytes)
    text = decode(raw, name, html=suffix in {".html", ".htm"},
                  clean=suffix not in {".json", ".jsonl"})
    if suffix in {".md", ".markdown", ".txt"}:
        articles = [_markdown_article(text, path)]
    elif suffix in {".html", ".htm"}:
        articles = [_html_article(text, path)]
    elif suffix == ".jsonl":
        articles = _jsonl_articles(text, path)
    else:
        articles = _json_articles(text, path)
    if not articles:
        raise IngestError(name, "no article text found")
    return articles


def _read_bytes(path: Path, max_bytes: int) -> bytes:
    name = str(path)
    try:
        if not path.is_file():
            raise IngestError(name, "not a regular file" if path.exists() else "file not found")
        size = path.stat().st_size
        if size > max_bytes:
            raise IngestError(name, f"file is {size:,} bytes, over the limit of {max_bytes:,}")
        with path.open("rb") as f:
            raw = f.read(max_bytes + 1)
    except OSError as e:
        raise IngestError(name, f"cannot be read ({e.strerror or e})") from e
    if len(raw) > max_bytes:
        raise IngestError(name, f"file grew over the limit of {max_bytes:,} bytes while read")
    if not raw.strip():
        raise IngestError(name, "file is empty")
    return raw


def decode(raw: bytes, name: str, html: bool = False, clean: bool = True) -> str:
    """Decode bytes as UTF-8, else as the declared or detected encoding, else reject.

    Args:
        clean: NFC-normalise and drop control characters; JSON is parsed unclean, so SQuAD
            contexts stay verbatim and their answer offsets still map.

    Raises:
        IngestError: the bytes look binary or no encoding reads them as text.
    """
    finish = _clean_chars if clean else str
    if b"\x00" in raw[:8192] and not raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise IngestError(name, "looks like a binary file (contains NUL bytes)")
    try:
        return finish(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        pass
    declared = _declared_charset(raw) if html else None
    if declared:
        try:
            return finish(raw.decode(declared))
        except (UnicodeDecodeError, LookupError):
            pass
    text = _guess_decoding(raw)
    if text is None:
        raise IngestError(name, "is not valid UTF-8 and no other text encoding fits it")
    return finish(text)


# Lower-case letters beyond ASCII of the languages legacy single-byte code pages serve.
_ALPHABETS = tuple(frozenset(letters) for letters in (
    "àâæçéèêëîïôœùûüÿ", "äöüß", "áéíóúüñªº", "áâãàçéêíóôõúüªº", "àèéìíîòóùúªº", "áéíóúàèëïöü",
    "àçéèíïòóúü", "æøåé", "åäöé", "äöåšžõü", "áðéíóúýþæö", "áčďéěíňóřšťúůýž",
    "áäčďéíĺľňóôŕšťúýž", "ąćęłńóśźż", "áéíóöőúüű", "ăâîșțşţ", "čćđšž", "çğıöşüâîû",
    "ąčęėįšųūž", "āčēģīķļņšūž", "абвгдеёжзийклмнопрстуфхцчшщъыьэюяіїєґўђјљњћџѓќѕ",
    "αβγδεζηθικλμνξοπρστυφχψωάέήίόύώϊϋΐΰς",
))
_WESTERN = frozenset({"cp1252", "latin_1", "iso8859_15"})


def _guess_decoding(raw: bytes) -> str | None:
    """Decode non-UTF-8 bytes with the most plausible encoding charset-normalizer finds.

    charset-normalizer often ties several single-byte code pages at the same "chaos" and may
    pick one that turns Latin-1 French into "trčs". Among the tied candidates, one whose
    accented letters all belong to a single language's alphabet wins, Western ones first.
    """
    from charset_normalizer import from_bytes

    matches = from_bytes(raw[:262144])
    best = matches.best()
    if best is None or best.chaos > 0.2:
        return None
    tied = [m.encoding for m in matches if m.chaos <= best.chaos + 0.05]  # best first
    plausible = [e for e in tied if _one_alphabet(raw[:262144].decode(e, errors="ignore"))]
    western = [e for e in plausible if e in _WESTERN]
    for encoding in [*western, *plausible, *tied]:
        try:
            return raw.decode(encoding)
        except (UnicodeDecodeError, LookupError):
            continue
    return None


def _one_alphabet(text: str) -> bool:
    lowered = (c.lower()[0] for c in text if c.isalpha() and not c.isascii())
    letters = {c for c in lowered if not c.isascii()}  # "İ".lower() starts with an ASCII "i"
    return any(letters <= alphabet for alphabet in _ALPHABETS)


def _declared_charset(raw: bytes) -> str | None:
    match = re.search(rb"<meta[^>]+charset=[\"']?([A-Za-z0-9_\-]+)", raw[:4096], re.IGNORECASE)
    return match.group(1).decode("ascii") if match else None


def _clean_chars(text: str) -> str:
    """NFC-normalise and drop control characters, so offsets count what readers see."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return unicodedata.normalize("NFC", text).translate(_DROP_CHARS)


def _markdown_article(text: str, path: Path) -> Article:
    """Read a Markdown/text article, pulling title, byline, date and URL out of its header."""
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


def _html_article(text: str, path: Path) -> Article:
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


def _json_articles(text: str, path: Path) -> list[Article]:
    try:
        data = json.loads(text, strict=False)
    except (json.JSONDecodeError, RecursionError) as e:
        raise IngestError(str(path), f"malformed JSON ({_json_reason(e)})") from e
    if isinstance(data, dict) and isinstance(data.get("data"), list):
        return _squad_articles(data["data"], path)
    items = data if isinstance(data, list) else [data]
    return [_object_article(item, path, i) for i, item in enumerate(items)]


def _jsonl_articles(text: str, path: Path) -> list[Article]:
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
    paragraphs = [re.sub(r"[ \t]+", " ", p).strip() for p in re.split(r"\n\s*\n", _clean_chars(body))]
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


def _article(*, title: str, author: str | None, published: dt.date | None, url: str | None,
             source: str, text: str, key: str) -> Article:
    title = shorten(_clean_chars(title))  # JSON is parsed before cleaning (see ``decode``)
    author = _clean_chars(author).strip() or None if author else None
    for value in (title, author or "", url or "", text):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # JSON "\ud800" escapes decode to lone surrogates
            raise IngestError(source, "holds escaped characters that are not valid Unicode "
                                      "(lone surrogates)") from None
    return Article(
        id=article_id(title, key), title=title, author=author, published=published, url=url,
        source=source, text=text, content_hash=content_hash(title, author, published, url, text),
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
