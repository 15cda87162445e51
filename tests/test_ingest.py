"""Ingestion: metadata and clean text of real files, and a one-line rejection for every bad one."""

from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path

import pytest

from qa.ingest import DEFAULT_MAX_BYTES, iter_paths, read_articles, read_file
from qa.models import Article, Rejection

SEED_TITLE = "Putin and the Ayatollah: A Bromance to Watch"
SEED_URL = "https://www.themoscowtimes.com/2016/08/26/rebel-love-affair-a55104"

GOOD_MD = "# A Good Article\n\nBy Jane Doe\n\nMarch 3, 2021\n\nThe first paragraph. It is fine.\n"
PNG_HEADER = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
              b"\x00\x00\x00\x10\x00\x00\x00\x10\x08\x06\x00\x00\x00")
HOSTILE_HTML = """<!doctype html>
<html><head><title>Hostile page</title>
<script>alert(1)</script>
<style>body { background: url(javascript:alert(3)) }</style>
</head>
<body onload="alert(4)">
<nav><a href="/">Home</a> | <a href="/evil">Navigation link text</a></nav>
<article>
<p>Harmless words stay. <script>alert(1)</script>And so do these.</p>
<p><img src="x" onerror="alert(2)">An image tried to run code.</p>
<noscript>Please enable scripts</noscript>
<iframe src="javascript:alert(5)">frame text</iframe>
<!-- a comment that readers never see -->
</article>
<script type="text/javascript">document.write("injected " + alert(1));</script>
</body></html>
"""


def _one_rejection(rejected: list[Rejection], path: Path) -> Rejection:
    """The single rejection of ``path``, checked to be a non-empty one-line reason."""
    mine = [r for r in rejected if r.path.startswith(str(path))]
    assert len(mine) == 1, f"expected one rejection for {path}, got {rejected}"
    reason = mine[0].reason
    assert reason.strip() and "\n" not in reason and "Traceback" not in reason
    return mine[0]


def _read_one(path: Path, **kwargs: int) -> tuple[list[Article], list[Rejection]]:
    return read_articles([path], **kwargs)


# ------------------------------------------------------------------------------ the seed article
@pytest.fixture(scope="module")
def seed(seed_path: Path) -> Article:
    articles = read_file(seed_path)
    assert len(articles) == 1
    return articles[0]


def test_seed_metadata(seed: Article, seed_path: Path) -> None:
    assert seed.title == SEED_TITLE
    assert seed.author == "David Patrikarakos"
    assert seed.published == dt.date(2016, 8, 26)
    assert seed.url == SEED_URL
    assert seed.source == str(seed_path)
    assert seed.id.startswith("putin-and-the-ayatollah")


def test_seed_markup_is_reduced_to_text(seed: Article) -> None:
    text = seed.text
    assert "](#)" not in text
    assert "**" not in text
    assert "Original url" not in text
    assert "\\$" not in text
    assert "$4 trillion" in text
    # The title and date lines are metadata, not body text; the byline is both (it is quotable).
    assert not text.startswith("#") and "August 26, 2016" not in text
    assert "\n\nBy David Patrikarakos\n\n" in text
    assert "Bushehr" in text
    # Paragraphs are separated by exactly one blank line and carry no outer whitespace.
    for block in text.split("\n\n"):
        assert block and block == block.strip() and "\n" not in block


def test_seed_broken_paragraph_is_joined(seed: Article) -> None:
    assert "his entire foreign policy outlook, is clear." in seed.text
    assert "outlook, is\n\nclear" not in seed.text


def test_reading_is_stable(seed_path: Path, seed: Article) -> None:
    again = read_file(seed_path)[0]
    assert again == seed  # same id, same content hash


