"""The web app: a chat over the indexed articles, with sources, settings, a corpus manager and the
last evaluation's figures (the Quality tab).

Every answer is a verbatim quote with citations, or an honest "the articles don't say".
``qa serve`` (and the top-level ``app.py``) call ``run``, which opens the index (on first run
building the sample corpus) and serves; ``build_app(qa, host, credential)`` returns the
``gr.Blocks`` for tests and embedding, and ``serve(demo, host, port)`` launches it with the app's
theme and CSS (``app.css``) behind the upload gate (``qa.web.uploads``).

The app uses only the public API of ``qa`` (``QA`` and its models), so it shows what any other
application built on the library can do.

Safety: all text from articles, file names and users is HTML-escaped by ``qa.web.render`` before
it reaches any markup; uploads are checked for type and size before they reach the disk
(``qa.web.uploads``) and removed from Gradio's cache once ingested or refused; a failing handler
shows one sentence in the page and logs its traceback to stderr only.

Access: reading is open; every write handler (upload, confirm a replacement, delete) checks
``qa.access.require_write`` itself, so the rule holds for API calls as for the page. An upload
that would replace a stored article with other content is held until the admin confirms it.
"""

from __future__ import annotations

import datetime as dt
import errno
import json
import os
import socket
import sys
import traceback
from collections.abc import Collection, Iterator, Sequence
from importlib import resources
from pathlib import Path
from typing import Any, cast, get_args

import gradio as gr
from gradio.data_classes import FileData, ListFiles
from starlette.middleware import Middleware

from qa import QA, QAError
from qa.access import AdminCredential, access_mode, describe, load_credential, require_write
from qa.models import Answer, ArticleInfo, IngestReport, Rejection, RetrievalMode, Span, Turn
from qa.retrieval import Filters
from qa.settings import Settings
from qa.web.quality import default_reports, render_quality
from qa.web.render import (
    check_upload,
    error_message,
    escape,
    parse_open,
    render_answer,
    render_article,
    render_article_missing,
    render_delete_question,
    render_error,
    render_pending,
    render_question,
    render_replacements,
    render_report,
    render_sources,
    render_sources_placeholder,
)
from qa.web.scope import check_articles, filters_from_form
from qa.web.scope import describe as describe_scope
from qa.web.starting import Starting, serving
from qa.web.uploads import UploadGate, UploadPolicy, discard, upload_suffixes

TITLE = "article-qa"
SUBTITLE = ("Ask questions about the indexed articles. Every answer is a verbatim quote with "
            "citations, or an honest “the articles don't say”.")
EXAMPLES = (
    "What did Iran badly need from Russia?",
    "Who built Iran's nuclear reactor at Bushehr?",
    "Which NFL team represented the AFC at Super Bowl 50?",
    "Where did Nikola Tesla die?",
)
MODES: tuple[str, ...] = get_args(RetrievalMode)
TABLE_HEADERS = ["Title", "Author", "Date", "Chunks", "Id"]
CORPUS_OUTPUTS = 6  # header, table, delete choice, filter's articles, filter's authors, rows to reveal
# Answers run side by side (sessions are independent); writes (upload, delete) go one at a time
# in their own queue, so an upload that is indexing never holds up a question.
ANSWER_CONCURRENCY = 4
# Gradio's cache sweep (seconds): every 5 minutes, remove uploads older than 30 minutes, such as
# files a client uploaded but never submitted. Submitted files are removed at once (``discard``).
DELETE_CACHE = (300, 1800)

Message = dict[str, str]

# Installed once when the page loads. Citations and source cards carry a ``qa-ref-...`` class
# (numbers only, see ``render.open_class``); a click or Enter on one hands it to the server through
# a hidden box and button. When an article view appears, its focus mark is scrolled into view once.
OPEN_JS = """() => {
  const open = (el) => {
    const box = document.querySelector('#qa-open-request textarea, #qa-open-request input');
    const go = document.querySelector('#qa-open-go');
    if (!box || !go) return;
    box.value = [...el.classList].find((c) => c.startsWith('qa-ref-')) || '';
    box.dispatchEvent(new Event('input', {bubbles: true}));
    setTimeout(() => go.click(), 0);
  };
  document.addEventListener('click', (ev) => {
    const el = ev.target.closest('.qa-open');
    if (!el || ev.target.closest('a[href], summary')) return;
    ev.preventDefault();
    open(el);
  });
  document.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape' && document.querySelector('#qa-article .qa-article')) {
      document.querySelector('#qa-article-close')?.click();
    } else if ((ev.key === 'Enter' || ev.key === ' ') && ev.target.matches?.('.qa-open')) {
      ev.preventDefault();
      open(ev.target);
    }
  });
  new MutationObserver(() => {
    const focus = document.querySelector('#qa-article-view .qa-focus:not([data-seen])');
    if (!focus) return;
    focus.setAttribute('data-seen', '1');
    focus.scrollIntoView({block: 'center'});
  }).observe(document.body, {childList: true, subtree: true});
}"""

