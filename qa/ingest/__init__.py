"""Ingestion: turn files into ``Article`` values with clean text and metadata.

Files that cannot be read come back as ``Rejection`` values with a one-line reason naming the
file, so one bad file never stops a batch. ``decode`` turns bytes into text; ``formats`` reads
each text format, ``pdf`` and ``word`` the PDF and Word (.docx) documents.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from qa.errors import IngestError
from qa.ingest.decode import decode
from qa.ingest.formats import (
    SQUAD_PARAGRAPH_GAP,
    article_id,
    html_article,
    json_articles,
    jsonl_articles,
    markdown_article,
    shorten,
    squad_article_text,
    squad_key,
    squad_paragraph_starts,
)
from qa.ingest.pdf import pdf_article
from qa.ingest.word import docx_article
from qa.models import Article, Rejection

SUPPORTED_SUFFIXES = frozenset({".md", ".markdown", ".txt", ".html", ".htm", ".json", ".jsonl", ".pdf", ".docx"})
DEFAULT_MAX_BYTES = 20 * 1024 * 1024


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
    check_path(path)
    return parse_file(path, read_bytes(path, max_bytes))


def check_path(path: Path) -> None:
    """Refuse a file by its name alone, before any I/O: a name that is not UTF-8, an unsupported type.

    Raises:
        IngestError: the name cannot be shown or stored, or its suffix is not one ingest reads.
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


def parse_file(path: Path, raw: bytes) -> list[Article]:
    """Parse the bytes of the file at ``path`` (a name ``check_path`` accepted) into articles.

    Separate from reading, so that distributed ingest can parse bytes that were read elsewhere.

    Raises:
        IngestError: the content is binary, badly encoded or malformed, or holds no article.
    """
    name = str(path)
    suffix = path.suffix.lower()
    if suffix == ".pdf":
        return [pdf_article(raw, path)]
    if suffix == ".docx":
        return [docx_article(raw, path)]
    text = decode(raw, name, html=suffix in {".html", ".htm"},
                  clean=suffix not in {".json", ".jsonl"})
    if suffix in {".md", ".markdown", ".txt"}:
        articles = [markdown_article(text, path)]
    elif suffix in {".html", ".htm"}:
        articles = [html_article(text, path)]
    elif suffix == ".jsonl":
        articles = jsonl_articles(text, path)
    else:
        articles = json_articles(text, path)
    if not articles:
        raise IngestError(name, "no article text found")
    return articles


def read_bytes(path: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """The file's bytes, refused when missing, not a regular file, over ``max_bytes`` or empty.

    Raises:
        IngestError: naming the file and which of those it is.
    """
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


__all__ = [
    "DEFAULT_MAX_BYTES", "SQUAD_PARAGRAPH_GAP", "SUPPORTED_SUFFIXES", "article_id", "check_path", "decode",
    "iter_paths", "parse_file", "read_articles", "read_bytes", "read_file", "shorten", "squad_article_text",
    "squad_key", "squad_paragraph_starts",
]
