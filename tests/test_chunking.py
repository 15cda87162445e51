"""Chunking: offsets reproduce the text, token budgets hold, overlap and long sentences behave."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass

import pytest

from qa import sample_corpus
from qa.chunking import chunk_article, count_tokens, split_sentences
from qa.embedding import Embedder, load_model
from qa.ingest import iter_paths, read_articles
from qa.models import Article, Chunk, IndexSettings, Sentence

DEFAULT = IndexSettings()
EMBEDDER_WINDOW = 256
BLANK_LINE = re.compile(r"\n\s*\n")


@dataclass(frozen=True)
class Chunked:
    article: Article
    sentences: list[Sentence]
    chunks: list[Chunk]


def _article(text: str, title: str = "Synthetic") -> Article:
    return Article(id=f"synthetic-{hashlib.sha1(text.encode()).hexdigest()[:8]}", title=title,
                   source="test", text=text, content_hash=hashlib.sha256(text.encode()).hexdigest())


def _chunk(text: str, settings: IndexSettings = DEFAULT) -> tuple[Article, list[Sentence],
                                                                  list[Chunk]]:
    article = _article(text)
    sentences = split_sentences(text)
    return article, sentences, chunk_article(article, sentences, settings)


def _assert_sentences_valid(text: str, sentences: list[Sentence]) -> None:
    previous_end = 0
    previous_paragraph = 0
    for s in sentences:
        piece = text[s.start : s.end]
        assert 0 <= s.start < s.end <= len(text)
        assert piece and piece == piece.strip(), repr(piece)
        assert s.start >= previous_end, "sentences overlap or are out of order"
        assert not BLANK_LINE.search(piece), "a sentence crosses a paragraph break"
        assert s.paragraph >= previous_paragraph
        previous_end, previous_paragraph = s.end, s.paragraph


def _assert_chunks_valid(article: Article, chunks: list[Chunk], budget: int) -> None:
    assert [c.ordinal for c in chunks] == list(range(len(chunks)))
    for c in chunks:
        assert c.article_id == article.id
        assert 0 <= c.start < c.end <= len(article.text)
        assert article.text[c.start : c.end] == c.text
        assert c.text == c.text.strip()
        assert c.token_count == count_tokens(c.text) <= budget
    starts = [c.start for c in chunks]
    assert starts == sorted(starts) and len(set(starts)) == len(starts)


def _assert_covers_text(article: Article, chunks: list[Chunk]) -> None:
    """Every non-space character of the article is in some chunk."""
    covered = bytearray(len(article.text))
    for c in chunks:
        covered[c.start : c.end] = b"\x01" * (c.end - c.start)
    missed = [i for i, ch in enumerate(article.text) if not ch.isspace() and not covered[i]]
    assert not missed, f"characters outside every chunk at {missed[:10]}"


@pytest.fixture(scope="module")
def corpus() -> list[Chunked]:
    """The whole bundled sample (seed article + 24 SQuAD articles), split and chunked."""
    articles, rejected = read_articles(iter_paths([sample_corpus()]))
    assert not rejected
    assert len(articles) == 25
    out = []
    for a in articles:
        sentences = split_sentences(a.text)
        out.append(Chunked(a, sentences, chunk_article(a, sentences, DEFAULT)))
    return out


# ------------------------------------------------------------------------------ the sample corpus
def test_every_sentence_span_of_the_corpus_is_valid(corpus: list[Chunked]) -> None:
    total = 0
    for item in corpus:
        _assert_sentences_valid(item.article.text, item.sentences)
        total += len(item.sentences)
    assert total > 1000


def test_every_chunk_of_the_corpus_reproduces_its_text(corpus: list[Chunked]) -> None:
    total = 0
    for item in corpus:
        assert item.chunks, item.article.title
        _assert_chunks_valid(item.article, item.chunks, DEFAULT.chunk_tokens)
        _assert_covers_text(item.article, item.chunks)
        total += len(item.chunks)
    assert total > 500


def test_paragraph_numbers_count_blank_lines(corpus: list[Chunked]) -> None:
    for item in corpus:
        text = item.article.text
        first = len(text) - len(text.lstrip())
        for s in item.sentences:
            assert s.paragraph == len(BLANK_LINE.findall(text, first, s.start)), (
                item.article.title, text[s.start : s.end][:80])


def test_chunks_hold_whole_sentences(corpus: list[Chunked]) -> None:
    """Chunks start and end on sentence boundaries, except inside an over-budget sentence."""
    for item in corpus:
        text = item.article.text
        starts = {s.start for s in item.sentences}
        ends = {s.end for s in item.sentences}
        long = [s for s in item.sentences
                if count_tokens(text[s.start : s.end]) > DEFAULT.chunk_tokens]
        for c in item.chunks:
            assert c.start in starts or any(s.start < c.start < s.end for s in long)
            assert c.end in ends or any(s.start < c.end < s.end for s in long)


@pytest.mark.slow
def test_corpus_chunks_fit_the_embedder_window(corpus: list[Chunked], embedder: Embedder) -> None:
    """The model truncates at 256 word pieces; a default chunk must never lose its tail."""
    model = load_model(embedder.name)
    assert model.max_seq_length == EMBEDDER_WINDOW
    texts = [c.text for item in corpus for c in item.chunks]
    encoded = model.tokenizer(texts, add_special_tokens=True, truncation=False)["input_ids"]
    lengths = [len(ids) for ids in encoded]
    worst = max(range(len(texts)), key=lambda i: lengths[i])
    assert lengths[worst] <= EMBEDDER_WINDOW, texts[worst][:200]


# ------------------------------------------------------------------------------ packing and overlap
def _long_paragraph(n: int = 30) -> str:
    return " ".join(
        f"Sentence number {i} talks about the river, the bridge and the old mill in town."
        for i in range(n)
    )


def test_overlap_of_one_sentence_inside_a_long_paragraph() -> None:
    settings = IndexSettings(chunk_tokens=60, overlap_sentences=1)
    article, sentences, chunks = _chunk(_long_paragraph(), settings)
    assert len(chunks) > 3
    _assert_chunks_valid(article, chunks, settings.chunk_tokens)
    _assert_covers_text(article, chunks)
    for previous, current in zip(chunks, chunks[1:], strict=False):
        inside = [s for s in sentences if previous.start <= s.start and s.end <= previous.end]
        last = inside[-1]
        # The next chunk starts with the previous chunk's last sentence, and only that one.
        assert current.start == last.start
        assert current.start > previous.start
        assert len(inside) >= 2


def test_no_overlap_when_disabled() -> None:
    settings = IndexSettings(chunk_tokens=60, overlap_sentences=0)
    article, _, chunks = _chunk(_long_paragraph(), settings)
    _assert_chunks_valid(article, chunks, settings.chunk_tokens)
    _assert_covers_text(article, chunks)
    for previous, current in zip(chunks, chunks[1:], strict=False):
        assert current.start > previous.end


def test_no_overlap_across_paragraphs() -> None:
    paragraphs = [" ".join(f"Paragraph {p} sentence {i} is here." for i in range(6))
                  for p in range(5)]
    settings = IndexSettings(chunk_tokens=60)
    article, _, chunks = _chunk("\n\n".join(paragraphs), settings)
    _assert_chunks_valid(article, chunks, settings.chunk_tokens)
    _assert_covers_text(article, chunks)
    for previous, current in zip(chunks, chunks[1:], strict=False):
        assert current.start > previous.end


def test_blank_lines_with_spaces_separate_paragraphs() -> None:
    text = "First block ends here  \n \t\nSecond block, no full stop \n\n\nThird block."
    article, sentences, chunks = _chunk(text)
    _assert_sentences_valid(text, sentences)
    assert [(text[s.start : s.end], s.paragraph) for s in sentences] == [
        ("First block ends here", 0), ("Second block, no full stop", 1), ("Third block.", 2)]
    _assert_chunks_valid(article, chunks, DEFAULT.chunk_tokens)


def test_short_paragraphs_are_packed_together() -> None:
    text = "Caption one.\n\nA subtitle.\n\nThe body says something.\n\nThe end."
    article, sentences, chunks = _chunk(text)
    assert [s.paragraph for s in sentences] == [0, 1, 2, 3]
    assert len(chunks) == 1 and chunks[0].text == text


# ------------------------------------------------------------------------------ long sentences
LONG_SENTENCES = {
    "ascii": " ".join(f"word{i}" for i in range(700)),
    "accents": " ".join(["déjà vu, naïve café façade, Œuvre über straße"] * 60),
    "emoji": " ".join(["the 🚀 rocket 👩‍👩‍👧 family 🇫🇷 flag ❤️ love 😀"] * 60),
    "cjk": "東京は日本の首都であり、" * 120,
    "no-spaces": "x" * 3000,
    "mixed": "".join(f"{i}:Ωmega🎉é中文" for i in range(400)),
}


@pytest.mark.parametrize("key", sorted(LONG_SENTENCES))
def test_sentence_longer_than_budget_is_split_at_tokens(key: str) -> None:
    body = LONG_SENTENCES[key]
    text = f"A short opening sentence.\n\n{body}\n\nA short closing sentence."
    settings = IndexSettings(chunk_tokens=50)
    assert count_tokens(body) > 3 * settings.chunk_tokens
    article, sentences, chunks = _chunk(text, settings)
    _assert_sentences_valid(text, sentences)
    _assert_chunks_valid(article, chunks, settings.chunk_tokens)
    _assert_covers_text(article, chunks)
    start, end = text.index(body), text.index(body) + len(body)
    pieces = [c for c in chunks if c.start < end and c.end > start]
    assert len(pieces) >= count_tokens(body) / settings.chunk_tokens
    # Cut at the budget, not anywhere: every piece but the last is (nearly) full.
    assert all(p.token_count >= settings.chunk_tokens - 4 for p in pieces[:-1])
    # Between consecutive pieces there is nothing but whitespace (or they overlap).
    for a, b in zip(pieces, pieces[1:], strict=False):
        assert b.start > a.start
        assert text[a.end : b.start].strip() == ""


def test_long_sentence_with_overlap_still_progresses() -> None:
    settings = IndexSettings(chunk_tokens=16, overlap_sentences=3)
    text = "Tiny. " + "emoji😀 " * 200 + "End."
    article, _, chunks = _chunk(text, settings)
    _assert_chunks_valid(article, chunks, settings.chunk_tokens)
    _assert_covers_text(article, chunks)


# ------------------------------------------------------------------------------ edge cases
@pytest.mark.parametrize("text", ["", "   \n\n  \t ", "\n\n\n"])
def test_empty_text_has_no_sentences_or_chunks(text: str) -> None:
    article, sentences, chunks = _chunk(text)
    assert sentences == [] and chunks == []


def test_text_without_sentence_punctuation() -> None:
    text = "  a line without any full stop  \n\n  another block  "
    article, sentences, chunks = _chunk(text)
    _assert_sentences_valid(text, sentences)
    _assert_chunks_valid(article, chunks, DEFAULT.chunk_tokens)
    assert [text[s.start : s.end] for s in sentences] == ["a line without any full stop",
                                                          "another block"]


def test_special_token_text_is_counted_not_rejected() -> None:
    text = "The marker <|endoftext|> appears in this article. It is plain text here."
    article, sentences, chunks = _chunk(text)
    _assert_chunks_valid(article, chunks, DEFAULT.chunk_tokens)
    assert count_tokens("<|endoftext|>") > 1


# ------------------------------------------------------------------------------ determinism
def _digest(items: list[Chunked]) -> str:
    rows = [[i.article.id, [s.model_dump() for s in i.sentences],
             [c.model_dump() for c in i.chunks]] for i in items]
    return hashlib.sha256(json.dumps(rows, sort_keys=True).encode()).hexdigest()


def test_chunking_is_deterministic(corpus: list[Chunked]) -> None:
    again = []
    for item in corpus:
        sentences = split_sentences(item.article.text)
        again.append(Chunked(item.article, sentences,
                             chunk_article(item.article, sentences, DEFAULT)))
    assert again == corpus
    assert _digest(again) == _digest(corpus)


def test_chunking_is_deterministic_across_processes(corpus: list[Chunked]) -> None:
    script = """
import hashlib, json
from qa import sample_corpus
from qa.chunking import chunk_article, split_sentences
from qa.ingest import iter_paths, read_articles
from qa.models import IndexSettings
articles, _ = read_articles(iter_paths([sample_corpus()]))
rows = []
for a in articles:
    s = split_sentences(a.text)
    rows.append([a.id, [x.model_dump() for x in s],
                 [c.model_dump() for c in chunk_article(a, s, IndexSettings())]])
print(hashlib.sha256(json.dumps(rows, sort_keys=True).encode()).hexdigest())
"""
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         env=env, timeout=120, check=True)
    assert out.stdout.strip() == _digest(corpus)
