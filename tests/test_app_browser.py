"""The web app in headless Chromium: answers, sources, uploads, safety, sessions and latency.

One app process serves a small real index (the seed article and two SQuAD articles) for the
whole session, started the way a user starts it (``python app.py --port P --index DIR``, the
project's entry to ``qa serve``).
Screenshots go to ``test-output/screenshots/<test>.png``; the measured question-to-answer
latency is printed, and written to the file ``$QA_APP_LATENCY_REPORT`` names when it is set.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import os
import platform
import re
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Dialog,
    Locator,
    Page,
    Playwright,
    sync_playwright,
)

from qa.ingest import DEFAULT_MAX_BYTES, SUPPORTED_SUFFIXES
from qa.models import Answer, Citation, Passage, Span
from qa.store.files import DATABASE
from qa.web.render import check_upload, render_answer, render_question, render_sources, safe_url

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "test-output"
SCREENSHOTS = OUTPUT / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
START_TIMEOUT_S = 120.0
ANSWER_TIMEOUT_MS = 60_000
SEED_TITLE = "Putin and the Ayatollah"
SEED_QUOTE = "Russia badly needed the cash; Iran badly needed the expertise: It was the perfect match."
DECLINE_TEXT = "The articles don't say"

ZORBLAT_MD = """# The Zorblat Festival

March 3, 2021

The Zorblat festival is held every year in the town of Quenby. Visitors bring lanterns made of
blue paper.

Nobody remembers who started it.
"""

EVIL_MD = """# Vexmoor notes <img src=x onerror="window.pwned=1;alert(5)"> archive

The Vexmoor lighthouse keeper painted <script>window.pwned=1;alert(1)</script> and \
${window.pwned=1} on the lighthouse wall.

The Vexmoor harbour sign shows <img src=x onerror="window.pwned=1;alert(2)"> in red letters.
"""

EVIL_HTML = """<!doctype html>
<html><head><title>Brindlecombe &lt;img src=x onerror=alert(6)&gt; quarry</title>
<script>window.pwned=1;alert(7)</script></head>
<body onload="window.pwned=1;alert(8)"><article>
<p>The Brindlecombe quarry manual says &lt;script&gt;window.pwned=1;alert(1)&lt;/script&gt;
must never be typed into the crusher console.</p>
<p>The Brindlecombe quarry gate displays &lt;img src=x onerror="window.pwned=1;alert(2)"&gt;
on its screen.</p>
<img src=x onerror="window.pwned=1;alert(9)">
<p>Brindlecombe quarry closed for good in 1963.</p>
</article></body></html>
"""

LATENCY_QUESTIONS = (
    "What did Iran badly need from Russia?",
    "Who built Iran's nuclear reactor at Bushehr?",
    "Which NFL team represented the AFC at Super Bowl 50?",
    "Where did Nikola Tesla die?",
    "Where was Super Bowl 50 played?",
    "Which team won Super Bowl 50?",
    "In what year did Tesla move to the United States?",
    "Who was the Super Bowl 50 MVP?",
    "What did Russia badly need from Iran?",
    "What is the boiling point of tungsten?",
)


# ----------------------------------------------------------------------------- the app
def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_until_up(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"app.py exited with {process.returncode}:\n{log.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    pytest.fail(f"app.py did not answer on {url} within {START_TIMEOUT_S:.0f} s:\n"
                f"{log.read_text()[-4000:]}")


@pytest.fixture(scope="session")
def app_index(built_index: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy of the small index, for ``app_url`` to serve and the tests to change."""
    index = tmp_path_factory.mktemp("app") / "index"
    shutil.copytree(built_index, index)
    return index


@pytest.fixture(scope="session")
def app_url(app_index: Path) -> Iterator[str]:
    """``python app.py`` on a free loopback port over ``app_index``."""
    workdir = app_index.parent
    port = _free_port()
    url = f"http://127.0.0.1:{port}/"
    log = workdir / "app.log"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONUNBUFFERED": "1"}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, str(ROOT / "app.py"), "--host", "127.0.0.1", "--port", str(port),
             "--index", str(app_index)],
            cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT,
        )
    try:
        _wait_until_up(url, process, log)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        # A traceback in the log means a handler failed somewhere, even if the page looked fine.
        assert "Traceback" not in log.read_text(errors="replace"), log.read_text()[-4000:]


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium is not installed (/usr/bin/chromium)")
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS,
                                         headless=True)
    yield browser
    browser.close()


@dataclass
class Watch:
    """What a page did that it should not: dialogs, console errors, requests off the machine."""

    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    external: list[str] = field(default_factory=list)


def _open(browser: Browser, url: str) -> tuple[Page, Watch]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    watch = Watch()

    def on_dialog(dialog: Dialog) -> None:
        watch.dialogs.append(dialog.message)
        dialog.dismiss()

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            watch.errors.append(message.text)

    page.on("dialog", on_dialog)
    page.on("console", on_console)
    page.on("pageerror", lambda error: watch.errors.append(str(error)))
    page.on("request", lambda r: None if r.url.startswith(("http://127.0.0.1", "data:", "blob:"))
            else watch.external.append(r.url))
    page.goto(url)
    page.locator("#qa-question textarea").wait_for(timeout=30_000)
    return page, watch


@pytest.fixture
def session(browser: Browser, app_url: str) -> Iterator[tuple[Page, Watch]]:
    page, watch = _open(browser, app_url)
    yield page, watch
    page.context.close()


def _screenshot(page: Page, request: pytest.FixtureRequest, suffix: str = "") -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{request.node.name}{suffix}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def _submit(page: Page, question: str) -> int:
    """Type ``question`` and press Enter; returns how many answers were shown before."""
    before = page.locator("#qa-chat .qa-answer").count()
    # The app clears the box when the previous answer lands; typing before that is lost.
    page.wait_for_function("(() => { const t = document.querySelector('#qa-question textarea');"
                           " return t && !t.disabled && t.value === ''; })()", timeout=ANSWER_TIMEOUT_MS)
    page.locator("#qa-question textarea").fill(question)
    page.locator("#qa-question textarea").press("Enter")
    return before


