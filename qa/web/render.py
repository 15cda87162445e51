"""HTML for the web app: answers, sources, ingest reports, upload checks and error sentences.

Pure functions from models to HTML strings, with no gradio import, so they can be tested (and
imported) without loading gradio. Every piece of text that came from an article, a file name or
a user (titles, URLs, passages, quotes, questions) goes through ``escape`` before it is placed in
markup, and only ``http(s)`` URLs become links. Offsets are never searched for again: highlights
come from ``Answer.highlight`` (inside ``Answer.text``) and from citation offsets (article
offsets, like ``Passage.start``).

Example:
    >>> render_question("<img src=x onerror=alert(1)>")
    '<div class="qa-q">&lt;img src=x onerror=alert(1)&gt;</div>'
"""

from __future__ import annotations

import datetime as dt
import html
import os
from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit

from qa.errors import QAError
from qa.models import Answer, Citation, IngestedArticle, IngestReport, Passage, Rejection

DECLINE_HEADLINE = "The articles don't say."
_EXCERPT_CHARS = 320


# Template syntax of the front end (``${...}``, ``{{...}}``, backticks) becomes character
# references too, so no client-side template or math renderer reads article text as code.
_TEMPLATE_CHARS = str.maketrans({"$": "&#36;", "{": "&#123;", "}": "&#125;", "`": "&#96;"})


def escape(text: str) -> str:
    """Escape ``text`` for HTML element content and attribute values (quotes included)."""
    return html.escape(text, quote=True).translate(_TEMPLATE_CHARS)


def safe_url(url: str | None) -> str | None:
    """``url`` if it is an absolute http(s) URL without spaces or control characters, else None."""
    if not url:
        return None
    url = url.strip()
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in {"http", "https"} or not parts.netloc:
        return None
    return url


def format_date(date: dt.date | None) -> str:
    """``12 October 2015`` style, or an empty string when there is no date."""
    return f"{date.day} {date:%B %Y}" if date else ""


def mark(text: str, start: int, end: int, tag: str = "mark", css_class: str = "") -> str:
    """Escape ``text`` and wrap ``text[start:end]`` in ``<tag>``; an invalid range marks nothing."""
    if not 0 <= start < end <= len(text):
        return escape(text)
    attrs = f' class="{escape(css_class)}"' if css_class else ""
    return (f"{escape(text[:start])}<{tag}{attrs}>{escape(text[start:end])}</{tag}>"
            f"{escape(text[end:])}")


def _title_link(title: str, url: str | None) -> str:
    link = safe_url(url)
    if link is None:
        return f'<span class="qa-title">{escape(title)}</span>'
    return (f'<a class="qa-title" href="{escape(link)}" rel="noopener noreferrer" '
            f'target="_blank">{escape(title)}</a>')


def _percent(value: float) -> str:
    return f"{round(value * 100)}%"


def _one_line(text: str) -> str:
    """Collapse whitespace: chat messages must hold no blank lines (they would end HTML blocks)."""
    return " ".join(text.split())


# ----------------------------------------------------------------------------- chat messages
def render_question(question: str) -> str:
    """A user's question as a chat message: escaped, on one line."""
    return f'<div class="qa-q">{escape(_one_line(question))}</div>'


def render_pending() -> str:
    """The placeholder shown while a question is being answered."""
    return '<div class="qa-pending">Searching the articles…</div>'


def render_error(message: str) -> str:
    """A handler's failure as a chat message: one sentence, no traceback."""
    return (f'<div class="qa-answer qa-error"><span class="qa-error-label">Could not answer.'
            f'</span> {escape(_one_line(message))}</div>')


