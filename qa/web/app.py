"""The web app: a chat over the indexed articles, with sources, settings and a corpus manager.

Every answer is a verbatim quote with citations, or an honest "the articles don't say".
``qa serve`` (and the top-level ``app.py``) call ``run``, which opens the index (on first run
building the sample corpus) and serves; ``build_app(qa)`` returns the ``gr.Blocks`` for tests and
embedding, and ``serve(demo, host, port)`` launches it with the app's theme and CSS (``app.css``).

The app uses only the public API of ``qa`` (``QA`` and its models), so it shows what any other
application built on the library can do.

Safety: all text from articles, file names and users is HTML-escaped by ``qa.web.render`` before
it reaches any markup; uploads are checked for type and size on the server before they are read;
a failing handler shows one sentence in the page and logs its traceback to stderr only.
"""

from __future__ import annotations

import datetime as dt
import errno
import os
import socket
import sys
import traceback
from collections.abc import Iterator, Sequence
from importlib import resources
from pathlib import Path
from typing import Any, cast, get_args

import gradio as gr

from qa import QA, QAError
from qa.ingest import DEFAULT_MAX_BYTES, SUPPORTED_SUFFIXES
from qa.models import Answer, ArticleInfo, IngestReport, Rejection, RetrievalMode, Turn
from qa.web.render import (
    check_upload,
    error_message,
    escape,
    render_answer,
    render_error,
    render_pending,
    render_question,
    render_report,
    render_sources,
    render_sources_placeholder,
)

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
UPLOAD_SUFFIXES = sorted(SUPPORTED_SUFFIXES)
TABLE_HEADERS = ["Title", "Date", "Chunks", "Id"]
# Answers run side by side (sessions are independent); writes (upload, delete) go one at a time
# in their own queue, so an upload that is indexing never holds up a question.
ANSWER_CONCURRENCY = 4

Message = dict[str, str]

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


def _header(qa: QA) -> str:
    stats = qa.stats()
    return (f'<div id="qa-header"><h1>{TITLE}</h1><p class="qa-subtitle">{SUBTITLE}</p>'
            f'<div class="qa-stats">{stats.articles:,} articles · {stats.chunks:,} passages · '
            f"{stats.sentences:,} sentences indexed</div></div>")


def _articles_table(articles: Sequence[ArticleInfo]) -> list[list[Any]]:
    """The rows of the Corpus tab's table, one per article, in ``TABLE_HEADERS`` order."""
    return [[a.title, a.published.isoformat() if a.published else "", a.chunks, a.id]
            for a in articles]


def _article_choices(articles: Sequence[ArticleInfo]) -> list[tuple[str, str]]:
    return [(f"{a.title} ({a.id})", a.id) for a in articles]