def _wait_answer(page: Page, before: int) -> Locator:
    page.wait_for_function(
        f"document.querySelectorAll('#qa-chat .qa-answer').length > {before}",
        timeout=ANSWER_TIMEOUT_MS)
    return page.locator("#qa-chat .qa-answer").nth(before)  # .last would move on later


def _ask(page: Page, question: str) -> Locator:
    return _wait_answer(page, _submit(page, question))


def _quote(answer: Locator) -> str:
    """The quoted sentence of a found answer, without its ``[n]`` markers."""
    quote = answer.locator("blockquote.qa-quote")
    text = quote.inner_text()
    for marker in quote.locator(".qa-cite").all_inner_texts():
        text = text.replace(marker, "")
    return " ".join(text.split())


def _upload(page: Page, files: list[Path], timeout_ms: float = ANSWER_TIMEOUT_MS) -> Locator:
    """Add ``files`` on the Corpus tab; returns the ingest report once it is shown."""
    page.get_by_role("tab", name="Corpus").click()
    page.locator("#qa-upload input[type=file]").set_input_files([str(f) for f in files])
    for f in files:  # the file list shows each name's stem and suffix apart
        page.locator("#qa-upload").get_by_text(f.stem).first.wait_for(timeout=30_000)
    report = page.locator("#qa-report .qa-report")
    previous = report.evaluate("el => el.outerHTML") if report.count() else ""
    page.locator("#qa-add").click()
    page.wait_for_function(
        "previous => { const el = document.querySelector('#qa-report .qa-report');"
        " return el !== null && el.outerHTML !== previous; }",
        arg=previous, timeout=timeout_ms)
    return report


def _assert_clean(page: Page, watch: Watch) -> None:
    assert watch.dialogs == [], f"a dialog opened: {watch.dialogs}"
    assert page.evaluate("typeof window.pwned") == "undefined"
    assert page.locator('img[src="x"]').count() == 0
    assert not page.evaluate(
        "[...document.scripts].some(s => s.textContent.includes('pwned'))")
    assert not [e for e in watch.errors if "pwned" in e or "alert" in e], watch.errors
    assert watch.external == [], f"the page fetched from the internet: {watch.external}"


# ----------------------------------------------------------------------------- pure helpers
HOSTILE = '<script>window.pwned=1</script><img src=x onerror="alert(1)"> ${x} {{y}}'


def test_rendering_escapes_hostile_text() -> None:
    """Article text, titles, URLs and questions reach the HTML only as escaped text."""
    text = f"Before. The quote {HOSTILE} here. After."
    start = text.index("The quote")
    end = text.index(" After.")
    passage = Passage(chunk_id=7, article_id="a", title=f"Title {HOSTILE}",
                      url="javascript:alert(1)", published=None, start=1000,
                      end=1000 + len(text), text=text, rank=1, dense_score=0.5,
                      lexical_score=None, score=0.4)
    quote = text[start:end]
    citation = Citation(number=1, article_id="a", title=passage.title, url=passage.url,
                        start=1000 + start, end=1000 + end, quote=quote)
    answer = Answer(question=HOSTILE, found=True, text=quote,
                    highlight=Span(start=10, end=20), confidence=0.9,
                    citations=[citation], passages=[passage])
    for markup in (render_answer(answer), render_sources(answer), render_question(HOSTILE)):
        assert "<script" not in markup and "<img" not in markup and "javascript:" not in markup
        assert "${" not in markup and "{{" not in markup
        assert "&lt;script&gt;" in markup
    sources = render_sources(answer)
    assert "<a " not in sources  # a javascript: URL is never a link
    marked = re.search(r"<mark>(.*?)</mark>", sources)
    assert marked is not None and html.unescape(marked.group(1)) == quote
    assert safe_url("https://example.org/a?b=1") == "https://example.org/a?b=1"
    for bad in ("javascript:alert(1)", "data:text/html,x", "//evil.example", "http://a b", None):
        assert safe_url(bad) is None


def test_upload_check_refuses_wrong_type_and_size(tmp_path: Path) -> None:
    ok = tmp_path / "notes.md"
    ok.write_text("# Notes\n\nFine.\n", encoding="utf-8")
    assert check_upload(str(ok), DEFAULT_MAX_BYTES, SUPPORTED_SUFFIXES) is None
    exe = tmp_path / "tool.exe"
    exe.write_bytes(b"MZ")
    refused = check_upload(str(exe), DEFAULT_MAX_BYTES, SUPPORTED_SUFFIXES)
    assert refused is not None and refused.path == "tool.exe" and ".exe" in refused.reason
    big = tmp_path / "big.txt"
    big.write_bytes(b"x" * 101)
    refused = check_upload(str(big), 100, SUPPORTED_SUFFIXES)
    assert refused is not None and "over the limit" in refused.reason


def test_serve_help_works_from_the_installed_package_without_gradio(tmp_path: Path) -> None:
    """``qa serve --help`` runs outside the checkout, and the help alone does not load gradio."""
    qa_command = Path(sys.executable).parent / "qa"
    shown = subprocess.run([str(qa_command), "serve", "--help"], cwd=tmp_path, capture_output=True,
                           text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    for option in ("--index", "--host", "--port"):
        assert option in shown.stdout
    probe = ("import sys\nfrom qa.cli import main\ntry:\n    main(['serve', '--help'])\n"
             "except SystemExit:\n    pass\nassert 'gradio' not in sys.modules, 'gradio was imported'")
    light = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True,
                           text=True, timeout=60)
    assert light.returncode == 0, light.stderr


def test_taken_port_fails_at_once_naming_the_option(tmp_path: Path) -> None:
    """A port in use is one line naming ``--port``, before any index is built."""
    index = tmp_path / "index"
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, str(ROOT / "app.py"), "--port", str(port), "--index", str(index)],
            cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert f"port {port}" in result.stderr and "--port" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert not index.exists()


