"""Hostile input: whatever bytes, names and questions arrive, the result is an article, a
``Rejection`` naming the file, an ``Answer`` or a ``QAError`` with a readable message.

Nothing here embeds documents (reading is what is under test), so the property tests run many
examples quickly; the question tests use the shared small index and the real model.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reliability_report import record

from qa import QA
from qa.errors import QAError, QueryError
from qa.ingest import DEFAULT_MAX_BYTES, SUPPORTED_SUFFIXES, iter_paths, read_articles
from qa.models import Answer, Article, Rejection

ROOT = Path(__file__).resolve().parent.parent
TRIED: Counter[str] = Counter()  # inputs tried per kind, written to the report at the end

FUZZ = settings(max_examples=60, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
SUFFIXES = sorted(SUPPORTED_SUFFIXES)
CODECS = ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "latin-1", "cp1252", "cp1251", "koi8-r",
          "shift_jis", "gb18030", "iso8859_7", "mac_roman"]
INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff\u00ad\u034f\u180e"  # zero-width, soft hyphen, ...
BIDI = "\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u061c"
ARABIC_HEBREW = "مرحبا بالعالم שלום עולם"


@pytest.fixture(scope="module", autouse=True)
def _report() -> Iterator[None]:
    yield
    if TRIED:
        record("hostile_input", {"inputs_tried": dict(sorted(TRIED.items())),
                                 "total_inputs": sum(TRIED.values())})


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hostile")


_names = itertools.count()


def fresh_dir(workdir: Path) -> Path:
    """A new empty directory for one example (hypothesis reuses the module's fixtures)."""
    d = workdir / f"case-{next(_names)}"
    d.mkdir()
    return d


def shown(path: Path) -> str:
    """How a path may be named in a rejection: as is, or with undecodable bytes escaped."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def check_outcome(paths: list[Path], max_bytes: int = DEFAULT_MAX_BYTES,
                  kind: str = "file") -> tuple[list[Article], list[Rejection]]:
    """Read ``paths``; every path must end as articles or as rejections that name it."""
    TRIED[kind] += len(paths)
    articles, rejected = read_articles(paths, max_bytes=max_bytes)  # must never raise
    for r in rejected:
        assert r.reason.strip(), r
        assert "\n" not in r.reason and "Traceback" not in r.reason, r
        assert any(r.path.startswith((str(p), shown(p))) for p in paths), r
        r.path.encode("utf-8")  # printable: the CLI writes it to a terminal
        r.reason.encode("utf-8")
    for a in articles:  # (an article with no text left is rejected later, by indexing)
        assert a.source in {str(p) for p in paths}
        # Storable: SQLite and the tokenizer take only valid Unicode.
        for text in (a.id, a.title, a.text, a.source, a.author or "", a.url or ""):
            text.encode("utf-8")
    for p in paths:
        assert any(a.source == str(p) for a in articles) or any(
            r.path.startswith((str(p), shown(p))) for r in rejected), f"{p!r} has no outcome"
    return articles, rejected


def reasons(rejected: list[Rejection]) -> str:
    return " | ".join(r.reason for r in rejected)


# ----------------------------------------------------------------------------- bytes and text
@FUZZ
@given(data=st.binary(max_size=3000), suffix=st.sampled_from([*SUFFIXES, ".bin", ".MD", ""]))
def test_random_bytes_end_in_article_or_rejection(workdir: Path, data: bytes, suffix: str) -> None:
    path = fresh_dir(workdir) / f"random{suffix}"
    path.write_bytes(data)
    check_outcome([path], kind="random_bytes")


@FUZZ
@given(parts=st.lists(st.tuples(st.text(max_size=200), st.sampled_from(CODECS)), min_size=1, max_size=4),
       suffix=st.sampled_from(SUFFIXES))
def test_invalid_and_mixed_encodings(workdir: Path, parts: list[tuple[str, str]], suffix: str) -> None:
    raw = b"".join(text.encode(codec, errors="replace") for text, codec in parts)
    path = fresh_dir(workdir) / f"mixed{suffix}"
    path.write_bytes(raw)
    check_outcome([path], kind="mixed_encodings")


@FUZZ
@given(words=st.lists(st.text(alphabet=st.sampled_from(list(INVISIBLE + BIDI + ARABIC_HEBREW + "abc .\n")),
                              min_size=1, max_size=30), min_size=1, max_size=20),
       form=st.sampled_from(["md", "html", "json", "jsonl", "txt"]), ascii_json=st.booleans())
def test_zero_width_and_bidi_characters(workdir: Path, words: list[str], form: str, ascii_json: bool) -> None:
    body = " ".join(words)
    if form == "html":
        content = f"<html><head><title>{body[:40]}</title></head><body><p>{body}</p></body></html>"
    elif form == "json":
        content = json.dumps({"title": body[:40], "text": body}, ensure_ascii=ascii_json)
    elif form == "jsonl":
        content = "\n".join(json.dumps({"text": w}, ensure_ascii=ascii_json) for w in words)
    else:
        content = f"# {body[:40]}\n\n{body}\n"
    path = fresh_dir(workdir) / f"bidi.{form}"
    path.write_text(content, encoding="utf-8")
    articles, _ = check_outcome([path], kind="zero_width_bidi")
    for a in articles:  # control characters other than newline and tab are cleaned away
        assert not any(ord(c) < 0x20 and c not in "\n\t" for c in a.text)


@FUZZ
@given(text=st.text(max_size=400), escape=st.booleans(),
       form=st.sampled_from(["json", "jsonl", "squad"]))
def test_json_with_any_string_including_lone_surrogates(workdir: Path, text: str, escape: bool,
                                                       form: str) -> None:
    # json.dumps with ensure_ascii writes lone surrogates as "\udxxx" escapes, which json.loads
    # turns back into strings no UTF-8 encoder (SQLite, the tokenizer) accepts.
    text = text + "\ud800 tail" if escape else text
    if form == "squad":
        doc = {"data": [{"title": text[:20] or "t", "paragraphs": [{"context": text, "qas": []}]}]}
    else:
        doc = {"title": text[:30], "text": text, "author": text[:10], "date": text[:12]}
    content = json.dumps(doc) if form != "jsonl" else json.dumps(doc) + "\n" + json.dumps({"text": "ok"})
    path = fresh_dir(workdir) / f"strings.{'json' if form == 'squad' else form}"
    path.write_text(content, encoding="utf-8")
    check_outcome([path], kind="json_strings")


def test_lone_surrogate_in_json_is_rejected_not_stored(workdir: Path) -> None:
    path = fresh_dir(workdir) / "surrogate.json"
    path.write_text('{"title": "T", "text": "broken \\ud800 escape"}', encoding="utf-8")
    articles, rejected = check_outcome([path], kind="json_strings")
    assert not articles
    assert "Unicode" in reasons(rejected)


def test_huge_single_lines_are_read(workdir: Path) -> None:
    line = "lorem-ipsum" * 300_000  # 3.3 MB without a single space or newline
    d = fresh_dir(workdir)
    files = {
        "line.txt": line, "line.md": f"# Title\n\n{line}", "line.html": f"<p>{line}</p>",
        "line.json": json.dumps({"text": line}), "line.jsonl": json.dumps({"text": line}),
    }
    for name, content in files.items():
        (d / name).write_text(content, encoding="utf-8")
    started = time.perf_counter()
    articles, rejected = check_outcome(sorted(d.iterdir()), kind="huge_line")
    assert not rejected and len(articles) == len(files)
    assert all(line in a.text for a in articles)
    assert time.perf_counter() - started < 30


def test_huge_single_line_chunks_in_linear_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """A sentence of 300,000 characters used to be re-tokenized once per 200-token piece."""
    import qa.chunking as chunking
    from qa.models import IndexSettings

    real = chunking.encoding()
    encoded = Counter[str]()

    class Counting:
        def __getattr__(self, name: str) -> object:
            return getattr(real, name)

        def encode(self, text: str, **kwargs: object) -> list[int]:
            encoded["chars"] += len(text)
            return real.encode(text, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(chunking, "encoding", lambda: Counting())
    text = "a" * 300_000
    article = Article(id="a", title="t", source="s", text=text, content_hash="h")
    chunks = chunking.chunk_article(article, chunking.split_sentences(text), IndexSettings())
    TRIED["huge_line"] += 1
    assert chunks[0].start == 0 and chunks[-1].end == len(text)
    assert all(text[c.start:c.end] == c.text and c.token_count <= 200 for c in chunks)
    # Linear: each character is tokenized a bounded number of times (quadratic was ~95x).
    assert encoded["chars"] < 40 * len(text), encoded


# ----------------------------------------------------------------------------- structure
@pytest.mark.parametrize("name, content", [
    ("deep-list.json", "[" * 100_000),
    ("deep-list-closed.json", "[" * 100_000 + "]" * 100_000),
    ("deep-object.json", '{"a":' * 100_000),
    ("deep-line.jsonl", '{"text": "fine"}\n' + "[" * 100_000),
    ("deep-text.json", json.dumps({"text": "ok", "meta": 0}).replace("0", "[" * 50_000 + "]" * 50_000)),
    ("deep.html", "<div>" * 20_000 + "<p>deep text</p>"),
    ("deep-inline.html", "<b><i>" * 10_000 + "words"),
    ("deep.md", "> " * 50_000 + "quoted\n"),
])
def test_deeply_nested_documents(workdir: Path, name: str, content: str) -> None:
    path = fresh_dir(workdir) / name
    path.write_text(content, encoding="utf-8")
    started = time.perf_counter()
    articles, rejected = check_outcome([path], kind="deep_nesting")
    assert time.perf_counter() - started < 30
    if name.endswith((".json", ".jsonl")) and not name.startswith("deep-text"):
        assert "malformed JSON" in reasons(rejected)


SQUAD_DOC = json.dumps({"version": "1.1", "data": [{"title": "Some_Title", "paragraphs": [
    {"context": "The first paragraph. It has two sentences.", "qas": []},
    {"context": "A second paragraph follows here.", "qas": []}]}]})
HTML_DOC = ("<!doctype html><html><head><meta charset='utf-8'><title>Page</title>"
            "<meta name='author' content='A. Writer'></head><body><nav>menu</nav><article>"
            "<h1>Heading</h1><p>First paragraph of the page.</p><ul><li>item one</li></ul>"
            "<script>var x = '<p>';</script><p>Last words.</p></article></body></html>")
JSONL_DOC = "\n".join(json.dumps({"title": f"T{i}", "text": f"Body number {i}."}) for i in range(5))


@FUZZ
@given(doc=st.sampled_from([("squad.json", SQUAD_DOC), ("page.html", HTML_DOC), ("items.jsonl", JSONL_DOC),
                            ("page.htm", HTML_DOC.encode("utf-16").decode("latin-1"))]),
       cut=st.floats(min_value=0.0, max_value=1.0))
def test_truncated_json_and_html(workdir: Path, doc: tuple[str, str], cut: float) -> None:
    name, content = doc
    path = fresh_dir(workdir) / name
    path.write_text(content[: int(len(content) * cut)], encoding="utf-8" if "htm" not in name else "latin-1")
    check_outcome([path], kind="truncated")


# ----------------------------------------------------------------------------- size limits
@FUZZ
@given(size=st.integers(min_value=0, max_value=3000), max_bytes=st.integers(min_value=1, max_value=2000),
       suffix=st.sampled_from(SUFFIXES))
def test_size_limit(workdir: Path, size: int, max_bytes: int, suffix: str) -> None:
    path = fresh_dir(workdir) / f"sized{suffix}"
    path.write_bytes(b"word " * (size // 5) + b"x" * (size % 5))
    articles, rejected = check_outcome([path], max_bytes=max_bytes, kind="size_limit")
    if size > max_bytes:
        assert not articles and f"over the limit of {max_bytes:,}" in reasons(rejected)


def _bytes_read() -> int:
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    return 0


def test_100mb_sparse_file_is_rejected_without_reading_it(workdir: Path) -> None:
    path = fresh_dir(workdir) / "huge.txt"
    with path.open("wb") as f:
        f.truncate(100 * 1024 * 1024)  # sparse: no disk used, 100 MB of NULs if read
    before, started = _bytes_read(), time.perf_counter()
    articles, rejected = check_outcome([path], kind="size_limit")
    elapsed, read = time.perf_counter() - started, _bytes_read() - before
    assert not articles and "over the limit of 20,971,520" in reasons(rejected)
    assert elapsed < 2.0
    assert read < 1024 * 1024, f"read {read:,} bytes of a file it should reject unread"


def test_fifo_is_rejected_without_blocking(workdir: Path) -> None:
    path = fresh_dir(workdir) / "pipe.txt"
    os.mkfifo(path)
    result: list[object] = []
    reader = threading.Thread(target=lambda: result.append(check_outcome([path], kind="special_file")),
                              daemon=True)
    reader.start()
    reader.join(10)
    if reader.is_alive():  # unblock the reader before failing
        with open(path, "wb"):
            pass
        pytest.fail("reading a FIFO blocked")
    assert "not a regular file" in reasons(result[0][1])  # type: ignore[index]


# ----------------------------------------------------------------------------- vanishing files
def test_file_deleted_between_listing_and_reading(workdir: Path) -> None:
    d = fresh_dir(workdir)
    for name in ("a.md", "b.md", "c.md"):
        (d / name).write_text(f"# {name}\n\nSome text in {name}.\n", encoding="utf-8")
    paths = list(iter_paths([d]))
    (d / "b.md").unlink()
    (d / "c.md").unlink()
    (d / "c.md").mkdir()  # replaced by a directory of the same name
    articles, rejected = check_outcome(paths, kind="vanishing")
    assert [a.source for a in articles] == [str(d / "a.md")]
    assert {r.path: r.reason for r in rejected} == {
        str(d / "b.md"): "file not found", str(d / "c.md"): "not a regular file"}


def test_file_vanishing_mid_read(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The file exists when checked but is gone when opened."""
    d = fresh_dir(workdir)
    target = d / "gone.md"
    target.write_text("# Gone\n\nSoon gone.\n", encoding="utf-8")
    real_open = Path.open

    def vanish_then_open(self: Path, *args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        if self == target and self.exists():
            self.unlink()
        return real_open(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "open", vanish_then_open)
    _, rejected = check_outcome([target], kind="vanishing")
    assert rejected[0].path == str(target) and "cannot be read" in rejected[0].reason


# ----------------------------------------------------------------------------- links and names
@pytest.mark.timeout(60)
def test_symlink_loops(workdir: Path) -> None:
    d = fresh_dir(workdir)
    sub = d / "sub"
    sub.mkdir()
    (sub / "real.md").write_text("# Real\n\nA real article.\n", encoding="utf-8")
    (sub / "parent").symlink_to("..")  # directory loop: sub/parent/sub/parent/...
    (sub / "itself").symlink_to(".")
    (d / "a.md").symlink_to("b.md")  # file loop a -> b -> a
    (d / "b.md").symlink_to("a.md")
    (d / "self.md").symlink_to("self.md")
    (d / "dangling.md").symlink_to("nowhere.md")
    paths = list(iter_paths([d, d / "a.md", sub / "parent", d / "self.md"]))
    assert len(paths) < 50, "followed a symlink loop"
    articles, rejected = check_outcome(paths, kind="symlink_loop")
    assert {a.title for a in articles} == {"Real"}
    assert {Path(r.path).name for r in rejected} >= {"a.md", "b.md", "self.md", "dangling.md"}


ODD_NAMES = ["with space.md", "ünïcødé 日本語.md", "new\nline.md", "-leading-dash.md", "--rebuild.md",
             "tab\there.md", "\u202eevil\u202c.md", "quote'\"`.md", "glob[1]*?.md", "emoji 🙂.md",
             "zero\u200bwidth.md", "CAPS.MD", ".hidden.md", os.fsdecode(b"latin1-\xe9t\xe9.md")]


@pytest.mark.parametrize("name", ODD_NAMES, ids=[repr(n) for n in ODD_NAMES])
def test_odd_file_names(workdir: Path, name: str) -> None:
    d = fresh_dir(workdir)
    path = d / name
    path.write_text("# Odd\n\nAn article with an odd file name.\n", encoding="utf-8")
    listed = list(iter_paths([path]))
    assert listed == [path]
    articles, rejected = check_outcome(listed, kind="odd_names")
    if name.startswith("latin1"):  # not valid UTF-8: cannot be shown or stored as is
        assert "not valid UTF-8" in reasons(rejected) and "\\xe9" in rejected[0].path
    else:
        assert [a.source for a in articles] == [str(path)]
        if not name.startswith("."):  # hidden files are skipped when a directory is walked
            assert list(iter_paths([d])) == [path]


@FUZZ
@given(stem=st.text(st.characters(blacklist_characters="/\x00", blacklist_categories=("Cs",)),
                    min_size=1, max_size=60).filter(lambda s: len(s.encode()) < 200))
def test_any_file_name(workdir: Path, stem: str) -> None:
    path = fresh_dir(workdir) / f"{stem}.md"
    path.write_text("# Any\n\nAn article with any file name.\n", encoding="utf-8")
    articles, _ = check_outcome(list(iter_paths([path])), kind="odd_names")
    assert [a.source for a in articles] == [str(path)]


def test_leading_dash_names_reach_the_cli_after_double_dash() -> None:
    from qa.cli import _parser

    args = _parser().parse_args(["ingest", "--index", "idx", "--", "-leading-dash.md", "--rebuild.md"])
    assert args.paths == ["-leading-dash.md", "--rebuild.md"] and not args.rebuild


# ----------------------------------------------------------------------------- questions
@pytest.fixture(scope="module")
def qa_index(built_index: Path, embedder: object, tmp_path_factory: pytest.TempPathFactory) -> QA:
    """QA over a private copy of the shared small index (questions never write)."""
    target = tmp_path_factory.mktemp("questions") / "index"
    shutil.copytree(built_index, target)
    return QA(target, sample=False)


def ask(qa: QA, question: str) -> Answer | QAError:
    """Answer or a QAError with a readable message; any other exception fails the test."""
    TRIED["questions"] += 1
    try:
        answer = qa.answer(question)
    except QAError as e:
        message = str(e)
        assert 10 < len(message) < 400 and "Traceback" not in message, message
        return e
    assert isinstance(answer, Answer)
    for c in answer.citations:
        article = qa.store.article(c.article_id)
        assert article is not None and article.text[c.start:c.end] == c.quote
    for p in answer.passages:
        article = qa.store.article(p.article_id)
        assert article is not None and article.text[p.start:p.end] == p.text
    return answer


FTS_OPERATORS = ['"', '"unbalanced', '""', 'NEAR(', 'NEAR(super bowl, 2)', '*', 'tes*', 'title:tesla',
                 'body:', ':', 'AND OR NOT', 'tesla AND', 'NOT', 'OR OR', '^tesla', '^', '-tesla', '-',
                 '{}', '{title body}: tesla', '{title', '(', ')', '()', "'; DROP TABLE articles; --",
                 'tesla + bowl', 'a:b:c', 'Who won "Super Bowl 50"?', 'NEAR(tesla edison) AND "*"']


@pytest.mark.slow
@pytest.mark.parametrize("question", [
    "", " ", "\n\t \n", "?", "a", "é", "x" * 100_000, "Tesla " * 400, "\x00", "\x00\x01\x02\x1b[31m",
    "what\x00is\x07this?", "\u200b\u200b", "\u202eWho won Super Bowl 50?", "🙂" * 20,
    "Who won Super Bowl 50?", "Where was Tesla born?", *FTS_OPERATORS,
], ids=lambda q: repr(q[:20]))
def test_questions_get_answer_or_clear_error(qa_index: QA, question: str) -> None:
    result = ask(qa_index, question)
    words = "".join(c for c in question if c.isalnum())
    if not words:
        assert isinstance(result, QueryError) and "no words" in str(result)
    elif len(" ".join(question.split())) > 2000:
        assert isinstance(result, QueryError) and "limit" in str(result)
    else:
        assert isinstance(result, Answer), result
    passages = qa_index.search(question[:5000])  # search has no length rule; it must cope too
    assert all(p.text for p in passages)


@pytest.mark.slow
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(question=st.text(max_size=300) | st.lists(st.sampled_from(FTS_OPERATORS + ["tesla", "bowl", "who"]),
                                                  max_size=8).map(" ".join))
def test_random_questions(qa_index: QA, question: str) -> None:
    ask(qa_index, question)