def build_app(qa: QA) -> gr.Blocks:
    """The web app over ``qa``: a Chat tab (with sources and settings) and a Corpus tab.

    Conversations live in per-session state, so every browser session has its own.

    Example:
        >>> demo = build_app(QA("index"))
        >>> serve(demo, "127.0.0.1", 7860)
    """
    default_k = qa.settings.retrieval.k
    listed = qa.articles()

    def refresh_corpus() -> tuple[str, list[list[Any]], Any]:
        try:
            # One read for the table and the dropdown, so they agree during a concurrent write.
            articles = qa.articles()
            return (_header(qa), _articles_table(articles),
                    gr.Dropdown(choices=_article_choices(articles), value=None))
        except Exception as e:
            _warn(_report_error(e))
            return gr.skip(), gr.skip(), gr.skip()

    def ask(question: str | None, messages: list[Message], turns: list[Turn], k: float,
            mode: str) -> Iterator[tuple[Any, ...]]:
        asked = " ".join((question or "").split())
        if not asked:
            _warn("Please type a question first.")
            yield gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
            return
        messages = [*messages, {"role": "user", "content": render_question(asked)}]
        pending = [*messages, {"role": "assistant", "content": render_pending()}]
        yield messages, pending, gr.skip(), gr.skip(), ""  # the placeholder is never state
        try:
            retrieval_mode = cast(RetrievalMode, mode if mode in MODES else "fused")
            answer: Answer = qa.answer(asked, k=int(k), history=turns, mode=retrieval_mode)
        except Exception as e:
            failed = [*messages, {"role": "assistant", "content": render_error(_report_error(e))}]
            yield failed, failed, gr.skip(), gr.skip(), gr.skip()
            return
        answered = [*messages, {"role": "assistant", "content": render_answer(answer)}]
        turn = Turn(question=asked, answer=answer.text if answer.found else "")
        yield answered, answered, [*turns, turn], render_sources(answer), gr.skip()

    def new_conversation() -> tuple[list[Message], list[Message], list[Turn], str]:
        return [], [], [], render_sources_placeholder()

    def upload(files: Sequence[str] | str | None,
               progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:  # noqa: B008
        paths = [files] if isinstance(files, str) else list(files or [])
        if not paths:
            _warn("Choose one or more files to add first.")
            return gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
        names = {p: os.path.basename(p) for p in paths}
        refused: list[Rejection] = []
        accepted: list[str] = []
        for path in paths:
            problem = check_upload(path, DEFAULT_MAX_BYTES, UPLOAD_SUFFIXES)
            if problem is None:
                accepted.append(path)
            else:
                refused.append(problem)
        report: IngestReport | None = None
        try:
            if accepted:
                progress(0.0, desc="Indexing the files")

                def step(done: int, total: int) -> None:
                    progress((done, total), desc="Embedding passages and sentences",
                             unit="vectors")

                report = qa.ingest(accepted, max_bytes=DEFAULT_MAX_BYTES, progress=step)
        except Exception as e:
            message = _report_error(e)
            _warn(message)
            summary = render_report(None, [*refused, *(Rejection(path=names[p], reason=message)
                                                       for p in accepted)], names)
            return summary, None, *refresh_corpus()
        if report is not None and (report.added or report.updated):
            _inform(f"Indexed {len(report.added) + len(report.updated)} new or changed "
                    "article(s); you can ask about them now.")
        return render_report(report, refused, names), None, *refresh_corpus()

    def delete(article_id: str | None) -> tuple[Any, ...]:
        if not article_id:
            _warn("Choose an article to delete first.")
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        try:
            removed = qa.delete(article_id)
        except Exception as e:
            message = _report_error(e)
            _warn(message)
            return escape(message), *refresh_corpus()
        note = f"Deleted {article_id}." if removed else f"{article_id} was not in the index."
        _inform(note)
        return escape(note), *refresh_corpus()

    def pick_row(event: gr.SelectData) -> Any:
        row = getattr(event, "row_value", None)
        if isinstance(row, list) and len(row) == len(TABLE_HEADERS):
            return gr.Dropdown(value=row[-1])
        return gr.skip()

    with gr.Blocks(title=TITLE, analytics_enabled=False) as demo:
        header = gr.HTML(_header(qa), elem_id="qa-header-block", js_on_load=None)
        messages = gr.State(list[Message]())
        turns = gr.State(list[Turn]())
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
            with gr.Tab("Corpus", id="corpus") as corpus_tab, gr.Row(equal_height=False):
                with gr.Column(scale=3):
                    table = gr.Dataframe(
                        value=_articles_table(listed), headers=TABLE_HEADERS,
                        datatype=["str", "str", "number", "str"], interactive=False,
                        label="Indexed articles", elem_id="qa-articles", wrap=True,
                        max_height=420, column_widths=["42%", "14%", "10%", "34%"],
                    )
                    with gr.Row(equal_height=False, elem_id="qa-delete-row"):
                        doomed = gr.Dropdown(choices=_article_choices(listed), value=None,
                                             label="Article to delete", scale=4,
                                             elem_id="qa-delete-id")
                        delete_button = gr.Button("Delete", variant="stop", scale=1,
                                                  min_width=100, elem_id="qa-delete")
                    delete_note = gr.Markdown("", elem_id="qa-delete-note")
                with gr.Column(scale=2):
                    files = gr.File(
                        label=(f"Add articles ({', '.join(UPLOAD_SUFFIXES)}; up to "
                               f"{DEFAULT_MAX_BYTES // (1024 * 1024)} MB each)"),
                        file_count="multiple", file_types=UPLOAD_SUFFIXES, elem_id="qa-upload",
                    )
                    add_button = gr.Button("Add to index", variant="primary", elem_id="qa-add")
                    report = gr.HTML("", elem_id="qa-report", js_on_load=None, min_height=60)

        chat_outputs = [messages, chatbot, turns, sources, question]
        gr.on(
            triggers=[question.submit, ask_button.click], fn=ask,
            inputs=[question, messages, turns, k, mode], outputs=chat_outputs,
            show_progress="hidden", concurrency_limit=ANSWER_CONCURRENCY,
            concurrency_id="answer",
        )
        for reset in (clear.click, chatbot.clear):  # the chat's own trash button resets too
            reset(new_conversation, None, [messages, chatbot, turns, sources], queue=False)
        corpus_outputs = [header, table, doomed]
        add_button.click(upload, [files], [report, files, *corpus_outputs],
                         concurrency_limit=1, concurrency_id="write", show_progress_on=[report])
        delete_button.click(delete, [doomed], [delete_note, *corpus_outputs],
                            concurrency_limit=1, concurrency_id="write",
                            show_progress_on=[delete_note])
        table.select(pick_row, None, doomed, queue=False)
        corpus_tab.select(refresh_corpus, None, corpus_outputs, queue=False,
                          show_progress="hidden")
        demo.load(refresh_corpus, None, corpus_outputs, queue=False, show_progress="hidden")
    return demo


def serve(demo: gr.Blocks, host: str = "127.0.0.1", port: int = 7860,
          block: bool = True) -> str:
    """Launch ``demo`` with the app's theme and CSS; returns the local URL.

    With ``block`` false the server runs in a background thread (for tests).
    """
    demo.queue(max_size=64)
    _, url, _ = demo.launch(
        server_name=host, server_port=port, share=False, prevent_thread_lock=True, quiet=True,
        show_error=False, max_file_size=DEFAULT_MAX_BYTES, ssr_mode=False, theme=THEME, css=CSS,
        footer_links=["gradio", "settings"],
    )
    print(f"{TITLE} is ready at {url}", flush=True)
    if block:
        demo.block_thread()
    return str(url)


def run(directory: Path, host: str = "127.0.0.1", port: int = 7860) -> int:
    """Open (or on first run, build) the index in ``directory`` and serve it until interrupted.

    The address is checked first, so a taken port fails at once instead of after the index is
    built. Returns the exit status; errors of article-qa itself (``QAError``) propagate.
    """
    problem = address_problem(host, port)
    if problem is not None:
        print(f"error: {problem}", file=sys.stderr)
        return 1
    if not directory.is_dir() or not any(directory.iterdir()):
        print(f"No index in {directory}: indexing the built-in sample corpus (first run only).",
              flush=True)
    started = dt.datetime.now()
    try:
        qa = QA(directory)
        qa.warm_up()
        qa.search("warm up", k=1)  # one-off costs (vectors, first forward pass) before users come
    except OSError as e:  # the directory cannot be created or read: the user's to fix, not a bug
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"Opened the index in {directory} "
          f"({(dt.datetime.now() - started).total_seconds():.1f} s).", flush=True)
    try:
        serve(build_app(qa), host, port)
    except OSError as e:  # the port was taken while the index was opening
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