# ----------------------------------------------------------------------------- browser tests
@pytest.mark.browser
@pytest.mark.slow
def test_answer_shows_quote_highlight_citation_and_sources(
        session: tuple[Page, Watch], request: pytest.FixtureRequest, seed_path: Path) -> None:
    page, watch = session
    answer = _ask(page, "What did Iran badly need from Russia?")

    assert "qa-found" in (answer.get_attribute("class") or "")
    quote = _quote(answer)
    assert "Iran badly needed the expertise" in quote
    assert quote == SEED_QUOTE
    assert quote in " ".join(seed_path.read_text(encoding="utf-8").split())
    highlight = answer.locator("blockquote mark")
    assert highlight.count() == 1
    assert highlight.inner_text() in quote
    assert answer.locator(".qa-cite").first.inner_text() == "[1]"
    assert "%" in answer.locator(".qa-conf").inner_text()

    sources = page.locator("#qa-sources-panel")
    cited = sources.locator(".qa-source-cited").first
    assert SEED_TITLE in cited.locator(".qa-title").inner_text()
    link = cited.locator("a.qa-title")
    assert (link.get_attribute("href") or "").startswith("https://")
    assert link.get_attribute("target") == "_blank"
    assert "noopener" in (link.get_attribute("rel") or "")
    assert " ".join(cited.locator(".qa-passage mark").inner_text().split()) == SEED_QUOTE
    assert sources.locator(".qa-source-other").count() >= 1

    scores = cited.locator("details.qa-scores")
    grid = scores.locator(".qa-score-grid")
    assert not grid.is_visible()  # on demand only
    scores.locator("summary").click()
    assert scores.get_attribute("open") is not None
    assert grid.is_visible()
    for name in ("dense", "lexical", "fused"):
        assert name in grid.inner_text().lower()
    _screenshot(page, request)
    _assert_clean(page, watch)


@pytest.mark.browser
@pytest.mark.slow
def test_off_topic_question_is_declined_visibly(
        session: tuple[Page, Watch], request: pytest.FixtureRequest) -> None:
    page, watch = session
    found = _ask(page, "What did Iran badly need from Russia?")
    declined = _ask(page, "What is the boiling point of tungsten?")

    assert "qa-declined" in (declined.get_attribute("class") or "")
    assert DECLINE_TEXT in declined.inner_text()
    assert declined.locator("blockquote, mark").count() == 0
    # Declines look different from answers: another background, no quote bar.
    assert "qa-found" in (found.get_attribute("class") or "")
    background = "el => getComputedStyle(el).backgroundColor"
    assert declined.evaluate(background) != found.evaluate(background)
    assert "closest passages" in page.locator("#qa-sources-panel").inner_text().lower()
    # Declined because no article found mentions a name of the question: the decline says which.
    eiffel = _ask(page, "How tall is the Eiffel Tower?")
    assert "No article found for this question mentions “Eiffel”" in eiffel.inner_text()
    # Declined because the closest quote says the opposite of a word of the question, or lacks its
    # negation: it says which.
    opposite = _ask(page, "What was the smallest age difference between opposing Super Bowl quarterbacks?")
    assert "The closest sentence says “largest” where the question asks “smallest”" in opposite.inner_text()
    unnegated = _ask(page, "What did Iran not need from Russia?")
    assert "The question says “not”, but the closest sentence has no negation" in unnegated.inner_text()

    # A question the reader refuses (no words) is one sentence in the page, not a traceback.
    failed = _ask(page, "???")
    assert "qa-error" in (failed.get_attribute("class") or "")
    assert "no words" in failed.inner_text() and "Traceback" not in failed.inner_text()
    _screenshot(page, request)
    _assert_clean(page, watch)


@pytest.mark.browser
@pytest.mark.slow
def test_uploaded_article_is_answerable_at_once(
        session: tuple[Page, Watch], request: pytest.FixtureRequest, tmp_path: Path) -> None:
    page, watch = session
    zorblat = tmp_path / "zorblat-festival.md"
    zorblat.write_text(ZORBLAT_MD, encoding="utf-8")
    empty = tmp_path / "empty-notes.txt"
    empty.write_text("  \n", encoding="utf-8")

    report = _upload(page, [zorblat, empty])
    text = report.inner_text()
    assert "Added 1" in text and "rejected 1" in text
    assert "zorblat-festival.md" in text and "The Zorblat Festival" in text  # the file and its title
    rejected = report.locator(".qa-rejected").inner_text()
    assert "empty-notes.txt" in rejected and "empty" in rejected.split("empty-notes.txt", 1)[1]
    assert "/tmp" not in text  # temporary upload paths are not shown
    page.locator("#qa-articles").get_by_text("The Zorblat Festival").first.wait_for()
    _screenshot(page, request, "-corpus")

    page.get_by_role("tab", name="Chat").click()
    answer = _ask(page, "Where is the Zorblat festival held?")
    assert "qa-found" in (answer.get_attribute("class") or "")
    assert _quote(answer) == "The Zorblat festival is held every year in the town of Quenby."
    assert "The Zorblat Festival" in page.locator("#qa-sources-panel .qa-source-cited").inner_text()
    _screenshot(page, request)
    _assert_clean(page, watch)