def render_answer(answer: Answer) -> str:
    """An answer as a chat message.

    A found answer is the verbatim quote with its key span in ``<mark>`` and ``[n]`` markers,
    then the cited titles and the confidence in small text. A declined answer is a muted box
    that says plainly that the articles don't say.
    """
    meta: list[str] = [f'<span class="qa-conf">confidence {_percent(answer.confidence)}</span>']
    if answer.resolved_question:
        resolved = escape(_one_line(answer.resolved_question))
        meta.append(f'<span class="qa-resolved">read as “{resolved}”</span>')
    if not answer.found:
        closest = ("The closest passages are listed under Sources." if answer.passages
                   else "No passage came close.")
        return (
            '<div class="qa-answer qa-declined">'
            f'<div class="qa-decline-head">{DECLINE_HEADLINE}</div>'
            '<div class="qa-decline-body">No sentence in the indexed articles answers this '
            f"confidently, so there is nothing to quote. {closest}</div>"
            f'<div class="qa-meta">{" · ".join(meta)}</div></div>'
        )
    text = answer.text
    span = answer.highlight
    body = mark(text, span.start, span.end) if span is not None else escape(text)
    markers = "".join(f'<sup class="qa-cite">[{c.number}]</sup>' for c in answer.citations)
    cited = "".join(
        f'<div class="qa-cited"><span class="qa-num">[{c.number}]</span> '
        f"{_title_link(c.title, c.url)}{_metadata_note(c)}</div>"
        for c in answer.citations
    )
    return (
        '<div class="qa-answer qa-found">'
        f'<blockquote class="qa-quote">{_one_line(body)} {markers}</blockquote>'
        f"{cited}"
        f'<div class="qa-meta">{" · ".join(meta)}</div></div>'
    )


# ----------------------------------------------------------------------------- sources panel
def render_sources_placeholder() -> str:
    """The sources panel before any question."""
    return ('<div class="qa-sources"><div class="qa-sources-empty">Sources for the latest answer '
            "appear here: the cited passage with the quoted sentence highlighted, and the other "
            "passages that were retrieved.</div></div>")


def _scores(p: Passage) -> str:
    def num(value: float | None) -> str:
        return "–" if value is None else f"{value:.3f}"

    cells = (("fused", num(p.score)), ("dense", num(p.dense_score)),
             ("lexical", num(p.lexical_score)), ("rank", str(p.rank)),
             ("characters", f"{p.start}–{p.end}"))
    items = "".join(f"<div><dt>{name}</dt><dd>{value}</dd></div>" for name, value in cells)
    return (f'<details class="qa-scores"><summary>Scores</summary>'
            f'<dl class="qa-score-grid">{items}</dl></details>')


def _head(p: Passage, number: str) -> str:
    date = format_date(p.published)
    date_html = f' <span class="qa-date">{escape(date)}</span>' if date else ""
    return f'<div class="qa-source-head">{number}{_title_link(p.title, p.url)}{date_html}</div>'


_FIELD_NAMES = {"author": "Author", "published": "Published", "title": "Title", "url": "Source URL"}


def _metadata_note(citation: Citation) -> str:
    """Says that a metadata answer comes from the article's record, not from its text."""
    if citation.kind != "metadata":
        return ""
    field = _FIELD_NAMES[citation.field or "title"].lower()
    return f' <span class="qa-metadata-note">· from the article\'s metadata ({escape(field)})</span>'


def _cited_passage(citation: Citation, passages: Iterable[Passage]) -> Passage | None:
    for p in passages:
        inside = p.start <= citation.start and citation.end <= p.end
        if p.article_id == citation.article_id and inside:
            return p
    return None