# ------------------------------------------------------------------------------ SQuAD JSON
def test_squad_one_article_per_title_with_exact_paragraph_offsets(small_squad: Path) -> None:
    data = json.loads(small_squad.read_text(encoding="utf-8"))["data"]
    articles = read_file(small_squad)
    assert sorted(a.title for a in articles) == sorted(d["title"].replace("_", " ") for d in data)
    assert len({a.id for a in articles}) == len(articles)
    by_title = {a.title: a for a in articles}
    answers = 0
    for item in data:
        article = by_title[item["title"].replace("_", " ")]
        contexts = [p["context"] for p in item["paragraphs"]]
        assert article.text == "\n\n".join(contexts)
        offset = 0
        for paragraph in item["paragraphs"]:
            for qa in paragraph["qas"]:
                for a in qa["answers"]:
                    start = offset + a["answer_start"]
                    assert article.text[start : start + len(a["text"])] == a["text"]
                    answers += 1
            offset += len(paragraph["context"]) + 2
    assert answers > 100


def test_squad_contexts_kept_verbatim_when_written_unescaped(tmp_path: Path) -> None:
    # A decomposed accent (e + U+0301) and a tab: gold offsets count them, so must the text.
    contexts = ["Cafe\u0301 society met in Paris.\tIt was 1920.", "Second paragraph here."]
    start = contexts[0].index("1920")
    item = {"title": "Cafe_society", "paragraphs": [
        {"context": contexts[0], "qas": [{"id": "q1", "question": "When?",
                                         "answers": [{"text": "1920", "answer_start": start}]}]},
        {"context": contexts[1], "qas": []},
    ]}
    path = tmp_path / "squad.json"
    path.write_text(json.dumps({"version": "1.1", "data": [item]}, ensure_ascii=False),
                    encoding="utf-8")
    [article] = read_file(path)
    assert article.title == "Cafe society"
    assert article.text == "\n\n".join(contexts)
    assert article.text[start : start + 4] == "1920"


# ------------------------------------------------------------------------------ JSON objects
def test_json_list_of_objects(tmp_path: Path) -> None:
    items = [
        {"title": "First", "author": "Ann Author", "date": "2020-05-17", "url": "https://e.x/1",
         "text": "Paragraph one,\nwrapped.\n\nParagraph two."},
        {"title": "Second", "body": "A body field works as text too."},
    ]
    path = tmp_path / "list.json"
    path.write_text(json.dumps(items), encoding="utf-8")
    first, second = read_file(path)
    assert (first.title, first.author, first.published, first.url) == (
        "First", "Ann Author", dt.date(2020, 5, 17), "https://e.x/1")
    assert first.text == "Paragraph one, wrapped.\n\nParagraph two."
    assert second.title == "Second"
    assert second.text == "A body field works as text too."
    assert second.author is None and second.published is None and second.url is None
    assert first.id != second.id


def test_json_single_object(tmp_path: Path) -> None:
    path = tmp_path / "one.json"
    path.write_text(json.dumps({"title": "Solo", "text": "Just one."}), encoding="utf-8")
    [article] = read_file(path)
    assert (article.title, article.text) == ("Solo", "Just one.")


def test_jsonl_objects(tmp_path: Path) -> None:
    lines = [
        {"title": "Line one", "author": "Bo", "published": "2019-01-02", "url": "https://e.x/a",
         "text": "Alpha text."},
        {"title": "Line two", "body": "Beta body."},
    ]
    path = tmp_path / "items.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n\n", encoding="utf-8")
    a, b = read_file(path)
    assert (a.title, a.author, a.published, a.url, a.text) == (
        "Line one", "Bo", dt.date(2019, 1, 2), "https://e.x/a", "Alpha text.")
    assert (b.title, b.text) == ("Line two", "Beta body.")