@pytest.mark.browser
@pytest.mark.slow
def test_delete_removes_article_from_corpus(
        session: tuple[Page, Watch], request: pytest.FixtureRequest, tmp_path: Path) -> None:
    page, watch = session
    doomed = tmp_path / "doomed.md"
    doomed.write_text("# Doomed Article\n\nThe Plimmet bridge was painted green in 1911.\n",
                      encoding="utf-8")
    assert "Added 1" in _upload(page, [doomed]).inner_text()
    table = page.locator("#qa-articles")
    table.get_by_text("Doomed Article").first.click()  # selecting a row picks its id
    page.wait_for_function(
        "document.querySelector('#qa-delete-id input').value.includes('doomed-article')")
    page.locator("#qa-delete").click()  # asks first, naming the article
    confirm = page.locator("#qa-delete-confirm")
    confirm.get_by_text("Doomed Article").wait_for()
    page.locator("#qa-delete-no").click()
    page.locator("#qa-delete-note").get_by_text("Nothing was deleted").wait_for()
    assert confirm.is_hidden() and "Doomed Article" in table.inner_text()
    page.locator("#qa-delete").click()
    page.locator("#qa-delete-yes").click()
    page.locator("#qa-delete-note").get_by_text("Deleted doomed-article").wait_for()
    table.get_by_text("Doomed Article").first.wait_for(state="detached")
    assert SEED_TITLE in table.inner_text()
    _screenshot(page, request)
    _assert_clean(page, watch)


@pytest.mark.browser
@pytest.mark.slow
def test_markup_in_articles_and_questions_never_runs(
        session: tuple[Page, Watch], request: pytest.FixtureRequest, tmp_path: Path) -> None:
    page, watch = session
    evil_md = tmp_path / "vexmoor.md"
    evil_md.write_text(EVIL_MD, encoding="utf-8")
    evil_html = tmp_path / "brindlecombe.html"
    evil_html.write_text(EVIL_HTML, encoding="utf-8")
    report = _upload(page, [evil_md, evil_html])
    assert "Added 2" in report.inner_text()
    table = page.locator("#qa-articles").inner_text()
    assert "<img src=x onerror" in table  # titles are text in the table too
    _assert_clean(page, watch)

    page.get_by_role("tab", name="Chat").click()
    answer = _ask(page, "What did the Vexmoor lighthouse keeper paint on the lighthouse wall?")
    assert "<script>window.pwned=1;alert(1)</script>" in _quote(answer)
    assert "${window.pwned=1}" in _quote(answer)
    sources = page.locator("#qa-sources-panel").inner_text()
    assert "<script>" in sources and '<img src=x onerror="window.pwned=1;alert(5)">' in sources

    answer = _ask(page, "What does the Brindlecombe quarry gate display on its screen?")
    assert '<img src=x onerror="window.pwned=1;alert(2)">' in _quote(answer)
    assert "Brindlecombe <img src=x onerror=alert(6)> quarry" in answer.inner_text()

    question = "What does the Vexmoor harbour sign show <img src=x onerror=alert(3)>?"
    _ask(page, question)
    user_messages = page.locator("#qa-chat .qa-q").all_inner_texts()
    assert question in user_messages
    _screenshot(page, request)
    page.wait_for_timeout(500)  # give any injected handler time to fire
    _assert_clean(page, watch)


@pytest.mark.browser
@pytest.mark.slow
def test_upload_type_and_size_limits(
        session: tuple[Page, Watch], request: pytest.FixtureRequest, tmp_path: Path, app_index: Path) -> None:
    page, watch = session
    page.get_by_role("tab", name="Corpus").click()
    # The header's counts are read as the page loads; wait for them (the index on disk says
    # them, earlier tests having added articles) before taking them as the baseline.
    articles = _indexed_articles(app_index)
    page.wait_for_function("n => document.querySelector('#qa-header .qa-stats').innerText.startsWith(n)",
                           arg=f"{articles:,} articles", timeout=30_000)
    counts_before = page.locator("#qa-header .qa-stats").inner_text()
    upload = page.locator("#qa-upload input[type=file]")

    slides = tmp_path / "slides.pptx"
    slides.write_bytes(b"PK not an article")
    upload.set_input_files(str(slides))
    page.get_by_text("Invalid file type").first.wait_for(timeout=30_000)

    huge = tmp_path / "huge.txt"
    with huge.open("wb") as f:  # one byte over the limit
        f.truncate(DEFAULT_MAX_BYTES + 1)
    upload.set_input_files(str(huge))
    page.get_by_text("maximum allowed size").first.wait_for(timeout=60_000)
    _screenshot(page, request)

    page.locator("#qa-add").click()  # nothing valid was uploaded: a warning, no ingest
    page.get_by_text("Choose one or more files").first.wait_for(timeout=30_000)
    assert page.locator("#qa-header .qa-stats").inner_text() == counts_before
    assert _indexed_articles(app_index) == articles
    _assert_clean(page, watch)


def _indexed_articles(index: Path) -> int:
    """How many articles the index's database holds, read beside the app that writes it."""
    with closing(sqlite3.connect(f"file:{index / DATABASE}?mode=ro", uri=True)) as db:
        return int(db.execute("SELECT COUNT(*) FROM articles").fetchone()[0])


# Records every text the header's counts line shows, from the page's first drawing on.
HEADER_WATCH_JS = """
window.qaStatsSeen = [];
new MutationObserver(() => {
  const el = document.querySelector('#qa-header .qa-stats');
  const seen = window.qaStatsSeen;
  if (el && seen[seen.length - 1] !== el.textContent) seen.push(el.textContent);
}).observe(document, {subtree: true, childList: true, characterData: true});
"""


@pytest.mark.browser
@pytest.mark.slow
def test_a_page_opened_after_an_upload_never_shows_older_counts(
        browser: Browser, app_url: str, app_index: Path, tmp_path: Path) -> None:
    """The header's counts are read as each page loads: a tab opened after an upload shows the
    index's counts from its first drawing, never those of the app's start."""
    page, watch = _open(browser, app_url)
    added = tmp_path / "quillon-bridge.md"
    added.write_text("# The Quillon Bridge\n\nThe Quillon bridge was opened in 1887.\n", encoding="utf-8")
    assert "Added 1" in _upload(page, [added]).inner_text()
    _assert_clean(page, watch)
    page.context.close()

    articles = f"{_indexed_articles(app_index):,} articles"
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.add_init_script(HEADER_WATCH_JS)
    try:
        fresh = context.new_page()
        fresh.goto(app_url)
        fresh.wait_for_function(
            "n => (document.querySelector('#qa-header .qa-stats') || {}).textContent?.startsWith(n)",
            arg=articles, timeout=30_000)
        seen = fresh.evaluate("window.qaStatsSeen")
    finally:
        context.close()
    counted = [text for text in seen if "articles" in text]
    assert counted and all(text.startswith(articles) for text in counted), seen


