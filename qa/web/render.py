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
import re
from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit

from qa.errors import QAError
from qa.models import (
    Answer,
    Article,
    ArticleInfo,
    Citation,
    IngestedArticle,
    IngestReport,
    Passage,
    Rejection,
    Replacement,
    Span,
)

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


def _byline(author: str | None, published: dt.date | None) -> str:
    """Who wrote an article and when, as a muted span ("" when neither is known)."""
    parts = [f"by {author}" if author else "", format_date(published)]
    shown = " · ".join(p for p in parts if p)
    return f' <span class="qa-byline">{escape(shown)}</span>' if shown else ""


OPEN_CLASS = "qa-open"


def open_class(turn: int | None, kind: str, key: int) -> str:
    """The class that makes an element open the article view ("" without a ``turn``): at answer
    ``turn``'s citation (``kind="c"``, ``key`` its number) or passage (``kind="p"``, ``key`` its
    chunk id), as ``qa-open qa-ref-TURN-KIND-KEY``. A class, because the chat's sanitizer drops
    ``data-`` attributes; only numbers, so it holds no article text. ``parse_open`` reads it back."""
    return "" if turn is None else f" {OPEN_CLASS} qa-ref-{turn}-{kind}-{key}"


def parse_open(request: str) -> tuple[int, str, int] | None:
    """``(turn, kind, key)`` from a ``qa-ref-TURN-KIND-KEY`` class, or None if it is not one."""
    match = re.fullmatch(r"qa-ref-(\d{1,6})-([cp])-(\d{1,12})", request.strip())
    return (int(match[1]), match[2], int(match[3])) if match else None


def _opener(turn: int | None, kind: str, key: int, label: str, css_class: str = "") -> str:
    """A control that opens the article view at a citation or passage (none without a ``turn``)."""
    if turn is None:
        return ""
    return (f'<span class="{css_class}{open_class(turn, kind, key)}" role="button" tabindex="0" '
            f'title="Show in the article">{label}</span>')


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