# ------------------------------------------------------------------------------ HTML
def test_html_main_text_and_meta(tmp_path: Path) -> None:
    html = """<!doctype html><html><head>
    <meta charset="utf-8">
    <title>Fallback title | Site</title>
    <meta property="og:title" content="The Real Title">
    <meta name="author" content="Rita Reporter">
    <meta property="article:published_time" content="2021-07-04T09:30:00Z">
    <meta property="og:url" content="https://news.example/real-title">
    <style>p { color: red }</style>
    <script>var tracking = "SCRIPT-TEXT";</script>
    </head><body>
    <header>SITE HEADER</header>
    <nav><ul><li>NAV-ONE</li><li>NAV-TWO</li></ul></nav>
    <article>
      <h1>The Real Title</h1>
      <p>The first paragraph
         spans lines.</p>
      <p>The second <b>paragraph</b> has <a href="#">a link</a>.</p>
      <ul><li>A list item.</li></ul>
    </article>
    <footer>SITE FOOTER</footer>
    </body></html>"""
    path = tmp_path / "page.html"
    path.write_text(html, encoding="utf-8")
    [article] = read_file(path)
    assert article.title == "The Real Title"
    assert article.author == "Rita Reporter"
    assert article.published == dt.date(2021, 7, 4)
    assert article.url == "https://news.example/real-title"
    assert article.text == (
        "The first paragraph spans lines.\n\nThe second paragraph has a link .\n\nA list item."
    )
    for noise in ("SCRIPT-TEXT", "color: red", "NAV-ONE", "SITE HEADER", "SITE FOOTER"):
        assert noise not in article.text


def test_hostile_html_script_never_reaches_text(tmp_path: Path) -> None:
    path = tmp_path / "hostile.html"
    path.write_text(HOSTILE_HTML, encoding="utf-8")
    [article] = read_file(path)
    assert "Harmless words stay." in article.text
    assert "And so do these." in article.text
    for bad in ("alert", "<script", "javascript:", "injected", "Navigation link text",
                "readers never see", "background"):
        assert bad not in article.text, bad
    assert "alert" not in article.title


# ------------------------------------------------------------------------------ paths
def test_directory_recursion_and_glob(tmp_path: Path) -> None:
    root = tmp_path / "corpus"
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / ".hidden").mkdir()
    (root / "a.md").write_text(GOOD_MD, encoding="utf-8")
    (root / "sub" / "b.txt").write_text("Plain text article.", encoding="utf-8")
    (root / "sub" / "deeper" / "c.md").write_text("Deep article.", encoding="utf-8")
    (root / ".hidden" / "d.md").write_text("Hidden article.", encoding="utf-8")
    (root / ".dotfile.md").write_text("Hidden file.", encoding="utf-8")

    found = list(iter_paths([root]))
    assert found == [root / "a.md", root / "sub" / "b.txt", root / "sub" / "deeper" / "c.md"]

    globbed = list(iter_paths([str(root / "**" / "*.md")]))
    assert set(globbed) == {root / "a.md", root / "sub" / "deeper" / "c.md"}

    articles, rejected = read_articles(iter_paths([root]))
    assert not rejected
    assert sorted(a.text for a in articles) == [
        "By Jane Doe\n\nThe first paragraph. It is fine.", "Deep article.", "Plain text article."]
    md = next(a for a in articles if a.source == str(root / "a.md"))
    assert (md.title, md.author, md.published) == (
        "A Good Article", "Jane Doe", dt.date(2021, 3, 3))


# ------------------------------------------------------------------------------ bad input
def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.md"
    path.write_bytes(b"")
    articles, rejected = _read_one(path)
    assert not articles
    assert "empty" in _one_rejection(rejected, path).reason


def test_whitespace_only_file(tmp_path: Path) -> None:
    path = tmp_path / "blank.txt"
    path.write_bytes(b"  \n\t\r\n   \n")
    articles, rejected = _read_one(path)
    assert not articles
    assert "empty" in _one_rejection(rejected, path).reason


@pytest.mark.parametrize("content", [b"text\x00with\x00nuls\x00" * 10, PNG_HEADER + bytes(200)],
                         ids=["nul-bytes", "png"])
def test_binary_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "binary.md"
    path.write_bytes(content)
    articles, rejected = _read_one(path)
    assert not articles
    assert "binary" in _one_rejection(rejected, path).reason


def test_latin1_file_is_decoded(tmp_path: Path) -> None:
    text = ("Le café de la gare est très animé le matin. Les habitués y boivent un crème "
            "en lisant le journal; à midi, le garçon sert des crêpes et des pâtisseries.\n\n"
            "Déjà à l'aube, on entend le bruit des tasses et l'odeur du pain grillé.")
    path = tmp_path / "latin1.txt"
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(UnicodeDecodeError):
        path.read_bytes().decode("utf-8")
    articles, rejected = _read_one(path)
    assert not rejected
    [article] = articles
    assert "café" in article.text
    assert "très animé" in article.text
    assert "Déjà" in article.text
    assert "\ufffd" not in article.text