@pytest.mark.browser
@pytest.mark.slow
def test_two_sessions_keep_separate_conversations(
        browser: Browser, app_url: str, request: pytest.FixtureRequest) -> None:
    (a, watch_a), (b, watch_b) = _open(browser, app_url), _open(browser, app_url)
    try:
        # Both questions are in flight at once.
        before_a = _submit(a, "Where did Nikola Tesla die?")
        before_b = _submit(b, "What did Iran badly need from Russia?")
        _wait_answer(a, before_a)
        assert _quote(_wait_answer(b, before_b)) == SEED_QUOTE
        assert "Nikola Tesla" in a.locator("#qa-sources-panel").inner_text()
        cited_a = a.locator("#qa-sources-panel .qa-source-cited").all_inner_texts()
        assert SEED_TITLE not in " ".join(cited_a)
        assert SEED_TITLE in b.locator("#qa-sources-panel .qa-source-cited").inner_text()

        # The same follow-up is read against each session's own history.
        follow_a = _ask(a, "When was he born?")
        follow_b = _ask(b, "When was he born?")
        asked_a = a.locator("#qa-chat .qa-q").all_inner_texts()
        asked_b = b.locator("#qa-chat .qa-q").all_inner_texts()
        assert asked_a == ["Where did Nikola Tesla die?", "When was he born?"]
        assert asked_b == ["What did Iran badly need from Russia?", "When was he born?"]
        resolved_a = follow_a.locator(".qa-resolved")
        resolved_b = follow_b.locator(".qa-resolved")
        if resolved_a.count() and resolved_b.count():
            assert "Tesla" in resolved_a.inner_text()
            assert "Tesla" not in resolved_b.inner_text()

        # A new conversation in one session leaves the other alone.
        a.locator("#qa-clear").click()
        a.wait_for_function("document.querySelectorAll('#qa-chat .qa-answer').length === 0")
        assert b.locator("#qa-chat .qa-answer").count() == 2
        _screenshot(a, request, "-a")
        _screenshot(b, request, "-b")
        _assert_clean(a, watch_a)
        _assert_clean(b, watch_b)
    finally:
        a.context.close()
        b.context.close()


def _big_article(sentences: int, place: str = "Hallowmere") -> str:
    """A long article of distinct sentences: embedding it keeps an upload busy for seconds."""
    colours = ("amber", "cobalt", "crimson", "ivory", "jade", "ochre", "scarlet", "umber")
    things = ("kite", "lantern", "ledger", "mill", "orchard", "quarry", "ferry", "tower")
    lines = [f"Record {i}: the {colours[i % 8]} {things[(i // 8) % 8]} of {place} ward "
             f"{i // 64} was inspected in {1800 + i} by surveyor number {i * 7 % 997}."
             for i in range(sentences)]
    paragraphs = ["\n".join(lines[i:i + 6]) for i in range(0, len(lines), 6)]
    return f"# {place} survey records\n\n" + "\n\n".join(paragraphs) + "\n"