def _excerpt(text: str, limit: int = _EXCERPT_CHARS) -> str:
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", 0, limit)
    return text[: cut if cut > limit // 2 else limit].rstrip() + " …"


def render_sources(answer: Answer) -> str:
    """The sources of an answer: cited passages with the quote highlighted, then the rest."""
    parts: list[str] = ['<div class="qa-sources">']
    used: set[int] = set()
    if answer.found and answer.citations:
        parts.append('<div class="qa-section">Cited</div>')
        for c in answer.citations:
            if c.kind == "metadata":
                parts.append(
                    f'<div class="qa-source qa-source-cited qa-source-metadata"><div class="qa-source-head">'
                    f'<span class="qa-num">[{c.number}]</span> {_title_link(c.title, c.url)}</div>'
                    f'<p class="qa-passage">{escape(_FIELD_NAMES[c.field or "title"])}: '
                    f"<mark>{escape(c.quote)}</mark> (from the article's metadata)</p></div>")
                continue
            p = _cited_passage(c, answer.passages)
            if p is None:  # the reader cited outside its passages: show the quote on its own
                parts.append(
                    f'<div class="qa-source qa-source-cited"><div class="qa-source-head">'
                    f'<span class="qa-num">[{c.number}]</span> {_title_link(c.title, c.url)}</div>'
                    f'<p class="qa-passage"><mark>{escape(c.quote)}</mark></p></div>')
                continue
            used.add(p.chunk_id)
            number = f'<span class="qa-num">[{c.number}]</span> '
            start, end = c.start - p.start, c.end - p.start
            if p.text[start:end] != c.quote:  # offsets disagree: never highlight the wrong words
                start = end = 0
            parts.append(
                '<div class="qa-source qa-source-cited">'
                f"{_head(p, number)}"
                f'<p class="qa-passage">{mark(p.text, start, end)}</p>{_scores(p)}</div>')
    others = [p for p in answer.passages if p.chunk_id not in used]
    if others:
        label = "Other retrieved passages" if used else "Closest passages"
        parts.append(f'<div class="qa-section">{label}</div>')
        for p in others:
            rank = f'<span class="qa-rank">#{p.rank}</span> '
            parts.append(
                '<div class="qa-source qa-source-other">'
                f"{_head(p, rank)}"
                f'<p class="qa-passage">{escape(_excerpt(p.text))}</p>{_scores(p)}</div>')
    if not answer.passages and not answer.citations:
        parts.append('<div class="qa-sources-empty">No passages were retrieved.</div>')
    parts.append("</div>")
    return "".join(parts)


# ----------------------------------------------------------------------------- corpus
def _article_entry(article: IngestedArticle, names: Mapping[str, str]) -> str:
    """An ingested article as listed: its title and the file it came from, as uploaded."""
    return f"{article.title} ({names.get(article.source, article.source)})"


def render_report(report: IngestReport | None, rejected: Iterable[Rejection] = (),
                  names: Mapping[str, str] | None = None) -> str:
    """An ingest's outcome: counts of added/updated/unchanged, then each rejected file and why.

    Args:
        report: the ingest's report, or None when no file got as far as the ingest.
        rejected: files refused before the ingest (type, size).
        names: temporary upload path -> the name the user uploaded, for display.
    """
    names = names or {}
    refused = [*rejected, *(report.rejected if report else [])]
    added = report.added if report else []
    updated = report.updated if report else []
    unchanged = report.unchanged if report else []
    summary = (f"Added {len(added)}, updated {len(updated)}, unchanged {len(unchanged)}, "
               f"rejected {len(refused)}.")
    if report and report.chunks_written:
        summary += f" {report.chunks_written} chunks indexed in {report.seconds:.1f} s."
    parts = [f'<div class="qa-report"><div class="qa-report-summary">{escape(summary)}</div>']
    for label, items in (("Added", added), ("Updated", updated), ("Unchanged", unchanged)):
        if items:
            entries = "".join(f"<li>{escape(_article_entry(i, names))}</li>" for i in items)
            parts.append(f'<div class="qa-report-group"><b>{label}</b><ul>{entries}</ul></div>')
    if refused:
        entries = "".join(
            f'<li><span class="qa-file">{escape(names.get(r.path, r.path))}</span>: '
            f"{escape(r.reason)}</li>" for r in refused)
        parts.append('<div class="qa-report-group qa-rejected"><b>Rejected</b>'
                     f"<ul>{entries}</ul></div>")
    if added or updated:
        parts.append('<div class="qa-report-note">New articles can be asked about now.</div>')
    parts.append("</div>")
    return "".join(parts)


def check_upload(path: str, max_bytes: int, suffixes: Iterable[str]) -> Rejection | None:
    """Why an uploaded file must not be ingested (type or size), or None when it may be."""
    name = os.path.basename(path)
    allowed = {s.lower() for s in suffixes}
    suffix = os.path.splitext(name)[1].lower()
    if suffix not in allowed:
        kinds = ", ".join(sorted(allowed))
        reason = f"unsupported file type '{suffix or name}' (use {kinds})"
        return Rejection(path=name, reason=reason)
    try:
        size = os.stat(path).st_size
    except OSError as e:
        return Rejection(path=name, reason=f"cannot be read ({e.strerror or e})")
    if size > max_bytes:
        reason = f"file is {size:,} bytes, over the limit of {max_bytes:,}"
        return Rejection(path=name, reason=reason)
    return None


def error_message(error: BaseException) -> str:
    """One sentence for a failed handler: a ``QAError``'s own message, else its type and gist."""
    if isinstance(error, QAError):
        return _one_line(str(error)) or "The request could not be completed."
    gist = _one_line(str(error).splitlines()[0] if str(error) else "")
    if len(gist) > 160:
        gist = gist[:159] + "…"
    return f"Something went wrong: {type(error).__name__}: {gist}" if gist else (
        f"Something went wrong: {type(error).__name__}.")