LEGACY_TEXTS = {
    "pt-latin1": ("latin-1", "A educação em São Paulo é uma questão importante. As crianças não "
                             "têm acesso à informação."),
    "es-latin1": ("latin-1", "El niño comió paella en la playa de Valencia. ¿Dónde está la "
                             "estación? Mañana iré allí."),
    "de-cp1252": ("cp1252", "Der Bär läuft über die Straße. „Größe“, Öl und Äpfel – schön."),
    "fr-cp1252": ("cp1252", "Un café très animé, déjà plein à midi… « Voilà ! »"),
    "cs-cp1250": ("cp1250", "Příliš žluťoučký kůň úpěl ďábelské ódy. Praha je hlavní město."),
    "hu-cp1250": ("cp1250", "Árvíztűrő tükörfúrógép. Budapest Magyarország fővárosa."),
    "tr-cp1254": ("cp1254", "İstanbul, Türkiye'nin en kalabalık şehridir ve ülkenin ekonomik, "
                            "kültürel merkezidir."),
    "ru-cp1251": ("cp1251", "Москва — столица России, крупнейший по численности населения город."),
    "el-cp1253": ("cp1253", "Η Αθήνα είναι η πρωτεύουσα της Ελλάδας και μία από τις αρχαιότερες "
                            "πόλεις του κόσμου."),
}


@pytest.mark.parametrize("key", sorted(LEGACY_TEXTS))
def test_legacy_encodings_are_decoded(tmp_path: Path, key: str) -> None:
    encoding, text = LEGACY_TEXTS[key]
    path = tmp_path / f"{key}.txt"
    path.write_bytes(text.encode(encoding))
    articles, rejected = _read_one(path)
    assert not rejected
    assert articles[0].text == text


def test_garbage_bytes_fit_no_encoding(tmp_path: Path) -> None:
    rng = random.Random(20240601)
    garbage = bytes(rng.randrange(1, 256) for _ in range(4096))  # no NUL: not caught as binary
    path = tmp_path / "garbage.txt"
    path.write_bytes(garbage)
    articles, rejected = _read_one(path)
    assert not articles
    reason = _one_rejection(rejected, path).reason
    assert "encoding" in reason or "binary" in reason


def test_file_over_size_limit(tmp_path: Path) -> None:
    path = tmp_path / "big.md"
    path.write_text("A sentence that repeats. " * 20, encoding="utf-8")
    articles, rejected = _read_one(path, max_bytes=100)
    assert not articles
    reason = _one_rejection(rejected, path).reason
    assert "limit" in reason and "100" in reason
    # The same file under the default limit is fine.
    assert read_articles([path], max_bytes=DEFAULT_MAX_BYTES)[1] == []


@pytest.mark.parametrize("content", ['{"title": "x", "text": "cut off', "[1, 2,", "{]"],
                         ids=["truncated", "unterminated-list", "nonsense"])
def test_malformed_json(tmp_path: Path, content: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content, encoding="utf-8")
    articles, rejected = _read_one(path)
    assert not articles
    assert "malformed JSON" in _one_rejection(rejected, path).reason