@pytest.mark.browser
@pytest.mark.slow
def test_questions_are_answered_while_an_upload_is_indexing(
        browser: Browser, app_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    big = tmp_path / "hallowmere-survey.md"
    big.write_text(_big_article(400), encoding="utf-8")
    (uploader, watch_u), (asker, watch_a) = _open(browser, app_url), _open(browser, app_url)
    try:
        uploader.get_by_role("tab", name="Corpus").click()
        uploader.locator("#qa-upload input[type=file]").set_input_files(str(big))
        uploader.locator("#qa-upload").get_by_text(big.stem).first.wait_for(timeout=30_000)
        uploader.locator("#qa-add").click()
        uploader.wait_for_timeout(1000)  # the ingest is under way
        assert uploader.locator("#qa-report .qa-report").count() == 0

        started = time.perf_counter()
        answer = _ask(asker, "What did Iran badly need from Russia?")
        waited = time.perf_counter() - started
        assert _quote(answer) == SEED_QUOTE
        still_indexing = uploader.locator("#qa-report .qa-report").count() == 0
        _screenshot(uploader, request, "-uploader")

        report = uploader.locator("#qa-report .qa-report")
        report.wait_for(timeout=120_000)
        assert "Added 1" in report.inner_text()
        print(f"\nanswered in {waited * 1000:.0f} ms while an upload was indexing")
        assert still_indexing, "the upload finished before the question was answered"
        _assert_clean(uploader, watch_u)
        _assert_clean(asker, watch_a)
    finally:
        uploader.context.close()
        asker.context.close()


@pytest.mark.browser
@pytest.mark.slow
def test_question_to_answer_latency(session: tuple[Page, Watch]) -> None:
    """Measure (not assert) the time from pressing Enter to the rendered answer."""
    page, watch = session
    samples_ms: list[float] = []
    for question in LATENCY_QUESTIONS:
        page.locator("#qa-clear").click()  # no history: each question stands alone
        page.wait_for_function("document.querySelectorAll('#qa-chat .qa-answer').length === 0")
        page.locator("#qa-question textarea").fill(question)
        started = time.perf_counter()
        page.locator("#qa-question textarea").press("Enter")
        _wait_answer(page, 0)
        samples_ms.append((time.perf_counter() - started) * 1000)
    median = statistics.median(samples_ms)
    report = os.environ.get("QA_APP_LATENCY_REPORT")  # measurements are written only on request
    if report:
        Path(report).write_text(json.dumps({
            "measured": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "what": "Enter pressed in the question box -> answer rendered in the chat (headless "
                    "Chromium, app.py over the seed + 2 SQuAD articles index)",
            "median_ms": round(median, 1),
            "samples_ms": [round(s, 1) for s in samples_ms],
            "questions": list(LATENCY_QUESTIONS),
            "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                        "python": platform.python_version()},
        }, indent=2) + "\n", encoding="utf-8")
    print(f"\nquestion -> rendered answer: median {median:.0f} ms over {len(samples_ms)} "
          f"(min {min(samples_ms):.0f}, max {max(samples_ms):.0f})")
    _assert_clean(page, watch)


@pytest.mark.browser
@pytest.mark.slow
def test_pdf_and_word_uploads_are_answered_with_page_exact_citations(
        session: tuple[Page, Watch], request: pytest.FixtureRequest, tmp_path: Path) -> None:
    from tests.documents import docx_bytes, pdf_bytes, write

    page, watch = session
    pdf = write(tmp_path / "bushehr-history.pdf", pdf_bytes())
    docx = write(tmp_path / "grid-notes.docx", docx_bytes(
        ("The Quenby grid was inspected by Ilse Varga in May 2019.",
         "Her report counted forty-two transformers along the river."), title="Quenby Grid Notes"))
    report = _upload(page, [pdf, docx])
    assert "Added 2" in report.inner_text(), report.inner_text()

    page.get_by_role("tab", name="Chat").click()
    answer = _ask(page, "When did Rosatom deliver the reactor's fuel?")
    assert "qa-found" in (answer.get_attribute("class") or "")
    assert _quote(answer) == "The reactor's fuel was delivered by Rosatom in December 2007."
    assert answer.locator(".qa-page").first.inner_text() == "p. 2"  # the sentence is on page 2
    assert "Bushehr: A History" in page.locator("#qa-sources-panel .qa-source-cited").inner_text()

    answer = _ask(page, "Who inspected the Quenby grid?")
    assert "qa-found" in (answer.get_attribute("class") or "")
    assert _quote(answer) == "The Quenby grid was inspected by Ilse Varga in May 2019."
    assert answer.locator(".qa-page").count() == 0  # Word files have no fixed pages
    _screenshot(page, request)
    _assert_clean(page, watch)


# ----------------------------------------------------------------------------- reading aids
DOCS = ROOT / "docs"


def _readme_picture(name: str) -> Path:
    """Where a README screenshot goes: ``docs/`` when ``QA_README_SCREENSHOTS=1`` asks to refresh
    them, else beside the other screenshots, so a test run leaves the checkout clean."""
    folder = DOCS if os.environ.get("QA_README_SCREENSHOTS") == "1" else SCREENSHOTS
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name


def _in_view(locator: Locator) -> bool:
    """Whether ``locator``'s box lies inside the browser window (after any scrolling)."""
    return bool(locator.evaluate(
        "el => { const r = el.getBoundingClientRect();"
        " return r.height > 0 && r.top >= 0 && r.bottom <= window.innerHeight; }"))


@pytest.mark.browser
@pytest.mark.slow
def test_citation_opens_the_article_at_the_quote(
        session: tuple[Page, Watch], request: pytest.FixtureRequest) -> None:
    page, watch = session
    page.locator("#qa-clear").click()
    answer = _ask(page, "What did Iran badly need from Russia?")
    assert "David Patrikarakos" in answer.locator(".qa-cited").inner_text()  # author and date
    assert "26 August 2016" in answer.locator(".qa-cited").inner_text()
    sources = page.locator("#qa-sources-panel")
    assert "David Patrikarakos" in sources.locator(".qa-source-cited").inner_text()
    # The other passages are numbered on from the citation: no second "#1".
    ranks = sources.locator(".qa-source-other .qa-rank").all_inner_texts()
    assert ranks and "#1" not in ranks and ranks[0] == "#2"

    answer.locator(".qa-cite .qa-open").first.click()
    view = page.locator("#qa-article-view .qa-article")
    view.wait_for(timeout=30_000)
    assert SEED_TITLE in view.locator(".qa-article-title").inner_text()
    assert "David Patrikarakos" in view.locator(".qa-article-meta").inner_text()
    quoted = view.locator("mark.qa-quoted").filter(has_text="badly needed")
    assert " ".join(quoted.inner_text().split()) == SEED_QUOTE
    page.wait_for_function("(() => { const m = document.querySelector('#qa-article-view .qa-focus');"
                           " return m && m.dataset.seen === '1'; })()", timeout=10_000)
    page.wait_for_timeout(300)
    assert _in_view(quoted), "the quote was not scrolled into view"
    assert view.locator(".qa-article-text .qa-retrieved").count() >= 2  # other passages of it too
    page.screenshot(path=str(_readme_picture("article-view.png")))
    _screenshot(page, request, "-cited")

    page.keyboard.press("Escape")  # closes, as the Close button does
    view.wait_for(state="detached", timeout=10_000)
    other = sources.locator(".qa-source-other .qa-passage").first
    other_text = " ".join(other.inner_text().split())[:40]
    other.click()
    view.wait_for(timeout=30_000)
    page.wait_for_timeout(500)
    focus = view.locator(".qa-focus")
    assert focus.count() == 1 and _in_view(view.locator(".qa-focus + *").first)
    assert other_text.rstrip(" …") in " ".join(view.inner_text().split())
    page.locator("#qa-article-close").click()
    view.wait_for(state="detached", timeout=10_000)
    _assert_clean(page, watch)


@pytest.mark.browser
@pytest.mark.slow
def test_filter_asks_only_the_picked_articles(
        session: tuple[Page, Watch], request: pytest.FixtureRequest) -> None:
    page, watch = session
    page.locator("#qa-clear").click()
    page.locator("#qa-filter").get_by_text("Ask only some articles").click()
    picker = page.locator("#qa-filter-articles input").first
    picker.click()
    picker.fill("Tesla")  # the list searches its titles
    page.get_by_role("option", name=re.compile("Nikola Tesla")).first.click()
    page.locator("#qa-scope-line").get_by_text("Asked only").wait_for(timeout=10_000)
    assert "Nikola Tesla" in page.locator("#qa-scope-line").inner_text()

    answer = _ask(page, "What did Iran badly need from Russia?")
    scope = answer.locator(".qa-scope")
    assert "Asked only" in scope.inner_text() and "Nikola Tesla" in scope.inner_text()
    titles = page.locator("#qa-sources-panel .qa-title").all_inner_texts()
    assert titles and all("Nikola Tesla" in t for t in titles), titles
    page.screenshot(path=str(_readme_picture("filter.png")))
    _screenshot(page, request)

    page.locator("#qa-filter-clear").click()
    page.wait_for_function("!document.querySelector('#qa-scope-line').innerText.includes('Asked only')")
    again = _ask(page, "What did Iran badly need from Russia?")
    assert again.locator(".qa-scope").count() == 0 and _quote(again) == SEED_QUOTE
    _assert_clean(page, watch)


@pytest.mark.browser
@pytest.mark.slow
def test_refused_upload_clears_the_previous_report(
        session: tuple[Page, Watch], tmp_path: Path) -> None:
    page, watch = session
    notes = tmp_path / "quenby-notes.md"
    notes.write_text("# Quenby Harbour Notes\n\nThe Quenby harbour wall is made of grey stone.\n",
                     encoding="utf-8")
    report = _upload(page, [notes])
    assert "Quenby Harbour Notes" in report.inner_text()
    slides = tmp_path / "slides.pptx"
    slides.write_bytes(b"PK not an article")
    page.locator("#qa-upload input[type=file]").set_input_files(str(slides))
    page.get_by_text("Invalid file type").first.wait_for(timeout=30_000)
    page.locator("#qa-add").click()
    page.get_by_text("Choose one or more files").first.wait_for(timeout=30_000)
    page.wait_for_function("document.querySelector('#qa-report .qa-report') === null", timeout=10_000)
    _assert_clean(page, watch)


# ----------------------------------------------------------------------------- corpus table, toasts
# The corpus table: its scrolling box, sticky header and drawn rows (Gradio 6 draws only the rows
# near the scroll position, each a ``.virtual-row``).
TABLE_JS = "document.querySelector('#qa-articles .virtual-table-viewport')"
ROW_IN_VIEW_JS = f"""title => {{
  const table = {TABLE_JS};
  const row = [...table.querySelectorAll('.virtual-row')].find((r) => r.innerText.includes(title));
  if (!row) return false;
  const box = row.getBoundingClientRect();
  const head = table.querySelector('thead').getBoundingClientRect();
  const edge = table.getBoundingClientRect();
  return box.height > 0 && box.top >= head.bottom - 1 && box.bottom <= edge.bottom + 1
    && box.top >= 0 && box.bottom <= window.innerHeight;
}}"""


def _boxes_overlap(a: dict[str, float], b: dict[str, float]) -> bool:
    return (a["x"] < b["x"] + b["width"] and b["x"] < a["x"] + a["width"]
            and a["y"] < b["y"] + b["height"] and b["y"] < a["y"] + a["height"])


def _fill_table(page: Page, tmp_path: Path) -> None:
    """Add short articles titled to sort first until the table scrolls (its 420 px hold ~7 rows):
    one JSONL file of them, as the upload list shows only the first few of many files."""
    page.get_by_role("tab", name="Corpus").click()
    page.locator("#qa-articles .virtual-row").first.wait_for(timeout=30_000)
    overflows = f"{TABLE_JS}.scrollHeight > {TABLE_JS}.clientHeight + 200"
    if page.evaluate(overflows):
        return
    fillers = tmp_path / "aldermoor-ledgers.jsonl"
    fillers.write_text("".join(json.dumps({
        "title": f"Aldermoor ledger {n:02d}",
        "text": f"Page {n} of the Aldermoor ledger lists {n * 3} barrels of salt."}) + "\n"
        for n in range(1, 10)), encoding="utf-8")
    assert "rejected 0" in _upload(page, [fillers]).inner_text()
    page.wait_for_function(overflows, timeout=10_000)


@pytest.mark.browser
@pytest.mark.slow
def test_an_uploaded_article_is_shown_in_the_table(
        session: tuple[Page, Watch], request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """The table lists articles by title; one that sorts last is scrolled to and shaded."""
    page, watch = session
    _fill_table(page, tmp_path)
    title = "Zzyzx Quarry Ledger"
    assert not page.evaluate(ROW_IN_VIEW_JS, title)
    target = tmp_path / "zzyzx-quarry-ledger.md"
    target.write_text(f"# {title}\n\nThe Zzyzx quarry ledger was kept by Odile Ferrand in 1911.\n",
                      encoding="utf-8")
    assert "Added 1" in _upload(page, [target]).inner_text()
    page.wait_for_function(ROW_IN_VIEW_JS, arg=title, timeout=10_000)  # no scrolling by the user
    row = page.locator("#qa-articles .virtual-row").filter(has_text=title)
    shade = row.locator(".body-cell").first.evaluate("el => getComputedStyle(el).backgroundColor")
    assert shade == "rgb(254, 243, 199)", shade
    _screenshot(page, request)
    _assert_clean(page, watch)


@pytest.mark.browser
@pytest.mark.slow
def test_table_header_stays_clear_of_the_rows_when_scrolled(
        session: tuple[Page, Watch], tmp_path: Path) -> None:
    page, watch = session
    _fill_table(page, tmp_path)
    page.evaluate(f"{TABLE_JS}.scrollTop = 0")
    layout = f"""() => {{
      const table = {TABLE_JS};
      const head = table.querySelector('thead').getBoundingClientRect();
      const rows = [...table.querySelectorAll('.virtual-row')].map((r) => r.getBoundingClientRect())
        .filter((b) => b.bottom > head.bottom + 1).sort((a, b) => a.top - b.top);
      const first = rows[0];
      const hit = (x, y) => document.elementFromPoint(x, y);
      const probes = [0.25, 0.5, 0.75].map((f) => hit(head.left + 20, head.top + head.height * f));
      const cell = hit(first.left + 20, Math.max(first.top, head.bottom) + 4);
      return {{head: [head.top, head.bottom], first: [first.top, first.bottom],
               headerOnTop: probes.every((el) => el && el.closest('thead') !== null),
               rowBelow: cell !== null && cell.closest('.virtual-row') !== null,
               opaque: getComputedStyle(table.querySelector('thead th')).backgroundColor}};
    }}"""
    rest = page.evaluate(layout)
    assert rest["head"][1] <= rest["first"][0] + 0.5, rest  # unscrolled: the first row below the header
    page.evaluate(f"{TABLE_JS}.scrollTop = 150")
    page.wait_for_timeout(300)
    scrolled = page.evaluate(layout)
    assert scrolled["headerOnTop"], scrolled  # rows scroll under the header, never over it
    assert scrolled["rowBelow"], scrolled  # the first row past the header is drawn right below it
    assert scrolled["opaque"].startswith("rgb("), scrolled  # no row text shows through the header
    _assert_clean(page, watch)


@pytest.mark.browser
@pytest.mark.slow
def test_toasts_keep_clear_of_the_sources_panel(
        session: tuple[Page, Watch], request: pytest.FixtureRequest) -> None:
    page, watch = session
    page.locator("#qa-clear").click()
    _ask(page, "What did Iran badly need from Russia?")  # sources fill the panel
    for _ in range(3):  # an empty question: a warning toast (repeats of the same one may merge)
        page.locator("#qa-ask").click()
    page.locator(".toast-body").first.wait_for(timeout=30_000)
    panel = page.locator("#qa-sources-panel")
    for scroll in (0, 300):
        page.evaluate(f"window.scrollTo(0, {scroll})")
        page.wait_for_timeout(200)
        panel_box = panel.bounding_box()
        assert panel_box is not None and panel_box["height"] > 300
        toasts = page.locator(".toast-body")
        assert toasts.count() >= 1
        for toast in toasts.all():
            box = toast.bounding_box()
            assert box is not None and not _boxes_overlap(box, panel_box), (scroll, box, panel_box)
    _screenshot(page, request)
    _assert_clean(page, watch)


# ----------------------------------------------------------------------------- long articles
KEY_SENTENCE = "The Quillfeather lighthouse was painted violet by Orla Benedetti in 1931."


@pytest.mark.browser
@pytest.mark.slow
def test_article_view_opens_a_30000_word_upload_at_the_quote(
        session: tuple[Page, Watch], request: pytest.FixtureRequest, tmp_path: Path) -> None:
    page, watch = session
    head, _, body = _big_article(1800, place="Thornwick").partition("\n\n")
    paragraphs = body.split("\n\n")
    at = len(paragraphs) * 3 // 4  # deep in the article: the view must scroll far to show it
    text = "\n\n".join([head, *paragraphs[:at], KEY_SENTENCE, *paragraphs[at:]])
    assert len(text.split()) >= 30_000
    long = tmp_path / "thornwick-survey.md"
    long.write_text(text, encoding="utf-8")
    assert "Added 1" in _upload(page, [long], timeout_ms=300_000).inner_text()

    page.get_by_role("tab", name="Chat").click()
    page.locator("#qa-clear").click()
    answer = _ask(page, "Who painted the Quillfeather lighthouse violet?")
    assert "Quillfeather" in _quote(answer)
    started = time.perf_counter()
    answer.locator(".qa-cite .qa-open").first.click()
    view = page.locator("#qa-article-view .qa-article")
    view.wait_for(timeout=30_000)
    page.wait_for_function("(() => { const m = document.querySelector('#qa-article-view .qa-focus');"
                           " return m && m.dataset.seen === '1'; })()", timeout=10_000)
    opened = time.perf_counter() - started
    probe = time.perf_counter()  # a frozen page would hold this call until it thawed
    words = page.evaluate("document.querySelector('#qa-article-view .qa-article-text').textContent"
                          ".split(/\\s+/).length")
    answered = time.perf_counter() - probe
    page.wait_for_timeout(300)
    quoted = view.locator("mark.qa-quoted").filter(has_text="Quillfeather")
    assert _in_view(quoted), "the quote was not scrolled into view"
    assert words >= 30_000
    print(f"\n30,000-word article view: opened and scrolled in {opened:.1f} s, the page answered in "
          f"{answered * 1000:.0f} ms")
    assert opened < 15 and answered < 2, (opened, answered)
    _screenshot(page, request)
    page.locator("#qa-article-close").click()
    view.wait_for(state="detached", timeout=10_000)
    _assert_clean(page, watch)


# ----------------------------------------------------------------------------- quality
@pytest.mark.browser
@pytest.mark.slow
def test_quality_tab_shows_the_last_evaluation(
        session: tuple[Page, Watch], request: pytest.FixtureRequest) -> None:
    """The checkout's eval/reports: headline figures and the plots, without reading JSON."""
    page, watch = session
    page.get_by_role("tab", name="Quality").click()
    tab = page.locator("#qa-quality .qa-quality")
    tab.locator(".qa-figure").first.wait_for(timeout=30_000)
    accuracy = tab.locator(".qa-figure").filter(has_text="Answer accuracy")
    assert re.fullmatch(r"\d{1,3}\.\d%", accuracy.locator(".qa-figure-value").inner_text())
    plot = tab.locator(".qa-plot img").first
    plot.scroll_into_view_if_needed()
    page.wait_for_function("(() => { const img = document.querySelector('#qa-quality .qa-plot img');"
                           " return img && img.complete && img.naturalWidth > 100; })()", timeout=10_000)
    assert tab.locator(".qa-plot figcaption").count() >= 1
    _screenshot(page, request)
    _assert_clean(page, watch)