# Run when the corpus table's rows to reveal change (``_reveal``). The table lists the articles by
# title, so a new one may be far below its 420 px fold, and it draws only the rows near its scroll
# position: this scrolls to where the row should be, waits until it is drawn, brings it just under
# the sticky header (or above the bottom edge) and shades the new rows. The shade is a style rule
# by row index, as the table redraws its rows and would drop a class; an empty value clears it.
REVEAL_JS = """async (shown) => {
  let shade = document.getElementById('qa-new-rows');
  if (!shade) {
    shade = document.createElement('style');
    shade.id = 'qa-new-rows';
    document.head.appendChild(shade);
  }
  shade.textContent = '';
  const rows = shown ? JSON.parse(shown) : [];
  if (!rows.length) return;
  const [row, id] = rows[0];
  const idOf = (r) => [...r.querySelectorAll('.body-cell')].pop()?.innerText.trim();
  for (let tries = 0; tries < 80; tries++) {
    await new Promise((done) => requestAnimationFrame(() => setTimeout(done, 25)));
    const table = document.querySelector('#qa-articles .virtual-table-viewport');
    const body = table?.querySelector('.virtual-body');
    if (!body) continue;
    const found = [...body.querySelectorAll('.virtual-row')].find((r) => idOf(r) === id);
    if (!found) {
      const grid = document.querySelector('#qa-articles [aria-rowcount]');
      const total = Math.max(Number(grid?.getAttribute('aria-rowcount')) - 1, 1);
      table.scrollTop = body.offsetHeight * row / total - table.clientHeight / 2;
      continue;
    }
    table.scrollIntoView({block: 'nearest'});
    const head = table.querySelector('thead').getBoundingClientRect();
    const box = found.getBoundingClientRect();
    const edge = table.getBoundingClientRect();
    if (box.top < head.bottom) table.scrollTop -= head.bottom - box.top;
    else if (box.bottom > edge.bottom) table.scrollTop += box.bottom - edge.bottom;
    const offset = Number(found.getAttribute('aria-rowindex')) - row;
    shade.textContent = rows.map(([r]) => `#qa-articles .virtual-row[aria-rowindex="${r + offset}"] .body-cell`)
      .join(', ') + ' { background: #fef3c7 !important; }';
    return;
  }
}"""

THEME = gr.themes.Soft(
    primary_hue="indigo",
    secondary_hue="amber",
    neutral_hue="slate",
    # Local fonts only: the app must not fetch anything from the internet.
    font=["Inter", "ui-sans-serif", "system-ui", "-apple-system", "Segoe UI", "sans-serif"],
    font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace"],
)
CSS = resources.files(__package__).joinpath("app.css").read_text(encoding="utf-8")


# ----------------------------------------------------------------------------- handlers
def _report_error(error: BaseException) -> str:
    """The one sentence shown for ``error``; unexpected errors log their traceback to stderr."""
    if not isinstance(error, QAError):
        traceback.print_exception(error, file=sys.stderr)
    return error_message(error)


def _warn(message: str) -> None:
    """A warning toast; toasts render HTML, so the message is escaped like any other text."""
    gr.Warning(escape(message))


def _inform(message: str) -> None:
    gr.Info(escape(message))


def _header(qa: QA | None) -> str:
    """The page's title block with the index's counts, or, without ``qa``, a line saying they are
    being read. A page is drawn from the app's build, so counts put there are those of the app's
    start and stale in every tab opened after an upload; each page fills them in on load."""
    if qa is None:
        counts = "Reading the index…"
    else:
        stats = qa.stats()
        counts = (f"{stats.articles:,} articles · {stats.chunks:,} passages · "
                  f"{stats.sentences:,} sentences indexed")
    return (f'<div id="qa-header"><h1>{TITLE}</h1><p class="qa-subtitle">{SUBTITLE}</p>'
            f'<div class="qa-stats">{counts}</div></div>')