def test_malformed_jsonl_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "fine"}\n{"text": \n', encoding="utf-8")
    articles, rejected = _read_one(path)
    assert not articles
    assert "line 2" in _one_rejection(rejected, path).reason


@pytest.mark.parametrize(
    "payload",
    [{"title": "No text here"}, [{"title": "t", "text": "   "}], ["just a string"],
     {"title": "t", "text": 42}, []],
    ids=["no-text", "blank-text", "not-object", "text-not-string", "empty-list"],
)
def test_json_without_text(tmp_path: Path, payload: object) -> None:
    path = tmp_path / "notext.json"
    path.write_text(json.dumps(payload), encoding="utf-8")
    articles, rejected = _read_one(path)
    assert not articles
    reason = _one_rejection(rejected, path).reason
    assert "text" in reason


@pytest.mark.parametrize("html", [
    "<html><body><p>Some text that is cut off in the mid",
    "<html><body><div><p>Unclosed <b>bold <i>and italic</p></div>",
    "<<<>>> </p></div></body>",
    "<html><head><title>Only a title</title></head><body></body></html>",
    "<html",
], ids=["truncated", "unclosed", "nonsense", "no-body-text", "half-tag"])
def test_malformed_html_is_read_or_rejected_never_raised(tmp_path: Path, html: str) -> None:
    path = tmp_path / "broken.html"
    path.write_text(html, encoding="utf-8")
    articles, rejected = _read_one(path)
    assert len(articles) + len(rejected) == 1
    if rejected:
        _one_rejection(rejected, path)
    else:
        assert articles[0].text.strip()
        assert "<" not in articles[0].text or html.startswith("<<<")


def test_truncated_html_keeps_its_text(tmp_path: Path) -> None:
    path = tmp_path / "cut.htm"
    path.write_text("<html><body><article><p>Kept words here.</p><p>Cut off mid", encoding="utf-8")
    [article] = read_file(path)
    assert article.text.startswith("Kept words here.")


@pytest.mark.parametrize("name", ["report.pptx", "notes.doc", "Makefile"])
def test_unknown_extension(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text("Readable words, but not a supported type.", encoding="utf-8")
    articles, rejected = _read_one(path)
    assert not articles
    assert "unsupported" in _one_rejection(rejected, path).reason


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.md"
    articles, rejected = read_articles(iter_paths([path]))
    assert not articles
    assert "not found" in _one_rejection(rejected, path).reason


def test_directory_given_as_file_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "folder.md"
    path.mkdir()
    articles, rejected = _read_one(path)
    assert not articles
    assert "not a regular file" in _one_rejection(rejected, path).reason


def test_bad_files_do_not_stop_the_batch(tmp_path: Path) -> None:
    """Every kind of bad file in one directory: each gets one reason, the good files are read."""
    root = tmp_path / "batch"
    root.mkdir()
    bad: dict[str, bytes] = {
        "empty.md": b"",
        "blank.txt": b" \n \n",
        "nul.txt": b"abc\x00def" * 5,
        "image.md": PNG_HEADER + bytes(64),
        "garbage.txt": bytes(random.Random(7).randrange(1, 256) for _ in range(2048)),
        "huge.md": b"word " * 400,
        "broken.json": b'{"data": [',
        "notext.json": b'[{"title": "t"}]',
        "unknown.pdf": b"%PDF-1.7 not really",
    }
    for name, content in bad.items():
        (root / name).write_bytes(content)
    (root / "good.md").write_text(GOOD_MD, encoding="utf-8")
    (root / "latin1.txt").write_bytes("Un café très animé, déjà plein à midi.".encode("latin-1"))
    (root / "hostile.html").write_text(HOSTILE_HTML, encoding="utf-8")
    missing = root / "missing.md"

    articles, rejected = read_articles(iter_paths([root, missing]), max_bytes=1024)
    for name in bad:
        _one_rejection(rejected, root / name)
    _one_rejection(rejected, missing)
    assert len(rejected) == len(bad) + 1
    assert {Path(a.source).name for a in articles} == {"good.md", "latin1.txt", "hostile.html"}
    assert any("café" in a.text for a in articles)
    assert all("alert" not in a.text for a in articles)


def test_json_metadata_is_cleaned_like_text(tmp_path: Path) -> None:
    item = {"title": "Bell\u0007 title  with\u0301 marks", "author": "Ann\u0000 Author",
            "text": "Body\u0007 text with e\u0301 accent."}
    path = tmp_path / "controls.json"
    path.write_text(json.dumps(item), encoding="utf-8")
    [article] = read_file(path)
    assert article.title == "Bell title with\u0301 marks"
    assert article.author == "Ann Author"
    assert article.text == "Body text with \u00e9 accent."