def render_answer(answer: Answer, turn: int | None = None, scope: str = "") -> str:
    """An answer as a chat message.

    A found answer is the verbatim quote with its key span in ``<mark>`` and ``[n]`` markers,
    then the cited titles, authors and dates and the confidence in small text. A declined answer
    is a muted box that says plainly that the articles don't say.

    Args:
        turn: the answer's place in the conversation; given, its ``[n]`` markers and an "in the
            article" control open the article view (``open_class``).
        scope: the filter the question was asked under, in words (``qa.web.scope.describe``).
    """
    scope_html = f'<div class="qa-scope">{escape(_one_line(scope))}</div>' if scope else ""
    meta: list[str] = [f'<span class="qa-conf">confidence {_percent(answer.confidence)}</span>']
    if answer.resolved_question:
        resolved = escape(_one_line(answer.resolved_question))
        meta.append(f'<span class="qa-resolved">read as “{resolved}”</span>')
    if not answer.found:
        closest = ("The closest passages are listed under Sources." if answer.passages
                   else "No passage came close.")
        why = escape(answer.decline_reason() or "No sentence in the indexed articles answers this confidently")
        return (
            '<div class="qa-answer qa-declined">'
            f'<div class="qa-decline-head">{DECLINE_HEADLINE}</div>'
            f'<div class="qa-decline-body">{why}, so there is nothing to quote. {closest}</div>{scope_html}'
            f'<div class="qa-meta">{" · ".join(meta)}</div></div>'
        )
    text = answer.text
    span = answer.highlight
    body = mark(text, span.start, span.end) if span is not None else escape(text)
    markers = "".join(
        f'<sup class="qa-cite">{_opener(turn, "c", c.number, f"[{c.number}]", "qa-cite-open")}</sup>'
        if turn is not None else f'<sup class="qa-cite">[{c.number}]</sup>'
        for c in answer.citations)
    cited = "".join(
        f'<div class="qa-cited"><span class="qa-num">[{c.number}]</span> '
        f"{_title_link(c.title, c.url)}{_byline(c.author, c.published)}{_page_note(c.page)}{_metadata_note(c)}"
        f"{_opener(turn, 'c', c.number, 'in the article') if c.kind == 'text' else ''}</div>"
        for c in answer.citations
    )
    return (
        '<div class="qa-answer qa-found">'
        f'<blockquote class="qa-quote">{_one_line(body)} {markers}</blockquote>'
        f"{cited}{scope_html}"
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



def _head(p: Passage, number: str, page: int | None, opener: str = "") -> str:
    """A source's title line: its number, title, author and date, the page (the cited quote's for
    a cited passage, else the passage's) and the control that opens it in the article."""
    return (f'<div class="qa-source-head">{number}{_title_link(p.title, p.url)}{_byline(p.author, p.published)}'
            f"{_page_note(page)}{opener}</div>")


def _page_note(page: int | None) -> str:
    """The page a PDF citation or passage starts on (articles of other formats have none)."""
    return f' <span class="qa-page">p. {page}</span>' if page is not None else ""


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




def render_sources(answer: Answer, turn: int | None = None) -> str:
    """The sources of an answer: cited passages with the quote highlighted, then the rest.

    The other passages are numbered on from the citations (``[1]`` cited, then ``#2``, ``#3``),
    so no two cards carry the same number; each card's retrieval rank is under its scores.
    Given the answer's ``turn``, every card opens the article view (``open_class``).
    """
    parts: list[str] = ['<div class="qa-sources">']
    used: set[int] = set()
    if answer.found and answer.citations:
        parts.append('<div class="qa-section">Cited</div>')
        for c in answer.citations:
            opener = _opener(turn, "c", c.number, "in the article")
            if c.kind == "metadata":
                parts.append(
                    f'<div class="qa-source qa-source-cited qa-source-metadata"><div class="qa-source-head">'
                    f'<span class="qa-num">[{c.number}]</span> {_title_link(c.title, c.url)}'
                    f"{_byline(c.author, c.published)}{opener}</div>"
                    f'<p class="qa-passage">{escape(_FIELD_NAMES[c.field or "title"])}: '
                    f"<mark>{escape(c.quote)}</mark> (from the article's metadata)</p></div>")
                continue
            p = _cited_passage(c, answer.passages)
            if p is None:  # the reader cited outside its passages: show the quote on its own
                parts.append(
                    f'<div class="qa-source qa-source-cited"><div class="qa-source-head">'
                    f'<span class="qa-num">[{c.number}]</span> {_title_link(c.title, c.url)}'
                    f"{_byline(c.author, c.published)}{_page_note(c.page)}{opener}</div>"
                    f'<p class="qa-passage{open_class(turn, "c", c.number)}"><mark>{escape(c.quote)}</mark></p></div>')
                continue
            used.add(p.chunk_id)
            number = f'<span class="qa-num">[{c.number}]</span> '
            start, end = c.start - p.start, c.end - p.start
            if p.text[start:end] != c.quote:  # offsets disagree: never highlight the wrong words
                start = end = 0
            parts.append(
                '<div class="qa-source qa-source-cited">'
                f"{_head(p, number, c.page, opener)}"
                f'<p class="qa-passage{open_class(turn, "c", c.number)}">{mark(p.text, start, end)}</p>'
                f"{_scores(p)}</div>")
    others = [p for p in answer.passages if p.chunk_id not in used]
    if others:
        label = "Other retrieved passages" if answer.found and answer.citations else "Closest passages"
        parts.append(f'<div class="qa-section">{label}</div>')
        first = len(answer.citations) + 1 if answer.found else 1
        for ordinal, p in enumerate(others, start=first):
            head = _head(p, f'<span class="qa-rank">#{ordinal}</span> ', p.page,
                         _opener(turn, "p", p.chunk_id, "in the article"))
            parts.append(
                '<div class="qa-source qa-source-other">'
                f'{head}<p class="qa-passage{open_class(turn, "p", p.chunk_id)}">{escape(_excerpt(p.text))}</p>'
                f"{_scores(p)}</div>")
    if not answer.passages and not answer.citations:
        parts.append('<div class="qa-sources-empty">No passages were retrieved.</div>')
    parts.append("</div>")
    return "".join(parts)


# ----------------------------------------------------------------------------- article view
def render_article(article: Article, quoted: Iterable[Span] = (), retrieved: Iterable[Span] = (),
                   focus: int = 0) -> str:
    """The whole article, to check a quote in context: title (linked to its source when it has
    one), author and date, then the text with the ``quoted`` spans in ``<mark class="qa-quoted">``
    and the ``retrieved`` passages in ``<span class="qa-retrieved">``; an empty
    ``<span class="qa-focus">`` sits at offset ``focus`` for the page to scroll to.

    The text is cut only at those offsets (a handful of cuts, whatever the article's length), so a
    30,000-word article is one escaped string and renders at once; paragraphs keep their blank
    lines through CSS (``white-space: pre-wrap``). Spans outside the text are dropped.
    """
    text = article.text
    size = len(text)
    quotes = [q for q in quoted if 0 <= q.start < q.end <= size]
    passages = [r for r in retrieved if 0 <= r.start < r.end <= size]
    focus = min(max(focus, 0), size)
    cuts = sorted({0, size, focus, *(q.start for q in quotes), *(q.end for q in quotes),
                   *(r.start for r in passages), *(r.end for r in passages)})
    body: list[str] = []
    for a, b in zip(cuts, cuts[1:], strict=False):
        if a == focus:
            body.append('<span class="qa-focus"></span>')
        piece = escape(text[a:b])
        if any(q.start <= a and b <= q.end for q in quotes):
            piece = f'<mark class="qa-quoted">{piece}</mark>'
        if any(r.start <= a and b <= r.end for r in passages):
            piece = f'<span class="qa-retrieved">{piece}</span>'
        body.append(piece)
    if focus == size:
        body.append('<span class="qa-focus"></span>')
    link = safe_url(article.url)
    source = (f'<div class="qa-article-source">Source: <a href="{escape(link)}" rel="noopener noreferrer" '
              f'target="_blank">{escape(link)}</a></div>' if link else "")
    legend = ('<div class="qa-article-legend"><mark class="qa-quoted">quoted</mark> '
              '<span class="qa-retrieved">retrieved for this answer</span></div>')
    return (f'<article class="qa-article" data-article-id="{escape(article.id)}">'
            f'<h2 class="qa-article-title">{_title_link(article.title, article.url)}</h2>'
            f'<div class="qa-article-meta">{_byline(article.author, article.published)}</div>{source}{legend}'
            f'<div class="qa-article-text">{"".join(body)}</div></article>')


def render_article_missing(article_id: str) -> str:
    """The article view when the article is no longer in the index (deleted since the answer)."""
    return (f'<div class="qa-article qa-article-missing">The article {escape(article_id)} is no longer '
            "in the index; it may have been deleted since this answer.</div>")


def render_delete_question(article: ArticleInfo) -> str:
    """What the delete confirmation asks: which article (title, id, size) goes, and what that means."""
    return (f'<div class="qa-report qa-confirm"><div class="qa-report-summary">Delete “{escape(article.title)}” '
            f"({escape(article.id)}, {article.chunks:,} passages) from the index?</div>"
            "<div>Questions will no longer find it; adding its file again restores it.</div></div>")


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


def render_replacements(held: Iterable[Replacement], names: Mapping[str, str] | None = None) -> str:
    """The confirmation a replacement waits for: each stored article beside what would replace it
    (title, size in characters, content hash), so the admin sees what changes before it does."""
    names = names or {}
    rows = "".join(
        f"<tr><td>{escape(r.id)}<br><span class=\"qa-file\">{escape(names.get(r.source, os.path.basename(r.source)))}"
        f"</span></td><td>{escape(r.old_title)}<br>{r.old_chars:,} chars<br><code>{escape(r.old_hash[:12])}</code></td>"
        f"<td>{escape(r.new_title)}<br>{r.new_chars:,} chars<br><code>{escape(r.new_hash[:12])}</code></td></tr>"
        for r in held)
    return ('<div class="qa-report qa-confirm"><div class="qa-report-summary">These uploads would replace '
            "stored articles with other content. Replace them?</div><table><thead><tr><th>Article</th>"
            f"<th>Stored now</th><th>Uploaded</th></tr></thead><tbody>{rows}</tbody></table></div>")


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