def _articles_table(articles: Sequence[ArticleInfo]) -> list[list[Any]]:
    """The rows of the Corpus tab's table, one per article, in ``TABLE_HEADERS`` order."""
    return [[a.title, a.author or "", a.published.isoformat() if a.published else "", a.chunks, a.id]
            for a in articles]


def _article_choices(articles: Sequence[ArticleInfo]) -> list[tuple[str, str]]:
    return [(f"{a.title} ({a.id})", a.id) for a in articles]


def _author_choices(articles: Sequence[ArticleInfo]) -> list[str]:
    return sorted({a.author for a in articles if a.author}, key=str.casefold)


def _reveal(articles: Sequence[ArticleInfo], shown: Collection[str]) -> str:
    """The table rows of the ``shown`` article ids as JSON ``[[row, id], ...]`` for ``REVEAL_JS``
    ("" when none); a row is a position in ``articles``, the table's order."""
    rows = [[row, a.id] for row, a in enumerate(articles) if a.id in shown]
    return json.dumps(rows) if rows else ""


class UploadedFiles(gr.File):  # type: ignore[misc]  # gradio is untyped here (pyproject)
    """``gr.File`` whose events get the uploaded files' paths and nothing more.

    ``gr.File`` (Gradio 6.31, type "filepath") also makes an empty temporary file in the upload
    cache for every file an event receives, and never removes it; those would pile up there. The
    types and sizes are checked by the upload gate and again by the upload handler.
    """

    is_template = True  # drawn by gr.File's own front-end component

    def preprocess(self, payload: ListFiles | FileData | None) -> list[str] | None:
        if payload is None:
            return None
        files = payload.root if isinstance(payload, ListFiles) else [payload]
        return [f.path for f in files]


def upload_policy(settings: Settings, host: str, credential: AdminCredential | None) -> UploadPolicy:
    """What the upload route of a server on ``host`` accepts: nothing where it is read-only."""
    suffixes = upload_suffixes(settings)
    read_only = access_mode(host, credential) == "read-only"
    return UploadPolicy(None if read_only else tuple(suffixes), settings.upload_max_bytes)


def _changed_ids(report: IngestReport | None) -> set[str]:
    """The ids of the articles an ingest added or replaced: the rows the table points out."""
    return {a.id for a in (*report.added, *report.updated)} if report else set()


def _no_confirmation() -> tuple[Any, Any, Any]:
    """Outputs that hide the replacement confirmation and forget its files."""
    return gr.Group(visible=False), "", []


def _unchanged_confirmation() -> tuple[Any, Any, Any]:
    return gr.skip(), gr.skip(), gr.skip()


def _skip_corpus() -> tuple[Any, ...]:
    """Outputs that leave the ``CORPUS_OUTPUTS`` as they are."""
    return (gr.skip(),) * CORPUS_OUTPUTS


def build_app(qa: QA, host: str = "127.0.0.1", credential: AdminCredential | None = None) -> gr.Blocks:
    """The web app over ``qa``: a Chat tab (with sources and settings), a Corpus tab and a Quality
    tab (the last evaluation's figures and plots, ``qa.web.quality``).

    Conversations live in per-session state, so every browser session has its own. Who may
    change the articles follows from the address the app serves (``host``) and the admin
    ``credential`` (see ``qa.access``); the write handlers check it on every call.

    Example:
        >>> demo = build_app(QA("index"), "0.0.0.0", load_credential())
        >>> serve(demo, "0.0.0.0", 7860)
    """
    default_k = qa.settings.retrieval.k
    # The article choices until a page's load reads them again. Gradio checks a value against the
    # choices its session last saw, so the article dropdowns take any value too: an API client
    # that never loads a page may delete or ask about an article added since the app started.
    listed = qa.articles()
    access = access_mode(host, credential)
    suffixes = upload_suffixes(qa.settings)
    max_bytes = qa.settings.upload_max_bytes
    cache = Path(gr.utils.get_upload_folder())

    def corpus_showing(shown: Collection[str]) -> tuple[Any, ...]:
        """The ``CORPUS_OUTPUTS``: header, table, the article choices, and the table rows of the
        ``shown`` article ids (just added or replaced) for the page to scroll to."""
        try:
            # One read for the table and the dropdowns, so they agree during a concurrent write.
            articles = qa.articles()
            choices = _article_choices(articles)
            return (_header(qa), _articles_table(articles), gr.Dropdown(choices=choices, value=None),
                    gr.Dropdown(choices=choices), gr.Dropdown(choices=_author_choices(articles)),
                    _reveal(articles, shown))
        except Exception as e:
            _warn(_report_error(e))
            return _skip_corpus()

    def refresh_corpus() -> tuple[Any, ...]:
        return corpus_showing(())

    def scoped(ids: Sequence[str] | None, date_from: str | None, date_to: str | None,
               author: str | None) -> tuple[Filters | None, dict[str, str]]:
        """The filter form's ``Filters`` and, when it names articles, every indexed article's title
        by id (empty otherwise); a ``QAError`` says why the form cannot be asked."""
        filters = filters_from_form(ids, date_from, date_to, author)
        titles = {a.id: a.title for a in qa.articles()} if filters and filters.article_ids else {}
        check_articles(filters, titles)
        return filters, titles

    def scope_of(ids: Sequence[str] | None, date_from: str | None, date_to: str | None,
                 author: str | None) -> str:
        """The filter form in words, for the line above the question box ("" when it is empty)."""
        try:
            filters, titles = scoped(ids, date_from, date_to, author)
        except QAError as e:
            return f'<div class="qa-scope qa-scope-error">{escape(str(e))}</div>'
        described = describe_scope(filters, titles)
        return f'<div class="qa-scope">{escape(described)}</div>' if described else ""

    def open_article(request: str | None, answers: list[Answer]) -> tuple[Any, str]:
        """The article view for a clicked citation or passage (``render.open_class``)."""
        parsed = parse_open(request or "")
        if parsed is None or parsed[0] >= len(answers):
            return gr.skip(), gr.skip()  # a stale or forged request: nothing to open
        turn, kind, key = parsed
        answer = answers[turn]
        cited = next((c for c in answer.citations if kind == "c" and c.number == key), None)
        passage = next((p for p in answer.passages if kind == "p" and p.chunk_id == key), None)
        target = cited if cited is not None else passage
        if target is None:
            return gr.skip(), gr.skip()
        article_id, focus = target.article_id, target.start
        try:
            article = qa.article(article_id)
        except Exception as e:
            return gr.Column(visible=True), render_error(_report_error(e))
        if article is None:
            return gr.Column(visible=True), render_article_missing(article_id)
        quoted = [Span(start=c.start, end=c.end) for c in answer.citations
                  if c.article_id == article_id and c.kind == "text"]
        retrieved = [Span(start=p.start, end=p.end) for p in answer.passages if p.article_id == article_id]
        return gr.Column(visible=True), render_article(article, quoted, retrieved, focus)

    def ask(question: str | None, messages: list[Message], turns: list[Turn], answers: list[Answer],
            k: float, mode: str, ids: list[str] | None, date_from: str | None, date_to: str | None,
            author: str | None) -> Iterator[tuple[Any, ...]]:
        asked = " ".join((question or "").split())
        if not asked:
            _warn("Please type a question first.")
            yield gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
            return
        messages = [*messages, {"role": "user", "content": render_question(asked)}]
        pending = [*messages, {"role": "assistant", "content": render_pending()}]
        yield messages, pending, gr.skip(), gr.skip(), gr.skip(), ""  # the placeholder is never state
        try:
            filters, titles = scoped(ids, date_from, date_to, author)
            retrieval_mode = cast(RetrievalMode, mode if mode in MODES else "fused")
            answer: Answer = qa.answer(asked, k=int(k), history=turns, mode=retrieval_mode, filters=filters)
        except Exception as e:
            failed = [*messages, {"role": "assistant", "content": render_error(_report_error(e))}]
            yield failed, failed, gr.skip(), gr.skip(), gr.skip(), gr.skip()
            return
        number = len(answers)  # this answer's place, which its citations' clicks name
        shown = render_answer(answer, number, describe_scope(filters, titles))
        answered = [*messages, {"role": "assistant", "content": shown}]
        turn = Turn.after(asked, answer)
        yield answered, answered, [*turns, turn], [*answers, answer], render_sources(answer, number), gr.skip()

    def new_conversation() -> tuple[Any, ...]:
        return [], [], [], [], render_sources_placeholder(), gr.Column(visible=False), ""

    def upload(files: Sequence[str] | str | None, password: str | None, request: gr.Request,
               progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:  # noqa: B008
        paths = [files] if isinstance(files, str) else list(files or [])
        try:
            require_write(host, credential, password)
        except QAError as e:
            discard(paths, cache)
            _warn(_report_error(e))
            return escape(str(e)), None, *_unchanged_confirmation(), *refresh_corpus()
        if not paths:  # nothing chosen, or the page refused every chosen file (type, size)
            _warn("Choose one or more files to add first.")
            return "", gr.skip(), *_unchanged_confirmation(), *_skip_corpus()
        names = {p: os.path.basename(p) for p in paths}
        refused: list[Rejection] = []
        accepted: list[str] = []
        for path in paths:
            problem = check_upload(path, max_bytes, suffixes)
            if problem is None:
                accepted.append(path)
            else:
                refused.append(problem)
        discard([p for p in paths if p not in accepted], cache)
        report: IngestReport | None = None
        try:
            if accepted:
                progress(0.0, desc="Indexing the files")

                def step(done: int, total: int) -> None:
                    progress((done, total), desc="Embedding passages and sentences",
                             unit="vectors")

                # Replacing a stored article's content waits for the admin's confirmation.
                report = qa.ingest(accepted, max_bytes=max_bytes, progress=step, replace=False,
                                   actor=_actor(request))
        except Exception as e:
            discard(accepted, cache)
            message = _report_error(e)
            _warn(message)
            summary = render_report(None, [*refused, *(Rejection(path=names[p], reason=message)
                                                       for p in accepted)], names)
            return summary, None, *_no_confirmation(), *refresh_corpus()
        if report is not None and (report.added or report.updated):
            _inform(f"Indexed {len(report.added) + len(report.updated)} new or changed "
                    "article(s); you can ask about them now.")
        summary = render_report(report, refused, names)
        changed = _changed_ids(report)
        if report is None or not report.held:
            discard(accepted, cache)
            return summary, None, *_no_confirmation(), *corpus_showing(changed)
        # The files stay in the cache (server side, in this session's state) until confirmed.
        return (summary, None, gr.Group(visible=True), render_replacements(report.held, names),
                accepted, *corpus_showing(changed))

    def confirm(pending: list[str], password: str | None, request: gr.Request) -> tuple[Any, ...]:
        if not pending:
            return gr.skip(), *_no_confirmation(), *_skip_corpus()
        try:
            require_write(host, credential, password)
        except QAError as e:
            _warn(_report_error(e))
            return escape(str(e)), *_unchanged_confirmation(), *_skip_corpus()
        names = {p: os.path.basename(p) for p in pending}
        missing = [p for p in pending if not os.path.exists(p)]
        try:
            report = qa.ingest([p for p in pending if p not in missing], max_bytes=max_bytes,
                               actor=_actor(request))
        except Exception as e:
            message = _report_error(e)
            _warn(message)
            return escape(message), *_no_confirmation(), *refresh_corpus()
        finally:
            discard(pending, cache)
        gone = [Rejection(path=names[p], reason="no longer in the upload cache; upload it again")
                for p in missing]
        if report.updated:
            _inform(f"Replaced {len(report.updated)} article(s).")
        return render_report(report, gone, names), *_no_confirmation(), *corpus_showing(_changed_ids(report))

    def cancel(pending: list[str]) -> tuple[Any, ...]:
        discard(pending, cache)
        return escape("Kept the stored articles; nothing was replaced."), *_no_confirmation()

    def ask_delete(article_id: str | None) -> tuple[Any, ...]:
        """The first click on Delete: say which article would go, and wait for a second click."""
        if not article_id:
            _warn("Choose an article to delete first.")
            return gr.skip(), gr.skip(), gr.skip()
        found = next((a for a in qa.articles() if a.id == article_id), None)
        if found is None:
            return escape(f"{article_id} is not in the index."), gr.Group(visible=False), gr.skip()
        return "", gr.Group(visible=True), render_delete_question(found)

    def delete(article_id: str | None, password: str | None, request: gr.Request) -> tuple[Any, ...]:
        hidden = gr.Group(visible=False)
        try:
            require_write(host, credential, password)
        except QAError as e:
            _warn(_report_error(e))
            return escape(str(e)), hidden, *refresh_corpus()
        if not article_id:
            _warn("Choose an article to delete first.")
            return gr.skip(), hidden, *_skip_corpus()
        try:
            removed = qa.delete(article_id, actor=_actor(request))
        except Exception as e:
            message = _report_error(e)
            _warn(message)
            return escape(message), hidden, *refresh_corpus()
        note = f"Deleted {article_id}." if removed else f"{article_id} was not in the index."
        _inform(note)
        return escape(note), hidden, *refresh_corpus()

    def _actor(request: gr.Request) -> str:
        client = request.client.host if request.client else "unknown"
        return f"web:{'admin' if access == 'admin' else 'local'}@{client}"

    def pick_row(event: gr.SelectData) -> Any:
        row = getattr(event, "row_value", None)
        if isinstance(row, list) and len(row) == len(TABLE_HEADERS):
            return gr.Dropdown(value=row[-1])
        return gr.skip()

    with gr.Blocks(title=TITLE, analytics_enabled=False, delete_cache=DELETE_CACHE) as demo:
        header = gr.HTML(_header(None), elem_id="qa-header-block", js_on_load=None)
        messages = gr.State(list[Message]())
        turns = gr.State(list[Turn]())
        answers = gr.State(list[Answer]())  # what each chat answer cited, for the article view
        with gr.Tabs():
            with gr.Tab("Chat", id="chat"), gr.Row(equal_height=False):
                with gr.Column(scale=3, min_width=420):
                    chatbot = gr.Chatbot(
                        value=[], elem_id="qa-chat", show_label=False, height=540,
                        sanitize_html=True, render_markdown=False, latex_delimiters=[],
                        placeholder=("**Ask about the articles.** Answers are exact sentences "
                                     "from them, with numbered citations."),
                        feedback_options=None, buttons=[],
                    )
                    with gr.Row(equal_height=True):
                        question = gr.Textbox(
                            show_label=False, placeholder="Ask a question about the articles…",
                            lines=1, max_lines=4, max_length=2000, scale=6, autofocus=True,
                            elem_id="qa-question", submit_btn=False,
                        )
                        ask_button = gr.Button("Ask", variant="primary", scale=1, min_width=90,
                                               elem_id="qa-ask")
                    scope_line = gr.HTML("", elem_id="qa-scope-line", js_on_load=None)
                    with gr.Accordion("Ask only some articles", open=False, elem_id="qa-filter"):
                        only_ids = gr.Dropdown(
                            choices=_article_choices(listed), value=[], multiselect=True, filterable=True,
                            allow_custom_value=True,
                            label="Articles", info="type to search the titles; none chosen: all articles",
                            elem_id="qa-filter-articles")
                        with gr.Row():
                            date_from = gr.Textbox(label="Published from", placeholder="YYYY-MM-DD",
                                                   max_length=10, elem_id="qa-filter-from")
                            date_to = gr.Textbox(label="Published to", placeholder="YYYY-MM-DD",
                                                 max_length=10, elem_id="qa-filter-to")
                            only_author = gr.Dropdown(
                                choices=_author_choices(listed), value=None, allow_custom_value=True,
                                filterable=True, label="Author", info="or part of a name",
                                elem_id="qa-filter-author")
                        clear_filter = gr.Button("Ask all articles again", size="sm",
                                                 elem_id="qa-filter-clear")
                    gr.Examples(examples=[[q] for q in EXAMPLES], inputs=[question],
                                label="Example questions (sample corpus)", elem_id="qa-examples")
                    with gr.Accordion("Settings", open=False, elem_id="qa-settings"):
                        k = gr.Slider(1, 20, value=default_k, step=1, label="Passages to read (k)")
                        mode = gr.Radio(list(MODES), value="fused", label="Retrieval mode",
                                        info="fused combines dense (meaning) and lexical (words) "
                                             "search")
                    clear = gr.Button("New conversation", variant="secondary", size="sm",
                                      elem_id="qa-clear")
                with gr.Column(scale=2, min_width=320):
                    gr.HTML('<div class="qa-panel-title">Sources</div>', js_on_load=None)
                    sources = gr.HTML(render_sources_placeholder(), elem_id="qa-sources-panel",
                                      js_on_load=None)
                # The article view: a panel over the page's right side, opened by a citation or card.
                with gr.Column(visible=False, elem_id="qa-article") as article_panel:
                    close_article = gr.Button("Close ✕", size="sm", elem_id="qa-article-close")
                    article_view = gr.HTML("", elem_id="qa-article-view", js_on_load=None)
                open_request = gr.Textbox(visible="hidden", elem_id="qa-open-request")
                open_go = gr.Button(visible="hidden", elem_id="qa-open-go")
            with gr.Tab("Corpus", id="corpus") as corpus_tab:
                gr.Markdown(escape(describe(host, credential)), elem_id="qa-access")
                password = gr.Textbox(label="Admin password", type="password", visible=access == "admin",
                                        max_length=1024, elem_id="qa-password",
                                        info="needed to add, replace or delete articles")
                with gr.Row(equal_height=False):
                    with gr.Column(scale=3):
                        table = gr.Dataframe(
                            value=[], headers=TABLE_HEADERS,
                            datatype=["str", "str", "str", "number", "str"], interactive=False,
                            label="Indexed articles", elem_id="qa-articles", wrap=True,
                            max_height=420, column_widths=["30%", "16%", "15%", "11%", "28%"],
                        )
                        with gr.Row(equal_height=False, elem_id="qa-delete-row", visible=access != "read-only"):
                            doomed = gr.Dropdown(choices=_article_choices(listed), value=None,
                                                 label="Article to delete", scale=4,
                                                 allow_custom_value=True, elem_id="qa-delete-id")
                            delete_button = gr.Button("Delete", variant="stop", scale=1,
                                                      min_width=100, elem_id="qa-delete")
                        with gr.Group(visible=False, elem_id="qa-delete-confirm") as delete_confirmation:
                            delete_question = gr.HTML("", js_on_load=None)
                            with gr.Row():
                                delete_yes = gr.Button("Delete it", variant="stop", elem_id="qa-delete-yes")
                                delete_no = gr.Button("Keep it", elem_id="qa-delete-no")
                        delete_note = gr.Markdown("", elem_id="qa-delete-note")
                    with gr.Column(scale=2, visible=access != "read-only"):
                        files = UploadedFiles(
                            label=(f"Add articles ({', '.join(suffixes)}; up to "
                                   f"{qa.settings.upload_max_mb:g} MB each)"),
                            file_count="multiple", file_types=suffixes, elem_id="qa-upload",
                        )
                        add_button = gr.Button("Add to index", variant="primary", elem_id="qa-add")
                        with gr.Group(visible=False, elem_id="qa-confirm") as confirmation:
                            replacements = gr.HTML("", js_on_load=None)
                            with gr.Row():
                                replace_button = gr.Button("Replace them", variant="stop",
                                                           elem_id="qa-replace")
                                keep_button = gr.Button("Keep the stored ones", elem_id="qa-keep")
                        pending = gr.State(list[str]())
                        report = gr.HTML("", elem_id="qa-report", js_on_load=None, min_height=60)
                reveal = gr.Textbox(visible="hidden", elem_id="qa-reveal")  # rows for REVEAL_JS
            with gr.Tab("Quality", id="quality") as quality_tab:
                quality = gr.HTML("", elem_id="qa-quality", js_on_load=None)

        chat_outputs = [messages, chatbot, turns, answers, sources, question]
        filter_inputs = [only_ids, date_from, date_to, only_author]
        gr.on(
            triggers=[question.submit, ask_button.click], fn=ask,
            inputs=[question, messages, turns, answers, k, mode, *filter_inputs], outputs=chat_outputs,
            show_progress="hidden", concurrency_limit=ANSWER_CONCURRENCY,
            concurrency_id="answer",
        )
        gr.on(triggers=[only_ids.change, date_from.blur, date_to.blur, only_author.change], fn=scope_of,
              inputs=filter_inputs, outputs=scope_line, queue=False, show_progress="hidden")
        clear_filter.click(lambda: ([], "", "", None, ""), None, [*filter_inputs, scope_line], queue=False)
        for reset in (clear.click, chatbot.clear):  # the chat's own trash button resets too
            reset(new_conversation, None, [messages, chatbot, turns, answers, sources, article_panel, article_view],
                  queue=False)
        open_go.click(open_article, [open_request, answers], [article_panel, article_view], queue=False,
                      show_progress="hidden")
        close_article.click(lambda: (gr.Column(visible=False), ""), None, [article_panel, article_view],
                            queue=False)
        corpus_outputs = [header, table, doomed, only_ids, only_author, reveal]
        confirm_outputs = [confirmation, replacements, pending]
        add_button.click(upload, [files, password], [report, files, *confirm_outputs, *corpus_outputs],
                         concurrency_limit=1, concurrency_id="write", show_progress_on=[report])
        replace_button.click(confirm, [pending, password], [report, *confirm_outputs, *corpus_outputs],
                             concurrency_limit=1, concurrency_id="write", show_progress_on=[report])
        keep_button.click(cancel, [pending], [report, *confirm_outputs], queue=False)
        delete_button.click(ask_delete, [doomed], [delete_note, delete_confirmation, delete_question],
                            queue=False)
        delete_yes.click(delete, [doomed, password], [delete_note, delete_confirmation, *corpus_outputs],
                         concurrency_limit=1, concurrency_id="write", show_progress_on=[delete_note])
        delete_no.click(lambda: ("Nothing was deleted.", gr.Group(visible=False)), None,
                        [delete_note, delete_confirmation], queue=False)
        doomed.change(lambda: gr.Group(visible=False), None, delete_confirmation, queue=False)
        files.upload(lambda: "", None, report, queue=False)  # new files chosen: the old report goes
        table.select(pick_row, None, doomed, queue=False)
        reveal.change(None, reveal, None, js=REVEAL_JS, queue=False)
        # Read when opened, so a report written while the app runs shows without a restart.
        quality_tab.select(lambda: render_quality(default_reports()), None, quality, queue=False,
                           show_progress="hidden")
        corpus_tab.select(refresh_corpus, None, corpus_outputs, queue=False,
                          show_progress="hidden")
        # The corpus (the header's counts, the table, the choices) is read for each page as it
        # loads: what the build put in the page is the app's start's, stale after an upload.
        demo.load(refresh_corpus, None, corpus_outputs, queue=False, show_progress="hidden")
        demo.load(None, None, None, js=OPEN_JS)
    return demo


def serve(demo: gr.Blocks, host: str = "127.0.0.1", port: int = 7860,
          block: bool = True, uploads: UploadPolicy | None = None) -> str:
    """Launch ``demo`` with the app's theme and CSS; returns the local URL.

    Args:
        block: false runs the server in a background thread (for tests).
        uploads: what the upload route accepts (``qa.web.uploads``); by default what
            ``upload_policy`` says for ``host`` under the environment's settings and credential.
    """
    uploads = uploads or upload_policy(Settings.from_env(), host, load_credential())
    demo.queue(max_size=64)
    _, url, _ = demo.launch(
        server_name=host, server_port=port, share=False, prevent_thread_lock=True, quiet=True,
        show_error=False, max_file_size=uploads.max_bytes, ssr_mode=False, theme=THEME, css=CSS,
        footer_links=["gradio", "settings"],
        app_kwargs={"middleware": [Middleware(UploadGate, policy=uploads)]},
    )
    print(f"{TITLE} is ready at {url}", flush=True)
    if block:
        demo.block_thread()
    return str(url)


def run(directory: Path, host: str = "127.0.0.1", port: int = 7860) -> int:
    """Open (or on first run, build) the index in ``directory`` and serve it until interrupted.

    The address and the admin credential are checked first, so a taken port or a malformed
    hash fails at once instead of after the index is built; then the app says who may write.
    The port answers at once: ``qa.web.starting`` shows the progress until the index is ready.
    Returns the exit status; errors of article-qa itself (``QAError``) propagate.
    """
    problem = address_problem(host, port)
    if problem is not None:
        print(f"error: {problem}", file=sys.stderr)
        return 1
    credential = load_credential()
    access = describe(host, credential)
    print(access, file=sys.stderr if access_mode(host, credential) == "read-only" else sys.stdout,
          flush=True)
    state = Starting(f"Opening the index in {directory}.")
    started = dt.datetime.now()
    try:
        with serving(state, host, port):  # the page shows progress until the app takes the port
            if not directory.is_dir() or not any(directory.iterdir()):
                state.say(f"No index in {directory}: indexing the built-in sample corpus (first run only).")
            qa = QA(directory, progress=state.progress)
            state.say("Loading the models.")
            qa.warm_up()
            qa.search("warm up", k=1)  # one-off costs (vectors, first forward pass) before users come
    except OSError as e:  # a directory that cannot be created or read, or the port: the user's to fix
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"The index in {directory} was ready in {(dt.datetime.now() - started).total_seconds():.1f} s.",
          flush=True)
    try:
        from qa.api.server import serve as serve_with_api  # the REST API at /v1, the chat at /

        serve_with_api(qa, build_app(qa, host, credential), host, port, credential,
                       upload_policy(qa.settings, host, credential))
    except OSError as e:  # the port was taken in the moment between the two servers
        print(f"error: {e} (choose another port with --port)", file=sys.stderr)
        return 1
    return 0


def address_problem(host: str, port: int) -> str | None:
    """Why the app could not listen on ``host:port`` (naming the option to change), or None."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as e:
        return f"--host {host}: {e.strerror}"
    with socket.socket(family, kind, proto) as s:
        # As the server will: a port left in TIME_WAIT by an earlier run is free to take.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(address)
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                return f"port {port} on {host} is already in use; choose another with --port"
            if e.errno == errno.EADDRNOTAVAIL:
                return f"--host {host} is not an address of this machine"
            return f"cannot listen on {host}:{port} ({e.strerror}); choose another --port or --host"
    return None
